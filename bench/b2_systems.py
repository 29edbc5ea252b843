"""B2's systems other than the peers: no admission, the in-process CEL policy, the no-op TLS
webhook (one phase and two) and exportgate (its default validating webhook, and with the opt-in
mutating stamp: two phases), each as a `System` that B2 switches on and off in turn.

The CEL policy is a ValidatingAdmissionPolicy doing a comparable check in-process: a Pod in a
namespace bound to a restricted tenant may not ask for nvidia.com/gpu with a controlled product
pinned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.harness import Stack, WebhookOptions
from bench.peers import routing
from bench.peers.cases import NAMESPACE_TENANTS
from bench.peers.system import System, applied, nothing, url_webhook

_CEL_POLICY = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "bench-gpu-jurisdiction"},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["pods"],
                }
            ]
        },
        "variables": [
            {
                "name": "gpus",
                "expression": "object.spec.containers.exists(c, has(c.resources.limits) && "
                "'nvidia.com/gpu' in c.resources.limits)",
            },
            {
                "name": "product",
                "expression": "has(object.spec.nodeSelector) && "
                "'nvidia.com/gpu.product' in object.spec.nodeSelector ? "
                "object.spec.nodeSelector['nvidia.com/gpu.product'] : ''",
            },
            {
                "name": "tenant",
                "expression": "has(namespaceObject.metadata.labels) && "
                "'exportgate.dev/tenant' in namespaceObject.metadata.labels ? "
                "namespaceObject.metadata.labels['exportgate.dev/tenant'] : ''",
            },
        ],
        "validations": [
            {
                "expression": "!variables.gpus || !(variables.tenant in ['nimbus']) || "
                "!(variables.product in ['NVIDIA-H100-80GB-HBM3', 'NVIDIA-H100-PCIe', "
                "'NVIDIA-A100-SXM4-80GB', 'NVIDIA-H200'])",
                "message": "controlled accelerator for a restricted tenant",
            }
        ],
    },
}
_CEL_BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": "bench-gpu-jurisdiction"},
    "spec": {"policyName": "bench-gpu-jurisdiction", "validationActions": ["Deny"]},
}


def none() -> System:
    return System("none", nothing, nothing, False, {}, "no admission webhook or policy for Pods")


def cel() -> System:
    binding = routing.with_selector(_CEL_BINDING, "cel")
    return applied(
        "cel", [_CEL_POLICY, binding], label="ValidatingAdmissionPolicy (CEL, in-process)"
    )


@contextlib.contextmanager
def noop(workdir: Path) -> Iterator[tuple[System, System]]:
    """The no-op TLS webhook of B1: validating only, and validating + mutating."""
    from bench.b1_webhook import _noop as start_noop

    proc, target = start_noop(workdir / "b2-noop")
    try:
        ca = target.ca.read_bytes()
        pids = {"noop": proc.pid}
        yield (
            url_webhook(
                "noop-validating",
                target.url + "/validate",
                ca,
                denies=False,
                pids=pids,
                label="no-op TLS webhook, validating (the floor of one phase)",
            ),
            url_webhook(
                "noop-webhook",
                target.url + "/validate",
                ca,
                denies=False,
                pids=pids,
                mutating_url=target.url + "/mutate",
                label="no-op TLS webhook, mutating + validating (the floor of two phases)",
            ),
        )
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def exportgate(
    workdir: Path, paired: Sequence[str] = ()
) -> Iterator[tuple[System, System, System, System]]:
    """exportgate as the chart installs it by default (the policy service embedded in the
    webhook, validating only), with the opt-in mutating stamp (two phases), in the sidecar
    shape (webhook + sidecar over the Unix socket, validating only), and the default with the
    opt-in HTTP/2 (``--http2``: what it gains or costs, in the same run). Each row has
    processes of its own, configured as the chart configures that shape (decision reuse only
    with the stamp)."""
    # The tenants of B2's namespaces, and of the paired design's namespaces of `paired`.
    tenants = {**NAMESPACE_TENANTS, **routing.tenants(paired)}
    one_phase = WebhookOptions(namespace_tenants=dict(tenants))
    two_phases = WebhookOptions(namespace_tenants=dict(tenants), mutate=True)
    http2 = WebhookOptions(namespace_tenants=dict(tenants), extra=("--http2",))
    with (
        Stack(workdir / "embedded", webhook=one_phase, embedded=True) as default,
        Stack(workdir / "stamp", webhook=two_phases, embedded=True) as stamp,
        Stack(workdir / "sidecar", webhook=one_phase) as sidecar,
        Stack(workdir / "http2", webhook=http2, embedded=True) as with_http2,
    ):
        yield (
            _row(
                "exportgate",
                default,
                "exportgate, policy service embedded in the webhook, validating (the chart's "
                "default)",
            ),
            _row(
                "exportgate-stamp",
                stamp,
                "exportgate with the opt-in mutating stamp (two phases)",
            ),
            _row(
                "exportgate-sidecar",
                sidecar,
                "exportgate in the sidecar shape: webhook + policy sidecar over a Unix socket, "
                "validating",
            ),
            _row(
                "exportgate-http2",
                with_http2,
                "exportgate's default with the opt-in HTTP/2 (--http2)",
            ),
        )


def _row(name: str, stack: Stack, label: str) -> System:
    """One exportgate row: `stack`'s webhook, registered by URL with its CA (and as a mutating
    webhook too when the stack serves the stamp); it denies the benchmark's restricted cases."""
    return url_webhook(
        name,
        stack.url + "/validate",
        stack.tls.ca_pem,
        denies=True,
        pids=stack.pids,
        mutating_url=stack.url + "/mutate" if stack.webhook_options.mutate else None,
        label=label,
    )
