"""The fake OpenAI-compatible edits endpoint, through the real `openai` SDK: what OpenAI's spec
says of the mask is what the fake enforces."""

from __future__ import annotations

import io

import openai
import pytest
from PIL import Image

from tests.fakes.cdn import make_png
from tests.fakes.openai_images import FakeOpenAIImages


def client(fake: FakeOpenAIImages) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test-key", base_url=f"{fake.base_url}/v1", max_retries=0)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def test_an_edit_with_a_transparent_means_edit_mask_is_answered_and_recorded(
    fake_openai: FakeOpenAIImages,
) -> None:
    fake_openai.run_s = 0
    mask = Image.new("RGBA", (32, 32), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 8))
    answer = await client(fake_openai).images.edit(
        model="gpt-image-1.5",
        prompt="fireworks",
        image=("a.png", make_png(32, 32), "image/png"),
        mask=("m.png", png(mask), "image/png"),
    )
    assert answer.data and answer.data[0].b64_json
    (edit,) = fake_openai.edits
    assert edit.mask is not None and edit.mask.getchannel("A").getpixel((16, 2)) == 0


@pytest.mark.parametrize(
    ("mask", "words"),
    [
        (Image.new("L", (32, 32), 255), "format must be in ['RGBA', 'LA'], got L"),
        (Image.new("RGBA", (16, 16), (0, 0, 0, 0)), "does not match the image's 32x32"),
    ],
)
async def test_a_mask_without_alpha_or_of_another_size_is_refused_naming_the_mask(
    fake_openai: FakeOpenAIImages, mask: Image.Image, words: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await client(fake_openai).images.edit(
            model="gpt-image-1.5",
            prompt="fireworks",
            image=("a.png", make_png(32, 32), "image/png"),
            mask=("m.png", png(mask), "image/png"),
        )
    body = refused.value.body
    assert isinstance(body, dict) and body["param"] == "mask" and words in body["message"]
    assert fake_openai.edits == []
