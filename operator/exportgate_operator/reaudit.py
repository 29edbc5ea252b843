"""Re-audit existing workloads when what decides them changed (a tenant, a policy, the clock).

Three steps, one module each, run one audit at a time:

1. collect (`collect.Collector`): the running workloads of the tenants concerned;
2. decide (`decide.decide`): each judged with the current snapshot exactly as admission would
   judge it now, every verdict recorded in the decision log (operation AUDIT);
3. publish (`publish.Publisher`): annotations, Events, ModelEndpoint statuses, PolicyReports.

Collecting and publishing are blocking API calls and run in a thread; deciding runs on the
event loop against one snapshot read once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime

from exportgate.core.extract import AdapterRegistry
from exportgate.logsetup import get_logger
from exportgate_operator.collect import Collector
from exportgate_operator.decide import AuditOutcome, decide
from exportgate_operator.decisions import DecisionRecorder
from exportgate_operator.events import EventPoster
from exportgate_operator.guarded import GuardedResources
from exportgate_operator.kube import Kube
from exportgate_operator.publish import Publisher
from exportgate_operator.settings import OperatorConfig
from exportgate_operator.world import World

log = get_logger(__name__)


class Auditor:
    def __init__(
        self,
        kube: Kube,
        world: World,
        recorder: DecisionRecorder,
        config: OperatorConfig,
        events: EventPoster,
        registry: AdapterRegistry | None = None,
    ) -> None:
        self.world = world
        self.recorder = recorder
        self.registry = registry or AdapterRegistry.builtin()
        self.kinds = GuardedResources(kube, self.registry)
        self.collector = Collector(kube, config, self.kinds)
        self.publisher = Publisher(
            kube, config, events, self.collector.served, self.kinds.resource_for
        )
        self._lock = asyncio.Lock()

    async def audit(self, names: Iterable[str] | None, reason: str) -> AuditOutcome:
        """Re-audit the workloads of the tenants `names` (None: every tenant)."""
        wanted = set(names) if names is not None else None
        async with self._lock:
            at = datetime.now(UTC)
            snapshot = self.world.snapshot
            collected = await asyncio.to_thread(self.collector.collect, wanted)
            outcome = await decide(
                collected,
                snapshot,
                self.registry,
                self.recorder,
                tenants=sorted(wanted) if wanted is not None else self.world.tenant_names(),
                at=at,
                reason=reason,
            )
            await asyncio.to_thread(self.publisher.publish, outcome, reason)
        log.info(
            "re-audit done",
            reason=reason,
            tenants=sorted(wanted) if wanted is not None else "all",
            audited=len(outcome.items),
            violations=sum(t.violations for t in outcome.tenants.values()),
            policy_version=snapshot.version,
        )
        return outcome
