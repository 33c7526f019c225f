"""Resource groups of languages: which are high-, mid- or low-resource, from a language table, with an override.

The table (`language_resources.json`) gives the class of Joshi et al. (2020) ("The State and Fate of Linguistic
Diversity and Inclusion in the NLP World"): 5 = winners ... 0 = left-behinds, for the languages of babelclip's
built-in and supported datasets (embedded, tuxpaint, XTD10, Crossmodal-3600, Multi30K) and most of XLM-R's. It was
written offline: class 5 and the paper's Table 1 examples (Zulu, Konkani, Lao, Maltese, Irish = 2; Indonesian,
Ukrainian, Cebuano, Afrikaans, Hebrew = 3; Russian, Hungarian, Vietnamese, Dutch, Korean = 4) are the paper's; the
other entries follow its class definitions as best known and should be checked against the paper's `lang2tax.txt`
before a claim rests on them: pass `overrides` (or `--resource_groups` on the command line) to change any.

Groups: `high-resource` = classes 4-5, `mid-resource` = class 3, `low-resource` = classes 0-2; a language missing
from the table is `unclassified` (reports show it, group means leave it out).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

HIGH_RESOURCE, MID_RESOURCE, LOW_RESOURCE, UNCLASSIFIED = (
    "high-resource",
    "mid-resource",
    "low-resource",
    "unclassified",
)
RESOURCE_GROUPS: tuple[str, ...] = (HIGH_RESOURCE, MID_RESOURCE, LOW_RESOURCE)
_GROUP_OF_CLASS = {
    5: HIGH_RESOURCE,
    4: HIGH_RESOURCE,
    3: MID_RESOURCE,
    2: LOW_RESOURCE,
    1: LOW_RESOURCE,
    0: LOW_RESOURCE,
}
_TABLE_PATH = Path(__file__).with_name("language_resources.json")


@cache
def resource_classes() -> dict[str, int]:
    """Language code -> Joshi et al. (2020) class (0-5), as the shipped table gives it."""
    raw = json.loads(_TABLE_PATH.read_text(encoding="utf-8"))
    return {code: int(klass) for klass, codes in raw.items() if not klass.startswith("_") for code in codes}


def resource_class(language: str) -> int | None:
    """The class of `language` (its language subtag: `pt-BR` -> `pt`), or `None` when the table lacks it."""
    return resource_classes().get(language.split("-")[0])


def resource_group(language: str) -> str:
    """`high-resource`, `mid-resource`, `low-resource` or `unclassified` for one language code."""
    klass = resource_class(language)
    return UNCLASSIFIED if klass is None else _GROUP_OF_CLASS[klass]


def resource_groups(
    languages: Sequence[str], overrides: Mapping[str, Sequence[str]] | None = None
) -> dict[str, list[str]]:
    """
    The languages of `languages` by resource group, in the order given; empty groups are left out.

    Args:
        languages (`Sequence[str]`): language codes (e.g. the test split's).
        overrides (`Mapping[str, Sequence[str]]`, *optional*): group name -> languages placed in it whatever the table
            says, e.g. `{"low-resource": ["sw", "yo"]}`; group names are those of `RESOURCE_GROUPS` or
            `"unclassified"`.

    Returns:
        `dict[str, list[str]]`: e.g. `{"high-resource": ["en", "de"], "low-resource": ["sw", "yo"]}`, groups in the
        order high, mid, low, unclassified.
    """
    placed: dict[str, str] = {}
    for group, members in (overrides or {}).items():
        if group not in (*RESOURCE_GROUPS, UNCLASSIFIED):
            raise ValueError(
                f"Unknown resource group {group!r} in the override; use {[*RESOURCE_GROUPS, UNCLASSIFIED]}."
            )
        if isinstance(members, str):
            raise ValueError(f"The override of {group!r} must be a list of language codes, got the string {members!r}.")
        placed.update({language: group for language in members})
    groups: dict[str, list[str]] = {group: [] for group in (*RESOURCE_GROUPS, UNCLASSIFIED)}
    for language in dict.fromkeys(languages):
        groups[placed.get(language, resource_group(language))].append(language)
    return {group: members for group, members in groups.items() if members}
