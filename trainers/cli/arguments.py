"""The arguments of the `babelclip` subcommands that are not training arguments: evaluation, zero-shot
classification, adaptation, search, push, demo and benchmark. Plain dataclasses on the standard library, so `--help`
needs no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.values import require_positive
from ..data.languages import DEFAULT_SOURCE_LANGUAGE


@dataclass
class EvaluationArguments:
    """What to evaluate, on which data, and where the report goes."""

    model_name_or_path: str = field(metadata={"help": "A babelclip checkpoint (student or cross-lingual teacher)."})
    adapter_name_or_path: str | None = field(default=None, metadata={"help": "A peft LoRA adapter on that base."})
    dataset: str = field(default="embedded", metadata={"help": "Built-in name, save_to_disk folder, layout folder."})
    dataset_kwargs: str | None = field(default=None, metadata={"help": "Mapping of loader keyword arguments."})
    split: str = field(default="test", metadata={"help": "The split to evaluate."})
    languages: list[str] | None = field(default=None, metadata={"help": "Evaluate only these languages."})
    max_samples: int | None = field(default=None, metadata={"help": "Evaluate the first N rows only."})
    output_dir: str = field(default="runs/evaluation", metadata={"help": "Where metrics.json/.md/.png go."})
    batch_size: int = field(default=64, metadata={"help": "Encoding batch size."})
    max_text_length: int = field(default=64, metadata={"help": "Tokenizer truncation length."})
    reference_language: str = field(
        default=DEFAULT_SOURCE_LANGUAGE, metadata={"help": "Language the gaps are measured against."}
    )
    title: str | None = field(default=None, metadata={"help": "Report title (default: the model path)."})
    allow_model_mismatch: bool = field(
        default=False, metadata={"help": "Load an adapter trained on another base anyway (a warning, not an error)."}
    )

    def __post_init__(self) -> None:
        require_positive({"batch_size": self.batch_size, "max_text_length": self.max_text_length})
        require_positive({"max_samples": self.max_samples}, unset="all rows")


@dataclass
class ClassifyArguments:
    """Which checkpoint classifies which labelled image folder, with which class names."""

    model: str = field(metadata={"help": "A babelclip student checkpoint folder (with its processor)."})
    folder: str = field(metadata={"help": "Labelled images in the imagefolder layout: <folder>/<label>/<image>."})
    classes: str = field(
        metadata={"help": "JSON/YAML file: `classes: {<lang>: {<label>: <name>}}`, optional `templates: {<lang>: []}`."}
    )
    adapter: str | None = field(default=None, metadata={"help": "A LoRA language adapter on top of --model."})
    split: str | None = field(default=None, metadata={"help": "The folder's split (default: test, or its only one)."})
    languages: list[str] | None = field(default=None, metadata={"help": "Only these languages of the names file."})
    top_k: list[int] = field(default_factory=lambda: [1, 5], metadata={"help": "Accuracy cut-offs."})
    output_dir: str | None = field(default=None, metadata={"help": "Also write zero_shot.json and zero_shot.md here."})
    batch_size: int = field(default=64, metadata={"help": "Images or prompts per forward pass."})
    max_text_length: int = field(default=64, metadata={"help": "Tokenizer truncation length."})
    source_language: str = field(
        default=DEFAULT_SOURCE_LANGUAGE, metadata={"help": "Languages without templates use this one's."}
    )
    device: str | None = field(default=None, metadata={"help": "Torch device (default: cuda if available, else cpu)."})

    def __post_init__(self) -> None:
        require_positive({"batch_size": self.batch_size, "max_text_length": self.max_text_length})


@dataclass
class AdaptationArguments:
    """Which student learns which language from which bitext, with which adapter, evaluated on what."""

    base: str = field(metadata={"help": "The released student checkpoint folder (with its processor)."})
    language: str = field(metadata={"help": "The new language's code, as in the bitext `language` column."})
    bitext: str = field(metadata={"help": "'embedded', a save_to_disk folder, or a TSV file/folder."})
    dataset_kwargs: str | None = field(default=None, metadata={"help": "JSON loader arguments, e.g. for 'embedded'."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input."})
    modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "Whole text modules trained with the adapter, e.g. text_projection."}
    )
    language_tokens: bool = field(
        default=True,
        metadata={"help": "Train the embedding rows of tokens only the new language uses (--no_language_tokens: off)."},
    )
    source_replay: float = field(
        default=1.0, metadata={"help": "Source-language identity pairs per bitext pair (keeps English in place)."}
    )
    eval_dataset: str | None = field(default=None, metadata={"help": "Image-text data to measure R@1 before/after."})
    eval_split: str = field(default="test", metadata={"help": "Split of --eval_dataset."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Evaluate the first N rows only."})
    merged_output_dir: str | None = field(
        default=None, metadata={"help": "Also save base + adapter merged, as a plain model."}
    )


@dataclass
class SearchEncodeArguments:
    """Encode a dataset split into a gallery folder."""

    model: str = field(metadata={"help": "Student checkpoint folder (with its processor)."})
    dataset: str = field(metadata={"help": '"embedded", a save_to_disk folder, a layout folder or a Hub id.'})
    output: str = field(metadata={"help": "Gallery folder to write (atomically)."})
    adapter: str | None = field(default=None, metadata={"help": "A LoRA language adapter to load on top of --model."})
    split: str = field(default="test", metadata={"help": "Split to encode."})
    layout: str | None = field(default=None, metadata={"help": "Layout of a local dataset folder if not detected."})
    kind: str = field(default="image", metadata={"help": "image: one row per image; text: one per caption."})
    batch_size: int = field(default=64, metadata={"help": "Rows per forward pass."})
    max_length: int = field(default=64, metadata={"help": "Tokenizer truncation (text galleries)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing gallery folder."})
    device: str | None = field(default=None, metadata={"help": "Torch device (default: cuda if available, else cpu)."})
    allow_model_mismatch: bool = field(
        default=False, metadata={"help": "Load an --adapter trained on another base anyway (a warning, not an error)."}
    )

    def __post_init__(self) -> None:
        require_positive({"batch_size": self.batch_size, "max_length": self.max_length})


@dataclass
class SearchIndexArguments:
    """Which index answers the queries; a FAISS index is built once and saved beside the gallery."""

    index: str = field(
        default="exact",
        metadata={"help": "exact, faiss, faiss-hnsw or faiss-ivf (`search encode --index ...` builds it up front)."},
    )
    hnsw_m: int | None = field(default=None, metadata={"help": "faiss-hnsw: links per vector (build; default 32)."})
    ef_construction: int | None = field(default=None, metadata={"help": "faiss-hnsw: build beam (default 80)."})
    ef_search: int | None = field(default=None, metadata={"help": "faiss-hnsw: search beam (default 64)."})
    nlist: int | None = field(default=None, metadata={"help": "faiss-ivf: cells (build; default 4 sqrt(rows))."})
    nprobe: int | None = field(default=None, metadata={"help": "faiss-ivf: cells scanned per query (default 16)."})
    no_save_index: bool = field(default=False, metadata={"help": "Build the FAISS index in memory only."})

    def index_options(self) -> dict[str, int]:
        """The FAISS options that were given (the others keep their defaults)."""
        names = ("hnsw_m", "ef_construction", "ef_search", "nlist", "nprobe")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


@dataclass
class SearchQueryArguments:
    """Search a gallery with text and/or image queries."""

    model: str = field(metadata={"help": "The checkpoint that encoded the gallery."})
    gallery: str = field(metadata={"help": "Gallery folder written by `babelclip search encode`."})
    adapter: str | None = field(default=None, metadata={"help": "A LoRA adapter on --model (its language's queries)."})
    text: list[str] = field(default_factory=list, metadata={"help": "Text queries (repeat --text for several)."})
    image: list[str] = field(default_factory=list, metadata={"help": "Image file queries (repeatable)."})
    k: int = field(default=5, metadata={"aliases": ["-k", "--top-k", "--top_k"], "help": "Results per query."})
    unique_images: bool = field(
        default=True,
        metadata={"help": "One result per image: a caption gallery shows each image's best caption only "
                  "(--no_unique_images: every caption)."},
    )  # fmt: skip
    batch_size: int = field(default=64, metadata={"help": "Queries per forward pass."})
    max_length: int = field(default=64, metadata={"help": "Tokenizer truncation."})
    device: str | None = field(default=None, metadata={"help": "Torch device (default: cuda if available, else cpu)."})
    json: bool = field(default=False, metadata={"help": "Print JSON instead of a table."})
    allow_model_mismatch: bool = field(
        default=False,
        metadata={"help": "Search a gallery encoded by another model, or load an --adapter trained on another base, "
                  "anyway (a warning, not an error)."},
    )  # fmt: skip

    def __post_init__(self) -> None:
        require_positive({"k": self.k, "batch_size": self.batch_size, "max_length": self.max_length})


@dataclass
class PushArguments:
    """Which checkpoint goes to which Hub repository, with which card facts."""

    checkpoint: str = field(metadata={"help": "Saved student, teacher or adapter folder."})
    repo_id: str = field(metadata={"help": "Hub repository, ORG/NAME."})
    metrics: str | None = field(default=None, metadata={"help": "metrics.json: one nested result or {dataset: ..}."})
    dataset_name: str = field(default="evaluation", metadata={"help": "Name of the dataset a single result is for."})
    dataset_split: str | None = field(
        default=None, metadata={"help": "Split the metrics were measured on (required with --metrics)."}
    )
    language: list[str] = field(default_factory=list, metadata={"help": "Languages of the model (repeatable)."})
    dataset: list[str] = field(default_factory=list, metadata={"help": "Hub ids of training datasets (repeatable)."})
    base_model: list[str] | None = field(default=None, metadata={"help": "Hub ids of base models (repeatable)."})
    adapter_language: str | None = field(default=None, metadata={"help": "ISO 639 code of an adapter's language."})
    license: str = field(default="apache-2.0", metadata={"help": "Hub license id."})
    private: bool = field(default=False, metadata={"help": "Create the repository private."})
    commit_message: str = field(default="Upload babelclip checkpoint", metadata={"help": "The commit's message."})
    dry_run: bool = field(
        default=False,
        metadata={"help": "Write the card that would be pushed (into the folder, or --dry_run_output) and list the "
                  "files that would upload; upload nothing."},
    )  # fmt: skip
    dry_run_output: str | None = field(
        default=None, metadata={"help": "With --dry_run: write the card to this file instead ('-': standard output)."}
    )


@dataclass
class DemoArguments:
    """Where the demo runs and at which size."""

    output_dir: str = field(default="runs/demo", metadata={"help": "Where every stage, checkpoint and report goes."})
    preset: str = field(
        default="full",
        metadata={
            "help": "'full' (6 minutes on 2 cores), 'ci' (seconds), 'pretrained' (mE5 text tower) or a YAML file."
        },
    )
    settings: str | None = field(
        default=None,
        metadata={"help": 'Overrides of the preset, a JSON/YAML mapping: \'{"budget": {"learning_rate": 5e-4}}\'.'},
    )
    on_run_mismatch: str = field(
        default="error",
        metadata={"help": "When output_dir holds a demo with other settings: 'error' (list them) or 'restart' "
                  "(delete it first)."},
    )  # fmt: skip


@dataclass
class BenchmarkArguments:
    """Which dataset, seeds, preset and arms the methods benchmark runs."""

    output_dir: str = field(metadata={"help": "Where data, every run and the reports go."})
    dataset: str = field(default="embedded", metadata={"help": "'embedded', a built-in name or a dataset folder."})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "Training seeds."})
    preset: str = field(
        default="full",
        metadata={"help": "'full', 'ci' (seconds), 'pretrained', 'tuxpaint' or a YAML file of settings."},
    )
    settings: str | None = field(
        default=None,
        metadata={"help": 'Overrides of the preset, a JSON/YAML mapping: \'{"languages": ["en", "sw"]}\'.'},
    )
    arms: list[str] | None = field(default=None, metadata={"help": "Run only these arms (default: all)."})
    on_run_mismatch: str = field(
        default="error",
        metadata={"help": "When output_dir holds a benchmark with another dataset or settings: 'error' (list "
                  "them) or 'restart' (delete it first)."},
    )  # fmt: skip
