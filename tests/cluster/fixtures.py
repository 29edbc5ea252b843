"""pytest plugin: ``pytest_plugins = ["tests.cluster.fixtures"]``.

Fixtures:

* ``kube_cluster`` (session) -- a started LocalCluster.  Skips when the
  binaries are missing, unless EXPORTGATE_REQUIRE_CLUSTER is set (CI sets it),
  in which case it fails, so a broken build can never turn into green skips.
* ``kube_binaries`` (session) -- name -> path of the binaries, same skip/fail rule.
* ``kube_namespace`` (function) -- a fresh namespace name in that cluster.
* ``webhook_tls`` (session) -- a loopback ServingCert for test HTTPS servers.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import build
from tests.cluster.certs import ServingCert, loopback_serving_cert
from tests.cluster.local_cluster import LocalCluster

REQUIRE_ENV = "EXPORTGATE_REQUIRE_CLUSTER"
CONTROL_PLANE = ("etcd", "kube-apiserver", "kubectl")


def cluster_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def kube_binaries() -> dict[str, Path]:
    """Paths of etcd, kube-apiserver, kubectl (and helm if present); skip/fail if absent."""
    missing = build.missing_binaries(CONTROL_PLANE)
    if missing:
        message = (
            f"Kubernetes test binaries missing ({', '.join(missing)}): run "
            f"`python -m tests.cluster build` (first run compiles them, see "
            f"docs/test-cluster.md) or set EXPORTGATE_TEST_ASSETS to a directory holding them"
        )
        if cluster_required():
            pytest.fail(f"{REQUIRE_ENV} is set but {message}", pytrace=False)
        pytest.skip(message)
    return build.find_binaries()


@pytest.fixture(scope="session")
def kube_cluster(
    kube_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    # A pytest-managed workdir keeps certs and component logs for post-mortems
    # (pytest prunes old ones); etcd's data is removed on stop regardless.
    cluster = LocalCluster(tmp_path_factory.mktemp("kube-cluster"), kube_binaries)
    with cluster:
        yield cluster


def _dns_label(text: str, limit: int) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label[:limit].strip("-") or "t"


@pytest.fixture
def kube_namespace(kube_cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace unique to this test, labelled ``exportgate.test/namespace=<name>``.

    Deleting it is fire-and-forget: with no controller-manager it stays Terminating.
    """
    name = f"{_dns_label(request.node.name, 45)}-{uuid.uuid4().hex[:6]}"
    kube_cluster.create_namespace(name, labels={"exportgate.test/namespace": name})
    yield name
    kube_cluster.delete("namespace", name, wait=False)


@pytest.fixture(scope="session")
def webhook_tls(tmp_path_factory: pytest.TempPathFactory) -> ServingCert:
    """CA + serving cert for 127.0.0.1/localhost; ``ca_pem`` is the caBundle."""
    return loopback_serving_cert(tmp_path_factory.mktemp("webhook-tls"))
