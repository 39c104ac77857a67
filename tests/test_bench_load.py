"""benchmarks/bench_load.py's figures: only the steady part of a run counts (not the ramp-up, not a turn cut
off by the stop), errors are counted apart from the latencies, and the table says how turns were answered."""

from __future__ import annotations

from typing import Optional

from benchmarks.bench_load import summarise, table


def turn(start: float, seconds: float, error: Optional[str] = None, kind: str = "search") -> dict:
    return {"kind": kind, "start": start, "seconds": seconds, "error": error}


def test_figures_count_the_steady_window_only() -> None:
    raw = {
        "ramped_at": 100.0,
        "stopped_at": 110.0,
        "turns": [
            turn(95.0, 2.0),  # ended during the ramp-up: not measured
            turn(99.0, 2.0),  # started in the ramp-up, ended after it: measured
            turn(101.0, 2.0), turn(102.0, 3.0), turn(103.0, 4.0),
            turn(104.0, 0.5, error="HTTP 429"),
            turn(109.5, 2.0),  # still running at the stop: not measured
        ],
        "sessions": [{"start": 90.0, "seconds": 0.2, "error": None}, {"start": 91.0, "seconds": 8.0,
                                                                       "error": None}],
        "shapes": [{"kind": "search", "shape": "product_cards", "count": 4}],
    }
    figures = summarise(raw, "single", 50)
    assert figures.turns == 5 and figures.answered == 4 and figures.errors == 1
    assert figures.messages_per_s == 0.4  # 4 answered turns in 10 s
    assert figures.p50_s == 2.5 and figures.p99_s > 3.9
    assert figures.error_kinds == {"HTTP 429": 1}
    assert figures.session_p95_s > 7.0
    shown = table([figures])
    assert "make run (1 process)" in shown and "1 / 5" in shown
    assert "search: product_cards 4" in shown and "HTTP 429: 1" in shown


def test_a_run_with_no_answered_turn_reports_zeros_not_a_crash() -> None:
    figures = summarise({"ramped_at": None, "stopped_at": 10.0, "turns": []}, "2", 200)
    assert figures.turns == 0 and figures.messages_per_s == 0.0 and figures.p95_s == 0.0
