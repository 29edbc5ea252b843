"""The mutating endpoint stamps admitted guarded objects with their decision (JSON Patch)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from exportgate_sidecar.server import SidecarServer

from tests.cluster.certs import ServingCert
from tests.webhook.conftest import Webhook, start_webhook, stop_webhook, webhook_config
from tests.webhook.helpers import (
    ACME_NS,
    NIMBUS_NS,
    PLATFORM_USER,
    decode_patch,
    gpu_pod,
    plain_pod,
    review_for,
)

DECISION_ID = "exportgate.dev/decision-id"
CLASS = "exportgate.dev/accelerator-class"
VERSION = "exportgate.dev/policy-version"


async def test_admitted_object_without_annotations_gets_the_whole_map(webhook: Webhook) -> None:
    response = await webhook.review("/mutate", review_for(gpu_pod("h100", ACME_NS)))
    assert response["allowed"] is True
    patch = decode_patch(response)
    assert len(patch) == 1
    assert patch[0]["op"] == "add" and patch[0]["path"] == "/metadata/annotations"
    stamps = patch[0]["value"]
    assert stamps[CLASS] == "3A090.a"
    record = webhook.logged_decision(stamps[DECISION_ID])
    assert record["action"] == "allow"
    assert stamps[VERSION] == record["policyVersion"]
    assert response["auditAnnotations"]["phase"] == "mutating"


async def test_existing_annotations_get_one_escaped_add_per_key(webhook: Webhook) -> None:
    pod = gpu_pod("h100", ACME_NS, annotations={"team": "vision"})
    patch = decode_patch(await webhook.review("/mutate", review_for(pod)))
    paths = {op["path"] for op in patch}
    assert paths == {
        "/metadata/annotations/exportgate.dev~1decision-id",
        "/metadata/annotations/exportgate.dev~1accelerator-class",
        "/metadata/annotations/exportgate.dev~1policy-version",
    }
    assert all(op["op"] == "add" for op in patch)


async def test_forged_stamp_is_overwritten_by_a_real_one(webhook: Webhook) -> None:
    pod = gpu_pod("h100", ACME_NS, annotations={DECISION_ID: "forged", CLASS: "none"})
    patch = decode_patch(await webhook.review("/mutate", review_for(pod)))
    values = {op["path"].rsplit("/", 1)[1]: op.get("value") for op in patch}
    assert values["exportgate.dev~1decision-id"] != "forged"
    webhook.logged_decision(str(values["exportgate.dev~1decision-id"]))


async def test_denied_object_is_stamped_with_its_denial_not_the_forged_id(
    webhook: Webhook,
) -> None:
    """The denial's id is stamped so that /validate answers with it (recorded once); the
    object is refused there, so the stamp is never stored."""
    pod = gpu_pod("h100", annotations={DECISION_ID: "forged"})  # nimbus: denied
    response = await webhook.review("/mutate", review_for(pod))
    assert response["allowed"] is True  # the validating endpoint refuses it
    values = {op["path"].rsplit("/", 1)[1]: op.get("value") for op in decode_patch(response)}
    stamped = str(values["exportgate.dev~1decision-id"])
    assert stamped != "forged"
    assert webhook.logged_decision(stamped)["action"] == "deny"


async def test_warned_object_is_stamped(webhook: Webhook) -> None:
    pod = gpu_pod("l4", ACME_NS, product="NVIDIA-L4")
    patch = decode_patch(await webhook.review("/mutate", review_for(pod)))
    assert DECISION_ID in patch[0]["value"]


@pytest.fixture
async def no_mutate_webhook(
    sidecar: SidecarServer, serving_cert: ServingCert
) -> AsyncIterator[Webhook]:
    config = webhook_config(serving_cert, sidecar.unix_target, mutate=False)
    hook = await start_webhook(config, serving_cert, sidecar.config.decision_log)
    try:
        yield hook
    finally:
        await stop_webhook(hook)


async def test_switched_off_mutation_admits_unchanged(no_mutate_webhook: Webhook) -> None:
    response = await no_mutate_webhook.review("/mutate", review_for(gpu_pod("h100", ACME_NS)))
    assert response == {"uid": response["uid"], "allowed": True}
    assert no_mutate_webhook.logged() == []  # not even asked


async def test_switched_off_mutation_refuses_forged_stamps(no_mutate_webhook: Webhook) -> None:
    # Nobody overwrites a stamp, so /validate must refuse one a tenant wrote.
    pod = gpu_pod("h100", ACME_NS, annotations={DECISION_ID: "forged"})
    response = await no_mutate_webhook.review("/validate", review_for(pod))
    assert response["allowed"] is False
    assert "exportgate.dev/decision-id" in response["status"]["message"]
    # ...but the platform may.
    platform = review_for(pod, user=PLATFORM_USER, groups=())
    assert (await no_mutate_webhook.review("/validate", platform))["allowed"] is True


def _dying(pod: dict[str, Any], **annotations: str) -> dict[str, Any]:
    """`pod` held by its owner's own finalizer after a delete, with these annotations."""
    dying = copy.deepcopy(pod)
    dying["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    dying["metadata"]["finalizers"] = ["example.com/hold"]
    dying["metadata"]["annotations"] = dict(annotations)
    return dying


FORGED_ID = "01a20808-e8d0-728f-9f0a-ed659f0dda57"  # another object's allow, as the red team used


@pytest.mark.parametrize("mutating", [True, False], ids=["mutate", "no-mutate"])
async def test_a_dying_object_gets_no_forged_stamp(
    webhook: Webhook, no_mutate_webhook: Webhook, mutating: bool
) -> None:
    """Red team 3, F5: a tenant's own finalizer keeps a deleted object around, and its
    metadata-only updates are not evaluated; they still may not add or alter a stamp."""
    hook = webhook if mutating else no_mutate_webhook
    old = _dying(plain_pod("infer", NIMBUS_NS))
    forged = _dying(plain_pod("infer", NIMBUS_NS), **{DECISION_ID: FORGED_ID})
    response = await hook.review("/validate", review_for(forged, operation="UPDATE", old=old))
    assert response["allowed"] is False
    assert "exportgate.dev/decision-id" in response["status"]["message"]
    # Altering one is forging too; removing one, or keeping it while the finalizer goes, is not.
    stamped = _dying(plain_pod("infer", NIMBUS_NS), **{DECISION_ID: "real"})
    altered = review_for(forged, operation="UPDATE", old=stamped)
    assert (await hook.review("/validate", altered))["allowed"] is False
    released = copy.deepcopy(stamped)
    released["metadata"]["finalizers"] = []
    for new in (old, released):
        kept = review_for(new, operation="UPDATE", old=stamped)
        assert (await hook.review("/validate", kept))["allowed"] is True
