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

With mutual TLS (`--client-ca`) the context also requires a client certificate signed by the
client CA bundle. OpenSSL can add CAs to a context's trust store but never remove one, so a
changed bundle is not loaded in place: a new context is built from the bundle and the serving
pair in use, and new connections get it (the listener asks `ReloadingContext.context` for each
connection); open connections keep the context they were accepted with. A bundle that does not
load keeps the current context, as a broken pair does.
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


def server_context(
    cert_file: Path, key_file: Path, *, http2: bool = False, client_ca: Path | None = None
) -> ssl.SSLContext:
    """A server context: TLS 1.2 or newer, HTTP/2 (when `http2`) and HTTP/1.1 over ALPN; no
    client certificates, or with `client_ca` a client certificate that bundle signed is
    required (the handshake fails without one)."""
    # With a cafile, create_default_context trusts that file only: never the system's public
    # CAs, which would let any certificate a public CA issued for client use through.
    context = ssl.create_default_context(
        ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca) if client_ca is not None else None
    )
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    context.load_cert_chain(cert_file, key_file)
    return context


def _fingerprint(*files: bytes) -> bytes:
    digest = hashlib.sha256()
    for data in files:
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
    """The serving context plus a poller that reloads it when the files change: the serving
    pair in place, a changed client CA bundle (`client_ca`) by a new context."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        *,
        interval_s: float,
        metrics: WebhookMetrics,
        http2: bool = False,
        client_ca: Path | None = None,
    ) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca = client_ca
        self._interval_s = interval_s
        self._metrics = metrics
        self._http2 = http2
        self.context = server_context(cert_file, key_file, http2=http2, client_ca=client_ca)
        self._pair = (cert_file.read_bytes(), key_file.read_bytes())  # the pair in use
        self._fingerprint = _fingerprint(*self._pair)
        self._metrics.cert_expiry.set(_not_after(cert_file.read_bytes()))
        self._ca_fingerprint = _fingerprint(client_ca.read_bytes()) if client_ca else b""
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
        self._pair = (cert_pem, key_pem)
        self._metrics.cert_expiry.set(expiry)
        self._metrics.cert_reloads.labels("success").inc()
        log.info("serving certificate reloaded", cert=str(self.cert_file), not_after=expiry)
        return True

    def reload_client_ca_if_changed(self) -> bool:
        """Build a new context when the client CA bundle changed; True when it is in use."""
        if self.client_ca is None:
            return False
        reloads = self._metrics.client_auth().ca_reloads
        try:
            ca_pem = self.client_ca.read_bytes()
        except OSError as exc:
            log.warning("client CA file unreadable; keeping the current CAs", error=str(exc))
            reloads.labels("failure").inc()
            return False
        fingerprint = _fingerprint(ca_pem)
        if fingerprint == self._ca_fingerprint:
            return False
        # Reported once per content, like a bad pair, whatever happens below.
        self._ca_fingerprint = fingerprint
        try:
            with _snapshot_files(*self._pair) as (cert_path, key_path):
                ca_path = cert_path.with_name("client-ca.crt")
                ca_path.write_bytes(ca_pem)
                context = server_context(cert_path, key_path, http2=self._http2, client_ca=ca_path)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning("new client CA bundle failed to load; keeping the current CAs",
                        error=str(exc))  # fmt: skip
            reloads.labels("failure").inc()
            return False
        self.context = context
        reloads.labels("success").inc()
        log.info("client CA bundle reloaded", client_ca=str(self.client_ca))
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            # Handshakes run on this same loop thread, so the swap never races a handshake.
            self.reload_if_changed()
            self.reload_client_ca_if_changed()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._poll(), name="exportgate-cert-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
