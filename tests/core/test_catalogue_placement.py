"""Placement as set semantics over nodes: what an In, a NotIn or an empty term leaves reachable.

Regressions of red-team findings (rt1 F1, F2, F7; rt2 F2, F9). Each case is the red team's
manifest, decided by the real engine for a tenant headquartered in China, so a product that a
scheduler could still reach is denied and an ordinary T4 workload is still admitted.
"""

from __future__ import annotations

from typing import Any

import pytest

from exportgate.core.catalogue import builtin_catalogue, required_values
from exportgate.core.extract import extract_workload
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.types import Action, Operator, ProductHint
from tests.core.builders import GFD, INSTANCE_TYPE, KARPENTER_CATEGORY, gpu, hint
from tests.core.extract.fail_closed import container, decide, pod_of

CATALOGUE = builtin_catalogue()


def _terms(*terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}
        }
    }


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    found: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        found["values"] = list(values)
    return found


def _gpu_pod(count: int = 8, **spec: Any) -> dict[str, Any]:
    return pod_of([container(resources={"limits": {"nvidia.com/gpu": str(count)}})], **spec)


# --- rt1 F1: an unknown instance-type name is unknown, not "no accelerator" -------------------

# Values the red team used: the instance-type labels of H100 nodes that merely have the AWS or
# GCP name shape (Crusoe Cloud's type, on-prem names).
H100_NODE_NAMES = ["h100-80gb-sxm-ib.8x", "dgx.h100", "h100-node", "gpu-node-h100"]


@pytest.mark.parametrize("name", H100_NODE_NAMES)
def test_unknown_instance_type_beside_a_t4_type_is_not_read_as_t4(name: str) -> None:
    # /tmp/rt1/F1-instance-type-union.yaml and f1-union-*.yaml
    pod = _gpu_pod(
        affinity=_terms({"matchExpressions": [_expr(INSTANCE_TYPE, "In", "g4dn.xlarge", name)]})
    )
    workload, action = decide(pod)
    assert action is Action.DENY
    assert not CATALOGUE.resolve(workload.accelerators[0]).pinned


@pytest.mark.parametrize("name", H100_NODE_NAMES)
def test_unknown_instance_type_names_nothing(name: str) -> None:
    for key in (INSTANCE_TYPE, "beta.kubernetes.io/instance-type", "nvidia.com/gpu.machine"):
        assert CATALOGUE.lookup(key, name) is None, (key, name)


def test_deployment_union_with_an_on_prem_name_is_denied() -> None:
    # /tmp/rt1/F1b-deployment-union.yaml
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "union-deploy", "namespace": "team"},
        "spec": {
            "template": {
                "spec": {
                    "affinity": _terms(
                        {
                            "matchExpressions": [
                                _expr(INSTANCE_TYPE, "In", "g4dn.xlarge", "dgx.h100")
                            ]
                        }
                    ),
                    "containers": [container(resources={"limits": {"nvidia.com/gpu": "8"}})],
                }
            }
        },
    }
    assert decide(deployment)[1] is Action.DENY


@pytest.mark.parametrize(
    "name",
    [
        "m5.large",
        "c7i-flex.xlarge",
        "x2iedn.32xlarge",
        "u-6tb1.112xlarge",
        "mac2-m2pro.metal",
        "n2-standard-8",
        "e2-medium",
        "n1-standard-8",  # GPUs attached to N1 are declared apart (gke-accelerator)
        "Standard_D4s_v5",
    ],
)
def test_documented_cpu_families_carry_no_accelerator(name: str) -> None:
    assert CATALOGUE.lookup(INSTANCE_TYPE, name) == frozenset()


def test_t4_beside_a_cpu_instance_type_stays_pinned() -> None:
    # Over-blocking check: a CPU type in the list cannot host the GPU pod.
    pod = _gpu_pod(
        1,
        affinity=_terms(
            {"matchExpressions": [_expr(INSTANCE_TYPE, "In", "g4dn.xlarge", "m5.large")]}
        ),
    )
    workload, action = decide(pod)
    assert action is Action.ALLOW
    assert CATALOGUE.resolve(workload.accelerators[0]).candidates == ("nvidia-t4",)


def test_category_we_do_not_know_is_unknown() -> None:
    # /tmp/rt2/np/cat-P.yaml: Karpenter values are lower case; "P" is not a category we know.
    assert CATALOGUE.lookup(KARPENTER_CATEGORY, "P") is None
    assert CATALOGUE.lookup(KARPENTER_CATEGORY, "c") == frozenset()
    resolved = CATALOGUE.resolve(gpu(hint(KARPENTER_CATEGORY, "P"), resource="nodepool"))
    assert CATALOGUE.unknown_id in resolved.candidates
    assert not resolved.pinned


# --- rt1 F2: NotIn alone never pins ------------------------------------------------------------

CONTROLLED_GFD = sorted(
    {
        alias
        for product in CATALOGUE.products.values()
        if product.vendor == "nvidia" and product.eccn != "outside-3A090"
        for alias in product.exact_aliases["gfd"]
    }
    | {"NVIDIA-H20"}
)


@pytest.mark.parametrize(
    "expressions",
    [
        # /tmp/rt1/f2-notin-all-controlled.yaml
        [_expr(GFD, "NotIn", *CONTROLLED_GFD)],
        # /tmp/rt1/f2b-notin-class.yaml
        [
            _expr(
                "exportgate.dev/accelerator-class",
                "NotIn",
                "3A090.a",
                "3A090.b",
                "3A090-indeterminate",
            ),
            _expr(GFD, "NotIn", "NVIDIA-H20"),
        ],
        # /tmp/rt1/f2c-notin-gke.yaml
        [
            _expr(
                "cloud.google.com/gke-accelerator",
                "NotIn",
                "nvidia-h100-80gb",
                "nvidia-h100-mega-80gb",
                "nvidia-a100-80gb",
                "nvidia-tesla-a100",
                "nvidia-l4",
                "nvidia-h200-141gb",
                "nvidia-b200",
            )
        ],
        # Exists beside the NotIn does not close the set: unlisted GFD values still match.
        [_expr(GFD, "Exists"), _expr(GFD, "NotIn", *CONTROLLED_GFD)],
    ],
    ids=["gfd", "class-and-gfd", "gke", "exists-and-notin"],
)
def test_notin_alone_pins_nothing(expressions: list[dict[str, Any]]) -> None:
    workload, action = decide(_gpu_pod(affinity=_terms({"matchExpressions": expressions})))
    assert action is Action.DENY
    assert not CATALOGUE.resolve(workload.accelerators[0]).pinned


def test_dra_selector_of_only_inequalities_pins_nothing() -> None:
    # /tmp/rt1/f2d-dra-notin.yaml (abridged to the NVML names of three controlled parts)
    names = ["NVIDIA H100 80GB HBM3", "NVIDIA H200", "NVIDIA A100-SXM4-80GB"]
    expression = " && ".join(
        f'device.attributes["gpu.nvidia.com"].productName != "{name}"' for name in names
    )
    template = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": "not-controlled", "namespace": "team"},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {
                            "name": "gpu",
                            "exactly": {
                                "deviceClassName": "gpu.nvidia.com",
                                "count": 8,
                                "selectors": [{"cel": {"expression": expression}}],
                            },
                        }
                    ]
                }
            }
        },
    }
    pod = pod_of(
        [container(resources={"claims": [{"name": "gpus"}]})],
        resourceClaims=[{"name": "gpus", "resourceClaimTemplateName": "not-controlled"}],
    )
    dra = DraObjects.from_objects([template])
    for obj in (template, pod):
        workload, action = decide(obj, dra)
        assert action is Action.DENY, obj["kind"]
        assert not CATALOGUE.resolve(workload.accelerators[0]).pinned


# --- rt2 F2: NotIn of one value does not remove a product other values still carry ---------------


def test_notin_one_instance_type_keeps_the_family_product() -> None:
    # /tmp/rt2/pod-notin.yaml: p5.4xlarge (1 x H100) is still allowed.
    expressions = [
        _expr("karpenter.k8s.aws/instance-family", "In", "p5", "g4dn"),
        _expr(INSTANCE_TYPE, "NotIn", "p5.48xlarge"),
    ]
    workload, action = decide(_gpu_pod(affinity=_terms({"matchExpressions": expressions})))
    assert action is Action.DENY
    assert "nvidia-h100-sxm" in CATALOGUE.resolve(workload.accelerators[0]).candidates


def test_notin_one_gke_value_keeps_another_spelling_of_the_product() -> None:
    # /tmp/rt2/pod-notin-gke.yaml: A3 Mega nodes (nvidia-h100-mega-80gb) satisfy both.
    key = "cloud.google.com/gke-accelerator"
    expressions = [
        _expr(key, "In", "nvidia-h100-mega-80gb", "nvidia-tesla-t4"),
        _expr(key, "NotIn", "nvidia-h100-80gb"),
    ]
    workload, action = decide(_gpu_pod(affinity=_terms({"matchExpressions": expressions})))
    assert action is Action.DENY
    assert "nvidia-h100-sxm" in CATALOGUE.resolve(workload.accelerators[0]).candidates


def test_notin_of_a_value_an_in_names_removes_that_value() -> None:
    # The sound narrowing that remains: In and NotIn on one label are set algebra on values.
    expressions = [
        _expr(INSTANCE_TYPE, "In", "g4dn.xlarge", "p5.48xlarge"),
        _expr(INSTANCE_TYPE, "NotIn", "p5.48xlarge"),
    ]
    workload, action = decide(_gpu_pod(1, affinity=_terms({"matchExpressions": expressions})))
    assert action is Action.ALLOW
    assert CATALOGUE.resolve(workload.accelerators[0]).candidates == ("nvidia-t4",)


def test_required_values() -> None:
    def h(operator: Operator, *values: str) -> ProductHint:
        return ProductHint(GFD, operator, values)

    assert required_values([h(Operator.NOT_IN, "a")]) is None
    assert required_values([h(Operator.EXISTS)]) is None
    assert required_values([h(Operator.IN, "a", "b"), h(Operator.NOT_IN, "b")]) == ("a",)
    assert required_values([h(Operator.IN, "a", "b"), h(Operator.IN, "b", "c")]) == ("b",)
    assert required_values([h(Operator.IN, "a"), h(Operator.NOT_IN, "a")]) == ()
    assert required_values([h(Operator.IN, "a"), h(Operator.DOES_NOT_EXIST)]) == ()


def test_contradicting_constraints_are_unpinned_with_a_note() -> None:
    resolved = CATALOGUE.resolve(
        gpu(hint(GFD, "Tesla-T4"), hint(GFD, "Tesla-T4", operator=Operator.NOT_IN))
    )
    assert not resolved.pinned
    assert "contradict" in resolved.note
    assert resolved.to_dict()["note"] == resolved.note
    assert "note" not in CATALOGUE.resolve(gpu(hint(GFD, "Tesla-T4"))).to_dict()


# --- rt1 F7: false denials of ordinary T4 workloads ---------------------------------------------


def test_an_empty_second_term_matches_no_node() -> None:
    # /tmp/rt1/l1-empty-term.yaml
    pod = _gpu_pod(1, affinity=_terms({"matchExpressions": [_expr(GFD, "In", "Tesla-T4")]}, {}))
    workload, action = decide(pod)
    assert action is Action.ALLOW
    assert [CATALOGUE.resolve(r).candidates for r in workload.accelerators] == [("nvidia-t4",)]


def test_a_term_of_match_fields_only_is_still_anywhere() -> None:
    pod = _gpu_pod(
        1,
        affinity=_terms(
            {"matchExpressions": [_expr(GFD, "In", "Tesla-T4")]},
            {"matchFields": [_expr("metadata.name", "In", "node-1")]},
        ),
    )
    assert decide(pod)[1] is Action.DENY


def test_only_empty_terms_constrain_nothing() -> None:
    workload = extract_workload(_gpu_pod(affinity=_terms({}, {"matchExpressions": []})))
    assert not CATALOGUE.resolve(workload.accelerators[0]).pinned


@pytest.mark.parametrize(
    ("value", "product"),
    [
        ("Tesla-T4-SHARED", "nvidia-t4"),  # /tmp/rt1/l2-shared-t4.yaml
        ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", "nvidia-a100"),
        ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb-SHARED", "nvidia-a100"),
        ("NVIDIA-H100-80GB-HBM3-MIG-1g.10gb", "nvidia-h100-sxm"),
    ],
)
def test_gfd_sharing_suffixes_resolve_to_the_base_product(value: str, product: str) -> None:
    assert CATALOGUE.lookup(GFD, value) == frozenset({product})


@pytest.mark.parametrize(
    "value", ["T4-SHARED", "tesla-t4-shared", "Tesla-T4-SHARED-X", "H100-MIG-1g.10gb", "-SHARED"]
)
def test_gfd_suffix_on_a_value_that_is_not_exact_stays_unknown(value: str) -> None:
    assert CATALOGUE.lookup(GFD, value) is None


def test_shared_t4_pod_is_admitted_and_shared_unknown_beside_t4_is_not() -> None:
    assert decide(_gpu_pod(1, nodeSelector={GFD: "Tesla-T4-SHARED"}))[1] is Action.ALLOW
    mixed = _terms({"matchExpressions": [_expr(GFD, "In", "Tesla-T4", "H100-SHARED")]})
    assert decide(_gpu_pod(1, affinity=mixed))[1] is Action.DENY


def test_an_unidentified_value_is_named_in_the_note() -> None:
    resolved = CATALOGUE.resolve(gpu(hint(INSTANCE_TYPE, "g4dn.xlarge", "dgx.h100")))
    assert not resolved.pinned
    assert "node.kubernetes.io/instance-type=dgx.h100" in resolved.note


def test_an_unidentified_value_beside_a_cpu_category_still_guards_the_pod() -> None:
    resolved = CATALOGUE.resolve(
        gpu(hint(INSTANCE_TYPE, "dgx.h100"), hint(KARPENTER_CATEGORY, "c"))
    )
    assert resolved.candidates and not resolved.pinned


# --- the indeterminate class on nodes the operator cannot identify ------------------------------

CLASS_LABEL = "exportgate.dev/accelerator-class"


def test_the_indeterminate_class_label_could_be_anything() -> None:
    """The operator labels a node whose instance type it cannot identify (dgx.h100) with the
    indeterminate class, so a pod pinned to that class may land on any accelerator."""
    assert CATALOGUE.lookup(CLASS_LABEL, CATALOGUE.indeterminate_classification) is None
    resolved = CATALOGUE.resolve(gpu(hint(CLASS_LABEL, "3A090-indeterminate")))
    assert not resolved.pinned
    assert f"{CLASS_LABEL}=3A090-indeterminate" in resolved.note
    assert decide(_gpu_pod(1, nodeSelector={CLASS_LABEL: "3A090-indeterminate"}))[1] is Action.DENY
    # An In list that also names it is "could be anything" as a whole.
    either = _terms(
        {"matchExpressions": [_expr(CLASS_LABEL, "In", "outside-3A090", "3A090-indeterminate")]}
    )
    assert decide(_gpu_pod(1, affinity=either))[1] is Action.DENY


def test_the_other_class_labels_still_pin() -> None:
    """The classes the operator writes for identified products keep naming those products."""
    resolved = CATALOGUE.resolve(gpu(hint(CLASS_LABEL, "outside-3A090")))
    assert resolved.pinned and "nvidia-t4" in resolved.candidates
    assert "nvidia-h100-sxm" not in resolved.candidates
    assert CATALOGUE.resolve(gpu(hint(CLASS_LABEL, "3A090.a"))).pinned
