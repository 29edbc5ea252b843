"""exportgate's Kubernetes admission webhook.

The webhook is a thin, fail-closed adapter: it reads an AdmissionReview, finds what the object
asks for with the core's extraction, decides which tenant the object belongs to, asks the policy
sidecar over gRPC, and turns the answer into an AdmissionReview response a tenant can act on.
It never decides policy itself; it only guards tenancy labels and its own annotations.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
