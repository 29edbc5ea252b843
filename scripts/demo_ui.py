"""How the demo talks: section headings, explanation lines, commands and their real output.

Colour is only used on a terminal (and never when NO_COLOR is set), so the output pasted into
the README and captured by the end-to-end test is plain text. Every expected outcome is recorded
in a `Scorecard`; the demo's exit status is non-zero when any of them did not happen.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

_RESET = "\033[0m"
_STYLES = {
    "bold": "\033[1m",
    "dim": "\033[2m",
    "red": "\033[1;31m",
    "green": "\033[1;32m",
    "yellow": "\033[1;33m",
    "cyan": "\033[1;36m",
}

# Words in real kubectl/exportgate output worth catching the eye: denials red, admissions green.
_VERDICT_WORDS = re.compile(
    r"\b(DENY|denied the request|Forbidden|ALLOW|created|OK|intact|Expired|violation)\b"
)
_RED = {"DENY", "denied the request", "Forbidden", "Expired", "violation"}


def colour_wanted(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


class Console:
    """Writes the demo's narrative to one stream, flushed line by line (it is watched live)."""

    def __init__(self, stream: TextIO | None = None, colour: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.colour = colour_wanted(self.stream) if colour is None else colour

    def _style(self, text: str, style: str) -> str:
        if not self.colour:
            return text
        return f"{_STYLES[style]}{text}{_RESET}"

    def _write(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def heading(self, number: int, title: str) -> None:
        self._write()
        self._write(self._style(f"== {number}. {title} ", "cyan") + self._style("=" * 8, "cyan"))

    def say(self, text: str) -> None:
        """An explanation line: what is about to happen and why it matters."""
        self._write(self._style(f"   {text}", "dim") if self.colour else f"   {text}")

    def step(self, text: str) -> None:
        """Progress of the setup: one line per component brought up."""
        self._write(f" * {text}")

    def command(self, argv: Sequence[str], who: str | None = None) -> None:
        """The command as the user would type it; `who` names the identity it runs as."""
        line = "$ " + shlex.join(argv)
        suffix = f"    # as {who}" if who else ""
        self._write(self._style(line, "bold") + self._style(suffix, "dim"))

    def output(self, text: str) -> None:
        """Real output of a command, verbatim, with verdict words highlighted on a terminal."""
        for line in text.rstrip("\n").splitlines():
            self._write("  " + self._highlight(line))

    def _highlight(self, line: str) -> str:
        if not self.colour:
            return line

        def paint(match: re.Match[str]) -> str:
            word = match.group(0)
            return self._style(word, "red" if word in _RED else "green")

        return _VERDICT_WORDS.sub(paint, line)

    def verdict(self, expected: bool, text: str, badge: str = "") -> None:
        """One expectation's result, [ok] or [UNEXPECTED], with the verdict it was about
        (DENY in red, ALLOW in green) when there is one."""
        mark = self._style("[ok]", "green") if expected else self._style("[UNEXPECTED]", "red")
        if badge:
            styled = self._style(f"{badge:<5}", "red" if badge == "DENY" else "green")
            text = f"{styled} {text}"
        self._write(f" {mark} {text}")

    def skipped(self, text: str) -> None:
        self._write(f" {self._style('[skipped]', 'yellow')} {text}")

    def blank(self) -> None:
        self._write()


@dataclass
class Scorecard:
    """Every outcome the demo promised, and whether it happened."""

    console: Console
    results: list[tuple[str, bool]] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)

    def expect(self, what: str, happened: bool, detail: str = "", badge: str = "") -> bool:
        self.results.append((what, happened))
        self.console.verdict(happened, what + (f" ({detail})" if detail else ""), badge)
        return happened

    def skip(self, what: str) -> None:
        self.skips.append(what)
        self.console.skipped(what)

    @property
    def failures(self) -> list[str]:
        return [what for what, ok in self.results if not ok]

    def summary(self) -> str:
        ok = sum(1 for _, happened in self.results if happened)
        text = f"{ok}/{len(self.results)} expected outcomes happened"
        if self.skips:
            text += f", {len(self.skips)} skipped"
        return text
