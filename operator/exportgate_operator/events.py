"""core/v1 Events the operator posts about the objects it judges (blocking calls)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from exportgate.logsetup import get_logger
from exportgate_operator.conditions import timestamp
from exportgate_operator.decisions import COMPONENT
from exportgate_operator.kinds import EVENTS, ref
from exportgate_operator.kube import Kube, KubeError

log = get_logger(__name__)


class EventPoster:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._instance = socket.gethostname()

    def post(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """An Event about `obj` (cluster-scoped objects' Events go to `default`)."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        when = timestamp(datetime.now(UTC))
        involved = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"]}
        if meta.get("namespace"):
            involved["namespace"] = meta["namespace"]
        if meta.get("uid"):
            involved["uid"] = meta["uid"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": involved,
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": f"exportgate.dev/{COMPONENT}",
            "reportingInstance": self._instance[:128],
            "firstTimestamp": when,
            "lastTimestamp": when,
            "count": 1,
        }
        try:
            self.kube.request("POST", EVENTS.path(namespace), body=body)
        except KubeError as exc:
            log.warning("cannot post event", object=ref(obj), reason=reason, error=str(exc))
