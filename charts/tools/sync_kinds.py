"""Generate the chart's guarded kinds and CEL pre-filter vocabulary from the kind table.

The kind table (``exportgate/core/kinds.py``, derived from the adapter files) and the extraction
vocabulary (``exportgate/data/adapters/vocabulary.yaml``) are the one source of which kinds and
which names matter. The chart must send exactly what the webhook can read, so instead of hand-kept
copies this tool rewrites three defaults in ``charts/exportgate/values.yaml``:

* ``webhook.guardedResources``: group -> plurals of every guarded kind outside the built-in
  workload groups ("", apps, batch), which the chart's workload rules cover;
* ``webhook.matchConditions.acceleratorResourcePatterns``: RE2 patterns of every known
  accelerator resource name (a resource matching one is sent);
* ``webhook.matchConditions.nonAcceleratorResourcePatterns``: RE2 patterns (whole-name,
  case-sensitive) of Kubernetes' own resources and the vocabulary's ignoredResources. Every
  other resource is sent: the extractor calls any extended resource it does not list as none
  an (unknown) accelerator, and the filter may never be narrower than the extractor;
* ``webhook.matchConditions.deviceAccessEnv``: the container runtimes' device variables.

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

from exportgate.core.extract import AdapterRegistry  # noqa: E402
from exportgate.core.extract.vocabulary import name_pattern  # noqa: E402
from exportgate.core.kinds import guarded_kinds, resources_by_group  # noqa: E402

VALUES = ROOT / "charts" / "exportgate" / "values.yaml"


def _name_to_re2(glob: str) -> str:
    """The whole-name, case-sensitive RE2 pattern of a resource-name glob: the extractor's own
    translation (`vocabulary.name_pattern`), anchored because CEL's matches() searches."""
    return f"^(?:{name_pattern(glob)})$"


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
    harmless = [_name_to_re2(glob) for glob in sorted({*names.standard, *names.ignored})]
    env = sorted(vocabulary.device_access.env)
    return {
        "  guardedResources:": [
            f"    {group}: [{', '.join(plurals)}]" for group, plurals in groups.items()
        ],
        "    acceleratorResourcePatterns:": [f"      - {json.dumps(p)}" for p in patterns],
        "    nonAcceleratorResourcePatterns:": [f"      - {json.dumps(p)}" for p in harmless],
        "    deviceAccessEnv:": [f"      - {name}" for name in env],
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
