"""One timer per Tenant: acts when the tenant's standing changes by itself, with nobody touching
the tenant or its workloads.

A timer sleeps until the earliest of: the tenant's next transition (`World.next_transition`:
verification or a licence starting or ending, a rule coming into or out of force), its next
periodic re-audit (--audit-interval; catches workloads admitted while the webhook was
unreachable, if it fails open), and --resync-seconds. A spec change wakes it (`World.wake`) so
it re-plans at once. At a transition it posts an Event and re-audits the tenant.

The timers are plain asyncio tasks the Tenant handlers start and the deletion event stops, not
kopf daemons: kopf puts a finalizer on every object a daemon runs for, which would need write
access to Tenants (the operator has only their status) and would stop anyone deleting a Tenant
while the operator is down. kopf does not offer daemons without one, and its maintainers point
to tasks started from handlers instead. What kopf would do for a daemon, they do themselves:
stop on deletion and shutdown, and stand still while the replica is paused by peering.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from exportgate.core.tenants import effective_verification
from exportgate.logsetup import get_logger

if TYPE_CHECKING:
    from exportgate_operator.app import App

log = get_logger(__name__)

# Wake a little after the instant, so "now >= expiresAt" holds when we look.
SLACK = timedelta(milliseconds=50)
TICK = 1.0  # how often a sleeping timer checks whether it was stopped
STOP_TIMEOUT = 5.0  # how long a stopping timer may take to finish what it is doing


class TenantTimers:
    def __init__(self, app: App, now: Callable[[], datetime]) -> None:
        self.app = app
        self.now = now
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Event] = {}

    def ensure(self, name: str) -> None:
        """Start the timer of tenant `name` unless it runs already."""
        task = self._tasks.get(name)
        if task is not None and not task.done():
            return
        stop = self._stops[name] = asyncio.Event()
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._run(name, stop), name=f"tenant-timer-{name}"
        )

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def stop(self, name: str) -> None:
        stop, task = self._stops.pop(name, None), self._tasks.pop(name, None)
        if stop is not None:
            stop.set()
        self.app.world.wake(name)
        if task is not None:
            await _finish(task)

    async def stop_all(self) -> None:
        for name in list(self._tasks):
            await self.stop(name)

    # --- one timer ----------------------------------------------------------------------

    async def _run(self, name: str, stop: asyncio.Event) -> None:
        waker = self.app.world.waker(name)
        while not stop.is_set():
            waker.clear()
            try:
                await self._once(name, waker, stop)
            except Exception as exc:  # a timer must outlive one failed re-audit
                log.error("tenant timer failed; retrying", tenant=name, error=str(exc))
                await _sleep(self.app.config.resync_seconds, waker, stop, self.now)

    async def _once(self, name: str, waker: asyncio.Event, stop: asyncio.Event) -> None:
        app = self.app
        now = self.now()
        planned = app.world.next_transition(name, now) if app.world.tenant(name) else None
        candidates = [now + timedelta(seconds=app.config.resync_seconds)]
        if planned:
            candidates.append(planned + SLACK)
        periodic = app.next_periodic_audit(name)
        if periodic:
            candidates.append(periodic)
        if await _sleep_until(min(candidates), waker, stop, self.now):
            return  # woken or stopped: re-plan (or leave)
        now = self.now()
        due = (planned is not None and now >= planned) or (periodic is not None and now >= periodic)
        if not due or not await asyncio.to_thread(app.peering.active):
            return  # a paused replica leaves it to the active one
        if planned is not None and now >= planned:
            tenant = app.world.tenant(name)
            state = effective_verification(tenant, now).value if tenant else "Unbound"
            log.info("tenant transition", tenant=name, verification=state)
            await asyncio.to_thread(
                app.tenant_event,
                name,
                "Normal" if state == "Verified" else "Warning",
                f"Verification{state}",
                f"verification is now {state} (transition at {planned.isoformat()}); "
                "re-auditing the tenant's workloads",
            )
            reason = f"Tenant {name} verification now {state} at {planned.isoformat()}"
            await app.reaudit([name], reason=reason)
        else:
            await app.reaudit([name], reason=f"periodic re-audit of Tenant {name}")


async def _sleep_until(
    wake_at: datetime, waker: asyncio.Event, stop: asyncio.Event, now: Callable[[], datetime]
) -> bool:
    """Sleep until `wake_at`; True when cut short by `waker` or `stop` instead.

    Sleeps in ticks of at most TICK, so a clock that jumps is noticed within one tick.
    """
    while not stop.is_set():
        remaining = (wake_at - now()).total_seconds()
        if remaining <= 0:
            return False
        try:
            await asyncio.wait_for(waker.wait(), timeout=min(TICK, remaining))
            return True
        except TimeoutError:
            continue
    return True


async def _sleep(
    seconds: float, waker: asyncio.Event, stop: asyncio.Event, now: Callable[[], datetime]
) -> None:
    await _sleep_until(now() + timedelta(seconds=seconds), waker, stop, now)


async def _finish(task: asyncio.Task[None]) -> None:
    """Let a stopped timer finish its current step, then cancel it if it does not."""
    try:
        await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
    except TimeoutError:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
