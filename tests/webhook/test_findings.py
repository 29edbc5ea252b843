"""The webhook's memo of pod-spec findings: every object is extracted exactly as without it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from exportgate_webhook.findings import SpecMemo, remembering
from exportgate_webhook.review import parse_review

from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry
from exportgate.core.extract.dra_refs import DraObjects
from tests.core.extract.fail_closed import claim_template, device_class
from tests.core.extract.test_podspec import COUNTS, MALFORMED

REGISTRY = AdapterRegistry.builtin()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workloads.yaml"
GFD = "nvidia.com/gpu.product"


def _pod(spec: Any, name: str = "p", namespace: str = "team", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def _annotated(spec: Any, annotations: Any, name: str = "p") -> dict[str, Any]:
    pod = _pod(spec, name)
    pod["metadata"]["annotations"] = annotations
    return pod


def _plain_spec() -> dict[str, Any]:
    return {"containers": [{"name": "c", "image": "registry.example.com/app:1"}]}


def _gpu_spec(product: str = "NVIDIA-H100-80GB-HBM3", gpus: Any = "1") -> dict[str, Any]:
    """A Pod spec as the API server sends it (defaults filled in)."""
    return {
        "containers": [
            {
                "name": "trainer",
                "image": "registry.example.com/trainer:1.0",
                "args": ["--model", "meta-llama/Llama-3.1-8B"],
                "env": [{"name": "HF_MODEL_ID", "value": "mistralai/Mistral-7B-v0.1"}],
                "resources": {"limits": {"nvidia.com/gpu": gpus}, "requests": {"cpu": "2"}},
                "terminationMessagePath": "/dev/termination-log",
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": "Always",
        "nodeSelector": {GFD: product},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                    ]
                }
            }
        },
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "tolerationSeconds": 300}],
    }


def _corpus() -> list[tuple[str, dict[str, Any]]]:
    objects: list[tuple[str, dict[str, Any]]] = [
        ("api-server-pod", _pod(_gpu_spec())),
        ("t4-pod", _pod(_gpu_spec("Tesla-T4", 2))),
        ("unpinned", _pod({"containers": [{"name": "c", "resources": {"limits": GPU}}]})),
        ("no-spec", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        ("spec-not-a-map", _pod(["containers"])),
        (
            "device-access",
            _pod({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}),
        ),
        ("plain", _pod({"containers": [{"name": "c", "image": "nginx"}]})),
        ("gpu-fraction", _annotated(_plain_spec(), {"gpu-fraction": "0.5"})),
        ("cdi", _annotated(_plain_spec(), {"cdi.k8s.io/gpu": "nvidia.com/gpu=all"})),
        ("unrelated-annotation", _annotated(_plain_spec(), {"app": "x"})),
        ("annotations-not-a-map", _annotated(_plain_spec(), ["gpu-fraction"])),
    ]
    objects += [(f"count-{c[0]}", _pod({"containers": [{"resources": c[1]}]})) for c in COUNTS]
    objects += [(f"malformed-{m[0]}", _pod(m[1])) for m in MALFORMED]
    for n, doc in enumerate(yaml.safe_load_all(EXAMPLES.read_text())):
        if doc:
            objects.append((f"example-{n}-{doc.get('kind')}", doc))
    # As the webhook receives them: parsed from JSON text (no tuples, no int keys).
    return [(case, json.loads(json.dumps(obj, default=str))) for case, obj in objects]


GPU = {"nvidia.com/gpu": 1}
CORPUS = _corpus()


def _outcome(extract: Any, obj: dict[str, Any], dra: DraObjects | None = None) -> Any:
    try:
        return extract(copy.deepcopy(obj), dra)
    except InputError as exc:
        return ("refused", exc.describe())


@pytest.mark.parametrize("obj", [c[1] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_every_object_is_extracted_as_without_the_memo(obj: dict[str, Any]) -> None:
    extract = remembering(REGISTRY)
    fresh = _outcome(REGISTRY.extract, obj)
    assert _outcome(extract, obj) == fresh  # first sight: read
    assert _outcome(extract, obj) == fresh  # again: remembered (or read again)


def test_the_same_spec_under_another_name_namespace_and_labels() -> None:
    memo = SpecMemo()
    first, second = _pod(_gpu_spec(), "a", "team-a"), _pod(_gpu_spec(), "b", "team-b", app="x")
    second["metadata"]["labels"]["exportgate.dev/tenant"] = "acme"
    assert REGISTRY.extract(first, memo=memo) == REGISTRY.extract(first)
    assert len(memo) == 1
    remembered = REGISTRY.extract(second, memo=memo)
    assert len(memo) == 1  # one spec, read once
    assert remembered == REGISTRY.extract(second)
    assert remembered.ref.name == "b" and remembered.tenant_label == "acme"


def test_a_changed_spec_is_read_again() -> None:
    memo = SpecMemo()
    h100 = REGISTRY.extract(_pod(_gpu_spec()), memo=memo)
    t4 = REGISTRY.extract(_pod(_gpu_spec("Tesla-T4")), memo=memo)
    more = REGISTRY.extract(_pod(_gpu_spec(gpus="2")), memo=memo)
    assert len(memo) == 3
    assert h100.accelerators != t4.accelerators != more.accelerators
    assert more.accelerators[0].count == 2


def test_one_spec_with_different_device_annotations_is_never_one_answer() -> None:
    # The memo keyed on the spec alone would hand the first pod's findings to the next pod
    # with the same spec: a KAI gpu-fraction or CDI pod after a plain one would pass unseen.
    memo = SpecMemo()
    plain = _annotated(_plain_spec(), {"app": "x"}, "a")
    fraction = _annotated(_plain_spec(), {"gpu-fraction": "0.5"}, "b")
    memory = _annotated(_plain_spec(), {"gpu-memory": "2000"}, "c")
    cdi = _annotated(_plain_spec(), {"cdi.k8s.io/gpu": "nvidia.com/gpu=all"}, "d")
    other_cdi = _annotated(_plain_spec(), {"cdi.k8s.io/gpu": "example.com/fpga=0"}, "e")
    pods = [plain, fraction, memory, cdi, other_cdi]
    for _ in range(2):  # in this order, then again from the memo
        for pod in pods:
            assert REGISTRY.extract(pod, memo=memo) == REGISTRY.extract(pod)
    assert REGISTRY.extract(plain, memo=memo).accelerators == ()
    assert REGISTRY.extract(fraction, memo=memo).accelerators != ()
    assert len(memo) == 5  # one entry per distinct (spec, device annotations)
    # Annotations that hand out nothing do not split the memo: the same answer as no annotation.
    REGISTRY.extract(_annotated(_plain_spec(), {"team": "ml"}), memo=memo)
    REGISTRY.extract(_pod(_plain_spec()), memo=memo)
    assert len(memo) == 5


def test_pods_naming_dra_claims_are_read_with_the_dra_objects_every_time() -> None:
    memo = SpecMemo()
    spec = {
        "containers": [{"name": "c", "resources": {"claims": [{"name": "gpu"}]}}],
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "h100"}],
    }
    pod = _pod(spec)
    unknown = REGISTRY.extract(pod, memo=memo)
    known = DraObjects.from_objects(
        [device_class("h100-class", "true"), claim_template("h100", "h100-class")]
    )
    read = REGISTRY.extract(pod, known, memo=memo)
    assert len(memo) == 0
    assert read == REGISTRY.extract(pod, known)
    assert unknown == REGISTRY.extract(pod)
    assert read != unknown


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), None, 2**70],
    ids=["nan", "infinity", "null", "past-64-bits"],
)
def test_specs_whose_text_is_ambiguous_are_never_remembered(value: object) -> None:
    memo = SpecMemo()
    spec = {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": value}}}]}
    for _ in range(2):
        assert _outcome(lambda o, d: REGISTRY.extract(o, d, memo=memo), _pod(spec)) == _outcome(
            REGISTRY.extract, _pod(spec)
        )
    assert len(memo) == 0


def test_refusals_are_not_remembered() -> None:
    memo = SpecMemo()
    pod = _pod({"containers": [{"resources": {"limits": {"nvidia.com/gpu": "lots"}}}]})
    for _ in range(2):
        with pytest.raises(InputError, match="not a device count"):
            REGISTRY.extract(pod, memo=memo)
    assert len(memo) == 0


def test_the_memo_is_bounded_in_entries_and_spec_size() -> None:
    memo = SpecMemo(entries=3, max_spec_bytes=2048)
    for n in range(5):
        REGISTRY.extract(_pod(_gpu_spec(f"product-{n}")), memo=memo)
    assert len(memo) == 3
    big = _gpu_spec()
    big["containers"][0]["args"] = ["--flag"] * 600
    assert REGISTRY.extract(_pod(big), memo=memo) == REGISTRY.extract(_pod(big))
    assert len(memo) == 3


def test_only_spec_only_adapters_consult_the_memo() -> None:
    assert REGISTRY.adapter_for("v1", "Pod").reads_spec_only  # type: ignore[union-attr]
    deployment = REGISTRY.adapter_for("apps/v1", "Deployment")
    assert deployment is not None and not deployment.reads_spec_only
    memo = SpecMemo()
    template = {"template": {"spec": _gpu_spec()}}
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": template,
    }
    assert REGISTRY.extract(obj, memo=memo) == REGISTRY.extract(obj)
    assert len(memo) == 0


FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.mark.parametrize("name", ["apiserver-pod-review.json", "apiserver-gpu-pod-review.json"])
def test_reviews_as_the_api_server_sends_them(name: str) -> None:
    """Captured from kube-apiserver (managedFields, defaults); re-created under new names, as a
    ReplicaSet does, every Pod after the first is answered from the memo, unchanged."""
    body = (FIXTURES / name).read_bytes()
    extract = remembering(REGISTRY)
    for n in range(3):
        obj = parse_review(body)["object"]
        assert obj is not None
        obj["metadata"]["name"] = f"replica-{n}"
        assert extract(obj) == REGISTRY.extract(obj)
        assert extract(obj).ref.name == f"replica-{n}"
    assert REGISTRY.extract(obj).guarded
