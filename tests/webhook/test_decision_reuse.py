"""One admission, one decision: /validate names the decision /mutate stamped, and the sidecar
answers with it again (no second record) only for the very same question. Real webhook(s), real
sidecar(s), real sockets; the API server's part (applying the patch between the phases) is done
here by applying the returned JSON Patch, as tests/webhook/test_cluster_e2e.py does for real."""

from __future__ import annotations

import copy
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from exportgate_sidecar.server import SidecarServer, serve_in_background

from tests.cluster.certs import ServingCert
from tests.webhook.conftest import (
    Webhook,
    sidecar_config,
    start_webhook,
    stop_webhook,
    webhook_config,
)
from tests.webhook.helpers import ACME_NS, decode_patch, gpu_pod, review_for

DECISION_ID = "exportgate.dev/decision-id"


def apply_stamps(obj: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server passes it to /validate after the mutating patch."""
    patched = copy.deepcopy(obj)
    for op in decode_patch(response):
        assert op["op"] == "add", op
        path = op["path"].split("/")[1:]
        target = patched
        for token in path[:-1]:
            target = target.setdefault(token.replace("~1", "/").replace("~0", "~"), {})
        target[path[-1].replace("~1", "/").replace("~0", "~")] = op["value"]
    return patched


async def _mutate(hook: Webhook, obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    response = await hook.review("/mutate", review_for(obj))
    assert response["allowed"] is True
    stamped = apply_stamps(obj, response)
    return stamped["metadata"]["annotations"][DECISION_ID], stamped


async def test_validate_answers_with_the_mutating_decision_and_logs_nothing_new(
    webhook: Webhook,
) -> None:
    pod = gpu_pod("once", ACME_NS)
    decision_id, stamped = await _mutate(webhook, pod)
    response = await webhook.review("/validate", review_for(stamped))

    assert response["allowed"] is True
    audit = response["auditAnnotations"]
    assert audit["decision-id"] == decision_id
    assert audit["phase"] == "validating" and audit["decision-reused"] == "true"
    assert "mutating-decision-id" not in audit  # the same decision: nothing to tie together
    assert [r["id"] for r in webhook.logged()] == [decision_id]


async def test_a_stamp_copied_onto_another_object_gets_a_fresh_decision(
    webhook: Webhook,
) -> None:
    decision_id, _ = await _mutate(webhook, gpu_pod("first", ACME_NS))
    other = gpu_pod("second", ACME_NS, annotations={DECISION_ID: decision_id})
    response = await webhook.review("/validate", review_for(other))

    audit = response["auditAnnotations"]
    assert audit["decision-id"] != decision_id and "decision-reused" not in audit
    assert audit["mutating-decision-id"] == decision_id
    assert webhook.logged_decision(audit["decision-id"])["object"]["name"] == "second"


async def test_a_spec_changed_after_the_mutating_phase_gets_a_fresh_decision(
    webhook: Webhook,
) -> None:
    # Another mutating webhook, running after exportgate's, swaps the L4 for 8 H100s.
    decision_id, stamped = await _mutate(webhook, gpu_pod("swap", ACME_NS, product="NVIDIA-L4"))
    stamped["spec"]["nodeSelector"]["nvidia.com/gpu.product"] = "NVIDIA-H100-80GB-HBM3"
    stamped["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "8"
    response = await webhook.review("/validate", review_for(stamped))

    audit = response["auditAnnotations"]
    assert audit["decision-id"] != decision_id and "decision-reused" not in audit
    record = webhook.logged_decision(audit["decision-id"])
    assert record["accelerators"][0]["count"] == 8
    assert len(webhook.logged()) == 2


async def test_a_denial_is_recorded_once_per_admission(webhook: Webhook) -> None:
    pod = gpu_pod("train")  # nimbus: denied
    decision_id, stamped = await _mutate(webhook, pod)
    denied = await webhook.review("/validate", review_for(stamped))
    assert denied["allowed"] is False
    audit = denied["auditAnnotations"]
    assert audit["decision-id"] == decision_id and audit["decision-reused"] == "true"
    assert [r["id"] for r in webhook.logged()] == [decision_id]


# -- two replicas: mutate on one, validate on the other ------------------------------------------


@pytest.fixture
async def replica(
    tmp_path: Path, policy_files: tuple[Path, Path], serving_cert: ServingCert
) -> AsyncIterator[Webhook]:
    directory = Path(f"/tmp/egw-replica-{id(tmp_path) % 100000}")
    directory.mkdir(exist_ok=True)
    config = sidecar_config(directory, *policy_files)
    async with serve_in_background(config) as other_sidecar:
        hook = await start_webhook(
            webhook_config(serving_cert, other_sidecar.unix_target),
            serving_cert,
            config.decision_log,
        )
        try:
            yield hook
        finally:
            await stop_webhook(hook)
    # The decision log keeps policy snapshots in a directory beside it (docs/decision-log.md).
    shutil.rmtree(directory)


async def test_validate_on_another_replica_decides_afresh(
    webhook: Webhook, replica: Webhook, sidecar: SidecarServer
) -> None:
    decision_id, stamped = await _mutate(webhook, gpu_pod("two-replicas", ACME_NS))
    response = await replica.review("/validate", review_for(stamped))

    assert response["allowed"] is True
    audit = response["auditAnnotations"]
    assert audit["decision-id"] != decision_id and "decision-reused" not in audit
    assert audit["mutating-decision-id"] == decision_id  # still tied to the stamp
    assert [r["id"] for r in webhook.logged()] == [decision_id]
    assert [r["id"] for r in replica.logged()] == [audit["decision-id"]]
