"""The catalog's tables: products, their stock per size and where each attribute came from, plus the FTS5
index (SQLite only)."""

from __future__ import annotations

from typing import Dict, List, Optional

from sqlalchemy import Boolean, Column, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import declarative_base, relationship

from common.schema import AGE_GROUP, DEFAULT_ATTRIBUTES, GENDER, NEUTRAL_VALUES

Base = declarative_base()

# A product sold without sizes has one stock row under this size.
ONE_SIZE = "one size"

# The catalog's vocabularies for the implicit attributes: the schema's values less its "no evidence"
# one, plus `unisex`, a product's gender that matches any shopper's.
UNISEX = "unisex"
DEFAULT_AGE_GROUP = "adult"  # a product that does not say who it is for
GENDERS = (*(v for v in DEFAULT_ATTRIBUTES[GENDER] if v not in NEUTRAL_VALUES), UNISEX)
AGE_GROUPS = tuple(v for v in DEFAULT_ATTRIBUTES[AGE_GROUP] if v not in NEUTRAL_VALUES)


class Product(Base):
    __tablename__ = "products"

    id = Column(String(16), primary_key=True)
    title = Column(String(200), nullable=False)
    brand = Column(String(80), nullable=False, index=True)
    product_type = Column(String(60), nullable=False, index=True)
    category = Column(String(60), nullable=False, index=True)
    gender = Column(String(10), nullable=False, default=UNISEX)
    age_group = Column(String(10), nullable=False, default=DEFAULT_AGE_GROUP)
    colour = Column(String(40), nullable=False, default="")
    material = Column(String(60), nullable=False, default="")
    price = Column(Float, nullable=False, index=True)
    rating = Column(Float, nullable=False, default=0.0)
    gift_suitable = Column(Boolean, nullable=False, default=False)
    description = Column(Text, nullable=False, default="")
    image_url = Column(String(500), nullable=False, default="")  # http(s) only; "" shows the placeholder

    stock = relationship(
        "StockLevel",
        back_populates="product",
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="StockLevel.position",
    )

    facts = relationship(
        "AttributeFact",
        back_populates="product",
        lazy="noload",  # search never needs them; enrichment and review load them explicitly
        cascade="all, delete-orphan",
    )

    @property
    def sizes(self) -> List[str]:
        return [row.size for row in self.stock]

    @property
    def stock_by_size(self) -> Dict[str, int]:
        return {row.size: row.quantity for row in self.stock}

    @property
    def total_stock(self) -> int:
        return sum(row.quantity for row in self.stock)

    @property
    def in_stock(self) -> bool:
        return self.total_stock > 0

    # "In stock?" is answered here only, so search, substitutes, replies and the cart agree.

    @property
    def real_sizes(self) -> List[str]:
        """The sizes a shopper chooses between; empty for a product sold without sizes."""
        return [size for size in self.sizes if size != ONE_SIZE]

    @property
    def sized(self) -> bool:
        return bool(self.real_sizes)

    def _stock_row(self, size: str) -> Optional[StockLevel]:
        wanted = size.strip().casefold()
        return next((row for row in self.stock if row.size.casefold() == wanted), None)

    def quantity_for(self, size: Optional[str]) -> int:
        """Stock in `size` (any case); no size, or a product sold without sizes, counts all of it."""
        if not size or not self.sized:
            return self.total_stock
        row = self._stock_row(size)
        return row.quantity if row is not None else 0

    def available(self, size: Optional[str] = None) -> bool:
        return self.quantity_for(size) > 0

    def makes_size(self, size: str) -> bool:
        """Any size fits a product sold without sizes; otherwise it must be one of its sizes (any case)."""
        return not self.sized or self._stock_row(size) is not None

    def size_label(self, size: Optional[str]) -> str:
        """The catalog's spelling of a requested size ("m" -> "M").

        ONE_SIZE when sold without sizes, when no size is given, or when not made in it (see makes_size).
        """
        row = self._stock_row(size) if size and self.sized else None
        return row.size if row is not None else ONE_SIZE

    def __repr__(self) -> str:
        return f"<Product {self.id} {self.title!r} ${self.price:.2f}>"


class StockLevel(Base):
    __tablename__ = "stock_levels"

    product_id = Column(String(16), ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    size = Column(String(20), primary_key=True)
    position = Column(Integer, nullable=False, default=0)  # keeps sizes in their natural order
    quantity = Column(Integer, nullable=False, default=0)

    product = relationship("Product", back_populates="stock")


# Where a product's attribute value came from. A feed's own column is `given`; a value the NLU model read
# from the title, description and brand is `inferred` (with its confidence); a person's fix in the
# review console is `reviewed`.
SOURCE_GIVEN = "given"
SOURCE_INFERRED = "inferred"
SOURCE_REVIEWED = "reviewed"

# A fact's review state, separate from its source: `auto` (nobody looked), `accepted` (a person
# confirmed the value as it was), `corrected` (a person changed it).
REVIEW_AUTO = "auto"
REVIEW_ACCEPTED = "accepted"
REVIEW_CORRECTED = "corrected"

# The Product columns enrichment infers and reviewers fix; one fact row per product and attribute.
ENRICHED_ATTRIBUTES = (
    "product_type",
    "category",
    "gender",
    "age_group",
    "colour",
    "material",
    "gift_suitable",
)


class AttributeFact(Base):
    """One attribute of one product: the value in use (mirrored on the Product column, which search
    reads), where it came from, and what the model read even when the feed gave a value, so a
    contradiction between the two can be reported and reviewed."""

    __tablename__ = "product_attribute_facts"

    product_id = Column(String(16), ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    attribute = Column(String(20), primary_key=True)  # one of ENRICHED_ATTRIBUTES
    value = Column(String(60), nullable=False, default="")  # as stored on Product ("true"/"false" for gift)
    source = Column(String(10), nullable=False, default=SOURCE_INFERRED)
    confidence = Column(Float, nullable=True)  # the model's, for inferred values; None for given ones
    inferred_value = Column(String(60), nullable=True)  # the model's reading, kept beside a given value
    inferred_confidence = Column(Float, nullable=True)
    review_state = Column(String(10), nullable=False, default=REVIEW_AUTO, index=True)
    reviewed_by = Column(String(80), nullable=True)
    reviewed_at = Column(DateTime, nullable=True)

    product = relationship("Product", back_populates="facts")

    @property
    def contradicted(self) -> bool:
        """The feed gave a value and the model read a different one."""
        return (
            self.source == SOURCE_GIVEN
            and self.inferred_value is not None
            and self.inferred_value != self.value
        )
