"""Names a cloud's operator defines: why exportgate cannot identify them, and who can.

An OpenStack flavor or a vSphere VM class is a name the operator of one cloud chose; the same
name on another cloud may carry a different GPU, and there is no public catalogue to look it up
in. Such a request is decided as an unknown accelerator like any other unidentified node pool,
but the tenant cannot fix it the way it fixes an unknown public-cloud instance type ("name a
known one"): only the platform team knows which of its flavors are plain, and lists them in an
adapter file of its own. The adapter rule says so with ``operatorDefined: <what the names
are>`` (data, not code), which the extractor turns into a hint under `OPERATOR_DEFINED_KEY`;
the catalogue makes `operator_defined_note` the request's note, and the denial shows it instead
of `extract.unknown.HOW_TO_IDENTIFY`.

Kept out of `exportgate.core.extract` because the catalogue (which extraction imports) reads it.
"""

from __future__ import annotations

from collections.abc import Iterable

from exportgate.core.limits import MAX_HINT_VALUE_CHARS
from exportgate.core.types import Operator, ProductHint

OPERATOR_DEFINED_KEY = "exportgate.dev/operator-defined"
"""Pseudo-key of a hint that the request's hardware is a name the cloud's operator defines: its
values are what the names are (``OpenStack flavor``) and, when the field holds one string, the
name itself. It narrows nothing; it says why the pool's hardware cannot be known and who can
make it known."""

DOCS_SECTION = 'docs/policies.md, "Names a cloud\'s operator defines"'
EXAMPLES = "examples/adapters/"

OPERATOR_DEFINED_NOTE = (
    "the {what}{name}{where} is a name this cloud's operator chose, not one of a public "
    "catalogue, so exportgate cannot tell whether it carries accelerators; ask your platform "
    "team to list it in an exportgate adapter file, or use one the file already lists "
    "(platform engineers: see {docs}, and {examples}; pass the file to the webhook and to "
    "exportgate check with --adapters)"
)


def operator_defined_hint(what: str, name: object) -> ProductHint:
    """The hint an ``operatorDefined`` rule adds: `what` the names are, and `name` when the
    field held a non-blank string (a flavor given as an object, such as CAPO v1beta2's
    ``{filter: {name}}``, is named by its field only)."""
    shown = name.strip() if isinstance(name, str) else ""
    return ProductHint(OPERATOR_DEFINED_KEY, Operator.IN, (what, shown) if shown else (what,))


def operator_defined_note(hints: Iterable[ProductHint], source: str) -> str:
    """Why a request whose hints carry an `OPERATOR_DEFINED_KEY` hint is unidentified, and how
    to make it identifiable; "" for any other request."""
    for hint in hints:
        if hint.key == OPERATOR_DEFINED_KEY and hint.values:
            what, *named = hint.values
            return OPERATOR_DEFINED_NOTE.format(
                what=what,
                name=f" {_shown(named[0])!r}" if named else "",
                where=f" at {source}" if source else "",
                docs=DOCS_SECTION,
                examples=EXAMPLES,
            )
    return ""


def _shown(value: str) -> str:
    """A tenant's name as the message shows it: one past `MAX_HINT_VALUE_CHARS` is cut, so a
    manifest cannot make the denial arbitrarily long."""
    if len(value) <= MAX_HINT_VALUE_CHARS:
        return value
    return f"{value[:MAX_HINT_VALUE_CHARS]}... ({len(value)} characters)"
