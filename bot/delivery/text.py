"""Text of the bot's messages; member text (prompts, LoRA names, trigger words, reasons) in them
is shown as typed, never as markdown, links or mentions.

`discord.utils.escape_markdown` and `escape_mentions` do most of it but leave gaps a prompt can
use in a public message: only the first masked link of a line is escaped ("[a](x) [Claim
Nitro](https://evil)" keeps the second one live), `<@123>`, `<#…>`, `<@&…>` with short ids,
`<t:…>` timestamps and `</cmd:…>` tokens are left as they are, headings, quotes and lists are
missed after leading spaces or a blank line, and ordered lists ("1. ") are not touched. A bare
link also gets a preview embed (any image on the web under the bot's name). `escape` closes
those gaps on top of the two helpers; `quote` also keeps the escaped text within a length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import discord

from bot.i18n import N_, _, n_
from bot.jobs.model import Advice, JobKind

if TYPE_CHECKING:  # types only: generation itself shows text through this module
    from bot.providers.base import GenerationResult
    from bot.providers.request import GenerationRequest
    from db.jobs import JobRow

# A link as Discord finds one: `<scheme:/…>` (shown without a preview) or a bare http(s) URL.
_LINK = re.compile(r"<[^: >]+:/[^ >]+>|(?:https?|steam)://[^\s<>]+[^<>.,:;\"')\]\s]")
_AFTER_MARKDOWN = re.compile(
    r"(?P<stray>^\\(?P<indent>[^\S\n]+)(?=-))"  # escape_markdown's "\  - item": move the "\"
    r"|\\."  # an escape already in place, kept with what it escapes
    r"|(?P<open>[\[<])"  # masked links; mention, channel, timestamp and command tokens
    r"|^(?P<lead>[^\S\n]*)(?P<marker>[#>*-]|[0-9]+(?=\.[^\S\n]))",  # headings, quotes, lists
    re.MULTILINE | re.DOTALL,
)


def escape(text: str) -> str:
    """`text` as Discord shows plain text: every markdown character, masked link, mention,
    timestamp and line-start marker escaped; links stay visible and clickable, without a
    preview. Over-escaping is invisible (Discord shows `\\x` as `x` for any punctuation)."""
    parts: list[str] = []
    start = 0
    for link in _LINK.finditer(text):
        parts.append(_escape_plain(text[start : link.start()]))
        url = link.group(0)
        parts.append(url if url.startswith("<") else f"<{url}>")
        start = link.end()
    parts.append(_escape_plain(text[start:]))
    return discord.utils.escape_mentions("".join(parts))


def quote(text: str, limit: int) -> str:
    """Member text on one line, escaped and shortened to at most `limit` characters as sent:
    escaping can double a text's length, and Discord refuses a message over 2,000."""
    flat = " ".join(text.split())
    keep = limit
    while True:
        shown = escape(flat if len(flat) <= keep else flat[: keep - 1] + "…")
        if len(shown) <= limit or keep <= 1:
            return shown
        keep -= max(1, (len(shown) - limit) // 2)


def _escape_plain(text: str) -> str:
    """Text with no link in it: escape_markdown, line by line (its list rule would otherwise
    escape a blank line instead of the list below it), then the gaps it leaves."""
    lines = text.splitlines(keepends=True)
    escaped = "".join(discord.utils.escape_markdown(line, ignore_links=False) for line in lines)
    return _AFTER_MARKDOWN.sub(_close_gap, escaped)


def _close_gap(match: re.Match[str]) -> str:
    if match.group("stray") is not None:
        return match.group("indent") + "\\"
    if match.group("open") is not None:
        return "\\" + match.group("open")
    if match.group("marker") is not None:
        marker = match.group("marker")
        if marker.isdigit():  # "1. item": the dot makes the list
            return f"{match.group('lead')}{marker}\\"
        return f"{match.group('lead')}\\{marker}"
    return match.group(0)


def inline_code(text: str) -> str:
    """`text` in an inline code span shown exactly (a regex filter, say): inside code a
    backslash is shown, not an escape, so the fence is longer than any run of backticks in
    the text instead, with a space inside when the text starts or ends with one."""
    runs = [len(run) for run in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def short_prompt(prompt: str, limit: int = 200) -> str:
    """One line, at most `limit` characters (not escaped: `quote` is for showing)."""
    prompt = " ".join(prompt.split())
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"


# -- links and file names -------------------------------------------------------------------

_IMAGE_NAME = re.compile(r"^(?:SPOILER_)?art-(\d+)-(\d+)\.\w+$")


def message_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def result_link(job: JobRow) -> str:
    """The job's result message, or its original message while it has none."""
    return message_link(job.guild_id, job.channel_id, job.result_message_id or job.message_id or 0)


def image_stem(job_id: int, index: int) -> str:
    """The file name (without extension) of image `index` (0-based) of a job: how a posted
    image is traced back to its job and number (`image_of`)."""
    return f"art-{job_id}-{index + 1}"


def image_of(url_or_name: str) -> tuple[int, int] | None:
    """(job id, 0-based index) of a posted image from its file name, or None."""
    match = _IMAGE_NAME.match(urlparse(url_or_name).path.rsplit("/", 1)[-1])
    return (int(match.group(1)), int(match.group(2)) - 1) if match else None


def is_spoiler(url: str) -> bool:
    return urlparse(url).path.rsplit("/", 1)[-1].startswith("SPOILER_")


# -- a job's messages -----------------------------------------------------------------------

# How a credit line and the audit channel name a job's kind (the ledger keeps the English value).
_KIND_NAMES: dict[str, str] = {
    JobKind.IMAGINE: N_("imagine"),
    JobKind.LORA: N_("lora"),
    JobKind.REROLL: N_("reroll"),
    JobKind.VARIATION: N_("variation"),
    JobKind.REMIX: N_("remix"),
    JobKind.UPSCALE: N_("upscale"),
    JobKind.REGION: N_("region edit"),
    JobKind.ZOOM: N_("zoom out"),
    JobKind.PAN: N_("pan"),
    JobKind.ANIMATE: N_("animation"),
    JobKind.BLEND: N_("blend"),
    JobKind.DESCRIBE: N_("describe"),
}


def kind_name(kind: str) -> str:
    """A job's kind as the member reads it ("remix", "zoom out")."""
    name = _KIND_NAMES.get(kind)
    return _(name) if name else kind


def credit(job: JobRow, parent: JobRow | None, others: Sequence[JobRow] = ()) -> str | None:
    """ "remix of @alice's #123" (linked to the parent's message), for derived results; a
    blend names every source whose author is known ("blend of @alice's #1, @bob's #2")."""
    if parent is None or job.kind not in {k.value for k in JobKind if k.derived}:
        return None
    named = [parent, *(o for o in others if o.id != parent.id)]
    sources = ", ".join(
        _(
            "<@{user}>'s [#{job}]({link})",
            user=source.user_id,
            job=source.id,
            link=result_link(source),
        )
        for source in named
    )
    if job.parent_image is not None and JobKind(job.kind).of_one_image:
        return _(
            "{kind} of image {number} of {sources}",
            kind=kind_name(job.kind),
            number=job.parent_image + 1,
            sources=sources,
        )
    return _("{kind} of {sources}", kind=kind_name(job.kind), sources=sources)


def render_result(
    job: JobRow,
    request: GenerationRequest,
    result: GenerationResult,
    *,
    elapsed_s: float,
    parent: JobRow | None = None,
    sources: Sequence[JobRow] = (),
) -> str:
    seed = _("seed {seed}", seed=result.seed) if result.seed is not None else _("random seed")
    if result.inference_s:
        timing = _(
            "{elapsed:.1f} s ({generating:.1f} s generating)",
            elapsed=elapsed_s,
            generating=result.inference_s,
        )
    else:
        timing = _("{elapsed:.1f} s", elapsed=elapsed_s)
    lines = [f"🎨 **{quote(request.prompt, 900)}** — <@{job.user_id}>"]
    if request.original_prompt:
        said = quote(request.original_prompt, 300)
        lines.append("-# " + _("✨ prompt help, from: {prompt}", prompt=said))
    if request.negative_prompt:
        lines.append("-# " + _("without: {prompt}", prompt=quote(request.negative_prompt, 300)))
    if request.loras:
        names = ", ".join(
            f"{escape(lora.credit or lora.name or short_prompt(lora.path, 60))} ({lora.scale:g})"
            for lora in request.loras
        )
        lines.append("-# " + _("LoRA: {names}", names=names))
    if request.style:
        lines.append("-# " + _("style: {name}", name=quote(request.style, 100)))
    line = credit(job, parent, sources)
    if line:
        lines.append(f"-# {line}")
    provider = job.provider
    if job.fallback_from:
        provider = _(
            "{provider} (fallback: {previous} was down)",
            provider=job.provider,
            previous=job.fallback_from,
        )
    job_no = _("job #{id}", id=job.id)
    lines.append(f"`{seed}` · {provider} · `{job.model}` · {timing} · {job_no}")
    return "\n".join(lines)


def render_prompts(job: JobRow, prompts: list[str], *, elapsed_s: float) -> str:
    """/describe: the candidate prompts, numbered like their Imagine buttons."""
    lines = [_("🔎 **Prompts for this image** — <@{user}>", user=job.user_id)]
    lines += [f"**{i}.** {quote(prompt, 400)}" for i, prompt in enumerate(prompts, 1)]
    parts = (
        _("Imagine <n> runs that prompt (charged then)"),
        f"`{job.model}`",
        _("{elapsed:.1f} s", elapsed=elapsed_s),
        _("job #{id}", id=job.id),
    )
    lines.append("-# " + " · ".join(parts))
    return "\n".join(lines)


def video_link_notice(url: str, size: int | None, limit: int) -> str:
    """Animate: a clip larger than the channel takes is linked, with the reason."""
    if size:
        return _(
            "🎞️ The clip is {size:.1f} MB, more than the {limit:.0f} MB this channel takes as an "
            "attachment, so the image above is its first frame: [watch the clip]({url}) "
            "(the provider keeps it for a limited time).",
            size=size / 1024 / 1024,
            limit=limit / 1024 / 1024,
            url=url,
        )
    return _(
        "🎞️ The clip is larger than the {limit:.0f} MB this channel takes as an attachment, so "
        "the image above is its first frame: [watch the clip]({url}) (the provider keeps it for "
        "a limited time).",
        limit=limit / 1024 / 1024,
        url=url,
    )


def withheld_notice(count: int, *, charged: bool) -> str:
    if charged:
        return n_(
            "⚠️ {n} image was flagged by the provider's safety checker and not shown in this "
            "channel (it still counts against your quota).",
            "⚠️ {n} images were flagged by the provider's safety checker and not shown in this "
            "channel (they still count against your quota).",
            count,
        )
    return n_(
        "⚠️ {n} image was flagged by the provider's safety checker and not shown in this "
        "channel (refunded to your quota).",
        "⚠️ {n} images were flagged by the provider's safety checker and not shown in this "
        "channel (refunded to your quota).",
        count,
    )


_PROVIDER_TITLES = {
    "fal": "fal",
    "replicate": "Replicate",
    "civitai": "CivitAI",
    "openai": "OpenAI",
}


def provider_title(provider: str) -> str:
    """A provider as the member reads its name ("Replicate"), from its config name."""
    return _PROVIDER_TITLES.get(provider, provider)


def dropped_notice(dropped: int, requested: int, provider: str) -> str:
    """Images the provider's safety filter left out of its output (never charged)."""
    return n_(
        "⚠️ {n} of {requested} images was withheld by {provider}'s safety filter (refunded to "
        "your quota).",
        "⚠️ {n} of {requested} images were withheld by {provider}'s safety filter (refunded to "
        "your quota).",
        dropped,
        requested=requested,
        provider=provider_title(provider),
    )


def all_withheld_reason(provider: str, requested: int, said: str) -> str:
    """Why a job failed when the provider's safety filter withheld every image; `said` is
    the provider's own words."""
    return n_(
        "{provider}'s safety filter withheld the image ({said})",
        "{provider}'s safety filter withheld all {n} images ({said})",
        requested,
        provider=provider_title(provider),
        said=said,
    )


REPLICATE_ABORTED = N_(
    "Replicate aborted the prediction before it started (it could not be started before its "
    "deadline), so nothing was generated"
)


_ADVICE = {
    Advice.MAY_HELP: N_("Trying again in a little while may help."),
    Advice.WONT_HELP: N_(
        "Trying again with the same options will not help: change the prompt or options."
    ),
}


def render_failure(job: JobRow, prompt: str, reason: str, advice: Advice) -> str:
    """A job that ended without a result: why, whether trying again helps, and the refund."""
    title = _("**Cancelled**") if advice is Advice.NONE else _("❌ **Generation failed**")
    lines = [f"{title} — {quote(prompt, 300)}", reason]
    if advice in _ADVICE:
        lines.append(_(_ADVICE[advice]))
    refund = n_(
        "Your image was refunded to your daily quota",
        "Your {n} images were refunded to your daily quota",
        job.image_count,
    )
    lines.append(f"-# {refund} · " + _("job #{id}", id=job.id))
    return "\n".join(lines)


UNEXPECTED_ERROR = N_("Something went wrong on our side; nothing was charged. Please try again.")


def lost_notice(what: str) -> str:
    """A command acknowledged just before a crash, before it was recorded (bot/jobs/journal.py)."""
    return _(
        "⚠️ {what} didn't go through: the bot restarted before it was recorded. "
        "Nothing was charged — please run it again.",
        what=what,
    )


def unanswered_notice(what: str) -> str:
    """A command that only answers, acknowledged just before a crash (bot/jobs/journal.py)."""
    return _("⚠️ The bot restarted before it could answer {what}: please run it again.", what=what)
