"""The bot answers each member in their language, end to end: real discord.py against the
loopback Discord, the locale read from each interaction's payload (bot/i18n/gateway.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.i18n import chosen_locales
from tests.cogs.moderation_helpers import MEMBER
from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, options, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
ALICE = 4000


def help_fields(interaction: Interaction) -> dict[str, str]:
    (callback,) = interaction.callbacks()
    (embed,) = callback.json["data"]["embeds"]
    return {field["name"]: field["value"] for field in embed["fields"]}


async def click(
    fake: FakeDiscord, message: FakeMessage, custom_id: str, locale: str
) -> Interaction:
    """A click on a button `custom_id` shown on `message`, from a client in `locale`."""
    button = {"type": 2, "style": 2, "label": "Cancel", "custom_id": custom_id}
    return await fake.send_raw_interaction(
        {
            "type": 3,
            "data": {"custom_id": custom_id, "component_type": 2},
            "message": {"id": str(message.id), "components": [{"type": 1, "components": [button]}]},
            "channel_id": str(message.channel_id),
            "locale": locale,
        }
    )


async def some_message(h: Harness) -> FakeMessage:
    """A message of the bot's to click on (a /help answer)."""
    shown = await h.discord.send_interaction("help", [])
    await h.settled()
    return h.original(shown)


async def test_a_german_client_gets_help_in_german_and_an_english_one_in_english(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        german = await fake_discord.send_interaction("help", [], locale="de")
        english = await fake_discord.send_interaction("help", [], locale="en-US")
        await h.settled()
        deutsch = help_fields(german)
        assert "**/imagine** — Bilder aus einem Text-Prompt generieren" in deutsch["Befehle"]
        assert "**Apps → Variationen machen** auf einer Nachricht mit Bild" in deutsch["Befehle"]
        assert "🎨 **Remix** mit deinem eigenen Prompt" in deutsch["Knöpfe an Ergebnissen"]
        # the command list goes on in unnamed fields
        assert set(help_fields(english)) - {"\u200b"} == {
            "Commands",
            "Buttons on results",
            "Limits",
        }
        assert (
            "**/imagine** — Generate images from a text prompt" in help_fields(english)["Commands"]
        )


async def test_a_refusal_is_in_the_members_language(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        refused = await fake_discord.send_interaction(
            "admin", [{"name": "unban", "type": 1, "options": []}], permissions=MEMBER, locale="de"
        )
        await h.settled()
        assert refused.private_answers() == [
            "Sorry, /admin ist für Mitglieder mit der Berechtigung „Server verwalten“."
        ]


async def test_a_refused_prompt_parameter_is_explained_in_the_members_language(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        german = await h.discord.send_interaction(
            "imagine", options(prompt="a cat --ar 7:5"), locale="de"
        )
        english = await h.discord.send_interaction("imagine", options(prompt="a cat --ar 7:5"))
        await h.settled()
        (refusal,) = german.private_answers()
        assert refusal.startswith("--ar 7:5 wird nicht unterstützt; wähle eins von "), refusal
        (answer,) = english.private_answers()
        assert answer.startswith("--ar 7:5 is not supported; choose one of "), answer


async def test_a_members_chosen_language_beats_their_clients(
    fake_discord: FakeDiscord, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(chosen_locales, ALICE, "de")
    async with running_bot(fake_discord, db_path) as h:
        alice = await fake_discord.send_interaction("help", [], user_id=ALICE, locale="en-US")
        others = await fake_discord.send_interaction("help", [], user_id=ALICE + 1, locale="en-US")
        await h.settled()
        assert "Befehle" in help_fields(alice)
        assert "Commands" in help_fields(others)


async def test_a_button_click_is_answered_in_the_clickers_language(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        message = await some_message(h)
        german = await click(fake_discord, message, "af:cancel:987654321", "de")
        english = await click(fake_discord, message, "af:cancel:987654321", "en-US")
        await h.settled()
        # (the click on an ephemeral message also counts its update, an empty answer)
        assert [a for a in german.private_answers() if a] == [
            "Dieser Knopf gehört zu keinem Auftrag hier."
        ]
        assert [a for a in english.private_answers() if a] == [
            "This button does not belong to a job here."
        ]


async def test_a_form_submission_is_answered_in_the_members_language(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        text_input = {"type": 4, "custom_id": "prompt", "value": "a lighthouse"}
        submitted = await fake_discord.send_raw_interaction(
            {
                "type": 5,
                "data": {
                    "custom_id": "af:rxm:987654321",
                    "components": [{"type": 1, "components": [text_input]}],
                },
                "locale": "de",
            }
        )
        await h.settled()
        assert submitted.private_answers() == ["Dieses Ergebnis gibt es nicht mehr."]


async def test_a_job_keeps_its_members_language_for_its_result(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        started = await fake_discord.send_interaction(
            "imagine", options(prompt="a lighthouse", seed=42), user_id=ALICE, locale="es-419"
        )
        german = await fake_discord.send_interaction(
            "imagine", options(prompt="a lighthouse", seed=42), user_id=ALICE, locale="de"
        )
        await h.idle()
        job = await h.job_for(german)
        assert job is not None and job.locale == "de"
        spanish = await h.job_for(started)
        assert spanish is not None and spanish.locale == "es-ES"
        assert "Seed 42" in (h.original(german).content or "")
        assert "semilla 42" in (h.original(started).content or "")  # es-419: the Spanish


def localised(command: dict[str, Any], locale: str = "de") -> str | None:
    return (command.get("description_localizations") or {}).get(locale)


async def test_the_synced_commands_carry_german_descriptions_but_not_german_names(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path):
        commands = fake_discord.commands
        imagine = commands["imagine"]
        assert localised(imagine) == "Bilder aus einem Text-Prompt generieren"
        assert not imagine.get("name_localizations")
        prompt = next(o for o in imagine["options"] if o["name"] == "prompt")
        assert (localised(prompt) or "").startswith("Was gezeichnet werden soll")
        assert "name_localizations" not in prompt
        providers = next(o for o in imagine["options"] if o["name"] == "provider")
        assert all("name_localizations" not in c for c in providers["choices"])  # identifiers
        (top,) = commands["gallery"]["options"]
        assert localised(top) == "Die meistgewählten Bilder der Galerie"
        (period,) = top["options"]
        names = {
            c["value"]: (c.get("name_localizations") or {}).get("de") for c in period["choices"]
        }
        assert names == {"day": "Tag", "week": "Woche", "month": "Monat"}
        menu = commands["Make variations"]
        assert menu["name_localizations"]["de"] == "Variationen machen"
        assert localised(commands["help"], "en-US") is None
        assert localised(commands["help"], "en-GB") is None


async def test_the_settings_panels_language_is_used_whatever_the_client(
    fake_discord: FakeDiscord, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        shown = await fake_discord.send_interaction("settings", [], user_id=ALICE)
        await h.settled()
        panel = h.original(shown)
        await fake_discord.send_component(
            panel, "af:set:lang", component_type=3, values=["de"], user_id=ALICE
        )
        await h.settled()
        redrawn = h.discord.message(panel.id)
        assert redrawn is not None and "Deutsch" in (redrawn.content or "")
        asked = await fake_discord.send_interaction("help", [], user_id=ALICE, locale="en-US")
        await h.settled()
        assert "Befehle" in help_fields(asked)
        chosen_locales.clear()


async def test_audit_lines_are_in_the_servers_language_not_the_members(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.settings.update_guild(fake_discord.guild_id, audit_channel_id=3900)
        await fake_discord.send_interaction(
            "imagine", options(prompt="a lighthouse"), user_id=ALICE, locale="de"
        )
        await h.idle()
        await h.bot.audit.flush()
        (line,) = [m.content or "" for m in fake_discord.channel_messages(3900)]
        assert "[jump](" in line and "hinspringen" not in line  # the server is en-US
