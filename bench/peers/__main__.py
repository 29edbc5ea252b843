"""`python -m bench.peers build`: build (or reuse) Gatekeeper and Kyverno (`make bench-peers`).
`python -m bench.peers run [--creates N]`: the peer comparison alone, quickly: B2 restricted to
none, the no-op webhook, exportgate and the peers (equivalence first), printed as B2's tables.
Nothing is written to bench/RESULTS.md; `python -m bench --only b2` measures the full set.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench import b2_apiserver, report_b2
from bench.peers import build

QUICK = tuple(n for n in b2_apiserver.ALL if n not in ("cel", "noop-webhook", "exportgate-stamp"))


def _run(args: argparse.Namespace) -> int:
    missing = build.missing()
    if missing:
        print(f"{', '.join(missing)}: {b2_apiserver.PEERS_NOT_BUILT}", file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="exportgate-peers-"))
    concurrencies = [int(c) for c in args.sweep.split(",") if c.strip()]
    results = b2_apiserver.run(
        workdir,
        creates=args.creates,
        warmup=args.warmup,
        rounds=args.rounds,
        concurrencies=concurrencies,
        sweep_creates=args.sweep_creates,
        only=args.only.split(",") if args.only else QUICK,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(report_b2.section(results))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build Gatekeeper and Kyverno into the binary cache")
    run = sub.add_parser("run", help="measure the peers against exportgate through the API server")
    run.add_argument("--creates", type=int, default=100, help="Pod CREATEs per system")
    run.add_argument("--warmup", type=int, default=10, help="warm-up CREATEs per slice")
    run.add_argument(
        "--rounds", type=int, default=2, help="interleaved slices per system (the table)"
    )
    run.add_argument("--sweep", default="1,8,32", help="client threads per sweep point ('' = none)")
    run.add_argument(
        "--sweep-creates", type=int, default=None, help="CREATEs per system per sweep point"
    )
    run.add_argument(
        "--only",
        default="",
        help=f"systems, comma-separated, of {','.join(b2_apiserver.ALL)} "
        f"(default {','.join(QUICK)})",
    )
    run.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    if args.command == "build":
        return build.main()
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
