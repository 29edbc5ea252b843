"""Generate the chart's guarded kinds and CEL pre-filter vocabulary from the kind table.

The kind table (``exportgate/core/kinds.py``, derived from the adapter files) and the extraction
vocabulary (``exportgate/data/adapters/vocabulary.yaml``) are the one source of which kinds and
which names matter. The chart must send exactly what the webhook can read, so instead of hand-kept
copies this tool rewrites three defaults in ``charts/exportgate/values.yaml``:

* ``webhook.guardedResources``: group -> plurals of every guarded kind outside the built-in
  workload groups ("", apps, batch), which the chart's workload rules cover;
* ``webhook.guardedKindPatterns``: group -> RE2 patterns (whole kind name) of the kinds adapters
  guard without naming them (``kindPattern``: every Cluster API infrastructure machine kind),
  which the chart sends through a webhook of their own that matches kinds by name;
* ``webhook.matchConditions.acceleratorResourcePatterns``: RE2 patterns of every known
  accelerator resource name (a resource matching one is sent);
* ``webhook.matchConditions.nonAcceleratorResourcePatterns``: RE2 patterns (whole-name,
  case-sensitive) of Kubernetes' own resources and the vocabulary's ignoredResources. Every
  other resource is sent: the extractor calls any extended resource it does not list as none
  an (unknown) accelerator, and the filter may never be narrower than the extractor;
* ``webhook.matchConditions.deviceAccessEnv``: the container runtimes' device variables;
* ``webhook.matchConditions.deviceAccessAnnotations`` / ``deviceAccessAnnotationPrefixes``:
  the pod annotation keys (whole: a GPU-sharing scheduler's, and those choosing a peer pod's
  VM) and key prefixes (KAI Scheduler's per-container keys, CDI) that hand a pod a device;
* ``webhook.matchConditions.model*``: what the model reader (``exportgate/core/extract/models.py``)
  reads in a container, from ``exportgate/data/models.yaml``: the words and whole tokens of its
  flags and programs, its path flags, the variables it reads by name, and what makes a container
  with ``envFrom`` a model server or client (`model_blocks`). A container the pre-filter skips
  is admitted unseen, so these lists may only ever be wider than what the reader reads.

Only the value lines are rewritten; the comments above each key stay as written.

Usage::

    python charts/tools/sync_kinds.py           # rewrite the defaults
    python charts/tools/sync_kinds.py --check   # CI (make lint): exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from exportgate.core.data import load_data  # noqa: E402
from exportgate.core.extract import AdapterRegistry  # noqa: E402
from exportgate.core.extract.vocabulary import name_pattern  # noqa: E402
from exportgate.core.kinds import (  # noqa: E402
    guarded_kind_patterns,
    guarded_kinds,
    resources_by_group,
)

VALUES = ROOT / "charts" / "exportgate" / "values.yaml"
# Flags and programs this short are matched as whole tokens of a command line, not as
# substrings: "-m" or "hf" inside any word would send nearly every pod.
TOKEN_MAX_CHARS = 3
# Python regular-expression syntax RE2 (CEL's matches()) does not have.
_NOT_RE2 = re.compile(r"\(\?[=!<]|\(\?P=|\\[1-9]")


def _name_to_re2(glob: str) -> str:
    """The whole-name, case-sensitive RE2 pattern of a resource-name glob: the extractor's own
    translation (`vocabulary.name_pattern`), anchored because CEL's matches() searches."""
    return f"^(?:{name_pattern(glob)})$"


def _substrings(words: set[str]) -> list[str]:
    """The words no other word of the set is a substring of: the same containers match."""
    return sorted(w for w in words if not any(o != w and o in w for o in words))


def model_words() -> dict[str, list[str]]:
    """What sends a container because of a model reference, derived from models.yaml.

    * ``modelWords``: substrings (as written: the reader is case-sensitive) of every model
      flag, advertised flag and program whose model is positional (``--model``, ``vllm``,
      ``trtllm-serve``, ``hf``...), longer than `TOKEN_MAX_CHARS`; ``modelTokens``: the
      shorter ones, matched as whole tokens.
    * ``modelPathFlags``: flags whose value is a file (llama.cpp's ``-m``), whole tokens; they
      matter only when the same list holds a path (``/``) or a ``.gguf`` file.
    * ``modelEnv``: every variable the reader reads by name (vendor, switch, generic,
      advertised and base-URL variables).
    * ``modelServerImages`` (RE2, case-insensitive), ``modelServerPrograms`` (substrings) and
      ``modelEnvFromNames`` (lowercase substrings of envFrom source names): a container with
      ``envFrom`` that is recognisably a model server or client.
    """
    data = load_data("models.yaml")
    env, commands = data["environment"], data["commands"]
    servers = commands.get("servers") or {}
    words = {
        str(w)
        for w in (
            *commands["modelFlags"],
            *(commands.get("advertisedFlags") or ()),
            *(entry["program"] for entry in commands["positional"]),
        )
    }
    short = {w for w in words if len(w) <= TOKEN_MAX_CHARS}
    names = {
        *env["vendor"],
        *env["switches"],
        *env["generic"],
        *env["advertised"],
        *(env.get("baseUrls") or {}),
    }
    images = [str(p) for p in servers.get("images", ())]
    for pattern in images:
        if _NOT_RE2.search(pattern):
            raise SystemExit(f"models.yaml servers.images: {pattern!r} is not RE2 syntax")
    return {
        "modelWords": _substrings(words - short),
        "modelTokens": sorted(short),
        "modelPathFlags": sorted({str(f) for f in commands.get("pathFlags") or ()}),
        "modelEnv": sorted(names),
        "modelServerImages": images,
        "modelServerPrograms": _substrings({str(p) for p in servers.get("programs", ())}),
        "modelEnvFromNames": _substrings({str(n).lower() for n in servers.get("envFromNames", ())}),
    }


def kind_patterns(registry: AdapterRegistry) -> dict[str, list[str]]:
    """group -> whole-name RE2 patterns of the kinds guarded by pattern (CEL's matches())."""
    found: dict[str, list[str]] = {}
    for group, patterns in guarded_kind_patterns(registry).items():
        for pattern in patterns:
            if _NOT_RE2.search(pattern):
                raise SystemExit(f"kindPattern {pattern!r} of {group} is not RE2 syntax")
            found.setdefault(group, []).append(f"^(?:{pattern})$")
    return found


def generated_blocks() -> dict[str, list[str]]:
    """Key (with its indentation) -> the value lines that must follow it."""
    registry = AdapterRegistry.builtin()
    groups = resources_by_group(guarded_kinds(registry))
    vocabulary = registry.vocabulary
    names = vocabulary.resources
    # Known accelerators: sent even if a harmless pattern below matched them too.
    patterns = [
        *(f"^{re.escape(name)}$" for name in sorted(names.exact)),
        *(f"^{re.escape(prefix)}" for prefix in names.prefixes),
    ]
    access = vocabulary.device_access
    # A peer pod's VM token is ignored as a device but read as a peer pod (pod_vm): sent.
    ignored = set(names.ignored) - access.pod_vm_resources
    harmless = [_name_to_re2(glob) for glob in sorted({*names.standard, *ignored})]
    env = sorted(access.env)
    keys = {*access.annotations, *access.pod_vm_type_annotations, *access.pod_vm_gpu_annotations}
    prefixes = {*access.annotation_prefixes, *access.cdi_prefixes}
    return {
        "  guardedResources:": [
            f"    {group}: [{', '.join(plurals)}]" for group, plurals in groups.items()
        ],
        "  guardedKindPatterns:": [
            f"    {group}: [{', '.join(json.dumps(p) for p in found)}]"
            for group, found in kind_patterns(registry).items()
        ],
        "    acceleratorResourcePatterns:": [f"      - {json.dumps(p)}" for p in patterns],
        "    nonAcceleratorResourcePatterns:": [f"      - {json.dumps(p)}" for p in harmless],
        "    deviceAccessEnv:": [f"      - {name}" for name in env],
        "    deviceAccessAnnotations:": [f"      - {json.dumps(key)}" for key in sorted(keys)],
        "    deviceAccessAnnotationPrefixes:": [
            f"      - {json.dumps(prefix)}" for prefix in sorted(prefixes)
        ],
        **{
            f"    {key}:": [f"      - {json.dumps(item)}" for item in items]
            for key, items in model_words().items()
        },
    }


def render(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    blocks = generated_blocks()
    seen: set[str] = set()
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        block = blocks.get(line.rstrip())
        if block is None:
            continue
        seen.add(line.rstrip())
        indent = len(line) - len(line.lstrip())
        while (
            index < len(lines)
            and lines[index].strip()
            and not lines[index].lstrip().startswith("#")
            and len(lines[index]) - len(lines[index].lstrip()) > indent
        ):
            index += 1
        out.extend(block)
    missing = sorted(set(blocks) - seen)
    if missing:
        raise SystemExit(f"values.yaml has no key line {missing[0]!r} to generate under")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if values.yaml is stale")
    args = parser.parse_args(argv)
    current = VALUES.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if current != wanted:
            print(
                "charts/exportgate/values.yaml: guarded kinds or pre-filter vocabulary are stale;"
                " run `python charts/tools/sync_kinds.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != wanted:
        VALUES.write_text(wanted, encoding="utf-8")
        print("rewrote charts/exportgate/values.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
