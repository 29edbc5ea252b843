"""The policy service: decide, log every decision durably, then answer.

It holds the current tenants and policies (from files or the Kubernetes API) as one immutable
snapshot, decides batches of questions with the core engine (through a cache), writes every
decision to the hash-chained decision log, and only then answers. Two programs host it, with
the same code and the same decision log format:

- `exportgate-sidecar` serves it over gRPC on a Unix socket (`exportgate_sidecar`);
- `exportgate-webhook --sidecar embedded` runs it in the webhook's own process and asks it
  directly (`exportgate.service.local`), which saves the socket hop on every review.

Modules: `config` (settings), `arguments` (the flags both programs share), `host` (lifecycle:
log, sources, snapshot, health), `evaluate` (the service), `local` (the in-process client),
`cache`, `recent` (decision reuse between admission phases), `journal` (the log, as the service
uses it), `health`, `metrics`, `sources` (files, Kubernetes).
"""
