"""Who may call the admission port, when mutual TLS is on (`--client-ca`, opt-in).

Anyone who reaches the webhook's port can post AdmissionReviews, and every review is decided
and written to the auditors' decision log: an unauthenticated caller could flood the log or
plant misleading records. With a client CA the TLS context requires a client certificate that
CA signed (`tls.server_context`), so OpenSSL refuses a caller without one, or with one from
another CA, or an expired one, inside the handshake. What OpenSSL cannot check, whether the
certificate names an allowed identity (`--client-name`), is checked here as soon as the
handshake completes, before a session exists and before a byte of request is read.

Either way the refused connection reaches no session, so nothing is reviewed or logged as a
decision: it is counted (``exportgate_webhook_client_certificates_refused_total{reason}``) and
logged once per peer address per `LOG_INTERVAL_S`, so a caller retrying in a loop cannot turn
the webhook's own log into the flood the check keeps out of the decision log.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

import structlog

from exportgate_webhook.metrics import ClientAuthMetrics

log = structlog.get_logger("exportgate.webhook.clientauth")

LOG_INTERVAL_S = 60.0
"""A peer's refusals are logged at most once in this long (all are counted)."""

MAX_PEERS_REMEMBERED = 4096
"""Peers whose last log time is kept; past it the oldest are forgotten (and may log again)."""

#: Why a client was refused (the metric's `reason` label).
MISSING = "missing"  # no client certificate
UNTRUSTED = "untrusted"  # not signed by a configured CA (or not for client use)
EXPIRED = "expired"  # signed, but past its notAfter (or before its notBefore)
NAME = "name"  # signed and valid, but naming no allowed identity

# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED.
_OUT_OF_VALIDITY = frozenset({9, 10})
# What OpenSSL reports when CERT_REQUIRED meets a client that sent no certificate (TLS 1.2 and
# 1.3 spell it differently).
_NO_CERTIFICATE = ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_REQUIRED")


def handshake_refusal(exc: BaseException) -> str | None:
    """The reason a failed handshake failed over the client's certificate, or None when it
    failed for anything else (a scanner, a protocol mismatch, a timeout: counted as before)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return EXPIRED if exc.verify_code in _OUT_OF_VALIDITY else UNTRUSTED
    if isinstance(exc, ssl.SSLError):
        text = f"{getattr(exc, 'reason', None) or ''} {exc}".upper()
        if any(marker in text for marker in _NO_CERTIFICATE):
            return MISSING
    return None


def identities(peer_cert: dict[str, Any]) -> list[str]:
    """The subject CN(s) and DNS SANs of a verified certificate (`SSLObject.getpeercert()`)."""
    names = [
        value for rdn in peer_cert.get("subject", ()) for key, value in rdn if key == "commonName"
    ]
    names += [value for kind, value in peer_cert.get("subjectAltName", ()) if kind == "DNS"]
    return names


class ClientGate:
    """The identity check after the handshake, and the accounting of every refusal."""

    def __init__(
        self,
        names: frozenset[str],
        metrics: ClientAuthMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.names = names
        self._metrics = metrics
        self._clock = clock
        self._logged: dict[str, float] = {}  # peer address -> when it was last logged

    def name_refusal(self, ssl_object: ssl.SSLObject | None) -> tuple[str, str] | None:
        """(reason, detail) when the verified certificate names no allowed identity; None when
        it may proceed (always, without an allowlist)."""
        if not self.names:
            return None
        peer_cert = ssl_object.getpeercert() if ssl_object is not None else None
        if not peer_cert:  # cannot happen under CERT_REQUIRED; refuse rather than assume
            return MISSING, "no client certificate after the handshake"
        presented = identities(peer_cert)
        if any(name in self.names for name in presented):
            return None
        return NAME, f"certificate names {presented or 'nothing'}, none of them allowed"

    def refused(self, reason: str, peer: str, detail: str) -> bool:
        """Count a refusal; log it unless this peer was logged within `LOG_INTERVAL_S` (True
        when it was logged)."""
        self._metrics.refused.labels(reason).inc()
        now = self._clock()
        last = self._logged.get(peer)
        if last is not None and now - last < LOG_INTERVAL_S:
            return False
        if last is None and len(self._logged) >= MAX_PEERS_REMEMBERED:
            self._forget_before(now - LOG_INTERVAL_S)
        self._logged.pop(peer, None)  # re-inserted last: the dict stays oldest-first
        self._logged[peer] = now
        log.warning(
            "client refused at the admission port: no acceptable client certificate",
            peer=peer,
            reason=reason,
            detail=detail,
            note=f"further refusals of this peer within {LOG_INTERVAL_S:.0f}s are only counted",
        )
        return True

    def _forget_before(self, cutoff: float) -> None:
        stale = [peer for peer, when in self._logged.items() if when < cutoff]
        for peer in stale:
            del self._logged[peer]
        while len(self._logged) >= MAX_PEERS_REMEMBERED:  # all recent: drop the oldest
            del self._logged[next(iter(self._logged))]
