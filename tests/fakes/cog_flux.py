"""Which ``lora_weights`` values Replicate's FLUX LoRA models (replicate/cog-flux) can load.

Mirrors ``weights.py`` of replicate/cog-flux at 51e81e0 (2025-07-31): ``make_download_url``
turns the value into a download URL (or raises ``ValueError``), then ``download_weights_url``
picks a downloader by the URL's form (or raises ``ValueError``). Both run inside ``predict()``
(``bfl_predictor.handle_loras`` → ``WeightsDownloadCache.ensure``), so Replicate does not answer
a bad value with a 422: it creates the prediction, which then *fails* with the exception's text
as its ``error`` (cog's worker: ``_handle_predict_error`` sets ``Done.error_detail = str(e)``).

What loads: Hugging Face ``huggingface.co/<owner>/<repo>[/<file>.safetensors]``,
``civitai.com/models/<id>[/<slug>]`` (no query: cog-flux downloads ``/api/download/models/<id>``),
``civitai.com/api/download/models/...``, any ``http(s)://….safetensors[?…]`` URL, Replicate
models ``<owner>/<name>[/<version>]``, ``replicate.delivery/….tar`` and ``data:`` tarballs. A
civitai.com page link with ``?modelVersionId=`` does not, nor ``www.civitai.com``.

Downloads themselves are not faked: a URL of an accepted form counts as loaded.
"""

from __future__ import annotations

import re

_HF = re.compile(r"^(?:https?://)?huggingface\.co/([^/]+)/([^/]+)(?:/([^/]+\.safetensors))?/?$")
_CIVITAI_PAGE = re.compile(r"^(?:https?://)?civitai\.com/models/(\d+)(?:/[^/?]+)?/?$")
_CIVITAI_DOWNLOAD = re.compile(r"^((?:https?://)?civitai\.com/api/download/models/.*)$")
_SAFETENSORS = re.compile(r"^(https?://.*\.safetensors(\?.*)?)$")
_REPLICATE_MODEL = re.compile(r"^(?:https?://replicate.com/)?([^/]+)/([^/]+)/?$")
_REPLICATE_VERSION = re.compile(
    r"^(?:https?://replicate.com/)?([^/]+)/([^/]+)/(?:versions/)?([^/]+)/?$"
)
_REPLICATE_TAR = re.compile(r"^(https?://replicate.delivery/.*\.tar)$")

_PARSE_FAILED = (
    "Failed to parse URL. Expected either:\n"
    "* Replicate model in the format <owner>/<username> or <owner>/<username>/<version>\n"
    "* HuggingFace URL in the format "
    "huggingface.co/<owner>/<model-name>[/<lora-weights-file.safetensors>]\n"
    "* CivitAI URL in the format civitai.com/models/<id>[/<model-name>]\n"
    "* Arbitrary .safetensors URLs from the Internet"
)


def make_download_url(url: str) -> str:
    """cog-flux's ``make_download_url`` (without the token it appends to CivitAI links)."""
    if url.startswith("data:") or _HF.match(url):
        return url
    if m := _CIVITAI_PAGE.match(url):
        return f"https://civitai.com/api/download/models/{m[1]}?type=Model&format=SafeTensor"
    if _CIVITAI_DOWNLOAD.match(url) or _SAFETENSORS.match(url):
        return url
    if m := _REPLICATE_MODEL.match(url):
        return f"https://replicate.com/{m[1]}/{m[2]}/_weights"
    if m := _REPLICATE_VERSION.match(url):
        return f"https://replicate.com/{m[1]}/{m[2]}/versions/{m[3]}/_weights"
    if m := _REPLICATE_TAR.match(url):
        return m[1]
    if "huggingface.co" in url:
        raise ValueError(
            "Failed to parse HuggingFace URL. Expected "
            "huggingface.co/<owner>/<model-name>[/<lora-weights-file.safetensors>]"
        )
    if "civitai.com" in url:
        raise ValueError(
            "Failed to parse CivitAI URL. Expected civitai.com/models/<id>[/<model-name>]"
        )
    raise ValueError(_PARSE_FAILED)


def check_download_url(url: str) -> None:
    """The dispatch of cog-flux's ``download_weights_url``: which downloader takes the URL."""
    if _HF.match(url) or url.startswith("data:") or url.endswith((".tar", "/_weights")):
        return
    if url.endswith(".safetensors") or "://civitai.com/api/download" in url:
        return
    if ".safetensors?" in url:
        return
    raise ValueError("URL must end with either .tar or .safetensors")


def lora_weights_error(value: object, civitai_origins: set[str] | frozenset[str]) -> str | None:
    """The error a cog-flux prediction fails with for this ``lora_weights``, or None when it
    loads. ``civitai_origins`` are loopback origins standing in for ``https://civitai.com``
    (the fake CivitAI), so a test's download link is judged as the real one would be."""
    if not isinstance(value, str) or not value:
        return None  # no LoRA: cog-flux skips loading
    for origin in civitai_origins:
        if value.startswith(origin.rstrip("/") + "/"):
            value = "https://civitai.com" + value[len(origin.rstrip("/")) :]
            break
    try:
        check_download_url(make_download_url(value))
    except ValueError as exc:
        return str(exc)
    return None
