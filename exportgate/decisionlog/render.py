"""The structlog side of the writer: the processor chain that turns an event into a chain line.

`ChainLinker` stamps format version, chain, seq and prev and renders the canonical line with
its hash; `check_event` refuses values a verifier could not reproduce; `ProcessorChain` runs
them over each event. The writer (`writer.py`) owns the file and decides when the rendered
lines reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from exportgate.decisionlog.canonical import FORMAT_VERSION, GENESIS, canonical_line, check_values


class ChainLinker:
    """structlog renderer: stamps format version, chain, seq and prev, then renders the line.

    The hash and the line come from one serialisation of the record (`canonical_line`): the
    record is the largest part of a decision's cost, so it is not dumped twice.

    The state advances as records are rendered; the writer takes a `snapshot` before rendering
    a batch and `restore`s it if the batch does not reach the file, so a failed write never
    leaves a gap or a dangling `prev` in the chain.
    """

    def __init__(self) -> None:
        self.chain = ""
        self.next_seq = 1
        self.prev = GENESIS
        self.linked: list[dict[str, Any]] = []

    def start(self, chain: str, next_seq: int, prev: str) -> None:
        self.chain, self.next_seq, self.prev = chain, next_seq, prev

    def resume_after(self, record: Mapping[str, Any]) -> None:
        self.start(record["chain"], record["seq"] + 1, record["hash"])

    def snapshot(self) -> tuple[str, int, str]:
        return self.chain, self.next_seq, self.prev

    def restore(self, state: tuple[str, int, str]) -> None:
        self.chain, self.next_seq, self.prev = state

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
        event_dict["v"] = FORMAT_VERSION
        event_dict["chain"] = self.chain
        event_dict["seq"] = self.next_seq
        event_dict["prev"] = self.prev
        digest, line = canonical_line(event_dict)
        event_dict["hash"] = digest
        self.next_seq += 1
        self.prev = digest
        # Not copied: nothing changes the event after this, and the writer hands it out as is.
        self.linked.append(event_dict)  # type: ignore[arg-type]
        return line


def check_event(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: refuse values whose JSON text a verifier could not reproduce."""
    check_values(event_dict)
    return event_dict


class ProcessorChain:
    """Runs structlog processors over one event, the last of which renders the line.

    What ``structlog.BoundLogger(logger, processors, {}).msg(kind, **fields)`` did, without
    its two copies of the event (keyword arguments, then context plus keywords) and its call
    layers: the writer renders an event per decision, and `fields` is already its own copy.
    """

    def __init__(self, processors: list[Any]) -> None:
        self.processors = processors

    def render(self, kind: str, fields: dict[str, Any]) -> str:
        event: Any = fields
        event["event"] = kind  # set last, as structlog does: a field cannot override it
        for processor in self.processors:
            event = processor(None, "msg", event)
        if not isinstance(event, str):
            raise TypeError("the last processor of a decision-log chain must render the line")
        return event
