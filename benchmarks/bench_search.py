"""Search quality and speed over queries with stated and implied constraints.

For every query (entities and attributes as the NLU would give them) it runs the real query builder
and search against the deterministic demo catalog and checks each of the top-5 results against every
constraint the query states (type, colour, price, size, brand, material) or implies (the recipient's
gender and age group, gift-suitability for gifts, "cheap" relative to the category). It prints the
share of top-5 results that satisfy all of them, per-constraint shares, and search latency p50/p95.

    python benchmarks/bench_search.py [--rounds 5] [--json out.json] [--db path] [--model model.tar.gz]

With `--model`, the entities and attributes come from that trained Rasa model's parse of each query's
text instead of the hand-written ones (end to end: NLU + search); the constraints checked stay the
hand-written ones.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actions.catalog.db import build_catalog, get_engine, session_for  # noqa: E402
from actions.catalog.demo import generate_demo_catalog  # noqa: E402
from actions.catalog.models import Product  # noqa: E402
from actions.prices import PriceIntent, resolve_relative  # noqa: E402
from actions.query import build_query  # noqa: E402
from actions.request import ShopperRequest, read_request  # noqa: E402
from actions.retrieval import category_prices, distinct_catalog_values, run_search  # noqa: E402
from actions.vocabulary import Vocabulary, build_vocabulary, load_synonyms  # noqa: E402
from common.schema import DEFAULT_ATTRIBUTES, attribute_output_value, neutral_value  # noqa: E402
from common.stats import percentile  # noqa: E402
from nlu.cue_fusion import fuse_with_cues  # noqa: E402
from nlu.prediction import AttributeReading  # noqa: E402

# The joint component's cue fusion confidence (config.yml `cue_confidence`): a hand-written case gets
# the attributes the component would output for it.
CUE_CONFIDENCE = 0.8


def attrs(
    gender: str = "unknown", age: str = "unknown", gift: bool = False, confidence: float = 0.92
) -> Dict:
    return {
        "gender": {"value": gender, "confidence": confidence},
        "age_group": {"value": age, "confidence": confidence},
        "gift": {"value": gift, "confidence": confidence},
    }


@dataclass
class Case:
    text: str
    entities: Sequence[Tuple[str, str]]
    attributes: Optional[Dict[str, Any]] = None
    # Implied constraints the entities do not spell out: gender, age_group, gift, cheap.
    implied: Dict[str, Any] = field(default_factory=dict)


CASES: List[Case] = [
    Case("red sneakers under $60", [("color", "red"), ("product_type", "sneakers"), ("price", "under $60")]),
    Case("black boots size 9", [("color", "black"), ("product_type", "boots"), ("size", "9")]),
    Case(
        "wireless headphones under 100",
        [("feature", "wireless"), ("product_type", "headphones"), ("price", "under 100")],
    ),
    Case(
        "cheap bluetooth speaker",
        [("product_type", "bluetooth speaker"), ("price", "cheap")],
        implied={"cheap": True},
    ),
    Case(
        "a dress for my wife",
        [("product_type", "dress"), ("recipient", "wife")],
        attrs("female", "adult", True),
        {"gender": "female", "age_group": "adult", "gift": True},
    ),
    Case(
        "lego for my 8 year old son",
        [("product_type", "lego"), ("recipient", "son"), ("age", "8 year old")],
        attrs("male", "kid", True),
        {"gender": "male", "age_group": "kid", "gift": True},
    ),
    Case(
        "a necklace for my mum's birthday under 50",
        [("product_type", "necklace"), ("recipient", "mum"), ("occasion", "birthday"), ("price", "under 50")],
        attrs("female", "adult", True),
        {"gender": "female", "age_group": "adult", "gift": True},
    ),
    Case(
        "trainers for my daughter",
        [("product_type", "trainers"), ("recipient", "daughter")],
        attrs("female", "unknown", False, 0.8),
        {"gender": "female"},  # a daughter may be any age
    ),
    Case(
        "jeans for a teenage boy",
        [("product_type", "jeans"), ("recipient", "teenage boy")],
        attrs("male", "teen"),
        {"gender": "male", "age_group": "teen"},
    ),
    Case(
        "something for my husband who loves cooking",
        [("recipient", "husband"), ("product_type", "cookbook")],
        attrs("male", "adult", True),
        {"gift": True},
    ),
    Case(
        "a present for a newborn",
        [("product_type", "baby gift set"), ("recipient", "newborn")],
        attrs("unknown", "baby", True),
        {"age_group": "baby", "gift": True},
    ),
    Case("leather bracelet", [("material", "leather"), ("product_type", "bracelet")]),
    Case("silver earrings", [("color", "silver"), ("product_type", "earrings")]),
    Case(
        "gold watch for him",
        [("color", "gold"), ("product_type", "watch")],
        attrs("male", "adult", True),
        {"gender": "male", "gift": True},
    ),
    Case(
        "cashmere jumper in medium",
        [("material", "cashmere"), ("product_type", "jumper"), ("size", "medium")],
    ),
    Case(
        "women's jacket size M between 50 and 120",
        [("product_type", "jacket"), ("size", "M"), ("price", "between 50 and 120")],
        attrs("female", "adult"),
        {"gender": "female", "age_group": "adult"},
    ),
    Case("kids headphones", [("product_type", "headphones")], attrs("unknown", "kid"), {"age_group": "kid"}),
    Case("yoga mat not too pricey", [("product_type", "yoga mat"), ("price", "not too pricey")]),
    Case("a board game for the family", [("product_type", "board game")]),
    Case("dog bed under 40 bucks", [("product_type", "dog bed"), ("price", "under 40 bucks")]),
    Case(
        "scented candles for my sister",
        [("product_type", "scented candles"), ("recipient", "sister")],
        attrs("female", "adult", True),
        {"gift": True},
    ),
    Case(
        "nike running shoes size 10", [("brand", "nike"), ("product_type", "running shoes"), ("size", "10")]
    ),
    Case(
        "adidas trainers for men",
        [("brand", "adidas"), ("product_type", "trainers")],
        attrs("male", "adult"),
        {"gender": "male", "age_group": "adult"},
    ),
    Case(
        "pink slippers for a girl",
        [("color", "pink"), ("product_type", "slippers"), ("recipient", "girl")],
        attrs("female", "kid"),
        {"gender": "female", "age_group": "kid"},
    ),
    Case("smartwatch 100-200 dollars", [("product_type", "smartwatch"), ("price", "100-200 dollars")]),
    Case("stainless steel cookware", [("material", "stainless steel"), ("product_type", "cookware")]),
    Case(
        "perfume for my girlfriend",
        [("product_type", "perfume"), ("recipient", "girlfriend")],
        attrs("female", "adult", True),
        {"gender": "female", "age_group": "adult", "gift": True},
    ),
    Case(
        "aftershave for dad under 40",
        [("product_type", "aftershave"), ("recipient", "dad"), ("price", "under 40")],
        attrs("male", "adult", True),
        {"gender": "male", "age_group": "adult", "gift": True},
    ),
    Case(
        "teddy bear for a baby",
        [("product_type", "teddy bear"), ("recipient", "baby")],
        attrs("unknown", "baby", True),
        {"age_group": "baby", "gift": True},
    ),
    Case("picture books", [("product_type", "picture books")]),
    Case(
        "waterproof jacket for a boy",
        [("feature", "waterproof"), ("product_type", "jacket"), ("recipient", "boy")],
        attrs("male", "kid"),
        {"gender": "male", "age_group": "kid"},
    ),
    Case(
        "blue hoodie size L under $40",
        [("color", "blue"), ("product_type", "hoodie"), ("size", "L"), ("price", "under $40")],
    ),
    Case("tennis racket", [("product_type", "tennis racket")]),
    Case(
        "organic cotton baby bodysuit 3-6M",
        [("material", "organic cotton"), ("product_type", "bodysuit"), ("size", "3-6M")],
    ),
    Case("cheap earbuds", [("product_type", "earbuds"), ("price", "cheap")], implied={"cheap": True}),
    Case("premium coffee machine", [("product_type", "coffee machine"), ("price", "premium")]),
    Case(
        "a toy for my niece, she's 6",
        [("product_type", "toy"), ("recipient", "niece"), ("age", "6")],
        attrs("female", "kid", True, 0.7),
        {"gender": "female", "age_group": "kid", "gift": True},
    ),
    Case(
        "grey sweater for my grandad",
        [("color", "grey"), ("product_type", "sweater"), ("recipient", "grandad")],
        attrs("male", "adult", True),
        {"gender": "male", "age_group": "adult", "gift": True},
    ),
    Case(
        "purple leather boots size 8",
        [("color", "purple"), ("material", "leather"), ("product_type", "boots"), ("size", "8")],
    ),
    Case("chocolates under 20", [("product_type", "chocolates"), ("price", "under 20")]),
]


def checks_for(case: Case, query: Any, cheap_limit: Optional[float]) -> Dict[str, Callable[[Product], bool]]:
    """Every stated or implied constraint, as a predicate on a result."""
    checks: Dict[str, Callable[[Product], bool]] = {}
    if query.product_type:
        checks["product type"] = lambda p: p.product_type == query.product_type
    elif query.category:
        checks["category"] = lambda p: p.category == query.category
    if query.terms:
        checks["words"] = lambda p: all(
            t.lower()[:5] in (p.title + " " + p.description).lower() for t in query.terms
        )
    if query.colour:
        checks["colour"] = lambda p: p.colour == query.colour
    if query.material:
        checks["material"] = lambda p: query.material in p.material
    if query.brand:
        checks["brand"] = lambda p: p.brand.lower() == query.brand.lower()
    if query.size:
        checks["size"] = lambda p: any(s.upper() == query.size.upper() for s in p.sizes)
    if query.min_price is not None:
        checks["price"] = lambda p: (
            p.price >= query.min_price and (query.max_price is None or p.price <= query.max_price)
        )
    elif query.max_price is not None:
        checks["price"] = lambda p: p.price <= query.max_price
    if case.implied.get("cheap") and cheap_limit is not None:
        checks["cheap"] = lambda p: p.price <= cheap_limit
    if "gender" in case.implied:
        checks["gender"] = lambda p: p.gender in (case.implied["gender"], "unisex")
    if "age_group" in case.implied:
        checks["age group"] = lambda p: p.age_group == case.implied["age_group"]
    if case.implied.get("gift"):
        checks["gift-suitable"] = lambda p: p.gift_suitable
    return checks


def hand_written_parse(case: Case) -> Dict[str, Any]:
    """The case as the joint component would parse it: its entities, and its attributes (neutral where
    the case gives none) fused with the cue words as `JointShoppingNLU.process` does."""
    given = case.attributes or {}
    readings = {}
    for name, values in DEFAULT_ATTRIBUTES.items():
        item = given.get(name) or {"value": neutral_value(name, values), "confidence": 0.5}
        value = str(item["value"]).lower()
        readings[name] = AttributeReading(value, float(item["confidence"]))
    fused = fuse_with_cues(case.text, readings, CUE_CONFIDENCE, DEFAULT_ATTRIBUTES)
    return {
        "text": case.text,
        "entities": [{"entity": kind, "value": value} for kind, value in case.entities],
        "attributes": {
            name: {"value": attribute_output_value(r.value), "confidence": r.confidence}
            for name, r in fused.items()
        },
    }


def parse_with_model(model: Path, texts: Sequence[str]) -> List[Dict[str, Any]]:
    """Each text as the trained model parses it (entities and `attributes`)."""
    import asyncio

    from rasa.core.agent import Agent

    async def parse_all() -> List[Dict[str, Any]]:
        agent = Agent.load(str(model))
        return [await agent.parse_message(text) for text in texts]

    return asyncio.run(parse_all())


def request_for(parse: Dict[str, Any], vocabulary: Vocabulary) -> ShopperRequest:
    return read_request(parse, vocabulary)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed repetitions of every query")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--db", type=Path, help="catalog file (default: a fresh demo catalog in a temp dir)")
    parser.add_argument("--model", type=Path, help="parse the queries with this trained Rasa model")
    args = parser.parse_args(argv)
    parses = parse_with_model(args.model, [case.text for case in CASES]) if args.model else None

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench_catalog.db"
        url = f"sqlite:///{path}"
        if args.db is None:
            build_catalog(url, generate_demo_catalog())
        engine = get_engine(url)
        with session_for(engine) as session:
            values = distinct_catalog_values(session)
            vocabulary = build_vocabulary(
                load_synonyms(), values["types"], values["colours"], values["materials"], values["brands"]
            )
            satisfied = total = 0
            per_constraint: Dict[str, List[int]] = {}
            relaxed_queries = 0
            latencies: List[float] = []
            lines = []
            for index, case in enumerate(CASES):
                gold = hand_written_parse(case)
                parse = parses[index] if parses else gold
                timings = []
                for _ in range(max(1, args.rounds)):
                    started = time.perf_counter()
                    query, _ = build_query(request_for(parse, vocabulary))
                    result = run_search(session, query, vocabulary)
                    timings.append((time.perf_counter() - started) * 1000)
                # The constraints are always the hand-written ones.
                query, _ = build_query(request_for(gold, vocabulary))
                latencies.extend(timings)
                top = result.products[:5]
                cheap_limit = None
                if case.implied.get("cheap"):
                    cheap_limit = resolve_relative(
                        PriceIntent(relative="cheap"), category_prices(session, query)
                    ).max_price
                checks = checks_for(case, query, cheap_limit)
                ok = 0
                for product in top:
                    passed = {name: check(product) for name, check in checks.items()}
                    for name, value in passed.items():
                        per_constraint.setdefault(name, [0, 0])
                        per_constraint[name][0] += int(value)
                        per_constraint[name][1] += 1
                    ok += int(all(passed.values()))
                satisfied += ok
                total += len(top) if top else 5  # an empty answer counts as five misses
                relaxed_queries += int(bool(result.dropped))
                dropped = f" (dropped {', '.join(result.dropped)})" if result.dropped else ""
                lines.append(f"  {ok}/{len(top)}  {statistics.median(timings):6.1f} ms  {case.text}{dropped}")

    share = satisfied / total if total else 0.0
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    source = f"parsed by {args.model}" if args.model else "hand-written entities and attributes"
    print(f"queries: {len(CASES)} ({source}), timed searches: {len(latencies)} ({args.rounds} rounds)")
    print("\n".join(lines))
    print("per constraint (share of top-5 results satisfying it):")
    for name, (good, count) in sorted(per_constraint.items()):
        print(f"  {name:14s} {good / count:6.1%}  ({good}/{count})")
    print(f"queries that needed relaxation: {relaxed_queries}")
    print(f"top-5 results satisfying every stated or implied constraint: {share:.1%} ({satisfied}/{total})")
    print(f"search latency: p50 {p50:.1f} ms, p95 {p95:.1f} ms (query building + search, SQLite FTS5)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "queries": len(CASES),
                    "model": str(args.model) if args.model else None,
                    "share_all_constraints": share,
                    "satisfied": satisfied,
                    "results": total,
                    "per_constraint": {k: v[0] / v[1] for k, v in per_constraint.items()},
                    "relaxed_queries": relaxed_queries,
                    "latency_ms_p50": p50,
                    "latency_ms_p95": p95,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
