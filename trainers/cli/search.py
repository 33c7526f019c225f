"""`babelclip search`: encode a gallery once, then query it in any language.

    # one row per test image of a dataset (a save_to_disk folder, a standard layout, a Hub id or "embedded")
    babelclip search encode --model path/to/student --dataset embedded --split test --output gallery/
    # text queries in any language -> top-k images; add --json for machine-readable output
    babelclip search query --model path/to/student --gallery gallery/ --text "ein roter Kreis" -k 5
    # image queries need a caption gallery (--kind text): top-k captions
    babelclip search encode --model path/to/student --dataset embedded --kind text --output captions/
    babelclip search query --model path/to/student --gallery captions/ --image photo.png -k 5
    # large galleries: FAISS (pip install "babelclip[faiss]"); faiss = exact, faiss-hnsw / faiss-ivf = approximate.
    # The index is built once (at encode with --index, or by the first query) and saved beside the gallery, in
    # gallery/faiss_indexes/; later queries with the same --index and build options read it back.
    babelclip search encode ... --index faiss-hnsw --hnsw_m 32
    babelclip search query ... --index faiss-hnsw --ef_search 128
    # a language the base model never saw with images: queries through its LoRA adapter (`babelclip adapt`)
    babelclip search query --model path/to/student --adapter path/to/adapter-yo --gallery gallery/ --text "..."
    # a large gallery on several GPUs (or CPU processes): each process encodes its shard, the main one writes it
    accelerate launch --num_processes 4 -m babelclip.trainers.cli search encode --model ... --output gallery/

Everything runs offline: the model and the processor are read from `--model` (a folder written by `save_pretrained`).
A gallery records the model that encoded it, an adapter the base it was trained on: `query` with another model, or
an adapter on another base, stops with a message (`--allow_model_mismatch` goes ahead with a warning). Empty or
blank `--text` queries are refused.

Results are one per image (`--no_unique_images` turns it off): an image gallery has one row per image already; in a
caption gallery an image's captions (its translations, or identical captions) would otherwise fill several ranks, so
each image keeps its best-scored caption and the next images move up. The results (table or `--json`) go to stdout;
what the command reports about its work (index built or loaded, rows written) goes to the log on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from ..checkpoints import load_model_and_processor
from ..common.logs import progress_bars_enabled
from ..data.loaders import load_retrieval_dataset
from ..evaluation.encoding import is_writing_process, launched_accelerator
from ..search import GallerySearcher, encode_gallery, encode_images, encode_texts
from .arguments import SearchEncodeArguments, SearchIndexArguments, SearchQueryArguments
from .parser import parse_config

RESULT_CAPTION_WIDTH = 70
SUBCOMMANDS = {"encode": SearchEncodeArguments, "query": SearchQueryArguments}


def _load_model(args: SearchEncodeArguments | SearchQueryArguments, accelerator=None):
    model, processor = load_model_and_processor(args.model, args.adapter, args.allow_model_mismatch)
    if accelerator is not None:
        return model.to(accelerator.device), processor
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device), processor


def _searcher(gallery, index_args: SearchIndexArguments, allow_model_mismatch: bool = False) -> GallerySearcher:
    # Logs whether a FAISS index was built (and saved) or read back (babelclip.trainers.search.persistence).
    return GallerySearcher(
        gallery,
        index=index_args.index,
        save_index=not index_args.no_save_index,
        allow_model_mismatch=allow_model_mismatch,
        **index_args.index_options(),
    )


def _encode(args: SearchEncodeArguments, index_args: SearchIndexArguments) -> dict | None:
    """Encodes and saves the gallery (and its index); the summary, or `None` on the processes of a multi-process
    launch that do not write (each encodes its shard; the main process writes)."""
    accelerator = launched_accelerator(args.device)  # None in one process
    dataset = load_retrieval_dataset(args.dataset, split=args.split, layout=args.layout)
    model, processor = _load_model(args, accelerator)
    gallery = encode_gallery(
        model,
        processor,
        dataset,
        batch_size=args.batch_size,
        output_dir=args.output,
        kind=args.kind,
        max_length=args.max_length,
        overwrite=args.overwrite,
        show_progress=progress_bars_enabled(),
        accelerator=accelerator,
    )
    if not is_writing_process(accelerator):
        return None
    summary = {"gallery": str(Path(args.output).resolve()), "kind": args.kind, "rows": len(gallery)}
    if index_args.index != "exact":
        summary["index"] = str(_searcher(args.output, index_args).index_path)
    return summary


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


def _query(args: SearchQueryArguments, index_args: SearchIndexArguments) -> list[dict]:
    if not args.text and not args.image:
        raise ValueError("Nothing to search for: pass at least one --text or --image query.")
    searcher = _searcher(args.gallery, index_args, args.allow_model_mismatch)
    model, processor = _load_model(args)
    searcher.check_model(model)  # the gallery's model, before any query is encoded
    embeddings, queries = [], []
    if args.text:
        embeddings.append(encode_texts(model, processor, args.text, args.batch_size, args.max_length))
        queries += [{"query": text, "type": "text"} for text in args.text]
    if args.image:
        embeddings.append(encode_images(model, processor, args.image, args.batch_size))
        queries += [{"query": path, "type": "image"} for path in args.image]
    scores, indices = searcher.search_embeddings(torch.cat(embeddings), args.k, unique_images=args.unique_images)
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
    """`babelclip search encode|query ...`; returns the exit status (0: success, 2: bad input, reason on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        print(f"babelclip search: say what to do first: one of {sorted(SUBCOMMANDS)}.", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    try:
        args, index_args = parse_config(
            (SUBCOMMANDS[command], SearchIndexArguments), rest, prog=f"babelclip search {command}"
        )
        if command == "encode":
            summary = _encode(args, index_args)
            if summary is not None:
                print(f"wrote {summary['rows']} rows ({summary['kind']} gallery) to {summary['gallery']}")
        else:
            results = _query(args, index_args)
            print(json.dumps(results, ensure_ascii=False, indent=2) if args.json else format_table(results))
    except (ValueError, ImportError, OSError) as error:  # OSError: a model or file that cannot be read
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
