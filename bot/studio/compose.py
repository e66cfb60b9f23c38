"""What a generation command asks for, composed in one place, in this order of precedence:
the command's options, then the prompt's `--params`, then the style (named, or the member's
default style), then the member's `/settings`, then the server's and the bot's defaults. The
server's rules are applied last, by the admission gate, and win over all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from bot.community.loras import LoraChoice, LoraLibrary
from bot.config import Config
from bot.errors import InvalidRequest
from bot.jobs.intake import JobService
from bot.jobs.model import Origin
from bot.moderation.preferences import Preferences
from bot.providers.offers import Needs
from bot.providers.request import GenerationRequest, RequestOptions
from bot.studio.batches import PendingBatches
from bot.studio.prompt_help import PromptHelper
from bot.studio.settings import MemberDefaults
from bot.studio.styles import StyleLibrary, apply_style, style_loras
from db.studio import MemberSettings


@dataclass(frozen=True)
class Prepared:
    """A command's options with the style and the member's defaults in them."""

    options: RequestOptions
    style_loras: tuple[LoraChoice, ...] = ()
    member: MemberSettings | None = None


class Studio:
    def __init__(
        self,
        config: Config,
        jobs: JobService,
        preferences: Preferences,
        loras: LoraLibrary,
        prompt_help: PromptHelper,
        defaults: MemberDefaults,
        styles: StyleLibrary,
    ) -> None:
        self._config = config
        self._jobs = jobs
        self._preferences = preferences
        self._loras = loras
        self._prompt_help = prompt_help
        self.defaults = defaults
        self.styles = styles
        self.pending = PendingBatches()

    async def prepare(
        self, options: RequestOptions, origin: Origin, *, defaults: bool = True
    ) -> Prepared:
        """The style, then the member's defaults, where the command left things open. A style
        named now must exist; a default style since removed is simply not used."""
        member = await self.defaults.get(origin.user_id)
        extra: tuple[LoraChoice, ...] = ()
        name = options.style or (member.style if defaults else None)
        if name:
            try:
                style = await self.styles.find(origin.guild_id, origin.user_id, name)
            except InvalidRequest:
                if options.style:
                    raise
            else:
                options = replace(apply_style(style, options), style=style.name)
                extra = tuple(LoraChoice(ref) for ref in style_loras(style))
        if defaults:
            options = await self.defaults.fill(
                options, origin.user_id, origin.guild_id, origin.channel_id
            )
        return Prepared(options, extra, member)

    async def imagine_request(
        self,
        options: RequestOptions,
        origin: Origin,
        *,
        help_prompt: bool = True,
        checked: Mapping[RequestOptions, GenerationRequest] | None = None,
    ) -> GenerationRequest:
        """The checked request for an `/imagine`: when the member's defaults make it invalid
        (an aspect ratio the model lacks), it is built without them; the member's own options
        are still refused, naming the problem."""
        prepared = await self.prepare(options, origin)
        try:
            request = await self._built(prepared, origin, checked or {})
        except InvalidRequest:
            plain = await self.prepare(options, origin, defaults=False)
            if plain.options == prepared.options and plain.style_loras == prepared.style_loras:
                raise
            request = await self._built(plain, origin, checked or {})
        member = prepared.member
        if help_prompt and (member is None or member.prompt_help is not False):
            request = await self._prompt_help.apply(request)
        return request

    async def imagine(
        self,
        options: RequestOptions,
        origin: Origin,
        *,
        checked: Mapping[RequestOptions, GenerationRequest] | None = None,
    ) -> int:
        """`checked`: the requests already built from some options (before the
        acknowledgement), used as they are when the options come out the same."""
        request = await self.imagine_request(options, origin, checked=checked)
        return await self._jobs.create(request, origin)

    async def imagine_batch(
        self, requests: list[GenerationRequest], origins: list[Origin]
    ) -> list[int]:
        """A confirmed permutation: every job, or none."""
        return await self._jobs.create_batch(requests, origins)

    async def _built(
        self,
        prepared: Prepared,
        origin: Origin,
        checked: Mapping[RequestOptions, GenerationRequest],
    ) -> GenerationRequest:
        options, style_loras = prepared.options, prepared.style_loras
        provider = options.provider or await self._preferences.default_provider(
            origin.guild_id, origin.channel_id, options.model, needs=Needs(loras=len(style_loras))
        )
        options = replace(options, provider=provider)
        if style_loras:
            options = await self._loras.with_loras(
                options, origin.guild_id, style_loras, origin.channel_nsfw
            )
        known = checked.get(options)
        return known if known is not None else options.build(self._config)
