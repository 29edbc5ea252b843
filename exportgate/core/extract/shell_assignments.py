"""Variables a shell line sets to a literal before it uses them (``M=org/name; vllm serve $M``).

A container started with ``sh -c "..."`` often names its model in the script itself. Without
this, the model reader would see ``$M`` as a variable set at run time and judge it as the most
restrictive model: an open model refused to a restricted tenant. A name is read from the script
only when its value there is certain wherever the line uses it:

* it is assigned exactly once, in a statement made only of assignments (``M=x``, ``export
  M=x``, ``M=x N=y``), and every statement before that one is a simple command: statements are
  separated by ``;`` and newlines outside quotes, and a statement with ``&&``, ``||``, a pipe,
  ``&``, parentheses, braces, a command substitution, a here-document, a comment or a compound
  command (``if``, ``case``, ``for`` ...) ends the part of the line whose assignments are read,
  since what follows it may not run, run in a subshell, or be no command at all;
* its value is literal: no ``$``, backquote or backslash, quoted or bare;
* nothing in the line can set variables out of sight (``source`` or ``.``, ``eval``, ``read``,
  ``declare``, ``typeset``, ``local``, ``readonly``, ``unset``, ``getopts``, ``mapfile``,
  ``readarray``, ``printf``, ``let``, ``for``, ``select``): then no name is read at all;
* no use of it (``$M``, ``${M}``) comes before the assignment;
* it is set within the line's first `MAX_SCRIPT_STATEMENTS` statements, and is one of the
  first `MAX_SCRIPT_VARIABLES` variables set there.

A prefix assignment (``M=x vllm serve $M``) is not one: the shell expands ``$M`` before it
applies ``M=x`` to the command. Anything else leaves the variable to the container's
environment, as before (set at run time when the environment does not say).

Every pattern is possessive, and with those two caps the line is read a bounded number of times,
so the work is linear in the line whatever it holds.
"""

from __future__ import annotations

import re

from exportgate.core.limits import MAX_SCRIPT_STATEMENTS, MAX_SCRIPT_VARIABLES

# One statement: everything up to a ";" or newline outside quotes (possessive: no backtracking).
_STATEMENT = re.compile(r"""(?:[^;\n'"\\]++|'[^']*+'|"(?:[^"\\]++|\\[\s\S])*+"|\\[\s\S])*+""")
_LITERAL = r"""(?:'[^']*+'|"[^"$`\\]*+"|[^\s'"$`\\;&|<>(){}]*+)"""
_ASSIGNMENTS_ONLY = re.compile(
    rf"""\s*+(?:export\s++)?(?:[A-Za-z_][A-Za-z0-9_]*+={_LITERAL}(?:\s++|$))++"""
)
# Longer names are no model variable anyone writes, and each candidate's name is compiled into
# the patterns of `_certain`: such a name is left to the environment.
_LONGEST_NAME = 128
_ASSIGNMENT = re.compile(rf"""([A-Za-z_][A-Za-z0-9_]*+)=({_LITERAL})""")
# What ends the part of a line whose assignments are read (see the module docstring).
# A here-document's lines and a comment's text (which may hold ";") are no statements.
_COMPOUND = re.compile(r"""&&|\|\||[|&(){}`]|\$\(|<<|(?:^|\s)#""")
_KEYWORD = re.compile(
    r"""\s*+(?:if|then|else|elif|fi|for|while|until|do|done|case|esac|select|function|\[\[|!)"""
    r"""(?![^\s;])"""
)
# Commands that set variables in ways this reader cannot follow, anywhere in the line.
_HIDDEN_SETTERS = re.compile(
    r"""(?<![^\s;&|(){}`])(?:source|\.|eval|read|declare|typeset|local|readonly|unset|getopts|"""
    r"""mapfile|readarray|printf|let|for|select)(?![^\s;&|(){}`])"""
)


def literal_assignments(line: str) -> dict[str, str]:
    """name -> literal value of each variable `line` sets before using it (module docstring)."""
    if "=" not in line or _HIDDEN_SETTERS.search(line) is not None:
        return {}
    candidates: dict[str, tuple[str, int]] = {}  # name -> (value, offset of its statement)
    position = 0
    for _ in range(MAX_SCRIPT_STATEMENTS):
        if position > len(line):
            break
        match = _STATEMENT.match(line, position)
        assert match is not None  # the pattern matches the empty string
        end = match.end()
        if end < len(line) and line[end] not in ";\n":
            return {}  # an unclosed quote or a trailing backslash: no line a shell would run
        statement = match.group()
        if _COMPOUND.search(statement) is not None or _KEYWORD.match(statement) is not None:
            break  # what follows may not run, or run elsewhere: read no further assignments
        if _ASSIGNMENTS_ONLY.fullmatch(statement) is not None:
            for assignment in _ASSIGNMENT.finditer(statement):
                if len(candidates) >= MAX_SCRIPT_VARIABLES:
                    break
                name, value = assignment.group(1), _unquote(assignment.group(2))
                if len(name) <= _LONGEST_NAME:
                    candidates.setdefault(name, (value, position))
        position = end + 1
    return {
        name: value for name, (value, offset) in candidates.items() if _certain(line, name, offset)
    }


def _certain(line: str, name: str, offset: int) -> bool:
    """Whether `name` is assigned once in `line` and not used before `offset` (three searches,
    each linear, whatever the line holds)."""
    assignment = re.compile(rf"(?<![\w$-]){name}=")
    first = assignment.search(line)
    if first is None or assignment.search(line, first.end()) is not None:
        return False
    use = re.compile(rf"\${{?+{name}(?![A-Za-z0-9_])").search(line)
    return use is None or use.start() > offset


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
