"""Loading a saved babelclip checkpoint (student or cross-lingual teacher) with its processor, optionally with a
peft LoRA language adapter on top: the one loader behind evaluation, search and the benchmark."""

from __future__ import annotations

from transformers import AutoModel, AutoProcessor

from .. import modeling  # noqa: F401  (registers the babelclip classes with the Auto classes)


def load_model_and_processor(model_name_or_path: str, adapter_name_or_path: str | None = None):
    """A babelclip checkpoint through the Auto classes (eval mode), with a peft adapter on top when given."""
    model = AutoModel.from_pretrained(model_name_or_path)
    processor = AutoProcessor.from_pretrained(model_name_or_path)
    if adapter_name_or_path is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_name_or_path)
    return model.eval(), processor
