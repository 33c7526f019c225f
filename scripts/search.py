"""Multilingual search from the command line: encode a gallery once, then query it in any language.

    # one row per test image of a dataset (a save_to_disk folder, a standard layout, a Hub id or "embedded")
    python scripts/search.py encode --model path/to/student --dataset embedded --split test --output gallery/

    # text queries in any language -> top-k images; add --json for machine-readable output
    python scripts/search.py query --model path/to/student --gallery gallery/ --text "ein roter Kreis" -k 5

    # image queries need a caption gallery (--kind text): top-k captions
    python scripts/search.py encode --model path/to/student --dataset embedded --kind text --output captions/
    python scripts/search.py query --model path/to/student --gallery captions/ --image photo.png -k 5

    # large galleries: FAISS (pip install "babelclip[faiss]"); faiss = exact, faiss-hnsw / faiss-ivf = approximate
    python scripts/search.py query ... --index faiss-hnsw

    # a language the base model never saw with images: queries through its LoRA adapter (scripts/adapt_language.py)
    python scripts/search.py query --model path/to/student --adapter path/to/adapter-yo --gallery gallery/ --text "..."

Everything runs offline: the model and the processor are read from `--model` (a folder written by `save_pretrained`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

RESULT_CAPTION_WIDTH = 70


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    encode = commands.add_parser("encode", help="encode a dataset split into a gallery folder")
    encode.add_argument("--model", required=True, help="student checkpoint folder (with its processor)")
    encode.add_argument("--adapter", default=None, help="a LoRA language adapter to load on top of --model")
    encode.add_argument("--dataset", required=True, help='"embedded", a save_to_disk folder, a layout folder or Hub id')
    encode.add_argument("--split", default="test", help="split to encode (default: test)")
    encode.add_argument("--layout", default=None, help="layout of a local dataset folder when it is not detected")
    encode.add_argument("--output", required=True, help="gallery folder to write (atomically)")
    encode.add_argument(
        "--kind", choices=("image", "text"), default="image", help="image: one row per image; text: one per caption"
    )
    encode.add_argument("--batch-size", type=int, default=64)
    encode.add_argument("--max-length", type=int, default=64, help="tokenizer truncation (text galleries)")
    encode.add_argument("--overwrite", action="store_true", help="replace an existing gallery folder")
    encode.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    encode.add_argument("--no-progress", action="store_true", help="no progress bar")

    query = commands.add_parser("query", help="search a gallery with text and/or image queries")
    query.add_argument("--model", required=True, help="the checkpoint that encoded the gallery")
    query.add_argument(
        "--adapter", default=None, help="a LoRA language adapter on --model (for queries in its language)"
    )
    query.add_argument("--gallery", required=True, help="gallery folder written by `encode`")
    query.add_argument("--text", action="append", default=[], help="a text query (repeat for several)")
    query.add_argument("--image", action="append", default=[], help="an image file query (repeat for several)")
    query.add_argument("-k", "--top-k", dest="k", type=int, default=5, help="results per query (default: 5)")
    query.add_argument("--index", default="exact", help="exact (default), faiss, faiss-hnsw or faiss-ivf")
    query.add_argument("--batch-size", type=int, default=64)
    query.add_argument("--max-length", type=int, default=64)
    query.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    query.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _load_model(args: argparse.Namespace):
    import torch

    from babelclip.trainers.evaluation_run import load_model_and_processor

    model, processor = load_model_and_processor(args.model, args.adapter)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device), processor


def _encode(args: argparse.Namespace) -> dict:
    from babelclip.trainers.data import load_retrieval_dataset
    from babelclip.trainers.search import encode_gallery

    dataset = load_retrieval_dataset(args.dataset, split=args.split, layout=args.layout)
    model, processor = _load_model(args)
    gallery = encode_gallery(
        model,
        processor,
        dataset,
        batch_size=args.batch_size,
        output_dir=args.output,
        kind=args.kind,
        max_length=args.max_length,
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
    )
    return {"gallery": str(Path(args.output).resolve()), "kind": args.kind, "rows": len(gallery)}


def _describe_rows(gallery, kind: str, indices: list[int]) -> list[dict]:
    """Display fields of the gallery rows at `indices`: id and first caption (image gallery) or caption + language."""
    rows = gallery.select_columns([name for name in gallery.column_names if name != "embedding"])[indices]
    if kind == "text":
        return [
            {"image_id": image_id, "caption": caption, "language": language}
            for image_id, caption, language in zip(rows["image_id"], rows["caption"], rows["language"], strict=True)
        ]
    captions = rows.get("captions", [[] for _ in indices])
    return [
        {"image_id": image_id, "caption": row_captions[0] if row_captions else ""}
        for image_id, row_captions in zip(rows["image_id"], captions, strict=True)
    ]


def _query(args: argparse.Namespace) -> list[dict]:
    import torch

    from babelclip.trainers.search import GallerySearcher, encode_images, encode_texts

    if not args.text and not args.image:
        raise ValueError("Nothing to search for: pass at least one --text or --image query.")
    if args.k < 1:
        raise ValueError(f"-k must be a positive integer, got {args.k}.")
    searcher = GallerySearcher(args.gallery, index=args.index)
    model, processor = _load_model(args)
    embeddings, queries = [], []
    if args.text:
        embeddings.append(encode_texts(model, processor, args.text, args.batch_size, args.max_length))
        queries += [{"query": text, "type": "text"} for text in args.text]
    if args.image:
        embeddings.append(encode_images(model, processor, args.image, args.batch_size))
        queries += [{"query": path, "type": "image"} for path in args.image]
    scores, indices = searcher.search_embeddings(torch.cat(embeddings), args.k)
    for query, row_scores, row_indices in zip(queries, scores.tolist(), indices.tolist(), strict=True):
        found = [(score, index) for score, index in zip(row_scores, row_indices, strict=True) if index >= 0]
        described = _describe_rows(searcher.gallery, searcher.kind, [index for _, index in found])
        query["results"] = [
            {"rank": rank, "score": round(score, 6), "index": index, **fields}
            for rank, ((score, index), fields) in enumerate(zip(found, described, strict=True), start=1)
        ]
    return queries


def _shorten(text: str, width: int = RESULT_CAPTION_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(results: list[dict]) -> str:
    """Plain-text table per query: rank, score, image id, (language,) caption."""
    lines = []
    for query in results:
        lines.append(f"{query['type']} query: {query['query']}")
        with_language = any("language" in hit for hit in query["results"])
        header = ["rank", "score", "image_id", *(["lang"] if with_language else []), "caption"]
        rows = [
            [
                str(hit["rank"]),
                f"{hit['score']:.4f}",
                hit["image_id"],
                *([hit["language"]] if with_language else []),
                _shorten(hit["caption"]),
            ]
            for hit in query["results"]
        ]
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
        for cells in (header, *rows):
            lines.append(
                "  " + "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the exit status (0: success, 2: bad input, with the reason on stderr)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "encode":
            summary = _encode(args)
            print(f"wrote {summary['rows']} rows ({summary['kind']} gallery) to {summary['gallery']}")
        else:
            results = _query(args)
            print(json.dumps(results, ensure_ascii=False, indent=2) if args.json else format_table(results))
    except (ValueError, ImportError, OSError) as error:  # OSError: a model or file that cannot be read
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
