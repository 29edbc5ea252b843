"""Sections of bench/RESULTS.md that other bench scripts own.

`python -m bench` renders RESULTS.md from its own results; figures that other scripts measure
(the audit report, compute accounting) live between `<!-- NAME:start -->` (or `:begin`) and
`<!-- NAME:end -->` markers and must survive that rewrite, or a full run would silently drop
them until each script is run again. Each script writes its own section with `replace_section`,
which leaves every other byte of the file alone and never leaves two copies of a section.
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"<!-- ([\w-]+):(?:start|begin) -->.*?<!-- \1:end -->\n?", re.S)


class SectionError(ValueError):
    """RESULTS.md's markers of a section do not pair up (a bad merge or a hand edit)."""


def keep_sections(old: str, new: str) -> str:
    """`new` with every marked section of `old` that `new` lacks appended, in their order.

    A section that `old` holds twice (a bad merge) is kept once, its first copy.
    """
    kept: dict[str, str] = {}
    for match in _SECTION.finditer(old):
        name = match.group(1)
        if f"<!-- {name}:" not in new and name not in kept:
            kept[name] = match.group(0)
    if not kept:
        return new
    return new.rstrip() + "\n\n" + "\n".join(block.rstrip() + "\n" for block in kept.values())


def replace_section(current: str, name: str, body: str, *, start: str = "start") -> str:
    """`current` with section `name` holding exactly `body` (appended when it has none).

    Every copy of the section is removed and the new one put where the first copy was, so
    text pasted between its markers by a bad merge is gone and nothing outside them changes.
    Unpaired markers of `name` are an error naming them: guessing where a section ends could
    delete someone else's figures.
    """
    opening = re.compile(rf"<!-- {re.escape(name)}:(?:start|begin) -->")
    closing = f"<!-- {name}:end -->"
    pattern = re.compile(rf"{opening.pattern}.*?{re.escape(closing)}\n?", re.S)
    block = f"<!-- {name}:{start} -->\n{body.rstrip()}\n{closing}\n"
    first = pattern.search(current)
    rest = pattern.sub("", current)
    stray = [m.group(0) for m in opening.finditer(rest)] + [closing] * rest.count(closing)
    if stray:
        raise SectionError(
            f"bench/RESULTS.md has unpaired markers of section {name!r} ({', '.join(stray)}): "
            "repair them by hand (each section is one start and one end marker) and run again"
        )
    if first is None:
        return current.rstrip() + "\n\n" + block if current.strip() else block
    at = first.start()
    return rest[:at] + block + rest[at:]
