"""A deterministic demo catalog: a few thousand plausible products over Shopcue's product families.

The same seed always gives the same products (ids, titles, prices, stock), so tests and benchmarks
can rely on it. Some products and some sizes are out of stock on purpose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Sequence, Tuple

from actions.catalog.models import ONE_SIZE

ADULT_CLOTHING = ("XS", "S", "M", "L", "XL", "XXL")
TEEN_CLOTHING = ("XS", "S", "M", "L")
KID_CLOTHING = ("3-4Y", "5-6Y", "7-8Y", "9-10Y", "11-12Y")
BABY_CLOTHING = ("0-3M", "3-6M", "6-12M", "12-18M", "18-24M")
ADULT_SHOES = ("4", "5", "6", "7", "8", "9", "10", "11", "12")
KID_SHOES = ("10", "11", "12", "13", "1", "2", "3")
RING_SIZES = ("J", "K", "L", "M", "N", "O", "P", "Q")

COLOURS = (
    "black",
    "white",
    "grey",
    "navy",
    "blue",
    "red",
    "green",
    "pink",
    "purple",
    "yellow",
    "orange",
    "brown",
    "beige",
    "silver",
    "gold",
)


@dataclass(frozen=True)
class Kind:
    """One product type: who it is for, what it costs, what it is made of and how it is sized."""

    product_type: str  # the shopper's word, singular or as shops say it ("jeans", "trainers")
    title_noun: str
    price: Tuple[float, float]
    audiences: Sequence[Tuple[str, str]]  # (gender, age_group) pairs it is made for
    materials: Sequence[str] = ("",)
    colours: Sequence[str] = COLOURS
    sizes: str = "one"  # "clothing", "shoes", "ring" or "one"
    gift: float = 0.4  # the share of gift-suitable items
    styles: Sequence[str] = ("Classic", "Essential", "Everyday", "Premium", "Signature")
    features: Sequence[str] = ()
    weight: int = 1


@dataclass(frozen=True)
class Family:
    category: str
    brands: Sequence[str]
    kinds: Sequence[Kind] = field(default_factory=tuple)


ADULTS = (("female", "adult"), ("male", "adult"))
EVERYONE = (
    ("female", "adult"),
    ("male", "adult"),
    ("female", "teen"),
    ("male", "teen"),
    ("female", "kid"),
    ("male", "kid"),
)
UNISEX_ADULT = (("unisex", "adult"),)
UNISEX_KID = (("unisex", "kid"),)
KIDS = (("female", "kid"), ("male", "kid"), ("unisex", "kid"))
BABY = (("unisex", "baby"), ("female", "baby"), ("male", "baby"))
WOMEN = (("female", "adult"),)
MEN = (("male", "adult"),)
TEENS_ADULTS = (("unisex", "teen"), ("unisex", "adult"))
ALL_AGES_UNISEX = (("unisex", "adult"), ("unisex", "teen"), ("unisex", "kid"))

FAMILIES: Tuple[Family, ...] = (
    Family(
        "clothing",
        ("Northwind", "Urban Thread", "Maple & Co", "Levi's", "Bluebird", "Kestrel"),
        (
            Kind(
                "t-shirt",
                "T-Shirt",
                (8, 35),
                EVERYONE,
                ("cotton", "organic cotton", "linen"),
                sizes="clothing",
                gift=0.2,
                styles=("Crew Neck", "V-Neck", "Graphic", "Slim Fit", "Relaxed"),
                weight=3,
            ),
            Kind(
                "dress",
                "Dress",
                (20, 140),
                (("female", "adult"), ("female", "teen"), ("female", "kid")),
                ("cotton", "linen", "silk", "viscose"),
                sizes="clothing",
                gift=0.3,
                styles=("Wrap", "Midi", "Maxi", "Party", "Summer", "Shirt"),
                weight=3,
            ),
            Kind(
                "jeans",
                "Jeans",
                (25, 110),
                EVERYONE,
                ("denim",),
                ("blue", "black", "grey", "navy", "white"),
                sizes="clothing",
                gift=0.1,
                styles=("Skinny", "Straight", "Relaxed", "Bootcut", "Slim"),
                weight=2,
            ),
            Kind(
                "jacket",
                "Jacket",
                (40, 220),
                EVERYONE,
                ("polyester", "wool", "leather", "denim", "nylon"),
                sizes="clothing",
                gift=0.3,
                styles=("Puffer", "Rain", "Bomber", "Quilted", "Denim"),
                features=("waterproof", "hooded", "packable"),
                weight=3,
            ),
            Kind(
                "hoodie",
                "Hoodie",
                (20, 75),
                EVERYONE,
                ("cotton", "fleece", "organic cotton"),
                sizes="clothing",
                gift=0.3,
                styles=("Zip", "Pullover", "Oversized", "Logo"),
                weight=2,
            ),
            Kind(
                "jumper",
                "Jumper",
                (25, 150),
                EVERYONE,
                ("wool", "cashmere", "cotton", "merino wool"),
                sizes="clothing",
                gift=0.5,
                styles=("Cable Knit", "Crew Neck", "Roll Neck", "Fair Isle"),
                weight=2,
            ),
            Kind(
                "pyjamas",
                "Pyjamas",
                (15, 60),
                EVERYONE,
                ("cotton", "satin", "flannel"),
                sizes="clothing",
                gift=0.6,
                styles=("Check", "Striped", "Star Print", "Classic"),
                weight=2,
            ),
            Kind(
                "socks",
                "Socks 3-Pack",
                (5, 20),
                EVERYONE,
                ("cotton", "bamboo", "wool"),
                sizes="clothing",
                gift=0.3,
                styles=("Ankle", "Crew", "Patterned", "Sports"),
                weight=2,
            ),
            Kind(
                "scarf",
                "Scarf",
                (12, 90),
                (("female", "adult"), ("male", "adult"), ("unisex", "adult")),
                ("wool", "cashmere", "silk", "cotton"),
                gift=0.8,
                styles=("Chunky", "Check", "Silk", "Knitted"),
            ),
        ),
    ),
    Family(
        "shoes",
        ("Stridewell", "Nike", "Adidas", "Puma", "New Balance", "Converse", "Trailhead"),
        (
            Kind(
                "trainers",
                "Trainers",
                (30, 160),
                EVERYONE,
                ("mesh", "leather", "canvas", "suede"),
                sizes="shoes",
                gift=0.3,
                styles=("Running", "Court", "Retro", "Cloud Runner", "Low-Top"),
                features=("lightweight", "breathable", "cushioned"),
                weight=4,
            ),
            Kind(
                "boots",
                "Boots",
                (45, 200),
                EVERYONE,
                ("leather", "suede", "rubber"),
                sizes="shoes",
                gift=0.2,
                styles=("Chelsea", "Hiking", "Ankle", "Winter", "Work"),
                features=("waterproof",),
                weight=3,
            ),
            Kind(
                "sandals",
                "Sandals",
                (15, 80),
                EVERYONE,
                ("leather", "rubber", "cork"),
                sizes="shoes",
                gift=0.1,
                styles=("Slide", "Sport", "Strappy", "Flip-Flop"),
                weight=2,
            ),
            Kind(
                "slippers",
                "Slippers",
                (12, 50),
                EVERYONE,
                ("fleece", "wool", "sheepskin"),
                sizes="shoes",
                gift=0.7,
                styles=("Moccasin", "Mule", "Bootie", "Cosy"),
                weight=2,
            ),
            Kind(
                "heels",
                "Heels",
                (35, 180),
                WOMEN,
                ("leather", "suede", "satin"),
                ("black", "red", "nude", "silver", "gold", "pink"),
                sizes="shoes",
                gift=0.3,
                styles=("Stiletto", "Block", "Kitten", "Platform"),
            ),
            Kind(
                "school shoes",
                "School Shoes",
                (25, 60),
                KIDS,
                ("leather",),
                ("black", "brown"),
                sizes="shoes",
                gift=0.0,
                styles=("Velcro", "Lace-Up", "T-Bar"),
            ),
        ),
    ),
    Family(
        "toys",
        ("LEGO", "Hasbro", "Mattel", "Playmobil", "Brightsparks", "Tumbletot"),
        (
            Kind(
                "building set",
                "Building Set",
                (10, 150),
                (("unisex", "kid"), ("unisex", "teen")),
                ("plastic",),
                gift=0.9,
                styles=("Castle", "Space Station", "City Fire", "Race Car", "Pirate Ship"),
                weight=3,
            ),
            Kind(
                "doll",
                "Doll",
                (10, 70),
                KIDS,
                ("plastic", "fabric"),
                gift=0.9,
                styles=("Fashion", "Baby", "Rag", "Adventure"),
            ),
            Kind(
                "action figure",
                "Action Figure",
                (8, 45),
                KIDS,
                ("plastic",),
                gift=0.85,
                styles=("Superhero", "Dinosaur", "Robot", "Space Ranger"),
            ),
            Kind(
                "board game",
                "Board Game",
                (12, 60),
                ALL_AGES_UNISEX,
                ("cardboard",),
                gift=0.9,
                styles=("Family Strategy", "Party", "Trivia", "Co-op Adventure", "Word"),
                weight=2,
            ),
            Kind(
                "puzzle",
                "Jigsaw Puzzle",
                (8, 35),
                ALL_AGES_UNISEX,
                ("cardboard", "wood"),
                gift=0.8,
                styles=("1000-Piece", "500-Piece", "Floor", "3D"),
            ),
            Kind(
                "teddy bear",
                "Teddy Bear",
                (10, 55),
                (("unisex", "kid"), ("unisex", "baby")),
                ("plush", "organic cotton"),
                ("brown", "beige", "white", "pink", "blue", "grey"),
                gift=0.95,
                styles=("Cuddly", "Classic", "Giant", "Mini"),
            ),
            Kind(
                "remote control car",
                "Remote Control Car",
                (20, 120),
                (("unisex", "kid"), ("unisex", "teen")),
                ("plastic",),
                gift=0.9,
                styles=("Off-Road", "Stunt", "Racing", "Monster Truck"),
                features=("rechargeable",),
            ),
            Kind(
                "science kit",
                "Science Kit",
                (15, 60),
                (("unisex", "kid"), ("unisex", "teen")),
                ("plastic", "cardboard"),
                gift=0.9,
                styles=("Chemistry", "Crystal Growing", "Robotics", "Volcano"),
            ),
        ),
    ),
    Family(
        "baby",
        ("Little Sprout", "Tumbletot", "Cosy Nest", "Pebble"),
        (
            Kind(
                "baby bodysuit",
                "Bodysuit 3-Pack",
                (10, 35),
                BABY,
                ("organic cotton", "cotton"),
                ("white", "grey", "pink", "blue", "yellow", "green"),
                sizes="baby",
                gift=0.6,
                styles=("Short Sleeve", "Long Sleeve", "Striped", "Animal Print"),
                weight=2,
            ),
            Kind(
                "baby blanket",
                "Baby Blanket",
                (15, 60),
                BABY,
                ("organic cotton", "muslin", "fleece", "wool"),
                ("white", "grey", "pink", "blue", "yellow", "beige"),
                gift=0.9,
                styles=("Cellular", "Knitted", "Swaddle", "Personalised"),
            ),
            Kind(
                "rattle",
                "Rattle",
                (6, 25),
                BABY,
                ("wood", "plastic", "fabric"),
                gift=0.8,
                styles=("Wooden", "Animal", "Soft", "Ring"),
            ),
            Kind(
                "baby bottle",
                "Baby Bottle Set",
                (10, 40),
                (("unisex", "baby"),),
                ("glass", "plastic"),
                ("white", "blue", "pink", "green"),
                gift=0.2,
                styles=("Anti-Colic", "Starter", "Wide Neck"),
            ),
            Kind(
                "baby carrier",
                "Baby Carrier",
                (40, 160),
                (("unisex", "baby"),),
                ("cotton", "mesh"),
                ("black", "grey", "navy", "beige"),
                gift=0.4,
                styles=("Ergonomic", "Wrap", "Hip Seat"),
            ),
            Kind(
                "baby gift set",
                "Baby Gift Set",
                (20, 80),
                BABY,
                ("organic cotton",),
                ("white", "pink", "blue", "yellow"),
                gift=1.0,
                styles=("Newborn", "Welcome Baby", "Bath Time"),
            ),
        ),
    ),
    Family(
        "electronics",
        ("Sony", "Samsung", "JBL", "Anker", "Voltra", "Pixelwave", "Apple"),
        (
            Kind(
                "headphones",
                "Headphones",
                (20, 380),
                UNISEX_ADULT + (("unisex", "teen"), ("unisex", "kid")),
                ("plastic", "aluminium"),
                ("black", "white", "silver", "blue", "pink"),
                gift=0.7,
                styles=("Over-Ear", "On-Ear", "Studio", "Kids Volume-Limited"),
                features=("wireless", "noise cancelling", "bluetooth", "foldable"),
                weight=3,
            ),
            Kind(
                "earbuds",
                "Earbuds",
                (15, 250),
                TEENS_ADULTS,
                ("plastic",),
                ("black", "white", "blue", "pink"),
                gift=0.6,
                styles=("True Wireless", "Sport", "Pro"),
                features=("wireless", "noise cancelling", "waterproof", "bluetooth"),
                weight=2,
            ),
            Kind(
                "bluetooth speaker",
                "Bluetooth Speaker",
                (20, 300),
                TEENS_ADULTS,
                ("plastic", "fabric"),
                ("black", "blue", "red", "grey", "green"),
                gift=0.7,
                styles=("Portable", "Mini", "Party", "Outdoor"),
                features=("waterproof", "wireless"),
                weight=2,
            ),
            Kind(
                "smartwatch",
                "Smartwatch",
                (50, 450),
                (("female", "adult"), ("male", "adult"), ("unisex", "adult"), ("unisex", "kid")),
                ("aluminium", "steel", "silicone"),
                ("black", "silver", "gold", "pink", "blue"),
                gift=0.8,
                styles=("Fitness", "GPS", "Classic", "Kids"),
                features=("heart rate", "waterproof", "gps"),
                weight=2,
            ),
            Kind(
                "tablet",
                "Tablet",
                (90, 900),
                (("unisex", "adult"), ("unisex", "kid")),
                ("aluminium", "plastic"),
                ("black", "silver", "grey", "blue", "pink"),
                gift=0.6,
                styles=("10-inch", "8-inch", "Pro", "Kids Edition"),
            ),
            Kind(
                "power bank",
                "Power Bank",
                (15, 80),
                UNISEX_ADULT,
                ("plastic", "aluminium"),
                ("black", "white", "blue"),
                gift=0.3,
                styles=("10000mAh", "20000mAh", "Slim", "Fast Charge"),
            ),
            Kind(
                "camera",
                "Camera",
                (40, 900),
                (("unisex", "adult"), ("unisex", "kid")),
                ("plastic", "metal"),
                ("black", "silver", "blue", "pink"),
                gift=0.7,
                styles=("Instant", "Action", "Compact", "Kids Digital"),
            ),
        ),
    ),
    Family(
        "beauty",
        ("Glow Lab", "Botanica", "Maison Rose", "Clearwell", "Barber & Birch"),
        (
            Kind(
                "perfume",
                "Eau de Parfum",
                (20, 160),
                (("female", "adult"), ("female", "teen")),
                ("",),
                ("pink", "gold", "clear", "purple"),
                gift=0.95,
                styles=("Floral", "Citrus", "Amber", "Fresh"),
            ),
            Kind(
                "aftershave",
                "Aftershave",
                (20, 120),
                MEN,
                ("",),
                ("blue", "black", "clear", "green"),
                gift=0.9,
                styles=("Woody", "Fresh", "Spiced", "Marine"),
            ),
            Kind(
                "lipstick",
                "Lipstick",
                (6, 40),
                (("female", "adult"), ("female", "teen")),
                ("",),
                ("red", "pink", "nude", "purple", "brown", "orange"),
                gift=0.5,
                styles=("Matte", "Satin", "Gloss"),
            ),
            Kind(
                "skincare set",
                "Skincare Gift Set",
                (18, 120),
                (("female", "adult"), ("male", "adult"), ("unisex", "teen")),
                ("",),
                ("white", "pink", "green", "blue"),
                gift=0.95,
                styles=("Hydrating", "Glow", "Spa", "Travel"),
                features=("vegan", "organic"),
            ),
            Kind(
                "moisturiser",
                "Moisturiser",
                (8, 70),
                (("unisex", "adult"), ("female", "adult"), ("male", "adult")),
                ("",),
                ("white",),
                gift=0.3,
                styles=("Daily", "Night", "SPF 30", "Sensitive"),
                features=("vegan", "fragrance free"),
            ),
            Kind(
                "shaving kit",
                "Shaving Kit",
                (20, 90),
                MEN,
                ("steel", "wood"),
                ("black", "silver", "brown"),
                gift=0.9,
                styles=("Classic", "Safety Razor", "Travel"),
            ),
            Kind(
                "nail polish",
                "Nail Polish Set",
                (6, 30),
                (("female", "adult"), ("female", "teen"), ("female", "kid")),
                ("",),
                ("red", "pink", "purple", "blue", "nude", "gold"),
                gift=0.6,
                styles=("Gel", "Glitter", "Pastel"),
            ),
        ),
    ),
    Family(
        "jewellery",
        ("Aurelia", "Silverline", "Pandora", "Goldcrest", "Moonstone"),
        (
            Kind(
                "necklace",
                "Necklace",
                (15, 400),
                (("female", "adult"), ("female", "teen"), ("female", "kid")),
                ("sterling silver", "gold", "rose gold", "stainless steel"),
                ("silver", "gold", "rose gold"),
                gift=0.95,
                styles=("Pendant", "Heart", "Initial", "Pearl", "Chain"),
                weight=2,
            ),
            Kind(
                "bracelet",
                "Bracelet",
                (12, 300),
                (("female", "adult"), ("male", "adult"), ("female", "teen"), ("female", "kid")),
                ("sterling silver", "gold", "leather", "beads"),
                ("silver", "gold", "brown", "black"),
                gift=0.95,
                styles=("Charm", "Bangle", "Cuff", "Beaded", "Tennis"),
                weight=2,
            ),
            Kind(
                "earrings",
                "Earrings",
                (10, 250),
                (("female", "adult"), ("female", "teen"), ("female", "kid")),
                ("sterling silver", "gold", "rose gold"),
                ("silver", "gold", "rose gold"),
                gift=0.9,
                styles=("Stud", "Hoop", "Drop", "Pearl"),
            ),
            Kind(
                "ring",
                "Ring",
                (20, 600),
                (("female", "adult"), ("male", "adult")),
                ("sterling silver", "gold", "platinum", "titanium"),
                ("silver", "gold", "rose gold", "black"),
                sizes="ring",
                gift=0.8,
                styles=("Band", "Solitaire", "Signet", "Stacking"),
            ),
            Kind(
                "watch",
                "Watch",
                (40, 500),
                (("female", "adult"), ("male", "adult"), ("unisex", "teen")),
                ("stainless steel", "leather", "gold"),
                ("silver", "gold", "black", "brown", "rose gold"),
                gift=0.9,
                styles=("Chronograph", "Minimalist", "Dress", "Diver"),
                weight=2,
            ),
            Kind(
                "cufflinks",
                "Cufflinks",
                (20, 150),
                MEN,
                ("sterling silver", "gold", "enamel"),
                ("silver", "gold", "black", "blue"),
                gift=0.95,
                styles=("Classic", "Knot", "Engraved"),
            ),
        ),
    ),
    Family(
        "home and kitchen",
        ("Hearth", "Copperleaf", "Nordic Home", "Kitchenry", "Linen Lane"),
        (
            Kind(
                "mug",
                "Mug",
                (6, 25),
                UNISEX_ADULT,
                ("ceramic", "porcelain", "enamel"),
                gift=0.7,
                styles=("Speckled", "Slogan", "Hand-Painted", "Travel"),
                weight=2,
            ),
            Kind(
                "scented candle",
                "Scented Candle",
                (8, 60),
                UNISEX_ADULT,
                ("soy wax", "beeswax"),
                ("white", "pink", "green", "grey", "yellow"),
                gift=0.9,
                styles=("Lavender", "Vanilla", "Fig", "Sea Salt"),
            ),
            Kind(
                "cookware set",
                "Cookware Set",
                (40, 350),
                UNISEX_ADULT,
                ("stainless steel", "cast iron", "ceramic"),
                ("silver", "black", "red", "grey", "blue"),
                gift=0.5,
                styles=("5-Piece", "Non-Stick", "Induction"),
            ),
            Kind(
                "knife set",
                "Knife Set",
                (25, 250),
                UNISEX_ADULT,
                ("stainless steel", "carbon steel"),
                ("black", "silver", "wood"),
                gift=0.5,
                styles=("Chef's", "Block", "Magnetic"),
            ),
            Kind(
                "coffee maker",
                "Coffee Maker",
                (25, 400),
                UNISEX_ADULT,
                ("stainless steel", "plastic", "glass"),
                ("black", "silver", "red", "white"),
                gift=0.5,
                styles=("Espresso", "Filter", "Pod", "French Press"),
            ),
            Kind(
                "throw blanket",
                "Throw Blanket",
                (20, 120),
                UNISEX_ADULT,
                ("wool", "cotton", "fleece", "faux fur"),
                gift=0.8,
                styles=("Chunky Knit", "Herringbone", "Waffle", "Fringed"),
            ),
            Kind(
                "cushion",
                "Cushion",
                (10, 50),
                UNISEX_ADULT,
                ("velvet", "linen", "cotton"),
                gift=0.4,
                styles=("Velvet", "Embroidered", "Geometric", "Plain"),
            ),
            Kind(
                "vase",
                "Vase",
                (12, 90),
                UNISEX_ADULT,
                ("glass", "ceramic", "stoneware"),
                gift=0.7,
                styles=("Bud", "Ribbed", "Tall", "Handmade"),
            ),
        ),
    ),
    Family(
        "sports",
        ("Peakform", "Trailhead", "Adidas", "Nike", "Velocity", "Wilson"),
        (
            Kind(
                "yoga mat",
                "Yoga Mat",
                (15, 90),
                (("unisex", "adult"), ("female", "adult")),
                ("rubber", "cork", "tpe"),
                ("purple", "blue", "black", "green", "pink", "grey"),
                gift=0.5,
                styles=("Non-Slip", "Travel", "Thick"),
            ),
            Kind(
                "football",
                "Football",
                (10, 60),
                ALL_AGES_UNISEX,
                ("synthetic leather",),
                ("white", "yellow", "orange", "blue"),
                gift=0.6,
                styles=("Match", "Training", "Mini"),
            ),
            Kind(
                "tennis racket",
                "Tennis Racket",
                (25, 220),
                ALL_AGES_UNISEX,
                ("graphite", "aluminium"),
                ("black", "blue", "red", "white", "yellow"),
                gift=0.5,
                styles=("Pro", "Junior", "Power", "Control"),
            ),
            Kind(
                "water bottle",
                "Water Bottle",
                (8, 40),
                ALL_AGES_UNISEX,
                ("stainless steel", "plastic"),
                gift=0.3,
                styles=("Insulated", "Sports", "Flip-Top"),
                features=("insulated", "leakproof"),
            ),
            Kind(
                "dumbbells",
                "Dumbbell Set",
                (20, 180),
                UNISEX_ADULT,
                ("cast iron", "neoprene"),
                ("black", "grey", "pink", "blue"),
                gift=0.2,
                styles=("Adjustable", "Hex", "Neoprene"),
            ),
            Kind(
                "bike helmet",
                "Bike Helmet",
                (25, 150),
                ALL_AGES_UNISEX,
                ("polycarbonate",),
                ("black", "white", "red", "blue", "green", "pink"),
                gift=0.3,
                styles=("Road", "Mountain", "Commuter", "Kids"),
            ),
            Kind(
                "running shorts",
                "Running Shorts",
                (12, 50),
                (("female", "adult"), ("male", "adult"), ("female", "teen"), ("male", "teen")),
                ("polyester", "nylon"),
                sizes="clothing",
                gift=0.1,
                styles=("Split", "2-in-1", "Lightweight"),
            ),
        ),
    ),
    Family(
        "books",
        ("Penguin", "HarperCollins", "Bloomsbury", "Little Owl Press", "Vintage"),
        (
            Kind(
                "novel",
                "Novel",
                (6, 25),
                (("unisex", "adult"), ("unisex", "teen")),
                ("paperback", "hardback"),
                ("",),
                gift=0.6,
                styles=("Mystery", "Romance", "Fantasy", "Thriller", "Historical", "Sci-Fi"),
                weight=3,
            ),
            Kind(
                "cookbook",
                "Cookbook",
                (12, 40),
                UNISEX_ADULT,
                ("hardback", "paperback"),
                ("",),
                gift=0.8,
                styles=("Italian", "Vegan", "Baking", "Quick Dinners", "BBQ"),
            ),
            Kind(
                "picture book",
                "Picture Book",
                (5, 18),
                (("unisex", "kid"), ("unisex", "baby")),
                ("hardback", "paperback", "board book"),
                ("",),
                gift=0.8,
                styles=("Bedtime", "Animal", "Dinosaur", "Fairy Tale", "Counting"),
                weight=2,
            ),
            Kind(
                "colouring book",
                "Colouring Book",
                (4, 15),
                (("unisex", "kid"), ("unisex", "adult")),
                ("paperback",),
                ("",),
                gift=0.5,
                styles=("Mindful", "Unicorn", "Space", "Animals"),
            ),
            Kind(
                "biography",
                "Biography",
                (8, 30),
                UNISEX_ADULT,
                ("hardback", "paperback"),
                ("",),
                gift=0.6,
                styles=("Sports", "Music", "Political", "Explorer"),
            ),
        ),
    ),
    Family(
        "gifts and cards",
        ("Papercraft", "Hallmark", "Giftory", "The Hamper Co"),
        (
            Kind(
                "greeting card",
                "Greeting Card",
                (2, 8),
                UNISEX_ADULT + UNISEX_KID,
                ("card",),
                gift=1.0,
                styles=("Birthday", "Anniversary", "Thank You", "Congratulations", "Christmas"),
                weight=2,
            ),
            Kind(
                "gift card",
                "Gift Card",
                (10, 100),
                UNISEX_ADULT,
                ("",),
                ("",),
                gift=1.0,
                styles=("Shopcue", "Spa Day", "Dinner for Two", "Experience"),
            ),
            Kind(
                "gift hamper",
                "Gift Hamper",
                (25, 150),
                UNISEX_ADULT,
                ("wicker",),
                ("",),
                gift=1.0,
                styles=("Chocolate", "Pamper", "Afternoon Tea", "Gourmet", "Wine & Cheese"),
                weight=2,
            ),
            Kind(
                "photo frame",
                "Photo Frame",
                (8, 45),
                UNISEX_ADULT,
                ("wood", "metal", "glass"),
                ("white", "black", "silver", "gold", "brown"),
                gift=0.9,
                styles=("Personalised", "Multi-Photo", "Classic"),
            ),
            Kind(
                "chocolate box",
                "Chocolates",
                (5, 45),
                UNISEX_ADULT + UNISEX_KID,
                ("",),
                ("",),
                gift=1.0,
                styles=("Truffle Selection", "Milk", "Dark", "Praline"),
            ),
        ),
    ),
    Family(
        "pet",
        ("Pawsome", "Happy Tails", "Kitty Co", "Barkley"),
        (
            Kind(
                "dog bed",
                "Dog Bed",
                (20, 120),
                UNISEX_ADULT,
                ("fleece", "memory foam", "cotton"),
                ("grey", "brown", "beige", "navy", "green"),
                gift=0.4,
                styles=("Donut", "Orthopaedic", "Bolster"),
            ),
            Kind(
                "cat toy",
                "Cat Toy",
                (3, 25),
                UNISEX_ADULT,
                ("plush", "feather", "plastic"),
                gift=0.5,
                styles=("Catnip Mouse", "Feather Wand", "Laser", "Tunnel"),
            ),
            Kind(
                "dog collar",
                "Dog Collar",
                (6, 40),
                UNISEX_ADULT,
                ("leather", "nylon"),
                ("black", "red", "blue", "pink", "brown", "green"),
                sizes="clothing",
                gift=0.3,
                styles=("Padded", "Reflective", "Personalised"),
            ),
            Kind(
                "dog toy",
                "Dog Toy",
                (4, 30),
                UNISEX_ADULT,
                ("rubber", "rope", "plush"),
                gift=0.5,
                styles=("Chew", "Tug Rope", "Squeaky", "Ball Launcher"),
            ),
            Kind(
                "pet bowl",
                "Pet Bowl",
                (5, 35),
                UNISEX_ADULT,
                ("ceramic", "stainless steel", "bamboo"),
                gift=0.2,
                styles=("Non-Slip", "Raised", "Slow Feeder"),
            ),
            Kind(
                "cat scratcher",
                "Cat Scratcher",
                (10, 90),
                UNISEX_ADULT,
                ("sisal", "cardboard"),
                ("beige", "grey", "white", "brown"),
                gift=0.3,
                styles=("Post", "Tower", "Lounge"),
            ),
        ),
    ),
)


# Product types that only some of their family's brands make (no LEGO dolls, no Wilson footballs).
KIND_BRANDS: Dict[str, Tuple[str, ...]] = {
    "building set": ("LEGO", "Playmobil", "Brightsparks"),
    "doll": ("Mattel", "Tumbletot", "Brightsparks"),
    "action figure": ("Hasbro", "Mattel", "Brightsparks"),
    "board game": ("Hasbro", "Mattel", "Brightsparks"),
    "puzzle": ("Brightsparks", "Tumbletot", "Hasbro"),
    "teddy bear": ("Tumbletot", "Brightsparks"),
    "remote control car": ("Brightsparks", "Hasbro", "Mattel"),
    "science kit": ("Brightsparks", "Playmobil"),
    "headphones": ("Sony", "JBL", "Apple", "Anker", "Voltra", "Pixelwave"),
    "earbuds": ("Sony", "JBL", "Apple", "Samsung", "Anker", "Voltra"),
    "bluetooth speaker": ("JBL", "Sony", "Anker", "Voltra"),
    "smartwatch": ("Apple", "Samsung", "Voltra", "Pixelwave"),
    "tablet": ("Apple", "Samsung", "Pixelwave"),
    "power bank": ("Anker", "Voltra", "Samsung"),
    "camera": ("Sony", "Pixelwave", "Voltra"),
    "aftershave": ("Barber & Birch", "Maison Rose", "Botanica"),
    "shaving kit": ("Barber & Birch", "Clearwell"),
    "perfume": ("Maison Rose", "Botanica", "Glow Lab"),
    "yoga mat": ("Peakform", "Velocity", "Trailhead"),
    "football": ("Adidas", "Nike", "Peakform"),
    "tennis racket": ("Wilson", "Velocity", "Peakform"),
    "dumbbells": ("Peakform", "Velocity"),
    "bike helmet": ("Trailhead", "Velocity", "Peakform"),
    "school shoes": ("Stridewell", "Trailhead"),
    "heels": ("Stridewell", "Converse", "Puma"),
}


def _sizes(kind: Kind, age_group: str) -> Sequence[str]:
    if kind.sizes == "clothing":
        return {"adult": ADULT_CLOTHING, "teen": TEEN_CLOTHING, "kid": KID_CLOTHING, "baby": BABY_CLOTHING}[
            age_group
        ]
    if kind.sizes == "baby":
        return BABY_CLOTHING
    if kind.sizes == "shoes":
        return KID_SHOES if age_group == "kid" else ADULT_SHOES
    if kind.sizes == "ring":
        return RING_SIZES
    return (ONE_SIZE,)


_AUDIENCE_WORDS = {
    ("female", "adult"): "Women's",
    ("male", "adult"): "Men's",
    ("female", "teen"): "Teen Girls'",
    ("male", "teen"): "Teen Boys'",
    ("female", "kid"): "Girls'",
    ("male", "kid"): "Boys'",
    ("female", "baby"): "Baby Girl",
    ("male", "baby"): "Baby Boy",
    ("unisex", "kid"): "Kids'",
    ("unisex", "teen"): "Teen",
    ("unisex", "baby"): "Baby",
}

_AUDIENCE_PHRASES = {"adult": "adults", "teen": "teenagers", "kid": "children", "baby": "babies"}


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


def _describe(
    kind: Kind,
    family: Family,
    style: str,
    material: str,
    colour: str,
    features: List[str],
    gender: str,
    age_group: str,
    gift: bool,
) -> str:
    first = f"{style} {kind.product_type} for {_AUDIENCE_PHRASES[age_group]}"
    if material:
        first += f", in {material}"
    sentences = [first + "."]
    if colour:
        sentences.append(f"Colour: {colour}.")
    if features:
        sentences.append(" and ".join(features).capitalize() + ".")
    if gender != "unisex":
        sentences.append(f"Made for {'women and girls' if gender == 'female' else 'men and boys'}.")
    if gift:
        sentences.append("Arrives gift-ready; a lovely present.")
    sentences.append(f"Part of our {family.category} range.")
    return " ".join(sentences)


def iter_kinds() -> Iterator[Tuple[Family, Kind]]:
    for family in FAMILIES:
        for kind in family.kinds:
            yield family, kind


def generate_demo_catalog(total: int = 3600, seed: int = 7) -> List[dict]:
    """`total` product dicts (with `stock` as {size: quantity}); the same seed gives the same catalog."""
    rng = random.Random(seed)
    kinds = list(iter_kinds())
    weights = [kind.weight for _, kind in kinds]
    per_weight = total / sum(weights)
    shares = [w * per_weight for w in weights]
    counts = [int(share) for share in shares]
    # Largest remainders get the leftover products, so the total is exact.
    by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))
    for index in by_remainder[: total - sum(counts)]:
        counts[index] += 1
    products: List[dict] = []
    seen_titles: Dict[str, int] = {}
    for (family, kind), count in zip(kinds, counts, strict=True):
        for _ in range(count):
            for _attempt in range(8):  # re-roll the look until the title is new
                gender, age_group = rng.choice(list(kind.audiences))
                brand = rng.choice(list(KIND_BRANDS.get(kind.product_type, family.brands)))
                style = rng.choice(list(kind.styles))
                material = rng.choice(list(kind.materials))
                colour = rng.choice(list(kind.colours))
                audience = _AUDIENCE_WORDS.get((gender, age_group), "")
                title = " ".join(part for part in (brand, audience, style, kind.title_noun) if part)
                if colour:
                    title += f" - {colour.title()}"
                if title not in seen_titles:
                    break
            features = rng.sample(list(kind.features), k=min(len(kind.features), rng.randint(0, 2)))
            gift = rng.random() < kind.gift
            seen_titles[title] = seen_titles.get(title, 0) + 1
            if seen_titles[title] > 1:
                title += (
                    f" ({material.title()} Edition)"
                    if material and seen_titles[title] == 2
                    else f" (Edition {seen_titles[title]})"
                )
            products.append(
                {
                    "id": f"P{len(products) + 1:05d}",
                    "title": title,
                    "brand": brand,
                    "product_type": kind.product_type,
                    "category": family.category,
                    "gender": gender,
                    "age_group": age_group,
                    "colour": colour,
                    "material": material,
                    "price": _price(rng, *kind.price),
                    "rating": round(min(5.0, 2.6 + 2.4 * rng.betavariate(4, 1.6)), 1),
                    "gift_suitable": gift,
                    "description": _describe(
                        kind, family, style, material, colour, features, gender, age_group, gift
                    ),
                    "stock": _stock(rng, _sizes(kind, age_group), sold_out=rng.random() < 0.07),
                }
            )
    return products
