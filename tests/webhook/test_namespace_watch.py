"""The namespace watch behind the tenancy map: bounded reads, and readiness that notices a
watch that has stopped making progress (red team 3, F6).

A half-open connection cannot be made on loopback on demand, so the two halves of the fix are
checked where they live: the watch request carries a client-side read timeout (what turns a
silent connection into an error the loop relists after), and `synced()` turns false once no
event, bookmark, list or server-ended watch arrived for the staleness bound (what takes the
replica out of /readyz if the thread is stuck anyway).
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from typing import Any

from exportgate_webhook.metrics import WebhookMetrics
from exportgate_webhook.tenancy import WatchedNamespaces


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _namespace(name: str, tenant: str, version: str) -> Any:
    labels = {"exportgate.dev/tenant": tenant}
    metadata = SimpleNamespace(name=name, labels=labels, resource_version=version)
    return SimpleNamespace(metadata=metadata)


class _Stream:
    """A watch response: the given JSON lines, then the server ends the watch."""

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        self._lines = lines

    def stream(self, amt: Any = None, decode_content: bool = False) -> Any:
        for line in self._lines:
            yield (json.dumps(line) + "\n").encode()

    def close(self) -> None:
        return None

    def release_conn(self) -> None:
        return None


class _Core:
    """CoreV1Api.list_namespace as the watch thread calls it: one list, then watches."""

    def __init__(self, directory: WatchedNamespaces, watches: int) -> None:
        self.directory = directory
        self.watch_calls: list[dict[str, Any]] = []
        self.lists = 0
        self._watches = watches
        self.done = threading.Event()

    def list_namespace(self, **kwargs: Any) -> Any:
        """:rtype: V1NamespaceList"""
        if not kwargs.get("watch"):
            self.lists += 1
            return SimpleNamespace(
                items=[_namespace("nimbus-ml", "nimbus", "1")],
                metadata=SimpleNamespace(resource_version="1"),
            )
        self.watch_calls.append(kwargs)
        if len(self.watch_calls) >= self._watches:
            self.directory._stopping.set()  # ends the thread after this watch
            self.done.set()
        moved = {"kind": "Namespace", "apiVersion": "v1", "metadata": {
            "name": "nimbus-ml", "resourceVersion": "2",
            "labels": {"exportgate.dev/tenant": "acme"}}}  # fmt: skip
        return _Stream([{"type": "MODIFIED", "object": moved}])


def _directory(**kwargs: Any) -> WatchedNamespaces:
    return WatchedNamespaces(lambda: None, metrics=WebhookMetrics(), **kwargs)


def test_every_watch_read_has_a_client_side_timeout() -> None:
    directory = _directory(resync_s=60.0)
    core = _Core(directory, watches=2)
    directory._core = core
    thread = threading.Thread(target=directory._run, daemon=True)
    thread.start()
    assert core.done.wait(10)
    thread.join(10)
    assert core.lists == 1
    for call in core.watch_calls:
        assert call["timeout_seconds"] == 60  # the server ends the watch ...
        connect, read = call["_request_timeout"]  # ... and the client gives up soon after
        assert 0 < connect <= 30
        assert 60 < read <= 120
    assert directory._tenants == {"nimbus-ml": "acme"}  # the event was applied


def test_readiness_fails_when_the_watch_makes_no_progress() -> None:
    clock = _Clock()
    directory = _directory(resync_s=300.0, clock=clock)
    assert not directory.synced()  # never listed
    directory._core = SimpleNamespace(
        list_namespace=lambda **_: SimpleNamespace(
            items=[_namespace("nimbus-ml", "nimbus", "1")],
            metadata=SimpleNamespace(resource_version="1"),
        )
    )
    directory._relist()
    assert directory.synced()
    # The default bound: two watch rounds, each ended by the server or by the read timeout.
    clock.now += 2 * 330 - 1
    assert directory.synced()
    clock.now += 2
    assert directory.stale() and not directory.synced()
    # A bookmark (or any event) is progress: ready again.
    bookmark = {"type": "BOOKMARK", "object": _namespace("", "", "7")}
    assert directory._apply(bookmark) == "7"
    assert directory.synced()
    clock.now += 2 * 330 + 1
    directory._relist()  # so is a successful list
    assert directory.synced()


def test_the_staleness_bound_can_be_set() -> None:
    clock = _Clock()
    directory = _directory(resync_s=300.0, stale_after_s=5.0, clock=clock)
    directory._synced.set()
    clock.now += 6
    assert not directory.synced()
