"""When a decision changes by itself: the one rule for the instants at which the same workload,
tenant record and policy set get a different answer only because time passed.

Two kinds of instant exist:

- a tenant's own dates: its verification coming into force and expiring (only while the record
  says VERIFIED; the other states do not depend on the clock) and each licence's issue and
  expiry dates;
- the policy set's dates: midnight UTC of every day a dated fact comes into or goes out of force
  (rules, suspensions, country-group memberships; they are dated by day and the engine tests
  them against the UTC date of the instant: `PolicyEngine.transition_days`).

The sidecar's decision cache and reuse map keep a decision only within the window between two
such instants (`validity_window`); the operator wakes a tenant's timer at the next one
(`next_transition`) to publish its new standing and re-audit its workloads.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time

from exportgate.core.engine import PolicyEngine
from exportgate.core.types import Tenant, VerificationState


def tenant_boundaries(tenant: Tenant | None) -> list[datetime]:
    """Instants at which a decision about `tenant` may change without its record changing."""
    if tenant is None:
        return []
    found: list[datetime | None] = []
    if tenant.verification.state is VerificationState.VERIFIED:
        found += [tenant.verification.verified_at, tenant.verification.expires_at]
    for licence in tenant.licences:
        found += [licence.issued_at, licence.expires_at]
    return [moment for moment in found if moment is not None]


def policy_boundaries(engine: PolicyEngine) -> tuple[datetime, ...]:
    """Midnight UTC of every day a dated fact of `engine` starts or stops holding (rules,
    suspensions, group memberships), ascending."""
    return tuple(datetime.combine(d, time.min, tzinfo=UTC) for d in engine.transition_days())


def validity_window(
    boundaries: Iterable[datetime], at: datetime, sorted_boundaries: Sequence[datetime] = ()
) -> tuple[datetime | None, datetime | None]:
    """The widest interval [from, until) around `at` that crosses none of the boundaries
    (None: unbounded on that side).

    `sorted_boundaries` (ascending, a snapshot's rule dates) are searched by bisection: a
    snapshot may carry hundreds of them, and this runs on every cache miss.
    """
    before = [b for b in boundaries if b <= at]
    after = [b for b in boundaries if b > at]
    i = bisect.bisect_right(sorted_boundaries, at)
    if i > 0:
        before.append(sorted_boundaries[i - 1])
    if i < len(sorted_boundaries):
        after.append(sorted_boundaries[i])
    return (max(before) if before else None, min(after) if after else None)


def next_transition(
    tenant: Tenant | None, at: datetime, sorted_boundaries: Sequence[datetime] = ()
) -> datetime | None:
    """The first instant after `at` at which the standing of `tenant` changes by itself: its
    verification or a licence starting or ending, or a rule of the policy set (its sorted
    `sorted_boundaries`) coming into or out of force."""
    return validity_window(tenant_boundaries(tenant), at, sorted_boundaries)[1]
