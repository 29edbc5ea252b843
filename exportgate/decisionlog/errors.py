"""Errors of the decision log.

`DecisionLogError` means "this decision is not on durable storage". Every caller must turn it
into a denial or an error response, never into an unlogged allow.
"""

from __future__ import annotations

from exportgate.core.errors import ExportgateError


class DecisionLogError(ExportgateError):
    """The decision log could not durably record something (disk full, read-only, removed...)."""


class RecordFormatError(DecisionLogError):
    """A record holds a value the canonical form cannot represent (a float, bytes, an object).

    This is a programming error in the caller, raised before anything is written.
    """
