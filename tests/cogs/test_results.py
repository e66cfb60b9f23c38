"""Result buttons end to end: V1-V4, U1-U4, reroll, remix, delete; credit, charging, restarts."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from tests.fakes.discord import FakeDiscord, FakeMessage, Interaction
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

QUICK = Script(queue_s=0, queue_positions=[0], run_s=0.2, steps=1)
ALICE, BOB = 4000, 5000


def custom_ids(message: FakeMessage) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row.get("components", [])]


def decode_data_uri(uri: str) -> Image.Image:
    assert uri.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")


def center(image: Image.Image) -> tuple[int, ...]:
    return tuple(image.getpixel((image.width // 2, image.height // 2)))  # type: ignore[arg-type]


def same_color(a: Image.Image, b: Image.Image) -> bool:
    """Equal but for JPEG rounding (the input image is normalised to JPEG)."""
    return all(abs(x - y) <= 4 for x, y in zip(center(a), center(b), strict=True))


async def finished(h: Harness, prompt: str, count: int = 2) -> tuple[Interaction, FakeMessage]:
    interaction = await h.imagine(prompt=prompt, count=count, user_id=ALICE, seed=7)
    await h.idle()
    message = h.original(interaction)
    assert len(message.attachments) == count
    return interaction, message


async def test_results_carry_persistent_buttons_for_each_image(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "two foxes")
        job = await h.job_for(interaction)
        assert job is not None
        assert custom_ids(message) == [
            f"af:v:{job.id}:1",
            f"af:v:{job.id}:2",
            f"af:u:{job.id}:1",
            f"af:u:{job.id}:2",
            f"af:share:{job.id}:1",
            f"af:share:{job.id}:2",
            f"af:rr:{job.id}",
            f"af:rx:{job.id}",
            f"af:del:{job.id}",
            f"af:rep:{job.id}",
        ]
        # V, U, ⭐ Share per image, then the actions with 🚩 Report next to Delete.
        rows = [[c["custom_id"] for c in row["components"]] for row in message.components]
        assert rows[-1] == [
            f"af:rr:{job.id}",
            f"af:rx:{job.id}",
            f"af:del:{job.id}",
            f"af:rep:{job.id}",
        ]


async def test_variation_sends_the_clicked_image_and_is_charged_to_the_clicker(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "a red kite")
        parent = await h.job_for(interaction)
        assert parent is not None
        click = await fake_discord.send_component(message, f"af:v:{parent.id}:2", user_id=BOB)
        await h.idle()

        assert [c.json["type"] for c in click.callbacks()] == [5]  # a new public message
        app_id, arguments, _ = fake_fal.submits[-1]
        assert app_id == "fal-ai/flux/dev/image-to-image"
        assert arguments["prompt"] == "a red kite"
        assert arguments["strength"] == 0.6
        sent = decode_data_uri(arguments["image_url"])
        clicked = Image.open(io.BytesIO(message.attachments[1].data)).convert("RGB")
        other = Image.open(io.BytesIO(message.attachments[0].data)).convert("RGB")
        assert same_color(sent, clicked) and not same_color(sent, other)

        child = await h.job_for(click)
        assert child is not None
        assert (child.kind, child.parent_job_id, child.parent_image) == ("variation", parent.id, 1)
        assert (child.user_id, child.state) == (BOB, "done")
        assert await h.bot.db.jobs.quota_used(BOB, child.quota_day) == child.image_count
        assert await h.bot.db.jobs.quota_used(ALICE, child.quota_day) == parent.image_count
        credit = h.original(click).content or ""
        assert f"variation of image 2 of <@{ALICE}>'s [#{parent.id}](" in credit


async def test_upscale_uses_the_providers_upscaler_on_the_clicked_image(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "tiny castle")
        parent = await h.job_for(interaction)
        assert parent is not None
        alone = await fake_discord.send_component(message, f"af:u:{parent.id}:1")
        await h.idle()
        single = h.original(alone)
        click = await fake_discord.send_component(single, f"af:ia:up:{parent.id}:1")
        await h.idle()
        app_id, arguments, _ = fake_fal.submits[-1]
        assert app_id == "fal-ai/esrgan"
        assert arguments["scale"] == 2
        clicked = Image.open(io.BytesIO(message.attachments[0].data)).convert("RGB")
        assert same_color(decode_data_uri(arguments["image_url"]), clicked)
        upscaled = h.original(click)
        assert len(upscaled.attachments) == 1
        child = await h.job_for(click)
        assert child is not None
        # One image: its actions, then ⭐ Share, 🗑 and 🚩 (no reroll or remix of an upscale).
        assert custom_ids(upscaled)[-3:] == [
            f"af:share:{child.id}:1",
            f"af:del:{child.id}",
            f"af:rep:{child.id}",
        ]
        assert f"af:ia:z2:{child.id}:1" in custom_ids(upscaled)
        assert f"upscale of image 1 of <@{ALICE}>'s [#{parent.id}]" in (upscaled.content or "")


async def test_reroll_keeps_the_inputs_with_a_new_seed(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "moonlit pier")
        parent = await h.job_for(interaction)
        assert parent is not None
        click = await fake_discord.send_component(message, f"af:rr:{parent.id}", user_id=BOB)
        await h.idle()
        first, second = fake_fal.submits[0][1], fake_fal.submits[-1][1]
        assert second["prompt"] == first["prompt"] and second["num_images"] == 2
        assert first["seed"] == 7 and "seed" not in second
        child = await h.job_for(click)
        assert child is not None and (child.kind, child.user_id) == ("reroll", BOB)
        assert f"reroll of <@{ALICE}>'s [#{parent.id}]" in (h.original(click).content or "")


async def test_remix_form_offers_no_negative_prompt_where_the_model_takes_none(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "a lighthouse")  # fal-ai/flux/dev
        parent = await h.job_for(interaction)
        assert parent is not None
        click = await fake_discord.send_component(message, f"af:rx:{parent.id}", user_id=BOB)
        await h.settled()
        (callback,) = click.callbacks()
        inputs = [c for row in callback.json["data"]["components"] for c in row["components"]]
        assert [i["custom_id"] for i in inputs] == ["prompt"]
        # A forged submission with one anyway is refused, not silently dropped.
        forged = await fake_discord.send_modal_submit(
            f"af:rxm:{parent.id}", {"prompt": "a lighthouse", "negative_prompt": "fog"}, user_id=BOB
        )
        await h.idle()
        (answer,) = forged.private_answers()
        assert "No model on this bot takes a negative prompt" in answer
        assert len(fake_fal.submits) == 1
        assert await h.job_for(forged) is None
        assert await h.bot.db.jobs.quota_used(BOB, parent.quota_day) == 0


async def test_remix_by_another_member_is_charged_to_them_and_credits_the_author(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "a lighthouse")
        parent = await h.job_for(interaction)
        assert parent is not None
        click = await fake_discord.send_component(message, f"af:rx:{parent.id}", user_id=BOB)
        await h.settled()
        (callback,) = click.callbacks()
        assert callback.json["type"] == 9  # a modal, prefilled
        modal = callback.json["data"]
        assert modal["custom_id"] == f"af:rxm:{parent.id}"
        inputs = [c for row in modal["components"] for c in row["components"]]
        assert inputs[0]["value"] == "a lighthouse"

        submit = await fake_discord.send_modal_submit(
            f"af:rxm:{parent.id}", {inputs[0]["custom_id"]: "a lighthouse at dawn"}, user_id=BOB
        )
        await h.idle()
        assert fake_fal.submits[-1][1]["prompt"] == "a lighthouse at dawn"
        child = await h.job_for(submit)
        assert child is not None
        assert (child.kind, child.user_id, child.parent_job_id) == ("remix", BOB, parent.id)
        assert await h.bot.db.jobs.quota_used(BOB, child.quota_day) == 2
        assert f"remix of <@{ALICE}>'s [#{parent.id}]" in (h.original(submit).content or "")


async def test_delete_is_refused_to_others_and_allowed_to_the_author(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "mine to delete")
        job = await h.job_for(interaction)
        assert job is not None
        stranger = await fake_discord.send_component(
            message, f"af:del:{job.id}", user_id=BOB, permissions="0"
        )
        await h.settled()
        (answer,) = stranger.private_answers()
        assert "Only the member who made this image" in answer
        assert not message.deleted

        await fake_discord.send_component(message, f"af:del:{job.id}", user_id=ALICE)
        await h.settled()
        assert message.deleted
        deleted = await h.job_for(interaction)
        assert deleted is not None and deleted.deleted_at is not None
        later = await fake_discord.send_component(
            message, f"af:v:{job.id}:1", user_id=BOB, message_overrides={"id": str(message.id)}
        )
        await h.settled()
        assert "was deleted" in later.private_answers()[0]


async def test_forged_custom_ids_are_refused(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "two pears")
        job = await h.job_for(interaction)
        assert job is not None

        def forged(custom_id: str) -> dict[str, object]:
            return {
                "components": [
                    {"type": 1, "components": [{"type": 2, "style": 2, "custom_id": custom_id}]}
                ]
            }

        cases = {
            f"af:v:{job.id}:4": "That result has only 2 images; there is no image 4.",
            "af:v:99999:1": "That result no longer exists.",
            "af:rr:99999": "That result no longer exists.",
            f"af:u:{job.id}:3": "there is no image 3",
        }
        for custom_id, words in cases.items():
            click = await fake_discord.send_component(
                message, custom_id, user_id=BOB, message_overrides=forged(custom_id)
            )
            await h.settled()
            (answer,) = click.private_answers()
            assert words in answer, (custom_id, answer)
        assert len(fake_fal.submits) == 1  # nothing new was started or charged
        assert await h.bot.db.jobs.quota_used(BOB, job.quota_day) == 0


async def test_a_button_clicked_after_a_restart_still_works(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "persistent")
        job = await h.job_for(interaction)
        assert job is not None
    async with running_bot(fake_discord, db_path) as h2:
        click = await fake_discord.send_component(message, f"af:v:{job.id}:1", user_id=BOB)
        await h2.idle()
        child = await h2.job_for(click)
        assert child is not None and child.state == "done" and child.parent_job_id == job.id
        assert len(h2.original(click).attachments) == 2


async def test_remix_forms_survive_a_restart_and_two_members_remixing_at_once(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    carol = 6000
    async with running_bot(fake_discord, db_path) as h:
        interaction, message = await finished(h, "a harbour")
        parent = await h.job_for(interaction)
        assert parent is not None
        for member in (BOB, carol):  # both open the form on the same image
            await fake_discord.send_component(message, f"af:rx:{parent.id}", user_id=member)
        await h.settled()
        first = await fake_discord.send_modal_submit(
            f"af:rxm:{parent.id}", {"prompt": "a harbour at night"}, user_id=BOB
        )
        await h.idle()
    # Carol submits her open form after the bot restarted.
    async with running_bot(fake_discord, db_path) as h2:
        second = await fake_discord.send_modal_submit(
            f"af:rxm:{parent.id}",
            {"prompt": "a harbour in snow"},
            user_id=carol,
        )
        await h2.idle()
        prompts = [(s[1]["prompt"], s[1].get("negative_prompt")) for s in fake_fal.submits[1:]]
        assert prompts == [("a harbour at night", None), ("a harbour in snow", None)]
        for submit, member in ((first, BOB), (second, carol)):
            child = await h2.job_for(submit)
            assert child is not None
            assert (child.kind, child.user_id, child.state) == ("remix", member, "done")
            assert len(h2.original(submit).attachments) == 2

        stale = await fake_discord.send_modal_submit("af:rxm:999999", {"prompt": "x"}, user_id=BOB)
        await h2.settled()
        assert stale.private_answers() == ["That result no longer exists."]
        assert len(fake_fal.submits) == 3


async def test_a_variation_of_a_4_step_schnell_result_takes_the_image_models_fewest_steps(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    # fal-ai/flux/dev/image-to-image takes 10–50 steps: the parent's 4 are adapted, not refused.
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction = await h.imagine(
            prompt="a fast fox", model="fal-ai/flux/schnell", steps=4, user_id=ALICE
        )
        await h.idle()
        parent = await h.job_for(interaction)
        assert parent is not None and parent.state == "done"
        click = await fake_discord.send_component(
            h.original(interaction), f"af:ia:vs:{parent.id}:1", user_id=BOB
        )
        await h.idle()
        app_id, arguments, _ = fake_fal.submits[-1]
        assert app_id == "fal-ai/flux/dev/image-to-image"
        assert arguments["num_inference_steps"] == 10
        child = await h.job_for(click)
        assert child is not None and child.state == "done"


async def test_parameters_typed_into_the_remix_form_replace_the_inherited_ones(
    fake_discord: FakeDiscord, fake_fal: FakeFal, db_path: Path
) -> None:
    fake_fal.script(None, QUICK)
    async with running_bot(fake_discord, db_path) as h:
        interaction, _ = await finished(h, "a harbour")
        parent = await h.job_for(interaction)
        assert parent is not None
        submitted = await fake_discord.send_modal_submit(
            f"af:rxm:{parent.id}", {"prompt": "a harbour at night --ar 16:9"}, user_id=BOB
        )
        await h.idle()
        _, arguments, _ = fake_fal.submits[-1]
        assert arguments["prompt"] == "a harbour at night"
        assert arguments["image_size"] == "landscape_16_9"  # the parent was 1:1
        child = await h.job_for(submitted)
        assert child is not None and child.state == "done"
