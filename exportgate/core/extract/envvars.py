"""A container's environment as the kubelet builds it, and the ``$(VAR)`` references it expands.

The kubelet expands ``$(VAR)`` in a container's ``command``, ``args`` and ``env[].value`` from
the container's own variables (for ``env``, only those defined earlier in the list); ``$$(VAR)``
is an escaped literal, and a reference to a variable it cannot resolve is left as written
(Kubernetes API reference, EnvVar.value and Container.args). A shell started with ``sh -c``
then expands ``$VAR`` and ``${VAR}`` from the same environment, so those are expanded too, and
from what the script itself sets to a literal before using it (`shell_assignments`).

Values exportgate cannot know offline (``valueFrom`` a Secret, ConfigMap or field, ``envFrom``)
stay unresolved: the reference keeps its ``$(VAR)`` and the model reader reports it as unknown.

Expansion is bounded (`MAX_EXPANDED_CHARS` per value, `MAX_EXPANSION_CHARS` per object, both
counting only substituted text): each variable may name the previous one twice, so unbounded
expansion of a 1 KiB manifest takes minutes and gigabytes. A value past a cap is `Unreadable`;
a variable holding one is stored as an `UNREADABLE` reference, and any text naming that variable
is unreadable too, so the model reader decides it as an unidentified model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from exportgate.core.extract.model_names import UNREADABLE, is_unreadable
from exportgate.core.extract.paths import (
    expect_list,
    expect_mapping,
    expect_string,
    join_index,
    join_key,
)
from exportgate.core.extract.shell_assignments import literal_assignments
from exportgate.core.limits import MAX_EXPANDED_CHARS, MAX_EXPANSION_CHARS

_KUBELET = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
# An unquoted tilde at the start of a word (or after = or : in one), alone or before a "/".
_TILDE = re.compile(r"(?<![^\s=:])~(?=[/\s:]|$)")
_SHELL = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")

Environment = Mapping[str, str | None]
"""Variable -> value; None when the value comes from somewhere exportgate cannot read."""


class Unreadable(Exception):
    """An expansion past `MAX_EXPANDED_CHARS` or `MAX_EXPANSION_CHARS`, or one that names a
    variable whose value was; `why` says which, for the tenant."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why

    def reference(self, what: str) -> str:
        """The model reference standing for `what` (a variable, an argument), unread."""
        return UNREADABLE.format(what=f"{what} ({self.why})")


# Not documents.embedded_budget, on purpose: past this the value is unreadable, not refused.
class Budget:
    """Characters expansion may still substitute (`MAX_EXPANSION_CHARS`)."""

    __slots__ = ("left",)

    def __init__(self, left: int = MAX_EXPANSION_CHARS) -> None:
        self.left = left


_OBJECT_BUDGET: ContextVar[Budget | None] = ContextVar("expansion_budget", default=None)


@contextmanager
def object_expansion_budget() -> Iterator[None]:
    """One `MAX_EXPANSION_CHARS` budget for every container of the object being extracted:
    with one per container, a 13 KB Pod of 24 containers expanded 24 x 64 KiB of words, and
    reading them took 70 ms on the webhook's event loop (red team, session 12)."""
    token = _OBJECT_BUDGET.set(Budget())
    try:
        yield
    finally:
        _OBJECT_BUDGET.reset(token)


def current_budget() -> Budget:
    """The budget of the object being extracted, or a fresh one outside an extraction."""
    return _OBJECT_BUDGET.get() or Budget()


def expand(
    text: str,
    env: Environment,
    *,
    shell: bool = False,
    budget: Budget | None = None,
    script: bool = False,
) -> str:
    """`text` with every resolvable ``$(VAR)`` (and, for shell lines, ``$VAR``) replaced.

    Raises `Unreadable` when the substitutions would pass `MAX_EXPANDED_CHARS`, or the
    container's `budget`, or name a variable whose own value was unreadable. The check runs
    before each substitution, so the work is bounded by the text plus the caps.

    For a shell line (`shell`), a word-initial ``~`` is ``$HOME``, and with `script` the
    literals the line itself sets before using them count (`shell_assignments`)."""
    if "$" not in text and not (shell and "~" in text):
        return text
    spent = Budget(0)  # characters substituted into this text so far
    left = budget if budget is not None else Budget()

    def substitute(name: str, value: str) -> str:
        if is_unreadable(value):
            raise Unreadable(f"it names {name}, whose value could not be read")
        spent.left += len(value)
        if spent.left > MAX_EXPANDED_CHARS:
            raise Unreadable(
                f"its $(VAR) expansion passes MAX_EXPANDED_CHARS, {MAX_EXPANDED_CHARS} "
                "substituted characters"
            )
        if len(value) > left.left:
            raise Unreadable(
                f"the container's $(VAR) expansions pass MAX_EXPANSION_CHARS, "
                f"{MAX_EXPANSION_CHARS} substituted characters"
            )
        left.left -= len(value)
        return value

    def kubelet(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"  # kubelet escape: "$$(VAR)" stays a literal "$(VAR)"
        value = env.get(match.group(1))
        return match.group(0) if value is None else substitute(match.group(1), value)

    expanded = _KUBELET.sub(kubelet, text)
    if not shell:
        return expanded

    # A word-initial tilde is the shell's $HOME (``--model ~/m``, ``M=~``): read as one.
    expanded = _TILDE.sub("${HOME}", expanded)
    # What the script sets itself before using it (``M=org/name; vllm serve $M``) wins over
    # the environment, as in the shell; only the shell's expansion sees it, not the kubelet's,
    # and only when the caller trusts the environment the shell starts in (`script`).
    local = literal_assignments(expanded) if script else {}

    def shell_var(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        value = local.get(name)
        if value is None:
            value = env.get(name)
        # Unknown to us: keep it in kubelet form, so the reader says which variable it was.
        return f"$({name})" if value is None else substitute(name, value)

    return _SHELL.sub(shell_var, expanded)


class Variable(NamedTuple):
    """One ``env`` entry: its value as the kubelet would expand it (None for ``valueFrom``)."""

    name: str
    value: str | None
    list_field: str
    position: int  # in the env list
    from_ref: bool  # set with valueFrom

    @property
    def field(self) -> str:
        """Where the value is written (spelled out only when a reference is reported)."""
        where = join_index(self.list_field, self.position)
        if self.value is not None:
            return join_key(where, "value")
        return join_key(where, "valueFrom") if self.from_ref else where


def container_env(variables: object, field: str, budget: Budget | None = None) -> list[Variable]:
    """Each variable of a container's ``env`` list, values expanded as the kubelet would
    (within the container's `budget`). A value that cannot be expanded within the caps is an
    `UNREADABLE` reference saying which variable it was."""
    budget = budget if budget is not None else current_budget()
    found: list[Variable] = []
    known: dict[str, str | None] = {}
    for index, item in enumerate(expect_list(variables, field)):
        # Field paths are built only for an error, and plain dicts skip the ABC check: this
        # runs for every variable of every container admitted.
        variable = item if type(item) is dict else expect_mapping(item, _at(field, index))
        name = variable.get("name")
        if type(name) is not str:
            name = expect_string(name, join_key(_at(field, index), "name"))
        raw = variable.get("value")
        value: str | None = None
        if raw is not None:
            if type(raw) is not str:
                raw = expect_string(raw, join_key(_at(field, index), "value"))
            value = raw
            if "$" in raw:
                try:
                    value = expand(raw, known, budget=budget)
                except Unreadable as exc:
                    where = join_key(_at(field, index), "value")
                    value = exc.reference(f"the variable {name} at {where}")
        known[name] = value
        found.append(Variable(name, value, field, index, "valueFrom" in variable))
    return found


def _at(field: str, index: int) -> str:
    return join_index(field, index)


def environment(found: list[Variable]) -> dict[str, str | None]:
    """The variables visible to ``command`` and ``args`` (the last definition wins)."""
    return {variable.name: variable.value for variable in found}
