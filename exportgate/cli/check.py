"""`exportgate check`: evaluate manifests offline, exactly as the webhook would decide them.

Contract (other tools call it like this; extend, never break):
    exportgate check [--tenant FILE]... [--policy FILE]... [--at RFC3339] [-o json|text]
                     [--decision-log FILE] MANIFEST...
Exit 0 when everything would be admitted, 3 when anything would be denied, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exportgate.cli.bindings import is_namespace, load_bindings, namespace_name, refuse_rebinding
from exportgate.core.decision import Decision
from exportgate.core.documents import LocatedDocument, PathKey, flatten_lists, read_documents
from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import ExportgateError, InputError
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.policy import (
    PolicyDocument,
    is_policy_document,
    load_policy_file,
    policy_from_document,
)
from exportgate.core.tenancy import TENANT_LABEL, owning_tenant, tenant_label
from exportgate.core.tenants import (
    is_tenant_document,
    load_tenant_file,
    tenant_from_document,
)
from exportgate.core.types import Action, Tenant, Workload

EXIT_ADMITTED = 0
EXIT_BAD_INPUT = 2
EXIT_DENIED = 3


def register(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "check",
        help="evaluate manifests offline against tenants and policies",
        description=(
            "Evaluate Kubernetes manifests the way the admission webhook would. Namespaced "
            "objects find their tenant through a Namespace in the inputs labelled "
            f"{TENANT_LABEL}, else the only --tenant given (never through their own label, "
            "also when written without metadata.namespace); cluster-scoped kinds (NodePool and "
            "others whose adapter says scope: Cluster) through their own label. Exit 0: all "
            "admitted; 3: something would be denied; 2: bad input."
        ),
    )
    parser.add_argument(
        "manifests", nargs="+", metavar="MANIFEST", help="YAML/JSON file, or - for stdin"
    )
    parser.add_argument(
        "--tenant", action="append", default=[], metavar="FILE", help="Tenant records (repeatable)"
    )
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="FILE",
        help="extra ExportPolicy files (repeatable)",
    )
    parser.add_argument(
        "--packs",
        metavar="NAMES",
        help="comma-separated built-in packs to enable instead of the defaults",
    )
    parser.add_argument(
        "--default-action",
        choices=[a.value for a in Action if a is not Action.ALLOW],
        help="override the packs' enforcement action",
    )
    parser.add_argument(
        "--adapters",
        action="append",
        default=[],
        metavar="FILE",
        help="extra kind adapters (repeatable)",
    )
    parser.add_argument(
        "--bindings",
        metavar="FILE",
        help="namespace -> tenant bindings from the platform (Namespace objects or a mapping); "
        "then Namespace documents in the inputs may not bind otherwise",
    )
    parser.add_argument("--at", metavar="RFC3339", help="evaluate at this instant instead of now")
    parser.add_argument("-o", "--output", choices=["text", "json"], default="text")
    parser.add_argument(
        "--decision-log", metavar="FILE", help="append one decision-log record per decision"
    )
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class _Located:
    """An object to decide, with the document (and position in it) it came from."""

    document: LocatedDocument
    base: PathKey
    obj: Mapping[str, Any]


_FIELD_STEP = re.compile(r'\.?([^.\[\]"]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def _path_key(field_path: str) -> PathKey:
    """`spec.containers[0].resources.limits["nvidia.com/gpu"]` -> the document path key."""
    steps: list[str | int] = []
    for match in _FIELD_STEP.finditer(field_path):
        name, index, quoted = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(name if name is not None else quoted)
    return tuple(steps)


@dataclass
class Inputs:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    policies: list[PolicyDocument] = field(default_factory=list)
    namespace_tenants: dict[str, str] = field(default_factory=dict)
    objects: list[_Located] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    try:
        at = _parse_at(args.at)
        inputs = _read_inputs(args)
        engine = PolicyEngine.build(
            policies=inputs.policies,
            packs=[p.strip() for p in args.packs.split(",") if p.strip()] if args.packs else None,
            default_action=Action(args.default_action) if args.default_action else None,
        )
        extract = _extractor(args.adapters)
        # DeviceClasses, claims and claim templates among the inputs are what DRA references
        # resolve to; a reference to one not given is an unknown accelerator.
        dra = DraObjects.from_objects(located.obj for located in inputs.objects)
        checked = [_decide(engine, extract, inputs, located, at, dra) for located in inputs.objects]
        results = [decision for decision, _, _ in checked]
        if args.decision_log:
            _log(args.decision_log, engine, checked)
    except ExportgateError as exc:
        print(f"exportgate check: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    _print(results, args.output)
    return EXIT_DENIED if any(d.action is Action.DENY for d in results) else EXIT_ADMITTED


def _parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--at {value!r} is not an RFC 3339 timestamp", hint='e.g. "2027-03-01T00:00:00Z"'
        ) from None
    if parsed.tzinfo is None:
        raise InputError(f"--at {value!r} has no time zone", hint='end it with "Z" for UTC')
    return parsed.astimezone(UTC)


def _read_inputs(args: argparse.Namespace) -> Inputs:
    inputs = Inputs()
    platform = load_bindings(args.bindings) if getattr(args, "bindings", None) else None
    if platform is not None:
        inputs.namespace_tenants.update(platform)
    for path in args.tenant:
        for tenant in load_tenant_file(path):
            _add_tenant(inputs, tenant, path)
    for path in args.policy:
        inputs.policies.extend(load_policy_file(path))
    for path in args.manifests:
        for document, obj, base in flatten_lists(read_documents(path)):
            where = f"{document.source}:{document.line_of(base)}"
            if not isinstance(obj, Mapping) or "kind" not in obj:
                raise document.error(
                    base,
                    "not a Kubernetes object (no kind)",
                    hint="each document needs apiVersion and kind",
                )
            # Tenants and policies in the inputs are definitions, not objects to decide.
            if is_tenant_document(obj):
                _add_tenant(inputs, tenant_from_document(document, obj, base), where)
            elif is_policy_document(obj):
                inputs.policies.append(policy_from_document(document, obj, base))
            elif is_namespace(obj):
                if platform is not None:
                    refuse_rebinding(obj, platform, where)
                else:
                    bound = tenant_label(obj)
                    if bound:
                        inputs.namespace_tenants[namespace_name(obj)] = bound
                inputs.objects.append(_Located(document, base, obj))
            else:
                inputs.objects.append(_Located(document, base, obj))
    return inputs


def _add_tenant(inputs: Inputs, tenant: Tenant, where: str) -> None:
    if tenant.name in inputs.tenants:
        raise InputError(f"tenant {tenant.name!r} is defined twice", source=where)
    inputs.tenants[tenant.name] = tenant


def _extractor(adapter_files: list[str]) -> Any:
    from exportgate.core import extract

    registry = extract.AdapterRegistry.builtin()
    if adapter_files:
        registry = registry.with_files(adapter_files)
    return registry


def _decide(
    engine: PolicyEngine,
    registry: Any,
    inputs: Inputs,
    located: _Located,
    at: datetime,
    dra: DraObjects | None = None,
) -> tuple[Decision, Workload, Tenant | None]:
    """The decision on one object, with the inputs it was taken from (for the log)."""
    try:
        workload: Workload = registry.extract(located.obj, dra)
    except InputError as exc:
        # Extraction knows the field, not the file: point at the field's own line.
        path = (*located.base, *_path_key(exc.field or ""))
        line = located.document.line_of(path)
        raise exc.at(source=located.document.source, line=line) from None
    cluster_scoped = _is_cluster_scoped(registry, workload)
    name = _tenant_name(inputs, workload, cluster_scoped=cluster_scoped)
    tenant = inputs.tenants.get(name) if name else None
    return engine.evaluate(workload, tenant, at, tenant_name=name), workload, tenant


def _is_cluster_scoped(registry: Any, workload: Workload) -> bool:
    ref = workload.ref
    if ref.api_version == "v1" and ref.kind == "Namespace":
        return True  # the object whose label binds its namespace; it has no adapter
    return bool(registry.cluster_scoped(ref.api_version, ref.kind))


def _tenant_name(inputs: Inputs, workload: Workload, *, cluster_scoped: bool) -> str | None:
    """The tenant an object belongs to, decided as the webhook would.

    Only a cluster-scoped object speaks for itself, with its tenant label, as in the cluster.
    A namespaced object belongs to its namespace's tenant. One written without
    ``metadata.namespace`` (raw ``helm template`` output) lands in whatever namespace it is
    applied to, so its own label must not choose the tenant: its author could name any
    permitted tenant. It gets the only --tenant given, or none (and is decided as unbound).
    """
    namespace_tenant = (
        inputs.namespace_tenants.get(workload.ref.namespace) if workload.ref.namespace else None
    )
    owner = owning_tenant(
        cluster_scoped=cluster_scoped,
        own_label=workload.tenant_label,
        namespace_tenant=namespace_tenant,
    )
    if owner:
        return owner
    if len(inputs.tenants) == 1:
        return next(iter(inputs.tenants))
    return None


def _log(
    path: str, engine: PolicyEngine, checked: list[tuple[Decision, Workload, Tenant | None]]
) -> None:
    """Append one record per decision, replayable as the sidecar's are: each names its policy
    version and carries its inputs, and the policy and tenant records behind it are kept as
    content-addressed snapshots in ``snapshots/`` beside the log (`exportgate audit explain`).
    """
    from exportgate.decisionlog import DecisionLog, LogEntry
    from exportgate.decisionlog.snapshots import keep_policy_snapshot

    keep_policy_snapshot(engine)
    extra = {"policyVersion": engine.version}
    entries = [
        LogEntry(decision, operation="CHECK", extra=extra, workload=work, tenant_record=tenant)
        for decision, work, tenant in checked
    ]
    with DecisionLog(path) as log:
        log.record_many(entries)


def _print(results: list[Decision], output: str) -> None:
    if output == "json":
        print(json.dumps({"results": [d.to_dict() for d in results]}, indent=2))
        return
    for decision in results:
        tenant = decision.tenant or "-"
        what = (
            ", ".join(
                [
                    ",".join(a.candidates) if a.pinned else f"{a.resource}(unpinned)"
                    for a in decision.accelerators
                ]
                + [m.model_id or m.reference for m in decision.models]
            )
            or "nothing guarded"
        )
        line = f"{decision.action.value.upper():6} {decision.object}  tenant={tenant}  [{what}]"
        if decision.rule_id:
            line += f"  rule={decision.rule_id}"
            line += f"\n       {decision.message}\n       cite: {decision.citation}"
        print(line)
