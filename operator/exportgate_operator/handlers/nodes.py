"""Node handler: keep `exportgate.dev/accelerator-class` in step with the node's GPU labels.

An event handler (not create/update) on purpose: it keeps no kopf bookkeeping annotations on
Nodes, and a label patch it makes itself arrives as an event that then finds nothing to do.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from exportgate.logsetup import get_logger
from exportgate_operator.app import App
from exportgate_operator.kinds import NODES
from exportgate_operator.kube import KubeError
from exportgate_operator.nodes import label_patch

log = get_logger(__name__)


def register(registry: kopf.OperatorRegistry, app: App) -> None:
    @kopf.on.event("", "v1", "nodes", registry=registry)
    async def node_event(event: kopf.RawEvent, name: str, labels: kopf.Labels, **_: Any) -> None:
        if event.get("type") == "DELETED":
            return
        patch = label_patch(dict(labels), app.world.engine.catalogue)
        if patch is None:
            return
        try:
            await asyncio.to_thread(
                app.kube.merge_patch, NODES, name, {"metadata": {"labels": patch}}
            )
        except KubeError as exc:
            if not exc.not_found:
                raise
        log.info("node labelled", node=name, labels=patch)
