"""The catalogues hold every text the bot shows, translated in every shipped language with the
same `{fields}` as the English. When one fails: `python -m bot.i18n.extract`, then translate the
new `msgstr`s (bot/i18n/extract.py)."""

from __future__ import annotations

import asyncio
import string
import time
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot.i18n import catalogue
from bot.i18n.extract import code_messages, command_messages, translated

LANGUAGES = list(catalogue.CATALOGUES.values())


def ids(messages: list[Message] | Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in messages if m.id}


def read(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


@pytest.fixture(scope="module")
def in_code() -> set[str]:
    """Every message of the code and of the commands, as the extraction finds them."""
    found = [*code_messages(), *asyncio.run(command_messages())]
    return {m if isinstance(m, str) else m[0] for m, _, _ in found}


@pytest.fixture(scope="module")
def template() -> Catalog:
    return read(catalogue.TEMPLATE)


def fields(text: str) -> set[str]:
    """`{name}` and `{name:spec}` fields of a message (literal `{{` `}}` are not fields)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:  # a stray brace (a message never formatted): the braces must stay
        return {f"literal {{ x{text.count('{')}", f"literal }} x{text.count('}')}"}
    return {f"{name}:{spec}" for _, name, spec, _ in parsed if name is not None}


def test_every_message_in_the_code_and_the_commands_is_in_the_template(
    in_code: set[str], template: Catalog
) -> None:
    missing = sorted(in_code - ids(template))
    assert missing == [], f"run `python -m bot.i18n.extract`: {missing[:10]}"


def test_the_template_has_no_message_the_code_no_longer_shows(
    in_code: set[str], template: Catalog
) -> None:
    stale = sorted(ids(template) - in_code)
    assert stale == [], f"run `python -m bot.i18n.extract`: {stale[:10]}"


@pytest.mark.parametrize("name", catalogue.CATALOGUES.values())
def test_every_language_lists_the_templates_messages(name: str, template: Catalog) -> None:
    assert ids(read(catalogue.po_path(name))) == ids(template)


@pytest.mark.parametrize("name", LANGUAGES)
def test_every_message_is_translated(name: str, template: Catalog) -> None:
    po = read(catalogue.po_path(name))
    untranslated = sorted(
        m.id if isinstance(m.id, str) else m.id[0]
        for m in po
        if m.id and (not translated(m.string) or m.fuzzy)
    )
    assert untranslated == [], f"{len(untranslated)} untranslated in {name}: {untranslated[:5]}"


@pytest.mark.parametrize("name", catalogue.CATALOGUES.values())
def test_every_translation_keeps_the_fields_of_its_english(name: str) -> None:
    wrong = []
    for message in read(catalogue.po_path(name)):
        if not message.id or not translated(message.string):
            continue
        english = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        expected = fields(english[-1]) | fields(english[0])
        for form in forms:
            # A singular form may say "one" instead of `{n}`; every other field stays.
            if fields(form) - expected or (expected - {"n:"}) - fields(form):
                wrong.append((english[0], form))
    assert wrong == []


def test_every_catalogue_loads_well_under_100_ms() -> None:
    took = []
    for _ in range(3):
        catalogue.forget()
        started = time.perf_counter()
        catalogue.load_all()
        took.append(time.perf_counter() - started)
    assert min(took) < 0.1, took
