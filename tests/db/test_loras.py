"""db.loras: each server's LoRA library."""

from __future__ import annotations

from db.database import Database
from db.loras import LoraRow


def lora(name: str, *, guild_id: int = 10, nsfw: bool = False) -> LoraRow:
    return LoraRow(guild_id, name, f"https://example.com/{name}.safetensors", "", 1.0, nsfw, 1, 0)


async def test_a_loras_nsfw_flag_comes_back_as_bool(db: Database) -> None:
    assert await db.loras.add(lora("spicy", nsfw=True))
    assert await db.loras.add(lora("mild"))
    spicy, mild = await db.loras.get(10, "spicy"), await db.loras.get(10, "mild")
    assert spicy is not None and mild is not None
    assert (spicy.nsfw, mild.nsfw) == (True, False)
    assert type(spicy.nsfw) is bool and type(mild.nsfw) is bool


async def test_a_lora_name_is_taken_once_per_server_whatever_its_case(db: Database) -> None:
    assert await db.loras.add(lora("Pixel"))
    assert not await db.loras.add(lora("pixel"))
    assert await db.loras.add(lora("pixel", guild_id=11))  # another server's library
    assert [r.name for r in await db.loras.search(10)] == ["Pixel"]


async def test_search_takes_the_prefix_literally(db: Database) -> None:
    for name in ("a_b", "axb", "a%c", "abc"):
        assert await db.loras.add(lora(name))
    assert [r.name for r in await db.loras.search(10, "a_")] == ["a_b"]
    assert [r.name for r in await db.loras.search(10, "a%")] == ["a%c"]


async def test_a_removed_lora_is_gone_and_removing_it_again_says_so(db: Database) -> None:
    assert await db.loras.add(lora("gone"))
    assert await db.loras.remove(10, "GONE")
    assert await db.loras.get(10, "gone") is None
    assert not await db.loras.remove(10, "gone")
