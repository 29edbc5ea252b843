"""Errors the core raises for bad input.

Every error says where the problem is (file, line, field), what is wrong and what to do, so the
CLI can print it, the webhook can return it as a 400 reason, and the operator can put it in a
status condition. Nothing else in the core raises for bad *input*; other exceptions are bugs.
"""

from __future__ import annotations


class ExportgateError(Exception):
    """Base class of everything the core raises on purpose."""


class InputError(ExportgateError):
    """Input that cannot be used: a broken manifest, tenant record or policy file."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(self.describe())

    def describe(self) -> str:
        where = self.source or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.field:
            text += f"field {self.field}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def at(self, *, source: str | None = None, line: int | None = None) -> InputError:
        """The same error with its location filled in where it was missing."""
        return InputError(
            self.message,
            source=self.source or source,
            line=self.line if self.line is not None else line,
            field=self.field,
            hint=self.hint,
        )


class PolicyError(InputError):
    """A policy document that does not compile."""


class UnknownTenantError(ExportgateError):
    """A tenant was named but no record of it exists."""
