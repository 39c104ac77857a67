"""Fit the joint model's temperatures for an existing archive on a dev file, into a new archive.

    python -m nlu.tools.calibrate --model models/joint.tar.gz --dev DEV.yml --out models/calibrated.tar.gz \\
        --test tests/data/heldout_nlu.yml

For a model trained before calibration existed, or with `calibration_fraction: 0`: the same temperature fit
`rasa train` runs on its held-out slice (nlu/calibration.py), here on the NLU examples of `--dev`, which must
be examples the model did not train on and not the test split it is judged on. The new archive is the old
one with only the component's `joint_config.json` changed. `--test` prints the ECE before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, Optional, Sequence

from nlu.calibration import MIN_CALIBRATION_EXAMPLES, fit_temperatures
from nlu.modeling_joint import CONFIG_FILE_NAME
from nlu.tools.evaluate import calibration_lines, calibration_scores, load_joint_component, load_rasa_set

logger = logging.getLogger(__name__)


def write_with_temperatures(archive: Path, temperatures: Dict[str, float], out: Path) -> None:
    """A copy of `archive` whose joint model has these temperatures, every other file byte for byte."""
    with tarfile.open(archive, "r:gz") as source:
        members = source.getmembers()
        configs = [m for m in members if m.name.endswith(f"/{CONFIG_FILE_NAME}") and "components/" in m.name]
        if len(configs) != 1:
            raise ValueError(f"{archive} holds {len(configs)} joint model configs; expected one")
        with tarfile.open(out, "w:gz") as target:
            for member in members:
                content = source.extractfile(member) if member.isfile() else None
                if member is configs[0] and content is not None:
                    config = json.loads(content.read().decode("utf-8"))
                    config["temperatures"] = temperatures
                    data = json.dumps(config, indent=2).encode("utf-8")
                    member.size = len(data)
                    content = io.BytesIO(data)
                target.addfile(member, content)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m nlu.tools.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the trained archive")
    parser.add_argument("--dev", type=Path, required=True, help="Rasa NLU YAML the model did not train on")
    parser.add_argument("--out", type=Path, required=True, help="where the calibrated archive is written")
    parser.add_argument("--test", type=Path, action="append", default=[], help="report ECE on (repeatable)")
    args = parser.parse_args(argv)
    for path in (args.model, args.dev, *args.test):
        if not path.is_file():
            parser.error(f"no such file: {path}")
    if args.out.resolve() == args.model.resolve():
        parser.error("--out must differ from --model (the original archive is kept)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rasa.shared.exceptions import RasaException
    from rasa.shared.nlu.training_data.loading import load_data

    from nlu.component import training_examples
    from nlu.pipeline_config import attribute_schema

    with tempfile.TemporaryDirectory() as directory:
        try:
            component = load_joint_component(str(args.model), Path(directory))
        except (ValueError, OSError, tarfile.TarError) as error:
            parser.error(f"cannot read the joint model of {args.model}: {error}")
        if component.model is None or component.encoder is None:
            parser.error(f"{args.model}'s JointShoppingNLU holds no trained model")
        schema = attribute_schema(component.component_config)
        try:
            examples = training_examples(load_data(str(args.dev)).intent_examples, schema)
        except RasaException as error:
            parser.error(f"{args.dev} is not Rasa NLU data: {error}")
        if len(examples) < MIN_CALIBRATION_EXAMPLES:
            parser.error(f"{args.dev}: {len(examples)} examples, fewer than {MIN_CALIBRATION_EXAMPLES}")
        previous = dict(component.model.config.temperatures)
        component.model.config.temperatures = {}
        temperatures = fit_temperatures(component.model, component.encoder, examples)
        logger.info(f"temperatures on {len(examples)} examples: {temperatures} (were {previous or 'none'})")
        write_with_temperatures(args.model, temperatures, args.out)
        component.model.config.temperatures = temperatures
        for path in args.test:
            eval_set = load_rasa_set(path, schema)
            print(f"## {eval_set.name}")
            print("\n".join(calibration_lines("joint", calibration_scores(component, eval_set))))
    print(f"wrote {args.out}")
    return temperatures


if __name__ == "__main__":
    main()
