"""Build and run the operator: `run` for the command line, `run_in_thread` for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import kopf

from exportgate.kubeapi import new_api_client
from exportgate_operator.app import App
from exportgate_operator.handlers import register_all
from exportgate_operator.kube import Kube
from exportgate_operator.settings import OperatorConfig


class LogCloseStalled(Exception):
    """The decision log was not closed in time at shutdown: its fsync does not return."""


def build(config: OperatorConfig) -> tuple[App, kopf.OperatorRegistry]:
    kube = Kube(new_api_client(config.kubeconfig, config.context))
    app = App.create(config, kube)
    registry = kopf.OperatorRegistry()
    register_all(registry, app)
    return app, registry


async def operate(
    config: OperatorConfig,
    *,
    stop_flag: threading.Event | None = None,
    ready_flag: threading.Event | None = None,
) -> None:
    app, registry = build(config)
    try:
        await kopf.operator(
            registry=registry,
            clusterwide=config.clusterwide,
            namespaces=list(config.namespaces),
            standalone=config.standalone,
            priority=config.priority,
            peering_name=config.peering,
            liveness_endpoint=config.liveness,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        app.close()  # bounded; a no-op when kopf's cleanup handler closed it already
    if app.recorder.stalled:
        raise LogCloseStalled(app.recorder.stalled)


def run(config: OperatorConfig) -> None:
    asyncio.run(operate(config))


@contextmanager
def run_in_thread(config: OperatorConfig, ready_timeout: float = 30.0) -> Iterator[None]:
    """Run the operator in a background thread for the duration of the `with` block."""
    stop, ready = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(operate(config, stop_flag=stop, ready_flag=ready))
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=target, name="exportgate-operator", daemon=True)
    thread.start()
    if not ready.wait(ready_timeout) or failure:
        stop.set()
        thread.join(10)
        raise RuntimeError(f"operator did not start: {failure[:1]}")
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
