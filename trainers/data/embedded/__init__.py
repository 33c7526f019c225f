"""The embedded dataset: procedurally drawn scenes (`scenes.py`) described by compositional grammars in eight
languages (`lexicon.py`), with simulated machine-translation noise (`noise.py`), assembled by `dataset.py`.

`python -m babelclip.trainers.data.embedded` builds the default dataset and prints its sizes and timing."""

from .dataset import build_embedded_dataset, shared_caption_rate

__all__ = ["build_embedded_dataset", "shared_caption_rate"]
