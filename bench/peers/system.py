"""One admission system under test, switched on and off in turn on one API server.

B2 measures every system against the same kube-apiserver and etcd, interleaved: each round
switches one system on, measures a slice, switches it off, then the next. So that no slice
pays for a system that is not its own, `deactivate` returns only once the API server no longer
calls it (verified by a probe where the system denies something, otherwise after the
informer's settling time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.load import cpu_seconds
from bench.peers import routing
from bench.peers.cases import RESTRICTED_NS, restricted_h100_denied
from tests.cluster.local_cluster import LocalCluster, webhook_rule

#: How long the API server's informer takes at most to see a webhook configuration change when
#: there is no probe to tell (the no-op webhook admits everything).
SETTLE_S = 3.0
PROBE_TIMEOUT_S = 90.0
POD_RULES = [webhook_rule(["CREATE", "UPDATE"], ["pods"])]


@dataclass
class System:
    """A named admission system: how to switch it on and off, and which processes serve it.

    `denies` says whether it enforces the benchmark's rule (so a probe can tell when it is
    active); `pids` are the webhook processes whose CPU is charged to it (empty for in-process
    systems: none, CEL).
    """

    name: str
    on: Callable[[LocalCluster], None]
    off: Callable[[LocalCluster], None]
    denies: bool
    pids: dict[str, int] = field(default_factory=dict)
    label: str = ""

    def activate(self, cluster: LocalCluster, probe_namespace: str = RESTRICTED_NS) -> None:
        """Switch on; return once the API server calls it: its probe in `probe_namespace` (a
        namespace of the restricted tenant that this system guards) is refused."""
        self.on(cluster)
        if self.denies:
            api = cluster.api_client()
            LocalCluster.wait_for_webhook(
                lambda: restricted_h100_denied(api, probe_namespace), timeout=PROBE_TIMEOUT_S
            )
        else:
            time.sleep(SETTLE_S)

    def deactivate(self, cluster: LocalCluster, probe_namespace: str = RESTRICTED_NS) -> None:
        self.off(cluster)
        if self.denies:
            api = cluster.api_client()
            LocalCluster.wait_for_webhook(
                lambda: not restricted_h100_denied(api, probe_namespace), timeout=PROBE_TIMEOUT_S
            )
        else:
            time.sleep(SETTLE_S)

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds used so far by each of the system's processes."""
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}


def nothing(_: LocalCluster) -> None:
    """Switching `none` on or off: there is nothing to register."""


def url_webhook(
    name: str,
    url: str,
    ca_pem: bytes,
    *,
    denies: bool,
    pids: dict[str, int],
    mutating_url: str | None = None,
    label: str = "",
) -> System:
    """A webhook served at `url` that B2 registers itself (by URL + caBundle, as the issue's
    out-of-cluster setup does); with `mutating_url` also as a mutating webhook (two phases).
    Registered with `routing.selector(name)`: asked about every namespace but those that skip
    it (the paired design's namespaces of other systems)."""
    only_its_own = routing.selector(name)

    def on(cluster: LocalCluster) -> None:
        cluster.register_validating_webhook(
            f"{name}-validate", url, ca_pem, POD_RULES, namespace_selector=only_its_own
        )
        if mutating_url:
            cluster.register_mutating_webhook(
                f"{name}-mutate", mutating_url, ca_pem, POD_RULES, namespace_selector=only_its_own
            )
            # The deny probe only shows the validating phase is live; give the API server's
            # informer the time to see the mutating configuration too.
            time.sleep(SETTLE_S)

    def off(cluster: LocalCluster) -> None:
        cluster.kubectl("delete", "validatingwebhookconfiguration", f"{name}-validate")
        if mutating_url:
            cluster.kubectl("delete", "mutatingwebhookconfiguration", f"{name}-mutate")

    return System(name, on, off, denies, dict(pids), label)


def applied(name: str, docs: Sequence[dict[str, Any]], *, label: str = "") -> System:
    """A policy applied as API objects and switched off by deleting them (CEL, Kyverno)."""

    def on(cluster: LocalCluster) -> None:
        cluster.apply(list(docs))

    def off(cluster: LocalCluster) -> None:
        for doc in reversed(docs):
            cluster.delete(doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace"))

    return System(name, on, off, True, {}, label)
