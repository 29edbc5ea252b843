"""The two shapes the policy service runs in, as real processes for the fault tests.

- ``sidecar``: `bench.harness.Stack` as is, an `exportgate-sidecar` process and a webhook that
  asks it over its Unix socket;
- ``embedded``: `EmbeddedStack`, one `exportgate-webhook --sidecar embedded` process hosting the
  service itself (what the chart runs by default). It is given exactly the flags the sidecar
  would get, taken from `Stack.sidecar_argv` (the one home of that list), so both shapes decide
  from the same tenants and policies with the same cache and log settings.

A test that holds in both shapes takes the `shape` fixture (parametrised over SHAPES) and hands
it to `make_stack`.
"""

from __future__ import annotations

from bench.harness import Proc, Stack

SHAPES = ("sidecar", "embedded")

#: Flags of the sidecar program that are not the service's: where it listens and how it logs.
#: The webhook has its own for both.
_SIDECAR_ONLY = {"--listen": 1, "--log-level": 1}


class EmbeddedStack(Stack):
    """A webhook hosting the policy service (``--sidecar embedded``); no sidecar process.

    `sidecar` stays None; `webhook` is the one process to kill, freeze or stop, and
    `decision_log` is the log it writes."""

    shape = "embedded"

    def service_flags(self) -> list[str]:
        """The sidecar's command line minus its program and its sidecar-only flags."""
        argv = self.sidecar_argv()
        flags: list[str] = []
        # The program is one word, or `python -m cProfile ... -m module` when profiling.
        i = argv.index("--source")
        while i < len(argv):
            skip = _SIDECAR_ONLY.get(argv[i])
            if skip is not None:
                i += 1 + skip
                continue
            flags.append(argv[i])
            i += 1
        return flags

    def webhook_argv(self) -> list[str]:
        argv = super().webhook_argv()
        at = argv.index("--sidecar")
        argv[at + 1] = "embedded"
        return [*argv, *self.service_flags()]

    def start_sidecar(self, timeout: float = 60.0) -> Proc:
        raise AssertionError("an embedded stack has no sidecar process: restart the webhook")

    def start(self) -> EmbeddedStack:
        self.start_webhook()
        return self


def stack_class(shape: str) -> type[Stack]:
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {SHAPES}")
    return EmbeddedStack if shape == "embedded" else Stack


def is_embedded(stack: Stack) -> bool:
    return isinstance(stack, EmbeddedStack)


def service_proc(stack: Stack) -> Proc:
    """The process that hosts the policy service and writes the decision log."""
    proc = stack.webhook if is_embedded(stack) else stack.sidecar
    assert proc is not None, "the stack is not started"
    return proc
