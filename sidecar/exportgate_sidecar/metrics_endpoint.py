"""The sidecar's optional Prometheus ``/metrics`` HTTP endpoint (its own port)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from exportgate.service.metrics import SidecarMetrics


class MetricsEndpoint:
    """The optional ``/metrics`` HTTP endpoint, served from a background thread."""

    def __init__(self, metrics: SidecarMetrics, address: str, port: int) -> None:
        server, thread = start_http_server(port, addr=address, registry=metrics.registry)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
