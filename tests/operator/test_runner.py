"""Running the operator: the liveness endpoint, and two replicas where only one is active."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from tests.cluster.ports import free_port
from tests.operator.builders import tenant
from tests.operator.conftest import OPERATOR_USER, OperatorHandle, wait_for

pytestmark = pytest.mark.cluster


def fetch(url: str) -> Any:
    """GET `url` as JSON, or None while nothing listens yet (kopf starts the endpoint with its
    other tasks, a moment after it reports ready)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            assert response.status == 200
            return json.loads(response.read())
    except urllib.error.URLError:
        return None


def test_liveness_endpoint(operator: OperatorHandle) -> None:
    assert operator.config.liveness
    probes = wait_for(lambda: fetch(str(operator.config.liveness)), what="liveness endpoint")
    assert probes["tenants"] >= 0
    assert len(probes["policyVersion"]) == 16


def peers(operator: OperatorHandle) -> dict[str, Any]:
    found = operator.get("clusterkopfpeering", operator.config.peering) or {}
    return {k: v for k, v in (found.get("status") or {}).items() if v}


def test_second_replica_takes_over_and_hands_back(
    operator: OperatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kopf")
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    replica = subprocess.Popen(
        [
            sys.executable, "-m", "exportgate_operator",
            "--kubeconfig", str(operator.cluster.user_kubeconfig(OPERATOR_USER)),
            "--peering", operator.config.peering,
            "--priority", "100",  # higher than the in-process operator's 0: it becomes active
            "--liveness", f"http://127.0.0.1:{port}/healthz",
            "--log-format", "console",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(peers(operator)) >= 2, timeout=60, what="two peers registered")
        wait_for(
            lambda: "Pausing operations in favour of" in caplog.text,
            timeout=60,
            what="the in-process replica to pause",
        )
        # Work still gets done, by the active replica.
        name = f"replica-{uuid.uuid4().hex[:6]}"
        operator.cluster.apply(tenant(name))
        wait_for(
            lambda: operator.verification(name),
            what="status written by the active replica",
        )
    finally:
        replica.send_signal(signal.SIGTERM)
        try:
            _, stderr = replica.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            replica.kill()
            _, stderr = replica.communicate()
    assert replica.returncode in (0, -signal.SIGTERM), stderr[-3000:]
    wait_for(
        lambda: "Resuming operations after the pause" in caplog.text,
        timeout=60,
        what="the in-process replica to resume",
    )
    name = f"resumed-{uuid.uuid4().hex[:6]}"
    operator.cluster.apply(tenant(name))
    wait_for(
        lambda: operator.verification(name),
        what="status written after the hand-back",
    )
