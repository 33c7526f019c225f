"""Tux Paint stamps (Debian `tuxpaint-stamps-default`): pictures described by people in about 70 languages.

Install (Debian/Ubuntu), then `load_retrieval_dataset("tuxpaint")`:
```
apt-get install --no-install-recommends tuxpaint-stamps-default      # as root: /usr/share/tuxpaint/stamps
# or without root:
apt-get download tuxpaint-stamps-default && dpkg -x tuxpaint-stamps-default_*.deb ~/tuxpaint
export BABELCLIP_TUXPAINT_ROOT=~/tuxpaint/usr/share/tuxpaint/stamps   # or pass root= / that folder
```

Layout (the package's `/usr/share/tuxpaint/stamps`):
```
<root>/<category>/.../<name>.png     the stamp: RGBA (also LA / palette with transparency), any size
<root>/<category>/.../<name>.txt     line 1: the English description; then `<code>.utf8=<translation>` lines, one per
                                     language (`de.utf8=Ein Pinguin.`, `pt_BR.utf8=...`, `sr@latin.utf8=...`)
<root>/<category>/.../<name>.svg     a vector version (some stamps have only this one)
<name>.dat, <name>_mirror.png, <name>*.ogg    Tux Paint settings, mirrored variants, sounds: not read
```
Version 2022.06.04 holds 952 descriptions, 785 of them beside a PNG, with 644 distinct English lines among those.

Rules:
- A stamp is kept when it has a `.txt`, a `.png` of the same name and a non-empty English first line (a first line
  that is itself a `code.utf8=` line means the English one is missing). SVG-only stamps are dropped (Pillow cannot
  render SVG and no SVG renderer is a dependency); for stamps with both, the PNG is used.
- Duplicates (`duplicates="first"`, the default): stamps whose English lines are equal after case folding, whitespace
  collapsing and dropping end punctuation ("A frog." / "A frog"), or whose PNG files are byte-identical, are kept only
  once: the first by relative path. Identical captions on different pictures (the four letters "A", twin chess pieces,
  six "A flower." stamps) would make text-to-image retrieval ambiguous, and could put one caption in both train and
  test. `duplicates="keep"` keeps every stamp, each with its own `image_id` (its split still follows its own path).
  Two kept stamps may still share a translation in some language (e.g. "gravestone" / "headstone" are one word in
  many languages); such rows are kept (441 of the 40,665 image-text rows of 2022.06.04).
- Text: leading/trailing spaces stripped, runs of any Unicode whitespace collapsed to one space, the literal PO
  escapes `\\t` / `\\n` (a few Hebrew lines start with `\\t`) turned into spaces and `\\"` / `\\\\` unescaped, C0/C1
  control characters removed (Latvian lines hold stray U+0093 after `ē`, left by a broken re-encoding: `Bē\\x93dīgs` ->
  `Bēdīgs`), zero-width spaces stripped at the ends (inside Khmer text they separate words and stay; ZWJ / ZWNJ stay
  everywhere, Malayalam and Persian need them). Nothing else (quotes, brackets, `|` used as a full stop in Hindi) is
  touched. A translation equal to the English line (after the same folding as for duplicates) is dropped: it is
  either untranslated ("A vulture." under `iu`, English sentences under `km`) or a word both languages share
  ("Anthurium", "Plus."), a pair with nothing to translate either way.
- Language codes: `xx` stays; `xx_YY` -> `xx-YY` (`pt_BR` -> `pt-BR`, `zh_CN` / `zh_TW` -> `zh-CN` / `zh-TW`);
  `@latin` / `@cyrillic` -> a script subtag (`sr@latin` -> `sr-Latn`); other `@variant`s are dropped (`ca@valencia`:
  BCP-47 variants are not accepted by `babelclip.trainers.data.languages`, so Valencian lines are not loaded);
  English variants (`en_GB`, `en_AU`: 90% copies of the English line) are dropped, the first line being the `en`
  caption; `ta` is dropped (all 59 lines are TSCII-encoded Tamil read as Latin-1, e.g. `´Õ ¿ðºò¾¢Ãõ` for "A star.",
  and Python has no TSCII codec). Codes that are still not ISO 639 are skipped with one warning naming them.
  `son` (Songhai), `ach` (Acoli), `shs` (Shuswap), `vec` (Venetian)... are valid ISO 639-2/3 codes and kept.
- Rows: one per kept stamp and language that has a description (`en` for every stamp); `caption` is that
  description, `source_caption` the English line (the translators translated it), `image_id` the stamp's path
  relative to `root` without extension (`animals/birds/penguin`).
- Splits: `train` / `validation` / `test` = 80 / 10 / 10 percent by the BLAKE2b hash of `image_id`, so a stamp's
  split never depends on the other stamps: adding or removing stamps moves no existing one. `bitext` (`source` =
  English line, `target` = translation, `language`) comes from the train stamps only.
- Images: each PNG composited on white, converted to RGB and shrunk (never enlarged) so that its longest side is at
  most `max_image_size` (256 px by default; `None` keeps the original size). The composited PNG is written once to a
  cache folder, named by the BLAKE2b hash of the source PNG bytes and the size, so an updated package or another size
  gets new files and nothing stale is read; rows hold the cached file's path (the dataset is 9 MB in memory and the
  cache 14 MB, where storing the bytes in every row would repeat each picture once per language: 870 MB for all
  languages). `dataset.save_to_disk` embeds the bytes for a self-contained copy (877 MB). On 2 CPU cores the first load
  takes about 5 s (decoding ~650 PNGs, with a progress bar), later ones 1-3 s (the text files parsed again and the
  rows built), so the built `DatasetDict` itself is not cached.
  A PNG that cannot be decoded drops its stamp with one warning; `check_images=True` also checks each cached file's
  header and rewrites a damaged one. "colorable" stamps (drawn in grey for Tux Paint to tint) are loaded as drawn.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import datasets
from datasets import Dataset, DatasetDict
from PIL import Image as PILImage
from tqdm.auto import tqdm

from ...common.files import atomic_file
from ..bitext import image_text_as_bitext
from ..images import image_problem
from ..languages import language_problem
from ..schema import validate_dataset
from ._common import PathLike, build_pairs_dataset, check_languages_requested, empty_rows, pick_splits

DEFAULT_ROOT = Path("/usr/share/tuxpaint/stamps")
ROOT_ENV_VAR = "BABELCLIP_TUXPAINT_ROOT"
MAX_IMAGE_SIZE = 256
# Percent of stamps per split, in order: a stamp's hash bucket (0-99) falls in one cumulative range.
SPLIT_PERCENT = {"train": 80, "validation": 10, "test": 10}
SPLITS = (*SPLIT_PERCENT, "bitext")
# glibc locale modifiers that name a script, as BCP-47 script subtags.
SCRIPT_MODIFIERS = {"latin": "Latn", "cyrillic": "Cyrl"}
# File codes whose lines are not loaded, and why (see the module docstring).
DROPPED_FILE_LANGUAGES = {"ta": "TSCII-encoded Tamil read as Latin-1 (mojibake)"}
INSTALL_HINT = (
    "install them with `apt-get install --no-install-recommends tuxpaint-stamps-default` (as root; they go to "
    f"{DEFAULT_ROOT}), or without root: `apt-get download tuxpaint-stamps-default && dpkg -x "
    "tuxpaint-stamps-default_*.deb <dir>` and pass root='<dir>/usr/share/tuxpaint/stamps' (or set "
    f"{ROOT_ENV_VAR} to it)"
)

_TRANSLATION_LINE = re.compile(r"^(?P<code>[A-Za-z]{2,3}(?:_[A-Za-z]{2})?(?:@[A-Za-z]+)?)\.utf8=(?P<text>.*)$")
_PO_ESCAPES = re.compile(r"\\([tn\"\\])")
_EDGE_INVISIBLES = "\u200b\ufeff\u2060"  # zero-width space, BOM, word joiner: invisible, meaningless at the ends
_END_PUNCTUATION = " .!?…。！"
_DETECT_MAX_DEPTH = 6  # the real tree is 5 folders deep (symbols/alphabets/english/filled/lowercase)
_DETECT_MAX_FILES = 50_000  # stop looking in a big foreign tree (an image folder) instead of listing all of it
_CACHE_FORMAT = b"tuxpaint-rgb-on-white-v1"


@dataclass(frozen=True)
class Stamp:
    """One kept stamp: `image_id` (relative path, no extension), its PNG, English line and translations by code."""

    image_id: str
    png: Path
    english: str
    captions: dict[str, str] = field(default_factory=dict)


def default_root() -> Path:
    """`$BABELCLIP_TUXPAINT_ROOT` when set, else `DEFAULT_ROOT` (where Debian installs the stamps)."""
    configured = os.environ.get(ROOT_ENV_VAR)
    return Path(configured).expanduser() if configured else DEFAULT_ROOT


def detect(root: Path) -> bool:
    """Whether `root` holds Tux Paint stamps: a `.txt` with `code.utf8=` lines beside a `.png` / `.svg` of its name."""
    if not root.is_dir():
        return False
    start, listed = len(root.parts), 0
    for folder, subfolders, files in os.walk(root):
        if len(Path(folder).parts) - start >= _DETECT_MAX_DEPTH:
            subfolders.clear()
        subfolders.sort()
        names = set(files)
        for name in sorted(files):
            stem = name.removesuffix(".txt")
            if stem != name and {f"{stem}.png", f"{stem}.svg"} & names and _has_translation(Path(folder, name)):
                return True
        listed += len(files)
        if listed > _DETECT_MAX_FILES:
            return False
    return False


def _has_translation(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read(4096).splitlines()
    return any(_TRANSLATION_LINE.match(line) for line in lines[1:])


def clean_text(text: str) -> str:
    """A description as loaded: PO escapes undone, control characters removed, whitespace collapsed (see above)."""
    text = _PO_ESCAPES.sub(lambda match: {"t": " ", "n": " "}.get(match.group(1), match.group(1)), text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" or ch in "\t\n")
    return " ".join(text.split()).strip(_EDGE_INVISIBLES).strip()


def caption_key(text: str) -> str:
    """What two descriptions must share to count as the same: case folded, spaces collapsed, end punctuation off."""
    return " ".join(text.casefold().split()).rstrip(_END_PUNCTUATION)


def language_code(file_code: str) -> str | None:
    """
    The ISO 639 / BCP-47 code of a description line's code (`pt_BR` -> `pt-BR`, `sr@latin` -> `sr-Latn`), or `None`
    for the lines not loaded by rule: English variants, other `@` variants and `DROPPED_FILE_LANGUAGES`.
    The result is not checked here: `read_stamps` skips codes that `language_problem` rejects.
    """
    base, _, modifier = file_code.partition("@")
    lang, _, region = base.partition("_")
    lang = lang.lower()
    if lang == "en" or lang in DROPPED_FILE_LANGUAGES or (modifier and modifier.lower() not in SCRIPT_MODIFIERS):
        return None
    parts = [lang, SCRIPT_MODIFIERS[modifier.lower()]] if modifier else [lang]
    return "-".join([*parts, region.upper()] if region else parts)


def read_description(path: Path) -> tuple[str, dict[str, str]]:
    """
    The English line (cleaned; `""` when missing) and the raw `{file code: cleaned text}` translations of one `.txt`.
    Blank lines and lines of no `code.utf8=` form are ignored, as Tux Paint ignores them; empty texts are dropped.
    """
    try:
        lines = path.read_text(encoding="utf-8").removeprefix("\ufeff").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 ({error}); re-save it as UTF-8 or remove that stamp") from error
    if not lines:
        return "", {}
    first_is_translation = _TRANSLATION_LINE.match(lines[0]) is not None
    english = "" if first_is_translation else clean_text(lines[0])
    translations = {}
    for line in lines if first_is_translation else lines[1:]:
        match = _TRANSLATION_LINE.match(line)
        if match and (text := clean_text(match.group("text"))):
            translations[match.group("code")] = text
    return english, translations


def stamp_split(image_id: str) -> str:
    """`"train"`, `"validation"` or `"test"` for a stamp, from the BLAKE2b hash of its `image_id` alone."""
    bucket = int.from_bytes(hashlib.blake2b(image_id.encode("utf-8"), digest_size=8).digest(), "big") % 100
    for name, percent in SPLIT_PERCENT.items():
        if bucket < percent:
            return name
        bucket -= percent
    raise AssertionError("SPLIT_PERCENT must sum to 100")


def read_stamps(root: PathLike, duplicates: Literal["first", "keep"] = "first") -> list[Stamp]:
    """
    The stamps under `root` kept by the rules of the module docstring, sorted by `image_id`, translations under their
    mapped codes (one warning lists the codes skipped because they are not ISO 639).

    Args:
        root (`str` or `os.PathLike`): the stamps folder.
        duplicates (`str`, *optional*, defaults to `"first"`): `"first"` keeps one stamp per English line and per PNG
            content; `"keep"` keeps all.
    """
    if duplicates not in ("first", "keep"):
        raise ValueError(f"duplicates={duplicates!r}; use 'first' (one stamp per English line) or 'keep'")
    root = Path(root)
    stamps, seen_captions, seen_pngs, invalid = [], set(), set(), Counter()
    for text_path in sorted(root.rglob("*.txt"), key=lambda path: path.relative_to(root).as_posix()):
        png = text_path.with_suffix(".png")
        if not png.is_file():
            continue
        english, raw = read_description(text_path)
        if not english:
            continue
        if duplicates == "first":
            content = hashlib.blake2b(png.read_bytes(), digest_size=16).digest()
            if caption_key(english) in seen_captions or content in seen_pngs:
                continue
            seen_captions.add(caption_key(english))
            seen_pngs.add(content)
        captions = {}
        for file_code, text in raw.items():
            code = language_code(file_code)
            if code is None or caption_key(text) == caption_key(english):
                continue
            if language_problem(code) is not None:
                invalid[file_code] += 1
                continue
            captions[code] = text
        image_id = text_path.relative_to(root).with_suffix("").as_posix()
        stamps.append(Stamp(image_id=image_id, png=png, english=english, captions=captions))
    if invalid:
        warnings.warn(
            f"{root}: skipped {sum(invalid.values())} description lines whose language code is not ISO 639 even "
            f"after mapping: {dict(invalid.most_common())}",
            UserWarning,
            stacklevel=2,
        )
    return stamps


def composite_on_white(png: PathLike, max_image_size: int | None = MAX_IMAGE_SIZE) -> PILImage.Image:
    """The stamp as Tux Paint draws it on a blank canvas: RGB on white, longest side shrunk to `max_image_size`."""
    with PILImage.open(png) as image:
        rgba = image.convert("RGBA")  # palette + tRNS and grey + alpha stamps carry transparency too
    canvas = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = PILImage.alpha_composite(canvas, rgba).convert("RGB")
    if max_image_size is not None and max(rgb.size) > max_image_size:
        rgb.thumbnail((max_image_size, max_image_size), PILImage.Resampling.LANCZOS)
    return rgb


def default_cache_dir() -> Path:
    """Where composited images go: `babelclip/tuxpaint` under the datasets cache (`$HF_DATASETS_CACHE`)."""
    return Path(datasets.config.HF_DATASETS_CACHE) / "babelclip" / "tuxpaint"


def cached_images(
    stamps: Sequence[Stamp], cache_dir: PathLike, max_image_size: int | None, check_images: bool = True
) -> dict[str, str]:
    """
    `{image_id: path of the composited PNG}`, writing the missing ones (with a progress bar); stamps whose PNG cannot
    be decoded are left out with one warning.

    Raises:
        `ValueError`: when no PNG at all can be decoded.
    """
    if max_image_size is not None and max_image_size < 1:
        raise ValueError(f"max_image_size={max_image_size}; use a positive number of pixels or None (original size)")
    folder = Path(cache_dir).expanduser()
    size_tag = str(max_image_size).encode()
    paths, broken = {}, []
    progress = tqdm(stamps, desc="Tux Paint stamps", unit="stamp", disable=datasets.utils.are_progress_bars_disabled())
    for stamp in progress:
        source = stamp.png.read_bytes()
        digest = hashlib.blake2b(source, digest_size=16, key=_CACHE_FORMAT)
        digest.update(size_tag)
        target = folder / f"{digest.hexdigest()}.png"
        if not target.is_file() or (check_images and image_problem(None, str(target)) is not None):
            try:
                image = composite_on_white(io.BytesIO(source), max_image_size)
            except Exception as error:  # PIL raises OSError, SyntaxError, ValueError... for a broken file
                broken.append(f"{stamp.png}: {type(error).__name__}: {error}")
                continue
            try:
                with atomic_file(target) as temporary:
                    image.save(temporary, format="PNG")
            except OSError as error:
                raise ValueError(
                    f"cannot write the composited stamp images to {folder} ({error}); pass cache_dir= a writable folder"
                ) from error
        paths[stamp.image_id] = str(target)
    if broken and not paths:
        raise ValueError(
            f"none of the {len(stamps)} stamp PNGs could be decoded (first: {broken[0]}); check the folder"
        )
    if broken:
        warnings.warn(
            f"dropped {len(broken)} of {len(stamps)} stamps whose PNG could not be decoded (first: {broken[:3]})",
            UserWarning,
            stacklevel=2,
        )
    return paths


def _check_root(root: PathLike | None) -> Path:
    path = default_root() if root is None else Path(root).expanduser()
    if not path.is_dir():
        raise ValueError(f"Tux Paint stamps folder {str(path)!r} not found: {INSTALL_HINT}")
    return path


def _image_text_split(stamps: Iterable[Stamp], languages: Sequence[str], images: dict[str, str]) -> Dataset:
    rows = empty_rows()
    for lang in languages:
        for stamp in stamps:
            caption = stamp.english if lang == "en" else stamp.captions.get(lang)
            if caption is None:
                continue
            rows["image"].append(images[stamp.image_id])
            rows["caption"].append(caption)
            rows["language"].append(lang)
            rows["image_id"].append(stamp.image_id)
            rows["source_caption"].append(stamp.english)
    return build_pairs_dataset(rows, check_images=False)  # every image was decoded or checked once per stamp


def load_tuxpaint(
    root: PathLike | None = None,
    split: str | None = None,
    languages: Sequence[str] | None = None,
    check_images: bool = True,
    max_image_size: int | None = MAX_IMAGE_SIZE,
    duplicates: Literal["first", "keep"] = "first",
    cache_dir: PathLike | None = None,
) -> Dataset | DatasetDict:
    """
    Load the Tux Paint stamps as multilingual image-text data (rules in the module docstring).

    Args:
        root (`str` or `os.PathLike`, *optional*, defaults to `None`):
            The stamps folder (or any folder below it, e.g. `.../stamps/animals`); `None` reads
            `$BABELCLIP_TUXPAINT_ROOT`, else `/usr/share/tuxpaint/stamps`.
        split (`str`, *optional*, defaults to `None`):
            `"train"`, `"validation"` (or `"val"`), `"test"` or `"bitext"`; `None` returns all four in a `DatasetDict`.
        languages (`Sequence[str]`, *optional*, defaults to `None`):
            Codes as loaded (`"pt-BR"`, `"sr-Latn"`, `"zh-CN"`); `None` loads every language.
        check_images (`bool`, *optional*, defaults to `True`): also check the header of each cached image (once per
            stamp, not per row) and rewrite a damaged one. A source PNG that cannot be decoded is always dropped.
        max_image_size (`int`, *optional*, defaults to 256): longest side of the stored images in pixels; `None`
            keeps the original size.
        duplicates (`str`, *optional*, defaults to `"first"`): `"first"` keeps one stamp per English line (and per PNG
            content), `"keep"` keeps every stamp.
        cache_dir (`str` or `os.PathLike`, *optional*, defaults to `None`): folder of the composited images;
            `None` uses `default_cache_dir()`.

    Returns:
        `datasets.DatasetDict` (`train`, `validation`, `test` in the image-text schema and `bitext` in the bitext
        schema), or the one `datasets.Dataset` asked for.

    Raises:
        `ValueError`: when the folder is missing (the message says how to install the package), holds no stamp, or a
        requested language or split does not exist.

    Example:
    ```python
    >>> from babelclip.trainers.data import load_retrieval_dataset
    >>> test = load_retrieval_dataset("tuxpaint", split="test", languages=["en", "am", "gd"])  # doctest: +SKIP
    ```
    """
    path = _check_root(root)
    stamps = read_stamps(path, duplicates)
    if not stamps:
        raise ValueError(
            f"no Tux Paint stamp (a .png beside a .txt whose first line describes it in English) under {path}; pass "
            f"the package's stamps folder: {INSTALL_HINT}"
        )
    available = {"en"} | {code for stamp in stamps for code in stamp.captions}
    chosen = check_languages_requested(languages, available, str(path))
    images = cached_images(stamps, cache_dir or default_cache_dir(), max_image_size, check_images)
    by_split: dict[str, list[Stamp]] = {name: [] for name in SPLIT_PERCENT}
    for stamp in stamps:
        if stamp.image_id in images:
            by_split[stamp_split(stamp.image_id)].append(stamp)

    @cache  # the bitext split is built from the train split
    def build(name: str) -> Dataset:
        if name == "bitext":
            return validate_dataset(image_text_as_bitext(build("train"), source_language="en"), "bitext")
        return _image_text_split(by_split[name], chosen, images)

    return pick_splits(split, SPLITS, build, str(path))
