"""The [providers.*] tables: the settings every provider shares (`ProviderConfig`) and each
provider's defaults on its own subclass, which also lets its checks quote the right example
(its usual key variable, its API root)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, get_args

from pydantic import ValidationInfo, field_validator, model_validator

from bot.config.section import Check, Section, StrList

ProviderName = Literal["fal", "replicate", "civitai", "openai"]
PROVIDER_NAMES: tuple[str, ...] = get_args(ProviderName)
SECRET_ENV: dict[str, str] = {
    "fal": "FAL_KEY",
    "replicate": "REPLICATE_API_TOKEN",
    "civitai": "CIVITAI_API_TOKEN",
    "openai": "OPENAI_API_KEY",  # [providers.openai] api_key_env names another variable
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HTTP_SCHEMES = ("http://", "https://")


# The modes with a model of their own (`<mode>_model`), in the order they are listed.
SPECIAL_MODES = (
    "img2img",
    "lora",
    "upscale",
    "inpaint",
    "outpaint",
    "segment",
    "describe",
    "blend",
    "video",
)


class ProviderConfig(Section):
    """One provider's settings; the subclasses below hold each provider's defaults."""

    enabled: bool = True
    model: str = ""
    models: StrList = ()
    img2img_model: str = ""  # "" = this provider offers no image-to-image here
    lora_model: str = ""
    upscale_model: str = ""
    # The image actions' models (issue 15), "" = not offered on this provider here.
    inpaint_model: str = ""  # Vary (Region); also Zoom Out and Pan where there is no outpainter
    outpaint_model: str = ""  # Zoom Out, Pan
    segment_model: str = ""  # Vary (Region) by words: the words into a mask
    describe_model: str = ""  # /describe
    blend_model: str = ""  # /blend
    video_model: str = ""  # Animate
    poll_interval_s: float = 1.0
    base_url: str = ""  # civitai: orchestration API; openai: the API root with /v1
    models_base_url: str = ""  # civitai: the public models API (civitai.com)
    api_key_env: str = ""  # the variable holding the key ("" = the provider's usual one)

    checks: ClassVar[dict[str, Check]] = {
        "model": (lambda model: bool(model.strip()), "is empty: set a model id."),
        "poll_interval_s": (
            lambda s: 0.2 <= s <= 30,
            "must be between 0.2 and 30 seconds.",
        ),
    }

    def allowed_models(self) -> tuple[str, ...]:
        return self.models if self.model in self.models else (self.model, *self.models)

    def mode_models(self) -> dict[str, str]:
        """The models of the special modes (image-to-image, LoRAs, upscale, the image
        actions), those configured, each with its mode (the first, for one serving several)."""
        found: dict[str, str] = {}
        for mode in SPECIAL_MODES:
            model = getattr(self, f"{mode}_model")
            if model:
                found.setdefault(model, "txt2img" if mode == "lora" else mode)
        return found

    @field_validator("base_url", "models_base_url")
    @classmethod
    def _http_url(cls, url: str, info: ValidationInfo) -> str:
        if url and not url.startswith(HTTP_SCHEMES):
            key = info.field_name or ""
            example = cls.model_fields[key].default or "https://api.example.com/v1"
            raise ValueError(f'= {url!r} is not an http(s) URL: use e.g. "{example}".')
        return url

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str) -> str:
        usual: str = cls.model_fields["api_key_env"].default
        if not name:
            return usual
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f'= {name!r} is not an environment variable name: use e.g. "{usual}".')
        return name


class FalConfig(ProviderConfig):
    model: str = "fal-ai/flux/dev"
    models: StrList = ("fal-ai/flux/dev", "fal-ai/flux/schnell")
    img2img_model: str = "fal-ai/flux/dev/image-to-image"
    lora_model: str = "fal-ai/flux-lora"
    upscale_model: str = "fal-ai/esrgan"
    inpaint_model: str = "fal-ai/flux-pro/v1/fill"
    outpaint_model: str = "fal-ai/image-apps-v2/outpaint"
    segment_model: str = "fal-ai/evf-sam"
    describe_model: str = "fal-ai/florence-2-large/more-detailed-caption"
    blend_model: str = "fal-ai/flux-pro/kontext/multi"
    video_model: str = "fal-ai/kling-video/v3/standard/image-to-video"
    models_base_url: str = "https://api.fal.ai"  # fal's platform API: the models' schemas
    api_key_env: str = SECRET_ENV["fal"]
    # fal's storage API (input images too large to send inline are uploaded through it). Its own
    # setting: fal-client's upload hosts are fixed, not moved by FAL_RUN_HOST.
    storage_url: str = "https://rest.fal.ai"
    # The keys fal signs its webhooks with (bot/providers/fal_webhook.py); used with webhooks
    # on ([web] public_url).
    webhook_jwks_url: str = "https://rest.alpha.fal.ai/.well-known/jwks.json"

    @field_validator("storage_url", "webhook_jwks_url")
    @classmethod
    def _storage_http_url(cls, url: str, info: ValidationInfo) -> str:
        if not url.startswith(HTTP_SCHEMES):
            example = cls.model_fields[info.field_name or "storage_url"].default
            raise ValueError(f'= {url!r} is not an http(s) URL: use e.g. "{example}".')
        return url


class ReplicateConfig(ProviderConfig):
    enabled: bool = False
    model: str = "black-forest-labs/flux-dev"
    models: StrList = ("black-forest-labs/flux-dev", "black-forest-labs/flux-schnell")
    img2img_model: str = "black-forest-labs/flux-dev"
    lora_model: str = "black-forest-labs/flux-dev-lora"
    upscale_model: str = "nightmareai/real-esrgan"
    inpaint_model: str = "black-forest-labs/flux-fill-dev"
    blend_model: str = "flux-kontext-apps/multi-image-kontext-pro"
    video_model: str = "minimax/hailuo-02"
    api_key_env: str = SECRET_ENV["replicate"]


class CivitaiConfig(ProviderConfig):
    """Checkpoints are AIRs; LoRAs ride on the chosen checkpoint, so `lora_model` defaults to
    `model`. SDXL 1.0 base is the default checkpoint."""

    enabled: bool = False
    model: str = "urn:air:sdxl:checkpoint:civitai:101055@128078"
    models: StrList = ("urn:air:sdxl:checkpoint:civitai:101055@128078",)
    lora_model: str = "urn:air:sdxl:checkpoint:civitai:101055@128078"
    base_url: str = "https://orchestration.civitai.com"
    models_base_url: str = "https://civitai.com"
    api_key_env: str = SECRET_ENV["civitai"]

    @model_validator(mode="before")
    @classmethod
    def _lora_on_the_checkpoint(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" in data and "lora_model" not in data:
            return {**data, "lora_model": data["model"]}
        return data


class OpenAIConfig(ProviderConfig):
    enabled: bool = False
    model: str = "gpt-image-1.5"
    models: StrList = ("gpt-image-1.5", "gpt-image-1-mini")
    inpaint_model: str = "gpt-image-1.5"  # Vary (Region) through images.edit
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = SECRET_ENV["openai"]


class ProvidersConfig(Section):
    """The [providers.*] tables; a provider left out keeps its defaults."""

    fal: FalConfig = FalConfig()
    replicate: ReplicateConfig = ReplicateConfig()
    civitai: CivitaiConfig = CivitaiConfig()
    openai: OpenAIConfig = OpenAIConfig()

    def by_name(self) -> dict[str, ProviderConfig]:
        return {name: getattr(self, name) for name in PROVIDER_NAMES}


DEFAULT_PROVIDERS: dict[str, ProviderConfig] = ProvidersConfig().by_name()
