"""What `build_request` asks the catalogue before anything is charged."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.errors import InvalidRequest
from bot.providers.catalogue import catalogue_for
from bot.providers.catalogue.registry import entry_from
from bot.providers.request import build_request
from tests.bot.providers.catalogue.documents import NEW_MODEL, flux_dev_document

ENV = {"DISCORD_TOKEN": "t", "FAL_KEY": "f"}


def config_with(**extra: Any) -> Config:
    config = parse_config({"providers": {"fal": {"models": ["fal-ai/flux/dev", NEW_MODEL]}}}, ENV)
    catalogue_for(config).install(entry_from(flux_dev_document(extra=extra)))
    return config


def test_an_option_the_model_lacks_is_refused_naming_a_model_here_that_has_it() -> None:
    config = config_with(negative_prompt={"type": "string"})
    with pytest.raises(
        InvalidRequest,
        match=f"fal-ai/flux/dev takes no negative prompt; {NEW_MODEL} does: pick model {NEW_MODEL}",
    ):
        build_request(config, prompt="p", negative_prompt="blur")
    chosen = build_request(config, prompt="p", model=NEW_MODEL, negative_prompt="blur")
    assert chosen.negative_prompt == "blur"


def test_the_whole_input_is_validated_against_the_published_schema() -> None:
    config = config_with(seed={"type": "integer", "minimum": 0, "maximum": 1000})
    with pytest.raises(
        InvalidRequest, match=rf"{NEW_MODEL} would refuse this request \(seed: 5000"
    ):
        build_request(config, prompt="p", model=NEW_MODEL, seed=5000)
    assert build_request(config, prompt="p", model=NEW_MODEL, seed=999).seed == 999


def test_a_schema_refusal_quoting_the_prompt_is_bounded_and_plain_text() -> None:
    config = config_with(prompt={"type": "string", "maxLength": 10})
    prompt = "**bold** <@123> " + "x" * 2000
    with pytest.raises(InvalidRequest) as refused:
        build_request(config, prompt=prompt, model=NEW_MODEL)
    text = str(refused.value)
    assert text.startswith(f"{NEW_MODEL} would refuse this request (prompt: ")
    assert len(text) < 400
    assert "**bold**" not in text and "\\<@123>" in text  # shown as text, not a mention
