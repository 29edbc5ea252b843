"""One replica accounts at a time: a coordination.k8s.io Lease, renewed by every pass.

kopf's peering pauses per-object handlers on standby replicas, but the accounting loop is not
a per-object handler, so it elects its own holder. The record writes would stay exact without
it (they carry resourceVersions); the lease keeps standby replicas from doing the work twice
and from announcing a crossing twice. A holder that stops renewing loses the lease after
`duration` seconds and another replica takes over from the records' `countedUntil`.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from exportgate.logsetup import get_logger
from exportgate_operator.kinds import Resource
from exportgate_operator.kube import Kube, KubeError

LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
LEASE_NAME = "exportgate-compute-accounting"
log = get_logger(__name__)


def _micro(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class Lease:
    def __init__(self, kube: Kube, duration: float, namespace: str | None = None,
                 identity: str | None = None) -> None:
        self.kube = kube
        self.duration = max(15, int(duration))
        self.namespace = namespace or os.environ.get("POD_NAMESPACE") or "default"
        # The pod name: a restarted replica (same name) resumes at once instead of waiting.
        self.identity = identity or os.environ.get("POD_NAME") or socket.gethostname()
        self.holding = False

    def hold(self, now: datetime | None = None) -> bool:
        """Acquire or renew the lease; False while another live replica holds it."""
        now = now or datetime.now(UTC)
        try:
            held = self._hold(now)
        except KubeError as exc:
            log.warning("compute accounting lease unavailable", error=str(exc))
            held = False
        if held != self.holding:
            log.info("compute accounting lease " + ("acquired" if held else "lost"),
                     holder=self.identity)
        self.holding = held
        return held

    def _hold(self, now: datetime) -> bool:
        path = LEASES.path(self.namespace, LEASE_NAME)
        try:
            current = self.kube.request("GET", path)
        except KubeError as exc:
            if not exc.not_found:
                raise
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                    "spec": self._spec(now, now, 0)}
            try:
                self.kube.request("POST", LEASES.path(self.namespace), body=body)
            except KubeError as create:
                if create.conflict:
                    return False  # another replica created it first
                raise
            return True
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = _parse(spec.get("renewTime"))
        duration = int(spec.get("leaseDurationSeconds") or self.duration)
        expired = renewed is None or renewed + timedelta(seconds=duration) < now
        if holder != self.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
        acquired = _parse(spec.get("acquireTime")) if holder == self.identity else now
        current["spec"] = self._spec(acquired or now, now, transitions)
        try:
            self.kube.request("PUT", path, body=current)
        except KubeError as exc:
            if exc.conflict:
                return False
            raise
        return True

    def _spec(self, acquired: datetime, renewed: datetime, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration,
            "acquireTime": _micro(acquired),
            "renewTime": _micro(renewed),
            "leaseTransitions": transitions,
        }
