"""The kubelet's $(VAR) expansion, and a shell's $VAR, as exportgate reproduces them."""

from __future__ import annotations

import pytest

from exportgate.core.extract.envvars import container_env, environment, expand

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
