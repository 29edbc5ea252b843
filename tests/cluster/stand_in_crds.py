"""Schemaless stand-in CRDs for third-party kinds the cluster tests create objects of.

The real CRDs (KServe, Kubeflow, KubeRay, Karpenter, Argo) are large and their controllers do not
run here; the API server only needs the kinds to exist so that it stores the objects, sends them
to the webhook and lists them to the operator. Each stand-in keeps any field (schemaless), so a
manifest written against the real API reference is stored as written.
"""

from __future__ import annotations

from typing import Any


def stand_in_crd(
    group: str, version: str, kind: str, plural: str, scope: str = "Namespaced"
) -> dict[str, Any]:
    """A CustomResourceDefinition serving `kind` at `group/version`, keeping unknown fields."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


NODEPOOL_CRD = stand_in_crd("karpenter.sh", "v1", "NodePool", "nodepools", scope="Cluster")
INFERENCESERVICE_CRD = stand_in_crd(
    "serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices"
)
PYTORCHJOB_CRD = stand_in_crd("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs")
RAYCLUSTER_CRD = stand_in_crd("ray.io", "v1", "RayCluster", "rayclusters")
WORKFLOW_CRD = stand_in_crd("argoproj.io", "v1alpha1", "Workflow", "workflows")
