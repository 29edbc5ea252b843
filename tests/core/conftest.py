"""Fixtures of the decision-core tests."""

from __future__ import annotations

import pytest

from exportgate.core.engine import PolicyEngine


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    """The engine with the shipped default packs (immutable: one for every test)."""
    return PolicyEngine.build()
