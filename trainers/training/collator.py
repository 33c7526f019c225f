"""Batch collation: rows of the babelclip schemas -> the tensors the student, the teachers and the losses read.

Tokenization and image preprocessing happen here, per batch, so datasets stay lazy (raw PIL images and strings on
disk; nothing is preprocessed ahead of time).

Keys produced (only those the run needs):
- student / trained model: `input_ids`, `attention_mask` (+ `token_type_ids`), `pixel_values` or `frames` +
  `frame_mask`; `group_ids` (int64, equal for rows of the same image, or of the same source sentence in bitext);
- the source sentence, in the source teacher's own tokenizer when it has one (else the trained model's):
  `source_input_ids`, `source_attention_mask`;
- CL2CM teacher: `cl_source_input_ids`, `cl_source_attention_mask`, `cl_target_input_ids`, `cl_target_attention_mask`;
- CUSA teachers: `image_teacher_pixel_values`, `text_teacher_input_ids`, `text_teacher_attention_mask`;
- in place of a teacher's inputs, when the rows carry that teacher's cached outputs (`teacher_cache.py`): the
  `cached_*` tensors (`collate_cached_outputs`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch

from ..data.images import to_rgb
from ..data.schema import (
    BITEXT,
    CAPTION,
    FRAMES,
    IMAGE,
    IMAGE_ID,
    IMAGE_TEXT,
    SOURCE,
    SOURCE_CAPTION,
    TARGET,
    VIDEO_TEXT,
    row_schema,
)
from .teacher_cache import collate_cached_outputs, has_cached_outputs


def stable_group_id(key: str) -> int:
    """A 63-bit id that is the same in every process and every run (Python's `hash` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little") >> 1


def tokenize(tokenizer, texts: Sequence[str], max_length: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """Pads/truncates `texts` and returns `{prefix + "input_ids": ..., prefix + "attention_mask": ...}`."""
    encoded = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    keys = ("input_ids", "attention_mask", "token_type_ids") if not prefix else ("input_ids", "attention_mask")
    return {prefix + key: encoded[key] for key in keys if key in encoded}


class DistillationCollator:
    """Collates image-text, video-text or bitext rows for `DistillationTrainer`.

    Args:
        processor (`BabelClipProcessor` or a tokenizer):
            The trained model's processor (a tokenizer alone for the cross-lingual teacher).
        max_length (`int`, *optional*, defaults to 64): truncation length of every tokenizer call.
        with_source (`bool`, *optional*, defaults to `False`):
            Also tokenize each row's source sentence (for a source teacher); bitext rows always are.
        source_tokenizer (*optional*):
            The source teacher's own tokenizer, for the `source_*` keys; by default the trained model's. With it, a
            bitext row's source and target are tokenized by two different tokenizers (e.g. CLIP's English BPE and
            a multilingual encoder's), whose ids and lengths differ.
        cross_lingual_tokenizer (*optional*): the CL2CM teacher's tokenizer (adds the `cl_*` keys).
        image_teacher_processor (*optional*): CUSA's image teacher processor (adds `image_teacher_pixel_values`).
        text_teacher_tokenizer (*optional*): CUSA's text teacher tokenizer (adds `text_teacher_*`; it reads the
            English source caption, the language such sentence encoders know).

    Example:

    ```python
    >>> collator = DistillationCollator(processor)
    >>> batch = collator([dataset[0], dataset[1]])
    >>> sorted(batch)
    ['attention_mask', 'group_ids', 'input_ids', 'pixel_values', ...]
    ```
    """

    def __init__(
        self,
        processor,
        max_length: int = 64,
        with_source: bool = False,
        source_tokenizer=None,
        cross_lingual_tokenizer=None,
        image_teacher_processor=None,
        text_teacher_tokenizer=None,
    ) -> None:
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_length = max_length
        self.with_source = with_source
        self.source_tokenizer = self.tokenizer if source_tokenizer is None else source_tokenizer
        self.cross_lingual_tokenizer = cross_lingual_tokenizer
        self.image_teacher_processor = image_teacher_processor
        self.text_teacher_tokenizer = text_teacher_tokenizer

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("Cannot collate an empty batch.")
        kind = row_schema(rows[0])
        if any(row_schema(row) != kind for row in rows):
            raise ValueError("A batch mixes schemas (image-text, video-text, bitext): keep one schema per dataset.")
        sources, targets = self.sentences(kind, rows)
        group_keys = sources if kind == BITEXT else [str(row[IMAGE_ID]) for row in rows]

        batch = tokenize(self.tokenizer, targets, self.max_length)
        batch["group_ids"] = torch.tensor([stable_group_id(key) for key in group_keys], dtype=torch.long)
        if kind == IMAGE_TEXT:
            batch["pixel_values"] = self.processor(images=[to_rgb(row[IMAGE]) for row in rows])["pixel_values"]
        elif kind == VIDEO_TEXT:
            videos = self.processor(videos=[[to_rgb(frame) for frame in row[FRAMES]] for row in rows])
            batch["frames"], batch["frame_mask"] = videos["frames"], videos["frame_mask"]
        # Rows from the teacher cache carry a teacher's outputs: those pass through, that teacher's inputs are not made.
        batch.update(collate_cached_outputs(rows))
        for name in self._teachers_fed(kind):
            if not has_cached_outputs(name, rows[0]):
                batch.update(self.teacher_inputs(name, kind, rows))
        return batch

    @staticmethod
    def sentences(kind: str, rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """The `(sources, targets)` of rows of schema `kind`: bitext's two sides; else each row's English source
        caption and its caption."""
        if kind == BITEXT:
            return [row[SOURCE] for row in rows], [row[TARGET] for row in rows]
        # Source-language rows translate themselves; other rows without a source caption fall back to their text.
        return [row.get(SOURCE_CAPTION) or row[CAPTION] for row in rows], [row[CAPTION] for row in rows]

    def _teachers_fed(self, kind: str) -> list[str]:
        fed = {
            "source_teacher": self.with_source or kind == BITEXT,
            "cross_lingual_teacher": self.cross_lingual_tokenizer is not None,
            "image_teacher": self.image_teacher_processor is not None,
            "text_teacher": self.text_teacher_tokenizer is not None,
        }
        return [name for name, needed in fed.items() if needed]

    def teacher_inputs(self, name: str, kind: str, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """The inputs of teacher `name` (a `Teachers` attribute) for `rows`: the `source_*`, `cl_*`,
        `image_teacher_pixel_values` or `text_teacher_*` keys. The teacher cache builds from these too."""
        if name == "image_teacher":
            if kind != IMAGE_TEXT:
                raise ValueError("CUSA's image teacher needs image-text rows (`image` column); this batch has none.")
            images = [to_rgb(row[IMAGE]) for row in rows]
            pixel_values = self.image_teacher_processor(images, return_tensors="pt")["pixel_values"]
            return {"image_teacher_pixel_values": pixel_values}
        sources, targets = self.sentences(kind, rows)
        if name == "source_teacher":
            return tokenize(self.source_tokenizer, sources, self.max_length, prefix="source_")
        if name == "cross_lingual_teacher":
            return {
                **tokenize(self.cross_lingual_tokenizer, sources, self.max_length, prefix="cl_source_"),
                **tokenize(self.cross_lingual_tokenizer, targets, self.max_length, prefix="cl_target_"),
            }
        if name == "text_teacher":
            return tokenize(self.text_teacher_tokenizer, sources, self.max_length, prefix="text_teacher_")
        raise ValueError(f"Unknown teacher {name!r}: the collator feeds {self._teachers_fed(kind)}.")
