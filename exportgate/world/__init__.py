"""The world decisions are made in: tenants and policies turned into one immutable snapshot.

Shared by the sidecar (which serves admission from it) and the operator (which re-audits and
writes statuses from it), so both apply the same rules:

- `snapshot`: `Snapshot` (engine + tenants + the instants its decisions change at) and the
  `SnapshotStore` holding the current one;
- `assembly`: the one place tenants and policies become a snapshot (`Assembly`,
  `build_engine`);
- `loader`: `SnapshotLoader`, the async front of `Assembly` the sidecar's sources feed;
- `lastgood`: the one rule for what is served when an input cannot be used;
- `clock`: the one rule for when a tenant's standing changes by itself.

It may use the rest of `exportgate` but no program (sidecar, webhook, operator, CLI) and no
Kubernetes, gRPC or HTTP client: sources that talk to an API live with the programs.
"""
