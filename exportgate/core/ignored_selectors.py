"""Node selectors a controller may not apply: why a request they alone would pin is unpinned.

Some node-selector properties are applied only by some versions of the program that builds the
pods, and the workload itself chooses that version: Spark puts
``spark.kubernetes.{driver,executor}.node.selector.<label>`` on its pods only since 3.3.0
(SPARK-36075), and a SparkApplication names its own image. Such labels cannot pin a product: the
pod may land without them. An adapter marks them (``mayBeIgnored: <why, and where to pin
instead>``), and extraction reads the request twice, with them and without them; the reading
without them carries a hint under `IGNORED_SELECTOR_KEY` whose value is that text, which the
catalogue makes the request's note when nothing else pins it, so the denial says why the labels
did not count and which fields do.

Kept out of `exportgate.core.extract` because the catalogue (which extraction imports) reads it.
"""

from __future__ import annotations

from collections.abc import Iterable

from exportgate.core.types import Operator, ProductHint

IGNORED_SELECTOR_KEY = "exportgate.dev/selector-may-be-ignored"
"""Pseudo-key of a hint that node selectors of the request were left out because the pod may
be built without them: its value says why, and where to pin instead. It narrows nothing."""


def ignored_selector_hint(note: str) -> ProductHint:
    """The hint on the reading of a request without the selectors a controller may ignore."""
    return ProductHint(IGNORED_SELECTOR_KEY, Operator.IN, (note,))


def ignored_selector_note(hints: Iterable[ProductHint]) -> str:
    """The text of a request's `IGNORED_SELECTOR_KEY` hint, or ""."""
    for hint in hints:
        if hint.key == IGNORED_SELECTOR_KEY and hint.values:
            return hint.values[0]
    return ""
