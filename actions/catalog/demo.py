"""The demo catalog generator: a few thousand plausible products made from `demo_catalog.yml`.

The data (families, kinds, brands, sizes, audiences) lives in the YAML file; this module checks it and
turns it into products. The same file and seed always give the same products (ids, titles, prices,
stock), so tests and benchmarks can rely on them. Some products and sizes are out of stock on purpose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, NoReturn, Sequence, Tuple

import yaml

from actions.catalog.models import AGE_GROUPS, GENDERS, ONE_SIZE, UNISEX
from common.schema import AGE_GROUP, GENDER

DATA_FILE = Path(__file__).with_name("demo_catalog.yml")
DEFAULT_TOTAL = 3600
DEFAULT_SEED = 7

Audience = Tuple[str, str]  # (gender, age_group)

_TOP_KEYS = ("defaults", "size_charts", "audience_groups", "title_words", "families")
_FAMILY_KEYS = ("category", "brands", "kinds")
_REQUIRED_KIND_KEYS = ("product_type", "title_noun", "price", "audiences")
_DEFAULT_KEYS = ("materials", "colours", "styles", "features", "gift", "weight")
_KIND_KEYS = (*_REQUIRED_KIND_KEYS, "brands", "sizes", *_DEFAULT_KEYS)
_AGE_PHRASES = {"adult": "adults", "teen": "teenagers", "kid": "children", "baby": "babies"}


def _all(values: Any, of: Any) -> bool:
    return all(isinstance(v, of) and not isinstance(v, bool) for v in values)


def _is_audience(pair: Any) -> bool:
    words = str(pair).split()
    return len(words) == 2 and words[0] in GENDERS and words[1] in AGE_GROUPS


# What a value must be: (type, what to call it in an error, a further check).
Rule = Tuple[Any, str, Callable[[Any], Any]]
_TEXT: Rule = (str, "text", str.strip)
_WORDS: Rule = (list, "a non-empty list of words (quote numbers)", lambda v: v and _all(v, str))
_MAPPINGS: Rule = (list, "a non-empty list of mappings", lambda v: v and _all(v, dict))
_PRICE: Rule = (
    list,
    "[low, high], 0 < low <= high",
    lambda v: len(v) == 2 and _all(v, (int, float)) and 0 < v[0] <= v[1],
)
_AUDIENCES: Rule = (
    list,
    f"a list of 'gender age_group' pairs ({'/'.join(GENDERS)}, {'/'.join(AGE_GROUPS)})",
    lambda v: v and _all(v, str) and all(map(_is_audience, v)),
)
_OPTIONS: Dict[str, Rule] = {  # the keys a kind may leave to `defaults`
    "brands": _WORDS,
    "materials": _WORDS,
    "colours": _WORDS,
    "styles": _WORDS,
    "features": (list, "a list of words", lambda v: _all(v, str)),
    "gift": ((int, float), "a share from 0 to 1", lambda v: 0 <= v <= 1),
    "weight": (int, "a whole number from 1", lambda v: v >= 1),
}


class DemoCatalogError(ValueError):
    """The data file is malformed; the message names the file and the family or kind at fault."""


@dataclass(frozen=True)
class Kind:
    """One product type: who it is for, what it costs, who makes it and how it is sized."""

    product_type: str
    title_noun: str
    price: Tuple[float, float]
    audiences: Tuple[Audience, ...]
    brands: Tuple[str, ...]
    materials: Tuple[str, ...]
    colours: Tuple[str, ...]
    styles: Tuple[str, ...]
    features: Tuple[str, ...]
    gift: float  # the share of gift-suitable items
    weight: int  # the kind's share of the catalog, relative to the other kinds
    sizes: Mapping[str, Tuple[str, ...]] = field(hash=False)  # by age group; empty: sold without sizes


@dataclass(frozen=True)
class Family:
    category: str
    brands: Tuple[str, ...]
    kinds: Tuple[Kind, ...]


class DemoData(NamedTuple):
    families: Tuple[Family, ...]
    title_words: Dict[Audience, str]  # the audience's word in a title ("Girls'"); none if absent


class _Place:
    """One mapping in the file (a family, a kind...); every failure names the file, the place and the key."""

    def __init__(
        self, path: Path, where: str, raw: Any, keys: Sequence[str] = (), required: Sequence[str] = ()
    ):
        self.path, self.where, self.raw = path, where, raw
        if not isinstance(raw, dict):
            self.fail(f"expected a mapping, got {raw!r}")
        missing = [key for key in required if key not in raw]
        if missing:
            self.fail(f"missing {missing[0]!r}")
        unknown = [key for key in raw if keys and key not in keys]
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} (known: {', '.join(keys)})")

    def fail(self, problem: str, key: Any = "") -> NoReturn:
        raise DemoCatalogError(f"{self.path}: {self.where}{', ' if key else ''}{key}: {problem}")

    def get(self, key: str, rule: Rule) -> Any:
        of, what, check = rule
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, of) or not check(value):
            self.fail(f"expected {what}, got {value!r}", key)
        return tuple(value) if isinstance(value, list) else value

    def audiences(self, key: str) -> Tuple[Audience, ...]:
        return tuple(tuple(pair.split()) for pair in self.get(key, _AUDIENCES))

    def options(self) -> Dict[str, Any]:
        return {key: self.get(key, rule) for key, rule in _OPTIONS.items() if key in self.raw}


def _kind(place: _Place, defaults: Dict[str, Any], charts: Dict[str, Any], groups: Dict[str, Any]) -> Kind:
    given = place.raw["audiences"]
    if isinstance(given, str) and given not in groups:
        place.fail(f"unknown audience group {given!r} (known: {', '.join(groups)})", "audiences")
    audiences = groups[given] if isinstance(given, str) else place.audiences("audiences")
    chart = place.raw.get("sizes")
    if chart is not None:
        if not isinstance(chart, str) or chart not in charts:
            place.fail(f"unknown size chart {chart!r} (known: {', '.join(charts)})", "sizes")
        for _, age in audiences:
            if age not in charts[chart]:
                place.fail(f"size chart {chart!r} has no sizes for age group {age!r}", "sizes")
    low, high = place.get("price", _PRICE)
    return Kind(
        product_type=place.get("product_type", _TEXT),
        title_noun=place.get("title_noun", _TEXT),
        price=(float(low), float(high)),
        audiences=audiences,
        sizes={age: charts[chart][age] for _, age in audiences} if chart else {},
        **{**defaults, **place.options()},
    )


def load_demo_data(path: Path = DATA_FILE) -> DemoData:
    """Read and check the data file, so a typo fails here, named, rather than as odd products."""
    try:
        with path.open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise DemoCatalogError(f"{path}: cannot be read: {error}") from error
    top = _Place(path, "the file", raw, _TOP_KEYS, _TOP_KEYS)
    defaults = _Place(path, "defaults", raw["defaults"], _DEFAULT_KEYS, _DEFAULT_KEYS).options()
    charts: Dict[str, Dict[str, Tuple[str, ...]]] = {}
    for name, chart in _Place(path, "size_charts", raw["size_charts"]).raw.items():
        by_age = _Place(path, f"size chart {name!r}", chart, AGE_GROUPS)
        charts[name] = {age: by_age.get(age, _WORDS) for age in chart}
    group_place = _Place(path, "audience_groups", raw["audience_groups"])
    groups = {name: group_place.audiences(name) for name in group_place.raw}
    titles = _Place(path, "title_words", raw["title_words"])
    for key in titles.raw:
        if not _is_audience(key):
            titles.fail(f"expected a 'gender age_group' pair, got {key!r}")
    families: List[Family] = []
    for number, raw_family in enumerate(top.get("families", _MAPPINGS), start=1):
        family = _Place(path, f"family #{number}", raw_family, _FAMILY_KEYS, _FAMILY_KEYS)
        family.where = f"family {family.get('category', _TEXT)!r}"
        brands = family.get("brands", _WORDS)
        kinds = []
        for index, raw_kind in enumerate(family.get("kinds", _MAPPINGS), start=1):
            name = raw_kind.get("product_type")
            where = f"{family.where}, kind {repr(name) if isinstance(name, str) else f'#{index}'}"
            kind = _Place(path, where, raw_kind, _KIND_KEYS, _REQUIRED_KIND_KEYS)
            kinds.append(_kind(kind, {**defaults, "brands": brands}, charts, groups))
        families.append(Family(family.raw["category"], brands, tuple(kinds)))
    title_words = {tuple(key.split()): titles.get(key, _TEXT) for key in titles.raw}
    return DemoData(tuple(families), title_words)


DEMO_DATA = load_demo_data()
FAMILIES: Tuple[Family, ...] = DEMO_DATA.families


def _price(rng: random.Random, low: float, high: float) -> float:
    """Log-uniform between the kind's bounds, ending in .99 or .49 as shop prices do."""
    raw = low * (high / low) ** rng.betavariate(1.6, 2.4)
    whole = max(1, int(raw))
    return whole + (0.99 if rng.random() < 0.75 else 0.49)


def _stock(rng: random.Random, sizes: Sequence[str], sold_out: bool) -> Dict[str, int]:
    if sold_out:
        return {size: 0 for size in sizes}
    levels = {}
    for size in sizes:
        roll = rng.random()
        levels[size] = 0 if roll < 0.15 else (rng.randint(1, 3) if roll < 0.3 else rng.randint(4, 40))
    if not any(levels.values()):
        levels[sizes[0]] = rng.randint(1, 10)
    return levels


def _describe(product: dict, style: str, features: List[str]) -> str:
    first = f"{style} {product['product_type']} for {_AGE_PHRASES[product[AGE_GROUP]]}"
    if product["material"]:
        first += f", in {product['material']}"
    sentences = [first + "."]
    if product["colour"]:
        sentences.append(f"Colour: {product['colour']}.")
    if features:
        sentences.append(" and ".join(features).capitalize() + ".")
    if product[GENDER] != UNISEX:
        sentences.append(f"Made for {'women and girls' if product[GENDER] == 'female' else 'men and boys'}.")
    if product["gift_suitable"]:
        sentences.append("Arrives gift-ready; a lovely present.")
    sentences.append(f"Part of our {product['category']} range.")
    return " ".join(sentences)


def _counts(weights: Sequence[int], total: int) -> List[int]:
    """Products per kind, by weight; the largest remainders take the leftovers so the sum is exact."""
    per_weight = total / sum(weights)
    shares = [weight * per_weight for weight in weights]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))
    for index in by_remainder[: total - sum(counts)]:
        counts[index] += 1
    return counts


def make_products(data: DemoData, total: int, seed: int) -> List[dict]:
    """`total` product dicts (`stock` as {size: quantity}) from `data`; the same seed, the same ones."""
    rng = random.Random(seed)
    kinds = [(family, kind) for family in data.families for kind in family.kinds]
    products: List[dict] = []
    seen_titles: Dict[str, int] = {}
    for (family, kind), count in zip(kinds, _counts([kind.weight for _, kind in kinds], total), strict=True):
        for _ in range(count):
            for _attempt in range(8):  # re-roll the look until the title is new
                gender, age_group = rng.choice(kind.audiences)
                brand = rng.choice(kind.brands)
                style = rng.choice(kind.styles)
                material = rng.choice(kind.materials)
                colour = rng.choice(kind.colours)
                audience = data.title_words.get((gender, age_group), "")
                title = " ".join(part for part in (brand, audience, style, kind.title_noun) if part)
                if colour:
                    title += f" - {colour.title()}"
                if title not in seen_titles:
                    break
            features = rng.sample(kind.features, k=min(len(kind.features), rng.randint(0, 2)))
            gift = rng.random() < kind.gift
            seen_titles[title] = seen_titles.get(title, 0) + 1
            if seen_titles[title] > 1:
                title += (
                    f" ({material.title()} Edition)"
                    if material and seen_titles[title] == 2
                    else f" (Edition {seen_titles[title]})"
                )
            product = {
                "id": f"P{len(products) + 1:05d}",
                "title": title,
                "brand": brand,
                "product_type": kind.product_type,
                "category": family.category,
                GENDER: gender,
                AGE_GROUP: age_group,
                "colour": colour,
                "material": material,
                "price": _price(rng, *kind.price),
                "rating": round(min(5.0, 2.6 + 2.4 * rng.betavariate(4, 1.6)), 1),
                "gift_suitable": gift,
            }
            product["description"] = _describe(product, style, features)
            sizes = kind.sizes.get(age_group, (ONE_SIZE,))
            product["stock"] = _stock(rng, sizes, sold_out=rng.random() < 0.07)
            products.append(product)
    return products


def generate_demo_catalog(total: int = DEFAULT_TOTAL, seed: int = DEFAULT_SEED) -> List[dict]:
    """The demo catalog from the shipped data file; the same total and seed give the same products."""
    return make_products(DEMO_DATA, total, seed)
