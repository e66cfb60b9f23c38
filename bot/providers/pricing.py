"""What a job is estimated to cost, for budgets, `/usage`, the audit channel and `/models`.

Order of trust, per image: the operator's `[costs] per_model` price for the model; else the
model catalogue's price for the request (`bot/providers/catalogue`); else the operator's
`[costs] per_image` price for the provider; else nothing (0).

The catalogue's prices are in USD. When `[costs] currency` is another currency they are not used
(the bot converts no currencies): the operator's own prices are.

A per-megapixel price is charged per started megapixel of each output image, as fal bills it,
where fal's megapixel is 1024x1024 pixels (a `square_hd` image is one megapixel, $0.025 on
flux/dev). The output's size is the request's aspect ratio at the bot's pixel sizes
(`catalogue.mapping.PIXEL_SIZES`) for text-to-image; for image-to-image, the input image's size
(the model draws at it); for an upscale, the input's size times the factor squared. Where the
input's size is not known, the request's aspect ratio stands in for it. A per-second price is
not known before the job runs: such a model costs its provider's `per_image`.
"""

from __future__ import annotations

from bot.config import Config
from bot.providers.action import DEFAULT_VIDEO_SECONDS
from bot.providers.catalogue import catalogue_for
from bot.providers.catalogue.mapping import PIXEL_SIZES
from bot.providers.request import GenerationRequest

CATALOGUE_CURRENCY = "USD"
BILLED_MEGAPIXEL = 1024 * 1024  # fal's unit: "1 MP = 1024×1024, rounded up per image"
DEFAULT_UPSCALE_FACTOR = 2  # what an upscale without a factor asks for (`model_input`)


def output_megapixels(
    request: GenerationRequest, input_size: tuple[int, int] | None = None
) -> float:
    """The billed size of one output image of `request`, in fal's megapixels."""
    width, height = PIXEL_SIZES.get(request.aspect_ratio, PIXEL_SIZES["1:1"])
    if request.mode != "txt2img" and input_size is not None:
        width, height = input_size
    pixels = width * height
    if request.mode == "upscale":
        pixels *= (request.upscale_factor or DEFAULT_UPSCALE_FACTOR) ** 2
    return pixels / BILLED_MEGAPIXEL


def catalogue_price(config: Config, provider: str, model: str, megapixels: float) -> float | None:
    """The catalogue's price for one image of that size, or None when it has none the bot can
    use (no entry, no price, per second, or prices kept in another currency than USD)."""
    if config.costs.currency.strip().upper() != CATALOGUE_CURRENCY:
        return None
    entry = catalogue_for(config).entry(provider, model)
    if entry is None or entry.price is None:
        return None
    return entry.price.per_image(megapixels)


def price_per_image(config: Config, provider: str, model: str, megapixels: float) -> float | None:
    """One image's estimated price in `[costs] currency`, or None when nothing prices it."""
    costs = config.costs
    if model in costs.per_model:
        return costs.per_model[model]
    found = catalogue_price(config, provider, model, megapixels)
    if found is not None:
        return found
    return costs.per_image.get(provider)


def estimate_cost(
    config: Config, request: GenerationRequest, input_size: tuple[int, int] | None = None
) -> float:
    """The whole job's estimated cost: its price per image times its images (a video: its
    price per second of video times its seconds, where the catalogue has one)."""
    helped = config.prompt_help.cost_per_rewrite if request.original_prompt else 0.0
    if request.mode == "video":
        return round((video_price(config, request) or 0.0) + helped, 6)
    megapixels = output_megapixels(request, input_size)
    per_image = price_per_image(config, request.provider, request.model, megapixels)
    return round((per_image or 0.0) * request.count + helped, 6)


def video_price(config: Config, request: GenerationRequest) -> float | None:
    costs = config.costs
    if request.model in costs.per_model:
        return costs.per_model[request.model]
    entry = catalogue_for(config).entry(request.provider, request.model)
    usable = config.costs.currency.strip().upper() == CATALOGUE_CURRENCY
    if entry is not None and entry.price is not None and usable:
        seconds = request.duration or DEFAULT_VIDEO_SECONDS
        return entry.price.per_video(seconds)
    return costs.per_image.get(request.provider)


def listed_price(
    config: Config, provider: str, model: str, *, upscale: bool = False
) -> float | None:
    """What `/models` shows: one 1:1 image (an upscaler: a 1:1 image upscaled), or None."""
    request = GenerationRequest("", provider, model, mode="upscale" if upscale else "txt2img")
    return price_per_image(config, provider, model, output_megapixels(request))
