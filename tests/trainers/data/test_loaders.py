"""Each loader on a tiny fixture folder written in the dataset's real layout; the dispatcher; unreadable images."""

import gzip
import json
import shutil
import warnings
from pathlib import Path

import datasets
import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from PIL import Image as PILImage

from babelclip.trainers.data import (
    detect_layout,
    drop_unreadable_images,
    find_unreadable_images,
    load_bitext_tsv,
    load_crossmodal3600,
    load_karpathy,
    load_multi30k,
    load_retrieval_dataset,
    load_vatex,
    load_xflickrco,
    load_xtd10,
)

datasets.disable_progress_bars()


def color_of(name: str) -> tuple[int, int, int]:
    """A distinct, JPEG-stable colour per image name, so pixels tell which file a row points at."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(name))
    return ((seed * 37) % 200 + 20, (seed * 91) % 200 + 20, (seed * 53) % 200 + 20)


def write_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", (8, 8), color_of(path.stem)).save(path)


def pixel(image: PILImage.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=int)[4, 4]


def assert_images_match_ids(dataset: Dataset) -> None:
    for row in dataset:
        assert np.abs(pixel(row["image"]) - np.array(color_of(row["image_id"]))).max() <= 3


def write_lines(path: Path, lines: list[str], compress: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def write_jsonl(path: Path, records: list[dict]) -> None:
    write_lines(path, [json.dumps(record, ensure_ascii=False) for record in records])


# ---- fixtures in the real layouts ---------------------------------------------------------------------------------

MULTI30K_SPLITS = {"train": ["101", "102", "103"], "val": ["201", "202"], "test_2016_flickr": ["301", "302"]}
GERMAN = {"en": "a dog runs", "de": "ein Hund rennt", "fr": "un chien court"}


def make_multi30k(root: Path) -> Path:
    task = root / "data" / "task1"
    for split, ids in MULTI30K_SPLITS.items():
        write_lines(task / "image_splits" / f"{split}.txt", [f"{i}.jpg" for i in ids])
        for lang, text in GERMAN.items():
            write_lines(task / "raw" / f"{split}.{lang}", [f"{text} {i}" for i in ids], compress=split == "train")
        for i in ids:
            write_image(root / "flickr30k-images" / f"{i}.jpg")
    return root


def make_karpathy(root: Path) -> Path:
    entries = []
    for imgid, (split, folder) in enumerate(
        [("train", "train2014"), ("restval", "val2014"), ("val", "val2014"), ("test", "val2014"), ("test", "val2014")]
    ):
        filename = f"COCO_{folder}_{imgid:012d}.jpg"
        write_image(root / "coco" / folder / filename)
        sentences = [{"raw": f"photo {imgid} caption {k} ", "tokens": ["photo"], "imgid": imgid} for k in range(2)]
        entries.append(
            {
                "filepath": folder,
                "filename": filename,
                "split": split,
                "imgid": imgid,
                "cocoid": imgid,
                "sentences": sentences,
            }
        )
    (root / "dataset_coco.json").write_text(json.dumps({"dataset": "coco", "images": entries}))
    return root


XTD_IMAGES = ["COCO_train2014_000000000009.jpg", "COCO_train2014_000000000025.jpg", "COCO_train2014_000000000030.jpg"]


def make_xtd10(root: Path) -> Path:
    write_lines(root / "test_image_names.txt", XTD_IMAGES)
    for lang in ("en", "de", "jp"):
        write_lines(root / f"test_1kcaptions_{lang}.txt", [f"{lang} caption {k}" for k in range(len(XTD_IMAGES))])
    for name in XTD_IMAGES:
        write_image(root / "images" / "train2014" / name)
    return root


XM_KEYS = ["000411001ff7dd4f", "0011d4d24a2d2be6", "00ca1b1bab7d6cd1"]


def make_crossmodal3600(root: Path) -> Path:
    records = []
    for n, key in enumerate(XM_KEYS):
        record = {
            "image/key": key,
            "image/locale": "sw",
            "en": {"caption": [f"en {n} a", f"en {n} b"], "caption/tokenized": ["x"]},
            "quz": {"caption": [f"quz {n}"], "caption/tokenized": ["x"]},
        }
        if n != 2:  # the last image has no Swahili caption
            record["sw"] = {"caption": [f"sw {n}"], "caption/tokenized": ["x"]}
        records.append(record)
        write_image(root / "images" / f"{key}.jpg")
    write_jsonl(root / "captions.jsonl", records)
    return root


XFC_IMAGES = ["1007129816.jpg", "COCO_val2014_000000000042.jpg"]


def make_xflickrco(root: Path) -> Path:
    for lang in ("en", "de", "ja"):
        records = [{"sentences": [f"{lang} {name}"], "id": k, "img_path": name} for k, name in enumerate(XFC_IMAGES)]
        write_jsonl(root / "annotations" / lang / "test.jsonl", records)
    write_jsonl(
        root / "annotations" / "de" / "train_10.jsonl", [{"sentences": ["nur eins"], "img_path": XFC_IMAGES[0]}]
    )
    write_image(root / "flickr30k-images" / XFC_IMAGES[0])
    write_image(root / "coco" / XFC_IMAGES[1])
    return root


VIDEOS = ["Ptf_2VRj-V0_000122_000132", "xyz_000010_000020"]


def make_vatex(root: Path, with_frames: tuple[str, ...] = tuple(VIDEOS)) -> Path:
    videos = [
        {"videoID": v, "enCap": [f"{v} en {k}" for k in range(10)], "chCap": [f"{v} zh {k}" for k in range(10)]}
        for v in VIDEOS
    ]
    (root / "vatex_training_v1.0.json").write_text(json.dumps(videos))
    (root / "vatex_validation_v1.0.json").write_text(json.dumps(videos[:1]))
    for video in with_frames:
        for k in range(1, 13):  # frame_1 ... frame_12: natural order differs from string order
            folder = root / "frames" / video
            folder.mkdir(parents=True, exist_ok=True)
            PILImage.new("RGB", (8, 8), (k * 20, 0, 0)).save(folder / f"frame_{k}.png")
    return root


def make_bitext(root: Path) -> Path:
    write_lines(root / "train.en-sw.tsv", ["a dog\tmbwa", "", "a cat\tpaka"])
    write_lines(root / "train.en-de.tsv", ["a dog\tein Hund"])
    write_lines(root / "test.en-sw.tsv", ["water\tmaji"])
    return root


# ---- loaders ------------------------------------------------------------------------------------------------------


def test_multi30k(tmp_path):
    root = make_multi30k(tmp_path)
    splits = load_multi30k(root)
    assert isinstance(splits, DatasetDict) and list(splits) == ["test", "train", "validation"]
    train = splits["train"]  # from .gz files
    assert train.num_rows == 3 * 3 and sorted(set(train["language"])) == ["de", "en", "fr"]
    for image_id in MULTI30K_SPLITS["train"]:
        rows = train.filter(lambda row, i=image_id: row["image_id"] == i)
        assert sorted(rows["language"]) == ["de", "en", "fr"]
        assert set(rows["source_caption"]) == {f"a dog runs {image_id}"}
        assert {row["language"]: row["caption"] for row in rows}["de"] == f"ein Hund rennt {image_id}"
    assert_images_match_ids(train)
    test = load_multi30k(root, split="test_2016_flickr", languages=["de"])
    assert test.num_rows == 2 and set(test["image_id"]) == {"301", "302"} and set(test["language"]) == {"de"}
    assert load_multi30k(root / "data" / "task1", image_dir=root / "flickr30k-images", split="val").num_rows == 6


def test_multi30k_errors(tmp_path):
    root = make_multi30k(tmp_path)
    with pytest.raises(ValueError, match=r"split 'test2' not found.*available splits"):
        load_multi30k(root, split="test2")
    with pytest.raises(ValueError, match=r"language\(s\) \['cs'\].*available: \['de', 'en', 'fr'\]"):
        load_multi30k(root, split="train", languages=["cs"])
    write_lines(root / "data" / "task1" / "raw" / "val.de", ["only one line"])
    with pytest.raises(ValueError, match=r"val.de has 1 lines but val.txt lists 2 images"):
        load_multi30k(root, split="val")
    (root / "flickr30k-images").rename(root / "elsewhere")
    with pytest.raises(ValueError, match="pass image_dir="):
        load_multi30k(root)


def test_karpathy(tmp_path):
    root = make_karpathy(tmp_path)
    splits = load_karpathy(root / "dataset_coco.json", image_dir=root / "coco")
    assert list(splits) == ["train", "validation", "test"]
    assert splits["train"].num_rows == 4  # restval joins train
    assert set(splits["train"]["image_id"]) == {"COCO_train2014_000000000000", "COCO_val2014_000000000001"}
    assert splits["test"].num_rows == 4 and len(set(splits["test"]["image_id"])) == 2
    assert splits["test"]["caption"][0] == "photo 3 caption 0"  # stripped
    assert splits["test"]["source_caption"] == splits["test"]["caption"]
    assert_images_match_ids(splits["test"])
    alone = load_karpathy(root, image_dir=root / "coco", split="train", restval_as_train=False)
    assert alone.num_rows == 2
    german = load_karpathy(root, image_dir=root / "coco", split="val", language="de")
    assert german["language"] == ["de", "de"] and german["source_caption"] == [None, None]
    with pytest.raises(ValueError, match=r"language='jp'.*did you mean 'ja'"):
        load_karpathy(root, split="val", language="jp")


def test_xtd10(tmp_path):
    root = make_xtd10(tmp_path)
    dataset = load_xtd10(root, image_dir=root / "images" / "train2014")
    assert dataset.num_rows == 9 and sorted(set(dataset["language"])) == ["de", "en", "ja"]  # "jp" file -> "ja"
    japanese = dataset.filter(lambda row: row["language"] == "ja")
    assert japanese["caption"] == ["jp caption 0", "jp caption 1", "jp caption 2"]
    assert japanese["source_caption"] == ["en caption 0", "en caption 1", "en caption 2"]
    assert japanese["image_id"] == [Path(name).stem for name in XTD_IMAGES]
    assert_images_match_ids(dataset)
    assert load_xtd10(root, image_dir=root / "images" / "train2014", languages=["ja"]).num_rows == 3
    with pytest.raises(ValueError, match="only a 'test' split"):
        load_xtd10(root, split="train")
    write_lines(root / "test_1kcaptions_xx.txt", ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"test_1kcaptions_xx.txt: cannot tell its language"):
        load_xtd10(root)


def test_crossmodal3600(tmp_path):
    root = make_crossmodal3600(tmp_path)
    dataset = load_crossmodal3600(root)
    assert sorted(set(dataset["language"])) == ["en", "quz", "sw"]
    assert dataset.num_rows == 3 * 2 + 3 + 2
    swahili = dataset.filter(lambda row: row["language"] == "sw")
    assert swahili["image_id"] == XM_KEYS[:2] and swahili["source_caption"] == [None, None]
    english = dataset.filter(lambda row: row["language"] == "en")
    assert english["source_caption"] == english["caption"]
    assert_images_match_ids(dataset)
    assert set(load_crossmodal3600(root, languages=["quz"])["language"]) == {"quz"}


def test_xflickrco_images_in_two_folders(tmp_path):
    root = make_xflickrco(tmp_path)
    dataset = load_xflickrco(root, image_dir=[root / "flickr30k-images", root / "coco"], split="test")
    assert dataset.num_rows == 6 and sorted(set(dataset["language"])) == ["de", "en", "ja"]
    assert sorted(set(dataset["image_id"])) == sorted(Path(name).stem for name in XFC_IMAGES)
    assert_images_match_ids(dataset)
    splits = load_xflickrco(root / "annotations", image_dir=[root / "flickr30k-images", root / "coco"], split=None)
    assert sorted(splits) == ["test", "train_10"] and splits["train_10"]["caption"] == ["nur eins"]


def test_vatex(tmp_path):
    root = make_vatex(tmp_path)
    splits = load_vatex(root, num_frames=3)
    assert sorted(splits) == ["train", "validation"]
    train = splits["train"]
    assert train.num_rows == 2 * 20 and train.features["frames"].feature.__class__.__name__ == "Image"
    chinese = train.filter(lambda row: row["language"] == "zh" and row["image_id"] == VIDEOS[0])
    assert chinese["source_caption"] == [None] * 5 + [f"{VIDEOS[0]} en {k}" for k in range(5, 10)]
    frames = train[0]["frames"]
    # frames 1, 6/7, 12 in natural order: red channel = 20 * frame number
    assert [pixel(frame)[0] for frame in frames] == [20, 20 * 7, 240]
    english_only = load_vatex(root / "vatex_training_v1.0.json", languages=["en"], split="train")
    assert set(english_only["language"]) == {"en"} and english_only.num_rows == 20


def test_bitext_tsv(tmp_path):
    root = make_bitext(tmp_path)
    dataset = load_bitext_tsv(root)
    assert dataset.num_rows == 4 and sorted(dataset["language"]) == ["de", "sw", "sw", "sw"]
    train = load_bitext_tsv(root, split="train")
    assert {(r["source"], r["target"], r["language"]) for r in train} == {
        ("a dog", "mbwa", "sw"),
        ("a cat", "paka", "sw"),
        ("a dog", "ein Hund", "de"),
    }
    assert load_bitext_tsv(root / "test.en-sw.tsv", language="swa")["language"] == ["sw"]


def test_bitext_errors(tmp_path):
    write_lines(tmp_path / "bad.en-sw.tsv", ["ok\tsawa", "one\ttwo\tthree"])
    with pytest.raises(ValueError, match=r"line 2 has 3 tab-separated field\(s\), expected 2"):
        load_bitext_tsv(tmp_path / "bad.en-sw.tsv")
    write_lines(tmp_path / "pairs.tsv", ["a\tb"])
    with pytest.raises(ValueError, match=r"target language of pairs.tsv; pass language="):
        load_bitext_tsv(tmp_path / "pairs.tsv")
    write_lines(tmp_path / "empty.en-de.tsv", ["a dog\t ", "x\ty"])
    with pytest.raises(ValueError, match=r"'target' is empty or missing in row 0"):
        load_bitext_tsv(tmp_path / "empty.en-de.tsv")


# ---- unreadable images --------------------------------------------------------------------------------------------


def test_unreadable_images_are_dropped_with_one_warning(tmp_path):
    root = make_xtd10(tmp_path)
    folder = root / "images" / "train2014"
    (folder / XTD_IMAGES[1]).write_bytes(b"not an image at all")
    (folder / XTD_IMAGES[2]).unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_xtd10(root, image_dir=folder)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "dropped 6 of 9 rows" in messages[0]
    assert set(dataset["image_id"]) == {Path(XTD_IMAGES[0]).stem} and dataset.num_rows == 3
    assert_images_match_ids(dataset)  # every remaining row decodes


def test_a_jpeg_cut_short_is_found_by_the_header_check_and_by_full_decode(tmp_path):
    good, cut = tmp_path / "good.jpg", tmp_path / "cut.jpg"
    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    dataset = Dataset.from_dict(
        {"image": [str(good), str(cut)]}, features=datasets.Features({"image": datasets.Image()})
    )
    with PILImage.open(cut) as image:
        image.verify()  # the header is intact ...
    header_check = find_unreadable_images(dataset)  # ... but the end-of-image marker is missing: decoded to be sure
    assert [row for row, _ in header_check] == [1] and "truncated" in header_check[0][1]
    bad = find_unreadable_images(dataset, decode=True)
    assert [row for row, _ in bad] == [1] and "truncated" in bad[0][1]
    with pytest.warns(UserWarning, match="dropped 1 of 2"):
        assert drop_unreadable_images(dataset, decode=True).num_rows == 1


def test_all_images_unreadable_is_an_error(tmp_path):
    root = make_crossmodal3600(tmp_path)
    expected = r"no image of the 11 rows could be read \(first: row 0: .*wrong/000411001ff7dd4f.jpg: file not found"
    with pytest.raises(ValueError, match=expected + ".*image_dir"):
        load_crossmodal3600(root, image_dir=tmp_path / "wrong")


def test_video_with_missing_frames_is_dropped(tmp_path):
    root = make_vatex(tmp_path, with_frames=(VIDEOS[0],))
    with pytest.warns(UserWarning, match=r"dropped 20 of 40 rows.*no frames"):
        train = load_vatex(root, split="train")
    assert set(train["image_id"]) == {VIDEOS[0]}


# ---- the dispatcher -----------------------------------------------------------------------------------------------

MAKERS = {
    "multi30k": (make_multi30k, {"split": "train"}),
    "karpathy": (make_karpathy, {"split": "test", "image_dir": "coco"}),
    "xtd10": (make_xtd10, {"image_dir": "images/train2014"}),
    "crossmodal3600": (make_crossmodal3600, {}),
    "xflickrco": (make_xflickrco, {"split": "test", "image_dir": ["flickr30k-images", "coco"]}),
    "vatex": (make_vatex, {"split": "validation"}),
    "bitext": (make_bitext, {}),
}


def _absolute(root: Path, kwargs: dict) -> dict:
    def fix(value):
        return [root / v for v in value] if isinstance(value, list) else root / value

    return {key: fix(value) if key.endswith("_dir") else value for key, value in kwargs.items()}


@pytest.mark.parametrize("layout", sorted(MAKERS))
def test_dispatcher_detects_each_layout(tmp_path, layout):
    make, kwargs = MAKERS[layout]
    root = make(tmp_path)
    assert detect_layout(root) == layout
    detected = load_retrieval_dataset(root, **_absolute(root, kwargs))
    named = load_retrieval_dataset(str(root), layout=layout, **_absolute(root, kwargs))
    assert isinstance(detected, Dataset) and detected.num_rows > 0
    assert detected.to_dict() == named.to_dict()


def test_save_to_disk_round_trip_keeps_pixels(tmp_path):
    root = make_karpathy(tmp_path / "src")
    original = load_retrieval_dataset(root, image_dir=root / "coco")
    original.save_to_disk(str(tmp_path / "saved"))
    original["validation"].save_to_disk(str(tmp_path / "one"))
    pixels = [np.asarray(row["image"]) for row in original["test"]]
    shutil.rmtree(root / "coco")  # the saved copy must not depend on the original files
    reloaded = load_retrieval_dataset(tmp_path / "saved")
    assert isinstance(reloaded, DatasetDict) and list(reloaded) == list(original)
    test = load_retrieval_dataset(tmp_path / "saved", split="test")
    assert test["caption"] == original["test"]["caption"] and test["image_id"] == original["test"]["image_id"]
    for row in range(test.num_rows):
        assert np.array_equal(np.asarray(test[row]["image"]), pixels[row])
        assert np.array_equal(np.asarray(reloaded["test"][row]["image"]), pixels[row])
    one_split = load_retrieval_dataset(tmp_path / "one")
    assert isinstance(one_split, Dataset) and one_split["caption"] == original["validation"]["caption"]


def test_dispatcher_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist; check the path"):
        load_retrieval_dataset(tmp_path / "missing" / "folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"neither a save_to_disk folder nor a known layout; pass layout="):
        load_retrieval_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"unknown layout 'flickr'; use one of"):
        load_retrieval_dataset(tmp_path / "empty", layout="flickr")
    both = make_bitext(make_crossmodal3600(tmp_path / "both"))
    with pytest.raises(ValueError, match=r"fits several layouts \['crossmodal3600', 'bitext'\]; pass layout="):
        load_retrieval_dataset(both)
    assert set(load_retrieval_dataset(both, layout="xm3600")["language"]) == {"en", "quz", "sw"}
    with pytest.raises(ValueError, match=r"layout 'bitext'.*it accepts \['language', 'split', 'encoding'\]"):
        load_retrieval_dataset(both, layout="bitext", image_dir="x")


@pytest.mark.skipif(not datasets.config.HF_HUB_OFFLINE, reason="checks the offline message; run with HF_HUB_OFFLINE=1")
def test_hub_id_offline_message():
    with pytest.raises(ValueError, match=r"'someone/some-dataset'.*HF_HUB_OFFLINE.*save_to_disk"):
        load_retrieval_dataset("someone/some-dataset", split="test")


def test_embedded_builtin():
    embedded = pytest.importorskip("babelclip.trainers.data.embedded")
    small = {"num_train_images": 8, "num_validation_images": 4, "num_test_images": 4, "num_bitext_pairs": 8}
    expected = embedded.build_embedded_dataset(seed=3, **small)
    test = load_retrieval_dataset("embedded", split="test", seed=3, **small)
    assert test.num_rows == expected["test"].num_rows and test["caption"] == expected["test"]["caption"]
    every_split = load_retrieval_dataset("embedded", seed=3, **small)
    assert isinstance(every_split, DatasetDict) and "bitext" in every_split
