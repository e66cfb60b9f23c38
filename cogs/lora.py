"""`/lora` (generate with up to three LoRAs) and the `/loras` library commands.

The library is its own command group because a Discord command with subcommands cannot also
take options directly. Managing it needs Manage Server, checked when the command runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.community.loras import LoraChoice
from bot.delivery.text import escape
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.jobs.model import Origin
from bot.providers.offers import Needs
from bot.providers.request import MAX_IMAGES, MAX_PROMPT_CHARS, MAX_SEED, RequestOptions
from bot.studio.params import parse_params
from cogs.ui.choices import provider_choices
from cogs.ui.interactions import defer_journalled, send_ephemeral, start_job
from cogs.ui.styles import style_choices

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9"]
Scale = app_commands.Range[float, -4.0, 4.0]


def _is_nsfw_channel(interaction: discord.Interaction[Any]) -> bool:
    channel = interaction.channel
    return bool(getattr(channel, "nsfw", False))


class Loras(commands.Cog):
    library = app_commands.Group(
        name="loras", description="This server's LoRA library", guild_only=True
    )

    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    async def _names(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        rows = await self.bot.loras.loras(interaction.guild_id, current.strip(), limit=25)
        return [app_commands.Choice(name=row.name, value=row.name) for row in rows][:25]

    @app_commands.command(name="lora", description="Generate with up to three LoRAs")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to draw",
        lora="A LoRA from this server's library, or a link (.safetensors, Hugging Face, CivitAI)",
        scale="How strongly the LoRA applies (default: the library's, or 1)",
        lora2="A second LoRA",
        scale2="Scale of the second LoRA",
        lora3="A third LoRA",
        scale3="Scale of the third LoRA",
        negative_prompt="What to keep out of the image",
        provider="Which service generates it",
        aspect_ratio="Image shape (width:height)",
        count=f"How many images (1-{MAX_IMAGES})",
        seed="Fix the randomness to reproduce a result",
        steps="Number of denoising steps",
        guidance="How strictly to follow the prompt",
        style="A style from this server's or your own library",
        private="Only you see the result",
    )
    async def lora(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        lora: str,
        scale: Scale | None = None,
        lora2: str | None = None,
        scale2: Scale | None = None,
        lora3: str | None = None,
        scale3: Scale | None = None,
        negative_prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        provider: str | None = None,
        aspect_ratio: AspectRatio | None = None,
        count: app_commands.Range[int, 1, MAX_IMAGES] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 1, 50] | None = None,
        guidance: app_commands.Range[float, 0.0, 20.0] | None = None,
        style: app_commands.Range[str, 1, 40] | None = None,
        private: bool | None = None,
    ) -> None:
        try:  # `--ar 16:9` and the like inside the prompt: read before anything else
            inline = parse_params(prompt)
        except InvalidRequest as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        choices = [
            LoraChoice(ref, weight)
            for ref, weight in ((lora, scale), (lora2, scale2), (lora3, scale3))
            if ref
        ]
        nsfw = _is_nsfw_channel(interaction)
        loras, studio = self.bot.loras, self.bot.studio

        async def create(origin: Origin) -> int:
            asked = RequestOptions(
                prompt=inline.prompt,
                negative_prompt=negative_prompt,
                provider=provider,
                aspect_ratio=aspect_ratio,
                count=count,
                seed=seed,
                steps=steps,
                guidance=guidance,
                style=style,
            )
            # The style and the member's defaults fill what was left open; a slash option beats
            # `--ar` & co. Read after the acknowledgement, like everything from the database.
            prepared = await studio.prepare(inline.under(asked), origin)
            every = [*choices, *prepared.style_loras]
            chosen = prepared.options.provider or await self.bot.preferences.default_provider(
                interaction.guild_id,
                interaction.channel_id,
                needs=Needs(loras=len(every)),
            )
            options = replace(prepared.options, provider=chosen)
            return await loras.lora_job(origin, choices=every, channel_nsfw=nsfw, options=options)

        if private is None and inline.private:  # a slash option beats `--private`
            private = True
        await start_job(interaction, create, private=private)

    @lora.autocomplete("style")
    async def style_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await style_choices(interaction, current)

    @lora.autocomplete("lora")
    @lora.autocomplete("lora2")
    @lora.autocomplete("lora3")
    async def lora_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._names(interaction, current)

    @lora.autocomplete("provider")
    async def provider_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return provider_choices(self.bot.config, current)

    # -- the library -----------------------------------------------------------------------

    @library.command(name="list", description="The LoRAs this server has")
    async def list_loras(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await defer_journalled(interaction, ephemeral=True)
        rows = await self.bot.loras.loras(interaction.guild_id, limit=100)
        if not rows:
            await send_ephemeral(
                interaction,
                _("This server has no LoRAs yet. Moderators can add one with /loras add."),
            )
            return
        lines = [
            f"**{escape(r.name)}**"
            + (f" — {escape(r.trigger_words)}" if r.trigger_words else "")
            + (" · NSFW" if r.nsfw else "")
            for r in rows
        ]
        text = "\n".join(lines)
        if len(text) > 1900:
            text = text[:1900].rsplit("\n", 1)[0] + "\n…"
        head = _("LoRAs on this server ({count}):", count=len(rows))
        await send_ephemeral(interaction, f"{head}\n{text}")

    @library.command(name="info", description="Details of one LoRA")
    async def info(self, interaction: discord.Interaction, name: str) -> None:
        assert interaction.guild_id is not None
        await defer_journalled(interaction, ephemeral=True)
        row = await self.bot.loras.lora(interaction.guild_id, name)
        await send_ephemeral(
            interaction,
            _(
                "**{name}**\nSource: {url}\nTrigger words: {trigger_words}\n"
                "Default scale: {scale:g}{nsfw}\nAdded by <@{user}> <t:{added_at}:R>",
                name=escape(row.name),
                url=escape(row.url),  # a link without a preview
                trigger_words=escape(row.trigger_words) or "—",
                scale=row.default_scale,
                nsfw=" · NSFW" if row.nsfw else "",
                user=row.added_by,
                added_at=int(row.created_at),
            ),
        )

    @info.autocomplete("name")
    async def info_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._names(interaction, current)

    @library.command(name="add", description="Add a LoRA to this server's library")
    async def add(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 40],
        url: app_commands.Range[str, 1, 500],
        trigger_words: app_commands.Range[str, 1, 300] | None = None,
        default_scale: Scale | None = None,
        nsfw: bool = False,
    ) -> None:
        if not await self._can_manage(interaction):
            return
        assert interaction.guild_id is not None
        await defer_journalled(interaction, ephemeral=True)
        row = await self.bot.loras.add_lora(
            interaction.guild_id,
            name=name,
            url=url,
            trigger_words=trigger_words,
            default_scale=default_scale,
            nsfw=nsfw,
            added_by=interaction.user.id,
        )
        await send_ephemeral(
            interaction, _("Added **{name}** to this server's LoRAs.", name=escape(row.name))
        )

    @library.command(name="remove", description="Remove a LoRA from this server's library")
    async def remove(self, interaction: discord.Interaction, name: str) -> None:
        if not await self._can_manage(interaction):
            return
        assert interaction.guild_id is not None
        await defer_journalled(interaction, ephemeral=True)
        await self.bot.loras.remove_lora(interaction.guild_id, name)
        await send_ephemeral(
            interaction, _("Removed **{name}** from this server's LoRAs.", name=escape(name))
        )

    @remove.autocomplete("name")
    async def remove_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._names(interaction, current)

    async def _can_manage(self, interaction: discord.Interaction[Any]) -> bool:
        """Checked at run time: default permissions are only a hint a server can override."""
        if interaction.permissions.manage_guild:
            return True
        await send_ephemeral(
            interaction, _("You need the Manage Server permission to change the LoRA library.")
        )

        return False


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(Loras(bot))
