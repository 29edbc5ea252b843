"""Build (or reuse) kube-apiserver, kubectl, etcd and helm from their Go modules.

No package registry ships kube-apiserver, so -- like controller-runtime's envtest
-- we run the real binaries, but compile them ourselves from the Go module proxy:

* ``kubernetes``: a generated wrapper module that ``require``s k8s.io/kubernetes
  and ``replace``s every staging module it requires (k8s.io/api, ...) with the
  published ``v0.<minor>.<patch>`` release.  The list is read from the release's
  own go.mod at build time, so a version bump needs no hand-edited list.
* ``etcd``: a wrapper module that requires go.etcd.io/etcd/server/v3 (whose
  root package is the etcd main package).  ``go install pkg@version`` cannot be
  used because etcd's go.mod has (directory) replace directives.
* ``helm``: plain ``go install helm.sh/helm/v3/cmd/helm@<version>``.

Everything lands in ``<cache>/k8s-bin/<component>-<version>/`` (never in the
repository).  A component whose directory holds a ``.complete`` stamp is
reused, so a warm second run costs well under a second.  Go's own module and
build caches (GOMODCACHE / GOCACHE, defaults or whatever the caller set) keep a
rebuild after a version bump incremental.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Pinned versions; each may be overridden by an environment variable so a user
# can try another release without editing code.
KUBERNETES_VERSION = os.environ.get("EXPORTGATE_K8S_VERSION", "v1.37.2")
ETCD_VERSION = os.environ.get("EXPORTGATE_ETCD_VERSION", "v3.6.16")
HELM_VERSION = os.environ.get("EXPORTGATE_HELM_VERSION", "v3.22.0")

ASSETS_ENV_VARS = ("EXPORTGATE_TEST_ASSETS", "KUBEBUILDER_ASSETS")
BINARIES = ("kube-apiserver", "kubectl", "etcd", "helm")
STAMP = ".complete"
# Two cores: building packages two at a time keeps memory sane and uses both.
GO_PARALLELISM = "2"
# Small, fast-to-link static binaries; none of these need cgo.
BASE_LDFLAGS = "-s -w"
GO_BUILD_TIMEOUT_S = 3 * 3600


class BuildError(RuntimeError):
    """A component failed to build; the message names it and says why."""


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    binaries: tuple[str, ...]

    def directory(self) -> Path:
        return bin_root() / f"{self.name}-{self.version}"

    def is_built(self) -> bool:
        d = self.directory()
        return (d / STAMP).is_file() and all(_is_executable(d / b) for b in self.binaries)


COMPONENTS: tuple[Component, ...] = (
    Component("kubernetes", KUBERNETES_VERSION, ("kube-apiserver", "kubectl")),
    Component("etcd", ETCD_VERSION, ("etcd",)),
    Component("helm", HELM_VERSION, ("helm",)),
)


def cache_root() -> Path:
    base = os.environ.get("EXPORTGATE_CACHE_DIR") or str(Path.home() / ".cache" / "exportgate")
    return Path(base).expanduser().resolve()


def bin_root() -> Path:
    return cache_root() / "k8s-bin"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


# --------------------------------------------------------------------------
# Locating binaries (no building)
# --------------------------------------------------------------------------


def user_asset_dirs() -> list[Path]:
    """Directories named by EXPORTGATE_TEST_ASSETS / KUBEBUILDER_ASSETS, in order."""
    dirs = []
    for var in ASSETS_ENV_VARS:
        value = os.environ.get(var)
        if value:
            dirs.append(Path(value).expanduser())
    return dirs


def find_binaries() -> dict[str, Path]:
    """Return every binary already available: user-supplied first, then our cache."""
    found: dict[str, Path] = {}
    for d in user_asset_dirs():
        for name in BINARIES:
            if name not in found and _is_executable(d / name):
                found[name] = d / name
    for comp in COMPONENTS:
        if comp.is_built():
            for name in comp.binaries:
                found.setdefault(name, comp.directory() / name)
    return found


def missing_binaries(needed: Iterable[str] = BINARIES) -> list[str]:
    have = find_binaries()
    return [b for b in needed if b not in have]


# --------------------------------------------------------------------------
# Go helpers
# --------------------------------------------------------------------------


def go_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    # Never let a go directive trigger a toolchain download: only the module
    # proxy is reachable, and a clear "needs newer Go" error is more useful.
    env.setdefault("GOTOOLCHAIN", "local")
    # -mod=mod lets `go build` fill go.sum for the generated wrapper modules.
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=mod").strip()
    if extra:
        env.update(extra)
    return env


def run_go(args: list[str], cwd: Path, component: str, env: Mapping[str, str]) -> str:
    """Run a go command; on failure raise BuildError carrying its last output lines."""
    go = shutil.which("go")
    if go is None:
        raise BuildError(f"{component}: the 'go' command is not on PATH (Go >= 1.26 is needed)")
    proc = subprocess.run(
        [go, *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=GO_BUILD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-25:])
        raise BuildError(
            f"{component}: `go {' '.join(args[:2])} ...` exited {proc.returncode}:\n{tail}"
        )
    return proc.stdout


def module_gomod(module: str, version: str, env: Mapping[str, str]) -> str:
    """Fetch a released module's go.mod through Go's own proxy configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        # GOFLAGS=-mod=mod is rejected outside a module for `go list -m`; drop it.
        list_env = dict(env)
        list_env["GOFLAGS"] = list_env["GOFLAGS"].replace("-mod=mod", "").strip()
        out = run_go(["list", "-m", "-json", f"{module}@{version}"], Path(tmp), module, list_env)
    info = json.loads(out)
    gomod_path = info.get("GoMod")
    if not gomod_path:
        raise BuildError(f"{module}@{version}: the module proxy returned no go.mod")
    return Path(gomod_path).read_text()


# --------------------------------------------------------------------------
# go.mod parsing: just enough to read require/replace/go/godebug
# --------------------------------------------------------------------------


def _directive_lines(gomod: str, verb: str) -> list[str]:
    """Entries of `verb x` lines and `verb ( ... )` blocks, comments stripped."""
    entries: list[str] = []
    in_block = False
    for raw in gomod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if in_block:
            if line == ")":
                in_block = False
            else:
                entries.append(line)
        elif line == f"{verb} (":
            in_block = True
        elif line.startswith(verb + " "):
            entries.append(line[len(verb) + 1 :].strip())
    return entries


def staging_modules(gomod: str) -> list[str]:
    """Modules the release both requires and replaces with a ./staging directory."""
    required = {e.split()[0] for e in _directive_lines(gomod, "require")}
    staged = []
    for entry in _directive_lines(gomod, "replace"):
        left, _, right = entry.partition("=>")
        mod, target = left.split()[0], right.strip()
        if target.startswith("./staging/") and mod in required:
            staged.append(mod)
    if not staged:
        raise BuildError("kubernetes: found no staging replace directives in the release go.mod")
    return sorted(staged)


def staging_version(kube_version: str) -> str:
    """k8s.io/kubernetes v1.X.Y publishes its staging modules as v0.X.Y."""
    m = re.fullmatch(r"v1\.(\d+)\.(\d+)", kube_version)
    if not m:
        raise BuildError(f"kubernetes: {kube_version!r} is not a stable v1.X.Y release")
    return f"v0.{m.group(1)}.{m.group(2)}"


def go_header(gomod: str) -> str:
    """The release's `go` and `godebug` lines, so our build matches upstream's defaults."""
    keep = [
        line for line in gomod.splitlines() if line.startswith("go ") or line.startswith("godebug ")
    ]
    return "\n".join(keep)


# --------------------------------------------------------------------------
# Wrapper module templates
# --------------------------------------------------------------------------

KUBERNETES_GOMOD_TEMPLATE = """\
// Generated by tests/cluster/build.py -- builds kube-apiserver and kubectl
// from the published k8s.io/kubernetes {version} module.
module exportgate.local/k8sbin/kubernetes

{go_header}

require k8s.io/kubernetes {version}

// k8s.io/kubernetes points its staging modules at ./staging directories that
// do not exist in the module zip; use their published releases instead.
replace (
{replaces}
)
"""

ETCD_GOMOD_TEMPLATE = """\
// Generated by tests/cluster/build.py -- builds the etcd server binary.
module exportgate.local/k8sbin/etcd

go {go_version}

require go.etcd.io/etcd/server/v3 {version}
"""


def kubernetes_wrapper_gomod(version: str, release_gomod: str) -> str:
    sv = staging_version(version)
    replaces = "\n".join(f"\t{m} => {m} {sv}" for m in staging_modules(release_gomod))
    return KUBERNETES_GOMOD_TEMPLATE.format(
        version=version, go_header=go_header(release_gomod), replaces=replaces
    )


def kube_version_ldflags(version: str) -> str:
    """Stamp the version the way kubernetes' hack/lib/version.sh does.

    Without it the server reports v0.0.0-master, which breaks helm's kubeVersion
    checks and kubectl's skew warnings.
    """
    major, minor = version.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "gitCommit": "0000000000000000000000000000000000000000",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{k}={v}" for k, v in values.items()]
    return " ".join(flags)


# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------


def _build_kubernetes(comp: Component, work: Path, out: Path, env: Mapping[str, str]) -> None:
    release_gomod = module_gomod("k8s.io/kubernetes", comp.version, env)
    (work / "go.mod").write_text(kubernetes_wrapper_gomod(comp.version, release_gomod))
    ldflags = f"{BASE_LDFLAGS} {kube_version_ldflags(comp.version)}"
    run_go(
        [
            "build",
            "-p",
            GO_PARALLELISM,
            "-trimpath",
            f"-ldflags={ldflags}",
            "-o",
            str(out) + os.sep,
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kubectl",
        ],
        work,
        comp.name,
        env,
    )


def _build_etcd(comp: Component, work: Path, out: Path, env: Mapping[str, str]) -> None:
    etcd_gomod = module_gomod("go.etcd.io/etcd/server/v3", comp.version, env)
    go_version = re.search(r"^go (\S+)", etcd_gomod, re.M)
    (work / "go.mod").write_text(
        ETCD_GOMOD_TEMPLATE.format(
            version=comp.version, go_version=go_version.group(1) if go_version else "1.24"
        )
    )
    run_go(
        [
            "build",
            "-p",
            GO_PARALLELISM,
            "-trimpath",
            f"-ldflags={BASE_LDFLAGS}",
            "-o",
            str(out / "etcd"),
            "go.etcd.io/etcd/server/v3",
        ],
        work,
        comp.name,
        env,
    )


def _build_helm(comp: Component, work: Path, out: Path, env: Mapping[str, str]) -> None:
    major = comp.version.split(".")[0]  # "v3" or "v4": helm's module path suffix
    ldflags = f"{BASE_LDFLAGS} -X helm.sh/helm/{major}/internal/version.version={comp.version}"
    install_env = dict(env)
    install_env["GOBIN"] = str(out)
    # `go install pkg@version` ignores any local go.mod; -mod=mod is not allowed with it.
    install_env["GOFLAGS"] = install_env["GOFLAGS"].replace("-mod=mod", "").strip()
    run_go(
        [
            "install",
            "-p",
            GO_PARALLELISM,
            "-trimpath",
            f"-ldflags={ldflags}",
            f"helm.sh/helm/{major}/cmd/helm@{comp.version}",
        ],
        work,
        comp.name,
        install_env,
    )


BUILDERS = {"kubernetes": _build_kubernetes, "etcd": _build_etcd, "helm": _build_helm}


Builder = Callable[[Component, Path, Path, Mapping[str, str]], None]


def build_component(comp: Component, log: bool = True, builder: Builder | None = None) -> float:
    """Build one component into its cache directory; return seconds spent.

    `builder` (default: ours, by component name) lets other tools reuse the cache layout and
    stamps for binaries of their own (bench/peers builds Gatekeeper and Kyverno this way).
    """
    started = time.monotonic()
    final = comp.directory()
    final.parent.mkdir(parents=True, exist_ok=True)
    # Build into a sibling temp dir and rename at the end, so an interrupted
    # build never leaves a directory that looks complete.
    staging = Path(tempfile.mkdtemp(prefix=f".{comp.name}-{comp.version}-", dir=final.parent))
    try:
        work = staging / "src"
        work.mkdir()
        out = staging / "bin"
        out.mkdir()
        if log:
            print(
                f"[build] {comp.name} {comp.version}: compiling (go {_go_version()}) ...",
                flush=True,
            )
        (builder or BUILDERS[comp.name])(comp, work, out, go_env())
        for name in comp.binaries:
            if not _is_executable(out / name):
                raise BuildError(f"{comp.name}: go finished but produced no {name} binary")
            shutil.move(str(out / name), staging / name)
        out.rmdir()
        elapsed = time.monotonic() - started
        stamp = {"version": comp.version, "go": _go_version(), "build_seconds": round(elapsed, 1)}
        (staging / STAMP).write_text(json.dumps(stamp) + "\n")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        final.chmod(0o755)  # mkdtemp made it 0700; the binaries are not secret
        return elapsed
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _go_version() -> str:
    go = shutil.which("go")
    if not go:
        return "missing"
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def ensure_binaries(log: bool = True) -> dict[str, Path]:
    """Make every binary available, building only what neither the user nor the cache has.

    Raises BuildError naming each component that failed.
    """
    total_start = time.monotonic()
    have = find_binaries()
    errors: list[str] = []
    for comp in COMPONENTS:
        missing = [b for b in comp.binaries if b not in have]
        if not missing:
            if log:
                where = {str(have[b].parent) for b in comp.binaries}
                print(f"[build] {comp.name} {comp.version}: cached in {', '.join(sorted(where))}")
            continue
        try:
            seconds = build_component(comp, log=log)
        except BuildError as exc:
            errors.append(str(exc))
            print(f"[build] FAILED {exc}", file=sys.stderr, flush=True)
            continue
        except subprocess.TimeoutExpired:
            errors.append(f"{comp.name}: go build timed out after {GO_BUILD_TIMEOUT_S}s")
            continue
        if log:
            print(
                f"[build] {comp.name} {comp.version}: built in {seconds:.0f}s "
                f"-> {comp.directory()}",
                flush=True,
            )
        for name in comp.binaries:
            have.setdefault(name, comp.directory() / name)
    if errors:
        raise BuildError("could not build: " + "; ".join(e.splitlines()[0] for e in errors))
    if log:
        print(f"[build] all binaries ready in {time.monotonic() - total_start:.1f}s")
        for name in BINARIES:
            print(f"  {name:15} {have[name]}")
    return have
