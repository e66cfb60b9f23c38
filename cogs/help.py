"""`/help`: what the bot does and how to use it, privately. The command list is read from the
command tree, so it never drifts from what is registered, and shows only what the member may
run (Discord hides Manage Server commands from others, so `/help` does too)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import ArtFactoryBot
from bot.i18n import N_, _

BUTTONS = N_(
    "**V1–V4** variations of that image · **U1–U4** that image alone, with its actions: "
    "**Vary (Subtle/Strong/Region)**, **Zoom Out 1.5x/2x**, pan ⬅️➡️⬆️⬇️, **Upscale**, "
    "**Animate** · 🔁 **Reroll** the same prompt with a new seed · 🎨 **Remix** with your own "
    "prompt (anyone may build on anyone's image; it counts against their quota) · ⭐ **Share** "
    "to the server's gallery (the author) · 🚩 **Report** to the moderators · 🗑 **Delete** "
    "(the author or moderators) · ❌ **Cancel** while it is still running."
)


def command_lines(
    commands_: list[app_commands.Command | app_commands.Group | app_commands.ContextMenu],
    permissions: discord.Permissions,
) -> list[str]:
    """One line per command the member may run; a group lists its subcommands. Names stay as
    they are typed; descriptions and Apps menu names are in the member's language, as their
    client shows them (bot/i18n/commands.py)."""
    lines = []
    for command in sorted(commands_, key=lambda c: c.name):
        needed = command.default_permissions
        if needed is not None and not permissions >= needed:
            continue
        if isinstance(command, app_commands.ContextMenu):
            line = _("**Apps → {name}** on a message with an image", name=_(command.name))
            lines.append(line)
        elif isinstance(command, app_commands.Group):
            subcommands = "|".join(sub.name for sub in command.commands)
            lines.append(f"**/{command.name} {subcommands}** — {_(command.description)}")
        elif command.name != "help":
            lines.append(f"**/{command.name}** — {_(command.description)}")
    return lines


FIELD_LIMIT = 1024  # Discord's limit for an embed field's value


def field_chunks(lines: list[str]) -> list[str]:
    """`lines` in as few embed fields as they fit, never splitting a line."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= FIELD_LIMIT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line[:FIELD_LIMIT])
    return chunks


def help_embed(bot: ArtFactoryBot, permissions: discord.Permissions) -> discord.Embed:
    config = bot.config
    embed = discord.Embed(
        title="Art Factory",  # the bot's name, in every language
        description=_(
            "Make images together: every command becomes a job on an image service; its "
            "message shows the progress, then the images with buttons to build on them. A job "
            "is charged to your daily quota once, and refunded if it fails."
        ),
        colour=discord.Colour.blurple(),
    )
    lines = command_lines(bot.tree.get_commands(), permissions)  # every type: menus too
    for index, chunk in enumerate(field_chunks(lines)):
        name = _("Commands") if index == 0 else "\u200b"
        embed.add_field(name=name, value=chunk, inline=False)
    embed.add_field(name=_("Buttons on results"), value=_(BUTTONS), inline=False)
    providers = ", ".join(config.enabled_providers)
    embed.add_field(
        name=_("Limits"),
        value=_(
            "Up to {images} images a day unless this server set another quota for you or your "
            "roles; `/usage` shows what you have left. Image services here: {providers} "
            "(default {default}); `/providers` says what each can do.",
            images=config.quotas.images_per_user_per_day,
            providers=providers,
            default=config.generation.default_provider,
        ),
        inline=False,
    )

    return embed


class HelpCog(commands.Cog):
    def __init__(self, bot: ArtFactoryBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="How to make images with this bot")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            embed=help_embed(self.bot, interaction.permissions), ephemeral=True
        )


async def setup(bot: ArtFactoryBot) -> None:
    await bot.add_cog(HelpCog(bot))
