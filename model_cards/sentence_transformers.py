"""The sentence-transformers files of a babelclip checkpoint: `modules.json`, `sentence_bert_config.json` and
`config_sentence_transformers.json`, written next to the weights so that

```python
>>> from sentence_transformers import SentenceTransformer

>>> model = SentenceTransformer("org/babelclip-multi30k", trust_remote_code=True)  # the flag: without babelclip
>>> model.encode(["ein Hund rennt"]), model.encode([image])  # == get_text_features / get_image_features
```

They hold what sentence-transformers would otherwise guess from the model's type hints: one `Transformer` module
that calls `get_text_features` for texts and `get_image_features` for images (a teacher: texts only) and returns
their output as the sentence embedding (projected, not normalised), compared by cosine. The contents are what
sentence-transformers 6.2 itself saves for such a checkpoint, less its `__version__` block (sentence-transformers is
not needed to write them). Texts are tokenized as `BabelClipProcessor(text=...)` does by default (padding to the
longest, truncation at the tokenizer's `model_max_length`).

`trust_remote_code=True` is the one flag a user needs where babelclip is not installed: sentence-transformers does not
let a checkpoint's own files turn it on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..modeling import CrossLingualTeacherConfig, CrossModalStudentConfig
from ..trainers.common.files import write_json_atomically

MODULES_NAME = "modules.json"
MODULE_CONFIG_NAME = "sentence_bert_config.json"
MODEL_CONFIG_NAME = "config_sentence_transformers.json"
SENTENCE_TRANSFORMERS_FILES = (MODULES_NAME, MODULE_CONFIG_NAME, MODEL_CONFIG_NAME)

# The class sentence-transformers 6 saves for its (multimodal) Transformer module.
TRANSFORMER_MODULE = "sentence_transformers.base.modules.transformer.Transformer"
# model_type -> the method that embeds each modality (the model's projected, not normalised, features).
EMBEDDING_METHODS = {
    CrossModalStudentConfig.model_type: {"text": "get_text_features", "image": "get_image_features"},
    CrossLingualTeacherConfig.model_type: {"text": "get_text_features"},
}


def sentence_transformers_files(model_type: str) -> dict[str, Any]:
    """
    The sentence-transformers files of a babelclip checkpoint, by file name.

    Args:
        model_type (`str`): the checkpoint's `config.model_type` (`"babelclip"` or `"babelclip_teacher"`).

    Returns:
        `dict[str, Any]`: file name -> JSON payload, for the three names of `SENTENCE_TRANSFORMERS_FILES`.
    """
    if model_type not in EMBEDDING_METHODS:
        raise ValueError(
            f"sentence-transformers files are written for babelclip students and teachers "
            f"({sorted(EMBEDDING_METHODS)}), not for model_type {model_type!r}."
        )
    modality_config = {
        modality: {"method": method, "method_output_name": None}
        for modality, method in EMBEDDING_METHODS[model_type].items()
    }
    return {
        MODULES_NAME: [{"idx": 0, "name": "0", "path": "", "type": TRANSFORMER_MODULE}],
        MODULE_CONFIG_NAME: {
            "transformer_task": "feature-extraction",
            "modality_config": modality_config,
            "module_output_name": "sentence_embedding",
        },
        MODEL_CONFIG_NAME: {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "", "document": ""},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def write_sentence_transformers_files(folder: str | os.PathLike) -> list[Path]:
    """
    Write the sentence-transformers files into a saved checkpoint folder (atomically, replacing older ones).

    Args:
        folder (`str` or `os.PathLike`): what `save_pretrained` wrote; its `config.json` says the model type.

    Returns:
        `list[Path]`: the files written; none for a folder without a babelclip `config.json` (e.g. a peft adapter,
        which loads on top of its base model instead).

    Example:

    ```python
    >>> student.save_pretrained("runs/student")
    >>> processor.save_pretrained("runs/student")
    >>> write_sentence_transformers_files("runs/student")  # doctest: +SKIP
    ```"""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        return []
    try:
        model_type = json.loads(config_path.read_text(encoding="utf-8")).get("model_type")
    except json.JSONDecodeError as error:
        raise ValueError(f"Cannot read {config_path} as JSON ({error}): re-save the model.") from error
    if model_type not in EMBEDDING_METHODS:
        return []
    return [
        write_json_atomically(payload, folder / name)
        for name, payload in sentence_transformers_files(model_type).items()
    ]
