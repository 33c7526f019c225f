"""Retrieval evaluation: recall per language in both directions and per-query ranks (`recall`), batch encoding shared
with search (`encoding`), scoring a dataset (`retrieval`) or a saved checkpoint (`checkpoint`), text->text retrieval
(`text_retrieval`), zero-shot classification (`zero_shot`), the paired bootstrap (`bootstrap`) and reports
(`reports`); the same recall is an `evaluate` metric (`recall.recall_metric_path()`)."""

from ..common.lazy import lazy_exports

_MODULES = {
    ".recall": (
        "QueryRanks",
        "averaged_languages",
        "flatten_retrieval_metrics",
        "load_query_ranks",
        "multilingual_retrieval_metrics",
        "per_query_ranks",
        "recall_at_k",
        "recall_metric_path",
        "save_query_ranks",
    ),
    ".retrieval": ("encode_queries", "encode_retrieval_dataset", "evaluate_retrieval"),
    ".bootstrap": (
        "chance_recall",
        "chance_recall_at_k",
        "outside_interval",
        "paired_bootstrap_interval",
        "paired_recall_interval",
    ),
    ".text_retrieval": ("encode_captions", "evaluate_text_retrieval", "text_retrieval_metrics", "text_retrieval_ranks"),
    ".checkpoint": ("evaluate_checkpoint",),
    ".reports": ("retrieval_markdown", "write_retrieval_report", "compare_reports"),
    ".zero_shot": (
        "class_embeddings",
        "classify_images",
        "evaluate_image_folder",
        "load_class_names",
        "top_k_accuracy",
        "zero_shot_markdown",
    ),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
