"""Raw product feeds with a hidden truth, for the enrichment tests and benchmark.

- `raw_demo_feed(n)`: the demo catalog (actions/catalog/demo.py) with its structured columns removed:
  id, title, description, brand, price, stock. Titles and descriptions are the generator's own.
- `other_style_feed(n)`: the same product types, audiences, colours and materials, written as other shops
  write them: other title patterns ("Running Shoes for Men | Trailblaze 9 | Black", "KIDS ... - ZIPPY",
  model numbers, sizes in titles), the shop words synonyms.yml knows (sneakers, sweater ...), brands the
  demo catalog does not have, and descriptions that never say "Part of our X range" or "<type> for adults".

Both are deterministic (seeded) and return (rows, truth): truth maps a product id to its hidden
product_type, category, gender, age_group, colour, material and gift_suitable.

    python -m enrichment.sample_feeds demo|other --size N --out FEED.csv|FEED.jsonl [--seed S]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from actions.catalog.demo import DEFAULT_SEED, FAMILIES, Family, Kind, generate_demo_catalog
from actions.catalog.models import ENRICHED_ATTRIBUTES, ONE_SIZE, UNISEX
from common.schema import AGE_GROUP, GENDER

RAW_COLUMNS = ("id", "title", "description", "brand", "price", "stock")
OTHER_SEED = 2024

Rows = List[Dict[str, Any]]
Truth = Dict[str, Dict[str, Any]]


def _truth(product: Dict[str, Any]) -> Dict[str, Any]:
    return {name: product[name] for name in ENRICHED_ATTRIBUTES}


def raw_demo_feed(n: int, seed: int = DEFAULT_SEED) -> Tuple[Rows, Truth]:
    """`n` demo products with only the raw columns; the demo descriptions are kept as they are."""
    products = generate_demo_catalog(total=n, seed=seed)
    rows = [{key: product[key] for key in RAW_COLUMNS} for product in products]
    return rows, {product["id"]: _truth(product) for product in products}


# Brands no demo family has, by category.
OTHER_BRANDS: Dict[str, Tuple[str, ...]] = {
    "clothing": ("Harbour & Hale", "Fernway", "Marlowe Street", "Oakhaven"),
    "shoes": ("Trailblaze", "Stridex Athletic", "Cobblestone", "Zephyr Run"),
    "toys": ("Zippy", "Tinker Tots", "Wonderloop"),
    "baby": ("Snugglebug", "Little Acorn", "Dewdrop"),
    "electronics": ("Corvella", "Auralis", "Vantor", "Lumio"),
    "beauty": ("Petalworks", "Solace Skin", "Emberly"),
    "jewellery": ("Glint & Co", "Sable Row", "Larkspur"),
    "home and kitchen": ("Copperpot", "Bramblewood", "Tidewater Home"),
    "sports": ("Kinetica", "Ridgeline", "Aeroluxe"),
    "books": ("Fable & Fern", "Quillon Press"),
    "gifts and cards": ("Brightwick", "Parcel & Pine"),
    "pet": ("Pawfect", "Wildroot Pet"),
}

# How other shops name the product types: the demo noun's synonyms that synonyms.yml knows, and retail
# phrasings ("Ankle Boots") whose last words are a known word. A type not listed keeps its demo noun.
OTHER_NOUNS: Dict[str, Tuple[str, ...]] = {
    "t-shirt": ("Tee", "T-Shirt", "Crew Tee"),
    "dress": ("Dress", "Midi Dress", "Frock"),
    "jeans": ("Jeans", "Denim Jeans", "Skinny Jeans"),
    "jacket": ("Jacket", "Parka", "Raincoat", "Windbreaker"),
    "hoodie": ("Hoodie", "Hooded Sweatshirt", "Hoody"),
    "jumper": ("Sweater", "Jumper", "Pullover", "Cardigan"),
    "pyjamas": ("Pajamas", "Pyjama Set", "PJs"),
    "socks": ("Socks", "Ankle Socks 5 Pack"),
    "scarf": ("Scarf", "Shawl"),
    "trainers": ("Sneakers", "Running Shoes", "Trainers"),
    "boots": ("Ankle Boots", "Boots", "Wellies"),
    "sandals": ("Sandals", "Sliders", "Flip Flops"),
    "slippers": ("Slippers", "House Shoes"),
    "heels": ("Heels", "Stilettos", "Pumps"),
    "school shoes": ("School Shoes",),
    "building set": ("Building Blocks", "Construction Set", "Building Kit"),
    "doll": ("Doll", "Fashion Doll"),
    "action figure": ("Action Figure", "Figurine"),
    "board game": ("Board Game", "Family Game"),
    "puzzle": ("Jigsaw", "Jigsaw Puzzle 500 Pieces"),
    "teddy bear": ("Teddy", "Plush Toy", "Soft Toy"),
    "remote control car": ("RC Car", "Remote Control Car"),
    "science kit": ("STEM Kit", "Chemistry Set", "Experiment Kit"),
    "baby bodysuit": ("Onesie", "Romper", "Babygrow"),
    "baby blanket": ("Swaddle", "Cot Blanket"),
    "rattle": ("Rattle",),
    "baby bottle": ("Feeding Bottle", "Baby Bottle"),
    "baby carrier": ("Baby Carrier", "Sling"),
    "baby gift set": ("Newborn Gift Set", "Baby Hamper"),
    "headphones": ("Over-Ear Headphones", "Headphones", "Headset"),
    "earbuds": ("Earbuds", "Earphones", "True Wireless Earbuds"),
    "bluetooth speaker": ("Portable Speaker", "Wireless Speaker", "Bluetooth Speaker"),
    "smartwatch": ("Smartwatch", "Fitness Tracker", "Smart Watch"),
    "tablet": ("Tablet",),
    "power bank": ("Power Bank", "Portable Charger"),
    "camera": ("Instant Camera", "Action Camera", "Camera"),
    "perfume": ("Eau de Parfum", "Fragrance"),
    "aftershave": ("Aftershave", "After Shave"),
    "lipstick": ("Lipstick", "Lip Colour"),
    "skincare set": ("Skincare Set", "Pamper Set"),
    "moisturiser": ("Moisturizer", "Face Cream"),
    "shaving kit": ("Shaving Kit", "Razor"),
    "nail polish": ("Nail Polish", "Nail Varnish"),
    "necklace": ("Necklace", "Pendant"),
    "bracelet": ("Bracelet", "Bangle"),
    "earrings": ("Earrings", "Stud Earrings", "Hoops"),
    "ring": ("Ring",),
    "watch": ("Watch", "Wristwatch"),
    "cufflinks": ("Cufflinks",),
    "mug": ("Mug", "Coffee Mug"),
    "scented candle": ("Scented Candle", "Candle"),
    "cookware set": ("Cookware Set", "Saucepan Set", "Frying Pan"),
    "knife set": ("Knife Set", "Kitchen Knives"),
    "coffee maker": ("Coffee Machine", "Espresso Machine", "Coffee Maker"),
    "throw blanket": ("Throw Blanket", "Blanket"),
    "cushion": ("Cushion", "Throw Pillow"),
    "vase": ("Vase",),
    "yoga mat": ("Yoga Mat", "Exercise Mat"),
    "football": ("Football", "Soccer Ball"),
    "tennis racket": ("Tennis Racket", "Tennis Racquet"),
    "water bottle": ("Water Bottle", "Drinks Bottle"),
    "dumbbells": ("Dumbbells", "Dumbbell Pair"),
    "bike helmet": ("Bike Helmet", "Cycling Helmet"),
    "running shorts": ("Running Shorts", "Gym Shorts"),
    "novel": ("Novel", "Paperback"),
    "cookbook": ("Cookbook", "Recipe Book"),
    "picture book": ("Picture Book", "Story Book"),
    "colouring book": ("Colouring Book", "Coloring Book"),
    "biography": ("Biography", "Memoir"),
    "greeting card": ("Greeting Card", "Birthday Card"),
    "gift card": ("Gift Card", "Gift Voucher"),
    "gift hamper": ("Gift Hamper", "Gift Basket"),
    "photo frame": ("Photo Frame", "Picture Frame"),
    "chocolate box": ("Chocolates", "Box of Chocolates"),
    "dog bed": ("Dog Bed", "Pet Bed"),
    "cat toy": ("Cat Toy", "Kitten Toy"),
    "dog collar": ("Dog Collar",),
    "dog toy": ("Dog Toy", "Chew Toy"),
    "pet bowl": ("Pet Bowl", "Dog Bowl"),
    "cat scratcher": ("Cat Scratcher", "Scratching Post"),
}

# How other shops write who a product is for, by (gender, age group); "" writes nothing.
AUDIENCE_WORDS: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ("female", "adult"): ("Women", "Womens", "Ladies", "Women's"),
    ("male", "adult"): ("Men", "Mens", "Men's"),
    ("female", "teen"): ("Teen Girls", "Girls' Teen"),
    ("male", "teen"): ("Teen Boys", "Boys' Teen"),
    ("female", "kid"): ("Girls", "Girls'", "Kids Girls"),
    ("male", "kid"): ("Boys", "Boys'", "Kids Boys"),
    ("female", "baby"): ("Baby Girl", "Baby Girls"),
    ("male", "baby"): ("Baby Boy", "Baby Boys"),
    ("unisex", "kid"): ("Kids", "Children's", "Kids'"),
    ("unisex", "teen"): ("Teen", "Teens'"),
    ("unisex", "baby"): ("Baby", "Infant", "Newborn"),
    ("unisex", "adult"): ("", "", "Unisex"),
}
# The audience as a phrase after the noun ("Running Shoes for Men").
AUDIENCE_PHRASES: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ("female", "adult"): ("for Women", "for Her"),
    ("male", "adult"): ("for Men", "for Him"),
    ("female", "teen"): ("for Teen Girls",),
    ("male", "teen"): ("for Teen Boys",),
    ("female", "kid"): ("for Girls",),
    ("male", "kid"): ("for Boys",),
    ("female", "baby"): ("for Baby Girls",),
    ("male", "baby"): ("for Baby Boys",),
    ("unisex", "kid"): ("for Kids",),
    ("unisex", "teen"): ("for Teens",),
    ("unisex", "baby"): ("for Babies", "for Newborns"),
    ("unisex", "adult"): ("",),
}
# Shop colour names that synonyms.yml maps to the catalog's colours.
COLOUR_NAMES: Dict[str, Tuple[str, ...]] = {
    "grey": ("Grey", "Charcoal", "Gray"),
    "navy": ("Navy", "Navy Blue"),
    "blue": ("Blue", "Sky Blue", "Royal Blue"),
    "red": ("Red", "Burgundy", "Crimson"),
    "green": ("Green", "Olive", "Khaki"),
    "pink": ("Pink", "Blush", "Rose"),
    "purple": ("Purple", "Lilac", "Lavender"),
    "white": ("White", "Cream", "Ivory"),
    "beige": ("Beige", "Tan", "Camel"),
    "brown": ("Brown", "Chestnut"),
    "yellow": ("Yellow", "Mustard"),
}
AUDIENCE_STYLE = re.compile(r"\b(kids?|junior|baby|teen)\b", re.IGNORECASE)
MODEL_PREFIXES = ("CX", "TR", "V", "Series ", "Mk", "Pro ", "X")
OPENERS = (
    "Designed for everyday use",
    "Made to last",
    "A customer favourite",
    "Thoughtfully made",
    "Our best seller this season",
    "Built for real life",
)
AUDIENCE_SENTENCES: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ("female", "adult"): ("She will love it.", "Made with women in mind."),
    ("male", "adult"): ("He will love it.", "Made with men in mind."),
    ("female", "teen"): ("Popular with teenage girls.",),
    ("male", "teen"): ("Popular with teenage boys.",),
    ("female", "kid"): ("Perfect for your daughter.", "Little girls love it."),
    ("male", "kid"): ("Perfect for your son.", "Little boys love it."),
    ("female", "baby"): ("Soft enough for your baby girl.",),
    ("male", "baby"): ("Soft enough for your baby boy.",),
    ("unisex", "kid"): ("Fun for boys and girls alike.", "Great for little ones."),
    ("unisex", "teen"): ("A hit with teens.",),
    ("unisex", "baby"): ("Gentle on newborn skin.", "Made with little ones in mind."),
    ("unisex", "adult"): ("", "Suits everyone."),
}
COLOUR_SENTENCES = ("Shown in {colour}.", "Colourway: {colour}.", "This one comes in {colour}.")
MATERIAL_SENTENCES = ("Made from {material}.", "Materials: {material}.", "Crafted in {material} to last.")
GIFT_SENTENCES = ("Comes gift-boxed, ready to give.", "A thoughtful present for someone special.")


def _kinds() -> List[Tuple[Family, Kind]]:
    return [(family, kind) for family in FAMILIES for kind in family.kinds]


def _colour_word(rng: random.Random, colour: str) -> str:
    return rng.choice(COLOUR_NAMES.get(colour, (colour.title(),))) if colour else ""


def _size_note(rng: random.Random, kind: Kind, age_group: str) -> str:
    sizes = kind.sizes.get(age_group)
    if not sizes or rng.random() < 0.5:
        return ""
    return f"Size {rng.choice(sizes)}"


def _model_number(rng: random.Random) -> str:
    return f"{rng.choice(MODEL_PREFIXES)}{rng.randint(2, 990)}"


def _title(rng: random.Random, kind: Kind, brand: str, audience: Tuple[str, str], colour_word: str,
           material: str) -> str:
    """One of several shop title patterns, picked at random (the colour is not always in it)."""
    noun = rng.choice(OTHER_NOUNS.get(kind.product_type, (kind.title_noun,)))
    words = rng.choice(AUDIENCE_WORDS[audience])
    phrase = rng.choice(AUDIENCE_PHRASES[audience])
    size = _size_note(rng, kind, audience[1])
    material_word = material.title() if material and rng.random() < 0.5 else ""
    pattern = rng.randrange(5)
    if pattern == 0:  # "Running Shoes for Men | Trailblaze 9 | Black"
        parts = [" ".join(p for p in (noun, phrase) if p), f"{brand} {rng.randint(2, 12)}", colour_word]
        return " | ".join(p for p in parts if p)
    if pattern == 1:  # "KIDS UNICORN BACKPACK 12L - ZIPPY"
        # The demo styles that name an audience ("Kids Edition", "Junior") are drawn for any audience
        # there; left out here so a title never names two audiences.
        styles = [style for style in kind.styles if not AUDIENCE_STYLE.search(style)] or [""]
        style = rng.choice(styles)
        head = " ".join(p for p in (words, style, noun) if p).upper()
        return f"{head} - {brand.upper()}"
    if pattern == 2:  # "Womens Leather Ankle Boots Brown Size 5"
        return " ".join(p for p in (words, material_word, noun, colour_word, size) if p)
    if pattern == 3:  # "Corvella CX-220 Wireless Headphones (Men's) – Charcoal"
        audience_note = f"({words})" if words else ""
        title = " ".join(p for p in (brand, _model_number(rng), noun, audience_note) if p)
        return f"{title} \u2013 {colour_word}" if colour_word else title
    # "Sneakers, Olive, Boys' - Stridex Athletic"
    parts = [noun, colour_word, words]
    return ", ".join(p for p in parts if p) + f" - {brand}"


def _description(rng: random.Random, kind: Kind, audience: Tuple[str, str], material: str,
                 gift: bool, colour_word: str) -> str:
    sentences = [rng.choice(OPENERS) + "."]
    if colour_word:
        sentences.append(rng.choice(COLOUR_SENTENCES).format(colour=colour_word.lower()))
    if material:
        sentences.append(rng.choice(MATERIAL_SENTENCES).format(material=material))
    features = list(kind.features)
    if features and rng.random() < 0.5:
        sentences.append(f"{rng.choice(features).capitalize()} and easy to care for.")
    audience_sentence = rng.choice(AUDIENCE_SENTENCES[audience])
    if audience_sentence:
        sentences.append(audience_sentence)
    if gift:
        sentences.append(rng.choice(GIFT_SENTENCES))
    return " ".join(sentences)


def _price(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


def _stock(rng: random.Random, kind: Kind, age_group: str) -> Dict[str, int]:
    sizes = kind.sizes.get(age_group) or (ONE_SIZE,)
    return {size: rng.choice((0, 2, 5, 12)) for size in sizes}


def other_style_feed(n: int, seed: int = OTHER_SEED) -> Tuple[Rows, Truth]:
    """`n` products over the demo catalog's types, audiences, colours and materials, in other shops' words."""
    rng = random.Random(seed)
    kinds = _kinds()
    weights = [kind.weight for _, kind in kinds]
    rows: Rows = []
    truth: Truth = {}
    for index in range(n):
        family, kind = rng.choices(kinds, weights=weights)[0]
        audience = rng.choice(kind.audiences)
        gender, age_group = audience
        brand = rng.choice(OTHER_BRANDS[family.category])
        colour = rng.choice(kind.colours)
        material = rng.choice(kind.materials)
        gift = rng.random() < kind.gift
        pid = f"X{index + 1:06d}"
        colour_word = _colour_word(rng, colour)
        title = _title(rng, kind, brand, audience, colour_word, material)
        # A title without its colour has it in the description, so the truth is always written somewhere.
        said = colour_word and colour_word.lower() in title.lower()
        rows.append(
            {
                "id": pid,
                "title": title,
                "description": _description(rng, kind, audience, material, gift, "" if said else colour_word),
                "brand": brand,
                "price": _price(rng, *kind.price),
                "stock": _stock(rng, kind, age_group),
            }
        )
        truth[pid] = {
            "product_type": kind.product_type,
            "category": family.category,
            GENDER: gender if gender else UNISEX,
            AGE_GROUP: age_group,
            "colour": colour,
            "material": material,
            "gift_suitable": gift,
        }
    return rows, truth


def write_feed(rows: Sequence[Dict[str, Any]], path: Path) -> None:
    """Write rows as CSV (stock as "S:3;M:0") or JSONL (stock as an object), by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                flat = dict(row)
                if isinstance(flat.get("stock"), dict):
                    flat["stock"] = ";".join(f"{size}:{qty}" for size, qty in flat["stock"].items())
                writer.writerow(flat)
        return
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m enrichment.sample_feeds", description=__doc__.split("\n")[0]
    )
    parser.add_argument("style", choices=("demo", "other"))
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--out", type=Path, required=True, help="FEED.csv or FEED.jsonl")
    parser.add_argument("--truth", type=Path, help="also write the hidden truth as JSON here")
    args = parser.parse_args(argv)
    make = raw_demo_feed if args.style == "demo" else other_style_feed
    rows, truth = make(args.size) if args.seed is None else make(args.size, args.seed)
    write_feed(rows, args.out)
    if args.truth:
        args.truth.write_text(json.dumps(truth, indent=1), encoding="utf-8")
    print(f"wrote {len(rows)} {args.style}-style products to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
