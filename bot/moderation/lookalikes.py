"""Invisible characters and look-alike letters, so a prompt filter sees the word a member sees.

Look-alikes come from Unicode's own confusables data (UTS #39, `confusables.txt`), which the
confusable-homoglyphs package ships inside itself (read from the installed package; it only
downloads when its `update` command is run, which the bot never does). A hand-written table
would only ever know the scripts someone thought of.
"""

from __future__ import annotations

import unicodedata

from confusable_homoglyphs.confusables import confusables_data

# Default-ignorable letters (category Lo, so not caught as format characters) that show nothing.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_VARIATION_SELECTORS = ((0x180B, 0x180D), (0x180F, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
# The package keeps the left-to-right marks confusables.txt puts around right-to-left letters.
_MARKS = str.maketrans("", "", "\u200e\u200f")


def is_invisible(char: str) -> bool:
    """Format characters (zero-widths, joiners, bidi controls, tags…), variation selectors and
    blank letters: nothing a reader sees, so nothing a filter should see either."""
    if unicodedata.category(char) == "Cf" or char in _BLANK_LETTERS:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _VARIATION_SELECTORS)


def strip_invisible(text: str) -> str:
    return "".join(char for char in text if not is_invisible(char))


def fold(text: str) -> str:
    """Lower case without accents (or any other combining mark)."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()


def _prototypes() -> dict[str, str]:
    """Each look-alike character and the prototype confusables.txt maps it to.

    The package stores every line in both directions. A prototype has several look-alikes (or
    is a sequence, like "rn" for "m"), and a look-alike has one prototype, so the direction
    follows; for a pair of two characters either way gives both the same representative, so
    the one NFKC keeps (prompts are NFKC'd first), else the ASCII one, else the lower code point
    is taken."""
    graph = {key.translate(_MARKS): [e["c"].translate(_MARKS) for e in v] for key, v in
             confusables_data.items()}  # fmt: skip
    prototypes: dict[str, str] = {}
    for char, linked in graph.items():
        if len(char) != 1 or len(linked) != 1:
            continue
        other = linked[0]
        other_is_prototype = len(other) != 1 or len(graph.get(other, ())) > 1
        if other_is_prototype or min(char, other, key=_preference) == other:
            prototypes[char] = other
    return prototypes


def _preference(char: str) -> tuple[bool, bool, int]:
    return (unicodedata.normalize("NFKC", char) != char, not char.isascii(), ord(char))


def _table() -> dict[int, str]:
    """What each non-ASCII lower-case character reads as, for `str.translate`.

    Filters compare lower-cased text, and confusables.txt keeps cases apart (Cyrillic "в"
    looks like a small capital "ʙ", its capital "В" like "B"), so a letter whose own prototype
    is not ASCII takes its capital's when that one is. ASCII is left as it is: digits and
    symbols are read by the leetspeak rules."""
    prototypes = _prototypes()
    chars = {c for key in prototypes for c in (key, key.lower()) if len(c) == 1}
    table: dict[int, str] = {}
    for char in chars:
        if char.isascii() or char != char.lower():
            continue
        own = fold(prototypes.get(char, char))
        upper = char.upper()
        capital = fold(prototypes.get(upper, upper)) if len(upper) == 1 else own
        best = capital if capital.isascii() and not own.isascii() else own
        if best != char:
            table[ord(char)] = best
    return table


_LATIN = _table()


def unconfuse(text: str) -> str:
    """`text` (lower case, from `fold`) with look-alike letters read as what they look like."""
    return text.translate(_LATIN)
