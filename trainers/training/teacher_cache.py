"""The teacher cache: each frozen teacher's per-row outputs, computed once per dataset into Arrow files.

The teachers are frozen and babelclip's collator applies no random augmentation, so what a teacher returns for a row
is a fixed function of that row. `add_cached_teacher_outputs` computes it once with `datasets.Dataset.map` (one map,
and one Arrow file, per teacher) and returns the training rows with these columns beside them, all float32:

- source teacher: `cached_source_text_embeds` (its L2-normalised sentence embedding, `(P,)`); with
  `optimal_transport` also `cached_source_token_embeds` (the row's real tokens only, `n x d` flattened: `4 * n * d`
  bytes a row) and `cached_source_length` (`n`);
- CL2CM teacher: `cached_cl_source_embeds` and `cached_cl_target_embeds` (its sentence embeddings);
- CUSA: `cached_image_teacher_features` and `cached_text_teacher_features`.

The collator stacks them (`collate_cached_outputs`: token states padded with a mask) in place of tokenizing or
processing for that teacher, and the trainer builds the per-batch similarity matrices from them as from the online
outputs: `online_teacher_outputs` is the one function both paths run, so the cached path equals the online one up to
the float rounding of padding a row to another length (about 1e-7). Values computed under mixed precision are stored
as float32 and cast back to the dtype they had (`TeacherCacheRecord.dtypes`).

A cache file is named after the dataset's `_fingerprint` and a fingerprint of the teacher (weights, tokenizer or
image processor, `max_text_length`, `ot_token_states`, precision, device type, library versions), so a second trainer
on the same rows and teacher (another epoch, a resumed run, another seed or benchmark arm) loads it instead.
`forward_passes()` counts the teacher batches this process actually computed while building.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from torch import nn

from ..common.files import write_json_atomically
from ..common.fingerprints import model_fingerprint, settings_fingerprint
from ..data.schema import CAPTION, IMAGE, IMAGE_ID, SOURCE, SOURCE_CAPTION, TARGET, detect_schema
from .teachers import Teachers, image_teacher_features, text_teacher_features

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1  # bump when what a cached column holds changes
BUILD_BATCH_SIZE = 64
MIB = 1 << 20

SOURCE_TEXT_EMBEDS = "cached_source_text_embeds"
SOURCE_TOKEN_EMBEDS = "cached_source_token_embeds"
SOURCE_LENGTH = "cached_source_length"
SOURCE_ATTENTION_MASK = "cached_source_attention_mask"  # a batch key only: built from the lengths
CL_SOURCE_EMBEDS = "cached_cl_source_embeds"
CL_TARGET_EMBEDS = "cached_cl_target_embeds"
IMAGE_TEACHER_FEATURES = "cached_image_teacher_features"
TEXT_TEACHER_FEATURES = "cached_text_teacher_features"

# The columns that mark a row as carrying a teacher's cached outputs, by `Teachers` attribute.
CACHED_COLUMNS: dict[str, tuple[str, ...]] = {
    "source_teacher": (SOURCE_TEXT_EMBEDS,),
    "cross_lingual_teacher": (CL_SOURCE_EMBEDS, CL_TARGET_EMBEDS),
    "image_teacher": (IMAGE_TEACHER_FEATURES,),
    "text_teacher": (TEXT_TEACHER_FEATURES,),
}
# The rows' columns each teacher reads (the map reads no other: images are not decoded for a text teacher).
_TEXT_COLUMNS = (SOURCE, TARGET, CAPTION, SOURCE_CAPTION, IMAGE_ID)
_INPUT_COLUMNS = {
    "source_teacher": _TEXT_COLUMNS,
    "cross_lingual_teacher": _TEXT_COLUMNS,
    "image_teacher": (IMAGE,),
    "text_teacher": _TEXT_COLUMNS,
}

_forward_passes = 0


def forward_passes() -> int:
    """How many teacher batches this process has computed while building caches (a loaded cache adds none)."""
    return _forward_passes


def default_cache_dir() -> str:
    """`teacher_cache` inside the Hugging Face datasets cache: shared by every output_dir, seed and benchmark arm."""
    import datasets

    return os.path.join(str(datasets.config.HF_DATASETS_CACHE), "teacher_cache")


def token_states(projected: torch.Tensor, backbone_output, which: str) -> torch.Tensor:
    """The token states token-level OT compares: the projected ones (the shared space) or the text backbone's last
    hidden states (`which="hidden"`; teacher and student need the same hidden size, e.g. the frozen copy)."""
    return projected if which == "projected" else backbone_output.last_hidden_state


def online_teacher_outputs(
    name: str, teacher: nn.Module, inputs: dict[str, torch.Tensor], ot_token_states: str = "projected"
) -> dict[str, torch.Tensor]:
    """The outputs of teacher `name` (a `Teachers` attribute) on a collated batch, keyed like the cached columns.

    The trainer's online path and the cache build both call this, on the collator's inputs for that teacher: the
    source teacher's normalised sentence embeddings, token states and attention mask; the CL2CM teacher's source and
    target sentence embeddings; CUSA's image and text teacher features.
    """
    if name == "source_teacher":
        source = teacher.encode_text(
            input_ids=inputs["source_input_ids"], attention_mask=inputs["source_attention_mask"]
        )
        return {
            SOURCE_TEXT_EMBEDS: F.normalize(source.text_embeds, dim=-1),
            SOURCE_TOKEN_EMBEDS: token_states(source.text_token_embeds, source, ot_token_states),
            SOURCE_ATTENTION_MASK: inputs["source_attention_mask"],
        }
    if name == "cross_lingual_teacher":
        outputs = teacher(
            source_input_ids=inputs["cl_source_input_ids"],
            source_attention_mask=inputs["cl_source_attention_mask"],
            target_input_ids=inputs["cl_target_input_ids"],
            target_attention_mask=inputs["cl_target_attention_mask"],
        )
        return {CL_SOURCE_EMBEDS: outputs.source_embeds, CL_TARGET_EMBEDS: outputs.target_embeds}
    if name == "image_teacher":
        return {IMAGE_TEACHER_FEATURES: image_teacher_features(teacher, inputs["image_teacher_pixel_values"])}
    if name == "text_teacher":
        features = text_teacher_features(
            teacher, inputs["text_teacher_input_ids"], inputs["text_teacher_attention_mask"]
        )
        return {TEXT_TEACHER_FEATURES: features}
    raise ValueError(f"Unknown teacher {name!r}; teachers are {sorted(CACHED_COLUMNS)}.")


def has_cached_outputs(name: str, row: dict[str, Any]) -> bool:
    """Whether `row` carries teacher `name`'s cached outputs."""
    return all(column in row for column in CACHED_COLUMNS[name])


def cached_teacher_outputs(
    name: str, batch: dict[str, torch.Tensor], dtypes: dict[str, str] | None = None
) -> dict[str, torch.Tensor] | None:
    """Teacher `name`'s cached outputs in a collated batch, keyed as `online_teacher_outputs` keys them and cast to
    the dtypes the teacher returned them in (`TeacherCacheRecord.dtypes`); `None` when the batch has none."""
    if not has_cached_outputs(name, batch):
        return None
    keys = CACHED_COLUMNS[name] + ((SOURCE_TOKEN_EMBEDS, SOURCE_ATTENTION_MASK) if name == "source_teacher" else ())
    dtypes = dtypes or {}
    return {
        key: batch[key].to(getattr(torch, dtypes.get(key, str(batch[key].dtype).removeprefix("torch."))))
        for key in keys
        if key in batch
    }


def collate_cached_outputs(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """The cached teacher columns of `rows` as batch tensors: vectors stacked to `(B, P)`; the source teacher's token
    states padded to `(B, n_max, d)` with zeros, and `cached_source_attention_mask` (1 on real tokens)."""
    batch = {}
    fixed = [column for names in CACHED_COLUMNS.values() for column in names if column in rows[0]]
    for column in fixed:
        batch[column] = torch.stack([torch.from_numpy(np.array(row[column], dtype=np.float32)) for row in rows])
    if SOURCE_TOKEN_EMBEDS in rows[0]:
        lengths = [int(row[SOURCE_LENGTH]) for row in rows]
        flat = [torch.from_numpy(np.array(row[SOURCE_TOKEN_EMBEDS], dtype=np.float32)) for row in rows]
        width = flat[0].numel() // lengths[0]
        tokens = torch.zeros(len(rows), max(lengths), width)
        mask = torch.zeros(len(rows), max(lengths), dtype=torch.long)
        for index, (states, length) in enumerate(zip(flat, lengths, strict=True)):
            tokens[index, :length] = states.view(length, width)
            mask[index, :length] = 1
        batch[SOURCE_TOKEN_EMBEDS], batch[SOURCE_ATTENTION_MASK] = tokens, mask
    return batch


# ---- when the cache is exact ---------------------------------------------------------------------------------------


def cache_refusal(
    dataset, teachers: Teachers, *, teacher_stage: bool = False, custom_collator: bool = False
) -> str | None:
    """Why the teacher cache would not be exact (or cannot be built) for `dataset` and `teachers`; `None` when it is.

    Refused: the cross-lingual teacher's own training (its "source teacher" is the model being trained), a training
    set that is not a map-style `datasets.Dataset` (an `IterableDataset`: rows have no fixed index to store against),
    a dataset with a transform (`with_transform` / `set_transform`, which may be random augmentation), a teacher with
    a parameter that requires grad or in training mode (dropout), an image teacher processor that is not a
    `transformers` image processor (those are deterministic; another callable may augment), and a custom
    `data_collator` (it would not read the cached columns).
    """
    from datasets import Dataset
    from transformers.image_processing_base import ImageProcessingMixin

    if teacher_stage:
        return (
            "this is the cross-lingual teacher's own training: its source side is the model being trained, not a "
            "frozen teacher"
        )
    if dataset is None:
        return "there is no train_dataset"
    if not isinstance(dataset, Dataset):
        return (
            f"the train_dataset is a {type(dataset).__name__}, not a map-style `datasets.Dataset` (streamed rows "
            "have no fixed index to store teacher outputs against)"
        )
    if dataset.format.get("type") == "custom":
        return (
            "the train_dataset has a transform (`with_transform` / `set_transform`), which may change rows at random "
            "(augmentation): cached teacher outputs would not match; apply a deterministic transform with "
            "`dataset.map` instead"
        )
    if custom_collator:
        return "a custom `data_collator` was passed, which would not read the cached columns"
    for name, module in teachers.modules().items():
        trainable = [parameter for parameter, value in module.named_parameters() if value.requires_grad]
        if trainable:
            return f"the {name} has parameters that require grad ({trainable[0]}, ...): it trains, so it changes"
        if module.training:
            return f"the {name} is in training mode (dropout makes its outputs random): call `.eval()` on it"
    processor = teachers.image_teacher_processor
    if teachers.image_teacher is not None and not isinstance(processor, ImageProcessingMixin):
        return (
            f"the image teacher's processor is a {type(processor).__name__}, not a transformers image processor: it "
            "may augment at random"
        )
    return None


# ---- building -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherCacheSettings:
    """How the cached teachers run and where their files go.

    Args:
        with_tokens (`bool`, *optional*, defaults to `False`): also cache the source teacher's token states (OT).
        ot_token_states (`str`, *optional*, defaults to `"projected"`): which token states (see `token_states`).
        cache_dir (`str`, *optional*): where the Arrow files go; defaults to [`default_cache_dir`].
        autocast (*optional*): the context the online teachers run in (the trainer's `accelerator.autocast`).
        precision (`str`, *optional*, defaults to `"no"`): that context's mixed precision, part of the fingerprint.
    """

    with_tokens: bool = False
    ot_token_states: str = "projected"
    cache_dir: str | None = None
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    precision: str = "no"


@dataclass(frozen=True)
class TeacherCacheRecord:
    """One teacher's cache for one dataset.

    Args:
        teacher (`str`): the `Teachers` attribute (`"source_teacher"`, `"cross_lingual_teacher"`, ...).
        built (`bool`): computed now (`True`) or loaded from an existing cache file (`False`).
        cache_file (`str`): the Arrow file.
        rows (`int`): rows cached.
        columns (`tuple[str, ...]`): the cached columns.
        dtypes (`dict[str, str]`): each output's dtype as the teacher returned it (stored as float32).
        disk_mib (`float`): size of the cache file.
        bytes_per_row (`float`), memory_mib (`float`): the columns' Arrow size a row and in all (memory-mapped from
            the file, so resident only as the pages read).
        build_seconds (`float`, *optional*): time to compute it (`None` when loaded).
    """

    teacher: str
    built: bool
    cache_file: str
    rows: int
    columns: tuple[str, ...]
    dtypes: dict[str, str]
    disk_mib: float
    bytes_per_row: float
    memory_mib: float
    build_seconds: float | None = None

    def summary(self) -> str:
        action = f"built in {self.build_seconds:.1f} s" if self.built else "loaded"
        return (
            f"teacher cache {self.teacher}: {action}, {self.rows} rows, {self.disk_mib:.2f} MiB on disk, "
            f"{self.bytes_per_row:.0f} bytes/row ({self.memory_mib:.2f} MiB memory-mapped), {self.cache_file}"
        )


def _tokenizer_settings(tokenizer) -> dict[str, Any]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        vocabulary = json.loads(backend.to_str())
        # The padding and truncation last used are state each call resets (the collator passes its own), not settings.
        vocabulary.pop("padding", None)
        vocabulary.pop("truncation", None)
    else:
        vocabulary = sorted(tokenizer.get_vocab().items())
    return {
        "class": type(tokenizer).__name__,
        "backend": vocabulary,
        "special_tokens": getattr(tokenizer, "special_tokens_map", None),
        "padding_side": getattr(tokenizer, "padding_side", None),
        "truncation_side": getattr(tokenizer, "truncation_side", None),
    }


def _processor_settings(processor) -> dict[str, Any]:
    return {"class": type(processor).__name__, "settings": processor.to_dict()}


def teacher_fingerprint(name: str, teacher: nn.Module, collator, *, ot_token_states: str, precision: str) -> str:
    """A digest of everything that changes teacher `name`'s cached outputs: its weights and config, the tokenizer or
    image processor the collator feeds it with and the text length, `ot_token_states`, the precision and device type
    it runs in, and the torch / transformers versions."""
    if name == "image_teacher":
        preprocessing = _processor_settings(collator.image_teacher_processor)
    else:
        tokenizer = {
            "source_teacher": collator.source_tokenizer,
            "cross_lingual_teacher": collator.cross_lingual_tokenizer,
            "text_teacher": collator.text_teacher_tokenizer,
        }[name]
        preprocessing = {"tokenizer": _tokenizer_settings(tokenizer), "max_length": collator.max_length}
    parameter = next(iter(teacher.parameters()), None)
    return settings_fingerprint(
        {
            "teacher": name,
            "model": model_fingerprint(teacher),
            "preprocessing": preprocessing,
            "ot_token_states": ot_token_states if name == "source_teacher" else None,
            "precision": precision,
            "device": parameter.device.type if parameter is not None else "cpu",
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
            "format": CACHE_FORMAT_VERSION,
        }
    )


def _to_device(inputs: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in inputs.items()}


def _map_function(name, teacher, collator, kind, settings: TeacherCacheSettings, dtypes: dict[str, str]):
    device = next(iter(teacher.parameters())).device
    with_tokens = settings.with_tokens and name == "source_teacher"
    columns = _INPUT_COLUMNS[name]

    def compute(batch) -> dict[str, list[np.ndarray]]:
        global _forward_passes
        available = [column for column in columns if column in batch]
        rows = [
            dict(zip(available, values, strict=True)) for values in zip(*(batch[c] for c in available), strict=True)
        ]
        with torch.no_grad(), settings.autocast():
            inputs = _to_device(collator.teacher_inputs(name, kind, rows), device)
            outputs = online_teacher_outputs(name, teacher, inputs, settings.ot_token_states)
        _forward_passes += 1
        dtypes.update({key: str(value.dtype).removeprefix("torch.") for key, value in outputs.items()})
        stored = {key: list(outputs[key].detach().float().cpu().numpy()) for key in CACHED_COLUMNS[name]}
        if with_tokens:
            states = outputs[SOURCE_TOKEN_EMBEDS].detach().float().cpu()
            real = outputs[SOURCE_ATTENTION_MASK].cpu().bool()
            stored[SOURCE_TOKEN_EMBEDS] = [states[i][real[i]].reshape(-1).numpy() for i in range(len(rows))]
            stored[SOURCE_LENGTH] = [int(count) for count in real.sum(dim=1)]
        return stored

    return compute


def _features(name: str, with_tokens: bool):
    from datasets import Features, List, Value

    features = {column: List(Value("float32")) for column in CACHED_COLUMNS[name]}
    if name == "source_teacher" and with_tokens:
        features.update({SOURCE_TOKEN_EMBEDS: List(Value("float32")), SOURCE_LENGTH: Value("int32")})
    return Features(features)


def build_teacher_cache(dataset, name: str, teacher: nn.Module, collator, settings: TeacherCacheSettings):
    """Teacher `name`'s outputs for every row of `dataset` (a `datasets.Dataset` of the cached columns only, one row
    per row of `dataset`, in its order) and its `TeacherCacheRecord`; loaded when the cache file exists."""
    cache_dir = settings.cache_dir or default_cache_dir()
    os.makedirs(cache_dir, exist_ok=True)
    with_tokens = settings.with_tokens and name == "source_teacher"
    digest = teacher_fingerprint(
        name, teacher, collator, ot_token_states=settings.ot_token_states, precision=settings.precision
    )
    tokens = "-tokens" if with_tokens else ""
    cache_file = os.path.join(cache_dir, f"{dataset._fingerprint}-{name}{tokens}-{digest}.arrow")
    sidecar = cache_file.removesuffix(".arrow") + ".json"
    exists = os.path.isfile(cache_file) and os.path.isfile(sidecar)
    dtypes: dict[str, str] = {}
    before, started = _forward_passes, time.perf_counter()
    cached = dataset.map(
        _map_function(name, teacher, collator, detect_schema(dataset), settings, dtypes),
        batched=True,
        batch_size=BUILD_BATCH_SIZE,
        remove_columns=dataset.column_names,
        features=_features(name, with_tokens),
        cache_file_name=cache_file,
        load_from_cache_file=exists,
        new_fingerprint=settings_fingerprint([dataset._fingerprint, name, with_tokens, digest]),
        desc=f"teacher cache: {name}",
    )
    built = _forward_passes > before
    if not exists:
        write_json_atomically({"dtypes": dtypes, "build_seconds": time.perf_counter() - started}, sidecar)
    with open(sidecar, encoding="utf-8") as handle:
        saved = json.load(handle)
    memory = cached.data.nbytes
    record = TeacherCacheRecord(
        teacher=name,
        built=built,
        cache_file=cache_file,
        rows=len(cached),
        columns=tuple(cached.column_names),
        dtypes=saved["dtypes"],
        disk_mib=os.path.getsize(cache_file) / MIB,
        bytes_per_row=memory / max(len(cached), 1),
        memory_mib=memory / MIB,
        build_seconds=saved["build_seconds"] if built else None,
    )
    logger.info(record.summary())
    return cached, record


def add_cached_teacher_outputs(
    dataset,
    teachers: Teachers,
    collator,
    settings: TeacherCacheSettings | None = None,
    unwrap: Callable[[nn.Module], nn.Module] = lambda module: module,
):
    """`dataset` with every teacher's cached output columns beside its own (built or loaded, see
    [`build_teacher_cache`]), formatted so that those columns read as numpy arrays, and the `TeacherCacheRecord`s.

    Args:
        dataset (`datasets.Dataset`): the training rows (see [`cache_refusal`] for what is refused).
        teachers (`Teachers`): the frozen teachers; each one present is cached.
        collator (`DistillationCollator`): the run's collator, whose `teacher_inputs` feed each teacher.
        settings (`TeacherCacheSettings`, *optional*): what changes the outputs and where the files go.
        unwrap (*optional*): maps a prepared teacher to the module to fingerprint and call (`unwrap_model`).
    """
    from datasets import concatenate_datasets

    parts, records = [], []
    for name, module in teachers.modules().items():
        part, record = build_teacher_cache(dataset, name, unwrap(module), collator, settings or TeacherCacheSettings())
        parts.append(part)
        records.append(record)
    if not parts:
        return dataset, records
    if dataset._indices is not None:
        # Columns are joined row by row: a selected or shuffled view is written out in its order first.
        dataset = dataset.flatten_indices()
    columns = [column for part in parts for column in part.column_names]
    joined = concatenate_datasets([dataset, *parts], axis=1)
    return joined.with_format("numpy", columns=columns, output_all_columns=True), records
