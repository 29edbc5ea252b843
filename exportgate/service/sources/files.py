"""Tenants and policies from files or directories, re-read when they change.

For standalone use and demos, and for clusters that mount tenants and policies from ConfigMaps.
Changes are found by polling file metadata (modification time, size, inode) every
`poll_interval` seconds. That is a few ``stat`` calls, cheaper than it sounds, and it sees what
inotify watches on a single file miss: editors that replace a file by renaming, and the atomic
symlink swap Kubernetes uses to update a mounted ConfigMap.

A file that cannot be parsed is reported and treated by the one last-good rule
(`exportgate.world.lastgood`): a policy file's last good content keeps being used (dropping a
policy would loosen the rules); a tenant file fails closed per tenant, its tenants (in its last
good version, or still nameable in the broken text) denied with the reason, while every other
file carries on. A file that is removed from a watched directory is a deliberate deletion and
its documents go away.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from exportgate.core.documents import read_documents
from exportgate.core.errors import ExportgateError
from exportgate.core.policy import load_policy_file
from exportgate.core.tenants import load_tenant_file
from exportgate.world.lastgood import Reading, RecordKind, read
from exportgate.world.loader import SnapshotLoader
from exportgate.world.snapshot import TenantRecord

log = structlog.get_logger("exportgate.sidecar.files")

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")

Fingerprint = tuple[int, int, int]  # (mtime_ns, size, inode)


def _fingerprint(path: Path) -> Fingerprint | None:
    try:
        st = path.stat()  # follows symlinks, so a ConfigMap's ..data swap shows up
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The document files named by `paths` (directories scanned one level, hidden entries
    skipped as Kubernetes keeps its bookkeeping there), and errors for paths that are gone."""
    files: list[Path] = []
    errors: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            with contextlib.suppress(OSError):
                files += sorted(
                    p
                    for p in path.iterdir()
                    if not p.name.startswith(".") and p.suffix in DOCUMENT_SUFFIXES and p.is_file()
                )
        elif path.exists():
            files.append(path)
        else:
            errors.append((path, f"{path}: no such file or directory"))
    return files, errors


@dataclass(slots=True)
class _FileState:
    fingerprint: Fingerprint
    reading: Reading[list[Any]]  # the documents (Tenant or PolicyDocument) as last read
    invalid: tuple[str, ...] = ()  # tenants a broken tenant file defines (denied until fixed)


def names_in(path: Path, known: Sequence[Any]) -> tuple[str, ...]:
    """The tenant names a broken tenant file defines, as far as they can be told: those of its
    last good version, plus any ``metadata.name`` still readable in its text."""
    names = [str(tenant.name) for tenant in known]
    try:
        for document in read_documents(path):
            metadata = document.data.get("metadata") if isinstance(document.data, dict) else None
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if isinstance(name, str) and name:
                names.append(name)
    except ExportgateError:
        pass  # not even YAML: the last good names are all that is known
    return tuple(dict.fromkeys(names))


class _Watched:
    """One kind of document (tenants or policies) spread over some paths."""

    def __init__(
        self,
        kind: str,
        paths: Sequence[Path],
        parse: Callable[[Path], list[Any]],
        record: RecordKind = RecordKind.FILE,
    ):
        self.kind = kind
        self.record = record
        self.paths = tuple(paths)
        self.parse = parse
        self.files: dict[Path, _FileState] = {}
        self.errors: dict[str, str] = {}  # file -> why its current content is not used
        self.missing: dict[str, str] = {}  # named paths that are gone right now

    def scan(self) -> bool:
        """Re-read changed files (blocking: run it in a thread; it touches only this object).
        True when the documents of this kind changed and the loader must be told."""
        current, missing = expand(self.paths)
        changed = False
        # A path named on the command line that disappeared: keep what it said, say so.
        self.missing = {
            str(path): f"{message}; still using its last good content" for path, message in missing
        }
        present = set(current)
        for gone in [p for p in self.files if p not in present and p not in self.paths]:
            # Removed from a watched directory: a deliberate deletion.
            del self.files[gone]
            self.errors.pop(str(gone), None)
            changed = True
        for path in current:
            fingerprint = _fingerprint(path)
            if fingerprint is None:
                continue
            state = self.files.get(path)
            if state is not None and state.fingerprint == fingerprint:
                continue
            before = state.reading if state is not None else None
            reading = read(self.record, functools.partial(self.parse, path), before)
            if reading.error is not None:
                invalid: tuple[str, ...] = ()
                if self.record is RecordKind.TENANT_FILE:
                    # Fail closed per tenant: the tenants it defined are denied, not served
                    # from the superseded version (exportgate.world.lastgood).
                    known = [*(before.served or ())] if before is not None else []
                    invalid = (*(state.invalid if state else ()), *names_in(path, known))
                    invalid = tuple(dict.fromkeys(invalid))
                self.errors[str(path)] = (
                    f"{reading.error}; "
                    + (f"tenant(s) {', '.join(invalid)} are denied until it is fixed"
                       if invalid else "no tenant in it can be named until it is fixed")
                    if self.record is RecordKind.TENANT_FILE
                    else reading.refusal() or ""
                )  # fmt: skip
                # Remember the fingerprint so an unchanged broken file is not re-read (and
                # re-reported) every poll; what is served follows the last-good rule.
                self.files[path] = _FileState(fingerprint, reading, invalid)
                changed = changed or (before is not None and before.served != reading.served)
                changed = changed or bool(invalid)
                continue
            if _fingerprint(path) != fingerprint:
                continue  # written while we read it: read it again next time
            self.errors.pop(str(path), None)
            self.files[path] = _FileState(fingerprint, reading)
            changed = True
        return changed

    def invalid(self) -> dict[str, str]:
        """Tenant name -> why it is denied, for the tenants of broken tenant files."""
        return {
            name: f"{path}: {state.reading.error}"
            for path, state in self.files.items()
            for name in state.invalid
        }

    def documents(self) -> list[tuple[Path, Any]]:
        return [
            (path, doc)
            for path, state in self.files.items()
            for doc in (state.reading.served or ())
        ]


class FileSource:
    """Feeds the loader from tenant and policy files; `run` polls until cancelled."""

    def __init__(
        self,
        loader: SnapshotLoader,
        *,
        tenant_paths: Sequence[Path],
        policy_paths: Sequence[Path],
        poll_interval: float = 1.0,
    ) -> None:
        self._loader = loader
        self._tenants = _Watched("tenants", tenant_paths, load_tenant_file, RecordKind.TENANT_FILE)
        self._policies = _Watched("policies", policy_paths, load_policy_file)
        self._poll_interval = poll_interval
        self._first = True
        self._reported: set[str] = set()
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                # Whatever went wrong (a bug, a weird filesystem), keep serving and keep trying.
                log.exception("checking tenant and policy files failed")
            await asyncio.sleep(self._poll_interval)

    async def check(self) -> None:
        """Re-read what changed and hand it to the loader (also used for SIGHUP)."""
        async with self._lock:
            tenants_changed = await asyncio.to_thread(self._tenants.scan)
            policies_changed = await asyncio.to_thread(self._policies.scan)
            problems = self._publish_errors()
            if self._first and problems > len(self._tenants.errors):
                # Nothing has been served yet: starting with a policy file unreadable or any
                # named path missing would decide without what it holds (a policy that should
                # deny). Stay NOT_SERVING until they read. A broken tenant file does not hold the
                # others back: its tenants are denied (fail closed) until it is fixed.
                return
            first, self._first = self._first, False
            # Policies first: a tenant and the policy that now names it often change together,
            # and a new engine is the slower half.
            if policies_changed or first:
                await self._loader.set_policies([doc for _, doc in self._policies.documents()])
            if tenants_changed or first:
                await self._loader.set_tenants(
                    [TenantRecord(tenant, str(path)) for path, tenant in self._tenants.documents()],
                    invalid=self._tenants.invalid(),
                )

    def _publish_errors(self) -> int:
        """Tell the loader which files are refused right now; returns how many are."""
        now = {
            **self._tenants.errors,
            **self._tenants.missing,
            **self._policies.errors,
            **self._policies.missing,
        }
        for origin in self._reported - now.keys():
            self._loader.clear_error(origin)
        for origin, message in now.items():
            self._loader.report_error(origin, message)
        self._reported = set(now)
        return len(now)


def existing(paths: Iterable[Path]) -> list[str]:
    """Problems with configured paths at startup (so a typo fails fast, not silently)."""
    return [f"{p}: no such file or directory" for p in paths if not os.path.exists(p)]


def startup_problems(tenant_paths: Sequence[Path], policy_paths: Sequence[Path]) -> list[str]:
    """Every reason the configured files cannot be served as they are, each naming its file
    and what to do, so that `exportgate-sidecar` refuses to start instead of serving without
    them. Parsing is cheap next to a policy service that decides with half its inputs."""
    problems = [
        f"{p}: no such file or directory; fix the path or create the file"
        for p in (*tenant_paths, *policy_paths)
        if not os.path.exists(p)
    ]
    # Only policy files: a broken tenant file is served failing closed (its tenants denied).
    for kind, paths, parse in (("ExportPolicy", policy_paths, load_policy_file),):
        found, _ = expand(paths)
        for path in found:
            try:
                parse(path)
            except ExportgateError as exc:
                problems.append(
                    f"{exc} (not a valid {kind} file: fix it, or remove it from the "
                    "command line or directory)"
                )
            except OSError as exc:
                problems.append(f"{path}: cannot read it: {exc.strerror or exc}")
    return problems
