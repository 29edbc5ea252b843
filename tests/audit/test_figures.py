"""Who crossed a threshold, as the audit report's chart and table name it."""

from __future__ import annotations

from exportgate.audit.figures import threshold_party


def test_a_threshold_record_is_shown_by_tenant_group_or_type() -> None:
    # A run or tenant crossing names its tenant; records written before groups existed too.
    assert threshold_party({"type": "compute-threshold", "tenant": "acme"}) == "acme"
    assert threshold_party({"type": "compute-threshold", "scope": "tenant",
                            "tenant": "acme"}) == "acme"  # fmt: skip
    # A group crossing names no single tenant: the group it was.
    group = {
        "type": "compute-threshold",
        "scope": "group",
        "group": "nimbus holdings ltd",
        "groupName": "Nimbus Holdings Ltd.",
        "tenants": ["nimbus-my", "nimbus-sg"],
    }
    assert threshold_party(group) == "group Nimbus Holdings Ltd."
    assert threshold_party({**group, "groupName": None}) == "group nimbus holdings ltd"
    # A type this version does not know, with no tenant: its type, never dropped.
    assert threshold_party({"type": "compute-threshold-crossed"}) == "compute-threshold-crossed"
