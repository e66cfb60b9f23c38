"""Images attached to the message a message command was used on."""

from __future__ import annotations

import discord


def first_image(message: discord.Message) -> discord.Attachment | None:
    for attachment in message.attachments:
        if (attachment.content_type or "").startswith(
            "image/"
        ) or attachment.filename.lower().endswith((".png", ".jpg", ".jpeg", ".webp", ".gif")):
            return attachment
    return None
