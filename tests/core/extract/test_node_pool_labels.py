"""Karpenter NodePools: only instance-data requirements limit what a pool launches.

Regressions of red-team finding rt2 F1. A requirement on a key Karpenter does not resolve from
instance data (nvidia.com/gpu.product, exportgate.dev/accelerator-product,
cloud.google.com/gke-accelerator on AWS) and every template label are labels Karpenter PUTS ON
the nodes it launches. They narrow nothing; a tenant's pool that sets one is refused, since pods
pinned to the label would be admitted for whatever hardware the pool launches.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from exportgate.core.extract.adapters import APPLIED_LABEL
from exportgate.core.types import Action
from tests.core.builders import NOW
from tests.core.extract.fail_closed import ENGINE, decide

# The red team's manifests (/tmp/rt2/np/forge-*.yaml), each a tenant's pool whose instance
# constraints reach H100 while a product label says T4.
FORGED = {
    "forge-req-fam": """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: forge-req-fam
  labels: {exportgate.dev/tenant: dragon}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: exportgate.dev/accelerator-product, operator: In, values: [nvidia-t4]}
        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [p5]}
""",
    "forge-req-cat": """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: forge-req-cat
  labels: {exportgate.dev/tenant: dragon}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: nvidia.com/gpu.product, operator: In, values: [Tesla-T4]}
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [p]}
""",
    "forge-gke": """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: forge-gke
  labels: {exportgate.dev/tenant: dragon}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: cloud.google.com/gke-accelerator, operator: In, values: [nvidia-tesla-t4]}
        - {key: node.kubernetes.io/instance-type, operator: In, values: [p5.48xlarge]}
""",
    "forge-req": """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: forge-req
  labels: {exportgate.dev/tenant: dragon}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: nvidia.com/gpu.product, operator: In, values: [Tesla-T4]}
        - {key: karpenter.k8s.aws/instance-network-bandwidth, operator: Gt, values: ["3000000"]}
""",
    "forge-meta": """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: forge-meta
  labels: {exportgate.dev/tenant: dragon}
spec:
  template:
    metadata:
      labels:
        nvidia.com/gpu.product: Tesla-T4
        exportgate.dev/accelerator-product: nvidia-t4
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.k8s.aws/instance-network-bandwidth, operator: Gt, values: ["3000000"]}
        - {key: karpenter.k8s.aws/instance-size, operator: In, values: [48xlarge]}
""",
}

PROVISIONER = """
apiVersion: karpenter.sh/v1alpha5
kind: Provisioner
metadata:
  name: legacy
  labels: {exportgate.dev/tenant: dragon}
spec:
  labels: {nvidia.com/gpu.product: Tesla-T4}
  requirements:
    - {key: karpenter.k8s.aws/instance-family, operator: In, values: [p5]}
"""


def _load(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _tenant_pool(*requirements: dict[str, Any]) -> dict[str, Any]:
    """A tenant's NodePool (the forge-gke one) with only `requirements`."""
    pool = _load(FORGED["forge-gke"])
    pool["spec"]["template"]["spec"]["requirements"] = list(requirements)
    return pool


def _platform(text: str) -> dict[str, Any]:
    """The same pool without a tenant label: the platform's own (part of the trust base)."""
    obj = _load(text)
    del obj["metadata"]["labels"]
    return obj


@pytest.mark.parametrize("name", sorted(FORGED))
def test_a_tenant_pool_that_sets_a_product_label_is_refused(name: str) -> None:
    with pytest.raises(InputError) as raised:
        extract_workload(_load(FORGED[name]))
    assert "may not put the label" in raised.value.message
    assert raised.value.field is not None and raised.value.field.startswith("spec.template.")


def test_a_tenant_provisioner_that_sets_a_product_label_is_refused() -> None:
    with pytest.raises(InputError, match=r"nvidia\.com/gpu\.product"):
        extract_workload(_load(PROVISIONER))


@pytest.mark.parametrize("name", sorted(FORGED))
def test_applied_labels_narrow_nothing_on_a_platform_pool(name: str) -> None:
    workload, action = decide(_platform(FORGED[name]))
    [request] = workload.accelerators
    resolved = ENGINE.catalogue.resolve(request)
    assert action is Action.DENY
    # Never T4 only and never "nothing guarded": the instance constraints reach H100 (or, with
    # none the catalogue reads, anything).
    assert "nvidia-h100-sxm" in resolved.candidates
    assert any(h.key == APPLIED_LABEL for h in request.hints)


def test_not_in_on_a_product_label_sets_nothing_and_is_not_refused() -> None:
    pool = _load(FORGED["forge-req-fam"])
    requirements = pool["spec"]["template"]["spec"]["requirements"]
    requirements[0] = {
        "key": "nvidia.com/gpu.product",
        "operator": "NotIn",
        "values": ["NVIDIA-H100-80GB-HBM3"],
    }
    workload, action = decide(pool)
    assert action is Action.DENY
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == ("nvidia-h100-sxm",)


def test_instance_requirements_still_pin_a_t4_pool() -> None:
    # Over-blocking check (/tmp/rt2/np/t4.yaml): a tenant's T4 pool is admitted.
    pool = _tenant_pool(
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g4dn.xlarge"]}
    )
    workload, action = decide(pool)
    assert action is Action.ALLOW
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == ("nvidia-t4",)


def test_contradicting_instance_requirements_are_unpinned_not_unguarded() -> None:
    pool = _tenant_pool(
        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["p5"]},
        {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": ["t4"]},
    )
    workload = extract_workload(pool)
    decision = ENGINE.evaluate(workload, None, NOW)
    [resolved] = decision.accelerators
    assert not resolved.pinned
    assert "contradict" in resolved.note
    assert decision.action is Action.DENY
    assert any("contradict" in v.message for v in decision.violations)


def test_a_cpu_pool_is_still_unguarded() -> None:
    pool = _tenant_pool(
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m"]}
    )
    workload, action = decide(pool)
    assert action is Action.ALLOW
    assert ENGINE.catalogue.resolve(workload.accelerators[0]).candidates == ()
