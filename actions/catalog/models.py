"""The catalog's tables: products and their stock per size, plus the FTS5 index (SQLite only)."""

from __future__ import annotations

from typing import Dict, List

from sqlalchemy import Boolean, Column, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

# A product sold without sizes has one stock row under this size.
ONE_SIZE = "one size"

# The catalog's vocabularies for the implicit attributes. `unisex` matches any shopper's gender.
GENDERS = ("female", "male", "unisex")
AGE_GROUPS = ("baby", "kid", "teen", "adult")


class Product(Base):
    __tablename__ = "products"

    id = Column(String(16), primary_key=True)
    title = Column(String(200), nullable=False)
    brand = Column(String(80), nullable=False, index=True)
    product_type = Column(String(60), nullable=False, index=True)
    category = Column(String(60), nullable=False, index=True)
    gender = Column(String(10), nullable=False, default="unisex")
    age_group = Column(String(10), nullable=False, default="adult")
    colour = Column(String(40), nullable=False, default="")
    material = Column(String(60), nullable=False, default="")
    price = Column(Float, nullable=False, index=True)
    rating = Column(Float, nullable=False, default=0.0)
    gift_suitable = Column(Boolean, nullable=False, default=False)
    description = Column(Text, nullable=False, default="")

    stock = relationship(
        "StockLevel",
        back_populates="product",
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="StockLevel.position",
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

    def __repr__(self) -> str:
        return f"<Product {self.id} {self.title!r} ${self.price:.2f}>"


class StockLevel(Base):
    __tablename__ = "stock_levels"

    product_id = Column(String(16), ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    size = Column(String(20), primary_key=True)
    position = Column(Integer, nullable=False, default=0)  # keeps sizes in their natural order
    quantity = Column(Integer, nullable=False, default=0)

    product = relationship("Product", back_populates="stock")
