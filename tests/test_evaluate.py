"""The evaluation CLI (nlu/tools/evaluate.py, metrics.py) on cases small enough to compute by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.stats import percentile
from nlu.tools.evaluate import EvalSet, GoldExample, ParsedExample, load_bio_set, markdown_report, score
from nlu.tools.import_bio import TypeMapping
from nlu.tools.metrics import (
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    micro_f1,
    paired_bootstrap,
    span_counts,
    span_prf,
)

MAPPING_ENTITIES = {"core_product_type": "product_type", "creator": "brand", "color": "color"}


def test_span_prf_is_strict_about_boundaries_and_type() -> None:
    gold = [[(0, 3, "color"), (4, 9, "product_type")], [(0, 4, "brand")]]
    predicted = [[(0, 3, "color"), (4, 8, "product_type")], [(0, 4, "color")]]
    result = span_prf(gold, predicted)
    # color: tp 1, fp 1 (the brand span typed as color) -> P 1/2, R 1/1
    assert result["per_type"]["color"]["precision"] == pytest.approx(0.5)
    assert result["per_type"]["color"]["recall"] == pytest.approx(1.0)
    # product_type: boundary off by one -> 0 tp, 1 fp, 1 fn
    assert result["per_type"]["product_type"]["f1"] == 0.0
    assert result["per_type"]["brand"]["support"] == 1 and result["per_type"]["brand"]["recall"] == 0.0
    # micro: tp 1, fp 2, fn 2 -> P = R = F1 = 1/3
    assert result["micro"]["f1"] == pytest.approx(1 / 3)


def test_span_counts_per_example_sum_to_span_prf_micro() -> None:
    gold = [[(0, 3, "color"), (4, 9, "product_type")], [(0, 4, "brand")], []]
    predicted = [[(0, 3, "color"), (4, 8, "product_type")], [(0, 4, "color")], [(0, 2, "size")]]
    counts = span_counts(gold, predicted)
    assert counts == [(1, 1, 1), (0, 1, 1), (0, 1, 0)]
    assert micro_f1(counts) == pytest.approx(span_prf(gold, predicted)["micro"]["f1"])
    assert micro_f1([]) == 0.0


def test_paired_bootstrap_separates_a_real_gain_from_none() -> None:
    # 200 queries of one span each: the baselines get 100 right; the model gets those and 40 more.
    baseline = [(1, 0, 0)] * 100 + [(0, 1, 1)] * 100
    better = [(1, 0, 0)] * 140 + [(0, 1, 1)] * 60
    gain = paired_bootstrap(better, [baseline, baseline], rounds=500, seed=1)
    assert gain["difference"] == pytest.approx(0.2)
    assert 0 < gain["low"] <= 0.2 <= gain["high"] and gain["share_ahead"] == 1.0
    # the same model against itself: no difference in any resample, never ahead
    same = paired_bootstrap(baseline, [baseline], rounds=200, seed=1)
    assert same["difference"] == same["low"] == same["high"] == 0.0 and same["share_ahead"] == 0.0
    # swapping which queries a model gets right, at equal totals: the interval straddles zero
    swapped = [(0, 1, 1)] * 100 + [(1, 0, 0)] * 100
    tie = paired_bootstrap(swapped, [baseline], rounds=500, seed=1)
    assert tie["difference"] == 0.0 and tie["low"] < 0 < tie["high"] and 0.3 < tie["share_ahead"] < 0.7
    with pytest.raises(ValueError):
        paired_bootstrap(better, [baseline[:10]])


def test_accuracy_macro_f1_and_confusion() -> None:
    gold = ["male", "male", "female", "unknown"]
    predicted = ["male", "female", "female", "unknown"]
    assert accuracy(gold, predicted) == pytest.approx(0.75)
    # male: tp1 fp0 fn1 -> 2/3; female: tp1 fp1 fn0 -> 2/3; unknown: 1 -> mean 7/9
    assert macro_f1(gold, predicted) == pytest.approx(7 / 9)
    labels = ["female", "male", "unknown"]
    assert confusion_matrix(gold, predicted, labels) == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]


def test_ece_is_zero_when_calibrated_and_gap_otherwise() -> None:
    assert expected_calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)
    # One bin (0.9, 1.0]: confidence 0.95, accuracy 0.5 -> ECE 0.45
    assert expected_calibration_error([0.95, 0.95], [True, False]) == pytest.approx(0.45)
    # Two bins, half the examples each: |1 - 0.85| * .5 + |0 - 0.25| * .5 = 0.2
    assert expected_calibration_error([0.85, 0.25], [True, False]) == pytest.approx(0.2)


def test_latency_percentile_interpolates_like_numpy() -> None:
    # The evaluation's p50/p95 come from the shared common.stats.percentile (q in 0..100).
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)


def test_load_bio_set_derives_attributes_from_department_only(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    rows = [
        {"tokens": ["shorts", "men"], "tags": ["B-core_product_type", "B-department"]},
        {"tokens": ["red", "mug"], "tags": ["B-color", "B-core_product_type"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    mapping = TypeMapping("search_product", MAPPING_ENTITIES, ("department",))
    eval_set = load_bio_set(path, mapping, ["gender", "age_group", "gift"])
    assert eval_set.examples[0].attributes == {"gender": "male", "age_group": "adult"}  # "men": adult male
    assert eval_set.examples[1].attributes == {}
    assert eval_set.examples[1].text == "red mug"
    assert eval_set.examples[1].entities == [(0, 3, "color"), (4, 7, "product_type")]
    assert eval_set.entity_types == {"product_type", "brand", "color"}
    assert not eval_set.has_intents


def test_score_ignores_types_the_set_cannot_judge_and_reports_side_by_side() -> None:
    eval_set = EvalSet(
        "q",
        [
            GoldExample(
                "red mug for my son", None, [(0, 3, "color"), (4, 7, "product_type")], {"gender": "male"}
            )
        ],
        entity_types={"color", "product_type"},
        has_intents=False,
        attributes=["gender"],
    )
    parsed = [
        ParsedExample(
            None,
            0.0,
            [(0, 3, "color"), (4, 7, "product_type"), (15, 18, "recipient")],
            {"gender": ("male", 0.9)},
            0.004,
        )
    ]
    result = score(eval_set, parsed, {"gender": ["female", "male", "unknown"]})
    assert result["entities"]["micro"]["f1"] == pytest.approx(1.0)  # recipient is not judged here
    assert result["attributes"]["per_attribute"]["gender"]["accuracy"] == pytest.approx(1.0)
    assert result["latency_ms"]["p50"] == pytest.approx(4.0)
    markdown = markdown_report(
        {
            "models": {
                "joint": {"config": "config.yml", "model": "m", "training_seconds": 1.0},
                "diet": {"config": "config.diet.yml", "model": "d", "training_seconds": 2.0},
            },
            "sets": {"q": {"joint": result, "diet": {**result, "attributes": None}}},
        }
    )
    assert "| entity micro F1 | 1.000 | 1.000 |" in markdown
    assert "| attribute macro-F1 (mean) | 1.000 | n/a |" in markdown
