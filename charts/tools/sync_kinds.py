"""Generate the chart's guarded kinds and CEL pre-filter vocabulary from the kind table.

The kind table (``exportgate/core/kinds.py``, derived from the adapter files) and the extraction
vocabulary (``exportgate/data/adapters/vocabulary.yaml``) are the one source of which kinds and
which names matter. The chart must send exactly what the webhook can read, so instead of hand-kept
copies this tool rewrites three defaults in ``charts/exportgate/values.yaml``:

* ``webhook.guardedResources``: group -> plurals of every guarded kind outside the built-in
  workload groups ("", apps, batch), which the chart's workload rules cover;
* ``webhook.matchConditions.acceleratorResourcePatterns``: RE2 patterns (anchored,
  case-insensitive) of every accelerator and suspect resource name;
* ``webhook.matchConditions.deviceAccessEnv``: the container runtimes' device variables.

Only the value lines are rewritten; the comments above each key stay as written.

Usage::

    python charts/tools/sync_kinds.py           # rewrite the defaults
    python charts/tools/sync_kinds.py --check   # CI (make lint): exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from exportgate.core.extract import AdapterRegistry  # noqa: E402
from exportgate.core.kinds import guarded_kinds, resources_by_group  # noqa: E402

VALUES = ROOT / "charts" / "exportgate" / "values.yaml"


def _glob_to_re2(glob: str) -> str:
    """A case-insensitive RE2 pattern for a glob; CEL's matches() searches, so a leading or
    trailing "*" is simply left unanchored (short patterns: the CEL filter repeats them)."""
    body = "".join(".*" if char == "*" else re.escape(char) for char in glob.strip("*"))
    start = "" if glob.startswith("*") else "^"
    end = "" if glob.endswith("*") else "$"
    return f"(?i){start}{body}{end}"


def _covered(name: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), glob) for glob in globs)


def generated_blocks() -> dict[str, list[str]]:
    """Key (with its indentation) -> the value lines that must follow it."""
    registry = AdapterRegistry.builtin()
    groups = resources_by_group(guarded_kinds(registry))
    vocabulary = registry.vocabulary
    suspect = vocabulary.suspect_resources
    # Known names a suspect glob already matches need no pattern of their own.
    patterns = [
        *(
            f"^{re.escape(name)}$"
            for name in sorted(vocabulary.resources.exact)
            if not _covered(name, suspect)
        ),
        *(
            f"^{re.escape(prefix)}"
            for prefix in vocabulary.resources.prefixes
            if not _covered(prefix + "x", suspect)
        ),
        *(_glob_to_re2(glob) for glob in suspect),
    ]
    env = sorted(vocabulary.device_access.env)
    return {
        "  guardedResources:": [
            f"    {group}: [{', '.join(plurals)}]" for group, plurals in groups.items()
        ],
        "    acceleratorResourcePatterns:": [f"      - {json.dumps(p)}" for p in patterns],
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
