"""The review console's product mode: catalog products whose enriched attributes the model doubted,
and their JSON API (reviewers and admins).

    GET  /products                          the page (templates/products.html + static/products.js)
    GET  /api/products/queue                products by doubt; filters as query parameters, limit/offset
    GET  /api/products/schema               what a correction may set (the catalog's vocabulary)
    POST /api/products/{id}/accept          every unreviewed attribute of the product is right
    POST /api/products/{id}/correct         {"attribute", "value"}: one attribute fixed
    POST /api/products/{id}/skip            pass it over
    POST /api/products/undo                 undo this reviewer's latest product action
    POST /api/products/bulk-accept          {filters..., "expected": n}: accept what the filter shows
    POST /api/products/export               write <data dir>/nlu/reviewed/products.yml
    GET  /api/products/history              the audit: who changed what, latest first

The work is enrichment/review.py's and enrichment/training_examples.py's, over the catalog database
(`actions.catalog.db.catalog_url()`: the one the action server searches); this module maps HTTP to it
(a `ReviewError` is a 422 with its message). The app includes it with `current_user`, so every POST
needs the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any, Dict, List, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from actions.catalog.db import catalog_url, get_engine
from console.auth import ConsoleUser, require_role
from console.deps import SettingsDep
from console.shell import NavPage, register_page, render
from enrichment import review
from enrichment.training_examples import export_products
from learning.db import REVIEWER

Reviewer = Annotated[ConsoleUser, Depends(require_role(REVIEWER))]
register_page(NavPage("/products", "Products", (REVIEWER,)))

page_router = APIRouter(tags=["products"])
api_router = APIRouter(prefix="/api/products", tags=["products"])


def catalog_engine() -> Engine:
    """The catalog the bot searches (DATABASE_URL, else SHOPCUE_CATALOG_DB, else var/); tests override
    this dependency to point at their own."""
    return get_engine(catalog_url())


CatalogDep = Annotated[Engine, Depends(catalog_engine)]


class Filters(BaseModel):
    """Which products a queue page or a bulk accept covers (enrichment.review.ProductFilter)."""

    category: Optional[str] = None
    product_type: Optional[str] = None
    attribute: Optional[str] = None
    state: str = review.UNREVIEWED  # unreviewed, reviewed, skipped or all
    min_confidence: Optional[float] = Field(default=None, ge=0, le=1)
    max_confidence: Optional[float] = Field(default=None, ge=0, le=1)
    contradictions: bool = False
    below_threshold: bool = False

    def to_filter(self) -> review.ProductFilter:
        return review.ProductFilter(**self.dict())


class BulkRequest(Filters):
    # The count the reviewer confirmed; the accept is refused when the filter now shows another.
    expected: Optional[int] = Field(default=None, ge=0)


class Correction(BaseModel):
    attribute: str
    value: str


class ProductOut(BaseModel):
    product: Dict[str, Any]


class Undone(BaseModel):
    product_id: Optional[str]


class BulkAccepted(BaseModel):
    accepted: int


def filters_from_query(
    category: Optional[str] = None,
    product_type: Optional[str] = None,
    attribute: Optional[str] = None,
    state: Optional[str] = None,
    min_confidence: Annotated[Optional[float], Query(ge=0, le=1)] = None,
    max_confidence: Annotated[Optional[float], Query(ge=0, le=1)] = None,
    contradictions: bool = False,
    below_threshold: bool = False,
) -> Filters:
    """The queue's filters from query parameters; empty strings (blank form fields) count as unset."""
    return Filters(
        category=category or None, product_type=product_type or None, attribute=attribute or None,
        state=state or review.UNREVIEWED, min_confidence=min_confidence, max_confidence=max_confidence,
        contradictions=contradictions, below_threshold=below_threshold,
    )


def _refused_as_422(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except review.ReviewError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error


def _product(engine: Engine, product_id: str) -> ProductOut:
    return ProductOut(product=_refused_as_422(review.product_item, engine, product_id).to_json())


# ---- the page -----------------------------------------------------------------------------------------


@page_router.get("/products", include_in_schema=False)
def products_page(request: Request, user: Reviewer) -> Response:
    return render(request, "products.html", user, title="Products")


# ---- the API ------------------------------------------------------------------------------------------


@api_router.get("/queue")
def queue(
    engine: CatalogDep,
    _user: Reviewer,
    filters: Annotated[Filters, Depends(filters_from_query)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Dict[str, Any]:
    """One page of the queue, least confident first; `threshold` is the review threshold in force."""
    page = _refused_as_422(review.queue, engine, filters.to_filter(), limit, offset)
    return {"items": [item.to_json() for item in page.items], "total": page.total, "limit": limit,
            "offset": offset, "threshold": page.threshold}


@api_router.get("/schema")
def schema(engine: CatalogDep, _user: Reviewer) -> Dict[str, Any]:
    """The values each attribute may take (a correction is checked against exactly these), the
    catalog's categories and the filter states."""
    vocab = review.vocabularies(engine)
    return {**vocab.to_json(), "categories": sorted(set(vocab.types.values())), "states": list(review.STATES)}


@api_router.post("/undo", response_model=Undone)
def undo(engine: CatalogDep, user: Reviewer) -> Undone:
    return Undone(product_id=review.undo(engine, user.username))


@api_router.post("/bulk-accept", response_model=BulkAccepted)
def bulk_accept(body: BulkRequest, engine: CatalogDep, user: Reviewer) -> BulkAccepted:
    filters = Filters(**body.dict(exclude={"expected"})).to_filter()
    try:
        count = review.bulk_accept(engine, filters, user.username, body.expected)
    except review.ReviewError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return BulkAccepted(accepted=count)


@api_router.post("/export")
def export(engine: CatalogDep, settings: SettingsDep, _user: Reviewer) -> Dict[str, Any]:
    """Rewrite <data dir>/nlu/reviewed/products.yml from every reviewed product; counts and the path."""
    result = export_products(engine, settings.data_dir)
    return {"written": result.written, "skipped_known": result.skipped_known,
            "skipped_conflicts": result.skipped_conflicts, "path": str(result.path)}


@api_router.get("/history")
def history(
    engine: CatalogDep, _user: Reviewer, product_id: Optional[str] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> List[Dict[str, Any]]:
    return review.history(engine, product_id, limit)


@api_router.post("/{product_id}/accept", response_model=ProductOut)
def accept(product_id: str, engine: CatalogDep, user: Reviewer) -> ProductOut:
    _refused_as_422(review.accept, engine, product_id, user.username)
    return _product(engine, product_id)


@api_router.post("/{product_id}/correct", response_model=ProductOut)
def correct(product_id: str, body: Correction, engine: CatalogDep, user: Reviewer) -> ProductOut:
    _refused_as_422(review.correct, engine, product_id, body.attribute, body.value, user.username)
    return _product(engine, product_id)


@api_router.post("/{product_id}/skip", response_model=ProductOut)
def skip(product_id: str, engine: CatalogDep, user: Reviewer) -> ProductOut:
    _refused_as_422(review.skip, engine, product_id, user.username)
    return _product(engine, product_id)
