"""db.settings: what a server's moderators set."""

from __future__ import annotations

import pytest

from db import settings
from db.database import Database
from db.settings import GuildSettings, SettingsStore

GUILD = 10


async def test_a_channels_generation_comes_back_as_bool(db: Database) -> None:
    assert (await db.settings.channel(GUILD, 1)).generation is None  # never set: inherited
    off = await db.settings.update_channel(GUILD, 1, generation=False, providers=None)
    on = await db.settings.update_channel(GUILD, 2, generation=True, providers=None)
    assert off.generation is False and on.generation is True
    assert [r.generation for r in await db.settings.channel_rules(GUILD)] == [False, True]


async def test_updating_a_channel_keeps_what_is_not_given(db: Database) -> None:
    await db.settings.update_channel(GUILD, 1, generation=False, providers="fal")
    kept = await db.settings.update_channel(GUILD, 1, generation=None, providers="replicate")
    assert (kept.generation, kept.providers) == (False, "replicate")
    kept = await db.settings.update_channel(GUILD, 1, generation=True, providers=None)
    assert (kept.generation, kept.providers) == (True, "replicate")


async def test_a_servers_flags_come_back_as_bool(db: Database) -> None:
    default = await db.settings.guild(GUILD)
    assert (default.nsfw_spoilers, default.charge_flagged) == (True, True)
    changed = await db.settings.update_guild(GUILD, nsfw_spoilers=False, charge_flagged=True)
    assert (changed.nsfw_spoilers, changed.charge_flagged) == (False, True)
    assert type(changed.nsfw_spoilers) is bool and type(changed.charge_flagged) is bool


async def test_an_unknown_setting_is_refused_and_nothing_is_written(db: Database) -> None:
    with pytest.raises(ValueError):
        await db.settings.update_guild(GUILD, monthly_budget=5.0, colour="red")
    assert (await db.settings.guild(GUILD)).monthly_budget is None


async def test_filters_round_trip_sorted_by_kind_then_pattern(db: Database) -> None:
    assert await db.settings.add_filter(GUILD, "word", "nsfw", 1)
    assert await db.settings.add_filter(GUILD, "regex", r"gore\w*", 1)
    assert await db.settings.add_filter(GUILD, "word", "blood", 1)
    assert not await db.settings.add_filter(GUILD, "word", "nsfw", 2)  # already there
    assert await db.settings.filters(GUILD) == [
        ("regex", r"gore\w*"),
        ("word", "blood"),
        ("word", "nsfw"),
    ]
    assert await db.settings.remove_filter(GUILD, "word", "blood")
    assert not await db.settings.remove_filter(GUILD, "word", "blood")
    assert await db.settings.filters(GUILD + 1) == []


async def test_quota_tiers_give_the_own_quota_the_best_role_tier_and_todays_bonus(
    db: Database,
) -> None:
    await db.settings.set_role_quota(GUILD, 100, 5)
    await db.settings.set_role_quota(GUILD, 200, 20)
    await db.settings.set_user_quota(GUILD, 1, 3)
    await db.settings.grant_bonus(GUILD, 1, "d", 2)
    await db.settings.grant_bonus(GUILD, 1, "d", 4)
    assert await db.settings.quota_tiers(GUILD, 1, (100, 200), "d") == (3, 20, 6)
    assert await db.settings.quota_tiers(GUILD, 1, (), "other day") == (3, None, 0)
    await db.settings.set_user_quota(GUILD, 1, None)
    assert await db.settings.quota_tiers(GUILD, 1, (100,), "d") == (None, 5, 6)
    assert await db.settings.role_quotas(GUILD) == [(200, 20), (100, 5)]


async def test_a_timed_ban_is_active_only_until_it_ends(db: Database) -> None:
    await db.settings.ban(GUILD, 1, reason="spam", by=9, until=1000.0)
    ban = await db.settings.active_ban(GUILD, 1, 999.0)
    assert ban is not None and (ban.reason, ban.banned_by, ban.until) == ("spam", 9, 1000.0)
    assert await db.settings.active_ban(GUILD, 1, 1000.0) is None
    assert await db.settings.unban(GUILD, 1)
    assert not await db.settings.unban(GUILD, 1)


async def test_settings_read_once_are_kept_until_they_are_no_longer_fresh(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every job reads them (issue 14); another process's change shows within FRESH_S."""
    other_process = SettingsStore(db._conn)
    assert (await db.settings.guild(GUILD)).monthly_budget is None
    assert await db.settings.filters(GUILD) == []
    await other_process.update_guild(GUILD, monthly_budget=5.0)
    await other_process.add_filter(GUILD, "word", "gore", 1)
    assert (await db.settings.guild(GUILD)).monthly_budget is None  # kept: no statement
    assert await db.settings.filters(GUILD) == []
    monkeypatch.setattr(settings, "FRESH_S", 0.0)
    assert (await db.settings.guild(GUILD)).monthly_budget == 5.0
    assert await db.settings.filters(GUILD) == [("word", "gore")]


async def test_this_processs_own_changes_are_seen_at_once(db: Database) -> None:
    await db.settings.guild(GUILD)
    await db.settings.channel(GUILD, 1)
    await db.settings.filters(GUILD)
    await db.settings.update_guild(GUILD, monthly_budget=5.0)
    await db.settings.update_channel(GUILD, 1, generation=False, providers=None)
    await db.settings.add_filter(GUILD, "word", "gore", 1)
    assert (await db.settings.guild(GUILD)).monthly_budget == 5.0
    assert (await db.settings.channel(GUILD, 1)).generation is False
    assert await db.settings.filters(GUILD) == [("word", "gore")]
    await db.settings.remove_filter(GUILD, "word", "gore")
    assert await db.settings.filters(GUILD) == []


async def test_a_read_a_write_overtook_is_not_kept(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = db.settings
    read = store._read_guild

    async def overtaken(guild_id: int) -> GuildSettings:
        before = await read(guild_id)
        monkeypatch.setattr(store, "_read_guild", read)
        await store.update_guild(GUILD, monthly_budget=7.0)  # lands while the read is out
        return before

    monkeypatch.setattr(store, "_read_guild", overtaken)
    assert (await store.guild(GUILD)).monthly_budget is None  # the read that was out
    assert (await store.guild(GUILD)).monthly_budget == 7.0


async def test_a_channel_update_keeps_another_processs_change_it_did_not_make(
    db: Database,
) -> None:
    other_process = SettingsStore(db._conn)
    await db.settings.channel(GUILD, 1)  # kept: the defaults
    await other_process.update_channel(GUILD, 1, generation=None, providers="fal")
    updated = await db.settings.update_channel(GUILD, 1, generation=False, providers=None)
    assert (updated.generation, updated.providers) == (False, "fal")
