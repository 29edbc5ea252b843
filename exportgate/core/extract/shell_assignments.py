"""Variables a shell line sets to a literal before it uses them (``M=org/name; vllm serve $M``).

A container started with ``sh -c "..."`` often names its model in the script itself. Without
this, the model reader would see ``$M`` as a variable set at run time and judge it as the most
restrictive model: an open model refused to a restricted tenant. But a shell has many ways to
change a variable out of sight (a command word taken from the environment that turns out to be
``eval``, a quoted ``"read"``, an alias or a disabled builtin that makes ``export`` do nothing,
a ``DEBUG`` trap, arithmetic in an array subscript), so the script's value is read only from
lines this module can vet completely, and only where it is certain:

* the whole line is a list of simple commands: split at ``;``, newlines, ``&&``, ``||``, ``|``
  and ``&`` outside quotes, at most `MAX_SCRIPT_STATEMENTS` of them; nothing that this module
  does not lex (ANSI-C ``$'...'`` and locale ``$"..."`` quotes, backquotes, here-documents,
  arithmetic ``$((...))``/``$[...]``, a ``[`` inside ``${...}``, a comment) and no compound
  command (``if``, ``case``, ``for``, subshells, braces, functions);
* every command word is a plain word (letters, digits, ``_./+:@%-``: nothing the shell would
  expand, unquote or glob into another command) and none of the builtins that set variables or
  change what ``export`` means (`_SETTERS`);
* the variable is assigned exactly once in the line, in a command made only of assignments
  (``M=x``, ``M=x N=y``, ``export M=x``) that runs unconditionally: separated by ``;`` or a
  newline on both sides, not part of a ``&&``/``||`` chain, a pipeline or a background job;
* its value is literal: quoted without ``$``, backquote or backslash, or bare without those, a
  tilde or a quote, and without glob characters either way (``$M`` unquoted would expand them);
  and the line sets no ``IFS`` (which changes how ``$M`` splits into words);
* no use of it (``$M``, ``${M}``) comes before the assignment; it is one of the first
  `MAX_SCRIPT_VARIABLES` variables the line sets.

A prefix assignment (``M=x vllm serve $M``) is not one: the shell expands ``$M`` before it
applies ``M=x`` to the command. The caller decides whether the container's environment can be
trusted at all (`models.scan_container`: a shell started with ``BASH_ENV`` runs that file first,
and ``envFrom`` could supply it). Anything else leaves the variable to the environment, as
before (set at run time when the environment does not say).

Every pattern is possessive and the caps bound the per-command work, so reading a line is linear
in its length whatever it holds.
"""

from __future__ import annotations

import re
from collections import Counter

from exportgate.core.limits import MAX_SCRIPT_STATEMENTS, MAX_SCRIPT_VARIABLES

# Constructs this reader does not lex: a line holding one is not read at all.
# An IFS assignment changes how every later expansion splits into words.
_UNLEXED = re.compile(r"""\$'|\$"|`|<<|\$\(\(|\$\[|\$\{[^}\[$]*+\[|(?:^|\s)#|(?<![\w$-])IFS=""")
# One simple command: up to a separator outside quotes (possessive: no backtracking).
_COMMAND = re.compile(r"""(?:[^;\n&|'"\\]++|'[^']*+'|"(?:[^"\\]++|\\[\s\S])*+"|\\[\s\S])*+""")
_SEPARATOR = re.compile(r"""&&|\|\||[;\n&|]""")
# Glob characters are left out too: an unquoted $M would expand them against the image's files.
_LITERAL = r"""(?:'[^'*?[]*+'|"[^"$`\\*?[]*+"|[^\s'"$`\\;&|<>(){}~*?[]++|)"""
_ASSIGNMENT = re.compile(rf"""([A-Za-z_][A-Za-z0-9_]*+)=({_LITERAL})(?=\s|$)""")
_LEADING_ASSIGNMENT = re.compile(rf"""\s*+[A-Za-z_][A-Za-z0-9_]*+={_LITERAL}(?=\s|$)""")
_WORD = re.compile(r"""\s*+(\S++)""")
_PLAIN_WORD = re.compile(r"""[A-Za-z0-9_./+:@%-]++|\[""")  # "[" is test
# Builtins and keywords after which a variable's value is no longer what the line shows.
_SETTERS = frozenset(
    {
        *("eval", "read", "trap", "alias", "unalias", "enable", "set", "shopt", "source", "."),
        *("declare", "typeset", "local", "readonly", "unset", "getopts", "mapfile", "readarray"),
        *("printf", "let", "command", "builtin", "wait", "coproc", "select", "function", "time"),
        *("if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case"),
        "esac",
    }
)
# Where the line assigns a name (``NAME=``, not the tail of a longer word) and where it uses one
# (``$NAME``, ``${NAME}``): one pass of each finds them for every name at once (`_certain`).
_NAME_ASSIGNED = re.compile(r"(?<![\w$-])([A-Za-z_][A-Za-z0-9_]*+)=")
_NAME_USED = re.compile(r"\$\{?+([A-Za-z_][A-Za-z0-9_]*+)")
# Longer names are no model variable anyone writes: such a name is left to the environment.
_LONGEST_NAME = 128
# Assignments one command may make before the line is not read (bounds the work per command).
_MOST_ASSIGNMENTS = 64


def literal_assignments(line: str) -> dict[str, str]:
    """name -> literal value of each variable `line` sets before using it (module docstring)."""
    if "=" not in line or _UNLEXED.search(line) is not None:
        return {}
    candidates: dict[str, tuple[str, int]] = {}  # name -> (value, offset of its command)
    conditional: set[str] = set()  # assigned where it may not run, or runs in a subshell
    position, before = 0, ";"
    for _ in range(MAX_SCRIPT_STATEMENTS):
        match = _COMMAND.match(line, position)
        assert match is not None  # the pattern matches the empty string
        end = match.end()
        separator = _SEPARATOR.match(line, end)
        if end < len(line) and separator is None:
            return {}  # an unclosed quote or a trailing backslash: no line a shell would run
        after = separator.group() if separator is not None else ";"
        assigned = _vet(match.group())
        if assigned is None:
            return {}
        unconditional = before in (";", "\n") and after in (";", "\n")
        for name, value in assigned:
            if not unconditional or name in candidates:
                conditional.add(name)
            elif len(candidates) < MAX_SCRIPT_VARIABLES and len(name) <= _LONGEST_NAME:
                candidates[name] = (value, position)
        if separator is None:
            break
        position, before = separator.end(), after
    else:
        return {}  # more commands than are vetted: one of the rest could change anything
    certain = _certain(line, {n: offset for n, (_, offset) in candidates.items()})
    return {
        name: value
        for name, (value, _) in candidates.items()
        if name not in conditional and name in certain
    }


def _vet(command: str) -> list[tuple[str, str]] | None:
    """The literal assignments a simple command makes when it is made of assignments only
    (``export`` included); [] for any other command this reader can vouch for; None when it
    cannot (a command word it would not run blind, or a compound command)."""
    position = 0
    assigned: list[tuple[str, str]] = []
    while (leading := _LEADING_ASSIGNMENT.match(command, position)) is not None:
        if len(assigned) == _MOST_ASSIGNMENTS:
            return None  # a command of thousands of assignments is no script worth vetting
        assigned.append(_pair(leading.group()))
        position = leading.end()
    rest = command[position:]
    word = _WORD.match(rest)
    if word is None:
        return assigned  # assignments only (or an empty command)
    command_word = word.group(1)
    if _PLAIN_WORD.fullmatch(command_word) is None or command_word in _SETTERS:
        return None
    if command_word == "export":
        words = rest[word.end() :].split()
        if len(words) > _MOST_ASSIGNMENTS:
            return None
        exported = [_ASSIGNMENT.fullmatch(w) for w in words]
        if all(e is not None for e in exported):
            return [_pair(e.group()) for e in exported if e is not None]
        if any(w.startswith("-") for w in words):
            return None  # export -n / -f change what a name is
        return []  # export NAME (no value): the value stays what it was
    return []  # a prefix assignment binds only for that command: not the line's


def _pair(text: str) -> tuple[str, str]:
    name, _, value = text.strip().partition("=")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return name, value


def _certain(line: str, offsets: dict[str, int]) -> set[str]:
    """The names of `offsets` (name -> offset of its command) that `line` assigns once and does
    not use before that offset (two passes over the line, each linear, whatever it holds)."""
    assignments = Counter(m.group(1) for m in _NAME_ASSIGNED.finditer(line))
    first_use: dict[str, int] = {}
    for use in _NAME_USED.finditer(line):
        first_use.setdefault(use.group(1), use.start())
    return {
        name
        for name, offset in offsets.items()
        if assignments[name] == 1 and first_use.get(name, offset + 1) > offset
    }
