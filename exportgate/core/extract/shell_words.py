"""A command line in one string -> its words, as ``shlex.split`` splits it, in linear time.

The model reader splits every argument that holds a whole shell line (``sh -c "vllm serve
$MODEL"``, a RayJob ``entrypoint``). ``shlex`` builds each word one character at a time by
string concatenation, so one long word costs time quadratic in its length (a 1 MB argument took
12 s); this splitter matches whole runs with one regular expression and joins them once.

Same rules as ``shlex.split(line)``: words are separated by spaces, tabs and newlines; single
quotes keep everything literally; in double quotes a backslash escapes only ``"`` and ``\\``
(and is kept before anything else); outside quotes a backslash escapes any character; quoted
parts join the unquoted parts they touch (``a'b c'd`` is one word ``ab cd``) and ``''`` is an
empty word; no comments. A line with an unclosed quote or a trailing backslash is not a line a
shell would run: `split_words` returns None and the caller decides.
"""

from __future__ import annotations

import re

# One word: a run of plain characters, single-quoted and double-quoted parts and escapes. Each
# alternative starts with a different character, and the repeat is possessive, so matching
# never backtracks: linear in the line.
_WORD = re.compile(r"""(?:[^ \t\r\n'"\\]++|'[^']*+'|"(?:[^"\\]++|\\[\s\S])*+"|\\[\s\S])++""")
_PLAIN = re.compile(r"[^ \t\r\n]++")
_PART = re.compile(r"""'([^']*+)'|"((?:[^"\\]++|\\[\s\S])*+)"|\\([\s\S])""")
_ESCAPE_IN_DOUBLE = re.compile(r"""\\(["\\])""")
_SPECIAL = re.compile(r"""['"\\]""")


def split_words(line: str) -> list[str] | None:
    """The words of `line` (see the module docstring), or None when a quote is not closed."""
    if _SPECIAL.search(line) is None:
        return _PLAIN.findall(line)  # no quotes or escapes: whitespace alone separates
    words = _WORD.findall(line)
    if _WORD.sub("", line).strip(" \t\r\n"):
        return None  # something no word could take: an unclosed quote or a trailing backslash
    return [_unquote(word) if _SPECIAL.search(word) else word for word in words]


def _unquote(word: str) -> str:
    return _PART.sub(_part, word)


def _part(match: re.Match[str]) -> str:
    single, double, escaped = match.groups()
    if single is not None:
        return single
    if double is not None:
        return _ESCAPE_IN_DOUBLE.sub(r"\1", double)
    return escaped
