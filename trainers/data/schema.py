"""The three dataset schemas of babelclip and their validation.

- image-text pairs: `image` (Image), `caption`, `language` (ISO 639 code), `image_id` (same id = same image), and the
  optional `source_caption` (the English caption this one translates; for English rows, itself; `None` where a
  caption is not a translation);
- video-text pairs: the same with `frames` (a sequence of Images) in place of `image`;
- bitext: `source`, `target`, `language` (the target's).

`validate_dataset` works on whole Arrow columns (null / blank strings with `pyarrow.compute`, language codes checked
once per distinct value), so it costs well under a second on 100k rows and never decodes an image. It also writes
each language code in its canonical form (`deu`, `ger` -> `de`; see `languages.py`), so one language is one metric
row whatever spelling a dataset used. Readability of
the image files themselves is checked separately, by `drop_unreadable_images` (see `images.py`).
"""

from __future__ import annotations

import unicodedata
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, Features, Image, IterableDataset, Sequence, Value
from datasets.fingerprint import Hasher

from .languages import canonical_language_code, language_key, language_problem

SchemaName = Literal["image_text", "video_text", "bitext"]
IMAGE_TEXT: SchemaName = "image_text"
VIDEO_TEXT: SchemaName = "video_text"
BITEXT: SchemaName = "bitext"

# The column names, written once: every loader, the collator, evaluation and search read them from here.
IMAGE, FRAMES, CAPTION, LANGUAGE, IMAGE_ID, SOURCE_CAPTION = (
    "image",
    "frames",
    "caption",
    "language",
    "image_id",
    "source_caption",
)
SOURCE, TARGET = "source", "target"

IMAGE_TEXT_FEATURES = Features(
    {
        IMAGE: Image(),
        CAPTION: Value("string"),
        LANGUAGE: Value("string"),
        IMAGE_ID: Value("string"),
        SOURCE_CAPTION: Value("string"),
    }
)
VIDEO_TEXT_FEATURES = Features(
    {
        FRAMES: Sequence(Image()),
        CAPTION: Value("string"),
        LANGUAGE: Value("string"),
        IMAGE_ID: Value("string"),
        SOURCE_CAPTION: Value("string"),
    }
)
BITEXT_FEATURES = Features({SOURCE: Value("string"), TARGET: Value("string"), LANGUAGE: Value("string")})
# The generated dataset's name: its splits carry it (`Dataset.info.dataset_name`), loaders, recipes and cards read it.
EMBEDDED_DATASET = "embedded"

SCHEMAS: dict[str, Features] = {
    IMAGE_TEXT: IMAGE_TEXT_FEATURES,
    VIDEO_TEXT: VIDEO_TEXT_FEATURES,
    BITEXT: BITEXT_FEATURES,
}
OPTIONAL_COLUMNS: frozenset[str] = frozenset({SOURCE_CAPTION})
# Text columns that may hold neither null nor blank values (`source_caption` may be null, see module docstring).
_NON_EMPTY_TEXT = {
    IMAGE_TEXT: (CAPTION, LANGUAGE, IMAGE_ID),
    VIDEO_TEXT: (CAPTION, LANGUAGE, IMAGE_ID),
    BITEXT: (SOURCE, TARGET, LANGUAGE),
}
MEDIA_COLUMNS: dict[str, str] = {IMAGE_TEXT: IMAGE, VIDEO_TEXT: FRAMES}
_MAX_ROWS_SHOWN = 5
# What a text may not consist of alone: it would show as nothing. Unicode separators (Z*: spaces, line and paragraph
# separators), control characters (Cc) and format characters (Cf: zero-width spaces and joiners, bidi marks, the
# byte-order mark, soft hyphens), and the blank letters that render as empty space (Hangul fillers, blank Braille).
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
_BLANK_LETTERS = "\u115f\u1160\u2800\u3164\uffa0"
# The same set as an RE2 class, for whole Arrow columns (`pyarrow.compute`).
_INVISIBLE_PATTERN = r"[\p{Z}\p{Cc}\p{Cf}" + "".join(f"\\x{{{ord(c):04x}}}" for c in _BLANK_LETTERS) + "]"


def is_blank_text(text: str | None) -> bool:
    """
    Whether `text` shows as nothing: `None`, empty, or only whitespace, zero-width, format or control characters
    (`"\\u200b\\u200b"`, `" \\u00a0\\ufeff"`).

    Args:
        text (`str`, *optional*): a caption, sentence or query.
    """
    return not text or all(
        unicodedata.category(character) in _INVISIBLE_CATEGORIES or character in _BLANK_LETTERS for character in text
    )


def required_columns(schema: SchemaName) -> list[str]:
    """
    Columns a dataset of `schema` must have (the optional `source_caption` excluded).

    Args:
        schema (`str`): one of `"image_text"`, `"video_text"`, `"bitext"`.
    """
    return [name for name in _features(schema) if name not in OPTIONAL_COLUMNS]


def detect_schema(dataset: Dataset | IterableDataset) -> SchemaName:
    """
    Tell which schema a dataset follows from its column names.

    Args:
        dataset (`datasets.Dataset` or `datasets.IterableDataset`):
            One split. For a `DatasetDict`, call it per split: splits may differ (e.g. a `"bitext"` split).

    Returns:
        `str`: `"video_text"` if there is a `frames` column, `"image_text"` if there is an `image` column, `"bitext"` if
        there is a `source` or `target` column.

    Raises:
        `ValueError`: when no schema fits, naming the columns found and what each schema needs.
    """
    if isinstance(dataset, DatasetDict):
        raise ValueError(
            "detect_schema takes one split, got a DatasetDict; call it per split: "
            "{name: detect_schema(split) for name, split in dataset_dict.items()}"
        )
    columns = set(dataset.column_names or [])
    schema = _schema_of_columns(columns)
    if schema is None:
        raise ValueError(
            f"cannot tell the schema of a dataset with columns {sorted(columns)}: image-text data needs an 'image' "
            f"column, video-text data a 'frames' column, bitext 'source' and 'target' columns. Rename yours with "
            f"dataset.rename_column('img', 'image') (or 'text' -> 'caption', etc.)"
        )
    return schema


def _schema_of_columns(columns: set[str]) -> SchemaName | None:
    if FRAMES in columns:
        return VIDEO_TEXT
    if IMAGE in columns:
        return IMAGE_TEXT
    if {SOURCE, TARGET} & columns:
        return BITEXT
    return None


def row_schema(row: dict) -> SchemaName:
    """
    Which schema one row (a dict of column values, as a DataLoader hands it to a collator) follows.

    Raises:
        `ValueError`: naming the columns each schema needs, when none fits.
    """
    schema = _schema_of_columns(set(row))
    if schema is None or (schema == BITEXT and not {SOURCE, TARGET} <= set(row)):
        raise ValueError(
            f"Cannot collate a row with columns {sorted(row)}: image-text rows need `image` + `caption`, video-text "
            "rows `frames` + `caption`, bitext rows `source` + `target` (see babelclip.trainers.data.schema)."
        )
    return schema


def validate_dataset(
    dataset: Dataset | DatasetDict | IterableDataset, schema: SchemaName | None = None
) -> Dataset | DatasetDict | IterableDataset:
    """
    Check that a dataset follows a babelclip schema, and return it with canonical language codes.

    Checks, in order: missing columns, column types, null or blank text (captions, ids, languages, bitext sides),
    missing images / empty frame lists, unknown language codes. Column and type checks only for an
    `IterableDataset` (its rows cannot be read without iterating it; its codes are not rewritten either).

    Args:
        dataset (`datasets.Dataset`, `datasets.DatasetDict` or `datasets.IterableDataset`):
            The data. A `DatasetDict` is checked split by split, each with its own detected schema unless `schema`
            is given.
        schema (`str`, *optional*, defaults to `None`):
            `"image_text"`, `"video_text"` or `"bitext"`; detected from the columns when `None`.

    Returns:
        The same object when every language code is already canonical, so that `dataset =
        validate_dataset(load_xxx(...))` reads naturally; otherwise a copy (of the split, or a new `DatasetDict`) whose
        `language` column holds the canonical codes (`"ger"` -> `"de"`, see
        [`~babelclip.trainers.data.languages.canonical_language_code`]), rows and every other column untouched.

    Raises:
        `ValueError`: naming the split, column and row(s) at fault and the fix.

    Example:
    ```python
    >>> from datasets import Dataset
    >>> validate_dataset(Dataset.from_dict({"source": ["a dog"], "target": ["ein Hund"], "language": ["de"]}))
    Dataset({
        features: ['source', 'target', 'language'],
        num_rows: 1
    })
    ```
    """
    if isinstance(dataset, DatasetDict):
        checked = {name: _validate_split(split, schema, where=f"split {name!r}: ") for name, split in dataset.items()}
        unchanged = all(checked[name] is split for name, split in dataset.items())
        return dataset if unchanged else DatasetDict(checked)
    return _validate_split(dataset, schema, where="")


def _features(schema: str) -> Features:
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema {schema!r}; use one of {sorted(SCHEMAS)}")
    return SCHEMAS[schema]


def _validate_split(dataset: Dataset | IterableDataset, schema: str | None, where: str) -> Dataset | IterableDataset:
    schema = schema or detect_schema(dataset)
    expected = _features(schema)
    columns = dataset.column_names or []
    missing = [name for name in required_columns(schema) if name not in columns]
    if missing:
        raise ValueError(
            f"{where}a {schema} dataset needs the column(s) {missing}, found {columns}. Add them, or rename "
            f"existing ones with dataset.rename_column(old, new)"
        )
    features = dataset.features
    if features is not None:
        for name, feature in expected.items():
            if name in features and not _same_type(features[name], feature):
                raise ValueError(
                    f"{where}column {name!r} has type {features[name]}, expected {feature}. Convert it with "
                    f"dataset.cast_column({name!r}, {feature!r})"
                )
    if isinstance(dataset, IterableDataset):
        return dataset
    for name in _NON_EMPTY_TEXT[schema]:
        _check_non_empty_text(_in_row_order(dataset, dataset.data.column(name)), name, where)
    if schema in MEDIA_COLUMNS:
        _check_media(dataset, MEDIA_COLUMNS[schema], where)
    _check_languages(_in_row_order(dataset, dataset.data.column(LANGUAGE)), where)
    return _with_canonical_languages(dataset)


def _in_row_order(dataset: Dataset, values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Values computed on a stored column, in the order of the dataset's rows (after any select / shuffle)."""
    # Working on the stored column and taking only the small result avoids gathering whole rows (with every image's
    # bytes) through the mapping, which costs seconds on 100k shuffled rows.
    indices = getattr(dataset, "_indices", None)  # the select/shuffle mapping; None when rows are stored in order
    return values if indices is None else values.take(indices.column(0))


def _same_type(found: object, expected: object) -> bool:
    if isinstance(expected, Value):
        return isinstance(found, Value) and found.dtype in ("string", "large_string")
    if isinstance(expected, Image):
        return isinstance(found, Image)
    # A sequence of images: datasets 4+ spells it List / LargeList, older versions Sequence; all expose `.feature`.
    return isinstance(getattr(found, "feature", None), Image)


def _rows(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.flatnonzero(pc.fill_null(mask, True).to_numpy(zero_copy_only=False))


def _shown(rows: np.ndarray) -> str:
    head = ", ".join(str(int(r)) for r in rows[:_MAX_ROWS_SHOWN])
    more = ", ..." if len(rows) > _MAX_ROWS_SHOWN else ""
    return f"row {head}" if len(rows) == 1 else f"{len(rows)} rows ({head}{more})"


def _check_non_empty_text(column: pa.ChunkedArray, name: str, where: str) -> None:
    visible = pc.replace_substring_regex(column, _INVISIBLE_PATTERN, "")
    blank = _rows(pc.equal(visible, ""))
    if len(blank):
        raise ValueError(
            f"{where}column {name!r} is empty or missing in {_shown(blank)} (blank counts as empty: only whitespace, "
            "zero-width or format characters). Fill it in, or drop those rows with `from "
            "babelclip.trainers.data.schema import is_blank_text; "
            f"dataset.filter(lambda row: not is_blank_text(row[{name!r}]))`"
        )


def _check_media(dataset: Dataset, name: str, where: str) -> None:
    column = dataset.data.column(name)
    missing = column.is_null()
    if name == "frames":
        missing = pc.or_(missing, pc.equal(pc.list_value_length(column), 0))
    rows = _rows(_in_row_order(dataset, missing))
    if len(rows):
        raise ValueError(
            f"{where}column {name!r} has no {'frames' if name == 'frames' else 'image'} in {_shown(rows)}. "
            f"Drop those rows with dataset.filter(lambda row: bool(row[{name!r}]))"
        )


def _check_languages(column: pa.ChunkedArray, where: str) -> None:
    for value in pc.unique(column).to_pylist():
        problem = language_problem(value)
        if problem is not None:
            rows = _rows(pc.equal(column, value))
            raise ValueError(
                f"{where}column 'language' in {_shown(rows)}: {problem}. Fix the code at the source, or map it with "
                f"dataset.map(lambda row: {{'language': 'xx' if row['language'] == {value!r} else row['language']}})"
            )


def _with_canonical_languages(dataset: Dataset) -> Dataset:
    """`dataset` itself when its (valid) codes are canonical, else the same rows with the codes rewritten."""
    stored = dataset.data.column(LANGUAGE)
    seen = pc.unique(_in_row_order(dataset, stored)).to_pylist()
    if all(canonical_language_code(code) == code for code in seen):
        return dataset
    # The stored column is rewritten, keeping any select/shuffle mapping: no image is copied or decoded. Rows outside
    # the mapping were never validated, so their codes are canonicalised only where they are valid.
    codes = pc.unique(stored).to_pylist()
    canonical = [language_key(code) for code in codes]
    rewritten = pc.take(pa.array(canonical, pa.string()), pc.index_in(stored, pa.array(codes, pa.string())))
    table = dataset.data.set_column(dataset.data.column_names.index(LANGUAGE), LANGUAGE, rewritten)
    renamed = dict(zip(codes, canonical, strict=True))
    return Dataset(
        table,
        info=dataset.info.copy(),
        split=dataset.split,
        indices_table=dataset._indices,
        fingerprint=Hasher.hash([dataset._fingerprint, "canonical_language_codes", renamed]),
    )
