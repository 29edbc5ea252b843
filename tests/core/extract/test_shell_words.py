"""The linear shell-line splitter reads lines exactly as ``shlex.split`` does (red team 4, F2)."""

from __future__ import annotations

import random
import shlex
import time

import pytest

from exportgate.core.extract.shell_words import split_words


def _shlex(line: str) -> list[str] | None:
    try:
        return shlex.split(line)
    except ValueError:
        return None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "vllm serve meta-llama/Llama-3.1-8B --port 8000",
        "python -m vllm.entrypoints.openai.api_server --model='org/m' --dtype auto",
        'sh -c "vllm serve \\"$MODEL\\" --tensor-parallel-size 2"',
        "a'b c'd \"e f\"g h\\ i",
        "'' \"\" x",
        'in "double \\q and \\\\ and \\"" out',
        "tabs\tand\nnewlines\r\nsplit",
        "unclosed 'quote",
        'unclosed "quote',
        "trailing backslash \\",
    ],
)
def test_split_words_reads_lines_as_shlex_does(line: str) -> None:
    assert split_words(line) == _shlex(line)


def test_split_words_agrees_with_shlex_on_random_lines() -> None:
    rng = random.Random(4)
    alphabet = "ab \t\n'\"\\$-="
    for _ in range(5000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert split_words(line) == _shlex(line), repr(line)


@pytest.mark.parametrize(
    "line",
    [
        "a " + "x" * 960_000,
        "a '" + "x" * 960_000 + "'",
        'a "' + "x" * 960_000 + '"',
        "a '" + "x" * 960_000,  # never closed
    ],
)
def test_one_long_word_is_split_in_linear_time(line: str) -> None:
    began = time.perf_counter()
    split_words(line)
    assert time.perf_counter() - began < 1.0  # 12 s with shlex
