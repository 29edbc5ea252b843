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


def container_env(variables: object, field: str) -> list[tuple[str, str | None, str]]:
    """``(name, value, field)`` for each variable, values expanded as the kubelet would.

    `value` is None for ``valueFrom`` variables; `field` points at the value (or valueFrom).
    """
    found: list[tuple[str, str | None, str]] = []
    known: dict[str, str | None] = {}
    for index, item in enumerate(expect_list(variables, field)):
        where = join_index(field, index)
        variable = expect_mapping(item, where)
        name = expect_string(variable.get("name"), join_key(where, "name"))
        raw = variable.get("value")
        if raw is None:
            value: str | None = None
            at = join_key(where, "valueFrom") if variable.get("valueFrom") is not None else where
        else:
            value = expand(expect_string(raw, join_key(where, "value")), known)
            at = join_key(where, "value")
        known[name] = value
        found.append((name, value, at))
    return found


def environment(found: list[tuple[str, str | None, str]]) -> dict[str, str | None]:
    """The variables visible to ``command`` and ``args`` (the last definition wins)."""
    return {name: value for name, value, _ in found}
