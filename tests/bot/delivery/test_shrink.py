"""A provider's result with far more pixels than the bot decodes: posted smaller, or refused,
and either way in bounded memory.

Memory is the process's peak resident set (Linux `VmHWM`), restarted from the current RSS
through `/proc/self/clear_refs` right before the job, so an earlier test's peak can't hide a
spike (without /proc: `ru_maxrss`, a peak since the process started, so only an upper bound).
"""

from __future__ import annotations

import contextlib
import io
import re
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.cdn import FakeCDN
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal, Script
from tests.harness import Harness, running_bot

# Pillow warns on opening anything over ~89 MP: these are meant to be that large.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

SIDE = 12_000  # 144 megapixels: ~430 MB as RGB pixels
MAX_GROWTH_KB = 200 * 1024


def png_of_zeros(width: int, height: int) -> bytes:
    """A black RGB PNG, compressed row by row: the pixels never exist in this process."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + width * 3)  # filter byte + pixels
    rows = [packer.compress(row * 100) for _ in range(height // 100)]
    idat = b"".join(rows) + packer.compress(row * (height % 100)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def solid_jpeg(width: int, height: int) -> bytes:
    """A solid RGB JPEG, encoded by Pillow in a child process (so its pixels never exist in
    this one)."""
    script = (
        "import sys; from PIL import Image; "
        f"Image.new('RGB', ({width}, {height}), (40, 90, 160))"
        ".save(sys.stdout.buffer, 'JPEG', quality=90)"
    )
    return subprocess.run([sys.executable, "-c", script], check=True, capture_output=True).stdout


def restart_peak_rss() -> int:
    """Make the peak RSS the current RSS (Linux) and return it, in kB."""
    with contextlib.suppress(OSError):  # not Linux: ru_maxrss, a peak since the start
        Path("/proc/self/clear_refs").write_text("5")
    return peak_rss_kb()


def peak_rss_kb() -> int:
    try:
        found = re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        found = None
    return int(found.group(1)) if found else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def run_job(
    h: Harness, fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, image: bytes
) -> tuple[int, str]:
    """One /imagine whose result is `image`, with an attachment limit it exceeds; returns
    the peak RSS growth in kB and the interaction's token."""
    kind = "png" if image.startswith(b"\x89PNG") else "jpeg"
    url = cdn.put(f"huge.{kind}", image, f"image/{kind}")
    result = {
        "images": [{"url": url, "width": SIDE, "height": SIDE, "content_type": f"image/{kind}"}],
        "seed": 5,
        "has_nsfw_concepts": [False],
    }
    fake_fal.script(None, Script(queue_s=0, run_s=0.2, steps=1, result=result))
    baseline = restart_peak_rss()
    interaction = await fake_discord.send_interaction(
        "imagine",
        [{"name": "prompt", "type": 3, "value": "too many pixels"}],
        attachment_size_limit=len(image) // 2,
    )
    await h.idle()
    growth = peak_rss_kb() - baseline
    return growth, interaction.token


async def test_a_huge_png_result_is_refused_without_decoding_it(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    image = png_of_zeros(SIDE, SIDE)
    async with running_bot(fake_discord, db_path) as h:
        growth, token = await run_job(h, fake_discord, fake_fal, cdn, image)
        message = fake_discord.message(token)
        assert message is not None and message.attachments == []
        content = message.content or ""
        assert "Generation failed" in content
        assert "returned an image too large to post (12000x12000, 144 megapixels" in content
        assert "Your image was refunded" in content
        job = next(
            j for j in await h.bot.db.jobs.in_states(("failed",)) if j.interaction_token == token
        )
        assert (job.state, job.quota_state) == ("failed", "refunded")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 0
    assert growth < MAX_GROWTH_KB, f"peak RSS grew by {growth / 1024:.0f} MB"


async def test_a_huge_jpeg_result_is_posted_downscaled_without_decoding_it_in_full(
    fake_discord: FakeDiscord, fake_fal: FakeFal, cdn: FakeCDN, db_path: Path
) -> None:
    image = solid_jpeg(SIDE, SIDE)
    async with running_bot(fake_discord, db_path) as h:
        growth, token = await run_job(h, fake_discord, fake_fal, cdn, image)
        message = fake_discord.message(token)
        assert message is not None
        (attachment,) = message.attachments
        assert len(attachment.data) <= len(image) // 2
        with Image.open(io.BytesIO(attachment.data)) as posted:
            assert posted.format == "JPEG"
            assert posted.size == (SIDE // 4, SIDE // 4)  # decoded at a quarter: 9 MP
        job = next(
            j for j in await h.bot.db.jobs.in_states(("done",)) if j.interaction_token == token
        )
        assert (job.state, job.quota_state) == ("done", "committed")
        assert await h.bot.db.jobs.quota_used(job.user_id, job.quota_day) == 1
    assert growth < MAX_GROWTH_KB, f"peak RSS grew by {growth / 1024:.0f} MB"
