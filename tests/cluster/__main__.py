"""Command line: ``python -m tests.cluster {build,up,where}``.

* ``build``  build (or reuse) kube-apiserver, kubectl, etcd and helm; print paths.
* ``up``     start etcd + kube-apiserver, print the kubeconfig, run until
             Ctrl-C / SIGTERM, then tear everything down.
* ``where``  print the binaries that are available now, without building.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from tests.cluster import build


def _cmd_build(_: argparse.Namespace) -> int:
    try:
        build.ensure_binaries(log=True)
    except build.BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_where(_: argparse.Namespace) -> int:
    found = build.find_binaries()
    for name in build.BINARIES:
        print(f"{name:15} {found.get(name, '(missing: run python -m tests.cluster build)')}")
    return 0 if len(found) == len(build.BINARIES) else 1


def _cmd_up(args: argparse.Namespace) -> int:
    from tests.cluster.local_cluster import ClusterError, LocalCluster

    if not args.no_build:
        try:
            build.ensure_binaries(log=True)
        except build.BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        with LocalCluster(workdir=args.workdir) as cluster:
            print(f"kube-apiserver {cluster.server} ready in {cluster.start_seconds:.1f}s")
            print(f"kubeconfig: {cluster.kubeconfig}")
            print(f"export KUBECONFIG={cluster.kubeconfig}")
            print("Ctrl-C or SIGTERM stops the cluster.", flush=True)
            while not stop.wait(1.0):
                cluster.check_alive()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("cluster stopped.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build or reuse the binaries").set_defaults(func=_cmd_build)
    sub.add_parser("where", help="show available binaries").set_defaults(func=_cmd_where)
    up = sub.add_parser("up", help="run a local control plane until interrupted")
    up.add_argument("--no-build", action="store_true", help="fail instead of building")
    up.add_argument("--workdir", help="keep certs/kubeconfig/logs here (default: a temp dir)")
    up.set_defaults(func=_cmd_up)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
