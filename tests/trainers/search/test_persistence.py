"""FAISS indexes saved beside their gallery (built once, read back after, rebuilt when the index type, its build
options or the gallery change) and one result per image, through the API and the `babelclip search` command."""

from __future__ import annotations

import json
import logging

import datasets
import numpy as np
import pytest
import torch
from datasets import Dataset, Features, Sequence, Value

from babelclip.trainers.cli.main import main
from babelclip.trainers.search import INDEX_FOLDER, GallerySearcher, load_gallery, save_gallery
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student

pytest.importorskip("faiss")


@pytest.fixture(autouse=True)
def _quiet_datasets():
    datasets.disable_progress_bars()


def unit_vectors(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def gallery_of(vectors: np.ndarray, image_ids: list[str] | None = None) -> Dataset:
    features = Features({"image_id": Value("string"), "embedding": Sequence(Value("float32"), length=vectors.shape[1])})
    ids = image_ids or [f"img-{row}" for row in range(len(vectors))]
    return Dataset.from_dict({"image_id": ids, "embedding": vectors}, features=features)


def file_identity(path) -> tuple[int, int]:
    status = path.stat()
    return status.st_ino, status.st_mtime_ns


@pytest.fixture
def saved_gallery(tmp_path):
    folder = tmp_path / "gallery"
    save_gallery(gallery_of(unit_vectors(300, 16, seed=0)), folder)
    return folder


def test_the_first_searcher_builds_and_saves_the_index_and_the_second_reads_it_back(saved_gallery):
    queries = unit_vectors(5, 16, seed=1)
    first = GallerySearcher(saved_gallery, index="faiss-hnsw")
    assert first.index_built and first.index_path.is_file()
    assert first.index_path.parent == saved_gallery / INDEX_FOLDER
    note = json.loads(first.index_path.with_suffix(".json").read_text())
    assert note["index"] == "faiss-hnsw" and note["rows"] == 300 and note["dim"] == 16
    assert note["build_options"] == {"hnsw_m": 32, "ef_construction": 80}
    identity = file_identity(first.index_path)

    second = GallerySearcher(saved_gallery, index="faiss-hnsw")
    assert not second.index_built and second.index_path == first.index_path
    assert file_identity(second.index_path) == identity  # not written again
    pairs = zip(second.search_embeddings(queries, k=7), first.search_embeddings(queries, k=7), strict=True)
    for found, expected in pairs:
        assert torch.equal(found, expected)
    # A gallery Dataset read with load_gallery finds the same index in its folder.
    assert not GallerySearcher(load_gallery(saved_gallery), index="faiss-hnsw").index_built


def test_build_options_key_the_index_and_search_options_do_not(saved_gallery):
    default = GallerySearcher(saved_gallery, index="faiss-hnsw")
    other_m = GallerySearcher(saved_gallery, index="faiss-hnsw", hnsw_m=8)
    assert other_m.index_built and other_m.index_path != default.index_path
    wider = GallerySearcher(saved_gallery, index="faiss-hnsw", ef_search=200)
    assert not wider.index_built and wider.index_path == default.index_path
    assert wider._faiss_index.hnsw.efSearch == 200
    ivf = GallerySearcher(saved_gallery, index="faiss-ivf", nprobe=2)
    assert ivf.index_built and ivf._faiss_index.nprobe == 2
    assert not GallerySearcher(saved_gallery, index="faiss-ivf", nprobe=5).index_built
    assert len(list((saved_gallery / INDEX_FOLDER).glob("*.faiss"))) == 3
    with pytest.raises(ValueError, match=r"\['nprobe'\] do not apply to index='faiss-hnsw'"):
        GallerySearcher(saved_gallery, index="faiss-hnsw", nprobe=4)


def test_a_re_encoded_gallery_gets_a_new_index(saved_gallery):
    old = GallerySearcher(saved_gallery, index="faiss")
    save_gallery(gallery_of(unit_vectors(300, 16, seed=5)), saved_gallery, overwrite=True)
    new = GallerySearcher(saved_gallery, index="faiss")
    assert new.index_built and new.index_path != old.index_path
    assert not old.index_path.exists()  # the overwrite replaced the gallery folder, its indexes with it
    assert new.search_embeddings(new.embeddings[7:8], k=1)[1].tolist() == [[7]]


def test_an_unreadable_index_file_is_rebuilt_with_a_warning(saved_gallery, caplog):
    path = GallerySearcher(saved_gallery, index="faiss").index_path
    path.write_bytes(b"not a FAISS index")
    with caplog.at_level(logging.WARNING, logger="babelclip"):
        rebuilt = GallerySearcher(saved_gallery, index="faiss")
    assert rebuilt.index_built and "Cannot read the saved index" in caplog.text
    assert not GallerySearcher(saved_gallery, index="faiss").index_built


def test_in_memory_galleries_and_save_index_false_write_nothing(saved_gallery, tmp_path):
    in_memory = GallerySearcher(gallery_of(unit_vectors(50, 8, seed=2)), index="faiss")
    assert in_memory.index_built and in_memory.index_path is None
    not_saved = GallerySearcher(saved_gallery, index="faiss", save_index=False)
    assert not_saved.index_path is None and not (saved_gallery / INDEX_FOLDER).exists()
    elsewhere = GallerySearcher(gallery_of(unit_vectors(50, 8, seed=2)), index="faiss", index_dir=tmp_path / "idx")
    assert elsewhere.index_path.parent == tmp_path / "idx" / INDEX_FOLDER
    again = GallerySearcher(gallery_of(unit_vectors(50, 8, seed=2)), index="faiss", index_dir=tmp_path / "idx")
    assert not again.index_built  # from_dict of the same rows: the same fingerprint


def best_row_per_image(vectors: np.ndarray, image_ids: list[str], query: np.ndarray, k: int) -> list[int]:
    """Reference: every score, each image's best row (lowest row among ties), images by score then row."""
    scores = vectors @ query
    best: dict[str, int] = {}
    for row in np.lexsort((np.arange(len(scores)), -scores)):
        best.setdefault(image_ids[row], int(row))
    return sorted(best.values(), key=lambda row: (-scores[row], row))[:k]


@pytest.mark.parametrize("index", ["exact", "faiss"])
def test_unique_images_keeps_each_image_s_best_row(index):
    # 6 images x 5 near-identical rows: the top 5 rows are one image's, so k=3 images needs more than 3 rows.
    centres = unit_vectors(6, 12, seed=3)
    noise = 0.01 * np.random.default_rng(4).standard_normal((30, 12)).astype(np.float32)
    vectors = np.repeat(centres, 5, axis=0) + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    image_ids = [f"img-{row // 5}" for row in range(30)]
    searcher = GallerySearcher(gallery_of(vectors, image_ids), index=index)
    queries = unit_vectors(4, 12, seed=5)
    scores, indices = searcher.search_embeddings(queries, k=3, unique_images=True)
    for query, row_scores, row_indices in zip(queries, scores, indices, strict=True):
        assert row_indices.tolist() == best_row_per_image(vectors, image_ids, query, 3)
        np.testing.assert_allclose(row_scores.numpy(), vectors[row_indices.numpy()] @ query, rtol=1e-5)
    all_rows = searcher.search_embeddings(queries, k=3)[1]
    assert any(len({image_ids[i] for i in row}) < 3 for row in all_rows.tolist())
    assert searcher.search_embeddings(queries, k=50, unique_images=True)[1].shape == (4, 6)  # all 6 images


# ---- the command ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("persisted_search")
    model, processor = tiny_student(seed=0), tiny_processor()
    model.save_pretrained(root / "student")
    processor.save_pretrained(root / "student")
    tiny_dataset()["test"].save_to_disk(str(root / "data"))
    return root


def encode(root, output: str, *flags: str) -> list[str]:
    return ["search", "encode", "--model", str(root / "student"), "--dataset", str(root / "data"), "--output",
            str(root / output), "--no_progress", *flags]  # fmt: skip


def test_a_second_query_reads_the_index_the_first_one_built(saved_run, capsys, caplog):
    root = saved_run
    assert main(encode(root, "gallery")) == 0
    capsys.readouterr()
    query = ["search", "query", "--model", str(root / "student"), "--gallery", str(root / "gallery"), "--json",
             "--index", "faiss-hnsw", "--text", "a large black star on the right", "-k", "3"]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="babelclip"):
        assert main(query) == 0
    first = json.loads(capsys.readouterr().out)
    assert "Built the faiss-hnsw index over 8 rows and saved it to" in caplog.text
    [path] = (root / "gallery" / INDEX_FOLDER).glob("*.faiss")
    identity = file_identity(path)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="babelclip"):
        assert main(query) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert f"Loaded the faiss-hnsw index from {path}" in caplog.text and "Built" not in caplog.text
    assert [path] == list((root / "gallery" / INDEX_FOLDER).glob("*.faiss")) and file_identity(path) == identity


def test_encode_with_an_index_builds_it_for_every_query(saved_run, capsys, caplog):
    root = saved_run
    assert main(encode(root, "gallery_ivf", "--index", "faiss-ivf", "--nlist", "2")) == 0
    assert "wrote 8 rows (image gallery)" in capsys.readouterr().out
    [path] = (root / "gallery_ivf" / INDEX_FOLDER).glob("faiss-ivf-*.faiss")
    with caplog.at_level(logging.INFO, logger="babelclip"):
        query = ["search", "query", "--model", str(root / "student"), "--gallery", str(root / "gallery_ivf"),
                 "--index", "faiss-ivf", "--nlist", "2", "--nprobe", "2", "--text", "x", "-k", "2"]  # fmt: skip
        assert main(query) == 0
    assert f"Loaded the faiss-ivf index from {path}" in caplog.text


def test_caption_gallery_results_are_one_per_image_unless_turned_off(saved_run, capsys):
    root = saved_run
    assert main(encode(root, "captions", "--kind", "text")) == 0
    capsys.readouterr()
    tiny_dataset()["test"][3]["image"].save(root / "query.png")
    query = ["search", "query", "--model", str(root / "student"), "--gallery", str(root / "captions"),
             "--image", str(root / "query.png"), "-k", "5", "--json"]  # fmt: skip
    assert main(query) == 0
    [result] = json.loads(capsys.readouterr().out)
    image_ids = [hit["image_id"] for hit in result["results"]]
    assert len(image_ids) == 5 and len(set(image_ids)) == 5

    gallery = load_gallery(root / "captions")
    vectors = np.asarray(gallery["embedding"], dtype=np.float32)
    from babelclip.trainers.search import encode_images

    model, processor = tiny_student(seed=0), tiny_processor()
    query_vector = encode_images(model, processor, [root / "query.png"])[0].numpy()
    expected = best_row_per_image(vectors, gallery["image_id"], query_vector, 5)
    assert [hit["index"] for hit in result["results"]] == expected

    assert main([*query, "--no_unique_images", "-k", "20"]) == 0
    [every] = json.loads(capsys.readouterr().out)
    assert len({hit["image_id"] for hit in every["results"]}) < 20  # 8 images: captions of one image repeat
