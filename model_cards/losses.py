"""What a model card says about the losses that trained a model: method, weight, settings and bibtex."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..trainers.losses import LOSS_REGISTRY, DistillationLoss
from .public_names import public_value

LossSpec = DistillationLoss | tuple


@dataclass
class LossSummary:
    """One loss as the card lists it.

    Args:
        name (`str`): registry name (`loss/<name>` in the logs).
        weight (`float`, *optional*): its weight in the summed loss; `None` when unknown.
        settings (`dict`): constructor settings (`DistillationLoss.get_config_dict()`).
        citation (`str`): bibtex of the paper(s) the loss comes from; may be empty.
    """

    name: str
    weight: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    citation: str = ""

    @property
    def method(self) -> str:
        """The method, as the loss class declares it (the name itself for a loss babelclip does not know)."""
        loss_class = LOSS_REGISTRY.get(self.name)
        return loss_class.method if loss_class is not None and loss_class.method else self.name

    @property
    def tags(self) -> tuple[str, ...]:
        """The Hub tags of the loss's method, as its class declares them."""
        loss_class = LOSS_REGISTRY.get(self.name)
        return loss_class.tags if loss_class is not None else ()

    @property
    def citation_keys(self) -> list[str]:
        return [bibtex_key(entry) for entry in split_bibtex(self.citation)]


def _citation_of(name: str) -> str:
    loss_class = LOSS_REGISTRY.get(name)
    return loss_class.citation if loss_class is not None else ""


def summarize_loss(spec: LossSpec) -> LossSummary:
    """A `LossSummary` from a loss module, `(name_or_module, weight)` or `(name_or_module, weight, settings)`.

    Args:
        spec: a `DistillationLoss` (weight unknown), or a tuple whose first item is a registry name or a module.
    """
    if isinstance(spec, DistillationLoss):
        return LossSummary(spec.name, None, spec.get_config_dict(), spec.citation)
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ValueError(f"Each loss must be a loss module, (name, weight) or (name, weight, settings); got {spec!r}.")
    loss, weight = spec[0], spec[1]
    settings = dict(spec[2]) if len(spec) == 3 and spec[2] is not None else None
    if isinstance(loss, DistillationLoss):
        return LossSummary(loss.name, float(weight), settings or loss.get_config_dict(), loss.citation)
    if not isinstance(loss, str) or not loss:
        raise ValueError(f"A loss's first item must be a registry name or a loss module, got {loss!r}.")
    return LossSummary(loss, float(weight), settings or {}, _citation_of(loss))


def summarize_losses(losses: Iterable[LossSpec] | None) -> list[LossSummary]:
    """`summarize_loss` of each entry; a name given twice is a `ValueError`."""
    summaries = [summarize_loss(spec) for spec in losses or ()]
    names = [summary.name for summary in summaries]
    if len(set(names)) != len(names):
        raise ValueError(f"A loss is listed twice in {names}: give each loss once.")
    return summaries


def split_bibtex(citation: str) -> list[str]:
    """The entries of a bibtex string, each starting at its `@type{`."""
    return [entry.strip() for entry in re.split(r"\n(?=\s*@)", citation.strip()) if entry.strip()]


def bibtex_key(entry: str) -> str:
    """The citation key of one bibtex entry (`@inproceedings{key, ...` -> `key`)."""
    match = re.match(r"\s*@\w+\s*\{\s*([^,\s]+)\s*,", entry)
    if match is None:
        raise ValueError(f"Not a bibtex entry (expected '@type{{key, ...}}'): {entry[:80]!r}.")
    return match.group(1)


def collect_citations(summaries: Sequence[LossSummary], extra: Iterable[str] = ()) -> list[str]:
    """Every bibtex entry of the losses and of `extra`, each key once, in order of first appearance."""
    entries: dict[str, str] = {}
    for citation in [summary.citation for summary in summaries] + list(extra):
        for entry in split_bibtex(citation or ""):
            entries.setdefault(bibtex_key(entry), entry)
    return list(entries.values())


def method_tags(summaries: Sequence[LossSummary]) -> list[str]:
    """Hub tags of the papers whose methods trained the model (`cl2cm`, `cusa`, `optical`)."""
    return list(dict.fromkeys(tag for summary in summaries for tag in summary.tags))


SIGNIFICANT_DIGITS = 6


def short_float(value: float) -> float:
    """`value` at `SIGNIFICANT_DIGITS` significant digits: what a card prints of a setting, weight or rate."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return short_float(value)
    if isinstance(value, Mapping):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    return value


def format_value(value: Any) -> str:
    """A setting or hyperparameter as inline code for a markdown table cell: floats at 6 significant digits, local
    paths as their public name."""
    value = _rounded(public_value(value))
    text = json.dumps(value, default=str) if isinstance(value, (Mapping, list, tuple)) else str(value)
    return f"`{text}`".replace("|", "\\|")
