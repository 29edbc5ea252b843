"""What a tenant reads: denial messages, warnings, and audit annotations.

The policy (through the core) writes the sentences about *why* — which product, which country
group, which remedy. This module frames them for Kubernetes clients so that a tenant who only
sees `kubectl` output learns, in this order: what was refused and for which tenant, what the
object asked for, which rule and citation refused it, how to fix it, and the decision id to quote.

Denial format (lines joined with newlines; kubectl prints them as they are)::

    exportgate denied <Kind> "<namespace>/<name>" for tenant "<tenant>" (verification <state>;
        jurisdictions <CC,...>).                                  [one line; wrapped here]
    Requested: <resource> x<count> at <field> (could be <products>; <classes>; not pinned)
    Rule <rule-id> (<citation>): <message>
    Fix: <remedy>
    Decision id: <id> (policy <version>). Quote it to your platform team if you think this is wrong.

Warnings are short single lines (kubectl prints each as ``Warning: ...``); the API server may
truncate warnings over 256 characters, so each sentence is its own warning.
"""

from __future__ import annotations

from collections.abc import Sequence

from exportgate.core.decision import Decision, ResolvedAccelerator, ResolvedModel, Violation
from exportgate.core.types import Action, ObjectRef
from exportgate.wire import Answer

_MAX_LISTED_REQUESTS = 4
_MAX_LISTED_VIOLATIONS = 3
_MAX_WARNING_CHARS = 256
_MAX_MESSAGE_CHARS = 4000  # the API server puts it in the client's Status; keep it readable


def describe_object(ref: ObjectRef) -> str:
    if ref.namespace:
        return f'{ref.kind} "{ref.namespace}/{ref.name}"'
    return f'{ref.kind} "{ref.name}"'


def _tenant_phrase(decision: Decision, tenant: str) -> str:
    name = decision.tenant or tenant
    if not name:
        return "for an unbound namespace (no exportgate.dev/tenant label)"
    details = [f"verification {decision.verification.value}"]
    if decision.countries:
        details.append(f"jurisdictions {','.join(decision.countries)}")
    suffix = f" ({'; '.join(details)})" if details else ""
    return f'for tenant "{name}"{suffix}'


def _accelerator_text(accelerator: ResolvedAccelerator) -> str:
    text = f"{accelerator.resource} x{accelerator.count}"
    if accelerator.source:
        text += f" at {accelerator.source}"
    facts = []
    if accelerator.candidates:
        shown = ", ".join(accelerator.candidates[:_MAX_LISTED_REQUESTS])
        more = len(accelerator.candidates) - _MAX_LISTED_REQUESTS
        facts.append(f"could be {shown}" + (f" and {more} more" if more > 0 else ""))
    if accelerator.classifications:
        facts.append(", ".join(accelerator.classifications))
    if not accelerator.pinned:
        facts.append("not pinned")
    return text + (f" ({'; '.join(facts)})" if facts else "")


def _model_text(model: ResolvedModel) -> str:
    text = f"model {model.reference}"
    if model.model_id and model.model_id != model.reference:
        text += f" ({model.model_id})"
    if model.provider:
        text += f" from {model.provider}"
    if model.source:
        text += f" at {model.source}"
    return text


def requested_line(decision: Decision) -> str | None:
    items = [_accelerator_text(a) for a in decision.accelerators]
    items += [_model_text(m) for m in decision.models]
    if not items:
        return None
    more = len(items) - _MAX_LISTED_REQUESTS
    text = "; ".join(items[:_MAX_LISTED_REQUESTS]) + (f"; and {more} more" if more > 0 else "")
    return f"Requested: {text}"


def _rule_line(violation: Violation) -> str:
    citation = f" ({violation.citation})" if violation.citation else ""
    return f"Rule {violation.rule_id}{citation}: {violation.message}".rstrip()


def _decision_line(answer: Answer) -> str:
    return (
        f"Decision id: {answer.decision_id} (policy {answer.policy_version or 'unknown'}). "
        "Quote it to your platform team if you think this is wrong."
    )


def _binding_hint(decision: Decision, tenant: str, ref: ObjectRef) -> str | None:
    """A fix the policy cannot know: how this object came to be unbound."""
    if decision.tenant or tenant:
        return None
    if ref.namespace:
        return (
            f'Fix: namespace "{ref.namespace}" is not bound to a tenant; ask your platform team '
            "to label it exportgate.dev/tenant=<your tenant>."
        )
    return (
        f"Fix: cluster-scoped {ref.kind} objects must carry the label "
        "exportgate.dev/tenant=<your tenant>, set by your platform team."
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def denial_message(answer: Answer, ref: ObjectRef, tenant: str) -> str:
    """The status message of a denied review."""
    decision = answer.decision
    deciding = [v for v in decision.violations if v.action is Action.DENY]
    count = len(deciding)
    lines = [
        f"exportgate denied {describe_object(ref)} {_tenant_phrase(decision, tenant)}"
        + (f": {count} rules forbid it." if count > 1 else ".")
    ]
    requested = requested_line(decision)
    if requested:
        lines.append(requested)
    if not deciding:
        # Denied by the policy's default action rather than by a rule.
        lines.append(decision.message or "No rule admits this request.")
    remedies: list[str] = []
    for violation in deciding[:_MAX_LISTED_VIOLATIONS]:
        lines.append(_rule_line(violation))
        if violation.remedy and violation.remedy not in remedies:
            remedies.append(violation.remedy)
    if count > _MAX_LISTED_VIOLATIONS:
        lines.append(f"... and {count - _MAX_LISTED_VIOLATIONS} more rules (see the decision log).")
    lines.extend(f"Fix: {remedy}" for remedy in remedies)
    hint = _binding_hint(decision, tenant, ref)
    if hint and not remedies:
        lines.append(hint)
    # The decision id always survives the clip: it is what a tenant quotes.
    quoted = _decision_line(answer)
    body = _clip("\n".join(lines), _MAX_MESSAGE_CHARS - len(quoted) - 1)
    return body + "\n" + quoted


def _printable(text: str) -> str:
    # Warnings travel as HTTP Warning headers: one line, no control characters.
    return "".join(ch if ch.isprintable() else " " for ch in " ".join(text.split()))


def warnings_for(answer: Answer, ref: ObjectRef, tenant: str) -> list[str]:
    """Warning lines for an admitted request that a `warn` rule flagged."""
    decision = answer.decision
    flagged = [v for v in decision.violations if v.action is Action.WARN]
    subject = f"{describe_object(ref)} {_tenant_phrase(decision, tenant)}"
    lines = [f"exportgate: admitted with a warning: {subject}."]
    for violation in flagged[:_MAX_LISTED_VIOLATIONS]:
        lines.append(f"exportgate: {_rule_line(violation)}")
        if violation.remedy:
            lines.append(f"exportgate: Fix: {violation.remedy}")
    if not flagged and decision.message:
        lines.append(f"exportgate: {decision.message}")
    lines.append(f"exportgate: decision id {answer.decision_id} (policy {answer.policy_version}).")
    return [_clip(_printable(line), _MAX_WARNING_CHARS) for line in lines]


def audit_annotations(
    answer: Answer, *, phase: str, stamped_id: str | None = None
) -> dict[str, str]:
    """Keys the API server prefixes with the webhook name in its audit log."""
    decision = answer.decision
    audit = {
        "decision": decision.action.value,
        "decision-id": answer.decision_id,
        "policy-version": answer.policy_version,
        "tenant": decision.tenant or "",
        "phase": phase,
    }
    if decision.rule_id:
        audit["rule"] = decision.rule_id
    if answer.reused:
        # The mutating phase's decision, answered again: one admission, one log record.
        audit["decision-reused"] = "true"
    if stamped_id and stamped_id != answer.decision_id:
        audit["mutating-decision-id"] = stamped_id
    return audit


def unavailable_message(reason: str) -> str:
    return (
        f"exportgate policy service unavailable: {reason} "
        "(the request was not evaluated; retry, or ask your platform team)"
    )


def unreadable_object_message(ref: ObjectRef, problem: str) -> str:
    return (
        f"exportgate could not read {describe_object(ref)}: {problem}. "
        "An object exportgate cannot read is refused rather than admitted unchecked; "
        "fix the field and retry."
    )


def namespace_unknown_message(namespace: str, problem: str) -> str:
    return (
        f'exportgate could not tell which tenant namespace "{namespace}" belongs to: {problem}. '
        "The request was not evaluated; retry, or ask your platform team."
    )


def pod_status_message(ref: ObjectRef, keys: Sequence[str]) -> str:
    return (
        f"exportgate refused this write to the status of {describe_object(ref)}: it changes the "
        f"annotations {', '.join(keys)}, which hand a pod a device or are exportgate's own "
        "(decision stamps, violation marks). The status subresource stores annotations without "
        "admission of the Pod, so they may not change there; change them on the Pod itself, "
        "where exportgate evaluates them, or ask your platform team."
    )


def pod_binding_message(ref: ObjectRef, keys: Sequence[str]) -> str:
    # A Binding is named after its Pod, in the Pod's namespace.
    pod = f"pod {ref.namespace}/{ref.name}" if ref.namespace else f"pod {ref.name}"
    return (
        f"exportgate refused this Binding of {pod}: it carries the annotations "
        f"{', '.join(keys)}, which hand a pod a device or are exportgate's own (decision "
        "stamps, violation marks). The API server merges a Binding's annotations into the Pod "
        "without admission of the Pod, so they may not be set there; bind without them (as "
        "kube-scheduler does) and set them on the Pod itself, where exportgate evaluates them, "
        "or ask your platform team."
    )


def forged_stamp_message(ref: ObjectRef, keys: Sequence[str]) -> str:
    return (
        f"exportgate refused {describe_object(ref)}: the annotations {', '.join(keys)} are written "
        "only by exportgate to record the decision that admitted an object. Remove them (or leave "
        "them as they were) and retry."
    )
