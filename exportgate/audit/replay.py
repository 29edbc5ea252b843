"""Replay: take a logged decision again, from its logged inputs, with the policy of its time.

The decision record holds the evaluation inputs (``inputs``: the accelerator requests with
their scheduling hints, the model references), the instant (``evaluatedAt``) and the
addresses of the snapshots it used (``snapshot.policy``, ``snapshot.tenant``). The engine is
rebuilt from the policy snapshot alone (compiled policies and the data files of that day), its
version is checked against the record's ``policyVersion``, and the decision is evaluated again.
Nothing of the code's current data is used, so a policy changed since does not change the
answer; `evaluate_today` shows what today's policy would say instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from exportgate.core.catalogue import Catalogue
from exportgate.core.countries import CountryGroups
from exportgate.core.engine import PolicyEngine
from exportgate.core.models import ModelCatalogue
from exportgate.core.types import (
    AcceleratorRequest,
    ModelRequest,
    ObjectRef,
    Operator,
    ProductHint,
    Tenant,
    Workload,
)
from exportgate.decisionlog.record import LogEntry, decision_body
from exportgate.decisionlog.snapcodec import decode
from exportgate.decisionlog.snapshots import DATA_FILES, ENGINE_INPUTS, digest_of

COMPARED: Final = (
    "action",
    "rule",
    "citation",
    "message",
    "verification",
    "jurisdictions",
    "accelerators",
    "models",
    "violations",
    "policyVersions",
)
"""The fields of a decision record that a replay must reproduce exactly."""


class ReplayUnavailable(Exception):
    """The record cannot be replayed; the message says why in an auditor's words."""


@dataclass(slots=True)
class Replay:
    same: bool
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)  # field, logged, now
    replayed: dict[str, Any] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)
    """Data the engine reads from the code, not from the snapshot, that differs today."""


def snapshot_directories(logs: Sequence[str], extra: Sequence[str] = ()) -> list[Path]:
    """Where snapshots may be: ``snapshots/`` beside every log given, then `extra`."""
    found = [Path(d) for d in extra]
    for log in logs:
        candidate = Path(log).parent / "snapshots"
        if candidate not in found:
            found.append(candidate)
    return found


def load_snapshot(digest: str, directories: Sequence[Path]) -> Any:
    """The decoded snapshot; `ReplayUnavailable` when no intact copy exists."""
    name = digest.removeprefix("sha256:") + ".json"
    altered = []
    for directory in directories:
        try:
            data = (directory / name).read_bytes()
        except OSError:
            continue
        if digest_of(data) != digest:
            altered.append(str(directory / name))
            continue
        return decode(json.loads(data))
    if altered:
        raise ReplayUnavailable(
            f"snapshot {digest} was altered: {', '.join(altered)} no longer has the hash the "
            "hash-chained record names (tampered)"
        )
    raise ReplayUnavailable(
        f"snapshot {digest} is not in {', '.join(str(d) for d in directories)}; copy the "
        "log's snapshots/ directory along with the log, or pass --snapshots DIR"
    )


def engine_from(snapshot: dict[str, Any]) -> PolicyEngine:
    data = snapshot["data"]
    return PolicyEngine(
        snapshot["policies"],
        default_action=snapshot.get("defaultAction"),
        catalogue=Catalogue(data["accelerators"], data["instanceTypes"]),
        models=ModelCatalogue(data["models"]),
        groups=CountryGroups.from_data(data["countryGroups"]),
    )


def workload_from(record: dict[str, Any]) -> Workload:
    inputs = record.get("inputs")
    if not isinstance(inputs, dict):
        raise ReplayUnavailable(
            "the record has no logged inputs: it was written before decisions logged them, or "
            "by a component that does not (only the outcome can be shown, not replayed)"
        )
    obj = record.get("object") or {}
    return Workload(
        ref=ObjectRef(
            api_version=str(obj.get("apiVersion") or ""),
            kind=str(obj.get("kind") or ""),
            name=str(obj.get("name") or ""),
            namespace=obj.get("namespace"),
        ),
        accelerators=tuple(
            AcceleratorRequest(
                resource=a["resource"],
                count=a["count"],
                hints=tuple(
                    ProductHint(h["key"], Operator(h["operator"]), tuple(h["values"]))
                    for h in a["hints"]
                ),
                source=a.get("source", ""),
            )
            for a in inputs.get("accelerators", ())
        ),
        models=tuple(
            ModelRequest(m["reference"], m.get("provider"), m.get("source", ""))
            for m in inputs.get("models", ())
        ),
        tenant_label=inputs.get("tenantLabel"),
    )


def tenant_from(record: dict[str, Any], directories: Sequence[Path]) -> Tenant | None:
    snapshot = record.get("snapshot") or {}
    digest = snapshot.get("tenant")
    if not digest:
        if record.get("verification") not in (None, "Unbound"):
            raise ReplayUnavailable(
                f"the decision used tenant {record.get('tenant')!r}'s record, but the record "
                "was not kept beside the log (it could not be encoded, or the writer was not "
                "given it), so the decision cannot be evaluated again"
            )
        return None  # the decision had no tenant record (unbound), as the record says
    tenant = load_snapshot(digest, directories)["tenant"]
    assert isinstance(tenant, Tenant)
    return tenant


def evaluated_at(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["evaluatedAt"]).replace("Z", "+00:00"))


def compare(record: dict[str, Any], engine: PolicyEngine, tenant: Tenant | None) -> Replay:
    """Evaluate `record` again with `engine` and compare the fields in `COMPARED`."""
    decision = engine.evaluate(
        workload_from(record), tenant, evaluated_at(record), tenant_name=record.get("tenant")
    )
    body = decision_body(LogEntry(decision))
    differences = [
        (key, record.get(key), body.get(key)) for key in COMPARED if record.get(key) != body[key]
    ]
    return Replay(same=not differences, differences=differences, replayed=body)


def replay(record: dict[str, Any], directories: Sequence[Path]) -> Replay:
    """The decision evaluated again with the snapshots it names (`ReplayUnavailable` if not)."""
    snapshot = record.get("snapshot")
    if not isinstance(snapshot, dict) or not snapshot.get("policy"):
        raise ReplayUnavailable(
            "the record names no policy snapshot: it predates snapshots (or its writer was "
            "not given the engine), so the policy of that time is known only by its version "
            f"{record.get('policyVersion')!r}"
        )
    workload_from(record)  # say "no inputs" before loading anything
    policy_snapshot = load_snapshot(snapshot["policy"], directories)
    snapshot_data = policy_snapshot["data"]
    engine = engine_from(policy_snapshot)
    if record.get("policyVersion") not in (None, engine.version):
        raise ReplayUnavailable(
            f"the policy snapshot rebuilds policy version {engine.version}, but the record "
            f"says {record.get('policyVersion')}: this exportgate compiles the snapshot "
            "differently, so a replay would not prove anything"
        )
    result = compare(record, engine, tenant_from(record, directories))
    result.caveats = _caveats(snapshot_data)
    return result


def _caveats(data: dict[str, Any]) -> list[str]:
    """Data files kept in the snapshot that the core reads from its own copy, if they differ."""
    from exportgate.core.data import load_data
    from exportgate.decisionlog.snapcodec import decode, encode

    found = []
    for key, name in DATA_FILES.items():
        if key in ENGINE_INPUTS or key not in data:
            continue
        if encode(data[key]) != encode(decode(encode(load_data(name)))):
            found.append(
                f"{name} has changed since this snapshot; the core reads it from this "
                "exportgate's own copy, so the replay used today's version of it"
            )
    return found
