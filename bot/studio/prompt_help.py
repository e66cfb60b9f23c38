"""Prompt help: a short prompt rewritten into a richer one by an OpenAI-compatible chat model
(`[prompt_help]`, off by default), before the job is checked and charged.

The rewritten prompt is what the server's filters check (with the member's own words) and what
the provider gets; the result shows both. A rewrite that fails or takes longer than
`timeout_s` keeps the member's prompt: help is never a reason for a job to fail. Its price
(`cost_per_rewrite`) is added to the job's estimated cost, so budgets count it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import openai

from bot.config import Config
from bot.providers.request import MAX_PROMPT_CHARS, GenerationRequest

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "You improve prompts for an image generation model. Rewrite the user's short prompt into "
    "one richer prompt of at most 60 words: keep its subject and intent, add setting, "
    "composition, lighting and style. Answer with the prompt only."
)


class PromptHelper:
    def __init__(self, config: Config) -> None:
        self._settings = config.prompt_help
        key = config.secrets.prompt_help_key
        self._client = (
            openai.AsyncOpenAI(
                api_key=key.get(),
                base_url=self._settings.base_url.rstrip("/"),
                max_retries=0,
                timeout=self._settings.timeout_s,
            )
            if self._settings.enabled and key is not None
            else None
        )

    def applies(self, request: GenerationRequest) -> bool:
        return (
            self._client is not None
            and request.mode == "txt2img"
            and len(request.prompt.split()) <= self._settings.max_words
        )

    async def apply(self, request: GenerationRequest) -> GenerationRequest:
        """`request` with its prompt rewritten (the member's kept as `original_prompt`), or as
        it was."""
        if not self.applies(request):
            return request
        rewritten = await self.rewrite(request.prompt)
        if not rewritten or rewritten == request.prompt:
            return request
        return replace(request, prompt=rewritten, original_prompt=request.prompt)

    async def rewrite(self, prompt: str) -> str | None:
        assert self._client is not None
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                answer = await self._client.chat.completions.create(
                    model=self._settings.model,
                    messages=[
                        {"role": "system", "content": INSTRUCTIONS},
                        {"role": "user", "content": prompt},
                    ],
                )
        except (openai.OpenAIError, TimeoutError) as exc:
            log.info("prompt help: keeping the member's prompt (%s)", type(exc).__name__)
            return None
        text = (answer.choices[0].message.content or "") if answer.choices else ""
        text = " ".join(text.split()).strip('"')
        return text[:MAX_PROMPT_CHARS] or None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
