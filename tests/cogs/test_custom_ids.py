"""The custom_id registry (cogs/ui/custom_ids.py): templates never overlap, every button builds
what its template matches, and the strings on messages already posted keep their form."""

from __future__ import annotations

import re
from typing import Any

import discord
from hypothesis import given
from hypothesis import strategies as st

from cogs.lineage import LineagePage
from cogs.ui.cancel import CancelJobButton
from cogs.ui.custom_ids import REMIX_FORM_TEMPLATE, TEMPLATES, UPSCALE, VARIATION
from cogs.ui.image_actions import ActionButton, AnimateModal, DescribedButton, RegionModal
from cogs.ui.layouts import ImageButton
from cogs.ui.permutations import PermutationButton
from cogs.ui.report import ModBanButton, ModDeleteButton, ReportButton
from cogs.ui.result_buttons import (
    DeleteButton,
    RemixButton,
    RemixModal,
    RerollButton,
)
from cogs.ui.settings_panel import SettingButton, SettingSelect
from cogs.ui.share import ShareButton

BIG_JOB = 123456789012345678  # 18 digits, the most a template takes

# Each button as the bot posts it, and the custom_id that message then carries for good.
POSTED: list[tuple[discord.ui.DynamicItem[Any], str]] = [
    (ImageButton(VARIATION, BIG_JOB, 4), f"af:v:{BIG_JOB}:4"),
    (ImageButton(UPSCALE, 5, 1), "af:u:5:1"),
    (RerollButton(5), "af:rr:5"),
    (RemixButton(5), "af:rx:5"),
    (DeleteButton(5), "af:del:5"),
    (CancelJobButton(5), "af:cancel:5"),
    (ShareButton(5, 2), "af:share:5:2"),
    (ShareButton(5, 1, label="Share"), "af:share:5:1"),
    (ReportButton(5), "af:rep:5"),
    (ModDeleteButton(5), "af:mdel:5"),
    (ModBanButton(5), "af:mban:5"),
    (LineagePage(5, 12, "p"), "af:lin:5:12:p"),
    (ActionButton("vs", 5, 1), "af:ia:vs:5:1"),
    (ActionButton("z15", BIG_JOB, 4), f"af:ia:z15:{BIG_JOB}:4"),
    (ActionButton("pd", 5, 2), "af:ia:pd:5:2"),
    (ActionButton("an", 5, 1), "af:ia:an:5:1"),
    (DescribedButton(5, 3), "af:di:5:3"),
    (PermutationButton("run", "0123456789abcdef"), "af:perm:run:0123456789abcdef"),
    (PermutationButton("drop", "0123456789abcdef"), "af:perm:drop:0123456789abcdef"),
    (SettingSelect("ar"), "af:set:ar"),
    (SettingButton("private"), "af:set:private"),
]


def _dynamic_items(cls: type) -> set[str]:
    """By name: a cog module is imported again each time a bot loads it as an extension."""
    found = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("cogs."):
            found.add(f"{sub.__module__}.{sub.__qualname__}")
        found |= _dynamic_items(sub)
    return found


def _matching(custom_id: str) -> list[str]:
    return [name for name, template in TEMPLATES.items() if re.fullmatch(template, custom_id)]


@given(
    st.sampled_from(sorted(TEMPLATES.items())).flatmap(
        lambda item: st.tuples(st.just(item[0]), st.from_regex(item[1], fullmatch=True))
    )
)
def test_no_two_custom_id_templates_match_the_same_custom_id(sample: tuple[str, str]) -> None:
    name, custom_id = sample
    assert _matching(custom_id) == [name]


async def test_each_button_builds_the_custom_id_its_own_template_reads_back() -> None:
    posted = {f"{type(item).__module__}.{type(item).__qualname__}" for item, _ in POSTED}
    assert posted == _dynamic_items(discord.ui.DynamicItem)
    for item, _ in POSTED:
        template = type(item).__discord_ui_compiled_template__
        assert template.pattern in TEMPLATES.values(), type(item).__name__
        match = template.fullmatch(item.custom_id)
        assert match is not None, (type(item).__name__, item.custom_id)
        again = await type(item).from_custom_id(None, item.item, match)  # type: ignore[arg-type]
        assert again.custom_id == item.custom_id
    form = RemixModal(5, "a cat", None, offer_negative=True)
    assert re.fullmatch(REMIX_FORM_TEMPLATE, form.custom_id)


async def test_custom_ids_keep_the_form_already_posted_messages_carry() -> None:
    assert [item.custom_id for item, _ in POSTED] == [expected for _, expected in POSTED]
    assert (
        RemixModal(5, "a cat", None, offer_negative=True).custom_id == "af:rxm:5"
    )  # a form needs a running loop
    assert RegionModal(5, 2, "a cat").custom_id == "af:vrm:5:2"
    assert AnimateModal(5, 2, (5, 10)).custom_id == "af:anm:5:2"
