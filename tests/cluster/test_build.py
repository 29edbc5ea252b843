"""Fast checks of the build and certificate helpers (no binaries needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.cluster import build
from tests.cluster.certs import CertificateAuthority, loopback_serving_cert

RELEASE_GOMOD = """\
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tgithub.com/foo/bar v1.0.0
\tk8s.io/api v0.0.0
\tk8s.io/apiserver v0.0.0 // indirect
)

require k8s.io/kubectl v0.0.0

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apiserver => ./staging/src/k8s.io/apiserver
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
\tgithub.com/foo/bar => github.com/foo/bar v1.0.1
)

replace k8s.io/kubectl => ./staging/src/k8s.io/kubectl
"""


def test_staging_modules_are_read_from_the_release_gomod() -> None:
    # Only staging modules the release requires: sample-controller is replaced
    # upstream but never required, and may not even be published.
    assert build.staging_modules(RELEASE_GOMOD) == [
        "k8s.io/api",
        "k8s.io/apiserver",
        "k8s.io/kubectl",
    ]


def test_wrapper_gomod_replaces_staging_with_published_versions() -> None:
    gomod = build.kubernetes_wrapper_gomod("v1.37.2", RELEASE_GOMOD)
    assert "require k8s.io/kubernetes v1.37.2" in gomod
    assert "\tk8s.io/api => k8s.io/api v0.37.2" in gomod
    assert "\tk8s.io/kubectl => k8s.io/kubectl v0.37.2" in gomod
    assert "sample-controller" not in gomod
    assert "go 1.26.0" in gomod and "godebug default=go1.26" in gomod


def test_staging_version_rejects_prereleases() -> None:
    assert build.staging_version("v1.34.4") == "v0.34.4"
    with pytest.raises(build.BuildError):
        build.staging_version("v1.35.0-rc.1")


def test_user_assets_dir_wins_and_only_missing_ones_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTGATE_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    assets = tmp_path / "assets"
    assets.mkdir()
    fake = assets / "etcd"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("EXPORTGATE_TEST_ASSETS", str(assets))
    assert build.find_binaries() == {"etcd": fake}
    assert build.missing_binaries() == ["kube-apiserver", "kubectl", "helm"]


def test_client_certificate_carries_user_and_groups() -> None:
    ca = CertificateAuthority("test-ca")
    pair = ca.issue("alice", organizations=("tenant:acme", "team:a"), client=True)
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["tenant:acme", "team:a"]


def test_loopback_serving_cert_covers_localhost(tmp_path: Path) -> None:
    sc = loopback_serving_cert(tmp_path)
    cert = x509.load_pem_x509_certificate(sc.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert sc.server_ssl_context() is not None
    assert sc.ca_path.read_bytes() == sc.ca_pem
