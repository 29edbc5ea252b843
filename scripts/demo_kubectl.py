"""Tools the demo's story tells itself with: who runs kubectl, running it for real, and the
checks each step records in the scorecard."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts import demo_objects as objects
from scripts.demo_stack import Stack
from scripts.demo_ui import Console, Scorecard
from tests.cluster.local_cluster import LocalCluster

REPO = objects.REPO
EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class Identity:
    """Someone who runs kubectl: a tenant developer or a platform engineer."""

    user: str
    groups: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.user} (group {', '.join(self.groups)})"


PLATFORM = Identity("pat@provider.example", (objects.PLATFORM_GROUP,))


def tenant_identity(tenant: str) -> Identity:
    return Identity(f"dev@{tenant}.example", (f"tenant:{tenant}",))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def find(docs: Sequence[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    raise KeyError(f"{kind}/{name} is not in examples/workloads.yaml")


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Narrator:
    def __init__(self, stack: Stack, console: Console, score: Scorecard, expiry_s: float) -> None:
        self.stack = stack
        self.console = console
        self.score = score
        self.expiry_s = expiry_s
        self.manifests = stack.workdir / "manifests"
        self.workloads = documents(EXAMPLES / "workloads.yaml")
        self.section = 0
        self.operator_running = False

    # ---- helpers -------------------------------------------------------------------------

    @property
    def kube(self) -> LocalCluster:
        return self.stack.kube

    def heading(self, title: str) -> None:
        self.section += 1
        self.console.heading(self.section, title)

    def _write_manifest(self, doc: dict[str, Any]) -> Path:
        namespace = str(doc["metadata"].get("namespace", "cluster"))
        path = self.manifests / namespace / f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def _arg(self, arg: str) -> tuple[str, str]:
        """(what to pass, what to show) for one argument. Commands run in the demo directory,
        so its files are passed relative to it and messages name them the way a user who typed
        the command would see them; repository files are shown repository-relative."""
        if not arg.startswith("/"):
            return arg, arg
        path = Path(arg)
        if path.is_relative_to(self.stack.workdir):
            relative = str(path.relative_to(self.stack.workdir))
            return relative, relative
        if path.is_relative_to(REPO):
            return arg, str(path.relative_to(REPO))
        return arg, arg

    def kubectl(
        self, *args: str, who: Identity | None = None, show: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl as `who` (a client-certificate kubeconfig) or as the admin."""
        kubeconfig = self.kube.user_kubeconfig(who.user, who.groups) if who else None
        passed, shown = zip(*(self._arg(a) for a in args), strict=True)
        if show:
            self.console.command(["kubectl", *shown], who.describe() if who else "cluster admin")
        argv = [
            str(self.kube.binary("kubectl")),
            f"--kubeconfig={kubeconfig or self.kube.kubeconfig}",
            f"--cache-dir={self.stack.workdir / 'kube-cache'}",
            *passed,
        ]
        proc = subprocess.run(
            argv, cwd=self.stack.workdir, capture_output=True, text=True, timeout=60, check=False
        )
        if show:
            self.console.output((proc.stdout or "") + (proc.stderr or ""))
        return proc

    def create(self, doc: dict[str, Any], who: Identity) -> subprocess.CompletedProcess[str]:
        return self.kubectl("create", "-f", str(self._write_manifest(doc)), who=who)

    def expect_denied(
        self, proc: subprocess.CompletedProcess[str], what: str, rule: str
    ) -> None:
        text = proc.stderr or ""
        self.score.expect(
            f"{what}: denied by rule {rule}",
            proc.returncode != 0 and "denied the request" in text and rule in text,
            badge="DENY",
        )

    def expect_admitted(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        self.score.expect(f"{what}: admitted", proc.returncode == 0, badge="ALLOW")

    def annotations(self, kind: str, name: str, namespace: str) -> dict[str, str]:
        proc = self.kube.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if proc.returncode != 0:
            return {}
        found: dict[str, str] = json.loads(proc.stdout)["metadata"].get("annotations") or {}
        return found

    def _tenant_status(self, name: str) -> dict[str, Any]:
        proc = self.kube.kubectl("get", "tenant", name, "-o", "json", check=False)
        if proc.returncode != 0:
            return {}
        found: dict[str, Any] = json.loads(proc.stdout).get("status") or {}
        return found

    def _wait_for_statuses(self, names: Sequence[str], timeout: float = 30.0) -> None:
        """The operator writes each Tenant's status shortly after it appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._tenant_status(n) for n in names):
                return
            time.sleep(0.5)
