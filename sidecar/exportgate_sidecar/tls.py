"""Mutual TLS for the TCP listener, with certificate rotation, and the matching client side.

The server re-reads its certificate, key and client CA when the files change, so cert-manager
(or any rotation that rewrites the mounted secret) needs no restart. gRPC asks for the current
configuration before every new TLS handshake; the files are checked at most once a second, and
a half-written or mismatched set is ignored until it is complete (the old one keeps serving).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog

log = structlog.get_logger("exportgate.sidecar.tls")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path

    def read(self) -> tuple[bytes, bytes, bytes]:
        cert, key, ca = self.cert.read_bytes(), self.key.read_bytes(), self.ca.read_bytes()
        for name, data, marker in (
            (self.cert, cert, b"-----BEGIN CERTIFICATE-----"),
            (self.key, key, b"PRIVATE KEY-----"),
            (self.ca, ca, b"-----BEGIN CERTIFICATE-----"),
        ):
            if marker not in data:
                raise ValueError(f"{name} does not hold a PEM {marker.decode().strip('-')}")
        return cert, key, ca

    def stamp(self) -> tuple[int, ...]:
        stamps: list[int] = []
        for path in (self.cert, self.key, self.ca):
            st = path.stat()
            stamps += [st.st_mtime_ns, st.st_size, st.st_ino]
        return tuple(stamps)


class ReloadingServerCredentials:
    """Server credentials requiring client certificates, refreshed when the files change."""

    CHECK_INTERVAL = 1.0

    def __init__(self, files: TlsFiles) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._stamp = files.stamp()
        cert, key, ca = files.read()  # fail at startup with the file's name if it is wrong
        initial = grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)
        self._next_check = time.monotonic() + self.CHECK_INTERVAL
        self.credentials: grpc.ServerCredentials = grpc.dynamic_ssl_server_credentials(
            initial, self._fetch, require_client_authentication=True
        )

    def _fetch(self) -> Any:
        """Called by gRPC (on its own thread) before each handshake; None means "no change"."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_check:
                return None
            self._next_check = now + self.CHECK_INTERVAL
            try:
                stamp = self._files.stamp()
                if stamp == self._stamp:
                    return None
                cert, key, ca = self._files.read()
                config = grpc.ssl_server_certificate_configuration(
                    [(key, cert)], root_certificates=ca
                )
            except (OSError, ValueError) as exc:
                log.warning(
                    "new TLS files not usable yet; keeping the current ones", error=str(exc)
                )
                return None
            self._stamp = stamp
        log.info("TLS certificate reloaded", cert=str(self._files.cert))
        return config
