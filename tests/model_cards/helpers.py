"""Shared pieces of the model-card tests: real nested metrics, and the model-index read back independently."""

from __future__ import annotations

import re

import torch

from babelclip.trainers.evaluation.recall import multilingual_retrieval_metrics

# The spec the cards follow (model_cards/eval_results.py docstring), written out here independently.
TASKS = {"text_to_image": "text-to-image-retrieval", "image_to_text": "image-to-text-retrieval"}


def random_metrics(languages: tuple[str, ...] = ("en", "de", "sw"), seed: int = 0, images: int = 8) -> dict:
    """`multilingual_retrieval_metrics` of random embeddings: one caption per image and language."""
    generator = torch.Generator().manual_seed(seed)
    image_embeds = torch.randn(images, 8, generator=generator)
    caption_embeds = image_embeds.repeat(len(languages), 1) + 1.5 * torch.randn(
        images * len(languages), 8, generator=generator
    )
    caption_languages = [language for language in languages for _ in range(images)]
    return multilingual_retrieval_metrics(
        image_embeds, caption_embeds, list(range(images)) * len(languages), caption_languages
    )


# The model-index holds recall in percent at 2 decimals (model_cards/eval_results.py docstring).
DECIMALS = 2


def expected_model_index(results: dict[str, dict]) -> dict[tuple, float]:
    """(dataset, language, task, metric) -> rounded value for every per-language number (the mean is not one)."""
    expected = {}
    for dataset, nested in results.items():
        for language, entry in nested.items():
            if language == "mean":
                continue
            for direction, task in TASKS.items():
                for k, value in entry[direction].items():
                    expected[(dataset, language, task, "recall@" + k.split("@")[1])] = round(value, DECIMALS)
            expected[(dataset, language, "image-text-retrieval", "rsum")] = round(entry["rsum"], DECIMALS)
    return expected


def model_index_values(eval_results) -> dict[tuple, float]:
    values = {}
    for row in eval_results:
        key = (row.dataset_type, row.dataset_config, row.task_type, row.metric_type)
        assert key not in values, f"{key} is reported twice"
        values[key] = row.metric_value
    return values


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)
