"""Which language a member is answered in, and how a text is put into it."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.app_commands import TranslationContext, TranslationContextLocation, locale_str

from bot.i18n import (
    DEFAULT_LOCALE,
    LANGUAGES,
    _,
    catalogue,
    chosen_locales,
    current_locale,
    n_,
    resolve,
    using,
)
from bot.i18n.commands import CatalogueTranslator, label
from bot.i18n.gateway import in_locale, locale_of
from bot.jobs.journal import origin_from_raw


@pytest.mark.parametrize(
    ("discord_locale", "shipped"),
    [
        ("es-419", "es-ES"),
        ("es-ES", "es-ES"),
        ("pt-BR", "pt-BR"),
        ("en-GB", "en-US"),
        ("de", "de"),
        ("fr", "fr"),
        ("ja", "ja"),
    ],
)
def test_a_discord_locale_resolves_to_the_catalogue_of_its_language(
    discord_locale: str, shipped: str
) -> None:
    assert resolve(discord_locale) == shipped


@pytest.mark.parametrize("discord_locale", ["zh-CN", "ko", "uk", "", None, "not a locale"])
def test_a_language_not_shipped_resolves_to_english(discord_locale: str | None) -> None:
    assert resolve(discord_locale) == DEFAULT_LOCALE


def test_the_language_chosen_in_settings_beats_the_clients() -> None:
    assert resolve("en-US", chosen="de") == "de"
    assert resolve("de", chosen="pt-BR") == "pt-BR"


def test_a_chosen_language_not_shipped_leaves_the_clients() -> None:
    assert resolve("fr", chosen="ko") == "fr"


def test_every_shipped_language_resolves_to_itself() -> None:
    assert {resolve(code) for code in LANGUAGES} == set(LANGUAGES)


def test_a_message_is_translated_before_its_fields_are_filled() -> None:
    # The German moves the field; a field's value is never looked up in the catalogue.
    with using("de"):
        text = _("That image could not be posted ({status}).", status="Commands")
    assert text == "Das Bild konnte nicht gepostet werden (Commands)."


def test_english_and_unknown_locales_show_the_english_text() -> None:
    for locale in ("en-US", "en-GB", "ko"):
        with using(locale):
            assert _("Commands") == "Commands"


def test_a_count_takes_the_plural_form_of_the_language() -> None:
    with using("de"):
        one = n_("{n} job in 24 h", "{n} jobs in 24 h", 1)
        two = n_("{n} job in 24 h", "{n} jobs in 24 h", 2)
    assert (one, two) == ("1 Auftrag in 24 h", "2 Aufträge in 24 h")
    assert n_("{n} job in 24 h", "{n} jobs in 24 h", 1) == "1 job in 24 h"


def test_a_message_not_in_the_catalogue_is_shown_in_english() -> None:
    with using("de"):
        assert _("Not a message of the bot: {x}", x=1) == "Not a message of the bot: 1"


def test_a_translation_that_breaks_its_fields_falls_back_to_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    german = catalogue.for_locale("de")
    assert german is not None
    monkeypatch.setitem(german._singles, "Shared to the gallery: {link}", "Geteilt: {url}")
    with using("de"):
        assert _("Shared to the gallery: {link}", link="x") == "Shared to the gallery: x"


def test_using_restores_the_locale_it_replaced() -> None:
    with using("de"):
        with using("fr"):
            assert current_locale() == "fr"
        assert current_locale() == "de"
    assert current_locale() == DEFAULT_LOCALE


# -- where the locale is set --------------------------------------------------------------------


def payload(locale: str, user_id: int = 5, *, dm: bool = False) -> dict[str, Any]:
    who = {"user": {"id": str(user_id)}}
    return {"id": "1", "locale": locale, **(who if dm else {"member": who})}


def test_the_payload_locale_is_resolved_for_members_and_dms() -> None:
    assert locale_of(payload("es-419")) == "es-ES"
    assert locale_of(payload("pt-BR", dm=True)) == "pt-BR"
    assert locale_of({"id": "1"}) == DEFAULT_LOCALE


def test_a_members_chosen_language_beats_the_payloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(chosen_locales, 77, "ja")
    assert locale_of(payload("de", user_id=77)) == "ja"
    assert locale_of(payload("de", user_id=78)) == "de"


async def test_every_task_the_parser_starts_runs_in_the_interactions_locale() -> None:
    seen: list[str] = []

    async def handler() -> None:
        await asyncio.sleep(0)
        seen.append(current_locale())

    tasks: list[asyncio.Task[None]] = []
    parse = in_locale(lambda data: tasks.append(asyncio.create_task(handler())))
    parse(payload("de"))
    parse(payload("fr"))
    await asyncio.gather(*tasks)
    assert seen == ["de", "fr"]
    assert current_locale() == DEFAULT_LOCALE  # nothing leaks into the gateway's own task


def test_a_job_stores_the_language_its_member_is_answered_in() -> None:
    data = {
        **payload("es-419"),
        "application_id": "9",
        "token": "t",
        "channel_id": "3",
        "guild_id": "4",
    }
    assert origin_from_raw(data, 0.0).locale == "es-ES"


# -- command localisations ----------------------------------------------------------------------


def description_of(command: app_commands.Command[Any, Any, Any]) -> TranslationContext[Any, Any]:
    return TranslationContext(TranslationContextLocation.command_description, command)


@app_commands.command(name="help", description="How to make images with this bot")
async def _help(interaction: discord.Interaction) -> None:
    """A command to translate the strings of."""


async def test_a_description_is_translated_for_its_language_only() -> None:
    translator = CatalogueTranslator()
    text = locale_str("How to make images with this bot")
    context = description_of(_help)
    assert await translator.translate(text, discord.Locale.german, context) == (
        "So machst du mit diesem Bot Bilder"
    )
    assert await translator.translate(text, discord.Locale.american_english, context) is None
    assert await translator.translate(text, discord.Locale.korean, context) is None


async def test_a_translated_description_over_100_characters_falls_back_to_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    german = catalogue.for_locale("de")
    assert german is not None
    message = "How to make images with this bot"
    monkeypatch.setitem(german._singles, message, "x" * 101)
    translated = await CatalogueTranslator().translate(
        locale_str(message), discord.Locale.german, description_of(_help)
    )
    assert translated is None


async def test_command_names_are_never_translated() -> None:
    context = TranslationContext(TranslationContextLocation.command_name, _help)
    assert (
        await CatalogueTranslator().translate(locale_str("help"), discord.Locale.german, context)
        is None
    )


async def test_only_choices_written_as_labels_are_translated() -> None:
    translator = CatalogueTranslator()
    word = app_commands.Choice(name=label("week"), value="week")
    plain = app_commands.Choice(name="week", value="week")
    where = TranslationContextLocation.choice_name
    labelled = word._locale_name
    assert labelled is not None
    german = discord.Locale.german
    assert await translator.translate(labelled, german, TranslationContext(where, word)) == "Woche"
    assert (
        await translator.translate(locale_str("week"), german, TranslationContext(where, plain))
        is None
    )
