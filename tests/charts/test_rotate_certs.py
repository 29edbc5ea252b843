"""The cert rotator's decisions, on real certificates (its Kubernetes side is exercised against
the real API server in test_install.py)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from types import ModuleType

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.charts.chart import CHART
from tests.cluster.certs import CertificateAuthority


def _load() -> ModuleType:
    # The script ships in the chart (a ConfigMap), not in a package: load it by path.
    path = CHART / "files" / "rotate_certs.py"
    spec = importlib.util.spec_from_file_location("rotate_certs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rotate_certs"] = module
    spec.loader.exec_module(module)
    return module


rotate = _load()
NOW = dt.datetime.now(dt.UTC)


def _leaf_and_ca() -> tuple[x509.Certificate, x509.Certificate, object]:
    ca = CertificateAuthority("test-ca")
    pair = ca.issue("svc", dns_names=("svc.ns.svc",), server=True)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pair.key_pem, None)
    return x509.load_pem_x509_certificate(pair.cert_pem), ca_cert, ca_key


def test_fresh_certificate_from_the_ca_is_kept() -> None:
    leaf, ca, _ = _leaf_and_ca()
    remaining = leaf.not_valid_after_utc - NOW
    assert rotate.needs_renewal(leaf, ca, NOW, remaining / 2) is None


def test_certificate_inside_the_window_is_renewed_with_the_same_names() -> None:
    leaf, ca, ca_key = _leaf_and_ca()
    window = leaf.not_valid_after_utc - NOW + dt.timedelta(days=1)
    assert "expires" in rotate.needs_renewal(leaf, ca, NOW, window)
    cert_pem, key_pem = rotate.issue(leaf, ca, ca_key, NOW, dt.timedelta(days=90))
    renewed = x509.load_pem_x509_certificate(cert_pem)
    renewed.verify_directly_issued_by(ca)
    assert rotate.signed_by(renewed, ca)
    sans = renewed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["svc.ns.svc"]
    assert renewed.not_valid_after_utc - NOW > dt.timedelta(days=89)
    key = serialization.load_pem_private_key(key_pem, None)
    assert key.public_key().public_numbers() == renewed.public_key().public_numbers()  # type: ignore[union-attr]


def test_certificate_from_another_ca_is_replaced() -> None:
    leaf, _, _ = _leaf_and_ca()
    _, other_ca, _ = _leaf_and_ca()
    assert rotate.needs_renewal(leaf, other_ca, NOW, dt.timedelta(days=1)) == (
        "not signed by the chart's CA"
    )
