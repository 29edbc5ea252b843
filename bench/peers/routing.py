"""Which namespaces each B2 system is asked about, so that several can be switched on at once.

B2's paired design (bench/b2_paired.py) registers every system of a sweep point at the same
time and sends each CREATE to a namespace that only one of them guards. Every system registers
with the same kind of namespace selector: it skips a namespace that carries its skip label.
The namespaces B2 has always used (bench-acme, bench-nimbus) carry none, so the table and the
equivalence check see every system there exactly as before; a paired namespace carries the skip
label of every paired system but its own.

Per system, two namespaces: `paired_namespace` (the allowed tenant: the benchmark's CREATEs)
and `probe_namespace` (the restricted tenant: the dry-run probe that shows this one system is
live, since the shared restricted namespace is denied as soon as any one of them is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.peers.cases import ALLOWED_NS, NAMESPACE_TENANTS, RESTRICTED_NS, TENANT_LABEL

SKIP_PREFIX = "skip.bench.exportgate.dev/"
_PAIRED_PREFIX = "bench-paired-"
_PROBE_PREFIX = "bench-probe-"


def skip_label(system: str) -> str:
    return SKIP_PREFIX + system


def selector(system: str) -> dict[str, Any]:
    """The namespace selector `system` registers with: every namespace but those that opt out
    of it."""
    return {"matchExpressions": [{"key": skip_label(system), "operator": "DoesNotExist"}]}


def paired_namespace(system: str) -> str:
    return _PAIRED_PREFIX + system


def probe_namespace(system: str) -> str:
    return _PROBE_PREFIX + system


def namespaces(systems: Iterable[str]) -> dict[str, dict[str, str]]:
    """Every paired and probe namespace of `systems`, with its labels: the tenant it belongs to
    and the skip label of every other system in the set."""
    names = list(systems)
    allowed = NAMESPACE_TENANTS[ALLOWED_NS]
    restricted = NAMESPACE_TENANTS[RESTRICTED_NS]
    out: dict[str, dict[str, str]] = {}
    for name in names:
        skips = {skip_label(other): "true" for other in names if other != name}
        out[paired_namespace(name)] = {TENANT_LABEL: allowed, **skips}
        out[probe_namespace(name)] = {TENANT_LABEL: restricted, **skips}
    return out


def tenants(systems: Iterable[str]) -> dict[str, str]:
    """Namespace -> tenant for `systems`' paired and probe namespaces (for a webhook that is
    given the binding rather than reading it from the Namespace)."""
    return {ns: labels[TENANT_LABEL] for ns, labels in namespaces(systems).items()}


def create(cluster: Any, systems: Iterable[str]) -> None:
    """Create `systems`' paired and probe namespaces on `cluster` (a LocalCluster)."""
    for namespace, labels in namespaces(systems).items():
        cluster.create_namespace(namespace, labels)


def with_selector(binding: Mapping[str, Any], system: str) -> dict[str, Any]:
    """A ValidatingAdmissionPolicyBinding that applies only where `system` is asked."""
    spec = dict(binding["spec"])
    spec["matchResources"] = {"namespaceSelector": selector(system)}
    return {**binding, "spec": spec}
