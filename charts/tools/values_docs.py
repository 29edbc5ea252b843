"""One source for a chart's values: ``values.yaml`` comments -> JSON schema + README table.

Every key in ``values.yaml`` carries a prose comment on the lines right above it. From those
comments and the defaults this tool writes

* ``values.schema.json``: types inferred from the defaults, ``additionalProperties: false`` on
  every documented mapping, so a misspelt value fails ``helm install`` instead of being ignored;
* the values table in ``README.md``, between ``<!-- values-table:start -->`` and
  ``<!-- values-table:end -->``.

Comment conventions (the lines directly above a key, up to the first non-comment line)::

    # Prose describing the value. Several lines are joined into one paragraph;
    # a lone "#" starts a new paragraph.
    # @schema {"minimum": 1, "maximum": 30}
    timeoutSeconds: 5

``@schema`` holds JSON merged over the inferred schema of that key (it may span several lines:
every line after ``@schema`` up to the key belongs to it). A mapping whose ``@schema`` sets
``additionalProperties`` is *opaque*: its keys are examples, so they need no comments and are
not checked one by one (Kubernetes pass-through fields such as ``resources`` or ``affinity``).

Usage::

    python charts/tools/values_docs.py           # rewrite both outputs of charts/exportgate
    python charts/tools/values_docs.py --check   # CI: fail if either is stale
    python charts/tools/values_docs.py path/to/chart [--check]

Missing comments, bad ``@schema`` JSON and a ``null`` default without a declared type are
errors naming the key and line, because an undocumented value is a defect of the chart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
TABLE_START = "<!-- values-table:start -->"
TABLE_END = "<!-- values-table:end -->"
SCHEMA_MARKER = "@schema"
# The repository's chart, so `make lint` can call the tool without arguments.
DEFAULT_CHART = Path(__file__).resolve().parents[1] / "exportgate"


class ValuesDocError(ValueError):
    """values.yaml breaks a documentation rule; the message names the key and the line."""


@dataclass
class Value:
    """One documented key of values.yaml."""

    path: str
    line: int  # 1-based, for error messages
    description: str
    schema_override: dict[str, Any]
    default: Any
    children: list[Value] = field(default_factory=list)

    @property
    def opaque(self) -> bool:
        return "additionalProperties" in self.schema_override

    @property
    def is_section(self) -> bool:
        return isinstance(self.default, dict) and not self.opaque


# --------------------------------------------------------------------------
# Reading values.yaml: PyYAML's node tree gives each key's line; the raw lines give comments.
# --------------------------------------------------------------------------


def _comment_block(lines: list[str], key_line: int) -> list[str]:
    """The contiguous ``#`` lines right above line index ``key_line`` (0-based), in order."""
    block: list[str] = []
    index = key_line - 1
    while index >= 0:
        stripped = lines[index].strip()
        if not stripped.startswith("#"):
            break
        block.append(stripped[1:].removeprefix(" ") if stripped != "#" else "")
        index -= 1
    block.reverse()
    return block


def _parse_comment(block: list[str], path: str, line: int) -> tuple[str, dict[str, Any]]:
    prose: list[str] = []
    schema_lines: list[str] = []
    in_schema = False
    for text in block:
        if text.lstrip().startswith(SCHEMA_MARKER):
            in_schema = True
            schema_lines.append(text.lstrip()[len(SCHEMA_MARKER) :])
        elif in_schema:
            schema_lines.append(text)
        else:
            prose.append(text)
    description = _join_prose(prose)
    if not description:
        raise ValuesDocError(
            f"values.yaml line {line}: `{path}` has no description; write a comment right "
            f"above it saying what it does and when to change it"
        )
    override: dict[str, Any] = {}
    if schema_lines:
        raw = "\n".join(schema_lines).strip()
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValuesDocError(
                f"values.yaml line {line}: `{path}`: @schema is not valid JSON ({exc.msg} at "
                f"column {exc.colno}): {raw!r}"
            ) from None
        if not isinstance(parsed, dict):
            raise ValuesDocError(
                f"values.yaml line {line}: `{path}`: @schema must be a JSON object, got {raw!r}"
            )
        override = parsed
    return description, override


def _join_prose(lines: list[str]) -> str:
    paragraphs: list[str] = []
    current: list[str] = []
    for text in lines:
        if text.strip():
            current.append(text.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def _walk(
    node: yaml.MappingNode, lines: list[str], data: dict[str, Any], prefix: str
) -> Iterator[Value]:
    for key_node, value_node in node.value:
        key = str(key_node.value)
        path = f"{prefix}.{key}" if prefix else key
        line = key_node.start_mark.line
        description, override = _parse_comment(_comment_block(lines, line), path, line + 1)
        value = Value(path, line + 1, description, override, data[key])
        if value.is_section:
            if not isinstance(value_node, yaml.MappingNode):  # pragma: no cover - yaml agrees
                raise ValuesDocError(f"values.yaml line {line + 1}: `{path}` is not a mapping")
            value.children = list(_walk(value_node, lines, data[key], path))
        yield value


def read_values(path: Path) -> list[Value]:
    """Parse values.yaml into documented values, or raise ValuesDocError."""
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise ValuesDocError(f"{path}: the top level must be a mapping of values")
    return list(_walk(root, text.splitlines(), data, ""))


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------


def _inferred_type(value: Value) -> dict[str, Any]:
    default = value.default
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, int):
        return {"type": "integer"}
    if isinstance(default, float):
        return {"type": "number"}
    if isinstance(default, str):
        return {"type": "string"}
    if isinstance(default, list):
        schema: dict[str, Any] = {"type": "array"}
        scalar_types = {type(item) for item in default}
        if default and len(scalar_types) == 1 and scalar_types <= {str, int, bool}:
            schema["items"] = _inferred_type(
                Value(value.path + "[]", value.line, "", {}, default[0])
            )
        return schema
    if isinstance(default, dict):
        return {"type": "object"}
    if "type" in value.schema_override or "$ref" in value.schema_override:
        return {}
    raise ValuesDocError(
        f"values.yaml line {value.line}: `{value.path}` defaults to null, so its type cannot be "
        f'inferred; add e.g. `# @schema {{"type": ["string", "null"]}}`'
    )


def value_schema(value: Value) -> dict[str, Any]:
    schema = _inferred_type(value)
    schema["description"] = value.description
    if value.is_section:
        schema["additionalProperties"] = False
        schema["properties"] = {
            child.path.rsplit(".", 1)[-1]: value_schema(child) for child in value.children
        }
    schema.update(value.schema_override)
    return schema


def build_schema(values: list[Value], title: str) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_DIALECT,
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "properties": {v.path: value_schema(v) for v in values},
    }


def render_schema(values: list[Value], title: str) -> str:
    return json.dumps(build_schema(values, title), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------
# README table
# --------------------------------------------------------------------------


def _flatten(values: list[Value]) -> Iterator[Value]:
    for value in values:
        yield value
        yield from _flatten(value.children)


def _type_label(value: Value) -> str:
    schema = value_schema(value)
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(item)}`" for item in schema["enum"])
    return str(kind)


def _default_label(value: Value) -> str:
    if value.is_section:
        return ""
    text = json.dumps(value.default, ensure_ascii=False, separators=(", ", ": "))
    escaped = text.replace("|", "\\|")
    return f"`{escaped}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n\n", "<br><br>").replace("\n", " ")


def render_table(values: list[Value]) -> str:
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for value in _flatten(values):
        key = f"**`{value.path}`**" if value.is_section else f"`{value.path}`"
        rows.append(
            f"| {key} | {_type_label(value)} | {_default_label(value)} | "
            f"{_cell(value.description)} |"
        )
    return "\n".join(rows) + "\n"


def splice_table(readme: str, table: str, readme_path: Path) -> str:
    start = readme.find(TABLE_START)
    end = readme.find(TABLE_END)
    if start < 0 or end < start:
        raise ValuesDocError(
            f"{readme_path}: add the markers {TABLE_START} and {TABLE_END} (in that order) "
            f"where the values table belongs"
        )
    head = readme[: start + len(TABLE_START)]
    return f"{head}\n{table}{readme[end:]}"


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outputs:
    schema_path: Path
    schema: str
    readme_path: Path
    readme: str


def generate(chart: Path) -> Outputs:
    values = read_values(chart / "values.yaml")
    chart_meta = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    title = f"Values of the {chart_meta.get('name', chart.name)} chart"
    readme_path = chart / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    return Outputs(
        chart / "values.schema.json",
        render_schema(values, title),
        readme_path,
        splice_table(readme, render_table(values), readme_path),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "chart",
        type=Path,
        nargs="?",
        default=DEFAULT_CHART,
        help="chart directory holding values.yaml (default: %(default)s)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if an output is stale"
    )
    args = parser.parse_args(argv)
    try:
        outputs = generate(args.chart)
    except (ValuesDocError, OSError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pairs = ((outputs.schema_path, outputs.schema), (outputs.readme_path, outputs.readme))
    stale = [
        path
        for path, text in pairs
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            print(
                f"{path} is out of date with values.yaml: run "
                f"`python charts/tools/values_docs.py {args.chart}`",
                file=sys.stderr,
            )
        return 1 if stale else 0
    outputs.schema_path.write_text(outputs.schema, encoding="utf-8")
    outputs.readme_path.write_text(outputs.readme, encoding="utf-8")
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
