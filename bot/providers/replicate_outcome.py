"""How a Replicate prediction ended, read where replicate 1.0.7 falls short.

- **`aborted`**: a prediction can end without ever starting (it ran past its deadline while
  waiting to start; Replicate's "Prediction lifecycle" docs). replicate 1.0.7's `Prediction`
  model predates that status and refuses to parse it (replicate-python#460 adds it), which made
  every status read fail as an "unexpected error" until the retries ran out. Predictions are
  read here with the full status set; `aborted` is a terminal, unsuccessful end that trying
  again later may fix.
- **Safety drops**: cog-flux (replicate/cog-flux `predict.py`) leaves the images its safety
  checker flags out of the output without a trace, so a member who asked for 4 may get 3; when
  it flags all of them the prediction fails with "All generated images contained NSFW
  content…". The first is counted (`dropped`) so only what is delivered is charged; the
  second gets a reason that says what happened.
"""

from __future__ import annotations

from typing import Any, Literal

from replicate.client import Client
from replicate.prediction import Prediction

from bot.delivery.text import REPLICATE_ABORTED, all_withheld_reason
from bot.errors import ProviderError
from bot.i18n import _
from bot.providers.base import trim_reason

# cog-flux's error when its safety checker flagged every image (the text before "Try …").
ALL_FLAGGED = "All generated images contained NSFW content"


class FullPrediction(Prediction):
    """replicate's `Prediction` with every status the API sends."""

    status: Literal[  # type: ignore[assignment]
        "starting", "processing", "succeeded", "failed", "canceled", "aborted"
    ]


async def get_prediction(client: Client, request_id: str) -> Prediction:
    """`GET /v1/predictions/{id}` as `predictions.async_get` does, parsed with every status."""
    response = await client._async_request("GET", f"/v1/predictions/{request_id}")
    prediction = FullPrediction(**response.json())
    prediction._client = client
    return prediction


def ending_reason(prediction: Prediction) -> str:
    """Why a prediction that ended unsuccessfully did, for the member."""
    if prediction.status == "aborted":
        return _(REPLICATE_ABORTED)
    if prediction.status == "canceled" and not prediction.error:
        return _("the prediction was cancelled")
    error = str(prediction.error or _("the prediction {status}", status=prediction.status))
    if error.startswith(ALL_FLAGGED):
        return trim_reason(all_withheld_reason("replicate", requested(prediction), error))
    return trim_reason(error)


def failure(prediction: Prediction) -> ProviderError:
    """The error a prediction that did not succeed ends its job with. An aborted one never
    ran, so trying again later may help; for a failed one (the model's own error) it won't."""
    return ProviderError(
        "replicate", ending_reason(prediction), retryable=prediction.status == "aborted"
    )


def requested(prediction: Prediction) -> int:
    """How many images the prediction was asked for (`num_outputs`; 1 when it has none)."""
    count: Any = (prediction.input or {}).get("num_outputs")
    return count if isinstance(count, int) and count > 0 else 1


def dropped(prediction: Prediction, delivered: int) -> int:
    """Images asked for that the output does not have: the safety filter's drops."""
    count: Any = (prediction.input or {}).get("num_outputs")
    return max(count - delivered, 0) if isinstance(count, int) else 0
