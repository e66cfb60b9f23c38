"""Member text in the bot's messages is shown as text: `bot.text.escape` and `inline_code`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.delivery.text import escape, inline_code
from tests.discord_markdown import render


@pytest.mark.parametrize(
    "text",
    [
        "[Claim free Nitro](https://evil.example/login)",
        "[one](https://a.example) and [two](https://evil.example/login)",
        "[Claim](<https://evil.example/login>)",
        "**[Claim](https://evil.example/login)**",
        "https://ok.example/[Claim](https://evil.example/login)",
        "[Claim]( https://evil.example/login )",
    ],
)
def test_masked_links_are_shown_as_text(text: str) -> None:
    shown = render(escape(text))
    assert [link for link in shown.links if link[0] != link[1]] == []
    assert shown.text == text.replace("<", "").replace(">", "")  # `<url>` shows the url


@pytest.mark.parametrize(
    "text", ["see https://evil.example/cat.png please", "see <https://evil.example/cat.png>"]
)
def test_links_stay_visible_and_get_no_preview(text: str) -> None:
    escaped = escape(text)
    assert "<https://evil.example/cat.png>" in escaped  # angle brackets: no embed preview
    shown = render(escaped)
    assert shown.links == [("https://evil.example/cat.png",) * 2]
    assert shown.text == text.replace("<", "").replace(">", "")


@pytest.mark.parametrize(
    "text",
    [
        "<@123456789012345678>",
        "<@!123456789012345678>",
        "<@1234>",
        "<@&987654321098765432>",
        "<#123456789012345678>",
        "@everyone",
        "@here",
        "<t:1700000000:R>",
        "<t:1700000000>",
        "</imagine:123456789012345678>",
        "<:pepe:123456789012345678>",
        "hi <@123456789012345678>, @everyone look",
    ],
)
def test_mentions_and_timestamps_are_shown_as_text(text: str) -> None:
    shown = render(escape(text))
    assert shown.mentions == []
    assert shown.text == text


@pytest.mark.parametrize(
    "text",
    [
        "# Heading",
        "## Heading",
        "### Heading",
        "-# small print",
        "> quote",
        ">>> quote",
        "- item",
        "* item",
        "1. item",
        "12. item",
        "   # indented heading",
        "  - indented item",
        "  > indented quote",
        "first line\n\n- item after a blank line",
        "first line\n# heading\n> quote\n2. item",
    ],
)
def test_headings_lists_and_quotes_are_shown_as_text(text: str) -> None:
    shown = render(escape(text))
    assert shown.blocks == []
    assert shown.text == text


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("**bold** __under__ ~~gone~~", r"\*\*bold\*\* \_\_under\_\_ \~\~gone\~\~"),
        ("||spoiler||", r"\|\|spoiler\|\|"),
        ("`code` ```block```", r"\`code\` \`\`\`block\`\`\`"),
        ("a \\ backslash", r"a \\ backslash"),
        ("plain words, stay as they are.", "plain words, stay as they are."),
    ],
)
def test_inline_markdown_is_escaped(text: str, escaped: str) -> None:
    assert escape(text) == escaped


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (r"gore\w*", r"`gore\w*`"),
        ("a`b", "``a`b``"),
        ("``x`", "``` ``x` ```"),
        (
            "<@123456789012345678> [x](https://e.example)",
            "`<@123456789012345678> [x](https://e.example)`",
        ),
    ],
)
def test_code_spans_show_the_text_exactly(text: str, code: str) -> None:
    assert inline_code(text) == code
    shown = render(code)
    assert shown.text == text
    assert shown.links == [] and shown.mentions == []


_PIECES = st.sampled_from(
    [
        *"[]()<>@#:-*_~|\\`!&/.> \n\tatR019",
        "https://evil.example/x",
        "everyone",
        "here",
        "123456789012345678",
        "t:1700000000",
    ]
)


@given(st.lists(_PIECES, max_size=30).map("".join))
def test_any_text_is_shown_exactly_with_nothing_live(text: str) -> None:
    shown = render(escape(text))
    assert [link for link in shown.links if link[0] != link[1]] == []
    assert shown.mentions == []
    assert shown.blocks == []
    # `<url>` shows the link without its angle brackets, like any message would.
    assert shown.text.replace("<", "").replace(">", "") == text.replace("<", "").replace(">", "")
