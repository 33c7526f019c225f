"""The Tux Paint stamps loader on a fixture in the real layout, and (slow) on the real Debian package when installed."""

import hashlib
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datasets
import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from PIL import Image as PILImage

from babelclip.trainers.data import (
    detect_layout,
    is_language_code,
    load_retrieval_dataset,
    load_tuxpaint,
    validate_dataset,
)
from babelclip.trainers.data.layouts import tuxpaint
from babelclip.trainers.data.layouts.tuxpaint import (
    DEFAULT_ROOT,
    ROOT_ENV_VAR,
    caption_key,
    clean_text,
    default_root,
    language_code,
    stamp_split,
)

from .tuxpaint_fixture import (
    DROPPED,
    DUPLICATE,
    FILLER,
    KEPT,
    PENGUIN_CAPTIONS,
    colour_of,
    make_tuxpaint,
    stamp_image,
    write_stamp,
)

datasets.disable_progress_bars()

EXPECTED_WARNINGS = ("description lines whose language code is not ISO 639", "whose PNG could not be decoded")
KEPT_OR_FILLER_ENGLISH = {image_id: lines[0] for image_id, (lines, _, _) in {**KEPT, **FILLER}.items()}
KEPT_OR_FILLER_ENGLISH["household/electronics/inkjet_printer"] = "An inkjet printer. Will you print this picture?"


@contextmanager
def fixture_warnings_ignored() -> Iterator[None]:
    """Silences the two warnings every load of the fixture gives (checked by `load`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f".*({'|'.join(EXPECTED_WARNINGS)})", category=UserWarning)
        yield


def load(root: Path, **kwargs) -> Dataset | DatasetDict:
    """`load_tuxpaint` on the fixture, checking it warns exactly once about each of the fixture's two faults."""
    kwargs.setdefault("cache_dir", root.parent / "cache")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_tuxpaint(root, **kwargs)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 2, messages
    assert "{'zz': 1}" in messages[0] and EXPECTED_WARNINGS[0] in messages[0]
    assert (
        "dropped 1 of" in messages[1] and "town/broken_sign.png" in messages[1] and EXPECTED_WARNINGS[1] in messages[1]
    )
    return data


@pytest.fixture
def stamps_root(tmp_path) -> Path:
    return make_tuxpaint(tmp_path / "stamps")


def rows_by(dataset: Dataset) -> dict[tuple[str, str], dict]:
    """`(image_id, language) -> row`, text columns only (decoding every image would be slow on the real package)."""
    text = dataset.remove_columns("image")
    return {(row["image_id"], row["language"]): row for row in text}


def expected_on_white(png: Path) -> np.ndarray:
    """The stamp composited on white, from the alpha formula (PIL only decodes the file)."""
    rgba = np.asarray(PILImage.open(png).convert("RGBA"), dtype=float)
    alpha = rgba[..., 3:] / 255.0
    return rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)


# ---- what is loaded -------------------------------------------------------------------------------------------------


def test_schema_splits_and_kept_stamps(stamps_root):
    data = load(stamps_root)
    assert isinstance(data, DatasetDict) and list(data) == ["train", "validation", "test", "bitext"]
    validate_dataset(data)
    image_text = [data[name] for name in ("train", "validation", "test")]
    assert all(split.num_rows > 0 for split in image_text), "the fixture's stamps should reach every split"
    ids = {image_id for split in image_text for image_id in split["image_id"]}
    assert ids == set(KEPT) | set(FILLER)  # frog (a duplicate of frog-1), the mirror and every DROPPED stamp are out
    assert not ids & (set(DROPPED) | set(DUPLICATE) | {"animals/birds/penguin_mirror"})
    for name, split in zip(("train", "validation", "test"), image_text, strict=True):
        assert {stamp_split(image_id) for image_id in split["image_id"]} == {name}
        assert split["source_caption"] == [KEPT_OR_FILLER_ENGLISH[i] for i in split["image_id"]]
        english = split.filter(lambda row: row["language"] == "en")
        assert sorted(english["image_id"]) == sorted(set(split["image_id"]))  # every stamp has its English row
        assert english["caption"] == english["source_caption"]


def test_penguin_captions_codes_and_cleaning(stamps_root):
    data = load(stamps_root)
    split = data[stamp_split("animals/birds/penguin")]
    penguin = {row["language"]: row["caption"] for row in split if row["image_id"] == "animals/birds/penguin"}
    # ca@valencia, en_GB / en_AU, ta (mojibake), zz (not ISO), nl (= the English line) and the `de=` line are out.
    assert penguin == PENGUIN_CAPTIONS
    every_language = {lang for name in ("train", "validation", "test") for lang in data[name]["language"]}
    assert {"pt-BR", "sr-Latn", "zh-TW", "zh-CN", "kab", "sw", "son", "iu"} <= every_language
    assert not every_language & {"ca-valencia", "ca@valencia", "en-GB", "en-AU", "ta", "zz", "pt_BR"}
    assert all(is_language_code(lang) for lang in every_language)
    tux = rows_by(data[stamp_split("animals/birds/cartoon/tux")])
    assert tux["animals/birds/cartoon/tux", "fr"]["caption"] == "Tux et l'araignée : deux amis."  # NBSP -> space
    assert tux["animals/birds/cartoon/tux", "km"]["caption"] == "ធុច\u200bនិង\u200bពីងពាង"  # inner ZWSP kept
    printer = rows_by(data[stamp_split("household/electronics/inkjet_printer")])
    assert printer["household/electronics/inkjet_printer", "gd"]["caption"] == (
        "Clò-bhualadair ince. Nach clò-bhuail thu an dealbh seo?"
    )
    anthurium = rows_by(data[stamp_split("plants/flowers/anthurium")])
    assert ("plants/flowers/anthurium", "nl") not in anthurium and ("plants/flowers/anthurium", "de") in anthurium


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("\\tבום!!!", "בום!!!"),  # a PO escape left in the Hebrew lines
        ("B\u0113\x93d\u012bgs!", "B\u0113d\u012bgs!"),  # stray C1 control after Latvian ē
        ("  a  b\u00a0c\u3000d\t ", "a b c d"),
        ("\u200bword\u200b", "word"),
        ("ធុច\u200bនិង", "ធុច\u200bនិង"),
        ("ഒരു മയാല്\u200d ", "ഒരു മയാല്\u200d"),
        ('say \\"hi\\" \\\\ bye', 'say "hi" \\ bye'),
        ("एक मेंढक|", "एक मेंढक|"),
    ],
)
def test_clean_text(raw, cleaned):
    assert clean_text(raw) == cleaned


@pytest.mark.parametrize(
    ("file_code", "code"),
    [
        ("de", "de"),
        ("son", "son"),
        ("pt_BR", "pt-BR"),
        ("zh_CN", "zh-CN"),
        ("sr@latin", "sr-Latn"),
        ("uz@cyrillic", "uz-Cyrl"),
        ("ca@valencia", None),
        ("en_GB", None),
        ("en", None),
        ("ta", None),
    ],
)
def test_language_code(file_code, code):
    assert language_code(file_code) == code
    assert code is None or is_language_code(code)


def test_caption_key_folds_what_duplicates_differ_by():
    assert caption_key("A frog.") == caption_key("a  FROG") == "a frog"
    assert caption_key("A frog.") != caption_key("A green frog.")


def test_images_are_composited_on_white(stamps_root):
    data = load(stamps_root, max_image_size=None)
    for name in ("train", "validation", "test"):
        english = data[name].filter(lambda row: row["language"] == "en")
        for row in english:
            image = row["image"]
            assert image.mode == "RGB"
            expected = expected_on_white(stamps_root / f"{row['image_id']}.png")
            assert image.size == expected.shape[1::-1]
            assert np.abs(np.asarray(image, dtype=float) - expected).max() <= 1
            width = image.width
            assert tuple(np.asarray(image)[0, 0]) == (255, 255, 255)  # the transparent third is white
            if KEPT.get(row["image_id"], ("", "", "RGBA"))[2] == "RGBA":
                assert tuple(np.asarray(image)[0, width // 2]) == colour_of(row["image_id"])  # opaque third


def test_max_image_size(stamps_root):
    penny = "symbols/money/us/coins/001penny"

    def penny_image(**kwargs) -> PILImage.Image:
        split = load(stamps_root, split=stamp_split(penny), languages=["en"], **kwargs)
        return split[split["image_id"].index(penny)]["image"]

    assert penny_image().size == (256, 128)  # 600 x 300 shrunk to the default 256 px longest side
    assert penny_image(max_image_size=None).size == (600, 300)
    small = penny_image(max_image_size=64)
    assert small.size == (64, 32)
    assert np.abs(np.asarray(small, dtype=int)[16, 32] - np.array(colour_of(penny))).max() <= 2
    crow = "animals/birds/crow"  # 30 x 24: never enlarged
    split = load(stamps_root, split=stamp_split(crow), languages=["en"], max_image_size=64)
    assert split[split["image_id"].index(crow)]["image"].size == (30, 24)
    with pytest.raises(ValueError, match="max_image_size=0"), fixture_warnings_ignored():
        load_tuxpaint(stamps_root, max_image_size=0, cache_dir=stamps_root.parent / "cache")


def test_duplicates_keep(stamps_root):
    data = load(stamps_root, duplicates="keep")
    ids = {i for name in ("train", "validation", "test") for i in data[name]["image_id"]}
    assert ids == set(KEPT) | set(FILLER) | set(DUPLICATE)
    frog = rows_by(data[stamp_split("animals/amphibians/frog")])
    assert frog["animals/amphibians/frog", "de"]["caption"] == "Ein Frosch!"
    assert frog["animals/amphibians/frog", "en"]["caption"] == "A frog"
    with pytest.raises(ValueError, match="duplicates='all'"):
        load_tuxpaint(stamps_root, duplicates="all")


def test_byte_identical_pngs_are_one_stamp(tmp_path):
    root = make_tuxpaint(tmp_path / "stamps")
    crow = root / "animals/birds/crow.png"
    write_stamp(root, "people/crow_again", ["Another crow.", "de.utf8=Noch eine Krähe.", ""], crow.read_bytes())
    data = load(root)
    ids = {i for name in ("train", "validation", "test") for i in data[name]["image_id"]}
    assert "animals/birds/crow" in ids and "people/crow_again" not in ids


def test_split_is_stable_when_stamps_are_added_or_removed(tmp_path):
    root = make_tuxpaint(tmp_path / "stamps")

    def split_of_each() -> dict[str, str]:
        data = load(root)
        return {i: name for name in ("train", "validation", "test") for i in set(data[name]["image_id"])}

    before = split_of_each()
    write_stamp(root, "animals/birds/owl", ["An owl.", "de.utf8=Eine Eule.", ""], stamp_image("owl", (20, 20)))
    for image_id in ("vehicles/filler/car_00", "vehicles/filler/car_01"):
        (root / f"{image_id}.txt").unlink()
    after = split_of_each()
    assert set(after) == set(before) - {"vehicles/filler/car_00", "vehicles/filler/car_01"} | {"animals/birds/owl"}
    assert all(after[i] == before[i] for i in after if i in before)


def test_stamp_split_is_a_hash_of_the_path_alone():
    names = [f"category/sub/stamp_{k}" for k in range(20_000)]
    counts = Counter(stamp_split(name) for name in names)
    assert abs(counts["train"] / 20_000 - 0.8) < 0.015
    assert abs(counts["validation"] / 20_000 - 0.1) < 0.01 and abs(counts["test"] / 20_000 - 0.1) < 0.01
    # The documented rule, recomputed: BLAKE2b-64 of the UTF-8 path, big-endian, mod 100 -> [0, 80) [80, 90) [90, 100).
    for name in names[:500]:
        bucket = int(hashlib.blake2b(name.encode(), digest_size=8).hexdigest(), 16) % 100
        assert stamp_split(name) == ("train" if bucket < 80 else "validation" if bucket < 90 else "test")


def test_bitext_comes_from_train_stamps(stamps_root):
    data = load(stamps_root)
    bitext = data["bitext"]
    assert bitext.column_names == ["source", "target", "language"]
    train = data["train"]
    expected = {(r["source_caption"], r["caption"], r["language"]) for r in train if r["language"] != "en"}
    assert set(zip(bitext["source"], bitext["target"], bitext["language"], strict=True)) == expected
    assert bitext.num_rows == len(expected) > 0
    held_out = set(data["validation"]["source_caption"]) | set(data["test"]["source_caption"])
    assert not held_out & set(bitext["source"])
    alone = load(stamps_root, split="bitext", languages=["en", "de"])
    assert set(alone["language"]) == {"de"} and alone.num_rows == sum(1 for *_, lang in expected if lang == "de")
    assert load(stamps_root, split="bitext", languages=["en"]).num_rows == 0  # English alone: nothing to pair


def test_one_split_and_languages(stamps_root):
    validation = load(stamps_root, split="val", languages=["en", "pt-BR"])
    assert isinstance(validation, Dataset) and set(validation["language"]) <= {"en", "pt-BR"}
    assert validation["image_id"] == load(stamps_root, split="validation", languages=["en", "pt-BR"])["image_id"]
    with (
        pytest.raises(ValueError, match=r"language\(s\) \['pt_BR'\].*available: \['ach', 'am'"),
        fixture_warnings_ignored(),
    ):
        load_tuxpaint(stamps_root, languages=["pt_BR"], cache_dir=stamps_root.parent / "cache")
    with pytest.raises(ValueError, match=r"split 'dev2' not found.*\['train', 'validation', 'test', 'bitext'\]"):
        load(stamps_root, split="dev2")


def test_cache_is_reused_and_repaired(stamps_root):
    cache = stamps_root.parent / "cache"
    load(stamps_root, cache_dir=cache)
    files = sorted(cache.glob("*.png"))
    assert len(files) == len(KEPT) + len(FILLER)  # one per kept stamp, not per row
    written = {path: path.stat().st_mtime_ns for path in files}
    damaged = files[0]
    damaged.write_bytes(b"not a png")
    data = load(stamps_root, cache_dir=cache)
    assert {path: path.stat().st_mtime_ns for path in files if path != damaged} == {
        path: when for path, when in written.items() if path != damaged
    }
    PILImage.open(damaged).verify()  # rewritten by check_images=True
    paths = {
        Path(row["image"]["path"])
        for name in ("train", "validation", "test")
        for row in data[name].cast_column("image", datasets.Image(decode=False))
    }
    assert paths == set(files)
    assert len(list(cache.glob("*.png"))) == len(files)
    load(stamps_root, cache_dir=cache, max_image_size=32)  # another size: other files beside
    assert len(list(cache.glob("*.png"))) > len(files)


def test_unwritable_cache_says_what_to_pass(stamps_root):
    blocker = stamps_root.parent / "a_file"
    blocker.write_text("not a folder")
    expected = r"cannot write the composited stamp images to .*a_file.*pass cache_dir="
    with pytest.raises(ValueError, match=expected), fixture_warnings_ignored():
        load_tuxpaint(stamps_root, cache_dir=blocker / "cache")


def test_no_stamp_at_all(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("Just notes.\n")
    with pytest.raises(ValueError, match=r"no Tux Paint stamp .* under .*notes.*apt-get install"):
        load_tuxpaint(tmp_path / "notes", cache_dir=tmp_path / "cache")


# ---- through load_retrieval_dataset ---------------------------------------------------------------------------------


def test_detection_through_load_retrieval_dataset(stamps_root):
    assert detect_layout(stamps_root) == "tuxpaint"
    assert detect_layout(stamps_root / "animals") == "tuxpaint"  # a category folder alone is stamps too
    cache = {"cache_dir": stamps_root.parent / "cache"}
    with fixture_warnings_ignored():
        detected = load_retrieval_dataset(stamps_root, split="test", **cache)
        named = load_retrieval_dataset(str(stamps_root), layout="tuxpaint", split="test", **cache)
    direct = load(stamps_root, split="test")
    for dataset in (detected, named):
        assert dataset["image_id"] == direct["image_id"] and dataset["caption"] == direct["caption"]


def test_detect_rejects_other_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "picture.txt").write_text("A picture.\nSome more words.\n")  # a .txt beside a .png, no `xx.utf8=` line
    stamp_image("picture", (8, 8)).save(notes / "picture.png")
    (notes / "lonely.txt").write_text("A lonely line.\nde.utf8=Eine einsame Zeile.\n")  # no image beside it
    for folder in (tmp_path / "empty", notes, tmp_path / "missing"):
        assert not tuxpaint.detect(folder)
    assert detect_layout(notes) is None


def test_builtin_name_reads_the_environment_root(stamps_root, monkeypatch):
    monkeypatch.setenv(ROOT_ENV_VAR, str(stamps_root))
    assert default_root() == stamps_root
    with fixture_warnings_ignored():
        builtin = load_retrieval_dataset("tuxpaint", split="train", cache_dir=stamps_root.parent / "cache")
    assert builtin["caption"] == load(stamps_root, split="train")["caption"]


def test_missing_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV_VAR, raising=False)
    assert default_root() == DEFAULT_ROOT == Path("/usr/share/tuxpaint/stamps")
    monkeypatch.setenv(ROOT_ENV_VAR, str(tmp_path / "nowhere"))
    expected = (
        r"stamps folder '.*nowhere' not found: install them with `apt-get install --no-install-recommends "
        r"tuxpaint-stamps-default`.*`apt-get download tuxpaint-stamps-default && dpkg -x "
        r"tuxpaint-stamps-default_\*.deb <dir>` and pass root='<dir>/usr/share/tuxpaint/stamps'.*"
        r"BABELCLIP_TUXPAINT_ROOT"
    )
    with pytest.raises(ValueError, match=expected):
        load_retrieval_dataset("tuxpaint")
    with pytest.raises(ValueError, match=r"'.*elsewhere' not found: install them"):
        load_tuxpaint(tmp_path / "elsewhere")


# ---- the real package -----------------------------------------------------------------------------------------------


REAL_ROOT = default_root()  # $BABELCLIP_TUXPAINT_ROOT (a `dpkg -x` copy) or the installed package


@pytest.mark.slow
@pytest.mark.skipif(
    not REAL_ROOT.is_dir(),
    reason=f"{REAL_ROOT} not found: `apt-get install --no-install-recommends tuxpaint-stamps-default`, or set "
    f"{ROOT_ENV_VAR} to a `dpkg -x` copy's usr/share/tuxpaint/stamps, to run this",
)
def test_real_package(tmp_path):
    data = load_tuxpaint(REAL_ROOT, cache_dir=tmp_path / "cache")
    validate_dataset(data)
    image_text = [data[name] for name in ("train", "validation", "test")]
    stamps = {i for split in image_text for i in split["image_id"]}
    assert len(stamps) >= 600
    assert all((REAL_ROOT / f"{image_id}.png").is_file() for image_id in stamps)
    stamps_per_language = Counter(
        lang for split in image_text for lang, _ in set(zip(split["language"], split["image_id"], strict=True))
    )
    assert len(stamps_per_language) >= 60 and stamps_per_language["en"] == len(stamps)
    for lang, at_least in {"am": 550, "gd": 550, "ff": 550, "son": 550, "ach": 500, "iu": 500, "km": 350}.items():
        assert stamps_per_language[lang] >= at_least, (lang, stamps_per_language[lang])
    for lang, at_least in {"zu": 350, "kab": 200, "sw": 100, "pt-BR": 550, "sr-Latn": 500, "zh-CN": 400}.items():
        assert stamps_per_language[lang] >= at_least, (lang, stamps_per_language[lang])
    assert not set(stamps_per_language) & {"ta", "en-GB", "en-AU", "ca-valencia"}
    assert {stamp_split(i) for i in data["test"]["image_id"]} == {"test"}
    # Captions against the raw files, read here independently.
    for image_id, lang, file_code in [("animals/birds/penguin", "de", "de"), ("animals/birds/penguin", "gd", "gd")]:
        raw = (REAL_ROOT / f"{image_id}.txt").read_text(encoding="utf-8").splitlines()
        translation = next(line.split("=", 1)[1] for line in raw if line.startswith(f"{file_code}.utf8="))
        rows = rows_by(data[stamp_split(image_id)])
        assert rows[image_id, lang]["caption"] == translation.strip()
        assert rows[image_id, lang]["source_caption"] == raw[0].strip() == "A penguin."
    hebrew = rows_by(data[stamp_split("naturalforces/explosion")])["naturalforces/explosion", "he"]["caption"]
    assert hebrew == "בום!!!"  # the file says `\tבום!!!`
    latvian = rows_by(data[stamp_split("symbols/faces/sad")])["symbols/faces/sad", "lv"]["caption"]
    assert latvian == "Bēdīgs!"  # the file holds a stray U+0093 after the ē
    english_rows = [k for k, lang in enumerate(data["test"]["language"]) if lang == "en"]
    for row in data["test"].select(english_rows):
        assert row["image"].mode == "RGB" and max(row["image"].size) <= 256
    assert data["bitext"].num_rows > 20_000 and set(data["bitext"]["source"]) <= set(data["train"]["source_caption"])
