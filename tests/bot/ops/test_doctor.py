"""`python -m bot doctor` as a real process against the four fake providers."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from tests.fakes.civitai import FakeCivitai
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal
from tests.fakes.openai_images import FakeOpenAIImages
from tests.fakes.replicate import FakeReplicate

ROOT = Path(__file__).resolve().parents[3]
GOOD_ENV = {
    "DISCORD_TOKEN": "t",
    "FAL_KEY": "fal-key",
    "REPLICATE_API_TOKEN": "r8-key",
    "CIVITAI_API_TOKEN": "civitai-key",
    "PROXY_KEY": "sk-test-key",
}


def write_config(
    tmp_path: Path,
    discord: FakeDiscord,
    civitai: FakeCivitai,
    openai_base: str,
    *,
    fal_models: tuple[str, ...] = ("fal-ai/flux/dev", "fal-ai/flux/schnell"),
) -> Path:
    config = tmp_path / "config.toml"
    fal_host = f"https://{os.environ['FAL_RUN_HOST']}"
    config.write_text(
        f'[discord]\napi_base = "{discord.api_base}"\n'
        f'[database]\npath = "{tmp_path / "x.db"}"\n'
        f'[providers.fal]\nmodels_base_url = "{fal_host}"\n'
        f"models = {list(fal_models)!r}\n".replace("'", '"')
        + "[providers.replicate]\nenabled = true\n"
        f'[providers.civitai]\nenabled = true\nbase_url = "{civitai.base_url}"\n'
        f'[providers.openai]\nenabled = true\nbase_url = "{openai_base}"\n'
        'api_key_env = "PROXY_KEY"\n',
        encoding="utf-8",
    )
    return config


async def doctor(config: Path, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "doctor",
        "--config",
        str(config),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_doctor_says_ok_for_discord_and_every_provider_with_good_credentials(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    fake_civitai: FakeCivitai,
    fake_openai: FakeOpenAIImages,
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, fake_discord, fake_civitai, f"{fake_openai.base_url}/v1")
    code, out, err = await doctor(config, GOOD_ENV)
    assert code == 0, (out, err)
    assert out.splitlines() == [
        "discord: ok (logged in as Art Factory)",
        "fal: ok",
        "replicate: ok (account fake-user)",
        "civitai: ok",
        "openai: ok",
        "catalogue: 18 of 18 model schema(s) read from the providers",
    ]
    # The cheapest authenticated calls, and nothing that generates anything.
    (fal_call,) = fake_fal.requests
    assert fal_call.method == "GET" and fal_call.path.endswith("/status")
    assert fal_call.headers["Authorization"] == "Key fal-key"
    assert fake_fal.submits == []
    assert [r.path for r in fake_replicate.requests if r.path == "/v1/account"] == ["/v1/account"]
    assert not [r for r in fake_replicate.requests if r.method != "GET"]
    (civitai_call,) = fake_civitai.requests
    assert (civitai_call.method, civitai_call.path, civitai_call.query) == (
        "POST",
        "/v2/consumer/workflows",
        {"whatif": "true"},
    )
    (step,) = civitai_call.json["steps"]
    assert step["input"]["model"] == "urn:air:sdxl:checkpoint:civitai:101055@128078"
    assert fake_civitai.submits == []  # priced, never run
    assert [r.path for r in fake_openai.requests] == ["/v1/models"]
    assert "sk-test-key" not in out + err


async def test_doctor_names_each_problem_and_exits_1(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    fake_civitai: FakeCivitai,
    fake_openai: FakeOpenAIImages,
    tmp_path: Path,
) -> None:
    fake_fal.bad_keys.add("fal-key")
    fake_replicate.bad_tokens.add("r8-key")
    fake_civitai.bad_tokens.add("civitai-key")
    fake_discord.expected_token = "another-token"
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = write_config(tmp_path, fake_discord, fake_civitai, f"http://127.0.0.1:{port}/v1")
    code, out, err = await doctor(config, GOOD_ENV)
    assert code == 1, (out, err)
    discord_line, *lines = out.splitlines()
    assert discord_line == (
        "discord: Discord refused the bot token (401): reset it in the Developer Portal "
        "(your application → Bot → Reset Token) and export DISCORD_TOKEN again"
    )
    assert lines[0] == "fal: fal refused the bot's API key (the bot owner must check FAL_KEY)"
    assert lines[1] == (
        "replicate: Replicate refused the bot's API token (the bot owner must check it)"
    )
    assert lines[2] == (
        "civitai: CivitAI refused the bot's API token (the bot owner must check CIVITAI_API_TOKEN)"
    )
    assert lines[3] == "openai: could not reach the images API (connection refused)"
    assert "Traceback" not in err

    fake_fal.bad_keys.clear()
    fake_replicate.bad_tokens.clear()
    fake_civitai.bad_tokens.clear()
    fake_civitai.insufficient_buzz = True  # accepted, but it could not pay for an image
    fake_openai.keys.clear()
    config = write_config(tmp_path, fake_discord, fake_civitai, f"{fake_openai.base_url}/v1")
    fake_discord.expected_token = None
    code, out, _ = await doctor(config, GOOD_ENV)
    assert code == 1
    lines = out.splitlines()[1:]
    assert lines[2] == "civitai: ok (but the account has too little Buzz for an image)"
    assert lines[3] == (
        "openai: the API refused the bot's key (the bot owner must check PROXY_KEY)"
    )


async def test_doctor_reports_every_missing_secret_and_still_checks_the_rest(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    fake_civitai: FakeCivitai,
    fake_openai: FakeOpenAIImages,
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, fake_discord, fake_civitai, f"{fake_openai.base_url}/v1")
    env = {**GOOD_ENV, "DISCORD_TOKEN": "", "REPLICATE_API_TOKEN": "", "PROXY_KEY": ""}
    code, out, err = await doctor(config, env)
    assert code == 1, (out, err)
    assert out.splitlines() == [
        "discord: DISCORD_TOKEN is not set: export DISCORD_TOKEN=<your bot token> "
        "(Discord Developer Portal → your application → Bot → Reset Token)",
        "fal: ok",
        "replicate: REPLICATE_API_TOKEN is not set: export REPLICATE_API_TOKEN=<your replicate "
        "API key>",
        "civitai: ok",
        "openai: PROXY_KEY is not set: export PROXY_KEY=<your openai API key>",
        "catalogue: 11 of 11 model schema(s) read from the providers",
    ]
    assert fake_replicate.requests == [] and fake_openai.requests == []
    assert "Traceback" not in err
    # Starting the bot itself still stops at the first missing secret, with exit code 2.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--check",
        "--config",
        str(config),
        cwd=ROOT,
        env={**os.environ, **env},
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, check_err = await process.communicate()
    assert process.returncode == 2
    assert "DISCORD_TOKEN is not set" in check_err.decode()


async def test_doctor_names_a_model_whose_schema_it_cannot_read_and_exits_1(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    fake_civitai: FakeCivitai,
    fake_openai: FakeOpenAIImages,
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path,
        fake_discord,
        fake_civitai,
        f"{fake_openai.base_url}/v1",
        fal_models=("fal-ai/flux/dev", "fal-ai/no-such-model"),
    )
    code, out, err = await doctor(config, GOOD_ENV)
    assert code == 1, (out, err)
    lines = out.splitlines()
    assert (
        "fal: fal-ai/no-such-model: not offered: its schema could not be read "
        "(the provider did not list it)"
    ) in lines
    assert lines[-1] == "catalogue: 17 of 18 model schema(s) read from the providers"


async def test_doctor_checks_the_prompt_help_key_when_prompt_help_is_on(
    fake_discord: FakeDiscord,
    fake_fal: FakeFal,
    fake_replicate: FakeReplicate,
    fake_civitai: FakeCivitai,
    fake_openai: FakeOpenAIImages,
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, fake_discord, fake_civitai, f"{fake_openai.base_url}/v1")
    base = f"{fake_openai.base_url}/v1"
    with config.open("a", encoding="utf-8") as file:
        file.write(
            f'[prompt_help]\nenabled = true\nbase_url = "{base}"\napi_key_env = "HELP_KEY"\n'
        )
    code, out, _err = await doctor(config, {**GOOD_ENV, "HELP_KEY": "sk-test-key"})
    assert code == 0 and f"prompt help: ok (gpt-4o-mini at {base})" in out.splitlines(), out
    code, out, _err = await doctor(config, {**GOOD_ENV, "HELP_KEY": "sk-wrong"})
    assert code == 1 and f"prompt help: {base} refused HELP_KEY (401)" in out, out
