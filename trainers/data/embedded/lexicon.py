"""Compositional caption grammars of the embedded dataset, one per language, with real vocabulary and word order.

A caption lists the groups of a scene ("two large red circles on the left and a small white star at the top").
Each language renders a group with its own word order and agreement:

| code | language       | resource | order of one group                           | notes
|------|----------------|----------|----------------------------------------------|------------------------------------
| en   | English        | high     | count size colour noun(pl) position          |
| de   | German         | high     | count size colour Noun(pl) position          | gender/number adjective endings
| fr   | French         | high     | count size noun(pl) colour position          | colour after the noun, agreement
| ja   | Japanese       | high     | position-に size colour noun が count-counter | postposition, counter つ, no plural
| sw   | Swahili        | low      | noun(class) size colour count position       | noun-class agreement (3/4, 9/10)
| yo   | Yoruba         | low      | noun colour size count position              | modifiers and numeral after noun
| mi   | Maori          | low      | article noun colour size [e count] position  | articles he / ngā, plural adjective
| ht   | Haitian Creole | low      | count size noun colour position              | size before, colour after the noun

Entries marked `# uncertain` are the best guesses of a non-native writer; all others are ordinary dictionary words.
Captions are token lists first (the unit simulated translation noise works on), then joined: with spaces, or with
nothing for Japanese.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import product

from .scenes import COLOURS, POSITIONS, SHAPES, SIZES, ObjectGroup

HIGH_RESOURCE_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "ja")
LOW_RESOURCE_LANGUAGES: tuple[str, ...] = ("sw", "yo", "mi", "ht")

_NUMBERS_EN = {1: "a", 2: "two", 3: "three"}
_PLURAL_EN = {"cross": "crosses"}
_POSITIONS_EN = {
    "left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
    "centre": "in the centre",
}  # fmt: skip


def _words(*phrases: str) -> list[str]:
    """The words of the phrases in order ("ní apá òsì" is three words; empty phrases add none)."""
    return " ".join(phrases).split()


def _english(group: ObjectGroup) -> list[str]:
    noun = group.shape if group.count == 1 else _PLURAL_EN.get(group.shape, group.shape + "s")
    return _words(_NUMBERS_EN[group.count], group.size, group.colour, noun, _POSITIONS_EN[group.position])


# German: (gender, singular, plural). Without article the plural takes strong endings (-e); after "ein" the
# singular takes mixed endings (-er masculine, -es neuter).
_NOUNS_DE = {
    "circle": ("m", "Kreis", "Kreise"), "square": ("n", "Quadrat", "Quadrate"),
    "triangle": ("n", "Dreieck", "Dreiecke"), "star": ("m", "Stern", "Sterne"),
    "cross": ("n", "Kreuz", "Kreuze"), "heart": ("n", "Herz", "Herzen"),
}  # fmt: skip
_STEMS_DE = {
    "small": "klein", "large": "groß", "red": "rot", "blue": "blau", "green": "grün", "yellow": "gelb",
    "black": "schwarz", "white": "weiß", "purple": "violett",
}  # fmt: skip
_NUMBERS_DE = {2: "zwei", 3: "drei"}
_POSITIONS_DE = {"left": "links", "right": "rechts", "top": "oben", "bottom": "unten", "centre": "in der Mitte"}


def _german(group: ObjectGroup) -> list[str]:
    gender, singular, plural = _NOUNS_DE[group.shape]
    if group.count == 1:
        ending = "er" if gender == "m" else "es"
        head = ["ein"]
    else:
        ending = "e"
        head = [_NUMBERS_DE[group.count]]
    adjectives = [_STEMS_DE[group.size] + ending, _STEMS_DE[group.colour] + ending]
    noun = singular if group.count == 1 else plural
    return _words(*head, *adjectives, noun, _POSITIONS_DE[group.position])


# French: (gender, singular, plural); adjective forms (m sg, f sg, m pl, f pl). Size before the noun, colour after.
_NOUNS_FR = {
    "circle": ("m", "cercle", "cercles"), "square": ("m", "carré", "carrés"),
    "triangle": ("m", "triangle", "triangles"), "star": ("f", "étoile", "étoiles"), "cross": ("f", "croix", "croix"),
    "heart": ("m", "cœur", "cœurs"),
}  # fmt: skip
_ADJECTIVES_FR = {
    "small": ("petit", "petite", "petits", "petites"), "large": ("grand", "grande", "grands", "grandes"),
    "red": ("rouge", "rouge", "rouges", "rouges"), "blue": ("bleu", "bleue", "bleus", "bleues"),
    "green": ("vert", "verte", "verts", "vertes"), "yellow": ("jaune", "jaune", "jaunes", "jaunes"),
    "black": ("noir", "noire", "noirs", "noires"), "white": ("blanc", "blanche", "blancs", "blanches"),
    "purple": ("violet", "violette", "violets", "violettes"),
}  # fmt: skip
_POSITIONS_FR = {"left": "à gauche", "right": "à droite", "top": "en haut", "bottom": "en bas", "centre": "au centre"}


def _french(group: ObjectGroup) -> list[str]:
    gender, singular, plural = _NOUNS_FR[group.shape]
    form = (gender == "f") + 2 * (group.count > 1)
    head = {1: "un" if gender == "m" else "une", 2: "deux", 3: "trois"}[group.count]
    noun = singular if group.count == 1 else plural
    size, colour = _ADJECTIVES_FR[group.size][form], _ADJECTIVES_FR[group.colour][form]
    return _words(head, size, noun, colour, _POSITIONS_FR[group.position])


# Japanese: location first with the postposition に, the subject marker が, then the number with the general counter つ.
_NOUNS_JA = {"circle": "円", "square": "四角", "triangle": "三角", "star": "星", "cross": "十字", "heart": "ハート"}
_ADJECTIVES_JA = {
    "small": "小さな", "large": "大きな", "red": "赤い", "blue": "青い", "green": "緑の", "yellow": "黄色い",
    "black": "黒い", "white": "白い", "purple": "紫の",
}  # fmt: skip
_COUNTERS_JA = {1: "一つ", 2: "二つ", 3: "三つ"}
_POSITIONS_JA = {"left": "左", "right": "右", "top": "上", "bottom": "下", "centre": "真ん中"}


def _japanese(group: ObjectGroup) -> list[str]:
    return [
        _POSITIONS_JA[group.position], "に", _ADJECTIVES_JA[group.size], _ADJECTIVES_JA[group.colour],
        _NOUNS_JA[group.shape], "が", _COUNTERS_JA[group.count],
    ]  # fmt: skip


# Swahili: (singular, plural, noun class pair). Adjectives and numerals agree with the class:
# class 3 m-/mw-, class 4 mi-/my-, classes 9/10 n-/ny- (or no prefix). Colours without agreement are invariable.
_NOUNS_SW = {
    "circle": ("duara", "duara", "9/10"),  # uncertain: some dictionaries give duara class 5/6 (plural maduara)
    "square": ("mraba", "miraba", "3/4"),
    "triangle": ("pembetatu", "pembetatu", "9/10"),
    "star": ("nyota", "nyota", "9/10"),
    "cross": ("msalaba", "misalaba", "3/4"),
    "heart": ("moyo", "mioyo", "3/4"),
}
# Forms: (class 3, class 4, class 9, class 10).
_AGREEING_SW = {
    "small": ("mdogo", "midogo", "ndogo", "ndogo"),
    "large": ("mkubwa", "mikubwa", "kubwa", "kubwa"),
    "red": ("mwekundu", "myekundu", "nyekundu", "nyekundu"),
    "black": ("mweusi", "myeusi", "nyeusi", "nyeusi"),
    "white": ("mweupe", "myeupe", "nyeupe", "nyeupe"),
    2: ("", "miwili", "", "mbili"),
    3: ("", "mitatu", "", "tatu"),
}
_INVARIABLE_SW = {"blue": "buluu", "green": "kijani", "yellow": "njano", "purple": "zambarau"}
_POSITIONS_SW = {
    "left": "upande wa kushoto", "right": "upande wa kulia", "top": "juu", "bottom": "chini", "centre": "katikati",
}  # fmt: skip


def _swahili(group: ObjectGroup) -> list[str]:
    singular, plural, classes = _NOUNS_SW[group.shape]
    form = (0 if classes == "3/4" else 2) + (group.count > 1)

    def agree(word: str | int) -> str:
        return _AGREEING_SW[word][form] if word in _AGREEING_SW else _INVARIABLE_SW[word]

    words = [singular if group.count == 1 else plural, agree(group.size), agree(group.colour)]
    if group.count > 1:  # a bare singular noun already means "a ..."
        words.append(agree(group.count))
    return _words(*words, _POSITIONS_SW[group.position])


# Yoruba: modifiers and numerals follow the noun; kan ("one", "a") marks a single object.
_NOUNS_YO = {
    "circle": "òbìrí",  # uncertain
    "square": "onígun mẹ́rin",  # "four-cornered"
    "triangle": "onígun mẹ́ta",  # "three-cornered"
    "star": "ìràwọ̀",
    "cross": "àgbélébùú",
    "heart": "ọkàn",
}
_ADJECTIVES_YO = {
    "small": "kékeré", "large": "ńlá", "red": "pupa", "black": "dúdú", "white": "funfun",
    "blue": "búlúù",  # uncertain: loanword; aró names indigo
    "green": "aláwọ̀ ewé",  # "leaf-coloured"
    "yellow": "aláwọ̀ ìyeyè",  # uncertain
    "purple": "aláwọ̀ àlùkò",  # uncertain
}  # fmt: skip
_NUMBERS_YO = {1: "kan", 2: "méjì", 3: "mẹ́ta"}
_POSITIONS_YO = {
    "left": "ní apá òsì", "right": "ní apá ọ̀tún", "top": "ní òkè", "bottom": "ní ìsàlẹ̀", "centre": "ní àárín",
}  # fmt: skip


def _yoruba(group: ObjectGroup) -> list[str]:
    colour, size = _ADJECTIVES_YO[group.colour], _ADJECTIVES_YO[group.size]
    return _words(_NOUNS_YO[group.shape], colour, size, _NUMBERS_YO[group.count], _POSITIONS_YO[group.position])


# Maori: article he ("a") or ngā (plural "the") before the noun, modifiers after it, the numeral "e rua" last.
_NOUNS_MI = {
    "circle": "porowhita", "square": "tapawhā", "triangle": "tapatoru", "star": "whetū",
    "cross": "rīpeka",  # uncertain
    "heart": "manawa",  # uncertain: the organ; ngākau is the seat of feelings
}  # fmt: skip
_COLOURS_MI = {
    "red": "whero", "blue": "kahurangi", "green": "kākāriki", "yellow": "kōwhai", "black": "pango", "white": "mā",
    "purple": "waiporoporo",  # uncertain
}  # fmt: skip
_SIZES_MI = {("small", False): "iti", ("small", True): "ririki", ("large", False): "nui", ("large", True): "nunui"}
_NUMBERS_MI = {2: "e rua", 3: "e toru"}
_POSITIONS_MI = {
    "left": "ki te taha mauī", "right": "ki te taha matau", "top": "ki runga", "bottom": "ki raro",
    "centre": "ki waenganui",
}  # fmt: skip


def _maori(group: ObjectGroup) -> list[str]:
    plural = group.count > 1
    article, size, number = "ngā" if plural else "he", _SIZES_MI[group.size, plural], _NUMBERS_MI.get(group.count, "")
    return _words(
        article, _NOUNS_MI[group.shape], _COLOURS_MI[group.colour], size, number, _POSITIONS_MI[group.position]
    )


# Haitian Creole: gwo / ti (size) before the noun, the colour after it; no plural marking after a numeral.
_NOUNS_HT = {"circle": "sèk", "square": "kare", "triangle": "triyang", "star": "zetwal", "cross": "kwa", "heart": "kè"}
_WORDS_HT = {
    "small": "ti", "large": "gwo", "red": "wouj", "blue": "ble", "green": "vèt", "yellow": "jòn", "black": "nwa",
    "white": "blan",
    "purple": "vyolèt",  # uncertain: mov is also used
}  # fmt: skip
_NUMBERS_HT = {1: "yon", 2: "de", 3: "twa"}
_POSITIONS_HT = {
    "left": "sou bò gòch", "right": "sou bò dwat", "top": "anlè", "bottom": "anba", "centre": "nan mitan",
}  # fmt: skip


def _haitian(group: ObjectGroup) -> list[str]:
    number, size, colour = _NUMBERS_HT[group.count], _WORDS_HT[group.size], _WORDS_HT[group.colour]
    return _words(number, size, _NOUNS_HT[group.shape], colour, _POSITIONS_HT[group.position])


@dataclass(frozen=True)
class _Grammar:
    """How one language renders a group, and how it lists groups ("A, B and C") and joins words."""

    name: str
    render_group: Callable[[ObjectGroup], list[str]]
    conjunction: str | None  # None: every group after the first follows the list separator
    separator: str = ","
    word_joiner: str = " "


GRAMMARS: dict[str, _Grammar] = {
    "en": _Grammar("English", _english, "and"),
    "de": _Grammar("German", _german, "und"),
    "fr": _Grammar("French", _french, "et"),
    "ja": _Grammar("Japanese", _japanese, None, separator="、", word_joiner=""),
    "sw": _Grammar("Swahili", _swahili, "na"),
    "yo": _Grammar("Yoruba", _yoruba, "àti"),
    "mi": _Grammar("Maori", _maori, "me"),
    "ht": _Grammar("Haitian Creole", _haitian, "ak"),
}
SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(GRAMMARS)


def _grammar(language: str) -> _Grammar:
    if language not in GRAMMARS:
        raise ValueError(
            f"the embedded dataset has no grammar for language {language!r}; use one of {SUPPORTED_LANGUAGES}"
        )
    return GRAMMARS[language]


def caption_tokens(groups: Sequence[ObjectGroup], language: str) -> list[str]:
    """
    The words of the caption describing `groups` in that order, in `language` (the unit translation noise acts on).

    Args:
        groups (`Sequence[ObjectGroup]`): at least one group.
        language (`str`): one of `SUPPORTED_LANGUAGES`.
    """
    if not groups:
        raise ValueError("a caption needs at least one ObjectGroup to describe")
    grammar = _grammar(language)
    tokens: list[str] = []
    for index, group in enumerate(groups):
        words = [unicodedata.normalize("NFC", word) for word in grammar.render_group(group)]
        is_last = index == len(groups) - 1
        if index > 0 and is_last and grammar.conjunction is not None:
            tokens.append(grammar.conjunction)
        elif index > 0:
            tokens[-1] += grammar.separator
        tokens.extend(words)
    return tokens


def join_tokens(tokens: Sequence[str], language: str) -> str:
    """
    Join caption words the way `language` writes them (with spaces, or with nothing for Japanese).

    Args:
        tokens (`Sequence[str]`): the words.
        language (`str`): one of `SUPPORTED_LANGUAGES`.
    """
    return _grammar(language).word_joiner.join(tokens)


def render_caption(groups: Sequence[ObjectGroup], language: str) -> str:
    """
    The clean caption describing `groups`, in that order, in `language`.

    Args:
        groups (`Sequence[ObjectGroup]`): at least one group.
        language (`str`): one of `SUPPORTED_LANGUAGES`.

    Example:
        ```python
        >>> from babelclip.trainers.data.embedded.lexicon import render_caption
        >>> from babelclip.trainers.data.embedded.scenes import ObjectGroup
        >>> render_caption([ObjectGroup("circle", "red", "large", 2, "left")], "fr")
        'deux grands cercles rouges à gauche'
        ```
    """
    return join_tokens(caption_tokens(groups, language), language)


@cache
def vocabulary(language: str) -> tuple[str, ...]:
    """
    Every word the grammar of `language` can produce for a single group (sorted): the pool of wrong-word noise.

    Args:
        language (`str`): one of `SUPPORTED_LANGUAGES`.
    """
    words = set()
    for shape, colour, size, count, position in product(SHAPES, COLOURS, SIZES, (1, 2, 3), POSITIONS):
        words.update(caption_tokens([ObjectGroup(shape, colour, size, count, position)], language))
    return tuple(sorted(words))
