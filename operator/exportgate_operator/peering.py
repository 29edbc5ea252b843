"""Is this replica the active one? Read from kopf's peering object, as kopf itself decides it.

Replicas sharing a peering name publish themselves in kopf's (Cluster)KopfPeering object:
`status.<peer id> = {priority, lifetime, lastseen}`. kopf pauses every replica that sees a live
peer of higher priority, or another live peer of its own priority. The operator's own timers
(`timers.py`) are not kopf handlers, so kopf cannot pause them; they ask this instead before
they act, so a standing-by replica never re-audits with a world it stopped updating.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from exportgate.logsetup import get_logger
from exportgate_operator.kinds import CLUSTER_PEERINGS, PEERINGS
from exportgate_operator.kube import Kube, KubeError
from exportgate_operator.settings import OperatorConfig

log = get_logger(__name__)


def live_priorities(status: Mapping[str, Any], now: datetime) -> list[int]:
    """The priorities of the peers in a peering object's status that are still alive."""
    found = []
    for peer in status.values():
        if not isinstance(peer, Mapping):
            continue
        try:
            seen = datetime.fromisoformat(str(peer["lastseen"]))
            lifetime = timedelta(seconds=int(peer.get("lifetime", 60)))
            priority = int(peer.get("priority", 0))
        except (KeyError, TypeError, ValueError):
            continue
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=UTC)
        if seen + lifetime > now:
            found.append(priority)
    return found


def outranked(priorities: list[int], mine: int) -> bool:
    """kopf's rule: paused by a higher priority, or by a second peer of the same priority
    (one of the peers with `mine` is this replica itself)."""
    return any(p > mine for p in priorities) or priorities.count(mine) > 1


class Peering:
    def __init__(self, kube: Kube, config: OperatorConfig) -> None:
        self.kube = kube
        self.config = config

    def active(self) -> bool:
        """True unless a peering object says another replica is in charge (blocking call).
        Standalone replicas are always active; an unreadable peering object counts as active,
        as it does for kopf, which then runs too."""
        if self.config.standalone:
            return True
        places = (
            [(CLUSTER_PEERINGS, None)]
            if self.config.clusterwide
            else [(PEERINGS, ns) for ns in self.config.namespaces]
        )
        now = datetime.now(UTC)
        for resource, namespace in places:
            try:
                body = self.kube.request(
                    "GET", resource.path(namespace, self.config.peering)
                )
            except KubeError as exc:
                if not exc.not_found:
                    log.warning("cannot read the peering object", error=str(exc))
                continue
            if outranked(live_priorities(body.get("status") or {}, now), self.config.priority):
                return False
        return True
