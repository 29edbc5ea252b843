"""The exportgate operator (kopf).

It keeps what the decision core concludes visible in the cluster: Tenant, ExportPolicy and
ModelEndpoint statuses, a timer per tenant that flips the status when a verification expires,
re-audits of running workloads when a tenant or a policy changes (annotations, Events and
wg-policy reports; it never deletes a workload) and the accelerator export class on GPU nodes.

`operator/` is a source root, not a package: this package is `exportgate_operator`.
"""
