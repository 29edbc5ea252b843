"""SIGHUP to the webhook hosting the policy service (embedded), under load.

`exportgate-sidecar` re-reads its tenant and policy files at once on SIGHUP (docs/sidecar.md);
the embedded webhook takes the same signal the same way (before, SIGHUP ended it on the spot,
dropping the reviews in flight). The file is polled too seldom here to be picked up any other
way: only the signal can explain the new tenant count on /readyz.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.harness import EXAMPLE_TENANTS, SidecarOptions, Stack, wait_until
from tests.commands import audit_verify
from tests.faults.conftest import decision_records, guarded_load
from tests.faults.shapes import service_proc

EXTRA_TENANT = {
    "apiVersion": "exportgate.dev/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "latecomer"},
    "spec": {
        "legalName": "Latecomer GmbH",
        "incorporation": "DE",
        "headquarters": "DE",
        "verification": {
            "state": "Verified",
            "verifiedAt": "2026-01-01T00:00:00Z",
            "expiresAt": "2027-01-01T00:00:00Z",
            "evidenceRef": "k-2",
        },
    },
}


def _readyz(stack: Stack) -> str:
    url = f"http://127.0.0.1:{stack.probe_port}/readyz"
    with urllib.request.urlopen(url, timeout=2.0) as response:
        return str(response.read().decode())


def test_sighup_reloads_the_files_without_dropping_reviews(
    make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(EXAMPLE_TENANTS.read_text())
    stack = make_stack(
        shape="embedded", sidecar=SidecarOptions(tenants=(tenants,), poll_interval=3600.0)
    )
    before = _readyz(stack)
    count = len(list(yaml.safe_load_all(tenants.read_text())))
    assert f"{count} tenants" in before, before

    out = stack.workdir / "responses.jsonl"
    load = guarded_load(stack, 1.5, out, concurrency=8)
    time.sleep(0.3)
    tenants.write_text(tenants.read_text() + yaml.safe_dump(EXTRA_TENANT, explicit_start=True))
    service = service_proc(stack)
    hup_at = time.time()
    service.signal(signal.SIGHUP)
    # /readyz is cached for a second.
    wait_until(lambda: f"{count + 1} tenants" in _readyz(stack), 10, "the reload", service)
    load.join(60)
    assert service.alive(), service.log_tail()
    stack.stop()

    responses = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    decided = decision_records(stack.decision_log)
    # Every review before, during and after the reload was decided and logged.
    assert responses and any(r["t"] > hup_at + 0.3 for r in responses)
    undecided = [r for r in responses if r["decision_id"] not in decided]
    assert not undecided, undecided[:3]
    done = audit_verify(stack.decision_log)
    assert done.returncode == 0, done.stdout + done.stderr
