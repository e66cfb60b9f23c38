"""The fake Discord, driven by the real discord.py client (an AutoShardedBot)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route
from PIL import Image

from .discord import DEFAULT_SPEC_PATH, FakeDiscord, FakeMessage, RecordedRequest


def _png(width: int = 4, height: int = 3) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()
FOLLOWUP = "POST /webhooks/{id}/{token}"
CALLBACK = "POST /interactions/{id}/{token}/callback"
EDIT = "PATCH /webhooks/{id}/{token}/messages/{mid}"


@dataclass
class Probe:
    """What the bot's handlers saw."""

    errors: list[Exception] = field(default_factory=list)
    held: asyncio.Queue[discord.Interaction] = field(default_factory=asyncio.Queue)
    submitted: list[str] = field(default_factory=list)


class Form(discord.ui.Modal, title="Describe it"):
    text: discord.ui.TextInput[Form] = discord.ui.TextInput(label="Text", custom_id="text")

    def __init__(self, probe: Probe) -> None:
        super().__init__(custom_id="form")
        self.probe = probe

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.probe.submitted.append(self.text.value)
        await interaction.response.send_message(f"got {self.text.value}", ephemeral=True)


class Panel(discord.ui.View):
    def __init__(self, probe: Probe) -> None:
        super().__init__(timeout=30)
        self.probe = probe

    @discord.ui.button(label="Go", custom_id="go", style=discord.ButtonStyle.primary)
    async def go(self, interaction: discord.Interaction, button: discord.ui.Button[Panel]) -> None:
        await interaction.response.edit_message(content="clicked", embed=None, view=None)

    @discord.ui.button(label="Form", custom_id="open-form")
    async def form(
        self, interaction: discord.Interaction, button: discord.ui.Button[Panel]
    ) -> None:
        await interaction.response.send_modal(Form(self.probe))

    @discord.ui.select(custom_id="size", options=[discord.SelectOption(label="S", value="s")])
    async def size(
        self, interaction: discord.Interaction, select: discord.ui.Select[Panel]
    ) -> None:
        await interaction.response.defer()


def build_bot(fake: FakeDiscord, probe: Probe) -> commands.AutoShardedBot:
    intents = discord.Intents.none()
    intents.guilds = True
    bot = commands.AutoShardedBot(
        command_prefix="!", intents=intents, guild_ready_timeout=fake.guild_ready_timeout_hint
    )
    guild = discord.Object(fake.guild_id)

    @app_commands.command(name="ping", description="Pong with a picture")
    async def ping(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(
            content=f"pong {text}", attachments=[discord.File(io.BytesIO(PNG), "a.png")]
        )
        await interaction.followup.send("done", ephemeral=True)

    @app_commands.command(name="hold", description="Defer and hand the interaction to the test")
    async def hold(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        probe.held.put_nowait(interaction)

    @app_commands.command(name="panel", description="A message with an embed and components")
    async def panel(interaction: discord.Interaction) -> None:
        embed = discord.Embed(title="Panel", description="pick", colour=0x3366FF)
        embed.set_image(url="attachment://p.png")
        embed.add_field(name="model", value="flux")
        embed.timestamp = discord.utils.utcnow()
        await interaction.response.send_message(
            embed=embed, view=Panel(probe), file=discord.File(io.BytesIO(PNG), "p.png")
        )

    @app_commands.command(name="pick", description="Autocompleted option")
    async def pick(interaction: discord.Interaction, style: str) -> None:
        await interaction.response.send_message(style)

    @pick.autocomplete("style")
    async def pick_style(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{current} {i}", value=f"{current}{i}") for i in range(3)]

    @app_commands.command(name="rich", description="Many payload shapes discord.py can send")
    @app_commands.default_permissions(manage_guild=True)
    async def rich(interaction: discord.Interaction) -> None:
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Art", emoji="\N{ARTIST PALETTE}", custom_id="art"))
        view.add_item(discord.ui.Button(label="Docs", url="https://example.com/docs"))
        view.add_item(
            discord.ui.Select(
                custom_id="model",
                placeholder="Model",
                min_values=1,
                max_values=2,
                options=[
                    discord.SelectOption(
                        label="Flux", value="flux", description="fast", default=True
                    ),
                    discord.SelectOption(label="SD", value="sd", emoji="\N{HIGH VOLTAGE SIGN}"),
                ],
            )
        )
        embed = discord.Embed(
            title="Rich", url="https://example.com", description="d", colour=0x5865F2
        )
        embed.set_author(name="A", icon_url="https://example.com/a.png")
        embed.set_footer(text="f", icon_url="https://example.com/f.png")
        embed.set_thumbnail(url="https://example.com/t.png")
        mentions = discord.AllowedMentions(users=[discord.Object(4000)], roles=[discord.Object(5)])
        await interaction.response.send_message(
            "rich", embed=embed, view=view, allowed_mentions=mentions, silent=True
        )
        await interaction.followup.send(
            "files",
            files=[
                discord.File(io.BytesIO(PNG), "x.png", description="alt text", spoiler=True),
                discord.File(io.BytesIO(b"plain"), "notes.txt"),
            ],
            ephemeral=True,
        )
        message = await interaction.original_response()
        await message.edit(content="rich edited", embed=None, view=None)

    @app_commands.command(name="about", description="A global command")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.allowed_installs(guilds=True, users=True)
    async def about(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("about", ephemeral=True)

    @app_commands.context_menu(name="Upscale")
    async def upscale(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message("later")

    async def on_error(
        interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        probe.errors.append(error)

    bot.tree.on_error = on_error  # type: ignore[method-assign]
    for command in (ping, hold, panel, pick, rich):
        bot.tree.add_command(command, guild=guild)
    bot.tree.add_command(about)
    bot.tree.add_command(upscale)
    return bot


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = server.api_base
    # a failed RESUME would make the client re-identify at DEFAULT_GATEWAY: keep that local too
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)
    try:
        yield server
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway
        await server.close()


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord, probe: Probe) -> AsyncIterator[commands.AutoShardedBot]:
    client = build_bot(fake, probe)
    connection: asyncio.Task[None] | None = None
    try:
        await client.login("fake-token")
        connection = asyncio.create_task(client.connect())
        async with asyncio.timeout(5):
            await client.wait_until_ready()
        synced = await client.tree.sync(guild=discord.Object(fake.guild_id))
        assert {c.name for c in synced} == {"ping", "hold", "panel", "pick", "rich"}
        yield client
    finally:
        await client.close()
        if connection is not None:
            await asyncio.wait_for(connection, 5)
    assert probe.errors == []
    assert fake.spec_violations == []


async def held(fake: FakeDiscord, probe: Probe) -> discord.Interaction:
    await fake.send_interaction("hold")
    return await asyncio.wait_for(probe.held.get(), 5)


def is_route(route: str) -> object:
    return lambda r: r.route == route and r.status


async def test_ping_defer_edit_with_file_and_ephemeral_followup(
    fake: FakeDiscord, bot: commands.AutoShardedBot
) -> None:
    assert fake.identified.is_set()
    assert fake.identify_payloads[0]["shard"] == [0, 1]
    assert fake.commands["ping"]["guild_id"] == str(fake.guild_id)

    inter = await fake.send_interaction("ping", [{"name": "text", "type": 3, "value": "hi"}])
    followup = await fake.wait_for_request(is_route(FOLLOWUP))  # type: ignore[arg-type]
    assert followup.status == 200

    callbacks = inter.callbacks()
    assert [c.json["type"] for c in callbacks] == [5]
    assert callbacks[0].status == 200
    assert inter.responded_at is not None and inter.responded_at - inter.sent_at < 3

    original = inter.original()
    assert original is not None
    assert fake.message(inter.token) is original
    assert original.content == "pong hi"
    assert original.flags == 0  # LOADING cleared by the edit
    assert [(a.filename, a.content_type, a.data) for a in original.attachments] == [
        ("a.png", "image/png", PNG)
    ]
    assert (original.attachments[0].width, original.attachments[0].height) == (4, 3)
    assert [h["content"] for h in original.history] == ["", "pong hi"]
    assert original.history[0]["flags"] == 128

    edit = next(r for r in fake.requests if r.route == EDIT)
    assert edit.files[0].data == PNG and edit.json["attachments"][0]["id"] == 0

    [extra] = inter.followups()
    assert (extra.content, extra.flags) == ("done", 64)


async def test_injected_429_is_waited_out_and_retried(
    fake: FakeDiscord, bot: commands.AutoShardedBot, probe: Probe
) -> None:
    interaction = await held(fake, probe)
    fake.inject(
        "PATCH",
        r"/messages/@original$",
        status=429,
        json={"message": "You are being rate limited.", "retry_after": 0.2, "global": False},
    )
    started = time.monotonic()
    message = await interaction.edit_original_response(content="after 429")
    assert time.monotonic() - started >= 0.2
    assert message.content == "after 429"
    assert fake.rate_limited_count == 1
    assert [r.status for r in fake.requests if r.route == EDIT] == [429, 200]
    original = fake.message(interaction.token)
    assert original is not None and original.content == "after 429" and original.ephemeral


async def test_rate_limit_headers_make_discord_py_wait(
    fake: FakeDiscord, bot: commands.AutoShardedBot, probe: Probe
) -> None:
    fake.rate_limits[EDIT] = (2, 0.4)
    interaction = await held(fake, probe)
    started = time.monotonic()
    for i in range(3):
        await interaction.edit_original_response(content=f"step {i}")
    assert time.monotonic() - started >= 0.3  # the third edit waited for the window
    assert fake.rate_limited_count == 0
    edits = [r for r in fake.requests if r.route == EDIT]
    assert [r.status for r in edits] == [200, 200, 200]


async def test_rate_limit_answers_429_when_ignored(fake: FakeDiscord) -> None:
    fake.rate_limits["GET /users/@me"] = (1, 5.0)
    url = f"{fake.api_base}/users/@me"
    async with aiohttp.ClientSession(headers={"Authorization": "Bot x"}) as session:
        async with session.get(url) as first:
            assert first.status == 200
            assert first.headers["X-RateLimit-Remaining"] == "0"
            assert first.headers["Content-Type"] == "application/json"
        async with session.get(url) as second:
            assert second.status == 429
            assert second.headers["Via"] == "1.1 google"
            assert second.headers["X-RateLimit-Scope"] == "user"
            body = await second.json()
            assert body["global"] is False and 0 < body["retry_after"] <= 5
    assert fake.rate_limited_count == 1


@pytest.mark.skipif(not DEFAULT_SPEC_PATH.is_file(), reason="no OpenAPI description")
async def test_spec_violation_answers_400_and_is_recorded(
    fake: FakeDiscord, bot: commands.AutoShardedBot
) -> None:
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=fake.channel_id)
    with pytest.raises(discord.HTTPException) as caught:
        await bot.http.request(route, json={"content": 123})
    assert (caught.value.status, caught.value.code) == (400, 50035)
    assert len(fake.spec_violations) == 1
    assert "content" in fake.spec_violations[0]
    fake.spec_violations.clear()


async def test_expired_token_gives_401_50027(
    fake: FakeDiscord, bot: commands.AutoShardedBot, probe: Probe
) -> None:
    interaction = await held(fake, probe)
    fake.clock_offset = 15 * 60 + 1
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.edit_original_response(content="too late")
    assert (caught.value.status, caught.value.code) == (401, 50027)


async def test_second_callback_and_unknown_message(
    fake: FakeDiscord, bot: commands.AutoShardedBot, probe: Probe
) -> None:
    interaction = await held(fake, probe)
    url = f"{fake.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
    async with aiohttp.ClientSession() as session, session.post(url, json={"type": 5}) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == 40060
    with pytest.raises(discord.NotFound) as caught:
        await interaction.followup.edit_message(1, content="x")
    assert caught.value.code == 10008
    await interaction.delete_original_response()
    with pytest.raises(discord.NotFound):
        await interaction.original_response()


async def test_components_modal_and_autocomplete(
    fake: FakeDiscord, bot: commands.AutoShardedBot, probe: Probe
) -> None:
    inter = await fake.send_interaction("panel")
    await fake.wait_for_request(lambda r: r.route == CALLBACK and r.status != 0)
    panel = inter.original()
    assert panel is not None and panel.embeds[0]["title"] == "Panel"
    assert panel.embeds[0]["image"]["url"].endswith(f"/attachments/{panel.id}/p.png")
    assert [c["custom_id"] for c in panel.components[0]["components"]] == ["go", "open-form"]

    click = await fake.send_component(panel, "go")
    await fake.wait_for_request(
        lambda r: r.route == CALLBACK and r.params["id"] == str(click.id) and r.status != 0
    )
    assert click.response_type == 7
    assert (panel.content, panel.embeds, panel.components) == ("clicked", [], [])

    opener = await fake.send_component(panel, "open-form")
    await fake.wait_for_request(lambda r: r.params.get("id") == str(opener.id) and r.status != 0)
    assert opener.response_type == 9 and opener.modal is not None
    assert opener.modal["custom_id"] == "form"
    submit = await fake.send_modal_submit("form", {"text": "a red fox"})
    await fake.wait_for_request(lambda r: r.params.get("id") == str(submit.id) and r.status != 0)
    assert probe.submitted == ["a red fox"]
    reply = submit.original()
    assert reply is not None and reply.content == "got a red fox" and reply.ephemeral

    auto = await fake.send_autocomplete(
        "pick", [{"name": "style", "type": 3, "value": "oil", "focused": True}]
    )
    await fake.wait_for_request(lambda r: r.params.get("id") == str(auto.id) and r.status != 0)
    assert auto.response_type == 8
    assert [c["value"] for c in auto.autocomplete_choices or []] == ["oil0", "oil1", "oil2"]


async def test_channel_messages_files_and_deleted_channel(
    fake: FakeDiscord, bot: commands.AutoShardedBot
) -> None:
    channel = bot.get_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("hello")
    reply = await first.reply(
        "with file", file=discord.File(io.BytesIO(PNG), "r.png"), mention_author=False
    )
    assert reply.reference is not None and reply.reference.message_id == first.id
    assert await reply.attachments[0].read() == PNG
    edited = await reply.edit(content="edited", attachments=[])
    assert edited.attachments == [] and edited.content == "edited"
    stored = fake.message(reply.id)
    assert isinstance(stored, FakeMessage)
    assert [h["attachments"] for h in stored.history] == [["r.png"], []]
    fetched = await channel.fetch_message(first.id)
    assert fetched.content == "hello"
    await first.delete()
    with pytest.raises(discord.NotFound) as caught:
        await channel.fetch_message(first.id)
    assert caught.value.code == 10008

    fake.deleted_channels.add(fake.channel_id)
    with pytest.raises(discord.NotFound) as caught:
        await channel.send("gone")
    assert caught.value.code == 10003


async def test_attachment_urls_are_signed_and_expire_after_a_day(
    fake: FakeDiscord, bot: commands.AutoShardedBot, probe: Probe
) -> None:
    channel = bot.get_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel)
    embed = discord.Embed(title="own image").set_image(url="attachment://s.png")
    sent = await channel.send(embed=embed, file=discord.File(io.BytesIO(PNG), "s.png"))
    url = sent.attachments[0].url
    query = yarl.URL(url).query
    issued = int(query["is"], 16)
    assert int(query["ex"], 16) == issued + 24 * 3600
    assert abs(issued - time.time()) < 5 and len(query["hm"]) == 64
    assert sent.embeds[0].image.url is not None
    assert fake.unsigned(sent.embeds[0].image.url) == fake.unsigned(url)
    stored = fake.message(sent.id)
    assert stored is not None and stored.embeds[0]["image"]["url"] == fake.unsigned(url)
    gone = (404, b"This content is no longer available.")

    async with aiohttp.ClientSession() as session:

        async def get(target: str) -> tuple[int, bytes]:
            async with session.get(target) as response:
                return response.status, await response.read()

        assert await get(url) == (200, PNG)
        assert await get(url.replace(query["hm"], "0" * 64)) == gone
        assert await get(fake.unsigned(url)) == gone

        fake.clock_offset += 24 * 3600 + 1
        assert await get(url) == gone
        fetched = await channel.fetch_message(sent.id)
        fresh = fetched.attachments[0].url
        assert int(yarl.URL(fresh).query["is"], 16) >= issued + 24 * 3600
        assert await get(fresh) == (200, PNG)
        assert fetched.embeds[0].image.url is not None
        assert await get(fetched.embeds[0].image.url) == (200, PNG)

        # Resolved attachments of an interaction are signed when it is delivered.
        upload = fake.make_attachment("u.png", PNG)
        fake.clock_offset += 24 * 3600 + 1
        assert await get(upload["url"]) == gone
        inter = await fake.send_interaction(
            "hold", resolved={"attachments": {upload["id"]: upload}}
        )
        await asyncio.wait_for(probe.held.get(), 5)
        delivered = inter.payload["data"]["resolved"]["attachments"][upload["id"]]["url"]
        assert await get(delivered) == (200, PNG)


async def test_followup_after_defer_edits_the_loading_message(
    fake: FakeDiscord, bot: commands.AutoShardedBot, probe: Probe
) -> None:
    interaction = await held(fake, probe)
    message = await interaction.followup.send("first", wait=True)
    original = fake.message(interaction.token)
    assert original is not None and message.id == original.id
    assert original.flags == 64 and original.content == "first"
    second = await interaction.followup.send("second", wait=True)
    assert second.id != original.id


async def test_gateway_resume_after_disconnect(
    fake: FakeDiscord, bot: commands.AutoShardedBot
) -> None:
    await fake.disconnect_gateway()
    inter = await fake.send_interaction("ping", [{"name": "text", "type": 3, "value": "again"}])
    await fake.wait_for_request(
        lambda r: r.route == FOLLOWUP and r.params["token"] == inter.token and r.status != 0
    )
    assert fake.resume_count == 1 and len(fake.identify_payloads) == 1
    original = inter.original()
    assert original is not None and original.content == "pong again"


async def test_invalid_session_ends_the_session_and_the_client_identifies_again(
    fake: FakeDiscord, bot: commands.AutoShardedBot
) -> None:
    async def identify_now(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before a repeated IDENTIFY; not what is tested here."""

    bot.before_identify_hook = identify_now  # type: ignore[method-assign]
    await fake.invalidate_session(resumable=False)
    inter = await fake.send_interaction("ping", [{"name": "text", "type": 3, "value": "anew"}])
    await fake.wait_for_request(
        lambda r: r.route == FOLLOWUP and r.params["token"] == inter.token and r.status != 0
    )
    assert len(fake.identify_payloads) == 2 and fake.resume_count == 0
    await fake.disconnect_gateway(resumable=False)  # a RESUME of a forgotten session gets op 9
    inter = await fake.send_interaction("ping", [{"name": "text", "type": 3, "value": "again"}])
    await fake.wait_for_request(
        lambda r: r.route == FOLLOWUP and r.params["token"] == inter.token and r.status != 0
    )
    assert fake.failed_resumes == 1 and len(fake.identify_payloads) == 3


async def test_injected_hang_and_server_error(fake: FakeDiscord) -> None:
    fake.inject("GET", r"^/gateway$", status=200, delay=0.2)
    fake.inject("GET", r"^/users/@me$", status=500, times=2)
    async with aiohttp.ClientSession(headers={"Authorization": "Bot x"}) as session:
        started = time.monotonic()
        async with session.get(f"{fake.api_base}/gateway") as resp:
            assert resp.status == 200 and (await resp.json())["url"] == fake.gateway_url
        assert time.monotonic() - started >= 0.2
        statuses = []
        for _ in range(3):
            async with session.get(f"{fake.api_base}/users/@me") as resp:
                statuses.append(resp.status)
    assert statuses == [500, 500, 200]
    recorded: RecordedRequest = await fake.wait_for_request(lambda r: r.status == 500)
    assert recorded.route == "GET /users/@me"


async def test_rich_payloads_and_global_commands_pass_the_spec(
    fake: FakeDiscord, bot: commands.AutoShardedBot
) -> None:
    assert fake.commands["rich"]["default_member_permissions"] == "32"
    inter = await fake.send_interaction("rich")
    await fake.wait_for_request(
        lambda r: r.route == EDIT and r.params["token"] == inter.token and r.status != 0
    )
    original = inter.original()
    assert original is not None
    assert original.content == "rich edited" and original.flags == 4096
    assert original.history[0]["components"][1]["components"][0]["custom_id"] == "model"
    assert original.embeds == [] and original.components == []
    [files] = inter.followups()
    assert [(a.filename, a.description) for a in files.attachments] == [
        ("SPOILER_x.png", "alt text"),
        ("notes.txt", None),
    ]
    assert files.attachments[1].content_type == "text/plain" and files.ephemeral

    synced = await bot.tree.sync()
    assert {(c.name, c.type.value) for c in synced} == {("about", 1), ("Upscale", 3)}
    about = fake.global_commands["about"]
    assert (about["contexts"], about["integration_types"]) == ([0, 1], [0, 1])
    assert "guild_id" not in about and about["dm_permission"] is True
    global_inter = await fake.send_interaction("about")
    assert "guild_id" not in global_inter.payload["data"]
    await fake.wait_for_request(lambda r: r.params.get("id") == str(global_inter.id) and r.status)
    reply = global_inter.original()
    assert reply is not None and reply.content == "about" and reply.type == 20


async def test_direct_messages_and_dm_interactions(
    fake: FakeDiscord, bot: commands.AutoShardedBot
) -> None:
    user = await bot.fetch_user(4000)
    sent = await user.send("your image is ready", file=discord.File(io.BytesIO(PNG), "dm.png"))
    stored = fake.message(sent.id)
    assert stored is not None and stored.guild_id is None
    assert stored.content == "your image is ready" and stored.attachments[0].filename == "dm.png"

    await bot.tree.sync()
    inter = await fake.send_raw_interaction(
        {
            "type": 2,
            "user": fake.user_json(4000),
            "data": {"id": fake.global_commands["about"]["id"], "name": "about", "type": 1},
        }
    )
    await fake.wait_for_request(lambda r: r.params.get("id") == str(inter.id) and r.status)
    reply = inter.original()
    assert reply is not None and reply.content == "about" and reply.guild_id is None
    assert reply.channel_id == stored.channel_id
