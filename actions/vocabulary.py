"""The shopper's words mapped onto the catalog's values: product types, categories, colours, sizes,
materials and brands, with synonyms (actions/catalog/synonyms.yml) and plurals.

Built once per catalog from the synonyms file plus the catalog's own distinct values, so an imported
catalog with new product types is searchable without editing the file.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

SYNONYMS_PATH = Path(__file__).resolve().parent / "catalog" / "synonyms.yml"

# A shopper's word this alike (difflib ratio) to a catalog product word, and this long, is read as it.
SPELLING_CUTOFF = 0.85
MIN_SPELLING_LENGTH = 5

_WORD_RE = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces; punctuation other than inner '-' and "'" dropped."""
    return " ".join(_WORD_RE.findall(text.lower().replace("\u2019", "'")))


def word_forms(word: str) -> List[str]:
    """A word and its likely singulars ("dresses" -> dress, "hoodies" -> hoodie/hoody)."""
    forms = [word]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        forms.append(word[:-1])
        if word.endswith("es"):
            forms.append(word[:-2])
        if word.endswith("ies"):
            forms.append(word[:-3] + "y")
    return forms


def phrase_forms(phrase: str) -> List[str]:
    """A phrase with its last word in each of its forms ("running shoes" -> "running shoe")."""
    words = normalise(phrase).split()
    if not words:
        return []
    return [" ".join(words[:-1] + [form]) for form in word_forms(words[-1])]


@dataclass
class _Table:
    """Phrase (all forms) -> catalog value, with the longest phrase found first when scanning text."""

    lookup: Dict[str, str] = field(default_factory=dict)

    def add(self, phrase: str, value: str) -> None:
        for form in phrase_forms(phrase):
            self.lookup.setdefault(form, value)

    def exact(self, text: str) -> Optional[str]:
        for form in phrase_forms(text):
            if form in self.lookup:
                return self.lookup[form]
        return None

    def scan(self, text: str) -> List[Tuple[int, int, str]]:
        """(start word, end word, value) of non-overlapping phrases in the text, longest first."""
        words = normalise(text).split()
        taken: set = set()
        found: List[Tuple[int, int, str]] = []
        for length in range(min(4, len(words)), 0, -1):
            for start in range(0, len(words) - length + 1):
                span = set(range(start, start + length))
                if span & taken:
                    continue
                value = self.exact(" ".join(words[start : start + length]))
                if value is not None:
                    found.append((start, start + length, value))
                    taken |= span
        return sorted(found)


@dataclass
class Vocabulary:
    product_types: _Table
    categories: _Table
    colours: _Table
    sizes: _Table
    materials: _Table
    brands: _Table
    brand_words: _Table  # brands safe to spot inside free text (not also ordinary words like "vintage")
    type_synonyms: Dict[str, List[str]]  # canonical type -> every word for it (for full-text search)

    def colour(self, text: str) -> Optional[str]:
        return self.colours.exact(text) or _first(self.colours.scan(text))

    def material(self, text: str) -> Optional[str]:
        return self.materials.exact(text) or _first(self.materials.scan(text))

    def brand(self, text: str) -> Optional[str]:
        return self.brands.exact(text) or _first(self.brand_words.scan(text))

    def size(self, text: str) -> Optional[str]:
        return parse_size(text, self.sizes)

    def find_product(self, text: str) -> Tuple[Optional[str], Optional[str]]:
        """The product type and/or category a phrase names: exactly, else the longest phrase inside it."""
        exact_type = self.product_types.exact(text)
        if exact_type:
            return exact_type, None
        exact_category = self.categories.exact(text)
        if exact_category:
            return None, exact_category
        types = self.product_types.scan(text)
        if types:
            return max(types, key=lambda hit: hit[1] - hit[0])[2], None
        categories = self.categories.scan(text)
        if categories:
            return None, categories[0][2]
        return None, None

    def split_product(self, phrase: str) -> Tuple[Optional[str], Optional[str], List[str]]:
        """(product type, category, the phrase's other words): "wireless headphones" ->
        ("headphones", None, ["wireless"]), so the other words can still narrow the search."""
        words = normalise(phrase).split()
        for table, is_type in ((self.product_types, True), (self.categories, False)):
            exact = table.exact(phrase)
            if exact:
                return (exact, None, []) if is_type else (None, exact, [])
        for table, is_type in ((self.product_types, True), (self.categories, False)):
            hits = table.scan(phrase)
            if hits:
                start, end, value = max(hits, key=lambda hit: hit[1] - hit[0])
                rest = words[:start] + words[end:]
                return (value, None, rest) if is_type else (None, value, rest)
        return None, None, words

    def search_words(self, product_type: str) -> List[str]:
        return [product_type] + self.type_synonyms.get(product_type, [])

    def known_word(self, word: str) -> bool:
        """Whether any table knows the word (a colour, a size, a brand ...): not a misspelling."""
        tables = (self.product_types, self.categories, self.colours, self.sizes, self.materials, self.brands)
        return any(table.exact(word) for table in tables)

    @cached_property
    def _product_words(self) -> List[str]:
        """The single catalog words for products and categories, built once per vocabulary (the spelling
        fallback runs on the per-message path)."""
        words = [*self.product_types.lookup, *self.categories.lookup]
        return [word for word in words if " " not in word and len(word) >= 4]

    def closest_product(
        self, text: str, ignore: Iterable[str] = ()
    ) -> Optional[Tuple[str, Optional[str], Optional[str]]]:
        """(the word as typed, product type, category) for a misspelled product word ("hedphones",
        "sneekers"): the closest single catalog word with the same first letter, at least
        `SPELLING_CUTOFF` alike. None when no word of the text is that close."""
        skip = set(ignore)
        for word in normalise(text).split():
            if len(word) < MIN_SPELLING_LENGTH or word in skip or self.known_word(word):
                continue
            near = [w for w in self._product_words if w[0] == word[0] and abs(len(w) - len(word)) <= 2]
            match = difflib.get_close_matches(word, near, n=1, cutoff=SPELLING_CUTOFF)
            if match:
                product_type, category = self.find_product(match[0])
                return word, product_type, category
        return None


def _first(hits: Sequence[Tuple[int, int, str]]) -> Optional[str]:
    return hits[0][2] if hits else None


_SIZE_RE = re.compile(
    r"\b(?:size|sz|uk|us|eu)\s*([0-9]{1,2}(?:\.5)?(?:-[0-9]{1,2}[ym])?|x{0,3}[sml]|xxl|[a-z])\b"
)
_LABELLED_SIZE_RE = re.compile(r"\b([0-9]{1,2}-[0-9]{1,2}\s*[ym])\b|\b(x{1,3}l|xs|x{2,3}s)\b")


def parse_size(text: str, words: _Table) -> Optional[str]:
    """The size a text asks for: "size 8" -> "8", "medium" -> "M", "XL" -> "XL", "7-8y" -> "7-8Y"."""
    lowered = text.lower()
    labelled = _SIZE_RE.search(lowered)
    if labelled:
        value = labelled.group(1)
        return value.upper() if not value[0].isdigit() or value[-1] in "ym" else value
    special = _LABELLED_SIZE_RE.search(lowered)
    if special:
        return (special.group(1) or special.group(2)).replace(" ", "").upper()
    word = words.exact(lowered) or _first(words.scan(lowered))
    if word:
        return word
    bare = re.fullmatch(r"\s*([0-9]{1,2}(?:\.5)?|x{0,3}[sml]|xxl)\s*", lowered)
    if bare:
        return bare.group(1).upper()
    return None


def build_vocabulary(
    synonyms: dict,
    catalog_types: Iterable[Tuple[str, str]] = (),
    catalog_colours: Iterable[str] = (),
    catalog_materials: Iterable[str] = (),
    catalog_brands: Iterable[str] = (),
) -> Vocabulary:
    """Pure: the synonyms file's content plus the catalog's distinct values -> lookup tables."""
    product_types, categories, colours = _Table(), _Table(), _Table()
    sizes, materials, brands = _Table(), _Table(), _Table()
    for product_type, category in catalog_types:
        product_types.add(product_type, product_type)
        categories.add(category, category)
    for values, table in ((catalog_colours, colours), (catalog_materials, materials)):
        for value in values:
            if value:
                table.add(value, value)
    for section, table in (
        ("product_types", product_types),
        ("categories", categories),
        ("colours", colours),
        ("materials", materials),
    ):
        _add_synonyms(table, synonyms.get(section) or {})
    for canonical, words in (synonyms.get("sizes") or {}).items():
        for word in words or []:
            sizes.add(str(word), str(canonical))
    type_synonyms = {
        canonical: [str(w) for w in words or []]
        for canonical, words in (synonyms.get("product_types") or {}).items()
    }
    brand_words = _Table()
    ambiguous = {str(word).lower() for word in synonyms.get("ambiguous_brands") or []}
    for brand in catalog_brands:
        brands.add(brand, brand)
        if brand.lower() not in ambiguous:
            brand_words.add(brand, brand)
    return Vocabulary(
        product_types,
        categories,
        colours,
        sizes,
        materials,
        brands,
        brand_words,
        type_synonyms,
    )


def _add_synonyms(table: _Table, section: Dict[str, List[str]]) -> None:
    """A canonical value and each of its synonyms, all pointing at the canonical value."""
    for canonical, words in section.items():
        table.add(canonical, canonical)
        for word in words or []:
            table.add(str(word), canonical)


@lru_cache(maxsize=1)
def load_synonyms(path: Path = SYNONYMS_PATH) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}
