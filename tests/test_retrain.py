"""The model registry (promote, rollback, history), the not-worse promotion rule, and one real retrain on a
tiny data folder: train, evaluate beside the live model, promote or refuse."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

import pytest

from learning import registry
from learning.db import CANDIDATE, LIVE, RETIRED, get_engine, reset_engines
from learning.retrain import (
    RetrainOptions,
    comparison_table,
    drops,
    headline,
    not_worse,
    parse_epochs,
    retrain,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def engine(tmp_path: Path):
    reset_engines()
    yield get_engine(f"sqlite:///{tmp_path / 'loop.db'}")
    reset_engines()


def _archive(folder: Path, name: str) -> Path:
    path = folder / f"{name}.tar.gz"
    path.write_bytes(os.urandom(64) + name.encode())
    return path


# ---- registry ------------------------------------------------------------------------------------------


def test_promote_retires_the_live_model_and_rollback_walks_back(engine, tmp_path: Path) -> None:
    serve = tmp_path / "models"
    a, b, c = (registry.register(engine, _archive(tmp_path, n), "h") for n in "abc")
    assert registry.live_model(engine) is None
    registry.promote(engine, a.id, "ann", serve)
    registry.promote(engine, b.id, "ann", serve)
    registry.promote(engine, c.id, "ann", serve)
    status = {m.id: m.status for m in registry.list_models(engine)}
    assert status == {a.id: RETIRED, b.id: RETIRED, c.id: LIVE}
    newest = max(serve.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime_ns)
    assert newest.name == f"live-{c.id}.tar.gz"

    assert registry.rollback(engine, "ann", serve).id == b.id
    assert registry.live_model(engine).id == b.id
    assert registry.get_model(engine, c.id).status == RETIRED
    newest = max(serve.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime_ns)
    assert newest.name == f"live-{b.id}.tar.gz"
    assert registry.rollback(engine, "ann", serve).id == a.id
    with pytest.raises(registry.RegistryError, match="nothing to roll back"):
        registry.rollback(engine, "ann", serve)

    actions = [(e["action"], e["model_id"], e["previous_id"]) for e in registry.history(engine)]
    assert actions == [
        ("promote", a.id, None), ("promote", b.id, a.id), ("promote", c.id, b.id),
        ("rollback", b.id, c.id), ("rollback", a.id, b.id),
    ]
    assert registry.live_archive(engine) == Path(a.path)


def test_register_defaults_the_parent_to_the_live_model(engine, tmp_path: Path) -> None:
    first = registry.register(engine, _archive(tmp_path, "first"), "h1", {"x": {"f1": 0.5}})
    registry.promote(engine, first.id, serve_dir=None)
    second = registry.register(engine, _archive(tmp_path, "second"), "h2")
    assert second.parent_id == first.id and second.status == CANDIDATE
    assert registry.get_model(engine, first.id).metrics == {"x": {"f1": 0.5}}
    assert len(second.id) == registry.ID_LENGTH
    with pytest.raises(registry.RegistryError):
        registry.promote(engine, "nope", serve_dir=None)


def test_promoting_the_live_model_again_changes_no_history(engine, tmp_path: Path) -> None:
    model = registry.register(engine, _archive(tmp_path, "m"), "h")
    registry.promote(engine, model.id, serve_dir=None)
    registry.promote(engine, model.id, serve_dir=None)
    assert len(registry.history(engine)) == 1


def test_data_hash_follows_every_training_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "nlu").mkdir(parents=True)
    (data / "nlu" / "a.yml").write_text("one")
    config, domain = tmp_path / "config.yml", tmp_path / "domain.yml"
    config.write_text("c")
    domain.write_text("d")
    first = registry.data_hash(data, config, domain)
    assert registry.data_hash(data, config, domain) == first
    (data / "nlu" / "b.yml").write_text("two")
    second = registry.data_hash(data, config, domain)
    assert second != first
    config.write_text("c2")
    assert registry.data_hash(data, config, domain) != second


# ---- the not-worse rule --------------------------------------------------------------------------------

LIVE_FIGURES = {"heldout_nlu": {"intent_accuracy": 0.90, "entity_micro_f1": 0.80, "attribute_macro_f1": 0.95}}


def test_a_drop_within_the_tolerance_still_promotes() -> None:
    candidate = {"heldout_nlu": {"intent_accuracy": 0.896, "entity_micro_f1": 0.85,
                                 "attribute_macro_f1": 0.95}}
    assert not_worse(LIVE_FIGURES, candidate, 0.005)
    assert drops(LIVE_FIGURES, candidate, 0.005) == []


def test_a_drop_beyond_the_tolerance_on_any_figure_refuses() -> None:
    candidate = {"heldout_nlu": {"intent_accuracy": 0.95, "entity_micro_f1": 0.79,
                                 "attribute_macro_f1": 0.99}}
    assert not not_worse(LIVE_FIGURES, candidate, 0.005)
    assert drops(LIVE_FIGURES, candidate, 0.005) == [
        "heldout_nlu entity micro-F1: 0.8000 -> 0.7900 (-0.0100)"]
    assert not_worse(LIVE_FIGURES, candidate, 0.02)


def test_only_sets_and_figures_both_models_have_are_compared() -> None:
    candidate = {"heldout_nlu": {"intent_accuracy": 0.91}, "heldout_reviewed": {"entity_micro_f1": 0.1}}
    assert not_worse(LIVE_FIGURES, candidate, 0.0)
    assert not_worse({}, candidate, 0.0)


def test_headline_and_table() -> None:
    scored = {"examples": 3, "intent": {"accuracy": 2 / 3, "macro_f1": 0.5, "ece": 0.1},
              "entities": {"micro": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3}},
              "attributes": {"macro_f1": 0.75}}
    figures = headline(scored)
    assert figures == {"examples": 3.0, "intent_accuracy": 2 / 3, "intent_macro_f1": 0.5,
                       "entity_micro_f1": 2 / 3, "attribute_macro_f1": 0.75}
    table = comparison_table({"s": {"intent_accuracy": 0.5}}, {"s": figures})
    assert "| s | intent accuracy | 0.5000 | 0.6667 | +0.1667 |" in table
    assert "| s | entity micro-F1 | n/a | 0.6667 | n/a |" in table


def test_parse_epochs() -> None:
    assert parse_epochs("nlu.component.JointShoppingNLU=2, TEDPolicy=5") == {
        "nlu.component.JointShoppingNLU": 2, "TEDPolicy": 5}
    assert parse_epochs("") == {}
    for bad in ("TEDPolicy", "TEDPolicy=0", "=3", "TEDPolicy=x"):
        with pytest.raises(ValueError):
            parse_epochs(bad)


# ---- one real retrain ----------------------------------------------------------------------------------

TINY_INTENTS = {"search_product": 36, "greet": 8, "thanks": 8, "goodbye": 8}
# Reviewed live messages (text, product span): exported before training; one of them ("kids rain boots")
# falls in the 1-in-5 reviewed held-out slice, so both held-out sets are scored.
REVIEWED = [("red running shoes for my son", "running shoes"), ("a wool scarf for my mum", "scarf"),
            ("cheap headphones", "headphones"), ("blue dress size 10", "dress"), ("yoga mat", "yoga mat"),
            ("kids rain boots", "rain boots"), ("coffee grinder", "coffee grinder")]


def _tiny_yaml(path: Path, counts: Dict[str, int], sources: List[Path]) -> int:
    """The first examples of a few intents from project files, as one NLU file; how many."""
    from nlu.tools.validate_data import load_examples

    taken: Dict[str, List[str]] = {intent: [] for intent in counts}
    for source in sources:
        for example in load_examples(source):
            chosen = taken.get(example.intent)
            if chosen is not None and len(chosen) < counts[example.intent] and "\n" not in example.annotated:
                chosen.append(example.annotated)
    lines = ['version: "3.1"', "nlu:"]
    for intent, examples in taken.items():
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {text}" for text in examples]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sum(len(v) for v in taken.values())


@pytest.mark.e2e
def test_retrain_trains_evaluates_side_by_side_and_promotes_or_refuses(engine, tmp_path: Path) -> None:
    data = tmp_path / "data"
    training = sorted((REPO / "data" / "nlu").glob("*.yml"))
    assert _tiny_yaml(data / "nlu" / "tiny.yml", TINY_INTENTS, training) == sum(TINY_INTENTS.values())
    heldout = tmp_path / "heldout.yml"
    assert _tiny_yaml(heldout, {"search_product": 12, "greet": 3, "thanks": 3},
                      [REPO / "tests" / "data" / "heldout_nlu.yml"]) == 18
    from learning.review import correct
    from tests.console_seed import add_message

    for text, product in REVIEWED:
        start = text.index(product)
        label = {"intent": "search_product", "attributes": {},
                 "entities": [{"start": start, "end": start + len(product), "entity": "product_type"}]}
        correct(engine, add_message(engine, text, 0.6), label, "rita")
    lines: List[str] = []
    options = RetrainOptions(
        data=data, epochs={"nlu.component.JointShoppingNLU": 2}, heldout=heldout,
        reviewed_heldout=tmp_path / "heldout_reviewed.yml",
        candidates_dir=tmp_path / "candidates", serve_dir=tmp_path / "models", username="admin",
    )

    first = retrain(options, engine, lines.append)  # nothing live yet: the first candidate goes live
    assert first.promoted and first.live is None and first.reasons == []
    assert registry.live_model(engine).id == first.candidate.id
    assert set(first.candidate_metrics) == {"heldout", "heldout_reviewed"}
    assert first.candidate_metrics["heldout_reviewed"]["examples"] == 1
    assert "running shoes](product_type)" in (data / "nlu" / "reviewed" / "console.yml").read_text()
    assert 0.0 <= first.candidate_metrics["heldout"]["entity_micro_f1"] <= 1.0

    second = retrain(options, engine, lines.append)  # same data and seed: not worse, promoted
    assert second.live.id == first.candidate.id
    assert second.candidate.parent_id == first.candidate.id
    assert second.reasons == drops(second.live_metrics, second.candidate_metrics, options.tolerance)
    assert second.promoted == (second.reasons == [])
    assert "| heldout | entity micro-F1 |" in second.table

    options.tolerance = -1.0  # a candidate would have to gain a whole point on every figure: refused
    third = retrain(options, engine, lines.append)
    assert not third.promoted and third.reasons
    assert registry.get_model(engine, third.candidate.id).status == CANDIDATE
    live_now = registry.live_model(engine).id
    assert live_now == (second.candidate.id if second.promoted else first.candidate.id)
    assert any("training" in line for line in lines) and any("not promoted" in line for line in lines)
    assert registry.get_model(engine, live_now).metrics["heldout"]["examples"] == 18


def test_make_run_serves_the_registry_live_model(engine, tmp_path: Path, monkeypatch) -> None:
    """bot.launcher.main (make run) starts the promoted archive instead of training, unless --train."""
    from bot import launcher

    monkeypatch.setenv("SHOPCUE_DATABASE_URL", str(engine.url))
    model = registry.register(engine, _archive(tmp_path, "live"), "h")
    registry.promote(engine, model.id, serve_dir=None)
    started: List[Path] = []

    def start(self: launcher.BotProcesses, timeout: float = 0) -> None:
        started.append(self.model)
        raise launcher.LaunchError("not starting servers in a unit test")

    def train(*_args: object, **_kwargs: object) -> Path:
        started.append(Path("trained"))
        raise launcher.LaunchError("no training in a unit test")

    monkeypatch.setattr(launcher.BotProcesses, "start", start)
    monkeypatch.setattr(launcher, "train_model", train)
    logs = ["--logs", str(tmp_path / "logs")]
    assert launcher.main(logs) == 1
    assert started == [Path(model.path)]
    with pytest.raises(launcher.LaunchError, match="no training"):
        launcher.main([*logs, "--train"])
    assert started[-1] == Path("trained")
