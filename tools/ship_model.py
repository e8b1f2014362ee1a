#!/usr/bin/env python
"""Puts a study's model into the package as the default model, with its card.

Copies the separator of one finished study run (its selected checkpoint)
into `sound_separation/pretrained/default/` (a model folder: separator
weights only, no optimizer) and writes `MODEL_CARD.md` from the run's result
JSON: training data and the licences of the Debian packages it draws from,
the recipe, how it was selected, its metrics.

Usage:
  python tools/ship_model.py --results results/waspaa2021_small \
      [--run m4/l1_l2_w10] [--runs_dir STUDY_RUNS] [--corpus DEV]

`--run` defaults to the report's choice (`results.json`: "shipped"). A
baseline's separator is read from `<results>/baselines/m<M>/`; a fine-tune's
from `<runs_dir>/<run>/checkpoints/kept/ckpt-<step>`. `--corpus` counts the
source files per package in the training clips for the card.
"""

import argparse
import collections
import csv
import json
import os
import shutil


# The development corpus's packages and their licences, as its README lists
# them (from each package's copyright file).
LICENCES = {
    "asterisk-core-sounds-en-g722": "CC-BY-SA-3.0",
    "asterisk-core-sounds-es-g722": "CC-BY-SA-3.0",
    "asterisk-core-sounds-fr-g722": "CC-BY-SA-3.0",
    "fillets-ng-data-cs": "GPL-2",
    "tuxpaint-stamps-default": "GPL-2",
    "klettres-data": "GPL-2+",
    "hedgewars-data": "GPL-2; Data/Sounds GFDL-1.3; Droplet*.ogg CC-BY-SA-3.0",
    "sonic-pi-samples": "130 files CC0, the rest MIT / CC-BY-SA-4.0",
    "lincity-ng-data": "GPL-2+",
    "scorched3d-data": "GPL-2+; apoc mod CC-BY-SA-3",
    "btanks-data": "GPL-2 with the Battle Tanks exception; LGPL-2.1+ parts",
}


def _fmt(value):
  return "–" if value is None else f"{value:.2f}"


def _origins(corpus):
  """Source files per package in the training clips' labels (or {})."""
  counts = collections.Counter()
  path = os.path.join(corpus, "wild", "train_labels.tsv") if corpus else None
  if path and os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      for row in csv.DictReader(f, delimiter="\t"):
        for origin in row["origin"].split("|"):
          if origin:
            counts[origin.split("/")[0]] += 1
  return counts


def model_card(result, study_name, origins, shipped_as):
  run = result["run"]
  test = result["test"]
  fuss = test["fuss"]
  sel = result["selected"]["selection"]
  rows = [f"| {pkg} | {LICENCES.get(pkg, 'see its copyright file')} | "
          f"{origins.get(pkg, '–')} |" for pkg in sorted(LICENCES)]
  per_count = "\n".join(
      f"| {n} | {g['count']} | {_fmt(g['MSi'])} | {_fmt(g['1S'])} |"
      for n, g in sorted(fuss["per_source_count"].items()))
  total = fuss["num_examples"]
  return f"""# Model card: the default separator of `sound_separation`

`sound_separation.inference.load_model()` (no path), `sound-separation separate`
without `--model` and `sound-separation evaluate` without `--model_dir` use it.

- **What it is**: run `{run['name']}` of the study "{study_name}"
  (`results/waspaa2021_small/`): the paper's TDCN++ separator narrowed to the
  demo size (`gin/models/demo.gin`), M = {run['num_sources']} outputs, 16 kHz, mixture
  consistency (the outputs sum to the input); {shipped_as}.
- **Training**: unsupervised, MixIT on mixtures of mixtures of 720 in-the-wild
  10 s clips (random 4 s crops, 8 clips a step, Adam at 1e-3,
  `gin/studies/small_recipe.gin`); loss arm `{run['arm']}`, weight {run['weight']:g};
  {run['num_steps']} steps{'' if run['init_from'] is None else f" fine-tuned from `{run['init_from']}`"};
  checkpoint {result['selected']['step']} selected by TRF within 1 dB of the
  reference MSi on a held-out selection list (docs/study.md).
- **Intended use**: a small general-purpose sound separator to try the
  library on real audio at once. It is far weaker than the paper's models
  (9M parameters trained for days on 1,600 h): expect coarse separations.
  It does not separate speakers.

## Training data

The project's development corpus (its in-the-wild training clips, built by
the team's recipe from Debian packages): clips mixed from game sound
effects and music, voice-acted dialogue, telephony prompts and spoken words
of these Debian 12 packages (train split by file hash; no test file is used).
Derived audio requires attribution and share-alike under the packages'
licences.

| package | licence (from its copyright file) | source files in the training clips |
|---|---|---|
{chr(10).join(rows)}

## Metrics (dB; test: {total} FUSS-style mixtures of the corpus's validation split)

| | MSi | 1S | TRF | MoMi | two-speaker MSi |
|---|---|---|---|---|---|
| selection list (100) | {_fmt(sel['MSi'])} | {_fmt(sel['1S'])} | {_fmt(sel['TRF'])} | – | – |
| test | {_fmt(fuss['MSi'])} | {_fmt(fuss['1S'])} | {_fmt(fuss['TRF'])} | {_fmt(test.get('mom', {}).get('MoMi'))} | {_fmt(test.get('speech', {}).get('MSi'))} |

| sources | test mixtures | MSi | 1S |
|---|---|---|---|
{per_count}

Active outputs vs active references on the test mixtures: under-separated
{fuss['under_separation']}, equal {fuss['equal_separation']}, over-separated {fuss['over_separation']} of {total}.
"""


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--results", required=True)
  parser.add_argument("--run", default=None)
  parser.add_argument("--runs_dir", default=None)
  parser.add_argument("--corpus", default=None)
  parser.add_argument("--note", default="the study's pick by its selection rule",
                      help="how the card describes the choice of this run")
  args = parser.parse_args(argv)
  from sound_separation import pretrained  # pylint: disable=import-outside-toplevel
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel

  report = {}
  if os.path.exists(os.path.join(args.results, "results.json")):
    with open(os.path.join(args.results, "results.json"), encoding="utf-8") as f:
      report = json.load(f)
  name = args.run or report.get("shipped")
  if not name:
    raise SystemExit("no --run given and results.json names no shipped run")
  with open(os.path.join(args.results, "runs", name + ".json"), encoding="utf-8") as f:
    result = json.load(f)
  run = result["run"]
  if run["init_from"] is None:
    source, checkpoint = os.path.join(args.results, "baselines", f"m{run['num_sources']}"), None
    config_dir = source
  else:
    if not args.runs_dir:
      raise SystemExit(f"{name} is a fine-tune: give --runs_dir (the study's --out_dir)")
    config_dir = os.path.join(args.runs_dir, name)
    checkpoint = os.path.join(config_dir, "checkpoints", "kept",
                              f"ckpt-{result['selected']['step']}")
  separator, sample_rate, read = folders.load_keras_separator(config_dir, checkpoint)
  target = pretrained.DEFAULT_DIR
  shutil.rmtree(target, ignore_errors=True)
  folders.save_separator(separator, target, sample_rate, step=result["selected"]["step"])
  card = model_card(result, report.get("study", "WASPAA 2021, small scale"),
                    _origins(args.corpus), args.note)
  with open(os.path.join(target, pretrained.MODEL_CARD), "w", encoding="utf-8") as f:
    f.write(card)
  size = sum(os.path.getsize(os.path.join(root, n)) for root, _, names in os.walk(target)
             for n in names)
  print(f"Shipped {name} ({read}) to {target}: {size / 1e6:.2f} MB")


if __name__ == "__main__":
  main()
