"""Text of the bot's messages; member text (prompts, LoRA names, trigger words, reasons) in them
is shown as typed, never as markdown, links or mentions.

`discord.utils.escape_markdown` and `escape_mentions` do most of it but leave gaps a prompt can
use in a public message: only the first masked link of a line is escaped ("[a](x) [Claim
Nitro](https://evil)" keeps the second one live), `<@123>`, `<#…>`, `<@&…>` with short ids,
`<t:…>` timestamps and `</cmd:…>` tokens are left as they are, headings, quotes and lists are
missed after leading spaces or a blank line, and ordered lists ("1. ") are not touched. A bare
link also gets a preview embed (any image on the web under the bot's name). `escape` closes
those gaps on top of the two helpers; `quote` also keeps the escaped text within a length.
"""

from __future__ import annotations

import re

import discord

# A link as Discord finds one: `<scheme:/…>` (shown without a preview) or a bare http(s) URL.
_LINK = re.compile(r"<[^: >]+:/[^ >]+>|(?:https?|steam)://[^\s<>]+[^<>.,:;\"')\]\s]")
_AFTER_MARKDOWN = re.compile(
    r"(?P<stray>^\\(?P<indent>[^\S\n]+)(?=-))"  # escape_markdown's "\  - item": move the "\"
    r"|\\."  # an escape already in place, kept with what it escapes
    r"|(?P<open>[\[<])"  # masked links; mention, channel, timestamp and command tokens
    r"|^(?P<lead>[^\S\n]*)(?P<marker>[#>*-]|[0-9]+(?=\.[^\S\n]))",  # headings, quotes, lists
    re.MULTILINE | re.DOTALL,
)


def escape(text: str) -> str:
    """`text` as Discord shows plain text: every markdown character, masked link, mention,
    timestamp and line-start marker escaped; links stay visible and clickable, without a
    preview. Over-escaping is invisible (Discord shows `\\x` as `x` for any punctuation)."""
    parts: list[str] = []
    start = 0
    for link in _LINK.finditer(text):
        parts.append(_escape_plain(text[start : link.start()]))
        url = link.group(0)
        parts.append(url if url.startswith("<") else f"<{url}>")
        start = link.end()
    parts.append(_escape_plain(text[start:]))
    return discord.utils.escape_mentions("".join(parts))


def quote(text: str, limit: int) -> str:
    """Member text on one line, escaped and shortened to at most `limit` characters as sent:
    escaping can double a text's length, and Discord refuses a message over 2,000."""
    flat = " ".join(text.split())
    keep = limit
    while True:
        shown = escape(flat if len(flat) <= keep else flat[: keep - 1] + "…")
        if len(shown) <= limit or keep <= 1:
            return shown
        keep -= max(1, (len(shown) - limit) // 2)


def _escape_plain(text: str) -> str:
    """Text with no link in it: escape_markdown, line by line (its list rule would otherwise
    escape a blank line instead of the list below it), then the gaps it leaves."""
    lines = text.splitlines(keepends=True)
    escaped = "".join(discord.utils.escape_markdown(line, ignore_links=False) for line in lines)
    return _AFTER_MARKDOWN.sub(_close_gap, escaped)


def _close_gap(match: re.Match[str]) -> str:
    if match.group("stray") is not None:
        return match.group("indent") + "\\"
    if match.group("open") is not None:
        return "\\" + match.group("open")
    if match.group("marker") is not None:
        marker = match.group("marker")
        if marker.isdigit():  # "1. item": the dot makes the list
            return f"{match.group('lead')}{marker}\\"
        return f"{match.group('lead')}\\{marker}"
    return match.group(0)


def inline_code(text: str) -> str:
    """`text` in an inline code span shown exactly (a regex filter, say): inside code a
    backslash is shown, not an escape, so the fence is longer than any run of backticks in
    the text instead, with a space inside when the text starts or ends with one."""
    runs = [len(run) for run in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"
