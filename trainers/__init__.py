"""babelclip training and everything around it, one subpackage per concern (lower layers never import higher ones):

- `common`: atomic writes, lazy exports, config values;
- `data`: the schema (it owns the column names), languages, splits, bitext views, layout loaders, the embedded
  dataset; `tokenization`: WordPiece training, coverage;
- `losses`: one module per loss and a registry; `evaluation`: recall, batch encoding, reports;
- `checkpoints`: loading saved models (+ adapters);
- `training`: arguments, collator, teachers, the `DistillationTrainer`, resumable runs;
- `search`: galleries and indexes; `adaptation`: LoRA language adapters;
- `recipes`: presets, model builders, the demo and the methods benchmark; `cli`: the `babelclip` command.

Names below are imported on first use, so `import babelclip.trainers` stays light.
"""

from .common.lazy import lazy_exports

_MODULES = {
    ".training.arguments": ("DistillationArguments",),
    ".training.settings": ("DistillationSettings",),
    ".training.collator": ("DistillationCollator",),
    ".training.trainer": ("DistillationTrainer", "LossComposer"),
    ".training.teachers": ("Teachers", "load_teachers"),
    ".evaluation.retrieval": ("encode_retrieval_dataset", "evaluate_retrieval"),
    ".adaptation.adapt": ("adapt_language",),
    ".adaptation.lora": ("language_lora_config",),
    ".adaptation.adapters": ("load_language_adapters", "merge_language_adapter"),
    ".tokenization.coverage": ("tokenizer_coverage",),
    ".search.searcher": ("GallerySearcher",),
    ".search.gallery": ("encode_gallery", "load_gallery"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
