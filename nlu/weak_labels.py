"""Weak attribute labels from cue words: what an unlabelled example says about gender, age and gift.

The model trains on these labels wherever an example carries no explicit label, so every rule here
prefers saying nothing over guessing: cues that disagree cancel out, and only the declarative lexicon
(`data/lexicon/attribute_cues.yml`) names the cue words. The rules follow the annotation guideline
in docs/annotation-guide.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from common.numbers import NUMBER_WORDS, TENS, UNITS, number_value
from common.schema import (
    AGE_GROUP,
    DEFAULT_ATTRIBUTES,
    FALSE,
    GENDER,
    GIFT,
    TRUE,
    neutral_value,
    normalise_attribute_value,
)
from nlu import PROJECT_ROOT

DEFAULT_LEXICON_PATH = PROJECT_ROOT / "data" / "lexicon" / "attribute_cues.yml"
LEXICON_ENV_VAR = "SHOPCUE_CUE_LEXICON"

# The attributes the lexicon may speak about (the others come only from explicit labels).
LEXICON_ATTRIBUTES = (GENDER, AGE_GROUP, GIFT)

Phrase = Tuple[str, ...]
Cue = Dict[str, str]

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*'?")


@dataclass(frozen=True)
class Token:
    key: str  # lower-case, apostrophes removed ("women's" -> "womens")
    alt: str  # the key without a possessive "s" ("mom's" -> "mom"), else same as key
    possessive: bool


@dataclass(frozen=True, eq=False)
class Lexicon:
    """The parsed cue lexicon; phrases are tuples of token keys."""

    people: Dict[Phrase, Cue]
    pronouns: Dict[Phrase, Cue]
    product_types: Dict[Phrase, Cue]
    ignore: Tuple[Phrase, ...]
    gift_words: Tuple[Phrase, ...]
    occasions: Tuple[Phrase, ...]
    someone: Tuple[Phrase, ...]
    recipient_markers: frozenset
    giver_markers: frozenset
    self_phrases: Tuple[Phrase, ...]
    negated_gift: Tuple[Phrase, ...]
    bands: Tuple[Tuple[str, int, int], ...]
    ordinal_words: Dict[str, int]
    age_phrases: Dict[Phrase, int]


@dataclass(frozen=True)
class AttributeLabels:
    """Every schema attribute's training label for one example, plus explicit-vs-cue contradictions."""

    values: Dict[str, str]
    conflicts: List[str] = field(default_factory=list)


def normalise_text(text: str) -> str:
    """Lower-case with typographic apostrophes made plain, the form every cue is matched on."""
    return text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")


def tokenize(text: str) -> List[Token]:
    """Word tokens of normalised text, keeping whether each was a possessive."""
    tokens = []
    for raw in _TOKEN_RE.findall(normalise_text(text)):
        possessive = raw.endswith("'s") or raw.endswith("s'")
        key = raw.replace("'", "")
        alt = key[:-1] if raw.endswith("'s") else key
        tokens.append(Token(key=key, alt=alt, possessive=possessive))
    return tokens


def _phrase(text: str) -> Phrase:
    return tuple(t.key for t in tokenize(text))


def _cue_map(section: object, name: str, source: str) -> Dict[Phrase, Cue]:
    if not isinstance(section, Mapping):
        raise ValueError(f"{source}: section '{name}' must be a mapping of phrase -> attributes")
    cues: Dict[Phrase, Cue] = {}
    for phrase, info in section.items():
        if not isinstance(info, Mapping) or not info:
            raise ValueError(f"{source}: {name}.{phrase} must map attribute names to values")
        cue: Cue = {}
        for attribute, value in info.items():
            norm = normalise_attribute_value(value)
            if attribute not in (GENDER, AGE_GROUP) or norm not in DEFAULT_ATTRIBUTES[attribute]:
                raise ValueError(f"{source}: {name}.{phrase}: unknown attribute or value {attribute}={value}")
            cue[attribute] = norm
        cues[_phrase(str(phrase))] = cue
    return cues


def _phrases(section: object, name: str, source: str) -> Tuple[Phrase, ...]:
    if not isinstance(section, list):
        raise ValueError(f"{source}: '{name}' must be a list of phrases")
    return tuple(_phrase(str(p)) for p in section)


def parse_lexicon(data: Mapping[str, object], source: str = "<lexicon>") -> Lexicon:
    """Turn the lexicon's YAML mapping into a Lexicon, with errors that name the source and entry."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: the lexicon must be a YAML mapping")
    for key in ("people", "pronouns", "product_types", "gift", "numeric_age"):
        if key not in data:
            raise ValueError(f"{source}: missing section '{key}'")
    gift = data["gift"]
    numeric = data["numeric_age"]
    if not isinstance(gift, Mapping) or not isinstance(numeric, Mapping):
        raise ValueError(f"{source}: 'gift' and 'numeric_age' must be mappings")
    if "number_words" in numeric:
        raise ValueError(f"{source}: numeric_age.number_words is not read (number words: common/numbers.py)")
    bands = []
    for group, bounds in dict(numeric.get("bands", {})).items():
        well_formed = isinstance(bounds, list) and len(bounds) == 2
        if group not in DEFAULT_ATTRIBUTES[AGE_GROUP] or not well_formed:
            raise ValueError(f"{source}: numeric_age.bands.{group} must be an age_group with [low, high]")
        bands.append((str(group), int(bounds[0]), int(bounds[1])))
    return Lexicon(
        people=_cue_map(data["people"], "people", source),
        pronouns=_cue_map(data["pronouns"], "pronouns", source),
        product_types=_cue_map(data["product_types"], "product_types", source),
        ignore=_phrases(data.get("ignore_phrases", []), "ignore_phrases", source),
        gift_words=_phrases(gift.get("words", []), "gift.words", source),
        occasions=_phrases(gift.get("occasions", []), "gift.occasions", source),
        someone=_phrases(gift.get("someone", []), "gift.someone", source),
        recipient_markers=frozenset(str(m).lower() for m in gift.get("recipient_markers", [])),
        giver_markers=frozenset(str(m).lower() for m in data.get("giver_markers", [])),
        self_phrases=_phrases(gift.get("self", []), "gift.self", source),
        negated_gift=_phrases(gift.get("negated", []), "gift.negated", source),
        bands=tuple(bands),
        ordinal_words={str(k).lower(): int(v) for k, v in dict(numeric.get("ordinal_words", {})).items()},
        age_phrases={_phrase(str(k)): int(v) for k, v in dict(numeric.get("age_phrases", {})).items()},
    )


@lru_cache(maxsize=8)
def _load_cached(path: str) -> Lexicon:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ValueError(f"{where}: malformed cue lexicon: {getattr(err, 'problem', err)}") from None
    return parse_lexicon(data, source=path)


def load_lexicon(path: Optional[os.PathLike | str] = None) -> Lexicon:
    """The cue lexicon at `path`, else $SHOPCUE_CUE_LEXICON, else the shipped one; parsed once per path."""
    chosen = path or os.environ.get(LEXICON_ENV_VAR) or DEFAULT_LEXICON_PATH
    return _load_cached(_resolved(str(chosen)))


@lru_cache(maxsize=64)
def _resolved(path: str) -> str:
    """The absolute path a lexicon path names, once per spelling: resolving it touches the file system
    and cost a third of a message's cue labelling (~25 of 86 us)."""
    return str(Path(path).resolve())


@lru_cache(maxsize=64)
def _by_first_word(phrases: Tuple[Phrase, ...]) -> Dict[str, Tuple[Phrase, ...]]:
    index: Dict[str, List[Phrase]] = {}
    for phrase in phrases:
        if phrase:
            index.setdefault(phrase[0], []).append(phrase)
    return {word: tuple(group) for word, group in index.items()}


def _find(tokens: Sequence[Token], phrases: Sequence[Phrase], blocked: set) -> List[Tuple[int, int, Phrase]]:
    """Longest non-overlapping matches (start, end, phrase) of `phrases`, skipping blocked positions."""
    index = _by_first_word(tuple(phrases))
    found = []
    for start in range(len(tokens)):
        candidates = index.get(tokens[start].key, ()) + (
            index.get(tokens[start].alt, ()) if tokens[start].alt != tokens[start].key else ()
        )
        for phrase in candidates:
            end = start + len(phrase)
            if end > len(tokens) or any(i in blocked for i in range(start, end)):
                continue
            if all(tokens[start + k].key == w or tokens[start + k].alt == w for k, w in enumerate(phrase)):
                found.append((start, end, phrase))
    found.sort(key=lambda m: (m[0], -(m[1] - m[0])))
    chosen: List[Tuple[int, int, Phrase]] = []
    last_end = -1
    for match in found:
        if match[0] >= last_end:
            chosen.append(match)
            last_end = match[1]
    return chosen


def _first_tier_agreement(attribute: str, tiers: Sequence[Sequence[Mapping[str, str]]]) -> Optional[str]:
    """The value the strongest tier with any evidence agrees on; a tier that disagrees with itself
    decides 'no label' rather than letting a weaker tier speak."""
    for tier in tiers:
        values = [cue[attribute] for cue in tier if attribute in cue]
        if values:
            return _agree(values)
    return None


def _agree(values: Sequence[str]) -> Optional[str]:
    """The one value all cues agree on; None for no cues or a disagreement."""
    distinct = set(values)
    return next(iter(distinct)) if len(distinct) == 1 else None


def _number_pattern() -> str:
    """A number in digits or words ("7", "seven", "twenty-one"), as one regex group."""
    units = [w for w, n in UNITS.items() if 0 < n < 10]
    words = sorted(NUMBER_WORDS, key=len, reverse=True)
    compound = f"(?:{'|'.join(TENS)})[- ](?:{'|'.join(units)})"
    return "(" + "|".join([compound, *words, r"\d{1,3}"]) + ")"


@lru_cache(maxsize=8)
def _age_patterns(lex: Lexicon) -> Tuple[Tuple[re.Pattern, str], ...]:
    num = _number_pattern()
    not_unit = r"(?![\d.]|\s*(?:%|ft|feet|foot|in\b|inch|cm|mm|m\b|kg|g\b|lb|pound|oz|dollar|buck|usd|\$|k\b|"
    not_unit += r"pack|pc|piece|month|mo\b|week|day|x\b|gb|tb|ml|l\b|ct|count|percent|off|pm|am))"
    years = [
        rf"\b{num}\s*-?\s*(?:yo|y/o|y\.o\.?|yrs?[- ]olds?|years?[- ]olds?|yr-olds?|year-olds?)\b",
        rf"\b(?:turning|turns|turned|aged|ages?)\s+{num}\b{not_unit}",
        rf"\b(?:she|he|who|son|daughter|kid|boy|girl|niece|nephew|grandson|granddaughter|they)"
        rf"(?:'s|s| is| are|'re|'ll be| will be)\s+(?:only\s+|just\s+|almost\s+|nearly\s+)?{num}\b{not_unit}",
    ]
    months = [
        rf"\b{num}\s*-?\s*(?:months?|mos?|mths?|weeks?|wks?|days?)[- ]old\b",
        r"\b\d{1,2}\s*-\s*\d{1,2}\s*(?:months?|mos?|mths?|m)\b",
        r"\b(?:preemie|nb)\s+(?:size|diapers?)\b",
    ]
    ordinals = "|".join(sorted(lex.ordinal_words, key=len, reverse=True))
    birthday = r"\s+(?:birthday|bday|b-day|bday's|birthdays)\b"
    patterns: List[Tuple[re.Pattern, str]] = [(re.compile(p), "years") for p in years]
    patterns += [(re.compile(p), "months") for p in months]
    patterns.append((re.compile(rf"\b(\d{{1,3}})(?:st|nd|rd|th){birthday}"), "years"))
    if ordinals:
        patterns.append((re.compile(rf"\b({ordinals}){birthday}"), "ordinal"))
    patterns.append((re.compile(r"\b(?:in (?:his|her|their|my) |(?:late|early|mid)[- ])(\d)0s\b"), "decade"))
    return tuple(patterns)


def _band(years: float, lex: Lexicon) -> Optional[str]:
    for group, low, high in lex.bands:
        if low <= years < high + 1:
            return group
    return None


def numeric_age_groups(text: str, lex: Optional[Lexicon] = None) -> List[str]:
    """Age groups of every numeric age in the text ("10yo" -> kid, "6 month old" -> baby)."""
    lex = lex or load_lexicon()
    norm = normalise_text(text)
    groups: List[str] = []
    for pattern, unit in _age_patterns(lex):
        for match in pattern.finditer(norm):
            if unit == "months":
                value = number_value(match.group(1)) if match.groups() and match.group(1) else 0
                is_months = "month" in match.group(0) or re.search(r"\d\s*(?:mos?|mths?|m)\b", match.group(0))
                years = (value or 0) / 12 if is_months else 0
                group = _band(years, lex)
            elif unit == "ordinal":
                group = _band(lex.ordinal_words[match.group(1)], lex)
            elif unit == "decade":
                group = _band(int(match.group(1)) * 10, lex)
            else:
                value = number_value(match.group(1))
                group = _band(value, lex) if value is not None and value <= 120 else None
            if group:
                groups.append(group)
    tokens = tokenize(text)
    for _, _, phrase in _find(tokens, list(lex.age_phrases), set()):
        group = _band(lex.age_phrases[phrase], lex)
        if group:
            groups.append(group)
    return groups


def label_attributes(text: str, lexicon: Optional[Lexicon] = None) -> Dict[str, str]:
    """Weak labels for the attributes the text shows evidence for; an attribute without evidence is absent.

    "bday present for my 10yo son" -> {"gender": "male", "age_group": "kid", "gift": "true"};
    "christmas lights for the porch" -> {}.
    """
    lex = lexicon or load_lexicon()
    tokens = tokenize(text)
    blocked = {i for s, e, _ in _find(tokens, lex.ignore, set()) for i in range(s, e)}

    people = [
        (s, e, p)
        for s, e, p in _find(tokens, list(lex.people), blocked)
        if not {t.key for t in tokens[max(0, s - 2) : s]} & lex.giver_markers
    ]
    person_spans = [(s, e) for s, e, _ in people]
    occasion_matches = _find(tokens, lex.occasions, blocked)
    occasion_starts = {s for s, _, _ in occasion_matches}

    def possessor_of_someone(start: int, end: int) -> bool:
        """'my son's teacher': the possessive names someone else, unless the occasion follows it."""
        if not tokens[end - 1].possessive or end in occasion_starts:
            return False
        return any(s in (end, end + 1) for s, _ in person_spans)

    person_cues = [lex.people[p] for s, e, p in people if not possessor_of_someone(s, e)]
    pronoun_cues = [lex.pronouns[p] for _, _, p in _find(tokens, list(lex.pronouns), blocked)]
    product_cues = [lex.product_types[p] for _, _, p in _find(tokens, list(lex.product_types), blocked)]

    labels: Dict[str, str] = {}
    gender = _first_tier_agreement(GENDER, (person_cues, pronoun_cues, product_cues))
    if gender:
        labels[GENDER] = gender
    numeric_cues = [{AGE_GROUP: g} for g in numeric_age_groups(text, lex)]
    age_group = _first_tier_agreement(AGE_GROUP, (numeric_cues, person_cues, product_cues))
    if age_group:
        labels[AGE_GROUP] = age_group

    gift = _gift_evidence(tokens, lex, blocked, people, occasion_matches, possessor_of_someone)
    if gift is not None:
        labels[GIFT] = gift
    return labels


def _gift_evidence(tokens, lex, blocked, people, occasion_matches, possessor_of_someone) -> Optional[str]:
    """'true' for gift words or an occasion for someone; 'false' for buying for oneself; else None."""
    negated = _find(tokens, lex.negated_gift, blocked)
    if negated:
        return FALSE
    if _find(tokens, lex.gift_words, blocked):
        return TRUE
    if occasion_matches:
        occasion_starts = {s for s, _, _ in occasion_matches}
        occasion_positions = {i for s, e, _ in occasion_matches for i in range(s, e)}
        for start, end, _ in people:
            marked = False
            for i in (start - 1, start - 2):
                if i < 0 or i in occasion_positions:
                    break
                if tokens[i].key in lex.recipient_markers:
                    marked = True
                    break
            own_occasion = tokens[end - 1].possessive and end in occasion_starts
            if (marked and not possessor_of_someone(start, end)) or own_occasion:
                return TRUE
        for i, token in enumerate(tokens):
            if token.key in ("her", "him", "them") and i > 0 and tokens[i - 1].key in ("for", "to"):
                return TRUE
        if _find(tokens, lex.someone, blocked):
            return TRUE
    if _find(tokens, lex.self_phrases, blocked):
        return FALSE
    return None


def attribute_labels(
    text: str,
    explicit: Optional[Mapping[str, object]],
    schema: Mapping[str, Sequence[str]],
    lexicon: Optional[Lexicon] = None,
) -> AttributeLabels:
    """Training labels for every attribute in `schema`: explicit wins, then the cue lexicon, then neutral.

    Explicit attributes outside the schema are ignored (the schema decides what the model learns; the
    data validator reports unknown names). An explicit value outside its attribute's values raises
    ValueError. A cue that contradicts an explicit label is listed in `conflicts`.
    """
    explicit = dict(explicit or {})
    weak = label_attributes(text, lexicon) if any(a in LEXICON_ATTRIBUTES for a in schema) else {}
    values: Dict[str, str] = {}
    conflicts: List[str] = []
    for attribute, allowed in schema.items():
        allowed_list = [normalise_attribute_value(v) for v in allowed]
        if attribute in explicit and explicit[attribute] is not None:
            value = normalise_attribute_value(explicit[attribute])
            if value not in allowed_list:
                allowed_text = ", ".join(allowed_list)
                raise ValueError(
                    f"unknown value '{value}' for attribute '{attribute}' (allowed: {allowed_text})"
                )
            values[attribute] = value
            cue = weak.get(attribute)
            if cue is not None and cue in allowed_list and cue != value:
                conflicts.append(f"{attribute}: explicit '{value}' but the cue words say '{cue}'")
        elif attribute in weak and weak[attribute] in allowed_list:
            values[attribute] = weak[attribute]
        else:
            values[attribute] = neutral_value(attribute, allowed_list)
    return AttributeLabels(values=values, conflicts=conflicts)
