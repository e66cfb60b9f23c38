"""A finished request's output as the files (and words) its message carries, by mode.

- Images: downloaded and fitted to the interaction's attachment limit (bot/delivery/downloads).
- A video: the MP4 itself when it fits `attachment_size_limit`; otherwise it is not fetched
  past the limit, and the message carries the job's input image as a still, with a link to
  the provider's file and the reason.
- A description: no files; the caption becomes candidate prompts (`candidate_prompts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp

from bot.delivery.downloads import ImageFile, download_images, fetch_video
from bot.delivery.text import image_stem
from bot.errors import DeliveryError
from bot.i18n import _
from bot.providers.base import GenerationResult
from bot.providers.request import GenerationRequest
from db.database import Database
from db.jobs import JobRow

MAX_PROMPTS = 4
PROMPT_CHARS = 900  # each candidate stays short enough for a prompt box and a message
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# How captioners open a description; a prompt names the subject instead.
_LEAD_INS = re.compile(
    r"^(?:the|this)\s+(?:image|picture|photo(?:graph)?|illustration|painting|artwork)\s+"
    r"(?:shows|depicts|features|is of|captures|presents|displays)\s+",
    re.IGNORECASE,
)
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


@dataclass(frozen=True)
class Output:
    files: list[ImageFile]
    video_url: str | None = None  # a clip too large to attach: linked instead
    video_bytes: int | None = None  # its size, when the provider said


async def job_output(
    session: aiohttp.ClientSession, db: Database, job: JobRow, result: GenerationResult
) -> Output:
    request = GenerationRequest.from_json(job.inputs_json)
    if request.mode == "describe":
        return Output([])
    limit = job.attachment_size_limit
    if request.mode != "video":
        files = await download_images(session, result, job_id=job.id, per_file_limit=limit)
        return Output(files)
    if not result.images:
        raise DeliveryError(_("the provider answered without a video"), retryable=True)
    video = result.images[0]
    stem = image_stem(job.id, 0)
    fetched, size = await fetch_video(session, video.url, stem=stem, limit=limit)
    if fetched is not None:
        return Output([fetched])
    still = await _still(db, request, stem)
    return Output([still] if still else [], video_url=video.url, video_bytes=size)


async def _still(db: Database, request: GenerationRequest, stem: str) -> ImageFile | None:
    """The clip's first frame as the member gave it: the job's input image."""
    if request.image_id is None:
        return None
    stored = await db.images.get(request.image_id)
    if stored is None:
        return None
    data, content_type = stored
    return ImageFile(f"{stem}.{_EXTENSIONS.get(content_type, 'png')}", data, content_type)


def candidate_prompts(texts: tuple[str, ...]) -> list[str]:
    """Up to four prompts from a captioner's description, shortest first: its first sentence
    (the subject), then each further sentence added (setting, details, style), so a member
    picks how much of the image to ask for. Vision models that answer several descriptions
    give one prompt each."""
    found: list[str] = []
    for text in texts:
        sentences = [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]
        if not sentences:
            continue
        sentences[0] = _subject_first(sentences[0])
        steps = _spread(len(sentences), MAX_PROMPTS if len(texts) == 1 else 1)
        for count in steps:
            prompt = " ".join(sentences[:count])[:PROMPT_CHARS].strip()
            if prompt and prompt not in found:
                found.append(prompt)
    return found[:MAX_PROMPTS]


def _subject_first(sentence: str) -> str:
    trimmed = _LEAD_INS.sub("", sentence, count=1)
    return trimmed[:1].upper() + trimmed[1:] if trimmed else sentence


def _spread(sentences: int, wanted: int) -> list[int]:
    """How many sentences each of `wanted` prompts takes: 1 first, all of them last."""
    if wanted <= 1 or sentences <= 1:
        return [sentences] if wanted <= 1 else [1]
    if sentences <= wanted:
        return list(range(1, sentences + 1))
    return sorted({round(1 + i * (sentences - 1) / (wanted - 1)) for i in range(wanted)})
