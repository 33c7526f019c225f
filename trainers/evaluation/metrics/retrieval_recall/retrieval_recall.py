"""`evaluate` metric module: image-text retrieval Recall@k in both directions, several captions per image.

A thin wrapper: the ranking is `babelclip.trainers.evaluation.recall.recall_at_k`, the function
`DistillationTrainer.evaluate()` uses, so both report the same numbers. Load it offline from its local path:

```python
>>> import evaluate
>>> from babelclip.trainers.evaluation.recall import recall_metric_path
>>> metric = evaluate.load(recall_metric_path())
>>> metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]], references=[0, 1, 1], ks=[1])
{'t2i_r1': 66.66666666666667, 'i2t_r1': 100.0, 'rsum': 166.66666666666669}
```
"""

import datasets
import evaluate
import numpy as np
import torch

from babelclip.trainers.evaluation.recall import flatten_recall, recall_at_k

_DESCRIPTION = """
Recall@k for image-text retrieval, in percent, in both directions, with several captions per image.
Each example is one caption (query): its similarity to every image, and the index of its image.
Text->image: a caption hits at k if its image ranks within the top k images.
Image->text: every image with at least one caption is a query; it hits at k if ANY of its captions ranks within the
top k captions. Ties are pessimistic: an incorrect item scored equal to the best correct one ranks ahead of it.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]`): one row per caption, the caption's similarity to every image (all rows the
        same length, n_images; higher = more similar).
    references (`list[int]`): for each caption, the index (in [0, n_images)) of its image.
    ks (`list[int]`, *optional*, defaults to `[1, 5, 10]`): recall cut-offs.
Returns:
    `t2i_r1`, `t2i_r5`, `t2i_r10`, `i2t_r1`, `i2t_r5`, `i2t_r10` (percent) and `rsum` (their sum).
Examples:
    >>> metric = evaluate.load(recall_metric_path())
    >>> metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8]], references=[0, 1], ks=[1])
    {'t2i_r1': 100.0, 'i2t_r1': 100.0, 'rsum': 200.0}
"""

_CITATION = """
@misc{babelclip,
  title = {babelclip: multilingual image-text retrieval with cross-lingual distillation},
  note = {Recall@k with several captions per image as in Karpathy and Fei-Fei, CVPR 2015},
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RetrievalRecall(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # float64 so that scores, and therefore ties, reach recall_at_k exactly as given.
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, ks=(1, 5, 10)) -> dict:
        lengths = {len(row) for row in predictions}
        if len(lengths) > 1:
            raise ValueError(
                f"Every prediction row must score the same images, got rows of lengths {sorted(lengths)}: pass one "
                "similarity row per caption over the full image gallery."
            )
        similarity = torch.from_numpy(np.asarray(predictions, dtype=np.float64).reshape(len(predictions), -1))
        return flatten_recall(recall_at_k(similarity, torch.as_tensor(references), ks=ks))
