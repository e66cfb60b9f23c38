"""Private results and user installs (issue 16): a private result is the member's alone (an
ephemeral message, never in the gallery, others' lineage or the audit's links), a server may
forbid them, and the bot installed to a member's account works in their DMs on a quota of its
own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.discord import FakeDiscord, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
ALICE, BOB = 4000, 4001
AUDIT, GALLERY = 3900, 3901
CHAT_INPUT = 2


def opt(name: str, value: Any) -> dict[str, Any]:
    types = {str: 3, int: 4, float: 10, bool: 5}
    return {"name": name, "type": types[type(value)], "value": value}


async def imagine(h: Harness, user_id: int = ALICE, **values: Any) -> Interaction:
    options = [opt(k, v) for k, v in values.items()]
    return await h.discord.send_interaction("imagine", options, user_id=user_id)


async def test_a_private_result_is_ephemeral_and_stays_out_of_the_gallery_and_audit_links(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        guild = fake_discord.guild_id
        await h.bot.db.settings.update_guild(
            guild, audit_channel_id=AUDIT, gallery_channel_id=GALLERY
        )
        interaction = await imagine(h, prompt="a secret garden", private=True)
        await h.idle()
        result = h.original(interaction)
        assert result.ephemeral and len(result.attachments) == 1
        assert "a secret garden" in (result.content or "")
        job = await h.job_for(interaction)
        assert job is not None and job.private and job.state == "done"

        share = await fake_discord.send_component(result, f"af:share:{job.id}:1", user_id=ALICE)
        await h.settled()
        (answer,) = share.private_answers()
        assert answer.startswith("This result is private, so it stays out of the gallery")
        assert fake_discord.channel_messages(GALLERY) == []
        assert await h.bot.db.community.shares_of_job(job.id) == []

        await h.bot.audit.flush()
        audit = "\n".join(m.content or "" for m in fake_discord.channel_messages(AUDIT))
        assert f"#{job.id}" in audit and "· private" in audit and "[jump]" not in audit


async def test_a_public_result_keeps_its_audit_link(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.settings.update_guild(fake_discord.guild_id, audit_channel_id=AUDIT)
        interaction = await imagine(h, prompt="a public garden")
        await h.idle()
        assert not h.original(interaction).ephemeral
        await h.bot.audit.flush()
        audit = "\n".join(m.content or "" for m in fake_discord.channel_messages(AUDIT))
        assert "[jump]" in audit and "private" not in audit


async def test_inline_private_and_a_private_default_both_answer_ephemerally(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        inline = await imagine(h, prompt="a fox --private")
        await h.idle()
        assert h.original(inline).ephemeral
        await h.bot.studio.defaults.save(BOB, private=True)
        by_default = await imagine(h, user_id=BOB, prompt="a fox")
        await h.idle()
        assert h.original(by_default).ephemeral
        job = await h.job_for(by_default)
        assert job is not None and job.private


async def test_an_explicit_public_option_beats_a_private_default(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.studio.defaults.save(ALICE, private=True)
        interaction = await imagine(h, prompt="a fox", private=False)
        await h.idle()
        assert not h.original(interaction).ephemeral


async def test_a_default_saved_by_another_process_moves_the_placeholder(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.studio.update_member(ALICE, private=True)  # not seen before the ack
        interaction = await imagine(h, prompt="a fox")
        await h.idle()
        assert h.original(interaction).deleted
        (moved,) = interaction.followups()
        assert moved.ephemeral and len(moved.attachments) == 1


async def test_a_button_on_a_private_result_makes_a_private_result(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await imagine(h, prompt="a fox", private=True)
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        click = await fake_discord.send_component(h.original(interaction), f"af:rr:{job.id}")
        await h.idle()
        assert h.original(click).ephemeral
        child = await h.job_for(click)
        assert child is not None and child.private


async def test_a_server_that_forbids_private_results_refuses_them_and_charges_nothing(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    async with running_bot(fake_discord, db_path) as h:
        await h.bot.db.settings.update_guild(fake_discord.guild_id, private_results=False)
        interaction = await imagine(h, prompt="a fox", private=True)
        await h.settled()
        assert interaction.private_answers() == [
            "This server does not allow private results: run it without private."
        ]
        assert fake_fal.submits == []
        assert (await h.bot.jobs.usage(ALICE, fake_discord.guild_id)).used == 0


async def test_someone_elses_private_result_is_not_found_by_lineage(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await imagine(h, prompt="a fox", private=True)
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None
        asked = await fake_discord.send_interaction(
            "lineage", [opt("job", str(job.id))], user_id=BOB
        )
        await h.settled()
        assert asked.private_answers() == ["I can't find that job in this server."]
        mine = await fake_discord.send_interaction(
            "lineage", [opt("job", str(job.id))], user_id=ALICE
        )
        await h.settled()
        shown = mine.original()
        assert shown is not None and "a fox" in str(shown.content) + str(shown.embeds)


def _dm_imagine(fake: FakeDiscord, user_id: int, **values: Any) -> dict[str, Any]:
    """An /imagine from the bot installed to the member's account, in their DM with the bot:
    no guild, `context` 1 (BOT_DM), a user install authorising it."""
    return {
        "type": CHAT_INPUT,
        "user": fake.user_json(user_id),
        "context": 1,
        "data": {
            "id": str(fake.global_commands.get("imagine", {}).get("id", 1)),
            "name": "imagine",
            "type": 1,
            "options": [opt(k, v) for k, v in values.items()],
        },
    }


async def test_a_user_install_in_a_dm_is_served_on_the_personal_quota(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    quotas = {"images_per_user_per_day": 25, "images_per_user_per_day_outside_servers": 2}
    async with running_bot(fake_discord, db_path, quotas=quotas) as h:
        served = await fake_discord.send_raw_interaction(
            _dm_imagine(fake_discord, ALICE, prompt="a fox in my DMs", count=2)
        )
        await h.idle()
        result = h.original(served)
        assert len(result.attachments) == 2
        job = await h.job_for(served)
        assert job is not None and job.guild_id is None and job.state == "done"
        refused = await fake_discord.send_raw_interaction(
            _dm_imagine(fake_discord, ALICE, prompt="one more")
        )
        await h.settled()
        (answer,) = refused.private_answers()
        assert answer.startswith("You have used all 2 of your images for today."), answer
        assert len(fake_fal.submits) == 1
        assert (await h.bot.jobs.usage(ALICE)).used == 2  # outside servers
        assert (await h.bot.jobs.usage(ALICE, fake_discord.guild_id)).used == 0


async def test_a_private_result_that_outlives_its_interaction_goes_to_the_members_dms(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, Script(queue_s=0.1, queue_positions=[0], run_s=1.0, steps=2))
    async with running_bot(fake_discord, db_path) as h:
        interaction = await imagine(h, prompt="kept to myself", private=True)
        await fake_fal.wait_for_submit()
        fake_discord.clock_offset = 16 * 60  # the interaction's token has expired
        await h.idle()
        job = await h.job_for(interaction)
        assert job is not None and job.state == "done"
        dm = fake_discord.channel_messages(fake_discord._dm_channel_for(ALICE))
        assert [len(m.attachments) for m in dm] == [1]
        assert "kept to myself" in (dm[0].content or "")
        public = fake_discord.channel_messages(fake_discord.channel_id)
        assert [m for m in public if m.attachments] == []
