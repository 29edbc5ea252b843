"""Policy snapshots beside the log: what a decision was taken with, kept so it can be replayed.

A decision record names its policy version (the engine's digest over policies and data
versions). That proves *which* policy decided, not *what it said*: the code's data moves on.
So the inputs themselves are kept, content-addressed, in ``snapshots/`` next to the log file:

* a **policy snapshot** per engine: every compiled policy, the default action, and the data
  files (accelerator catalogue, instance types, models, country groups) it was built over;
* a **tenant snapshot** per tenant record a decision used (the record as parsed).

Each file is named by the SHA-256 of its bytes (``snapshots/<hex>.json``) and each decision
record names the files it used (``snapshot: {"policy": "sha256:…", "tenant": "sha256:…"}``).
The record is hash-chained, so the chain covers the snapshots too: an edited snapshot no
longer has the hash its decisions name. Replicas writing to one directory share the files.

Programs call `keep_policy_snapshot(engine)` once where they build a new engine (the single
hook); the writer stores the snapshot the first time a decision names that policy version.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from exportgate.decisionlog.errors import DecisionLogError, RecordFormatError
from exportgate.decisionlog.snapcodec import to_bytes

if TYPE_CHECKING:
    from exportgate.core.engine import PolicyEngine
    from exportgate.core.types import Tenant
    from exportgate.decisionlog.record import LogEntry

_log = logging.getLogger("exportgate.decisionlog.snapshots")

SNAPSHOT_FORMAT: Final = 1
DIRECTORY: Final = "snapshots"
_REGISTRY_SIZE: Final = 64  # engines kept ready to store; older versions are not decided with
_TENANT_CACHE_SIZE: Final = 16384

DATA_FILES: Final = {
    "accelerators": "accelerators.yaml",
    "instanceTypes": "instance-types.yaml",
    "models": "models.yaml",
    "countryGroups": "country-groups.yaml",
    # Read by the core directly rather than handed to the engine: kept so an auditor can see
    # what they said, and so a replay can tell when today's copy differs (audit/replay.py).
    "classification": "classification.yaml",
    "licenceReview": "licence-review.yaml",
}
ENGINE_INPUTS: Final = frozenset({"accelerators", "instanceTypes", "models", "countryGroups"})


class _Bounded(OrderedDict[Any, Any]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


_lock = threading.Lock()
_policies: _Bounded = _Bounded(_REGISTRY_SIZE)  # policy version -> (digest, bytes) or None
_tenants: _Bounded = _Bounded(_TENANT_CACHE_SIZE)  # Tenant -> (digest, bytes)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def policy_snapshot(engine: PolicyEngine) -> dict[str, Any] | None:
    """The snapshot of `engine`, or None when it was built over data that is not built in."""
    from exportgate.core.catalogue import builtin_catalogue
    from exportgate.core.countries import builtin_country_groups
    from exportgate.core.data import load_data
    from exportgate.core.models import builtin_models

    if (
        engine.catalogue is not builtin_catalogue()
        or engine.models is not builtin_models()
        or engine.groups is not builtin_country_groups()
    ):
        return None  # custom data objects (tests, tools): no file of ours describes them
    return {
        "snapshot": "policy",
        "format": SNAPSHOT_FORMAT,
        "policyVersion": engine.version,
        "defaultAction": engine.default_action,
        "policies": list(engine.policies),
        "data": {key: load_data(name) for key, name in DATA_FILES.items()},
    }


def keep_policy_snapshot(engine: PolicyEngine) -> None:
    """THE hook: call once where a new engine is built (sidecar, operator, CLI).

    Encodes the engine's inputs now (off the admission path) and keeps them in memory until a
    decision log records a decision with this policy version, which stores the file.
    """
    with _lock:
        if engine.version in _policies:
            return
    try:
        snapshot = policy_snapshot(engine)
        encoded = None if snapshot is None else to_bytes(snapshot)
    except (RecordFormatError, TypeError, ValueError) as exc:
        # Decisions are still logged, naming no snapshot; `audit explain` then says so.
        _log.warning("policy snapshot not kept: %s (policy version %s)", exc, engine.version)
        encoded = None
    with _lock:
        _policies.put(engine.version, None if encoded is None else (digest_of(encoded), encoded))


def tenant_snapshot_bytes(tenant: Tenant) -> tuple[str, bytes] | None:
    """(digest, bytes) of the tenant record's snapshot; None if it cannot be encoded."""
    try:
        with _lock:
            found = _tenants.get(tenant)
    except TypeError:  # a record type that is not hashable: encode it every time
        found, cacheable = None, False
    else:
        cacheable = True
    if found is not None:
        return found  # type: ignore[no-any-return]
    try:
        encoded = to_bytes({"snapshot": "tenant", "format": SNAPSHOT_FORMAT, "tenant": tenant})
    except (RecordFormatError, TypeError, ValueError) as exc:
        _log.warning("tenant snapshot not kept: %s (tenant %s)", exc, tenant.name)
        return None
    result = (digest_of(encoded), encoded)
    if cacheable:
        with _lock:
            _tenants.put(tenant, result)
    return result


def kept_policy(version: str | None) -> tuple[str, bytes] | None:
    if version is None:
        return None
    with _lock:
        return _policies.get(version)


class SnapshotDirectory:
    """``snapshots/`` beside one log file; writes each content-addressed file once."""

    def __init__(self, log_path: Path, *, fsync: bool) -> None:
        self.path = log_path.parent / DIRECTORY
        self._fsync = fsync
        self._stored: set[str] = set()

    def has(self, digest: str) -> bool:
        """True once this writer has stored (or found) the file for `digest`."""
        return digest in self._stored

    def store_all(self, pending: Pending) -> None:
        for digest, data in pending:
            self.store(digest, data)

    def store(self, digest: str, data: bytes) -> None:
        """Durably write the file for `digest` unless it is already there."""
        if digest in self._stored:
            return
        target = self.path / (digest.removeprefix("sha256:") + ".json")
        try:
            if not target.exists():
                self.path.mkdir(exist_ok=True)
                # Replicas may share the directory (and a pid): a random name each time.
                temporary = target.with_suffix(f".tmp-{os.urandom(6).hex()}")
                with open(temporary, "wb") as stream:
                    stream.write(data)
                    if self._fsync:
                        os.fsync(stream.fileno())
                os.replace(temporary, target)  # whole or absent, never half a snapshot
                if self._fsync:
                    fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        except OSError as exc:
            raise DecisionLogError(
                f"cannot store policy snapshot {target}: {exc.strerror or exc}; the decision "
                "was not recorded, so it must not be acted on as an allow"
            ) from exc
        self._stored.add(digest)


Pending = list[tuple[str, bytes]]
"""Snapshot files (digest, bytes) that records about to be written name but that are not
stored yet; `SnapshotDirectory.store_all` writes them before the records."""


def attach(
    directory: SnapshotDirectory, entry: LogEntry, body: dict[str, Any], pending: Pending
) -> dict[str, Any]:
    """Name the snapshots a decision uses in its record; add the unstored ones to `pending`.

    A decision whose policy version was never handed to `keep_policy_snapshot`, and that has
    no tenant record, gets no ``snapshot`` field; `audit explain` then says it cannot replay.
    """
    policy = kept_policy(body.get("policyVersion"))
    tenant = None if entry.tenant_record is None else tenant_snapshot_bytes(entry.tenant_record)
    if policy is None and tenant is None:
        return body
    for found in (policy, tenant):
        if found is not None and not directory.has(found[0]):
            pending.append(found)
    body["snapshot"] = {
        "policy": policy[0] if policy else None,
        "tenant": tenant[0] if tenant else None,
    }
    return body
