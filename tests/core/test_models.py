"""The model catalogue: references as manifests spell them -> catalogue entry and provider."""

from __future__ import annotations

import pytest

from exportgate.core.engine import PolicyEngine
from exportgate.core.models import builtin_models, strip_reference
from exportgate.core.types import Action, ModelRequest, ObjectRef, Workload
from tests.core.builders import NOW, make_tenant

REFERENCES = [
    # (reference, provider named in the manifest, catalogue id, provider)
    ("claude-sonnet-4-5", None, "anthropic-claude", "anthropic"),
    ("anthropic/claude-opus-4", None, "anthropic-claude", "anthropic"),
    ("gpt-4o", None, "openai-gpt", "openai"),
    ("o3-mini", None, "openai-gpt", "openai"),
    ("text-embedding-3-small", None, None, "openai"),  # provider known, no model entry
    ("hf://meta-llama/Llama-3.2-11B-Vision-Instruct", None, "meta-llama-3.2-vision", "meta"),
    ("meta/llama-3.2-90b-vision-instruct", None, "meta-llama-3.2-vision", "meta"),
    ("meta-llama/Llama-3.2-3B-Instruct", None, "meta-llama-3.2-text", "meta"),
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", None, "meta-llama-4", "meta"),
    ("gs://models/llama-4-scout", None, "meta-llama-4", "meta"),
    ("nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3", None, "meta-llama-3", "meta"),
    ("llama3:8b", None, "meta-llama-3", "meta"),
    ("house-model-v2", "Anthropic", None, "anthropic"),  # provider given by the manifest
    ("mistralai/Mistral-7B-Instruct-v0.3", None, None, None),
    ("s3://bucket/checkpoints/run-7", None, None, None),
]


@pytest.mark.parametrize(
    ("reference", "given", "model_id", "provider"), REFERENCES, ids=[r[0] for r in REFERENCES]
)
def test_references_resolve(
    reference: str, given: str | None, model_id: str | None, provider: str | None
) -> None:
    resolved = builtin_models().resolve(ModelRequest(reference, given, source="spec.model"))
    assert (resolved.model_id, resolved.provider) == (model_id, provider)
    assert resolved.reference == reference
    assert resolved.source == "spec.model"


@pytest.mark.parametrize(
    ("reference", "stripped"),
    [
        ("hf://meta-llama/Llama-4-Scout", "meta-llama/Llama-4-Scout"),
        ("nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3", "meta/llama-3.1-8b-instruct"),
        ("  claude-sonnet-4-5 ", "claude-sonnet-4-5"),
    ],
)
def test_strip_reference(reference: str, stripped: str) -> None:
    assert strip_reference(reference) == stripped


def test_an_uncatalogued_model_of_a_provider_carries_the_providers_terms() -> None:
    """A Claude model released after this catalogue was written is still bound by its terms."""
    workload = Workload(
        ObjectRef("exportgate.dev/v1alpha1", "ModelEndpoint", "m", "team"),
        models=(ModelRequest("house-model-v2", "anthropic"),),
    )
    engine = PolicyEngine.build()
    pending = engine.evaluate(workload, make_tenant(state="Pending"), NOW)
    assert (pending.action, pending.rule_id) == (Action.DENY, "kyc-unverified-model")
    owned = engine.evaluate(workload, make_tenant(parent="IR"), NOW)
    # Ownership from an unsupported region is Anthropic's separate rule from 2025-09-05.
    assert (owned.action, owned.rule_id) == (Action.DENY, "anthropic-ownership")


def test_catalogue_facts_used_by_policies() -> None:
    models = builtin_models()
    assert {"multimodal"} <= models.models["meta-llama-4"].tags
    assert "multimodal" not in models.models["meta-llama-3"].tags
    assert models.models["anthropic-claude"].weights == "closed"
    assert {"anthropic", "openai", "meta", "google"} <= set(models.providers)
