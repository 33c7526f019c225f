"""Local WebDataset shards for tests: rows in babelclip's schema written as `<key>.png` + `<key>.json` samples."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shards(folder: Path, split: str, rows: Iterable[dict], rows_per_shard: int = 8) -> list[Path]:
    """Writes `rows` (image, caption, language, image_id) to `folder/<split>-00000i.tar` shards; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, paths = list(rows), []
    for shard, start in enumerate(range(0, len(rows), rows_per_shard)):
        path = folder / f"{split}-{shard:06d}.tar"
        with tarfile.open(path, "w") as tar:
            for index, row in enumerate(rows[start : start + rows_per_shard], start=start):
                png = io.BytesIO()
                row["image"].convert("RGB").save(png, format="PNG")
                _add(tar, f"{index:06d}.png", png.getvalue())
                metadata = {key: row[key] for key in ("caption", "language", "image_id")}
                _add(tar, f"{index:06d}.json", json.dumps(metadata).encode("utf-8"))
        paths.append(path)
    return paths


def grouped_rows(num_images: int, captions_per_image: int, size: int = 8) -> list[dict]:
    """`captions_per_image` consecutive rows per image (the worst order for duplicates in a batch)."""
    return [
        {
            "image": Image.new("RGB", (size, size), (image * 20 % 256, caption * 30 % 256, 0)),
            "caption": f"picture {image} caption {caption}",
            "language": "en" if caption % 2 == 0 else "de",
            "image_id": f"img{image}",
        }
        for image in range(num_images)
        for caption in range(captions_per_image)
    ]
