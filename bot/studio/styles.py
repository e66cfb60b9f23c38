"""Styles: named prompt templates, a server's library (added with Manage Server) and each
member's own (saved from a result). A style wraps the member's prompt (`{prompt}`), adds its
negative prompt to theirs, and brings its model and LoRAs where the member named none; the
result names the style it used.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from bot.config import Config
from bot.delivery.text import quote
from bot.errors import InvalidRequest
from bot.i18n import _
from bot.providers.request import MAX_PROMPT_CHARS, GenerationRequest, RequestOptions
from db.database import Database
from db.jobs import JobRow
from db.studio import PERSONAL, SERVER, StyleRow

PLACEHOLDER = "{prompt}"
MAX_LORAS = 3
_NAME = re.compile(r"^[\w .\-]{1,40}$")


@dataclass(frozen=True)
class StyleInput:
    name: str
    template: str
    negative: str | None = None
    model: str | None = None
    loras: str | None = None


def apply_style(style: StyleRow, options: RequestOptions) -> RequestOptions:
    """`options` in `style`: its template around the prompt, its negative prompt after the
    member's, its model where none was chosen."""
    prompt = style.template.replace(PLACEHOLDER, options.prompt.strip())
    negatives = [n for n in (options.negative_prompt, style.negative) if n]
    return replace(
        options,
        prompt=" ".join(prompt.split()),
        negative_prompt=", ".join(negatives) or None,
        model=options.model or style.model,
    )


def style_loras(style: StyleRow) -> list[str]:
    return [name.strip() for name in style.loras.split(",") if name.strip()]


class StyleLibrary:
    def __init__(self, config: Config, db: Database) -> None:
        self._config = config
        self._db = db

    async def find(self, guild_id: int | None, user_id: int, name: str) -> StyleRow:
        style = await self._db.studio.style(guild_id, user_id, name.strip())
        if style is None:
            raise InvalidRequest(
                _(
                    "There is no style named “{name}”: see /styles list.",
                    name=_shown(name),
                )
            )
        return style

    async def styles(
        self, guild_id: int | None, user_id: int, prefix: str = "", limit: int = 25
    ) -> list[StyleRow]:
        return await self._db.studio.styles(guild_id, user_id, prefix.strip(), limit)

    async def add(self, guild_id: int, added_by: int, style: StyleInput) -> StyleRow:
        """A style in the server's library."""
        model = (style.model or "").strip()
        enabled = self._config.enabled_providers
        if model and not any(model in self._config.providers[p].allowed_models() for p in enabled):
            raise InvalidRequest(
                _("No provider of this bot offers the model {model}: see /models.", model=model)
            )
        return await self._add(_row(style, guild_id, SERVER, added_by))

    async def save(self, user_id: int, style: StyleInput) -> StyleRow:
        """A style of the member's own, usable in every server."""
        return await self._add(_row(style, PERSONAL, user_id, user_id))

    async def save_result(self, user_id: int, name: str, job: JobRow) -> StyleRow:
        """A result's prompt as the member's own style: their next prompt, then its words;
        its negative prompt and model come along."""
        request = GenerationRequest.from_json(job.inputs_json)
        style = StyleInput(
            name=name,
            template=f"{PLACEHOLDER}, {request.prompt}"[: MAX_PROMPT_CHARS // 2],
            negative=request.negative_prompt,
            model=job.model if request.mode == "txt2img" else None,
        )
        return await self.save(user_id, style)

    async def remove(self, guild_id: int | None, user_id: int, name: str, *, server: bool) -> None:
        removed = await self._db.studio.remove_style(
            guild_id or 0 if server else PERSONAL, SERVER if server else user_id, name.strip()
        )
        if not removed:
            where = _("this server's styles") if server else _("your styles")
            raise InvalidRequest(
                _("There is no style named “{name}” in {where}.", name=_shown(name), where=where)
            )

    async def _add(self, row: StyleRow) -> StyleRow:
        if not await self._db.studio.add_style(row):
            raise InvalidRequest(
                _(
                    "A style named “{name}” already exists there: remove it first to replace it.",
                    name=_shown(row.name),
                )
            )
        return row


def _row(style: StyleInput, guild_id: int, user_id: int, added_by: int) -> StyleRow:
    name = style.name.strip()
    if not _NAME.match(name):
        raise InvalidRequest(
            _("Style names are 1-40 letters, digits, spaces, dots, dashes or underscores.")
        )
    template = " ".join(style.template.split())
    if PLACEHOLDER not in template:
        raise InvalidRequest(
            _(
                "A style's template needs {placeholder} where the member's prompt goes, e.g. "
                "“{placeholder}, watercolour, soft light”.",
                placeholder=PLACEHOLDER,
            )
        )
    if len(template) > MAX_PROMPT_CHARS // 2:
        raise InvalidRequest(
            _(
                "A style's template may be {limit} characters long at most.",
                limit=MAX_PROMPT_CHARS // 2,
            )
        )
    loras = [name.strip() for name in (style.loras or "").split(",") if name.strip()]
    if len(loras) > MAX_LORAS:
        raise InvalidRequest(_("A style may bring {limit} LoRAs at most.", limit=MAX_LORAS))
    return StyleRow(
        guild_id=guild_id,
        user_id=user_id,
        name=name,
        template=template,
        negative=(style.negative or "").strip() or None,
        model=(style.model or "").strip() or None,
        loras=", ".join(loras),
        added_by=added_by,
        created_at=time.time(),
    )


def _shown(name: str) -> str:
    return quote(name, 60)
