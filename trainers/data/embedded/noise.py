"""Simulated machine-translation noise for the embedded dataset's training translations.

Real translate-train data is machine translated: words go missing, come out in the wrong order or are mistranslated.
`apply_translation_noise` imitates the three on a caption's words, deterministically for a given generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TranslationNoise:
    """
    How noisy the simulated machine translations are; each probability applies independently per word (or word pair).

    Args:
        drop_word (`float`, *optional*, defaults to 0.1):
            Probability that a word is left out (a caption always keeps at least one word).
        swap_adjacent (`float`, *optional*, defaults to 0.1):
            Probability that a word swaps places with the next one (a swapped word is not swapped again).
        wrong_word (`float`, *optional*, defaults to 0.05):
            Probability that a word is replaced by another word of the same language (a mistranslation).

    Example:
        ```python
        >>> TranslationNoise(drop_word=0.0, swap_adjacent=0.0, wrong_word=0.0).is_clean
        True
        ```
    """

    drop_word: float = 0.1
    swap_adjacent: float = 0.1
    wrong_word: float = 0.05

    def __post_init__(self) -> None:
        for name in ("drop_word", "swap_adjacent", "wrong_word"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"TranslationNoise.{name}={value} is not a probability; use a value in [0, 1]")

    @property
    def is_clean(self) -> bool:
        """Whether every probability is zero (translations equal the clean templates)."""
        return self.drop_word == self.swap_adjacent == self.wrong_word == 0.0


def apply_translation_noise(
    tokens: Sequence[str], noise: TranslationNoise, rng: np.random.Generator, vocabulary: Sequence[str]
) -> list[str]:
    """
    Corrupt a caption's words: wrong words first, then adjacent swaps, then drops.

    Args:
        tokens (`Sequence[str]`): the clean words.
        noise (`TranslationNoise`): the probabilities.
        rng (`numpy.random.Generator`): the source of randomness; the same state gives the same output.
        vocabulary (`Sequence[str]`): the words a mistranslation is drawn from (a different word is always chosen
            when the vocabulary has one).

    Returns:
        `list[str]`: the noisy words (never empty when `tokens` is not).
    """
    words = list(tokens)
    if noise.wrong_word > 0 and vocabulary:
        for index in np.flatnonzero(rng.random(len(words)) < noise.wrong_word):
            candidates = [word for word in vocabulary if word != words[index]] or list(vocabulary)
            words[index] = candidates[int(rng.integers(len(candidates)))]
    if noise.swap_adjacent > 0:
        swaps = rng.random(max(len(words) - 1, 0)) < noise.swap_adjacent
        index = 0
        while index < len(words) - 1:
            if swaps[index]:
                words[index], words[index + 1] = words[index + 1], words[index]
                index += 2
            else:
                index += 1
    if noise.drop_word > 0 and words:
        keep = rng.random(len(words)) >= noise.drop_word
        if not keep.any():
            keep[int(rng.integers(len(words)))] = True
        words = [word for word, kept in zip(words, keep, strict=True) if kept]
    return words
