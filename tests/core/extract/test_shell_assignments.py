"""Variables a shell line sets itself: read only where the value is certain (shell_assignments)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import extract_workload
from exportgate.core.extract.model_names import is_unreadable
from exportgate.core.extract.shell_assignments import literal_assignments
from exportgate.core.limits import MAX_SCRIPT_STATEMENTS
from exportgate.core.types import Action
from tests.core.builders import NOW, make_tenant

ENGINE = PolicyEngine.build()
RESTRICTED = make_tenant("nimbus", incorporation="SG", parent="CN")
QWEN = "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"MODEL_ID={QWEN}; vllm serve $MODEL_ID", {"MODEL_ID": QWEN}),
        (f'export MODEL={QWEN}\nvllm serve "$MODEL" --port 8000', {"MODEL": QWEN}),
        (f"cd /app; M='{QWEN}' N=x; vllm serve ${{M}}", {"M": QWEN, "N": "x"}),
        (f'M="{QWEN}"; exec vllm serve $M', {"M": QWEN}),
    ],
    ids=["semicolon", "export-newline", "after-a-command-two-at-once", "double-quoted"],
)
def test_a_literal_set_before_use_is_read(line: str, expected: dict[str, str]) -> None:
    assert literal_assignments(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        # A prefix assignment: the shell expands $M before it applies M=... to the command.
        f"M={QWEN} vllm serve $M",
        # It may not run: the variable may come from the environment instead.
        f"[ -f /cfg ] && M={QWEN}; vllm serve $M",
        f"test -f /cfg || M={QWEN}; vllm serve $M",
        f"if [ -f /cfg ]; then M={QWEN}; fi; vllm serve $M",
        f"(M={QWEN}); vllm serve $M",
        f"{{ M={QWEN}; }}; vllm serve $M",
        # Not a statement: a here-document's line, a comment's text.
        f"cat <<EOF > /tmp/x\nM={QWEN}\nEOF\nvllm serve $M",
        f"# setup; M={QWEN}\nvllm serve $M",
        # Used before it is set.
        f"vllm serve $M; M={QWEN}",
        # Set twice, or out of sight.
        f"M={QWEN}; M=other/model; vllm serve $M",
        f"M={QWEN}; . /cfg/env; vllm serve $M",
        f"M={QWEN}; source /cfg/env; vllm serve $M",
        f'M={QWEN}; eval "$(cat /cfg)"; vllm serve $M',
        f"M={QWEN}; read M < /cfg; vllm serve $M",
        f"M={QWEN}; unset M; vllm serve $M",
        f"M={QWEN}; for M in a b; do vllm serve $M; done",
        # Not a literal.
        "M=$(cat /cfg/model); vllm serve $M",
        "M=`cat /cfg/model`; vllm serve $M",
        "M=$OTHER; vllm serve $M",
        'M="$OTHER"; vllm serve $M',
        "M=a\\b; vllm serve $M",
        # No line a shell would run.
        f'M="{QWEN}; vllm serve $M',
    ],
)
def test_a_value_that_is_not_certain_is_not_read(line: str) -> None:
    assert "M" not in literal_assignments(line)


def _pod(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": [{"name": "c", "image": "vllm/vllm-openai", **container}]},
    }


def test_a_script_that_names_its_model_is_judged_by_that_model() -> None:
    # Session 12's false-denial sweep: this was read as a model set at run time (the most
    # restrictive) and refused to a restricted tenant.
    script = f"MODEL_ID={QWEN}\nexec vllm serve $MODEL_ID --port 8000"
    workload = extract_workload(_pod({"command": ["/bin/sh", "-c", script]}))
    assert [m.reference for m in workload.models] == [QWEN]
    assert ENGINE.evaluate(workload, RESTRICTED, NOW).action is Action.ALLOW


def test_the_script_wins_over_the_environment_only_after_it_sets_the_variable() -> None:
    env = [{"name": "M", "value": "meta-llama/Llama-3.1-8B-Instruct"}]
    script = f"M={QWEN}; vllm serve $M"
    workload = extract_workload(_pod({"env": env, "command": ["sh", "-c", script]}))
    assert [m.reference for m in workload.models] == [QWEN]


@pytest.mark.parametrize(
    "script",
    [
        f'[ -n "$M" ] || M={QWEN}; vllm serve $M',
        f"M={QWEN} vllm serve $M",
        f"M={QWEN}; . /cfg/model.env; vllm serve $M",
    ],
)
def test_a_model_the_environment_may_still_set_stays_unidentified(script: str) -> None:
    # envFrom could set M to any model: the script's literal is not certain, so the model is
    # what it was before (set at run time), decided by the most restrictive rule.
    container = {"envFrom": [{"configMapRef": {"name": "llm"}}], "command": ["sh", "-c", script]}
    workload = extract_workload(_pod(container))
    assert any(is_unreadable(m.reference) or "$(" in m.reference for m in workload.models)
    assert ENGINE.evaluate(workload, RESTRICTED, NOW).action is not Action.ALLOW


@pytest.mark.parametrize(
    "line",
    [
        "M=x;" * 40_000 + "vllm serve $M",
        "M" * 200_000 + "=x; vllm serve $M",
        "A=x " * 50_000 + "; vllm serve $A",
        "'" + ";" * 200_000,
        "M=x; echo " + "${M}" * 40_000,
        "a=" + "\\;" * 100_000,
    ],
    ids=["many-statements", "long-name", "many-assignments", "unclosed", "many-uses", "escapes"],
)
def test_reading_is_linear_in_the_line(line: str) -> None:
    began = time.perf_counter()
    literal_assignments(line)
    assert time.perf_counter() - began < 0.5


def test_a_line_of_more_commands_than_are_vetted_is_not_read() -> None:
    # One of the commands past the cap could change anything: the whole line is left alone.
    filler = "cd /app; " * (MAX_SCRIPT_STATEMENTS - 2)
    assert literal_assignments(f"{filler}M={QWEN}; vllm serve $M") == {"M": QWEN}
    assert literal_assignments(f"cd /app; {filler}M={QWEN}; vllm serve $M") == {}


# Red team, thirteenth session: each line makes a real shell (dash or bash) run the model the
# environment (envFrom) names, not the literal the line shows. None may be read.
SHELL_EVASIONS = {
    "command-word-from-the-environment": f"M={QWEN}; $SETUP; litellm --model $M",
    "alias-export": f"alias export=:\nexport M={QWEN}\nlitellm --model $M",
    "disabled-builtin": f"enable -n export; export M={QWEN}; litellm --model $M",
    "quoted-eval": f'M={QWEN}; "eval" M\\=anthropic/claude-sonnet-4-5; litellm --model $M',
    "escaped-eval": f"M={QWEN}; e\\val M=anthropic/claude-sonnet-4-5; litellm --model $M",
    "quoted-read": f'M={QWEN}\n"read" M < /cfg/model\nlitellm --model $M',
    "debug-trap": f'trap "M""=anthropic/claude-sonnet-4-5" DEBUG; M={QWEN}; litellm --model $M',
    "ansi-c-quote": f"echo $'x\\'; M={QWEN}; '\\'\nlitellm --model $M",
    "ifs": f"IFS=@; M=anthropic/claude-sonnet-4-5@{QWEN}; litellm --model $M",
    "glob": "M=/models/*; litellm --model $M",
    "tilde": "M=~/claude-sonnet-4-5; litellm --model $M",
    "arithmetic-subscript": f"M={QWEN}; echo ${{a[M=1]}}; litellm --model $M",
    "arithmetic": f"M={QWEN}; echo $((M=1)); litellm --model $M",
    "background-assignment": f"M={QWEN} & litellm --model $M",
    "piped-assignment": f"M={QWEN} | cat; litellm --model $M",
    "function": f"f() {{ M=x; }}; M={QWEN}; f; litellm --model $M",
    "command-builtin": f"M={QWEN}; command eval M=x; litellm --model $M",
}


@pytest.mark.parametrize("line", SHELL_EVASIONS.values(), ids=SHELL_EVASIONS.keys())
def test_a_line_that_could_change_the_variable_out_of_sight_is_not_read(line: str) -> None:
    assert "M" not in literal_assignments(line)


@pytest.mark.parametrize(
    "env",
    [
        {"envFrom": [{"configMapRef": {"name": "llm"}}]},
        {"env": [{"name": "BASH_ENV", "value": "/cfg/setup.sh"}]},
        {"env": [{"name": "ENV", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]},
        {"env": [{"name": "BASH_FUNC_export%%", "value": "() { :; }"}]},
        {"env": [{"name": "IFS", "value": "@"}]},
    ],
    ids=["env-from", "bash-env", "env-file", "exported-function", "ifs"],
)
def test_a_shell_starting_in_an_environment_the_manifest_does_not_show_is_not_trusted(
    env: dict[str, Any],
) -> None:
    # bash runs $BASH_ENV's file before the script (it may make M readonly); envFrom could
    # supply any of these: the script's literal is then not certain.
    script = f"M={QWEN}; vllm serve $M"
    workload = extract_workload(_pod({**env, "command": ["bash", "-c", script]}))
    assert [m.reference for m in workload.models] != [QWEN]
    assert ENGINE.evaluate(workload, RESTRICTED, NOW).action is not Action.ALLOW


def test_a_tilde_is_the_home_directory() -> None:
    # Red team: `litellm --model ~` with HOME set to a hosted model's name ran that model.
    env = [{"name": "HOME", "value": "anthropic/claude-sonnet-4-5"}]
    container = {"env": env, "command": ["sh", "-c", "litellm --model ~"]}
    [model] = extract_workload(_pod(container)).models
    assert model.reference == "anthropic/claude-sonnet-4-5"
    quoted = {"env": env, "command": ["sh", "-c", "litellm --model '~'"]}
    assert [m.reference for m in extract_workload(_pod(quoted)).models] != [
        "anthropic/claude-sonnet-4-5"
    ]
