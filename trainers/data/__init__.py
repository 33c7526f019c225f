"""babelclip data: the schema (`schema.py`, it owns the column names), language codes (`languages.py`) and resource
groups (`resources.py`), splits (`splits.py`) and bitext views (`bitext.py`), unreadable images and the conversion
to RGB (`images.py`), image ids that tell images apart (`image_ids.py`), the loaders of standard layouts (`layouts/`,
`loaders.py`), the embedded dataset (`embedded/`), the unique-image batch sampler (`sampling.py`) and its counterpart
for streams (`streaming.py`). Names are imported on first use: `import babelclip.trainers.data` stays cheap."""

from ..common.lazy import lazy_exports

_LAYOUT_LOADERS = ("load_bitext_tsv", "load_crossmodal3600", "load_karpathy", "load_multi30k", "load_tuxpaint",
                   "load_vatex", "load_webdataset", "load_xflickrco", "load_xtd10")  # fmt: skip
_MODULES = {
    ".images": ("drop_unreadable_images", "find_unreadable_images", "image_problem", "to_rgb"),
    ".image_ids": ("check_distinct_images",),
    ".languages": (
        "DEFAULT_SOURCE_LANGUAGE",
        "canonical_language_code",
        "is_language_code",
        "language_key",
        "language_name",
        "language_problem",
        "suggest_language_code",
    ),
    ".resources": ("resource_group", "resource_groups"),
    ".layouts": _LAYOUT_LOADERS,
    ".loaders": ("LAYOUTS", "detect_layout", "load_retrieval_dataset"),
    ".schema": (
        "BITEXT_FEATURES",
        "IMAGE_TEXT_FEATURES",
        "SCHEMAS",
        "VIDEO_TEXT_FEATURES",
        "detect_schema",
        "is_blank_text",
        "required_columns",
        "validate_dataset",
    ),
    ".bitext": ("image_text_as_bitext", "select_language", "with_source_replay"),
    ".splits": ("load_dataset_splits", "select_split", "text_corpus"),
    ".embedded": ("build_embedded_dataset",),
    ".sampling": ("UniqueImageBatchSampler",),
    ".streaming": ("StreamingBatches", "materialized", "stream_passes", "unique_image_batches"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
