"""The `/settings` panel: a member's defaults as one private message of selects and buttons.

Every control is a `DynamicItem` (`af:set:<field>`), so the panel keeps working after a
restart; each change is saved for whoever clicked (a forged click can only change the
clicker's own settings), and the panel is drawn again from what was saved, with each default
this server does not allow marked as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import discord

from bot import i18n
from bot.config import Config
from bot.delivery.text import escape
from bot.errors import Refusal
from bot.i18n import _
from bot.providers.capabilities import ASPECT_RATIOS
from bot.providers.request import MAX_IMAGES
from cogs.ui.custom_ids import (
    SETTING,
    SETTING_BUTTON_TEMPLATE,
    SETTING_SELECT_TEMPLATE,
    custom_id,
)
from cogs.ui.interactions import bot_of, send_ephemeral
from db.studio import MemberSettings, StyleRow

CLEAR = "-"  # a select's "back to the server's default" value
MAX_OPTIONS = 25  # Discord's limit for one select


@dataclass(frozen=True)
class Panel:
    settings: MemberSettings
    unusable: dict[str, str]
    styles: list[StyleRow]


def panel_text(config: Config, panel: Panel) -> str:
    s, bad = panel.settings, panel.unusable
    unset = _("server default")

    def line(label: str, value: str | None, *keys: str) -> str:
        shown = value if value is not None else unset
        warnings = [f" ⚠️ {bad[k]}" for k in keys if k in bad]
        return f"{label}: {shown}{''.join(warnings)}"

    model = f"{s.provider or unset} · `{s.model}`" if s.model else s.provider
    on, off = _("on"), _("off")
    lines = [
        _("**Your defaults**: they apply in every server; a command's own options win."),
        line(_("Provider and model"), model, "provider", "model"),
        line(_("Aspect ratio"), s.aspect_ratio),
        line(_("Images"), str(s.image_count) if s.image_count else None),
        line(_("Style"), escape(s.style) if s.style else None),
        line(_("Private results"), on if s.private else off, "private"),
        line(_("Prompt help"), off if s.prompt_help is False else on),
        line(_("Language"), i18n.LANGUAGES.get(s.locale or "") or _("your Discord app's")),
    ]
    if bad:
        lines.append(_("-# ⚠️ marks a default this server does not allow: it is not used here."))
    return "\n".join(lines)


def panel_view(config: Config, panel: Panel) -> discord.ui.View:
    s = panel.settings
    view = discord.ui.View(timeout=None)
    view.add_item(SettingSelect("model", _("Provider and model"), _model_options(config, s)))
    ratios = [(r, r, s.aspect_ratio == r) for r in ASPECT_RATIOS]
    view.add_item(SettingSelect("ar", _("Aspect ratio"), _with_default(ratios, s.aspect_ratio)))
    styles = [(row.name, _style_label(row), s.style == row.name) for row in panel.styles]
    view.add_item(SettingSelect("style", _("Style"), _with_default(styles, s.style)))
    languages = [(code, name, s.locale == code) for code, name in i18n.LANGUAGES.items()]
    view.add_item(SettingSelect("lang", _("Language"), _with_default(languages, s.locale)))
    count = s.image_count or 1
    view.add_item(SettingButton("count", _("Images: {count}", count=count), row=4))
    view.add_item(
        SettingButton("private", _("Private: on") if s.private else _("Private: off"), row=4)
    )
    helped = s.prompt_help is not False
    view.add_item(
        SettingButton("help", _("Prompt help: on") if helped else _("Prompt help: off"), row=4)
    )
    view.add_item(SettingButton("reset", _("Reset"), row=4, danger=True))
    return view


def _style_label(row: StyleRow) -> str:
    return _("{name} (yours)", name=row.name) if row.personal else row.name


def _with_default(
    options: list[tuple[str, str, bool]], current: str | None
) -> list[discord.SelectOption]:
    first = discord.SelectOption(label=_("Server default"), value=CLEAR, default=current is None)
    rest = [
        discord.SelectOption(label=label[:100], value=value, default=chosen)
        for value, label, chosen in options
    ]
    return [first, *rest][:MAX_OPTIONS]


def _model_options(config: Config, s: MemberSettings) -> list[discord.SelectOption]:
    """One select for both: a provider (with its default model) or one of its models."""
    options: list[tuple[str, str, bool]] = []
    for provider in config.enabled_providers:
        chosen = s.provider == provider and s.model is None
        options.append(
            (f"p:{provider}", _("{provider} (its default model)", provider=provider), chosen)
        )
        for model in config.providers[provider].allowed_models():
            value = f"m:{provider}:{model}"
            if len(value) <= 100:
                options.append((value, f"{provider} · {model}", s.model == model))
    current = s.provider or s.model
    return _with_default(options, current)


class SettingSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]], template=SETTING_SELECT_TEMPLATE
):
    def __init__(
        self,
        field: str,
        placeholder: str = "…",
        options: list[discord.SelectOption] | None = None,
    ) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=custom_id(SETTING, field),
                placeholder=placeholder,
                options=options or [discord.SelectOption(label="…", value=CLEAR)],
            )
        )
        self.field = field

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> SettingSelect:
        return cls(match["field"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        values = data.get("values") or [CLEAR]
        value = str(values[0])
        await save_and_redraw(interaction, _changes(self.field, None if value == CLEAR else value))


class SettingButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=SETTING_BUTTON_TEMPLATE
):
    def __init__(
        self, field: str, label: str = "…", *, row: int | None = None, danger: bool = False
    ) -> None:
        style = discord.ButtonStyle.danger if danger else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(
                label=label, style=style, custom_id=custom_id(SETTING, field), row=row
            )
        )
        self.field = field

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
    ) -> SettingButton:
        return cls(match["field"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await save_and_redraw(interaction, {}, toggle=self.field)


def _changes(field: str, value: str | None) -> dict[str, Any]:
    if field == "model":
        if value is None:
            return {"provider": None, "model": None}
        kind, _sep, rest = value.partition(":")
        if kind == "p":
            return {"provider": rest, "model": None}
        provider, _sep, model = rest.partition(":")
        return {"provider": provider, "model": model}
    key = {"ar": "aspect_ratio", "style": "style", "lang": "locale"}[field]
    return {key: value}


async def save_and_redraw(
    interaction: discord.Interaction[Any], changes: dict[str, Any], *, toggle: str | None = None
) -> None:
    """Acknowledged first (the panel stays as it is meanwhile), then saved and drawn again."""
    bot = bot_of(interaction)
    await interaction.response.defer()
    defaults = bot.studio.defaults
    user = interaction.user.id
    try:
        if toggle == "reset":
            await defaults.reset(user)
        elif toggle is not None:
            current = await defaults.get(user)
            changes = _toggled(toggle, current)
        if changes:
            await defaults.save(user, **changes)
    except Refusal as exc:
        await send_ephemeral(interaction, str(exc))
        return
    panel = await load_panel(interaction)
    await interaction.edit_original_response(
        content=panel_text(bot.config, panel), view=panel_view(bot.config, panel)
    )


def _toggled(field: str, current: MemberSettings) -> dict[str, Any]:
    if field == "count":
        return {"image_count": (current.image_count or 1) % MAX_IMAGES + 1}
    if field == "private":
        return {"private": not current.private}
    return {"prompt_help": current.prompt_help is False}  # "help": off ↔ on


async def load_panel(interaction: discord.Interaction[Any]) -> Panel:
    bot = bot_of(interaction)
    defaults = bot.studio.defaults
    settings = await defaults.get(interaction.user.id)
    unusable = await defaults.unusable(settings, interaction.guild_id, interaction.channel_id)
    styles = await bot.studio.styles.styles(interaction.guild_id, interaction.user.id, limit=24)
    return Panel(settings, unusable, styles)
