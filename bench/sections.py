"""Sections of bench/RESULTS.md that other bench scripts own.

`python -m bench` renders RESULTS.md from its own results; figures that other scripts measure
(the audit report, compute accounting) live between `<!-- NAME:start -->` (or `:begin`) and
`<!-- NAME:end -->` markers and must survive that rewrite, or a full run would silently drop
them until each script is run again.
"""

from __future__ import annotations

import re

_SECTION = re.compile(r"<!-- ([\w-]+):(?:start|begin) -->.*?<!-- \1:end -->\n?", re.S)


def keep_sections(old: str, new: str) -> str:
    """`new` with every marked section of `old` that `new` lacks appended, in their order."""
    kept = [m.group(0) for m in _SECTION.finditer(old) if m.group(0).split(" -->")[0] not in new]
    if not kept:
        return new
    return new.rstrip() + "\n\n" + "\n".join(block.rstrip() + "\n" for block in kept)
