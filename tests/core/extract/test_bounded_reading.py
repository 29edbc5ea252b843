"""Red team 4: small objects that made reading model references take seconds (or gigabytes).

Every object here is far below `INLINE_BODY_BYTES`, so the webhook extracts it on the event loop
every tenant shares, and names at most one model, so the sidecar evaluates it on its own loop.
Each must be decided at once (the bounds are coarse guards against the exponential and quadratic
blow-ups; speed itself is measured by the benchmarks) and fail closed: what could not be read is
an unidentified model, denied to a restricted tenant and admitted to an ordinary one.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from exportgate.core.decision import Decision
from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import extract_workload
from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.limits import (
    INLINE_BODY_BYTES,
    MAX_EXPANDED_CHARS,
    MAX_MODEL_FILES,
    MAX_MODEL_REFERENCE_CHARS,
)
from exportgate.core.types import Action, Workload
from tests.core.builders import NOW, make_tenant

ENGINE = PolicyEngine.build()
CHINA = make_tenant("nimbus", incorporation="CN")
SINGAPORE = make_tenant("acme", incorporation="SG")
BOUND_S = 1.0  # each took from 1.7 s to minutes before the bounds


def _pod(**container: Any) -> dict[str, Any]:
    """A Pod without accelerators, so its decision is about its model alone."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": [{"name": "c", "image": "busybox", **container}]},
    }


def _doubling(top: int) -> list[dict[str, str]]:
    """A0 = 8 characters, An = $(An-1)$(An-1): 8 * 2**n characters from ~38 bytes each."""
    env = [{"name": "A0", "value": "x" * 8}]
    env += [{"name": f"A{i}", "value": f"$(A{i - 1})$(A{i - 1})"} for i in range(1, top + 1)]
    return env


def _decide(obj: dict[str, Any]) -> tuple[Workload, Decision, Decision]:
    """Extract and evaluate `obj` (a small one: inline on both loops) within the bound."""
    assert len(orjson.dumps(obj)) <= INLINE_BODY_BYTES
    began = time.perf_counter()
    workload = extract_workload(obj)
    restricted = ENGINE.evaluate(workload, CHINA, NOW)
    assert time.perf_counter() - began < BOUND_S
    return workload, restricted, ENGINE.evaluate(workload, SINGAPORE, NOW)


def _unidentified(obj: dict[str, Any], *phrases: str) -> None:
    workload, restricted, ordinary = _decide(obj)
    [model] = workload.models
    assert model.reference.startswith("$(unreadable "), model.reference
    for phrase in phrases:
        assert phrase in model.reference
    assert restricted.action is Action.DENY  # the most restrictive reading
    assert "could not be read" in restricted.violations[0].message
    assert ordinary.action is Action.ALLOW


# --- F1: $(VAR) expansion ---------------------------------------------------------------------


def test_a_doubling_chain_alone_is_read_at_once_and_names_nothing() -> None:
    workload, restricted, _ = _decide(_pod(env=_doubling(30)))  # 8 GiB unbounded
    assert workload.models == ()
    assert restricted.action is Action.ALLOW


def test_a_model_variable_naming_a_doubling_chain_is_an_unidentified_model() -> None:
    env = [*_doubling(30), {"name": "MODEL_ID", "value": "$(A30)"}]
    _unidentified(
        _pod(image="vllm/vllm-openai", env=env),
        "the variable MODEL_ID at spec.containers[0].env[31].value",
        "it names A30",
    )


def test_a_model_variable_past_the_cap_says_which_cap() -> None:
    env = [*_doubling(10), {"name": "MODEL_ID", "value": "org/$(A10)$(A10)$(A10)"}]
    _unidentified(_pod(image="vllm/vllm-openai", env=env), "MAX_EXPANDED_CHARS")


def test_a_shell_line_expanding_a_doubling_chain_is_an_unidentified_model() -> None:
    # 55 s at n=18 before: the expanded line went through quadratic shlex too.
    obj = _pod(env=_doubling(30), command=["sh", "-c"], args=["echo $A30 --model x"])
    _unidentified(obj, "the command line at spec.containers[0].args[0]")


def test_linear_amplification_in_a_shell_line_is_bounded() -> None:
    # One 8 KB variable named 1600 times in 13 KB: 7 s before.
    obj = _pod(
        env=[{"name": "A", "value": "w " * 4000}],
        command=["sh", "-c"],
        args=["echo " + " $A" * 1600],
    )
    _unidentified(obj, "the command line at spec.containers[0].args[0]", "MAX_EXPANDED_CHARS")


def test_a_model_flag_whose_value_cannot_be_expanded_is_an_unidentified_model() -> None:
    for args in (["--model", "$(A30)"], ["--model=$(A30)"], ["vllm", "serve", "$(A30)"]):
        _unidentified(_pod(env=_doubling(30), args=args), "the argument at spec.containers[0]")


def test_an_unreadable_argument_that_is_no_model_flag_names_no_model() -> None:
    workload, restricted, _ = _decide(_pod(env=_doubling(30), args=["echo", "$(A30)"]))
    assert workload.models == ()
    assert restricted.action is Action.ALLOW


def test_a_device_variable_naming_an_unreadable_value_is_device_access() -> None:
    env = [*_doubling(30), {"name": "NVIDIA_VISIBLE_DEVICES", "value": "$(A30)"}]
    workload, restricted, _ = _decide(_pod(env=env))
    assert DEVICE_ACCESS in {a.resource for a in workload.accelerators}
    assert restricted.action is Action.DENY


def test_ordinary_expansion_reads_as_before() -> None:
    env = [
        {"name": "ORG", "value": "meta-llama"},
        {"name": "MODEL_ID", "value": "$(ORG)/Llama-3.1-8B-Instruct"},
        {"name": "BIG", "value": "b" * (MAX_EXPANDED_CHARS - 100)},  # long, within the cap
        {"name": "OPTS", "value": "$(BIG) --verbose"},
    ]
    workload = extract_workload(
        _pod(env=env, command=["sh", "-c"], args=["vllm serve $ORG/Llama-3.1-8B --port 8000"])
    )
    assert {m.reference for m in workload.models} == {
        "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama/Llama-3.1-8B",
    }


# --- F2: long words in shell lines ------------------------------------------------------------


@pytest.mark.parametrize("word", ["x" * 960_000, "'" + "x" * 960_000 + "'"])
def test_one_long_word_in_a_shell_line_is_split_in_linear_time(word: str) -> None:
    began = time.perf_counter()
    workload = extract_workload(_pod(args=[f"a {word} --model meta-llama/Llama-3.1-8B"]))
    assert time.perf_counter() - began < BOUND_S  # 12 s with shlex
    assert [m.reference for m in workload.models] == ["meta-llama/Llama-3.1-8B"]


# --- F4: long model references ----------------------------------------------------------------


def test_a_long_slash_separated_reference_is_an_unidentified_model_at_once() -> None:
    # 1.7 s on the sidecar's loop before, and about k**2 / 2 bytes of forms.
    reference = "a/" * 7000 + "x"
    workload, restricted, ordinary = _decide(_pod(image="vllm", args=["--model", reference]))
    assert [m.reference == reference for m in workload.models] == [True]  # kept as written
    assert restricted.action is Action.DENY  # could be any model: the most restrictive
    assert "MAX_MODEL_REFERENCE_CHARS" in restricted.violations[0].message
    assert ordinary.action is Action.ALLOW


def test_a_reference_at_the_length_cap_is_still_read() -> None:
    tail = "/meta-llama/Llama-3.1-8B-Instruct"
    path = "s3://bucket/" + "d/" * ((MAX_MODEL_REFERENCE_CHARS - len(tail) - 12) // 2)
    reference = (path + tail)[-MAX_MODEL_REFERENCE_CHARS:]
    workload, _restricted, _ = _decide(_pod(image="vllm", args=["--model", reference]))
    assert [m.reference for m in workload.models] == [reference]
    resolved = ENGINE.models.resolve(workload.models[0])
    assert resolved.model_id is not None  # identified by its trailing segments


# --- F7: many model file paths ----------------------------------------------------------------


def test_a_flood_of_model_file_paths_is_one_unidentified_model() -> None:
    args: list[str] = []
    for i in range(640):
        args += ["-m", f"/m/x{i}.gguf"]  # 23 ms of catalogue lookups before
    _unidentified(_pod(image="llama", args=args), "MAX_MODEL_FILES")


def test_model_files_within_the_cap_are_read_as_before() -> None:
    args = ["-m", "/models/Llama-4-Scout-Q4_K_M.gguf"]
    for i in range(MAX_MODEL_FILES - 1):
        args += ["-m", f"/m/x{i}.gguf"]
    workload = extract_workload(_pod(image="llama", args=[*args, "-m", "/m/x0.gguf"]))
    assert [m.reference for m in workload.models] == ["/models/Llama-4-Scout-Q4_K_M.gguf"]


def test_words_past_the_command_line_cap_are_an_unidentified_model() -> None:
    # A model flag after the words exportgate reads (4096 per container) was silently missed.
    args = ["x"] * 5000 + ["--model", "claude-sonnet-4"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": [{"name": "c", "image": "app", "args": args}]},
    }
    workload = extract_workload(pod)
    assert any("past its first 4096 words" in m.reference for m in workload.models)
    assert ENGINE.evaluate(workload, CHINA, NOW).action is Action.DENY


def test_the_expansion_budget_is_shared_by_every_container_of_an_object() -> None:
    # With one 64 KiB budget per container, 24 containers of a small Pod expanded 24 x 64 KiB
    # of words and reading them took 70 ms on the webhook's loop: the budget is the object's.
    words = "w " * 2_000  # 4 KB per container: under the per-value and word caps
    containers = [
        {
            "name": f"c{i}",
            "image": "app",
            "env": [{"name": "A", "value": words}],
            "args": ["run $(A) --model claude-sonnet-4"],
        }
        for i in range(24)
    ]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": containers},
    }
    began = time.perf_counter()
    workload = extract_workload(pod)
    assert time.perf_counter() - began < 1.0
    references = [m.reference for m in workload.models]
    assert "claude-sonnet-4" in references  # read while the object's budget lasted
    assert any("could not" in r or r.startswith("$(unreadable") for r in references)
    assert ENGINE.evaluate(workload, CHINA, NOW).action is Action.DENY
