"""No text a member reads is written past the catalogue: where the bot hands Discord a text for
members (a message, an embed, a button, a form) or raises an error shown to them, a literal
string or f-string with words in it is a text that was never translated. It must go through
`_()` (bot/i18n). A literal without words (an emoji, a number, a mention, `#{id}`) is not
language and may stay as it is; the few texts with words that must stay too are listed in
`ALLOWED`, each with why."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import errors

ROOT = Path(__file__).resolve().parents[3]

# Keyword arguments that Discord shows to members, on any call (Embed, Button, SelectOption,
# TextInput, Label, Modal, set_footer, add_field, edits of a message).
SHOWN_KEYWORDS = {"content", "description", "title", "label", "placeholder", "text"}
FIELD_KEYWORDS = {"name", "value"}  # of `add_field`
# Calls whose first positional argument is a message's text, and the project's helper whose
# second one is.
SENT_FIRST = {"send_message", "send", "edit_message", "edit_original_response"}
SENT_SECOND = {"send_ephemeral"}
# Where a description is a command's: translated by bot/i18n/commands.py when the commands
# are synced, so it is written as a plain string (the extraction finds it in the command tree).
COMMAND_DECLARATIONS = {"command", "Group", "ContextMenu"}
# The command line's texts are the operator's, in English (bot/__main__.py).
OPERATOR_TEXTS = {"ArgumentParser", "add_parser", "add_argument", "add_subparsers"}


def member_facing_errors() -> dict[str, tuple[int, str] | None]:
    """The exceptions whose message is shown to the member as it is (bot/errors.py): every
    `ArtFactoryError` but the operator's `ConfigError`, and discord.py's check failures,
    which the tree's error handler shows too (bot/app.py); each with where its message is
    passed (position, keyword): the first argument, or its `reason`. None: it writes its own
    message from numbers or the member's words (`QuotaExceeded(limit, ...)`)."""
    found: dict[str, tuple[int, str] | None] = {
        "CheckFailure": (0, "message"),
        "InvalidOption": (0, "message"),
    }
    pending = [errors.ArtFactoryError]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls is errors.ConfigError:
            continue
        if "__init__" not in vars(cls) or cls is errors.ArtFactoryError:
            found[cls.__name__] = (0, "message")
            continue
        parameters = list(inspect.signature(cls.__init__).parameters)[1:]
        reason = "reason" in parameters
        found[cls.__name__] = (parameters.index("reason"), "reason") if reason else None
    return found


ERRORS = member_facing_errors()

# (file, text) -> why it stays as written.
ALLOWED: dict[tuple[str, str], str] = {
    ("cogs/help.py", "Art Factory"): "the bot's name, the same in every language",
}

_WORD = re.compile(r"[^\W\d_]")  # a letter of any script
_NOT_WORDS = re.compile(r"<[^<>\s]*>|`[^`]*`")  # mentions, timestamps, `code`


def has_words(node: ast.expr) -> str | None:
    """The text of a literal string or f-string with words in it, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    else:
        return None
    return text if _WORD.search(_NOT_WORDS.sub("", text)) else None


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _group_classes(tree: ast.Module) -> set[ast.ClassDef]:
    return {
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and any(_name(b) == "Group" for b in node.bases)
    }


def _declares_a_command(call: ast.Call, in_group: bool) -> bool:
    name = _name(call.func)
    return (
        name in COMMAND_DECLARATIONS or name in OPERATOR_TEXTS or (in_group and name == "__init__")
    )


def shown_texts(call: ast.Call, in_group: bool) -> Iterator[ast.expr]:
    """The arguments of `call` that members read."""
    name = _name(call.func)
    for keyword in call.keywords:
        shown = keyword.arg in SHOWN_KEYWORDS and not _declares_a_command(call, in_group)
        if shown or (keyword.arg in FIELD_KEYWORDS and name == "add_field"):
            yield keyword.value

    if name in SENT_FIRST and call.args:
        yield call.args[0]
    if name in SENT_SECOND and len(call.args) > 1:
        yield call.args[1]


def error_message(call: ast.Call) -> list[ast.expr]:
    """The message argument of a member-facing exception's construction, if any."""
    where = ERRORS.get(_name(call.func))
    if where is None:
        return []
    position, keyword = where
    if len(call.args) > position:
        return [call.args[position]]
    return [k.value for k in call.keywords if k.arg == keyword]


def unmarked(source: str, relative: str) -> list[str]:
    """`file:line: text` of every text members read in `source` (the file `relative`) that
    does not go through the catalogue."""
    tree = ast.parse(source)
    groups = _group_classes(tree)
    in_group = {
        id(node) for group in groups for node in ast.walk(group) if isinstance(node, ast.Call)
    }
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found += shown_texts(node, id(node) in in_group)
            found += error_message(node)
        elif isinstance(node, ast.ClassDef):  # `class RemixModal(Modal, title="Remix")`
            found += [k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS]
    problems = []
    for expr in found:
        text = has_words(expr)
        if text is not None and (relative, text) not in ALLOWED:
            problems.append(f"{relative}:{expr.lineno}: {text!r}")
    return problems


def sources(package: str) -> list[Path]:
    skip = {ROOT / "bot" / "i18n"}  # the catalogue's own tools
    return sorted(p for p in (ROOT / package).rglob("*.py") if not skip & set(p.parents))


@pytest.mark.parametrize(
    "path", sources("cogs") + sources("bot"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_text_members_read_bypasses_the_catalogue(path: Path) -> None:
    assert unmarked(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


def test_the_check_finds_literal_texts_and_allows_marked_ones() -> None:
    code = (
        "async def f(interaction, exc):\n"
        "    await interaction.response.send_message('Hello there', ephemeral=True)\n"
        "    await send_ephemeral(interaction, f'Too late for {exc}')\n"
        "    raise InvalidRequest('No such thing')\n"
        "    embed = Embed(title=_('Fine'), description=f'<@{exc}>')\n"
        "    embed.add_field(name='Author', value=f'{exc}')\n"
        "    Button(emoji='🎨', label='V1')\n"
        "    raise ProviderError('fal', reason='it broke')\n"
        "class M(Modal, title='Remix'):\n"
        "    pass\n"
    )
    problems = unmarked(code, "cogs/sample.py")
    assert sorted(p.split(": ", 1)[1] for p in problems) == sorted(
        [
            "'Remix'",
            "'Hello there'",
            "'Too late for {}'",
            "'No such thing'",
            "'Author'",
            "'V1'",
            "'it broke'",
        ]
    )


def test_command_descriptions_are_left_to_the_translator() -> None:
    code = (
        "@app_commands.command(name='x', description='Make an image')\n"
        "async def x(interaction): ...\n"
        "class G(app_commands.Group):\n"
        "    def __init__(self):\n"
        "        super().__init__(name='g', description='Some group')\n"
    )
    tree = ast.parse(code)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert all(has_words(e) is None for c in calls for e in shown_texts(c, in_group=True))
