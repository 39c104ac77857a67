"""The label schema: the one place that names Shopcue's intents, entity types and attributes.

Everything that reads or writes labels (training data tools, the model, the evaluation CLI, the
actions) imports these names from here instead of spelling them out again.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

# Product entity types, as used in the `[text](entity)` annotations of `data/nlu/*.yml`. Code names a
# type by its constant; the tuple is the ordered list the model and the data tools iterate over.
PRODUCT_TYPE = "product_type"
BRAND = "brand"
MODEL = "model"
COLOR = "color"
SIZE = "size"
MATERIAL = "material"
PRICE = "price"
QUANTITY = "quantity"
OCCASION = "occasion"
RECIPIENT = "recipient"
AGE = "age"
FEATURE = "feature"
ENTITY_TYPES: Tuple[str, ...] = (
    PRODUCT_TYPE,
    BRAND,
    MODEL,
    COLOR,
    SIZE,
    MATERIAL,
    PRICE,
    QUANTITY,
    OCCASION,
    RECIPIENT,
    AGE,
    FEATURE,
)

# The intents of the shopping conversation. The domain (bot/domain.yml) lists the same names.
INTENTS: Tuple[str, ...] = (
    "greet",
    "goodbye",
    "thanks",
    "help",
    "out_of_scope",
    "affirm",
    "deny",
    "search_product",  # a new product request, possibly with recipient / occasion / budget
    "refine_search",  # "cheaper", "in blue", "for a girl instead", "under 30", "size 8 please"
    "show_more",  # "show more", "any others?"
    "compare_products",  # "compare the first two", "which is better, 1 or 3"
    "product_details",  # "tell me about the second one"
    "check_stock",  # "is it in size 8", "do you have it in stock"
    "add_to_cart",  # "add it to my cart"
    "similar_items",  # "show me similar ones"
    "human_handoff",  # "talk to a person"
)

# Implicit attributes the shopper never states. Values are strings in the model and in data;
# `gift` is turned into a JSON boolean at the output boundary (see `attribute_output_value`).
GENDER = "gender"
AGE_GROUP = "age_group"
GIFT = "gift"
# The "no evidence" values. An attribute with one of these says nothing about the shopper.
UNKNOWN = "unknown"
FALSE = "false"
TRUE = "true"
NEUTRAL_VALUES = frozenset({UNKNOWN, FALSE, "none"})
DEFAULT_ATTRIBUTES: Dict[str, List[str]] = {
    GENDER: ["female", "male", UNKNOWN],
    AGE_GROUP: ["baby", "kid", "teen", "adult", UNKNOWN],
    GIFT: [FALSE, TRUE],
}

# The value an attribute takes when the text shows no evidence for it.
DEFAULT_ATTRIBUTE_VALUE: Dict[str, str] = {GENDER: UNKNOWN, AGE_GROUP: UNKNOWN, GIFT: FALSE}

# Where an example's attribute labels live in Rasa NLU YAML: the example-level metadata, e.g.
#   - text: bday present for my 10yo [son](recipient)
#     metadata:
#       attributes: {gender: male, age_group: kid, gift: true}
METADATA_ATTRIBUTES_KEY = "attributes"

# Where an example says it came from: the review console marks what it exports, shoppers' messages as
# `source: review` and reviewed product titles as `source: product_review`, so training can weigh labels a
# person checked on real traffic apart from written ones.
METADATA_SOURCE_KEY = "source"
REVIEWED_SOURCE = "review"
PRODUCT_REVIEW_SOURCE = "product_review"

# The key of the parse result (and of `tracker.latest_message`) that holds the attributes:
#   {"gender": {"value": "male", "confidence": 0.93}, "gift": {"value": true, "confidence": 0.91}}
PARSE_ATTRIBUTES_KEY = "attributes"

# The key of the parse result that holds how sure the entity tagger is of its whole reading, the words it
# tagged O included (nlu.prediction.tagging_confidence; 0..1). The review queue's doubt reads it.
PARSE_TAGGING_CONFIDENCE_KEY = "tagging_confidence"


def neutral_value(attribute: str, values: List[str]) -> str:
    """The 'no evidence' value of an attribute: its declared default, else 'unknown'/'false'/first."""
    if attribute in DEFAULT_ATTRIBUTE_VALUE and DEFAULT_ATTRIBUTE_VALUE[attribute] in values:
        return DEFAULT_ATTRIBUTE_VALUE[attribute]
    for candidate in (UNKNOWN, FALSE, "none"):
        if candidate in values:
            return candidate
    return values[0]


def normalise_attribute_value(value: object) -> str:
    """YAML gives `true`/`True`/`yes` as booleans or strings; labels are compared as lower-case strings."""
    if isinstance(value, bool):
        return TRUE if value else FALSE
    return str(value).strip().lower()


def attribute_output_value(value: str) -> object:
    """The JSON value of an attribute in the parse output: booleans for true/false, else the string."""
    if value in (TRUE, FALSE):
        return value == TRUE
    return value
