"""The one normaliser of model-reference spellings: forms and what the structure names."""

from __future__ import annotations

import pytest

from exportgate.core.extract.model_names import provider_key
from exportgate.core.models import builtin_models

NAMES = builtin_models().names


@pytest.mark.parametrize(
    ("reference", "provider", "form", "vendor", "platform"),
    [
        (
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            None,
            "claude-3-5-sonnet-20240620",
            "anthropic",
            "bedrock",
        ),
        (
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            None,
            "claude-3-7-sonnet-20250219",
            "anthropic",
            "bedrock",
        ),
        (
            "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0",
            None,
            "llama3-2-1b-instruct",
            "meta",
            "bedrock",
        ),
        ("bedrock/converse/anthropic.claude-v2", None, "claude-v2", "anthropic", "bedrock"),
        (
            "publishers/anthropic/models/claude-3-opus@20240229",
            None,
            "claude-3-opus",
            "anthropic",
            "vertex",
        ),
        ("vertex_ai/gemini-1.5-pro", None, "gemini-1.5-pro", None, "vertex"),
        ("models/gemini-1.5-pro", None, "gemini-1.5-pro", None, None),
        ("Claude 3.5 Sonnet", None, "claude-3.5-sonnet", None, None),
        ("gpt 4o", None, "gpt-4o", None, None),
        ("claude-3-5-sonnet", "Bedrock", "claude-3-5-sonnet", None, "bedrock"),
        ("x", "anthropic.com", "x", "anthropic", None),
        ("x", "Azure-OpenAI", "x", None, "azure-openai"),
        ("hf://meta-llama/Llama-3.1-8B", None, "Llama-3.1-8B", "meta", None),
        ("^claude-.*$", None, "claude-", None, None),
    ],
)
def test_reading(
    reference: str, provider: str | None, form: str, vendor: str | None, platform: str | None
) -> None:
    reading = NAMES.read(reference, provider)
    assert form in reading.forms
    assert (reading.vendor, reading.platform) == (vendor, platform)


@pytest.mark.parametrize(
    ("provider", "kind"),
    [
        ("Anthropic", ("vendor", "anthropic")),
        ("ANTHROPIC", ("vendor", "anthropic")),
        ("anthropic.com", ("vendor", "anthropic")),
        ("azure_openai", ("platform", "azure-openai")),
        ("AzureOpenAI", ("platform", "azure-openai")),
        ("AWSBedrock", ("platform", "bedrock")),
        ("GCPVertexAI", ("vendor", "google")),
        ("vertex", ("platform", "vertex")),
        ("Ollama", ("other", "ollama")),
        ("foo-cloud", None),
        ("", None),
    ],
)
def test_provider_spellings(provider: str, kind: tuple[str, str] | None) -> None:
    assert NAMES.provider(provider) == kind


def test_unreadable_references_say_why() -> None:
    assert "set at run time" in NAMES.read("$(M)").unreadable
    assert NAMES.read("$(M)").forms == ()
    arn = NAMES.read("arn:aws:bedrock:us-east-1:1:provisioned-model/p")
    assert (arn.hosted, arn.platform, arn.forms) == (True, "bedrock", ())
    assert NAMES.read("*", "Anthropic").forms == ()


def test_provider_key_ignores_case_dashes_and_underscores() -> None:
    assert provider_key(" Azure_Open-AI ") == provider_key("azureopenai")


def test_a_reference_past_the_length_cap_is_read_as_set_at_run_time_at_once() -> None:
    """Red team 4, F4: one form per '/'-suffix made reading quadratic in time and memory."""
    import time

    from exportgate.core.limits import MAX_MODEL_REFERENCE_CHARS

    began = time.perf_counter()
    reading = NAMES.read("a/" * 50_000 + "x")  # about 1.25 GB of forms before
    assert time.perf_counter() - began < 1.0
    assert reading.forms == ()
    assert reading.run_time  # any model: the most restrictive applies
    assert "MAX_MODEL_REFERENCE_CHARS" in reading.unreadable
    # At the cap it is read, with forms for its last path segments only.
    reading = NAMES.read(("a/" * MAX_MODEL_REFERENCE_CHARS)[: MAX_MODEL_REFERENCE_CHARS - 2] + "x")
    assert not reading.run_time
    assert 1 < len(reading.forms) <= 10
    assert "a/x" in reading.forms and "x" in reading.forms
    deep = NAMES.read("s3://bucket/" + "d/" * 40 + "meta-llama/Llama-3.1-8B-Instruct")
    assert "meta-llama/Llama-3.1-8B-Instruct" in deep.forms
