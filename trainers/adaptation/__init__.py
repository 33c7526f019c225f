"""LoRA language adapters: teach a released student a new language from bitext alone (OPTICAL, arXiv 2301.12566).

`lora.py`: the peft configuration (text tower only, the new language's token rows); `adapt.py`: training an adapter
with the distillation trainer; `adapters.py`: loading several on one base, merging one.
"""

from ..common.lazy import lazy_exports

_MODULES = {
    ".lora": (
        "TEXT_ATTENTION_MODULES",
        "language_lora_config",
        "language_token_ids",
        "trainable_parameter_count",
        "weights_size_bytes",
    ),
    ".adapt": (
        "ADAPTATION_LOSSES",
        "DEFAULT_ADAPTATION_LOSSES",
        "REPORT_NAME",
        "ADAPTATION_DEFAULTS",
        "adapt_language",
        "adaptation_arguments",
    ),
    ".adapters": ("load_language_adapters", "merge_language_adapter"),
    "..data.bitext": ("select_language", "with_source_replay"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
