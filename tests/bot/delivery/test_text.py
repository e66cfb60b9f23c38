"""The text of the bot's messages (`bot.delivery.text`): member text in them is shown as text
(`escape`, `inline_code`), and what a result, a failure, a link and an image name say."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.delivery.text import (
    credit,
    escape,
    image_of,
    image_stem,
    inline_code,
    is_spoiler,
    lost_notice,
    message_link,
    render_failure,
    render_result,
    result_link,
    short_prompt,
    withheld_notice,
)
from bot.jobs.model import Advice, JobKind
from bot.providers.base import GeneratedImage, GenerationResult
from bot.providers.request import GenerationRequest, LoraRef
from db.jobs import JobRow
from tests.discord_markdown import render


@pytest.mark.parametrize(
    "text",
    [
        "[Claim free Nitro](https://evil.example/login)",
        "[one](https://a.example) and [two](https://evil.example/login)",
        "[Claim](<https://evil.example/login>)",
        "**[Claim](https://evil.example/login)**",
        "https://ok.example/[Claim](https://evil.example/login)",
        "[Claim]( https://evil.example/login )",
    ],
)
def test_masked_links_are_shown_as_text(text: str) -> None:
    shown = render(escape(text))
    assert [link for link in shown.links if link[0] != link[1]] == []
    assert shown.text == text.replace("<", "").replace(">", "")  # `<url>` shows the url


@pytest.mark.parametrize(
    "text", ["see https://evil.example/cat.png please", "see <https://evil.example/cat.png>"]
)
def test_links_stay_visible_and_get_no_preview(text: str) -> None:
    escaped = escape(text)
    assert "<https://evil.example/cat.png>" in escaped  # angle brackets: no embed preview
    shown = render(escaped)
    assert shown.links == [("https://evil.example/cat.png",) * 2]
    assert shown.text == text.replace("<", "").replace(">", "")


@pytest.mark.parametrize(
    "text",
    [
        "<@123456789012345678>",
        "<@!123456789012345678>",
        "<@1234>",
        "<@&987654321098765432>",
        "<#123456789012345678>",
        "@everyone",
        "@here",
        "<t:1700000000:R>",
        "<t:1700000000>",
        "</imagine:123456789012345678>",
        "<:pepe:123456789012345678>",
        "hi <@123456789012345678>, @everyone look",
    ],
)
def test_mentions_and_timestamps_are_shown_as_text(text: str) -> None:
    shown = render(escape(text))
    assert shown.mentions == []
    assert shown.text == text


@pytest.mark.parametrize(
    "text",
    [
        "# Heading",
        "## Heading",
        "### Heading",
        "-# small print",
        "> quote",
        ">>> quote",
        "- item",
        "* item",
        "1. item",
        "12. item",
        "   # indented heading",
        "  - indented item",
        "  > indented quote",
        "first line\n\n- item after a blank line",
        "first line\n# heading\n> quote\n2. item",
    ],
)
def test_headings_lists_and_quotes_are_shown_as_text(text: str) -> None:
    shown = render(escape(text))
    assert shown.blocks == []
    assert shown.text == text


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("**bold** __under__ ~~gone~~", r"\*\*bold\*\* \_\_under\_\_ \~\~gone\~\~"),
        ("||spoiler||", r"\|\|spoiler\|\|"),
        ("`code` ```block```", r"\`code\` \`\`\`block\`\`\`"),
        ("a \\ backslash", r"a \\ backslash"),
        ("plain words, stay as they are.", "plain words, stay as they are."),
    ],
)
def test_inline_markdown_is_escaped(text: str, escaped: str) -> None:
    assert escape(text) == escaped


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (r"gore\w*", r"`gore\w*`"),
        ("a`b", "``a`b``"),
        ("``x`", "``` ``x` ```"),
        (
            "<@123456789012345678> [x](https://e.example)",
            "`<@123456789012345678> [x](https://e.example)`",
        ),
    ],
)
def test_code_spans_show_the_text_exactly(text: str, code: str) -> None:
    assert inline_code(text) == code
    shown = render(code)
    assert shown.text == text
    assert shown.links == [] and shown.mentions == []


_PIECES = st.sampled_from(
    [
        *"[]()<>@#:-*_~|\\`!&/.> \n\tatR019",
        "https://evil.example/x",
        "everyone",
        "here",
        "123456789012345678",
        "t:1700000000",
    ]
)


@given(st.lists(_PIECES, max_size=30).map("".join))
def test_any_text_is_shown_exactly_with_nothing_live(text: str) -> None:
    shown = render(escape(text))
    assert [link for link in shown.links if link[0] != link[1]] == []
    assert shown.mentions == []
    assert shown.blocks == []
    # `<url>` shows the link without its angle brackets, like any message would.
    assert shown.text.replace("<", "").replace(">", "") == text.replace("<", "").replace(">", "")


# -- a job's messages -----------------------------------------------------------------------

ALICE = 4000  # the parent's author
BOB = 4001  # who asked for the job
GUILD, CHANNEL = 10, 20
PARENT_ID, PARENT_MESSAGE, PARENT_RESULT = 5, 500, 501
JOB_ID = 7
PARENT_RESULT_LINK = f"https://discord.com/channels/{GUILD}/{CHANNEL}/{PARENT_RESULT}"


def job_row(**changes: Any) -> JobRow:
    """A finished job row as the ledger returns it; `changes` override any column."""
    values: dict[str, Any] = {
        "id": JOB_ID,
        "state": "done",
        "kind": JobKind.IMAGINE.value,
        "parent_job_id": None,
        "user_id": BOB,
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "application_id": 30,
        "interaction_id": 40,
        "interaction_token": "tok",
        "interaction_created_at": 0.0,
        "message_id": 700,
        "attachment_size_limit": 10_000_000,
        "provider": "fal",
        "model": "fal-ai/flux/dev",
        "inputs": '{"prompt": "p"}',
        "image_count": 1,
        "provider_request_id": "req-1",
        "attempts": 1,
        "error": None,
        "error_retryable": None,
        "result": None,
        "cost": None,
        "quota_day": "2024-01-01",
        "quota_state": "committed",
        "created_at": 0.0,
        "updated_at": 0.0,
        "submitted_at": None,
        "finished_at": None,
    }
    return JobRow(**{**values, **changes})


PARENT = job_row(
    id=PARENT_ID, user_id=ALICE, message_id=PARENT_MESSAGE, result_message_id=PARENT_RESULT
)


def request(**changes: Any) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a cat", "provider": "fal", "model": "m", **changes})


def result(seed: int | None = 42, inference_s: float | None = None) -> GenerationResult:
    return GenerationResult(
        images=(GeneratedImage("https://cdn.example/a.png"),), seed=seed, inference_s=inference_s
    )


def lines_of(text: str) -> list[str]:
    return text.split("\n")


def test_result_shows_the_seed_it_was_made_with() -> None:
    text = render_result(job_row(), request(), result(seed=42), elapsed_s=3.0)
    assert "`seed 42`" in text


def test_result_without_a_seed_says_random_seed() -> None:
    text = render_result(job_row(), request(), result(seed=None), elapsed_s=3.0)
    assert "`random seed`" in text
    assert "seed None" not in text


def test_result_title_is_the_escaped_prompt_and_the_author() -> None:
    text = render_result(job_row(), request(prompt="**cat** <@1>"), result(), elapsed_s=1.0)
    assert lines_of(text)[0] == f"🎨 **\\*\\*cat\\*\\* \\<@1>** — <@{BOB}>"


def test_result_footer_names_seed_provider_model_time_and_job() -> None:
    text = render_result(job_row(), request(), result(), elapsed_s=3.04)
    assert lines_of(text)[-1] == f"`seed 42` · fal · `fal-ai/flux/dev` · 3.0 s · job #{JOB_ID}"


def test_result_footer_adds_the_providers_generating_time() -> None:
    text = render_result(job_row(), request(), result(inference_s=1.26), elapsed_s=3.0)
    assert "· 3.0 s (1.3 s generating) ·" in text


def test_result_shows_the_negative_prompt_on_its_own_line() -> None:
    text = render_result(job_row(), request(negative_prompt="blur_ry"), result(), elapsed_s=1.0)
    assert lines_of(text)[1] == "-# without: blur\\_ry"


def test_result_without_negative_prompt_has_no_without_line() -> None:
    text = render_result(job_row(), request(), result(), elapsed_s=1.0)
    assert "without:" not in text
    assert len(lines_of(text)) == 2


def test_result_credits_each_lora_with_its_scale() -> None:
    loras = (
        LoraRef("https://h.example/ink.safetensors", 0.8, "ink", "Ink Wash by alice (CivitAI)"),
        LoraRef("https://h.example/grain.safetensors", 1.0, "film_grain"),
    )
    text = render_result(job_row(kind="lora"), request(loras=loras), result(), elapsed_s=1.0)
    assert "-# LoRA: Ink Wash by alice (CivitAI) (0.8), film\\_grain (1)" in lines_of(text)


def test_result_names_an_unnamed_lora_by_its_shortened_link() -> None:
    path = "https://huggingface.co/" + "x" * 80
    lora = LoraRef(path, 0.5)
    text = render_result(job_row(), request(loras=(lora,)), result(), elapsed_s=1.0)
    lora_line = next(line for line in lines_of(text) if line.startswith("-# LoRA: "))
    assert lora_line == f"-# LoRA: {escape(short_prompt(path, 60))} (0.5)"
    assert len(short_prompt(path, 60)) == 60


def test_result_without_loras_has_no_lora_line() -> None:
    assert "LoRA" not in render_result(job_row(), request(), result(), elapsed_s=1.0)


def test_result_notes_the_provider_it_fell_back_from() -> None:
    job = job_row(provider="replicate", fallback_from="fal")
    text = render_result(job, request(), result(), elapsed_s=1.0)
    assert "· replicate (fallback: fal was down) ·" in text


def test_result_without_fallback_has_no_fallback_note() -> None:
    assert "fallback" not in render_result(job_row(), request(), result(), elapsed_s=1.0)


def test_variation_credit_names_the_image_author_and_links_the_parent() -> None:
    job = job_row(kind="variation", parent_job_id=PARENT_ID, parent_image=1)
    text = render_result(job, request(), result(), elapsed_s=1.0, parent=PARENT)
    assert f"-# variation of image 2 of <@{ALICE}>'s [#5]({PARENT_RESULT_LINK})" in lines_of(text)


def test_upscale_credit_names_the_image_number() -> None:
    job = job_row(kind="upscale", parent_image=0)
    assert credit(job, PARENT) == f"upscale of image 1 of <@{ALICE}>'s [#5]({PARENT_RESULT_LINK})"


@pytest.mark.parametrize("kind", ["reroll", "remix"])
def test_reroll_and_remix_credit_the_whole_result_without_an_image_number(kind: str) -> None:
    job = job_row(kind=kind, parent_image=2)
    assert credit(job, PARENT) == f"{kind} of <@{ALICE}>'s [#5]({PARENT_RESULT_LINK})"


def test_credit_links_the_parents_original_message_while_it_has_no_result_message() -> None:
    parent = replace(PARENT, result_message_id=None)
    job = job_row(kind="reroll")
    link = f"https://discord.com/channels/{GUILD}/{CHANNEL}/{PARENT_MESSAGE}"
    assert credit(job, parent) == f"reroll of <@{ALICE}>'s [#5]({link})"


@pytest.mark.parametrize("kind", ["imagine", "lora"])
def test_a_job_not_built_on_another_image_has_no_credit(kind: str) -> None:
    job = job_row(kind=kind)
    assert credit(job, PARENT) is None
    assert "of <@" not in render_result(job, request(), result(), elapsed_s=1.0, parent=PARENT)


def test_a_derived_job_whose_parent_is_gone_has_no_credit() -> None:
    assert credit(job_row(kind="variation", parent_image=0), None) is None


def failure(advice: Advice, images: int = 1, prompt: str = "a cat") -> list[str]:
    return lines_of(render_failure(job_row(image_count=images), prompt, "provider down", advice))


def test_failure_names_why_and_escapes_the_prompt() -> None:
    lines = failure(Advice.MAY_HELP, prompt="*cat*")
    assert lines[:2] == ["❌ **Generation failed** — \\*cat\\*", "provider down"]


def test_failure_that_may_pass_later_says_trying_again_may_help() -> None:
    lines = failure(Advice.MAY_HELP)
    assert lines[2] == "Trying again in a little while may help."
    assert len(lines) == 4


def test_failure_of_refused_input_says_trying_again_will_not_help() -> None:
    lines = failure(Advice.WONT_HELP)
    assert lines[2] == (
        "Trying again with the same options will not help: change the prompt or options."
    )
    assert len(lines) == 4


def test_cancelled_job_says_cancelled_and_gives_no_advice() -> None:
    lines = failure(Advice.NONE)
    assert lines[0] == "**Cancelled** — a cat"
    assert "Generation failed" not in "\n".join(lines)
    assert not any("Trying again" in line for line in lines)
    assert len(lines) == 3


@pytest.mark.parametrize("advice", list(Advice))
def test_failure_refund_line_for_one_image_is_singular(advice: Advice) -> None:
    refund = f"-# Your image was refunded to your daily quota · job #{JOB_ID}"
    assert failure(advice, images=1)[-1] == refund


@pytest.mark.parametrize("advice", list(Advice))
def test_failure_refund_line_for_several_images_is_plural(advice: Advice) -> None:
    refund = f"-# Your 3 images were refunded to your daily quota · job #{JOB_ID}"
    assert failure(advice, images=3)[-1] == refund


@pytest.mark.parametrize(
    ("count", "charged", "notice", "tail"),
    [
        (1, True, "1 image was flagged", "it still counts against your quota"),
        (2, True, "2 images were flagged", "they still count against your quota"),
        (1, False, "1 image was flagged", "refunded to your quota"),
        (3, False, "3 images were flagged", "refunded to your quota"),
    ],
)
def test_withheld_notice_counts_the_images_and_says_whether_they_were_charged(
    count: int, charged: bool, notice: str, tail: str
) -> None:
    text = withheld_notice(count, charged=charged)
    assert text.startswith(f"⚠️ {notice}")
    assert text.endswith(f"({tail}).")


def test_lost_notice_says_nothing_was_charged() -> None:
    text = lost_notice("Your /imagine")
    assert text.startswith("⚠️ Your /imagine didn't go through")
    assert "Nothing was charged" in text


# -- links and file names -------------------------------------------------------------------


def test_message_link_in_a_server_names_the_server() -> None:
    assert message_link(GUILD, CHANNEL, 30) == "https://discord.com/channels/10/20/30"


def test_message_link_in_a_dm_uses_at_me() -> None:
    assert message_link(None, CHANNEL, 30) == "https://discord.com/channels/@me/20/30"


def test_result_link_prefers_the_result_message() -> None:
    assert result_link(PARENT) == PARENT_RESULT_LINK


def test_result_link_falls_back_to_the_original_message() -> None:
    job = job_row(message_id=700)
    assert result_link(job) == f"https://discord.com/channels/{GUILD}/{CHANNEL}/700"


@pytest.mark.parametrize(("job_id", "index"), [(1, 0), (5, 1), (123456, 3)])
def test_image_stem_and_image_of_round_trip(job_id: int, index: int) -> None:
    stem = image_stem(job_id, index)
    assert stem == f"art-{job_id}-{index + 1}"
    assert image_of(f"{stem}.png") == (job_id, index)
    assert image_of(f"https://cdn.discordapp.com/attachments/1/2/{stem}.webp?ex=1&is=2") == (
        job_id,
        index,
    )


def test_a_spoilered_image_is_traced_back_like_any_other() -> None:
    url = f"https://cdn.discordapp.com/attachments/1/2/SPOILER_{image_stem(5, 1)}.png?ex=1"
    assert image_of(url) == (5, 1)
    assert is_spoiler(url)


def test_an_image_without_the_spoiler_prefix_is_not_a_spoiler() -> None:
    assert not is_spoiler(f"https://cdn.discordapp.com/attachments/1/2/{image_stem(5, 1)}.png")
    assert not is_spoiler("https://cdn.example/SPOILER_dir/art-5-2.png")


@pytest.mark.parametrize(
    "name",
    [
        "cat.png",
        "art-5.png",
        "art-x-1.png",
        "my-art-5-1.png",
        "art-5-1",
        "https://cdn.example/art-5-1.png/other.png",
    ],
)
def test_a_name_not_made_by_image_stem_is_no_image_of_a_job(name: str) -> None:
    assert image_of(name) is None


def test_short_prompt_keeps_one_line_within_the_limit() -> None:
    assert short_prompt("a  cat\n\non a\tmat") == "a cat on a mat"
    assert short_prompt("x" * 10, limit=5) == "xxxx…"
    assert short_prompt("x" * 5, limit=5) == "xxxxx"
