"""The web gallery in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium), against the real bot and the fake Discord, fal and OAuth2 (issue 17):
thumbnails load, the family tree is drawn, a members-only server's page goes through Discord's
sign-in and back, and a member's delete removes their image. Each saves a screenshot of its
pages under the test's temp folder.

Without Chromium these tests skip with one line saying so, except in CI, which installs it
and sets ARTFACTORY_TEST_REQUIRE_CHROMIUM (.ci/run), so that a missing browser fails there.
Selenium blocks, so each of its calls runs in a thread: the bot answers the browser from this
test's event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.bot.web.gallery_helpers import (
    base_url,
    gallery_bot,
    imagine,
    reroll,
    share,
    web_gallery,
)
from tests.cogs.moderation_helpers import ALICE, BOB, CAROL, QUICK
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_oauth import FakeDiscordOAuth
from tests.fakes.fal import FakeFal

CHROMIUM = os.environ.get("ARTFACTORY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ARTFACTORY_CHROMEDRIVER", "/usr/bin/chromedriver")
T = TypeVar("T")


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"no {path}: apt-get install {package} to run the browser tests"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module (each test starts without cookies)."""
    missing = _missing()
    if missing:
        if os.environ.get("ARTFACTORY_TEST_REQUIRE_CHROMIUM"):
            pytest.fail(missing)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1200,900")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The browser, driven from async tests: each blocking Selenium call in a thread."""

    def __init__(self, driver: Any, base: str, folder: Path) -> None:
        self.driver = driver
        self.base = base
        self.folder = folder
        driver.delete_all_cookies()

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def open(self, path: str) -> str:
        await self.run(self.driver.get, self.base + path)
        return str(await self.run(lambda: self.driver.current_url))

    async def script(self, source: str, *args: Any) -> Any:
        return await self.run(self.driver.execute_script, source, *args)

    async def count(self, selector: str) -> int:
        return int(await self.script(f"return document.querySelectorAll({selector!r}).length"))

    async def images_loaded(self, selector: str, timeout: float = 15) -> list[int]:
        """The natural widths of the page's `selector` images once each finished loading."""
        async with asyncio.timeout(timeout):
            while True:
                state = await self.script(
                    "return [...document.querySelectorAll(arguments[0])]"
                    ".map(i => i.complete ? i.naturalWidth : -1)",
                    selector,
                )
                if all(width >= 0 for width in state):
                    return [int(width) for width in state]
                await asyncio.sleep(0.1)

    async def screenshot(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        assert await self.run(self.driver.save_screenshot, str(path)), path
        return path


async def test_the_gallery_page_shows_the_shared_images_thumbnails(
    chromium: Any,
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_oauth: FakeDiscordOAuth,
    db_path: Path,
    tmp_path: Path,
) -> None:
    fake_fal.script(None, QUICK)
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h:
        await web_gallery(h, "public")
        first = await imagine(h, "a lantern festival", count=2)
        await share(h, first, 1)
        await share(h, first, 2)
        await share(h, await imagine(h, "a paper boat", user_id=BOB))
        page = Page(chromium, base_url(h), tmp_path)
        await page.open(f"/g/{fake_discord.guild_id}")
        widths = await page.images_loaded(".tile img")
        assert len(widths) == 3 and all(width > 0 for width in widths), widths
        assert (await page.screenshot("gallery")).stat().st_size > 0


async def test_the_lineage_page_draws_a_three_generation_remix_as_a_tree(
    chromium: Any,
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_oauth: FakeDiscordOAuth,
    db_path: Path,
    tmp_path: Path,
) -> None:
    fake_fal.script(None, QUICK)
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h:
        await web_gallery(h, "public")
        root = await imagine(h, "an owl")
        child = await reroll(h, root, BOB)
        grandchild = await reroll(h, child, CAROL)
        sibling = await reroll(h, root, CAROL)  # a child of the root, not of the page's result
        for result in (root, child, grandchild, sibling):
            await share(h, result)
        page = Page(chromium, base_url(h), tmp_path)
        await page.open(f"/g/{fake_discord.guild_id}/lineage/{child.job.id}")
        jobs = await page.script(
            "return [...document.querySelectorAll('svg.tree g.node')].map(g => +g.dataset.job)"
        )
        assert sorted(jobs) == sorted([root.job.id, child.job.id, grandchild.job.id])
        assert await page.count("svg.tree line.edge") == 2
        assert await page.count("svg.tree g.node image") == 3  # a thumbnail each
        tops = await page.script(
            "return Object.fromEntries([...document.querySelectorAll('svg.tree g.node')]"
            ".map(g => [g.dataset.job, g.getBBox().y]))"
        )
        generations = [tops[str(r.job.id)] for r in (root, child, grandchild)]
        assert generations == sorted(generations) and len(set(generations)) == 3
        assert (await page.screenshot("lineage")).stat().st_size > 0


async def test_a_members_servers_page_goes_through_discord_sign_in_and_shows_the_gallery(
    chromium: Any,
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_oauth: FakeDiscordOAuth,
    db_path: Path,
    tmp_path: Path,
) -> None:
    fake_fal.script(None, QUICK)
    guild = fake_discord.guild_id
    fake_oauth.guilds_of = {ALICE: [guild]}
    fake_oauth.signed_in = ALICE
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h:
        await web_gallery(h, "members")
        await share(h, await imagine(h, "a lantern festival"))
        page = Page(chromium, base_url(h), tmp_path)
        landed = await page.open(f"/g/{guild}")
        assert landed == f"{page.base}/g/{guild}"
        (asked,) = fake_oauth.authorizations  # the page sent the browser to Discord's sign-in
        assert asked["scope"] == "identify guilds" and asked["state"]
        widths = await page.images_loaded(".tile img")
        assert len(widths) == 1 and widths[0] > 0
        assert (await page.screenshot("members-gallery")).stat().st_size > 0


async def test_a_members_delete_removes_their_image(
    chromium: Any,
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_oauth: FakeDiscordOAuth,
    db_path: Path,
    tmp_path: Path,
) -> None:
    fake_fal.script(None, QUICK)
    fake_oauth.signed_in = ALICE
    async with gallery_bot(fake_discord, db_path, fake_oauth) as h:
        await web_gallery(h, "public")
        kept = await imagine(h, "a paper boat")
        gone = await imagine(h, "a paper crane")
        page = Page(chromium, base_url(h), tmp_path)
        await page.open("/me")
        assert await page.count(f'li.result[data-job="{gone.job.id}"]') == 1
        await page.screenshot("me-before")
        await page.script(
            "document.querySelector(arguments[0]).click()",
            f'li.result[data-job="{gone.job.id}"] button.delete',
        )
        async with asyncio.timeout(15):
            while (await h.bot.db.jobs.get(gone.job.id)).deleted_at is None:  # type: ignore[union-attr]
                await asyncio.sleep(0.1)
        await page.open("/me")
        assert await page.count(f'li.result[data-job="{gone.job.id}"]') == 0
        assert await page.count(f'li.result[data-job="{kept.job.id}"]') == 1
        assert fake_discord.messages[gone.message.id].deleted
        assert (await page.screenshot("me-after")).stat().st_size > 0
