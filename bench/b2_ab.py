"""A/B of exportgate against itself, through the real API server, in B2's paired design.

    python -m bench.b2_ab --variant base --variant 'shm=tmpfs' \\
        --variant 'stdlib-loop=env:EXPORTGATE_EVENT_LOOP=asyncio' --clients 1,8 --creates 1500

Each variant is exportgate's default shape (the policy service embedded in the webhook) in a
process of its own, changed by what its spec says (`;`-separated):

* `env:NAME=VALUE`  an environment variable of the webhook process;
* `arg:--flag`      an extra command-line argument (repeatable);
* `pythonpath:DIR`  a tree put first on the webhook's PYTHONPATH (another checkout's `exportgate`
                    and `exportgate_webhook`, say), so two builds run side by side;
* `tmpfs`           the decision log on /dev/shm (an experiment only: it is not durable).

All variants, `none` and (with `--peer`) a peer are switched on at once and every client takes
them in a fresh random order each round (bench/b2_paired.py), so a difference between two
variants is theirs, not the machine's minute. Printed per point: each variant's p50/p99 with
the p99's interval and its webhook CPU per CREATE, then each variant against the first with
bootstrap intervals of the p50 and p99 differences. An interval that holds 0 is no difference
this run can show.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import b2_paired, b2_systems
from bench.b2_measure import Samples
from bench.harness import Stack, WebhookOptions
from bench.peers import build as peer_build
from bench.peers import cases, gatekeeper, kyverno, routing
from bench.peers.cases import NAMESPACE_TENANTS
from bench.peers.system import System, url_webhook
from bench.stats import bootstrap_interval
from tests.cluster import build
from tests.cluster.local_cluster import LocalCluster

PEERS = {"gatekeeper": gatekeeper.running, "kyverno": kyverno.running}


@dataclass(frozen=True)
class Variant:
    """One exportgate process of the A/B, as its spec asks."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    tmpfs: bool = False


#: Where a checkout keeps its packages besides the top level (pyproject.toml's package `where`).
PACKAGE_ROOTS = ("sidecar", "webhook", "operator")


def tree_path(tree: Path) -> str:
    """The PYTHONPATH that runs `tree`'s packages: its top level and each package root in it.
    The top level alone would mix builds, since this checkout's editable install still
    supplies `exportgate_webhook` (it lives under webhook/, not at the top)."""
    root = tree.resolve()
    entries = [root, *(root / sub for sub in PACKAGE_ROOTS if (root / sub).is_dir())]
    return os.pathsep.join(map(str, entries))


def parse_variant(text: str) -> Variant:
    """`name` or `name=spec`, spec being `;`-separated `env:K=V`, `arg:X`, `pythonpath:DIR`,
    `tmpfs`. Raises ValueError naming what it could not read."""
    name, _, spec = text.partition("=")
    if not name or not all(c.isalnum() or c == "-" for c in name) or not name[0].isalpha():
        raise ValueError(f"variant name {name!r}: letters, digits and '-', starting with a letter")
    env: dict[str, str] = {}
    args: list[str] = []
    tmpfs = False
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        kind, _, value = part.partition(":")
        if kind == "env" and "=" in value:
            key, _, val = value.partition("=")
            env[key] = val
        elif kind == "arg" and value:
            args.append(value)
        elif kind == "pythonpath" and value:
            env["PYTHONPATH"] = tree_path(Path(value))
        elif part == "tmpfs":
            tmpfs = True
        else:
            raise ValueError(
                f"variant {name}: cannot read {part!r} (env:NAME=VALUE, arg:X, pythonpath:DIR, "
                "tmpfs)"
            )
    return Variant(name, env, tuple(args), tmpfs)


@contextlib.contextmanager
def _variants(
    workdir: Path, variants: Sequence[Variant], names: Sequence[str]
) -> Iterator[list[System]]:
    tenants = {**NAMESPACE_TENANTS, **routing.tenants(names)}
    with contextlib.ExitStack() as stack:
        systems = []
        for v in variants:
            if v.tmpfs:
                where = Path(tempfile.mkdtemp(prefix="exportgate-ab-", dir="/dev/shm"))
                stack.callback(shutil.rmtree, where, True)
            else:
                where = workdir / v.name
            options = WebhookOptions(namespace_tenants=dict(tenants), extra=v.args, env=v.env)
            s = stack.enter_context(Stack(where, webhook=options, embedded=True))
            url = s.url + "/validate"
            systems.append(url_webhook(v.name, url, s.tls.ca_pem, denies=True, pids=s.pids))
        yield systems


def compare(samples: dict[str, Samples], names: Sequence[str]) -> list[dict[str, Any]]:
    """Each of `names` after the first against the first: p50 and p99 differences (ms) with
    their 95% bootstrap intervals."""
    base = samples[names[0]].latencies_ms
    out = []
    for name in names[1:]:
        mine = samples[name].latencies_ms
        row: dict[str, Any] = {"variant": name, "against": names[0]}
        for q in (50, 99):
            low, high = bootstrap_interval(mine, base, q, lambda a, b: a - b)
            row[f"p{q}_difference_ci_ms"] = [round(low, 2), round(high, 2)]
        out.append(row)
    return out


def run(
    workdir: Path,
    variants: Sequence[Variant],
    *,
    clients: Sequence[int],
    creates: int,
    warmup: int = 20,
    peer: str | None = None,
) -> dict[str, Any]:
    names = [v.name for v in variants] + ["none"] + ([peer] if peer else [])
    results: dict[str, Any] = {"variants": [v.__dict__ for v in variants], "points": []}
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(
            LocalCluster(workdir / "cluster", build.find_binaries(), etcd_in_memory=True)
        )
        cases.create_namespaces(cluster)
        systems = stack.enter_context(_variants(workdir, variants, names))
        systems.append(b2_systems.none())
        if peer:
            systems.append(stack.enter_context(PEERS[peer](cluster, workdir / peer))[0])
        with b2_paired.switched_on(cluster, systems):
            for seed, concurrency in enumerate(clients):
                samples, shared = b2_paired.point(
                    cluster, systems, concurrency, creates, warmup, seed
                )
                point = {
                    **shared,
                    "rows": {n: samples[n].figures() for n in names},
                    "against_first": compare(samples, names),
                }
                results["points"].append(point)
                print(render_point(point, names), flush=True)
    return results


def render_point(point: dict[str, Any], names: Sequence[str]) -> str:
    lines = [f"--- {point['concurrency']} client(s), {point['creates_per_s']} CREATEs/s in all"]
    for name in names:
        f = point["rows"][name]
        ci = f.get("p99_ci_ms") or ["-", "-"]
        lines.append(
            f"{name:20s} p50 {f['p50_ms']:7.2f}  p99 {f['p99_ms']:8.2f} ({ci[0]}-{ci[1]})  "
            f"CPU/CREATE {f.get('webhook_cpu_ms_per_create', '-')}  failures {f['failures']}"
        )
    for row in point["against_first"]:
        p50, p99 = row["p50_difference_ci_ms"], row["p99_difference_ci_ms"]
        lines.append(
            f"  {row['variant']} - {row['against']}: p50 {p50[0]:+} to {p50[1]:+} ms, "
            f"p99 {p99[0]:+} to {p99[1]:+} ms (95%)"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.b2_ab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--variant", action="append", required=True, help="name[=spec]")
    parser.add_argument("--clients", default="1", help="client threads per point, e.g. 1,8")
    parser.add_argument("--creates", type=int, default=1500, help="CREATEs per system and point")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up CREATEs per system")
    parser.add_argument("--peer", choices=sorted(PEERS), help="also measure this peer beside")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        variants = [parse_variant(v) for v in args.variant]
        clients = [int(c) for c in args.clients.split(",") if c]
    except ValueError as exc:
        parser.error(str(exc))
    if len({v.name for v in variants}) != len(variants):
        parser.error("variant names must differ")
    if {"none", *PEERS} & {v.name for v in variants}:
        parser.error("a variant may not be called none, gatekeeper or kyverno")
    if build.missing_binaries(("etcd", "kube-apiserver", "kubectl")):
        print("Kubernetes binaries not built: python -m tests.cluster build", file=sys.stderr)
        return 2
    if args.peer and args.peer in peer_build.missing():
        print(f"{args.peer} is not built: make bench-peers", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="exportgate-ab-") as tmp:
        results = run(
            Path(tmp),
            variants,
            clients=clients,
            creates=args.creates,
            warmup=args.warmup,
            peer=args.peer,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
