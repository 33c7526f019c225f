"""ISO 639 language codes, checked offline.

The code list ships as `iso639.json` beside this file. It was generated from the Debian `iso-codes` package
(the JSON files under `/usr/share/iso-codes/json`, which mirror the ISO 639-2/639-3 registration authorities'
tables) with:

```python
import json
from babelclip.trainers.data.languages import build_code_table

table = build_code_table("/usr/share/iso-codes/json")
json.dump(table, open("trainers/data/iso639.json", "w"), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
```

Accepted codes:
- ISO 639-1 two-letter codes (`"de"`), ISO 639-3 three-letter codes (`"quz"`), ISO 639-2 codes including the
  bibliographic and collective ones (`"ger"`, `"ber"`);
- optionally followed by BCP-47 subtags: a script (ISO 15924, title case: `"zh-Hans"`) and/or a region
  (ISO 3166-1 alpha-2 in upper case or a UN M.49 three-digit area: `"pt-BR"`, `"es-419"`, `"sr-Latn-RS"`).

The language subtag must be lower case, and subtags are joined with `-`: per-language metrics treat `"EN"`, `"en"` and
`"en_US"` as different languages, so one spelling is enforced. Variants and extensions (`"de-CH-1996"`) are rejected.

Canonical codes ([`canonical_language_code`]): one language, one code, so that its metrics are one row. A valid code
is rewritten to its BCP 47 canonical form by `langcodes.standardize_tag` (CLDR's alias data, not a table of ours):

- ISO 639-2/639-3 synonyms of a two-letter code become the ISO 639-1 code: `"deu"` and `"ger"` -> `"de"`,
  `"eng"` -> `"en"`, `"mao"` / `"mri"` -> `"mi"`; codes without a two-letter one stay as they are (`"quz"`, `"yue"`);
- CLDR's legacy aliases are applied: `"tl"` -> `"fil"`, `"sh"` -> `"sr-Latn"`, `"prs"` -> `"fa-AF"`;
- a script subtag is kept (`"zh-Hant"`, `"sr-Latn"`) unless it is the language's only usual script, which CLDR
  drops (`"en-Latn"` -> `"en"`, `"ja-Jpan"` -> `"ja"`);
- a region subtag is kept as given: `"sw-KE"`, `"pt-BR"` and `"es-419"` are rows of their own, apart from `"sw"`,
  `"pt"` and `"es"` (regional varieties can differ, and merging them is the user's decision: map the column first);
- individual languages are not folded into their macrolanguage: `"cmn"`, `"swh"` and `"arb"` stay apart from
  `"zh"`, `"sw"` and `"ar"`.

`validate_dataset` (so every loader) writes the canonical codes into the `language` column, and the recall functions
group captions by canonical code, so `de`, `deu` and `ger` land in one metric row either way.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

_TABLE_PATH = Path(__file__).with_name("iso639.json")

# The language every bitext source and every `source_caption` is in unless a run says otherwise (`source_language`).
DEFAULT_SOURCE_LANGUAGE = "en"

# Country codes met as language codes in real datasets (XTD10 names Japanese "jp"). Withdrawn language codes (Google's
# "iw" / "in", "ji", "jw", "mo") need no entry: langcodes knows their replacements.
COMMON_MISTAKES: dict[str, str] = {
    "jp": "ja",
    "cn": "zh",
    "kr": "ko",
    "gr": "el",
    "dk": "da",
    "cz": "cs",
    "ua": "uk",
    "vn": "vi",
}

_SUBTAG = re.compile(r"^(?P<lang>[a-z]{2,3})(?:-(?P<script>[A-Z][a-z]{3}))?(?:-(?P<region>[A-Z]{2}|[0-9]{3}))?$")


def build_code_table(iso_codes_json_dir: str | Path) -> dict[str, Any]:
    """
    Build the code table shipped as `iso639.json` from the `iso-codes` JSON files.

    Args:
        iso_codes_json_dir (`str` or `Path`):
            Folder holding `iso_639-2.json`, `iso_639-3.json`, `iso_15924.json` and `iso_3166-1.json` (Debian:
            `/usr/share/iso-codes/json`).

    Returns:
        `dict`: `iso639_1` (two-letter code -> English name), `iso639_2` and `iso639_3` (sorted three-letter codes),
        `scripts` (ISO 15924 codes), `regions` (ISO 3166-1 alpha-2 codes).
    """
    folder = Path(iso_codes_json_dir)

    def entries(name: str, key: str) -> list[dict[str, str]]:
        return json.loads((folder / name).read_text(encoding="utf-8"))[key]

    part3 = entries("iso_639-3.json", "639-3")
    part2 = entries("iso_639-2.json", "639-2")
    two_letter = {e["alpha_2"]: e["name"] for e in part2 + part3 if "alpha_2" in e}
    part2_codes = {e["alpha_3"] for e in part2} | {e["bibliographic"] for e in part2 if "bibliographic" in e}
    return {
        "iso639_1": dict(sorted(two_letter.items())),
        "iso639_2": sorted(part2_codes),
        "iso639_3": sorted(e["alpha_3"] for e in part3),
        "scripts": sorted(e["alpha_4"] for e in entries("iso_15924.json", "15924")),
        "regions": sorted(e["alpha_2"] for e in entries("iso_3166-1.json", "3166-1")),
    }


@cache
def _table() -> dict[str, Any]:
    raw = json.loads(_TABLE_PATH.read_text(encoding="utf-8"))
    return {
        "iso639_1": raw["iso639_1"],
        "three_letter": frozenset(raw["iso639_2"]) | frozenset(raw["iso639_3"]),
        "scripts": frozenset(raw["scripts"]),
        "regions": frozenset(raw["regions"]),
        "names": {name.lower(): code for code, name in raw["iso639_1"].items()},
    }


_UNKNOWN_LANGUAGE = "unknown language subtag"


def _subtag_problem(code: str) -> str | None:
    """`None` for a valid code, a sentence for a known language with a bad script or region, else
    `_UNKNOWN_LANGUAGE` (no suggestion is computed here: [`suggest_language_code`] relies on this check)."""
    table = _table()
    match = _SUBTAG.match(code)
    if match is None:
        return _UNKNOWN_LANGUAGE
    lang, script, region = match.group("lang", "script", "region")
    if not (lang in table["iso639_1"] if len(lang) == 2 else lang in table["three_letter"]):
        return _UNKNOWN_LANGUAGE
    if script is not None and script not in table["scripts"]:
        return f"{code!r} has an unknown script {script!r} (ISO 15924 codes such as 'Hans', 'Latn')"
    if region is None or region.isdigit() or region in table["regions"]:
        return None
    return f"{code!r} has an unknown region {region!r} (ISO 3166-1 alpha-2 codes such as 'BR', or 3 digits)"


def language_problem(code: Any) -> str | None:
    """
    Say what is wrong with a language code, or return `None` when it is valid.

    Args:
        code (`Any`):
            The value to check, normally a `str` such as `"de"`, `"quz"` or `"zh-Hans"`.

    Returns:
        `str` or `None`: a sentence naming the problem and, where one is known, the code to use instead.
    """
    if not isinstance(code, str):
        return f"{code!r} is not a string; language codes are strings such as 'de'"
    problem = _subtag_problem(code)
    if problem != _UNKNOWN_LANGUAGE:
        return problem
    suggestion = suggest_language_code(code)
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    return (
        f"{code!r} is not an ISO 639 language code (ISO 639-1 such as 'de', or ISO 639-3 such as 'quz', optionally "
        f"with a script/region such as 'zh-Hans', 'pt-BR'){hint}"
    )


def is_language_code(code: Any) -> bool:
    """
    Whether `code` is an accepted ISO 639 code (see the module docstring for the exact rules).

    Args:
        code (`Any`): the value to check.

    Returns:
        `bool`

    Example:
    ```python
    >>> is_language_code("pt-BR"), is_language_code("jp")
    (True, False)
    ```
    """
    return isinstance(code, str) and _subtag_problem(code) is None


def suggest_language_code(value: str) -> str | None:
    """
    Guess the valid code a user meant: wrong case (`"EN"`), `_` separators (`"pt_BR"`), common non-ISO codes
    (`"jp"`), or an English language name (`"German"`).

    Args:
        value (`str`): an invalid language code.

    Returns:
        `str` or `None`: a valid code, or `None` when nothing fits.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    parts = re.split(r"[-_]", value.strip())
    lang = parts[0].lower()
    lang = COMMON_MISTAKES.get(lang, lang)
    lang = _table()["names"].get(value.strip().lower(), lang)
    rest = [p.title() if len(p) == 4 else p.upper() for p in parts[1:]]
    candidate = "-".join([lang, *rest])
    if not is_language_code(candidate):
        candidate = _standardized(candidate) or candidate  # a withdrawn code: "iw" -> "he"
    return candidate if candidate != value and _SUBTAG.match(candidate) and is_language_code(candidate) else None


@cache
def _standardized(tag: str) -> str | None:
    """`langcodes.standardize_tag(tag)`, or `None` for a tag it cannot parse."""
    import langcodes  # 50 ms: only when a code is canonicalised, never for `--help`

    try:
        return langcodes.standardize_tag(tag)
    except (langcodes.LanguageTagError, ValueError):
        return None


def canonical_language_code(code: str) -> str:
    """
    The one code a language is reported under (see "Canonical codes" in the module docstring for the rule).

    Args:
        code (`str`): a valid language code (see [`is_language_code`]).

    Returns:
        `str`: the canonical code; `canonical_language_code(canonical_language_code(c)) == canonical_language_code(c)`.

    Raises:
        `ValueError`: for an invalid code, with the same message (and suggestion) as dataset validation.

    Example:
    ```python
    >>> [canonical_language_code(code) for code in ("de", "deu", "ger", "zh-Hant", "sw-KE", "en-Latn")]
    ['de', 'de', 'de', 'zh-Hant', 'sw-KE', 'en']
    ```
    """
    problem = language_problem(code)
    if problem is not None:
        raise ValueError(problem)
    return _standardized(code) or code


def language_key(label: Any) -> Any:
    """
    The key per-language results are grouped under: the canonical code of a valid code, any other label unchanged
    (evaluation accepts arbitrary labels such as `"lang0"`; only validation rejects them).

    Args:
        label (`Any`): a caption's language label.
    """
    return canonical_language_code(label) if is_language_code(label) else label


def language_name(code: str) -> str | None:
    """
    English name of a two-letter code's language (`"de"` -> `"German"`), for reports; `None` for other codes.

    Args:
        code (`str`): a language code; only its language subtag is read.
    """
    return _table()["iso639_1"].get(code.split("-")[0])
