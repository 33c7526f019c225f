"""Retrieval evaluation: recall per language in both directions (`recall`), batch encoding shared with search
(`encoding`), scoring a dataset (`retrieval`) or a saved checkpoint (`checkpoint`), and reports (`reports`); the same
recall is an `evaluate` metric (`recall.recall_metric_path()`)."""

from ..common.lazy import lazy_exports

_MODULES = {
    ".recall": ("recall_at_k", "multilingual_retrieval_metrics", "flatten_retrieval_metrics", "recall_metric_path"),
    ".retrieval": ("encode_retrieval_dataset", "evaluate_retrieval"),
    ".checkpoint": ("evaluate_checkpoint",),
    ".reports": ("retrieval_markdown", "write_retrieval_report", "compare_reports"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
