"""Procedural scenes for the embedded dataset: groups of coloured shapes, sampled and drawn with PIL.

A scene is 1-3 *groups*; a group is `count` identical objects (same shape, colour and size) at one position of the
canvas ("two large red circles on the left"). A scene holds 1-4 objects in all, no two groups share a position or a
(shape, colour) pair, and no two objects overlap, so every word a caption says about a group can be checked on the
pixels (see `tests/trainers/data/test_embedded.py`).

Everything is a pure function of a `numpy.random.Generator`: same generator state, same scene, same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart")
# Colours are saturated, or black / white, and backgrounds are muted mid-tones, so that every object stands out.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 35, 35),
    "blue": (35, 70, 215),
    "green": (40, 165, 60),
    "yellow": (240, 210, 30),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "purple": (135, 45, 170),
}
SIZES: tuple[str, ...] = ("small", "large")
POSITIONS: tuple[str, ...] = ("left", "right", "top", "bottom", "centre")

# Object radius as a fraction of the image side (the shape fits in the circle of that radius).
_RADIUS = {"small": 0.065, "large": 0.12}
# Where a group sits (fraction of the side), and along which axis a group of several objects is laid out.
_ANCHOR = {"left": (0.22, 0.5), "right": (0.78, 0.5), "top": (0.5, 0.2), "bottom": (0.5, 0.8), "centre": (0.5, 0.5)}
_AXIS = {"left": (0.0, 1.0), "right": (0.0, 1.0), "top": (1.0, 0.0), "bottom": (1.0, 0.0), "centre": (1.0, 0.0)}
_SPACING = 2.4  # centre-to-centre distance of a group's objects, in radii
_JITTER = 0.04  # random shift of a group's anchor, fraction of the side
_COLOUR_JITTER = 12  # per-channel jitter of an object's colour, so equal captions never mean equal pixels
_NUM_GROUPS_P = (0.3, 0.45, 0.25)  # 1, 2 or 3 groups
_COUNT_P = (0.6, 0.3, 0.1)  # 1, 2 or 3 objects in a group
_MAX_OBJECTS = 4
_BACKGROUNDS = ("plain", "noise", "stripes")


@dataclass(frozen=True)
class ObjectGroup:
    """
    What a caption says about one group of identical objects.

    Args:
        shape (`str`): one of `SHAPES`.
        colour (`str`): one of `COLOURS`.
        size (`str`): `"small"` or `"large"`.
        count (`int`): how many objects, 1-3.
        position (`str`): one of `POSITIONS`.
    """

    shape: str
    colour: str
    size: str
    count: int
    position: str

    def __post_init__(self) -> None:
        for name, allowed in (("shape", SHAPES), ("colour", tuple(COLOURS)), ("size", SIZES), ("position", POSITIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"ObjectGroup.{name}={getattr(self, name)!r} is unknown; use one of {allowed}")
        if not 1 <= self.count <= 3:
            raise ValueError(f"ObjectGroup.count={self.count} must be 1, 2 or 3")

    @property
    def salience(self) -> float:
        """Area covered by the group's objects, in squared image sides: what catches the eye first."""
        return self.count * _RADIUS[self.size] ** 2


@dataclass(frozen=True)
class PlacedObject:
    """
    One drawn object: its group's shape, its exact RGB colour, and its centre and radius in pixels.
    """

    shape: str
    rgb: tuple[int, int, int]
    center: tuple[float, float]
    radius: float


@dataclass(frozen=True)
class Scene:
    """
    A sampled scene: the groups a caption can mention, the objects to draw, and the background.

    Args:
        groups (`tuple[ObjectGroup, ...]`): 1-3 groups, 1-4 objects in all.
        objects (`tuple[PlacedObject, ...]`): one entry per object, in group order.
        image_size (`int`): side of the square image in pixels.
        background (`np.ndarray`): `(image_size, image_size, 3)` uint8 background pixels.
    """

    groups: tuple[ObjectGroup, ...]
    objects: tuple[PlacedObject, ...]
    image_size: int
    background: np.ndarray

    def salient_group(self) -> ObjectGroup:
        """The group covering the largest area (the first such group on ties)."""
        return max(self.groups, key=lambda group: group.salience)


def sample_groups(rng: np.random.Generator) -> tuple[ObjectGroup, ...]:
    """
    Draw the content of a scene: 1-3 groups with distinct positions and distinct (shape, colour) pairs, 1-4 objects.

    Args:
        rng (`numpy.random.Generator`): the source of randomness.
    """
    num_groups = int(rng.choice(len(_NUM_GROUPS_P), p=_NUM_GROUPS_P)) + 1
    while True:
        counts = [int(rng.choice(len(_COUNT_P), p=_COUNT_P)) + 1 for _ in range(num_groups)]
        if sum(counts) <= _MAX_OBJECTS:
            break
    positions = rng.choice(len(POSITIONS), size=num_groups, replace=False)
    colour_names = tuple(COLOURS)
    pairs = rng.choice(len(SHAPES) * len(colour_names), size=num_groups, replace=False)
    return tuple(
        ObjectGroup(
            shape=SHAPES[int(pair) // len(colour_names)],
            colour=colour_names[int(pair) % len(colour_names)],
            size=SIZES[int(rng.integers(len(SIZES)))],
            count=count,
            position=POSITIONS[int(position)],
        )
        for count, position, pair in zip(counts, positions, pairs, strict=True)
    )


def _layout(
    groups: Sequence[ObjectGroup], image_size: int, rng: np.random.Generator
) -> tuple[PlacedObject, ...] | None:
    """Place every object of every group; `None` when two objects overlap or one leaves the canvas."""
    objects = []
    for group in groups:
        radius = _RADIUS[group.size] * image_size
        anchor_x, anchor_y = (
            (coordinate + rng.uniform(-_JITTER, _JITTER)) * image_size for coordinate in _ANCHOR[group.position]
        )
        axis_x, axis_y = _AXIS[group.position]
        rgb = tuple(
            int(np.clip(channel + rng.integers(-_COLOUR_JITTER, _COLOUR_JITTER + 1), 0, 255))
            for channel in COLOURS[group.colour]
        )
        for index in range(group.count):
            offset = (index - (group.count - 1) / 2) * _SPACING * radius
            center = (anchor_x + offset * axis_x, anchor_y + offset * axis_y)
            objects.append(PlacedObject(shape=group.shape, rgb=rgb, center=center, radius=radius))
    for i, first in enumerate(objects):
        if min(first.center) - first.radius < 1 or max(first.center) + first.radius > image_size - 1:
            return None
        for second in objects[i + 1 :]:
            gap = math.dist(first.center, second.center) - first.radius - second.radius
            if gap < 0.1 * image_size * _RADIUS["small"]:
                return None
    return tuple(objects)


def _background(image_size: int, rng: np.random.Generator) -> np.ndarray:
    """A muted mid-tone canvas, plain or lightly textured (noise or faint stripes)."""
    base = rng.integers(115, 166) + rng.integers(-12, 13, size=3)
    pixels = np.broadcast_to(base.astype(np.float32), (image_size, image_size, 3)).copy()
    kind = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))]
    if kind == "noise":
        pixels += rng.normal(0.0, 5.0, size=(image_size, image_size, 1))
    elif kind == "stripes":
        period = rng.uniform(6, 16)
        coordinate = np.arange(image_size, dtype=np.float32)
        stripes = 6.0 * np.sin(2 * math.pi * coordinate / period + rng.uniform(0, 2 * math.pi))
        pixels += stripes[:, None, None] if rng.integers(2) else stripes[None, :, None]
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def sample_scene(rng: np.random.Generator, image_size: int = 64) -> Scene:
    """
    Draw a scene whose objects do not overlap, resampling the layout (and if need be the content) until they fit.

    Args:
        rng (`numpy.random.Generator`): the source of randomness.
        image_size (`int`, *optional*, defaults to 64): side of the square image in pixels, at least 32.
    """
    if image_size < 32:
        raise ValueError(f"image_size={image_size} is too small to draw recognisable shapes; use at least 32")
    while True:
        groups = sample_groups(rng)
        for _ in range(5):
            objects = _layout(groups, image_size, rng)
            if objects is not None:
                return Scene(groups, objects, image_size, _background(image_size, rng))


def _outline(shape: str, x: float, y: float, r: float) -> list[tuple[float, float]]:
    """Polygon vertices of a shape centred on (x, y) that fits in the circle of radius r (image y points down)."""
    if shape == "square":
        half = 0.8 * r
        return [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    if shape == "triangle":
        return [(x, y - r), (x - 0.866 * r, y + 0.5 * r), (x + 0.866 * r, y + 0.5 * r)]
    if shape == "star":
        angles = [-math.pi / 2 + k * math.pi / 5 for k in range(10)]
        return [(x + rk * math.cos(a), y + rk * math.sin(a)) for a, rk in zip(angles, [r, 0.45 * r] * 5, strict=True)]
    if shape == "cross":
        w = 0.32 * r
        return [
            (x - w, y - r), (x + w, y - r), (x + w, y - w), (x + r, y - w), (x + r, y + w), (x + w, y + w),
            (x + w, y + r), (x - w, y + r), (x - w, y + w), (x - r, y + w), (x - r, y - w), (x - w, y - w),
        ]  # fmt: skip
    if shape == "heart":
        # The classic parametric heart, which spans [-16, 16] x [-17, 12]; scaled into the circle of radius r.
        steps = [2 * math.pi * k / 32 for k in range(32)]
        return [
            (
                x + r / 17.5 * 16 * math.sin(t) ** 3,
                y - r / 17.5 * (13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t) + 2.5),
            )
            for t in steps
        ]
    raise ValueError(f"no outline for shape {shape!r}; use one of {SHAPES}")


def draw_scene(scene: Scene) -> Image.Image:
    """
    Render a scene to an RGB PIL image (deterministic: the scene holds every random choice).

    Args:
        scene (`Scene`): the output of `sample_scene`.
    """
    image = Image.fromarray(scene.background)
    draw = ImageDraw.Draw(image)
    for item in scene.objects:
        x, y = item.center
        if item.shape == "circle":
            draw.ellipse((x - item.radius, y - item.radius, x + item.radius, y + item.radius), fill=item.rgb)
        else:
            draw.polygon(_outline(item.shape, x, y, item.radius), fill=item.rgb)
    return image
