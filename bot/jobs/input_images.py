"""A job's input image (img2img, upscale) in the form its provider takes.

Both providers accept an inline `data:` URI, but Replicate recommends one only up to about
256 KB and fal says only some models accept them, while a prepared input is up to 2048 px (a
few MB as JPEG). So a larger image goes through the provider's own file storage and the job
sends the URL it answers with; a small one stays inline, without the extra round trip.

This runs before the submit, once per provider the job is sent to: a job re-attached after a
restart already has its request id and is never submitted, so it never uploads again.
"""

from __future__ import annotations

import base64

from bot.errors import ProviderError
from bot.i18n import _
from bot.jobs.retry import RetryPolicy, with_retries
from bot.providers.base import Provider
from bot.providers.catalogue.mapping import ExtraInputs
from bot.providers.request import GenerationRequest
from db.database import Database

# Bytes of image data (before base64) up to which the image is sent inline: Replicate's
# recommended ceiling for data URLs.
INLINE_IMAGE_LIMIT = 256 * 1024

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


async def provider_image(
    db: Database,
    provider: Provider,
    request: GenerationRequest,
    *,
    job_id: int,
    retry: RetryPolicy,
) -> str | None:
    """The input image as `provider` should get it (None when the job has none): a data URI
    when small, else the URL of the copy uploaded to the provider, with the same retries as
    any other provider call."""
    if request.image_id is None:
        return None
    return await _as_sent(db, provider, request.image_id, job_id=job_id, retry=retry)


async def provider_extras(
    db: Database,
    provider: Provider,
    request: GenerationRequest,
    *,
    job_id: int,
    retry: RetryPolicy,
) -> ExtraInputs:
    """The mask and a blend's other images, each sent as `provider_image` sends the first."""
    mask = None
    if request.mask_id is not None:
        mask = await _as_sent(db, provider, request.mask_id, job_id=job_id, retry=retry)
    images = tuple(
        [
            await _as_sent(db, provider, image_id, job_id=job_id, retry=retry)
            for image_id in request.extra_image_ids
        ]
    )
    return ExtraInputs(mask=mask, images=images)


async def _as_sent(
    db: Database, provider: Provider, image_id: int, *, job_id: int, retry: RetryPolicy
) -> str:
    stored = await db.images.get(image_id)
    if stored is None:
        raise ProviderError(
            provider.name, _("the input image is no longer stored"), retryable=False
        )
    data, content_type = stored
    if len(data) > INLINE_IMAGE_LIMIT:
        name = f"input-{job_id}-{image_id}.{_EXTENSIONS.get(content_type, 'bin')}"
        url = await with_retries(
            retry,
            lambda: provider.upload_image(data, content_type, name),
            what=f"job {job_id} input image upload to {provider.name}",
        )
        if url is not None:
            return url
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
