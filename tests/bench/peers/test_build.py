"""The Kyverno wrapper module repeats the release's replace directives (no Go needed)."""

from __future__ import annotations

from bench.peers.build import KYVERNO_MODULE, kyverno_wrapper_gomod

RELEASE_GOMOD = """\
module github.com/kyverno/kyverno

go 1.26.6

require (
\tk8s.io/api v0.36.2
\tk8s.io/pod-security-admission v0.36.2
)

replace k8s.io/pod-security-admission => github.com/kyverno/pod-security-admission v0.0.0-2025
"""


def test_wrapper_requires_kyverno_and_repeats_its_replace_directives() -> None:
    gomod = kyverno_wrapper_gomod("v1.19.1", RELEASE_GOMOD)
    assert f"require {KYVERNO_MODULE} v1.19.1" in gomod
    assert "go 1.26.6" in gomod
    assert (
        "replace k8s.io/pod-security-admission => "
        "github.com/kyverno/pod-security-admission v0.0.0-2025"
    ) in gomod
    assert "k8s.io/api" not in gomod  # requirements come from kyverno's own go.mod via MVS
