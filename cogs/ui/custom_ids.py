"""Every custom_id the bot puts on a component, in one place.

A custom_id is a prefix, then the values it carries, separated by ":" (`af:v:123:2`). The
buttons are `DynamicItem`s that discord.py finds by full-matching these templates, so a click
is answered from the custom_id alone, after any restart, for as long as the message exists.
Never change a prefix or a template: messages already posted carry the old strings. No two
templates may match the same custom_id (discord.py would run both items): tests/cogs/
test_custom_ids.py checks that, and that `custom_id` builds what each template matches.
"""

from __future__ import annotations

import re

# The values a custom_id carries, as the named groups the items read back.
JOB = r"(?P<job_id>[0-9]{1,18})"
IMAGE = r"(?P<index>[1-9])"  # 1-based image number
PAGE = r"(?P<page>[0-9]{1,4})"
DIRECTION = r"(?P<dir>[pn])"  # previous, next

# Results (cogs/ui/result_buttons.py).
VARIATION = "af:v"  # V1-V4
UPSCALE = "af:u"  # U1-U4
REROLL = "af:rr"
REMIX = "af:rx"  # the 🎨 button…
REMIX_FORM = "af:rxm"  # …and the form it opens, answered by the results cog
DELETE = "af:del"
# A single image's actions (cogs/ui/image_actions.py): Vary (Subtle/Strong/Region), Zoom Out,
# Pan, Upscale, Animate; the forms two of them open; a /describe's Imagine buttons.
IMAGE_ACTION = "af:ia"
REGION_FORM = "af:vrm"
ANIMATE_FORM = "af:anm"
DESCRIBED = "af:di"
# The job's progress message (cogs/ui/cancel.py).
CANCEL = "af:cancel"
# The gallery (cogs/ui/share.py).
SHARE = "af:share"
# Reports and the moderators' buttons on them (cogs/ui/report.py).
REPORT = "af:rep"
MOD_DELETE = "af:mdel"
MOD_BAN = "af:mban"
# /lineage pages (cogs/lineage.py).
LINEAGE_PAGE = "af:lin"
# A permutation's preview: run its jobs, or not (cogs/ui/permutations.py).
PERMUTATION = "af:perm"
# The /settings panel's selects and buttons (cogs/ui/settings_panel.py).
SETTING = "af:set"
SETTING_SELECTS = ("model", "ar", "style", "lang")
SETTING_BUTTONS = ("count", "private", "help", "reset")

# The remix form's text inputs, read back from its submission by the results cog.
REMIX_PROMPT = "prompt"
REMIX_NEGATIVE_PROMPT = "negative_prompt"
# The Vary (Region) and Animate forms' inputs.
REGION_WORDS = "region"
REGION_ROUGH = "rough"
ACTION_PROMPT = "prompt"
ANIMATE_DURATION = "duration"

# The image actions' codes in IMAGE_ACTION ids (never change one: posted messages carry them).
ACTION_CODES = ("vs", "vg", "vr", "z15", "z2", "pl", "pr", "pu", "pd", "up", "an")


def custom_id(prefix: str, *values: int | str) -> str:
    """The custom_id for `prefix` and its values, in its template's order."""
    return ":".join((prefix, *map(str, values)))


def _template(prefix: str, *fields: str) -> str:
    return ":".join((prefix, *fields))


IMAGE_ACTION_TEMPLATE = _template(
    f"(?P<prefix>{re.escape(VARIATION)}|{re.escape(UPSCALE)})", JOB, IMAGE
)
SINGLE_ACTION_TEMPLATE = _template(
    re.escape(IMAGE_ACTION), f"(?P<action>{'|'.join(ACTION_CODES)})", JOB, IMAGE
)
REGION_FORM_TEMPLATE = _template(re.escape(REGION_FORM), JOB, IMAGE)
ANIMATE_FORM_TEMPLATE = _template(re.escape(ANIMATE_FORM), JOB, IMAGE)
DESCRIBED_TEMPLATE = _template(re.escape(DESCRIBED), JOB, IMAGE)
REROLL_TEMPLATE = _template(re.escape(REROLL), JOB)
REMIX_TEMPLATE = _template(re.escape(REMIX), JOB)
REMIX_FORM_TEMPLATE = _template(re.escape(REMIX_FORM), JOB)
DELETE_TEMPLATE = _template(re.escape(DELETE), JOB)
CANCEL_TEMPLATE = _template(re.escape(CANCEL), JOB)
SHARE_TEMPLATE = _template(re.escape(SHARE), JOB, IMAGE)
REPORT_TEMPLATE = _template(re.escape(REPORT), JOB)
MOD_DELETE_TEMPLATE = _template(re.escape(MOD_DELETE), JOB)
MOD_BAN_TEMPLATE = _template(re.escape(MOD_BAN), JOB)
LINEAGE_PAGE_TEMPLATE = _template(re.escape(LINEAGE_PAGE), JOB, PAGE, DIRECTION)
PERMUTATION_TEMPLATE = _template(
    re.escape(PERMUTATION), "(?P<choice>run|drop)", "(?P<token>[0-9a-f]{16})"
)
SETTING_SELECT_TEMPLATE = _template(re.escape(SETTING), f"(?P<field>{'|'.join(SETTING_SELECTS)})")
SETTING_BUTTON_TEMPLATE = _template(re.escape(SETTING), f"(?P<field>{'|'.join(SETTING_BUTTONS)})")

TEMPLATES: dict[str, str] = {
    "image action": IMAGE_ACTION_TEMPLATE,
    "single image action": SINGLE_ACTION_TEMPLATE,
    "region form": REGION_FORM_TEMPLATE,
    "animate form": ANIMATE_FORM_TEMPLATE,
    "described prompt": DESCRIBED_TEMPLATE,
    "reroll": REROLL_TEMPLATE,
    "remix": REMIX_TEMPLATE,
    "remix form": REMIX_FORM_TEMPLATE,
    "delete": DELETE_TEMPLATE,
    "cancel": CANCEL_TEMPLATE,
    "share": SHARE_TEMPLATE,
    "report": REPORT_TEMPLATE,
    "moderator delete": MOD_DELETE_TEMPLATE,
    "moderator ban": MOD_BAN_TEMPLATE,
    "lineage page": LINEAGE_PAGE_TEMPLATE,
    "permutation": PERMUTATION_TEMPLATE,
    "setting select": SETTING_SELECT_TEMPLATE,
    "setting button": SETTING_BUTTON_TEMPLATE,
}
