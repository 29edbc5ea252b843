"""A container's environment as the kubelet builds it, and the ``$(VAR)`` references it expands.

The kubelet expands ``$(VAR)`` in a container's ``command``, ``args`` and ``env[].value`` from
the container's own variables (for ``env``, only those defined earlier in the list); ``$$(VAR)``
is an escaped literal, and a reference to a variable it cannot resolve is left as written
(Kubernetes API reference, EnvVar.value and Container.args). A shell started with ``sh -c``
then expands ``$VAR`` and ``${VAR}`` from the same environment, so those are expanded too.

Values exportgate cannot know offline (``valueFrom`` a Secret, ConfigMap or field, ``envFrom``)
stay unresolved: the reference keeps its ``$(VAR)`` and the model reader reports it as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from exportgate.core.extract.paths import (
    expect_list,
    expect_mapping,
    expect_string,
    join_index,
    join_key,
)

_KUBELET = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_SHELL = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")

Environment = Mapping[str, str | None]
"""Variable -> value; None when the value comes from somewhere exportgate cannot read."""


def expand(text: str, env: Environment, *, shell: bool = False) -> str:
    """`text` with every resolvable ``$(VAR)`` (and, for shell lines, ``$VAR``) replaced."""
    if "$" not in text:
        return text

    def kubelet(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"  # kubelet escape: "$$(VAR)" stays a literal "$(VAR)"
        value = env.get(match.group(1))
        return match.group(0) if value is None else value

    expanded = _KUBELET.sub(kubelet, text)
    if not shell:
        return expanded

    def shell_var(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        value = env.get(name)
        # Unknown to us: keep it in kubelet form, so the reader says which variable it was.
        return f"$({name})" if value is None else value

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


def container_env(variables: object, field: str) -> list[Variable]:
    """Each variable of a container's ``env`` list, values expanded as the kubelet would."""
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
            value = expand(raw, known) if "$" in raw else raw
        known[name] = value
        found.append(Variable(name, value, field, index, "valueFrom" in variable))
    return found


def _at(field: str, index: int) -> str:
    return join_index(field, index)


def environment(found: list[Variable]) -> dict[str, str | None]:
    """The variables visible to ``command`` and ``args`` (the last definition wins)."""
    return {variable.name: variable.value for variable in found}
