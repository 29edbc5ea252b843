"""The serving TLS context, and reloading its certificate when the files change.

One `ssl.SSLContext` serves every connection for the life of the process. When cert-manager (or
anyone) rotates the mounted files, `load_cert_chain` is called on that same context: OpenSSL
copies the certificate into each connection when the connection is created, so new handshakes
get the new certificate while open connections and in-flight requests carry on untouched. No
listener is closed or re-bound, so no request is dropped.

A half-written pair (new certificate, old key) must never reach the live context: OpenSSL drops
the context's key as soon as a certificate that does not match it is set, and a failed key load
then leaves a context that cannot complete any handshake. So each poll reads both files once,
proves the pair in a scratch context, and only then loads those same bytes into the live one; a
pair that does not prove keeps the old pair in use and the next poll tries again. Kubernetes
updates Secret volumes atomically, so a mismatched pair is rare, but other rotators are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import structlog
from cryptography import x509

from exportgate_webhook.metrics import WebhookMetrics

log = structlog.get_logger("exportgate.webhook.tls")


def server_context(cert_file: Path, key_file: Path, *, http2: bool = False) -> ssl.SSLContext:
    """A server context: TLS 1.2 or newer, HTTP/2 (when `http2`) and HTTP/1.1 over ALPN, no
    client certificates."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    context.load_cert_chain(cert_file, key_file)
    return context


def _fingerprint(cert_pem: bytes, key_pem: bytes) -> bytes:
    digest = hashlib.sha256()
    for data in (cert_pem, key_pem):
        digest.update(data)
        digest.update(b"\0")
    return digest.digest()


def _not_after(cert_pem: bytes) -> float:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.not_valid_after_utc.timestamp()


@contextlib.contextmanager
def _snapshot_files(cert_pem: bytes, key_pem: bytes) -> Iterator[tuple[Path, Path]]:
    """The bytes read once, as files (`load_cert_chain` reads only files), private to us.

    Loading from our own copy means the pair proven in the scratch context is exactly the pair
    loaded into the live one, even if the mounted files change again in between.
    """
    with tempfile.TemporaryDirectory(prefix="exportgate-tls-") as directory:
        cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
        key_path.touch(mode=0o600)
        key_path.write_bytes(key_pem)
        cert_path.write_bytes(cert_pem)
        yield cert_path, key_path


class ReloadingContext:
    """The serving context plus a poller that reloads it in place when the files change."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        *,
        interval_s: float,
        metrics: WebhookMetrics,
        http2: bool = False,
    ) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self._interval_s = interval_s
        self._metrics = metrics
        self.context = server_context(cert_file, key_file, http2=http2)
        self._fingerprint = _fingerprint(cert_file.read_bytes(), key_file.read_bytes())
        self._metrics.cert_expiry.set(_not_after(cert_file.read_bytes()))
        self._task: asyncio.Task[None] | None = None

    def reload_if_changed(self) -> bool:
        """Load the files again if their content changed; True when a new pair is in use."""
        try:
            cert_pem, key_pem = self.cert_file.read_bytes(), self.key_file.read_bytes()
        except OSError as exc:
            # Mid-swap of a mounted Secret, or a deleted file: keep serving the old pair.
            log.warning("certificate files unreadable; keeping the current pair", error=str(exc))
            self._metrics.cert_reloads.labels("failure").inc()
            return False
        fingerprint = _fingerprint(cert_pem, key_pem)
        if fingerprint == self._fingerprint:
            return False
        try:
            expiry = _not_after(cert_pem)
            with _snapshot_files(cert_pem, key_pem) as (cert_path, key_path):
                # Prove the pair where a failure harms nothing (see the module docstring).
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path)
                self.context.load_cert_chain(cert_path, key_path)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning(
                "new certificate pair failed to load; keeping the current pair", error=str(exc)
            )
            self._metrics.cert_reloads.labels("failure").inc()
            # Remember the bad pair so that it is reported once, not at every poll.
            self._fingerprint = fingerprint
            return False
        self._fingerprint = fingerprint
        self._metrics.cert_expiry.set(expiry)
        self._metrics.cert_reloads.labels("success").inc()
        log.info("serving certificate reloaded", cert=str(self.cert_file), not_after=expiry)
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            # Handshakes run on this same loop thread, so the swap never races a handshake.
            self.reload_if_changed()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._poll(), name="exportgate-cert-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
