"""Search: exact top-k against a brute-force numpy ranking (ties included), FAISS against exact, gallery encoding and
save/load, the `scripts/search.py` CLI on the embedded dataset with a saved tiny student, and the error messages."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset, Features, Sequence, Value

from babelclip.trainers.search import (
    GallerySearcher,
    build_faiss_index,
    encode_caption_gallery,
    encode_gallery,
    encode_texts,
    exact_search,
    gallery_kind,
    load_gallery,
)
from babelclip.trainers.search import index as search_index
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "search.py"


@pytest.fixture(autouse=True)
def _quiet_datasets():
    datasets.disable_progress_bars()


def brute_force_topk(gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: every score, then a full lexicographic sort (score descending, then row ascending)."""
    scores = queries @ gallery.T
    order = np.stack([np.lexsort((np.arange(gallery.shape[0]), -row)) for row in scores])[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


def image_gallery(embeddings: np.ndarray) -> Dataset:
    """An image gallery made of given vectors (ids "img-<row>")."""
    features = Features(
        {"image_id": Value("string"), "embedding": Sequence(Value("float32"), length=embeddings.shape[1])}
    )
    return Dataset.from_dict(
        {"image_id": [f"img-{row}" for row in range(len(embeddings))], "embedding": embeddings}, features=features
    )


def random_unit_vectors(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------------------------------------
# Exact search
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [None, 1, 3, 7, 1000])
@pytest.mark.parametrize("k", [1, 4, 10, 57])
def test_exact_search_matches_brute_force_with_ties(chunk_size, k):
    # Entries in {-1, 0, 1}: every dot product is a small integer, computed exactly, so ties are everywhere
    # (including at the k-th place) and both sides see the very same scores.
    rng = np.random.default_rng(k)
    gallery = rng.integers(-1, 2, size=(57, 6)).astype(np.float32)
    gallery[30:40] = gallery[0]  # exact duplicates of one row, spread over several chunks
    queries = rng.integers(-1, 2, size=(9, 6)).astype(np.float32)
    expected_scores, expected_indices = brute_force_topk(gallery, queries, k)

    scores, indices = exact_search(torch.from_numpy(gallery), torch.from_numpy(queries), k, chunk_size)

    np.testing.assert_array_equal(indices.numpy(), expected_indices)
    np.testing.assert_array_equal(scores.numpy(), expected_scores)


def test_exact_search_query_blocks(monkeypatch):
    # Many queries go in blocks; shrink the block so that this small case crosses several of them.
    monkeypatch.setattr(search_index, "_MAX_QUERY_BLOCK", 4)
    gallery, queries = random_unit_vectors(40, 8, seed=0), random_unit_vectors(11, 8, seed=1)
    _, expected = brute_force_topk(gallery, queries, 5)
    _, indices = exact_search(torch.from_numpy(gallery), torch.from_numpy(queries), 5, chunk_size=6)
    np.testing.assert_array_equal(indices.numpy(), expected)


def test_searcher_returns_whole_gallery_when_k_exceeds_it():
    gallery = random_unit_vectors(5, 4, seed=2)
    _, indices = GallerySearcher(image_gallery(gallery)).search_embeddings(gallery[:2], k=50)
    assert indices.shape == (2, 5)
    assert indices[:, 0].tolist() == [0, 1]  # each vector finds itself first
    assert sorted(indices[0].tolist()) == list(range(5))


# ----------------------------------------------------------------------------------------------------------------------
# FAISS against exact
# ----------------------------------------------------------------------------------------------------------------------


def test_faiss_flat_matches_exact_on_random_vectors():
    gallery, queries = random_unit_vectors(300, 32, seed=3), random_unit_vectors(25, 32, seed=4)
    exact = GallerySearcher(image_gallery(gallery))
    flat = GallerySearcher(image_gallery(gallery), index="faiss")
    exact_scores, exact_indices = exact.search_embeddings(queries, k=10)
    faiss_scores, faiss_indices = flat.search_embeddings(queries, k=10)
    torch.testing.assert_close(faiss_indices, exact_indices, rtol=0, atol=0)
    torch.testing.assert_close(faiss_scores, exact_scores, rtol=0, atol=1e-5)
    _, expected = brute_force_topk(gallery, queries, 10)
    np.testing.assert_array_equal(exact_indices.numpy(), expected)


def test_faiss_ivf_scanning_every_cell_is_exact_and_hnsw_recalls_on_a_small_gallery():
    gallery, queries = random_unit_vectors(400, 16, seed=5), random_unit_vectors(20, 16, seed=6)
    _, expected = brute_force_topk(gallery, queries, 10)
    ivf = GallerySearcher(image_gallery(gallery), index="faiss-ivf", nlist=8, nprobe=8)
    assert ivf._faiss_index.nlist == 8
    np.testing.assert_array_equal(ivf.search_embeddings(queries, k=10)[1].numpy(), expected)
    hnsw = GallerySearcher(image_gallery(gallery), index="faiss-hnsw", ef_search=128)
    found = hnsw.search_embeddings(queries, k=10)[1].numpy()
    recall = np.mean([len(set(row) & set(ref)) / 10 for row, ref in zip(found, expected, strict=True)])
    assert recall >= 0.95


def test_faiss_ivf_cells_are_capped_by_the_gallery_size():
    # 100 vectors cannot train 4*sqrt(100)=40 cells with >= 39 points each: the index falls back to 2 cells.
    index = build_faiss_index(random_unit_vectors(100, 8, seed=7), "faiss-ivf")
    assert index.nlist == 2 and index.ntotal == 100


# ----------------------------------------------------------------------------------------------------------------------
# Galleries from a real tiny model
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student_and_processor():
    return tiny_student(seed=0), tiny_processor()


@pytest.fixture(scope="module")
def test_split():
    return tiny_dataset()["test"]


def reference_image_embeddings(model, processor, dataset) -> tuple[list[str], torch.Tensor]:
    """Unique images in first-seen order, encoded in one batch straight through the model."""
    first_rows = {}
    for row, image_id in enumerate(dataset["image_id"]):
        first_rows.setdefault(image_id, row)
    images = [dataset[row]["image"].convert("RGB") for row in first_rows.values()]
    with torch.no_grad():
        embeds = model.get_image_features(pixel_values=processor(images=images)["pixel_values"])
    return list(first_rows), F.normalize(embeds, dim=-1)


def test_image_gallery_has_one_normalised_row_per_image(student_and_processor, test_split):
    model, processor = student_and_processor
    gallery = encode_gallery(model, processor, test_split, batch_size=3, show_progress=False)
    image_ids, expected = reference_image_embeddings(model, processor, test_split)
    assert gallery_kind(gallery) == "image"
    assert gallery["image_id"] == image_ids
    embeddings = torch.tensor(gallery["embedding"])
    torch.testing.assert_close(embeddings, expected, rtol=0, atol=1e-5)
    for image_id, captions, languages in zip(
        gallery["image_id"], gallery["captions"], gallery["caption_languages"], strict=True
    ):
        rows = [
            row for row in test_split.select_columns(["image_id", "caption", "language"]) if row["image_id"] == image_id
        ]
        assert captions == [row["caption"] for row in rows]
        assert languages == [row["language"] for row in rows]


def test_gallery_save_load_round_trip(student_and_processor, test_split, tmp_path):
    model, processor = student_and_processor
    gallery = encode_gallery(model, processor, test_split, output_dir=tmp_path / "gallery", show_progress=False)
    loaded = load_gallery(tmp_path / "gallery")
    assert loaded.features == gallery.features
    assert loaded["image_id"] == gallery["image_id"] and loaded["captions"] == gallery["captions"]
    assert np.array_equal(np.array(loaded["embedding"]), np.array(gallery["embedding"]))
    assert [path.name for path in tmp_path.iterdir()] == ["gallery"]  # no staging folder left behind


def test_gallery_write_is_atomic(student_and_processor, test_split, tmp_path, monkeypatch):
    model, processor = student_and_processor
    target = tmp_path / "gallery"
    first = encode_gallery(model, processor, test_split, output_dir=target, show_progress=False)
    with pytest.raises(ValueError, match=r"already exists.*overwrite=True"):
        # No model at all: the folder is checked before any encoding work.
        encode_gallery(None, None, test_split, output_dir=target, show_progress=False)

    def crash(self, path, *args, **kwargs):
        Path(path, "half-written.arrow").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Dataset, "save_to_disk", crash)
    with pytest.raises(OSError, match="disk full"):
        encode_caption_gallery(model, processor, test_split, output_dir=target, overwrite=True, show_progress=False)
    monkeypatch.undo()
    # The crash left the previous gallery intact and no partial folder.
    assert [path.name for path in tmp_path.iterdir()] == ["gallery"]
    assert load_gallery(target)["embedding"] == first["embedding"]

    captions = encode_caption_gallery(
        model, processor, test_split, output_dir=target, overwrite=True, show_progress=False
    )
    assert gallery_kind(load_gallery(target)) == "text" and len(load_gallery(target)) == len(captions)
    assert [path.name for path in tmp_path.iterdir()] == ["gallery"]


def test_text_search_matches_brute_force_and_faiss(student_and_processor, test_split):
    model, processor = student_and_processor
    gallery = encode_gallery(model, processor, test_split, show_progress=False)
    queries = list(test_split["caption"][:12])  # several languages
    exact = GallerySearcher(gallery).search_text(model, processor, queries, k=4)
    with_faiss = GallerySearcher(gallery, index="faiss").search_text(model, processor, queries, k=4)
    assert [[key for key, _ in hits] for hits in with_faiss] == [[key for key, _ in hits] for hits in exact]
    for exact_hits, faiss_hits in zip(exact, with_faiss, strict=True):
        assert [score for _, score in faiss_hits] == pytest.approx([score for _, score in exact_hits], abs=1e-5)

    image_ids, image_embeds = reference_image_embeddings(model, processor, test_split)
    tokens = processor(text=queries, max_length=64)  # search's default truncation (as in evaluation)
    with torch.no_grad():
        text_embeds = F.normalize(model.get_text_features(**tokens), dim=-1)
    scores = (text_embeds @ image_embeds.T).numpy()
    for query_scores, hits in zip(scores, exact, strict=True):
        order = np.lexsort((np.arange(len(image_ids)), -query_scores))[:4]
        assert [key for key, _ in hits] == [image_ids[i] for i in order]
        assert [score for _, score in hits] == pytest.approx(query_scores[order].tolist(), abs=1e-5)


def test_image_queries_against_caption_gallery(student_and_processor, test_split, tmp_path):
    model, processor = student_and_processor
    captions = encode_caption_gallery(model, processor, test_split, show_progress=False)
    assert len(captions) == len(test_split) and gallery_kind(captions) == "text"
    image = test_split[0]["image"]
    image.save(tmp_path / "query.png")
    searcher = GallerySearcher(captions)
    from_pil = searcher.search_image(model, processor, [image], k=5)
    from_path = searcher.search_image(model, processor, [tmp_path / "query.png"], k=5)
    assert len(from_pil[0]) == 5 and from_pil == from_path
    assert all(caption in set(test_split["caption"]) for caption, _ in from_pil[0])
    assert [score for _, score in from_pil[0]] == sorted((score for _, score in from_pil[0]), reverse=True)


# ----------------------------------------------------------------------------------------------------------------------
# The CLI
# ----------------------------------------------------------------------------------------------------------------------


def load_cli():
    spec = importlib.util.spec_from_file_location("babelclip_search_cli", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, student_and_processor, test_split):
    root = tmp_path_factory.mktemp("search_cli")
    model, processor = student_and_processor
    model.save_pretrained(root / "student")
    processor.save_pretrained(root / "student")
    test_split.save_to_disk(str(root / "data"))
    return root


def test_cli_encode_and_query(saved_run, student_and_processor, capsys):
    cli = load_cli()
    root = saved_run
    assert cli.main(["encode", "--model", str(root / "student"), "--dataset", str(root / "data"),
                     "--split", "test", "--output", str(root / "gallery"), "--no-progress"]) == 0  # fmt: skip
    assert "wrote 8 rows (image gallery) to" in capsys.readouterr().out

    texts = ["a large black star on the right", "ein großer schwarzer Stern rechts"]
    query = ["query", "--model", str(root / "student"), "--gallery", str(root / "gallery"), "-k", "3"]
    query += [argument for text in texts for argument in ("--text", text)]
    assert cli.main([*query, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [result["query"] for result in results] == texts
    assert all(len(result["results"]) == 3 for result in results)
    assert [hit["rank"] for hit in results[0]["results"]] == [1, 2, 3]

    # The same ranking as the API with the in-memory model, and as FAISS.
    model, processor = student_and_processor
    expected = GallerySearcher(load_gallery(root / "gallery")).search_text(model, processor, texts, k=3)
    assert [[hit["image_id"] for hit in result["results"]] for result in results] == [
        [key for key, _ in hits] for hits in expected
    ]
    assert cli.main([*query, "--json", "--index", "faiss"]) == 0
    with_faiss = json.loads(capsys.readouterr().out)
    assert [[h["image_id"] for h in r["results"]] for r in with_faiss] == [
        [h["image_id"] for h in r["results"]] for r in results
    ]

    assert cli.main(query) == 0
    table = capsys.readouterr().out
    assert "text query: ein großer schwarzer Stern rechts" in table
    assert table.count("\n  1  ") == 2 and results[0]["results"][0]["image_id"] in table


def test_cli_image_query_on_caption_gallery(saved_run, test_split, capsys):
    cli = load_cli()
    root = saved_run
    assert cli.main(["encode", "--model", str(root / "student"), "--dataset", str(root / "data"), "--kind", "text",
                     "--output", str(root / "captions"), "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    test_split[3]["image"].save(root / "query.png")
    assert cli.main(["query", "--model", str(root / "student"), "--gallery", str(root / "captions"),
                     "--image", str(root / "query.png"), "-k", "5", "--json"]) == 0  # fmt: skip
    [result] = json.loads(capsys.readouterr().out)
    assert result["type"] == "image" and len(result["results"]) == 5
    assert {"caption", "language", "image_id"} <= set(result["results"][0])


def test_cli_query_through_a_language_adapter(saved_run, student_and_processor, test_split, capsys):
    from peft import LoraConfig, get_peft_model

    model, processor = student_and_processor
    root = saved_run
    encode_gallery(model, processor, test_split, output_dir=root / "base_gallery", show_progress=False)
    torch.manual_seed(0)
    # Non-zero LoRA weights, so that the adapter really changes the text embeddings.
    config = LoraConfig(r=4, target_modules=r".*text_model.*\.(query|value)$", init_lora_weights=False)
    adapted = get_peft_model(copy.deepcopy(model), config)
    adapted.save_pretrained(root / "adapter")
    texts = ["yon gwo zetwal nwa sou bò dwat", "he whetū pango nui ki te taha matau"]
    gallery = GallerySearcher(load_gallery(root / "base_gallery"))
    expected = gallery.search_text(adapted, processor, texts, k=8)
    assert expected != gallery.search_text(model, processor, texts, k=8)

    cli = load_cli()
    query = ["query", "--model", str(root / "student"), "--adapter", str(root / "adapter"), "-k", "8", "--json"]
    assert cli.main([*query, "--gallery", str(root / "base_gallery"), "--text", texts[0], "--text", texts[1]]) == 0
    results = json.loads(capsys.readouterr().out)
    for result, hits in zip(results, expected, strict=True):
        assert [hit["image_id"] for hit in result["results"]] == [key for key, _ in hits]
        assert [hit["score"] for hit in result["results"]] == pytest.approx([score for _, score in hits], abs=1e-5)


def test_cli_reports_bad_input(saved_run, capsys):
    cli = load_cli()
    root = saved_run
    base = ["query", "--model", str(root / "student"), "--gallery", str(root / "gallery")]
    assert cli.main(base) == 2
    assert "pass at least one --text or --image" in capsys.readouterr().err
    assert cli.main([*base, "--text", "x", "-k", "0"]) == 2
    assert "`k`=0: must be a positive integer" in capsys.readouterr().err
    assert cli.main([*base[:4], str(root / "missing"), "--text", "x"]) == 2
    assert "No gallery at" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -3, True, 2.0])
def test_k_must_be_a_positive_integer(k):
    searcher = GallerySearcher(image_gallery(random_unit_vectors(4, 3, seed=0)))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        searcher.search_embeddings(random_unit_vectors(1, 3, seed=1), k=k)


def test_empty_gallery_is_rejected():
    with pytest.raises(ValueError, match="gallery is empty"):
        GallerySearcher(image_gallery(np.zeros((0, 4), dtype=np.float32)))


def test_dimension_mismatch_is_rejected(student_and_processor):
    model, processor = student_and_processor
    searcher = GallerySearcher(image_gallery(random_unit_vectors(4, 7, seed=0)))
    with pytest.raises(ValueError, match=r"do not match the gallery.s 7-d embeddings.*model that encoded the gallery"):
        searcher.search_embeddings(random_unit_vectors(2, 5, seed=1))
    with pytest.raises(ValueError, match="do not match the gallery's 7-d"):
        searcher.search_text(model, processor, ["a red circle"])
    assert encode_texts(model, processor, ["a red circle"]).shape[1] != 7


def test_missing_faiss_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "babelclip\[faiss\]"'):
        GallerySearcher(image_gallery(random_unit_vectors(4, 3, seed=0)), index="faiss")
    # The exact index needs nothing extra.
    GallerySearcher(image_gallery(random_unit_vectors(4, 3, seed=0))).search_embeddings(np.ones((1, 3)), k=2)


def test_other_bad_input(student_and_processor, tmp_path):
    model, processor = student_and_processor
    gallery = image_gallery(random_unit_vectors(4, 3, seed=0))
    with pytest.raises(ValueError, match="Unknown index 'annoy'"):
        GallerySearcher(gallery, index="annoy")
    with pytest.raises(ValueError, match="only apply to FAISS"):
        GallerySearcher(gallery, nprobe=4)
    with pytest.raises(ValueError, match="Not a babelclip gallery"):
        GallerySearcher(Dataset.from_dict({"text": ["a"]}))
    with pytest.raises(ValueError, match="bitext dataset has no images"):
        encode_gallery(model, processor, tiny_dataset()["bitext"], show_progress=False)
    with pytest.raises(ValueError, match="kind='video' is not a gallery kind"):
        encode_gallery(model, processor, tiny_dataset()["test"], kind="video")
    with pytest.raises(ValueError, match="wrap a single query"):
        GallerySearcher(gallery).search_text(model, processor, "a red circle")
    with pytest.raises(ValueError, match="does not exist"):
        GallerySearcher(gallery).search_image(model, processor, [tmp_path / "nope.png"])
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="Cannot read query image"):
        GallerySearcher(gallery).search_image(model, processor, [tmp_path / "broken.png"])


def test_searcher_follows_a_selected_gallery():
    # select() leaves an indices mapping over the Arrow table: keys and vectors must both follow it.
    vectors = random_unit_vectors(6, 4, seed=8)
    searcher = GallerySearcher(image_gallery(vectors).select([5, 3, 1]))
    assert searcher.keys == ["img-5", "img-3", "img-1"]
    np.testing.assert_array_equal(searcher.embeddings.numpy(), vectors[[5, 3, 1]])
    assert searcher.search_embeddings(vectors[3:4], k=1)[1].tolist() == [[1]]
