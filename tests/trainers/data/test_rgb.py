"""`to_rgb`: high-bit-depth grey images scaled to 8 bits, everything else as PIL converts it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from babelclip.trainers.data.images import to_rgb


def _grey_ramp() -> np.ndarray:
    # Every 8-bit value, as a 16 x 16 picture.
    return np.arange(256, dtype=np.uint8).reshape(16, 16)


def _png_round_trip(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    reopened = Image.open(io.BytesIO(buffer.getvalue()))
    reopened.load()
    return reopened


def test_a_16_bit_png_gives_the_8_bit_pixels_back():
    eight = _grey_ramp()
    png_8 = _png_round_trip(Image.fromarray(eight))
    png_16 = _png_round_trip(Image.fromarray(eight.astype(np.uint16) * 257))
    assert (png_8.mode, png_16.mode) == ("L", "I;16")
    rgb_8, rgb_16 = np.asarray(to_rgb(png_8), dtype=int), np.asarray(to_rgb(png_16), dtype=int)
    assert rgb_16.shape == (16, 16, 3)
    assert np.abs(rgb_16 - rgb_8).max() <= 1
    assert np.array_equal(rgb_16[..., 0], eight)  # exact: 257 x v / 257
    # What PIL's own conversion does with it: everything above 255 becomes white.
    assert np.asarray(png_16.convert("RGB"))[..., 0].mean() > 250


@pytest.mark.parametrize(
    ("mode", "values"),
    [
        ("I;16B", lambda v: v.astype(np.uint16) * 257),
        ("I", lambda v: v.astype(np.int32) * 257),  # 16-bit data in a 32-bit image (PIL's older PNG reading)
        ("I", lambda v: v.astype(np.int32)),  # 8-bit data in a 32-bit image
        ("F", lambda v: v.astype(np.float32)),  # [0, 255]
        ("F", lambda v: v.astype(np.float32) / 255),  # [0, 1]
        ("F", lambda v: v.astype(np.float32) * 4 - 512),  # any other range: stretched from min to max
    ],
)
def test_every_wide_grey_mode_matches_the_8_bit_picture(mode, values):
    eight = _grey_ramp()
    wide = Image.frombytes(mode, (16, 16), np.ascontiguousarray(values(eight), dtype=_dtype(mode)).tobytes())
    assert wide.mode == mode
    rgb = np.asarray(to_rgb(wide), dtype=int)
    assert np.abs(rgb - np.asarray(to_rgb(Image.fromarray(eight)), dtype=int)).max() <= 1


def _dtype(mode: str) -> str:
    return {"I;16B": ">u2", "I": "<i4", "F": "<f4"}[mode]


def test_other_modes_convert_as_pil_does_and_rgb_is_returned_as_is():
    rgb = Image.new("RGB", (2, 2), (10, 20, 30))
    assert to_rgb(rgb) is rgb
    palette = Image.new("P", (2, 2))
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.putpixel((0, 0), 1)
    palette.info["transparency"] = 0
    rgba = Image.new("RGBA", (2, 2), (1, 2, 3, 0))
    for image in (palette, rgba, Image.new("LA", (2, 2), (7, 9)), Image.new("1", (2, 2), 1)):
        assert np.array_equal(np.asarray(to_rgb(image)), np.asarray(image.convert("RGB")))
        assert to_rgb(image).mode == "RGB"
