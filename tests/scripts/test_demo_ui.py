"""The demo's narrative: plain text unless colour is wanted, and an honest scorecard."""

from __future__ import annotations

import io

import pytest

from scripts.demo_ui import Console, Scorecard, colour_wanted


def test_plain_output_has_no_escape_codes() -> None:
    out = io.StringIO()
    console = Console(out, colour=False)
    console.heading(1, "Title")
    console.command(["kubectl", "create", "-f", "pod.yaml"], "dev@nimbus.example")
    console.output("Error from server (Forbidden): admission webhook denied the request: no\n")
    console.verdict(True, "H100 Pod: denied", badge="DENY")
    text = out.getvalue()
    assert "\033[" not in text
    assert "== 1. Title" in text
    assert "$ kubectl create -f pod.yaml    # as dev@nimbus.example" in text
    assert "  Error from server (Forbidden)" in text
    assert " [ok] DENY  H100 Pod: denied" in text


def test_colour_marks_denials_red_and_admissions_green() -> None:
    out = io.StringIO()
    console = Console(out, colour=True)
    console.verdict(True, "x", badge="DENY")
    console.verdict(True, "y", badge="ALLOW")
    console.output("pod/infer-t4 created")
    red, green = "\033[1;31m", "\033[1;32m"
    lines = out.getvalue().splitlines()
    assert f"{red}DENY " in lines[0]
    assert f"{green}ALLOW" in lines[1]
    assert f"{green}created" in lines[2]


@pytest.mark.parametrize(
    ("env", "tty", "wanted"),
    [({}, True, True), ({}, False, False), ({"NO_COLOR": "1"}, True, False),
     ({"FORCE_COLOR": "1"}, False, True)],
)  # fmt: skip
def test_colour_follows_the_terminal_and_the_conventions(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tty: bool, wanted: bool
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert colour_wanted(Stream()) is wanted


def test_scorecard_lists_what_did_not_happen() -> None:
    score = Scorecard(Console(io.StringIO(), colour=False))
    score.expect("denied", True)
    score.expect("annotated", False, "no annotation after 90s")
    score.skip("operator steps")
    assert score.failures == ["annotated"]
    assert score.summary() == "1/2 expected outcomes happened, 1 skipped"
