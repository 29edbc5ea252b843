"""What a Pod contributes to compute accounting, from the Pod alone (no API server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from exportgate_operator.accounting.owners import Owner
from exportgate_operator.accounting.pods import pod_facts, request_of, span_of, usage_of

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.extract import AdapterRegistry
from tests.operator import accounting_builders as b

T0 = datetime(2026, 11, 2, tzinfo=UTC)
LATER = datetime(2026, 11, 2, 1, tzinfo=UTC)


def pod(status: dict[str, object], gpus: int = 2) -> dict[str, object]:
    body = b.bound_pod("p", "node-1", gpus)
    body["metadata"] = {"name": "p", "namespace": "ns", "uid": "u1"}
    body["status"] = status
    return body


def test_running_and_finished_spans() -> None:
    assert span_of(pod(b.running_status(T0))) == (T0, None)
    assert span_of(pod(b.finished_status(T0, LATER))) == (T0, LATER)
    # Finished without container times: the Ready condition's transition.
    status = b.finished_status(T0, LATER)
    status["containerStatuses"] = []
    assert span_of(pod(status)) == (T0, LATER)
    assert span_of(pod({"phase": "Pending"})) == (None, None)


def test_request_counts_and_unbound_or_unstarted_pods_are_skipped() -> None:
    catalogue = builtin_catalogue()
    registry = AdapterRegistry.builtin()
    running = pod(b.running_status(T0), gpus=4)
    request = request_of(running, registry, catalogue)
    assert request.count == 4 and "nvidia-h100-sxm" in request.candidates
    assert pod_facts(running, request) is not None
    unbound = pod(b.running_status(T0))
    unbound["spec"] = {**unbound["spec"], "nodeName": None}  # type: ignore[dict-item]
    assert pod_facts(unbound, request) is None
    assert pod_facts(pod({"phase": "Pending"}), request) is None
    cpu_only = pod(b.running_status(T0), gpus=0)
    assert request_of(cpu_only, registry, catalogue).count == 0


def test_product_from_the_node_else_the_most_restrictive() -> None:
    catalogue = builtin_catalogue()
    running = pod(b.running_status(T0))
    facts = pod_facts(running, request_of(running, AdapterRegistry.builtin(), catalogue))
    assert facts is not None
    usage = usage_of(facts, {"nvidia.com/gpu.product": b.NODES["a100"]}, catalogue)
    assert (usage.product, usage.identified, usage.count) == ("nvidia-a100", True, 2)
    for labels in (None, {}, {"nvidia.com/gpu.product": "Mystery-GPU-9000"}):
        guessed = usage_of(facts, labels, catalogue)
        assert not guessed.identified and guessed.classification == "3A090.a"


def test_record_names_are_stable_and_valid() -> None:
    owner = Owner("batch/v1", "Job", "Pre_Train.v2", "uid-1", "ns")
    assert owner.record_name == Owner("batch/v1", "Job", "Pre_Train.v2", "uid-1", "x").record_name
    assert owner.record_name.startswith("job-pre-train-v2-")
    assert owner.record_name != Owner("batch/v1", "Job", "Pre_Train.v2", "uid-2", "ns").record_name
