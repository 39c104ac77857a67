"""What live traffic is compared with: a model's held-out confidences and the training intent mix.

`python -m ops.monitor_baseline --model models/x.tar.gz` parses tests/data/heldout_nlu.yml in-process
with that model (nlu.tools.evaluate.parse_all, as /model/parse does) and writes `x.monitor.json` next
to the archive: the held-out intent confidences and the intent counts of the training data. Once per
model: the dashboard reads the file of the live model (or SHOPCUE_MONITOR_BASELINE).

The training intent counts come from data/nlu through Rasa's loader (tens of seconds), cached on disk
under artifacts/monitor/ by a digest of the files, so a dashboard without a baseline file pays it once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HELDOUT = PROJECT_ROOT / "tests" / "data" / "heldout_nlu.yml"
DEFAULT_DATA = PROJECT_ROOT / "data"
CACHE_DIR = PROJECT_ROOT / "artifacts" / "monitor"  # ignored by git
BASELINE_ENV = "SHOPCUE_MONITOR_BASELINE"
SUFFIX = ".monitor.json"


def baseline_path(model: Path) -> Path:
    """Where the baseline of a model archive lives: beside it, `<name>.monitor.json`."""
    name = model.name.removesuffix(".tar.gz")
    return model.with_name(name + SUFFIX)


def nlu_files(data_dir: Path) -> List[Path]:
    return sorted(p for p in (data_dir / "nlu").rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def data_digest(data_dir: Path) -> str:
    """SHA-256 over the NLU files' paths and contents: the cache key of the training intent counts."""
    digest = hashlib.sha256()
    for path in nlu_files(data_dir):
        digest.update(str(path.relative_to(data_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def training_intent_counts(data_dir: Path = DEFAULT_DATA, cache_dir: Optional[Path] = CACHE_DIR
                           ) -> Dict[str, int]:
    """Examples per intent in data/nlu, read by Rasa's loader the way training reads it (cached)."""
    key = data_digest(data_dir)
    cache = cache_dir / f"training-intents-{key[:16]}.json" if cache_dir else None
    if cache is not None and cache.is_file():
        return {str(k): int(v) for k, v in json.loads(cache.read_text()).items()}
    from rasa.shared.nlu.training_data.loading import load_data

    counts = Counter(str(m.get("intent")) for m in load_data(str(data_dir / "nlu")).intent_examples
                     if m.get("intent"))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(dict(counts.most_common()), indent=1))
    return dict(counts)


def heldout_texts(heldout: Path) -> List[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [m.get("text") for m in load_data(str(heldout)).intent_examples if m.get("text")]


def build_baseline(model: Path, heldout: Path = DEFAULT_HELDOUT, data_dir: Path = DEFAULT_DATA
                   ) -> Dict[str, Any]:
    """Parse the held-out split with the model; its confidences and the training intent counts."""
    from nlu.tools.evaluate import parse_all

    texts = heldout_texts(heldout)
    parsed = parse_all(str(model), texts)
    return {
        "model": str(model),
        "heldout": str(heldout),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "heldout_confidences": [round(p.intent_confidence, 6) for p in parsed],
        "heldout_intents": dict(Counter(str(p.intent) for p in parsed)),
        "training_intents": training_intent_counts(data_dir),
    }


def load_baseline(path: Optional[Path]) -> Optional[Dict[str, Any]]:
    """A stored baseline, or None when there is none (or it cannot be read: logged)."""
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        logger.warning("ops.baseline unreadable path=%s error=%s", path, type(error).__name__)
        return None
    return data if isinstance(data, dict) else None


def current_baseline_path(engine: Any = None) -> Optional[Path]:
    """The baseline the dashboard uses: SHOPCUE_MONITOR_BASELINE, else the registry's live model's."""
    configured = os.environ.get(BASELINE_ENV, "").strip()
    if configured:
        return Path(configured)
    from learning.registry import live_archive

    try:
        archive = live_archive(engine)
    except Exception as error:  # no registry table yet, or no database: no baseline
        logger.debug("ops.baseline no live model: %s", error)
        return None
    return baseline_path(archive) if archive else None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.monitor_baseline",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model archive (.tar.gz)")
    parser.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, help="default: beside the model, <name>.monitor.json")
    args = parser.parse_args(argv)
    baseline = build_baseline(args.model, args.heldout, args.data)
    out = args.out or baseline_path(args.model)
    out.write_text(json.dumps(baseline, indent=1))
    confidences = baseline["heldout_confidences"]
    print(f"{out}: {len(confidences)} held-out messages, mean confidence "
          f"{sum(confidences) / max(len(confidences), 1):.3f}, "
          f"{sum(baseline['training_intents'].values())} training examples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
