"""Reads message content the way a Discord client renders it, for tests about member text.

Only what matters for "is this shown as text?": backslash escapes, code spans, masked links,
links, mentions (users, roles, channels, @everyone/@here), timestamps, slash-command and
custom-emoji tokens, and the line-start markers (headings, `-#` subtext, quotes, lists).
The rules follow Discord's markdown (a `\\` before any punctuation shows that character as
is; a rule applies where it starts, left to right), which is what the bot must neutralise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ESCAPE = re.compile(r"\\([^0-9A-Za-z\s])")
_CODE = re.compile(r"(`+)([\s\S]*?[^`])\1(?!`)")
_AUTOLINK = re.compile(r"<([^: >]+:/[^ >]+)>")
_URL = re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]")
_MASKED = re.compile(r"\[([^\[\]]*)\]\(\s*<?([^\s<>()]+)>?\s*\)")
_TOKEN = re.compile(
    r"<(?:@[!&]?|#)[0-9]+>|<t:-?[0-9]+(?::[tTdDfFsSR])?>|</[^:>]+:[0-9]+>|<a?:\w+:[0-9]+>"
)
_EVERYONE = re.compile(r"@(everyone|here)")
_BLOCK = re.compile(r"^[ \t]*(?:#{1,3}\s|-#\s|>{1,3}\s|[-*]\s|[0-9]+\.\s)")


@dataclass
class Rendered:
    """What a client shows: the visible text and the live elements in it."""

    text: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (shown text, target)
    mentions: list[str] = field(default_factory=list)  # raw tokens: "<@1>", "@everyone", …
    blocks: list[str] = field(default_factory=list)  # lines that start a heading/list/quote


def render(content: str) -> Rendered:
    out = Rendered()
    for line in content.split("\n"):
        if _BLOCK.match(line):
            out.blocks.append(line)
    shown: list[str] = []
    i = 0
    while i < len(content):
        rest = content[i:]
        if m := _ESCAPE.match(rest):
            shown.append(m.group(1))
        elif m := _CODE.match(rest):
            shown.append(re.sub(r"^ (?= *`)|(` *) $", r"\1", m.group(2)))
        elif m := _AUTOLINK.match(rest):
            shown.append(m.group(1))
            out.links.append((m.group(1), m.group(1)))
        elif m := _MASKED.match(rest):
            shown.append(m.group(1))
            out.links.append((m.group(1), m.group(2)))
        elif m := _URL.match(rest):
            shown.append(m.group(0))
            out.links.append((m.group(0), m.group(0)))
        elif (m := _TOKEN.match(rest)) or (m := _EVERYONE.match(rest)):
            shown.append(m.group(0))
            out.mentions.append(m.group(0))
        else:
            shown.append(content[i])
            i += 1
            continue
        i += m.end()
    out.text = "".join(shown).replace("\u200b", "")  # escape_mentions' zero-width space
    return out
