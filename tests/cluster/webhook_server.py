"""A tiny HTTPS admission-webhook server for tests.

The API server calls it over real TLS (the caller registers ``ca_pem`` as the
webhook's caBundle).  Each AdmissionReview request is passed to a Python
handler that returns the ``response`` fields; the server fills in ``uid`` and
records every request so tests can assert what the API server sent.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from tests.cluster.certs import ServingCert, loopback_serving_cert

AdmissionRequest = dict[str, Any]
AdmissionResponse = dict[str, Any]
Handler = Callable[[AdmissionRequest], AdmissionResponse]


def allow() -> AdmissionResponse:
    return {"allowed": True}


def deny(message: str, code: int = 403, reason: str = "Forbidden") -> AdmissionResponse:
    """A denial whose message the API server passes back to the client verbatim."""
    return {"allowed": False, "status": {"code": code, "reason": reason, "message": message}}


def json_patch(operations: list[dict[str, Any]]) -> AdmissionResponse:
    """An allowing response that applies an RFC 6902 patch (mutating webhooks)."""
    encoded = base64.b64encode(json.dumps(operations).encode()).decode()
    return {"allowed": True, "patchType": "JSONPatch", "patch": encoded}


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: AdmissionWebhookServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Handshake in the per-connection thread, so a stalled client cannot
        # block the accept loop.
        tls = self.owner.serving_cert.server_ssl_context()
        try:
            conn = tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            return
        super().finish_request(conn, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean; requests are recorded instead

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        review = json.loads(self.rfile.read(length) or b"{}")
        request: AdmissionRequest = review.get("request", {})
        owner = self.server.owner
        # The API server appends ?timeout=Ns; record the bare path.
        owner.record(urlsplit(self.path).path, request)
        try:
            response = dict(owner.handler(request))
        except Exception as exc:  # a handler bug must surface as a denial, not a hang
            response = deny(f"test webhook handler raised {exc!r}", code=500)
        response["uid"] = request.get("uid", "")
        body = json.dumps(
            {
                "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                "kind": "AdmissionReview",
                "response": response,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AdmissionWebhookServer:
    """HTTPS server on 127.0.0.1 with a fresh loopback certificate.

    Use as a context manager; ``url(path)`` gives the clientConfig.url and
    ``ca_pem`` the caBundle.  ``requests`` lists ``(path, AdmissionRequest)``.
    """

    def __init__(
        self, handler: Handler, cert_dir: Path, serving_cert: ServingCert | None = None
    ) -> None:
        self.handler = handler
        self.serving_cert = serving_cert or loopback_serving_cert(cert_dir, "test-webhook")
        self._lock = threading.Lock()
        self._requests: list[tuple[str, AdmissionRequest]] = []
        self._httpd: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_pem(self) -> bytes:
        return self.serving_cert.ca_pem

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("webhook server is not running")
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/validate") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def record(self, path: str, request: AdmissionRequest) -> None:
        with self._lock:
            self._requests.append((path, request))

    @property
    def requests(self) -> list[tuple[str, AdmissionRequest]]:
        with self._lock:
            return list(self._requests)

    def hits(self, path: str | None = None) -> int:
        return sum(1 for p, _ in self.requests if path is None or p == path)

    def start(self) -> AdmissionWebhookServer:
        self._httpd = _TLSServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="test-admission-webhook",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> AdmissionWebhookServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
