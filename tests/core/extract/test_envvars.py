"""The kubelet's $(VAR) expansion, and a shell's $VAR, as exportgate reproduces them."""

from __future__ import annotations

import time

import pytest

from exportgate.core.extract.envvars import (
    Budget,
    Unreadable,
    container_env,
    environment,
    expand,
)
from exportgate.core.limits import MAX_EXPANDED_CHARS, MAX_EXPANSION_CHARS

ENV = {"A": "alpha", "B": "$(A)-beta", "SECRET": None}


@pytest.mark.parametrize(
    ("text", "shell", "expanded"),
    [
        ("$(A)", False, "alpha"),
        ("x-$(A)-y", False, "x-alpha-y"),
        ("$(MISSING)", False, "$(MISSING)"),  # the kubelet leaves unknown references as written
        ("$(SECRET)", False, "$(SECRET)"),  # known to exist, value unreadable offline
        ("$$(A)", False, "$(A)"),  # escaped
        ("$$$(A)", False, "$alpha"),
        ("$A", False, "$A"),  # not kubelet syntax
        ("$A ${A}", True, "alpha alpha"),
        ("$SECRET", True, "$(SECRET)"),  # kept in kubelet form so the reader can name it
        ("no variables", True, "no variables"),
    ],
)
def test_expand(text: str, shell: bool, expanded: str) -> None:
    assert expand(text, ENV, shell=shell) == expanded


def test_env_values_see_only_earlier_variables() -> None:
    found = container_env(
        [
            {"name": "LATER", "value": "$(FIRST)"},
            {"name": "FIRST", "value": "one"},
            {"name": "AFTER", "value": "$(FIRST)-$(LATER)"},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        "spec.containers[0].env",
    )
    assert [(v.name, v.value, v.field) for v in found] == [
        ("LATER", "$(FIRST)", "spec.containers[0].env[0].value"),
        ("FIRST", "one", "spec.containers[0].env[1].value"),
        ("AFTER", "one-$(FIRST)", "spec.containers[0].env[2].value"),
        ("S", None, "spec.containers[0].env[3].valueFrom"),
    ]
    assert environment(found)["S"] is None


# --- bounded expansion (red team 4, F1) --------------------------------------------------------


def _doubling(top: int, base: int = 8) -> list[dict[str, str]]:
    """A0 = 8 characters, An = $(An-1)$(An-1): An is 8 * 2**n characters from ~38 bytes each."""
    env = [{"name": "A0", "value": "x" * base}]
    env += [{"name": f"A{i}", "value": f"$(A{i - 1})$(A{i - 1})"} for i in range(1, top + 1)]
    return env


def test_expansion_past_the_value_cap_is_unreadable() -> None:
    long = "y" * (MAX_EXPANDED_CHARS // 2 + 1)
    assert expand("$(L)", {"L": long}) == long  # within the cap
    with pytest.raises(Unreadable, match="MAX_EXPANDED_CHARS"):
        expand("$(L)$(L)", {"L": long})
    with pytest.raises(Unreadable, match="MAX_EXPANDED_CHARS"):
        expand("$L $L", {"L": long}, shell=True)
    # Literal text is not counted: a long script with a short substitution stays readable.
    script = "echo " * MAX_EXPANDED_CHARS + "$(A)"
    assert expand(script, ENV).endswith("alpha")


def test_expansions_of_one_container_share_a_budget() -> None:
    value = "z" * (MAX_EXPANDED_CHARS - 1)
    budget = Budget()
    for _ in range(MAX_EXPANSION_CHARS // len(value)):
        expand("$(V)", {"V": value}, budget=budget)
    with pytest.raises(Unreadable, match="MAX_EXPANSION_CHARS"):
        expand("$(V)", {"V": value}, budget=budget)


def test_a_doubling_chain_stops_at_the_cap_and_its_values_are_unreadable() -> None:
    began = time.perf_counter()
    found = container_env(_doubling(40), "spec.containers[0].env")  # 8 TiB unbounded
    assert time.perf_counter() - began < 1.0
    values = {v.name: v.value or "" for v in found}
    assert len(values["A11"]) == MAX_EXPANDED_CHARS  # 8 * 2**11: exactly the cap
    assert values["A12"].startswith("$(unreadable the variable A12 at spec.containers[0].env[12]")
    assert "MAX_EXPANDED_CHARS" in values["A12"]
    # Later variables name an unreadable one, so they are unreadable too (and stay short).
    assert values["A40"].startswith("$(unreadable the variable A40")
    assert "it names A39, whose value could not be read" in values["A40"]
    assert max(len(v) for v in values.values()) == MAX_EXPANDED_CHARS
