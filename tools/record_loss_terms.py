"""Records the loss terms every Table 1 gin file gives on one fixed batch.

For each gin file of `gin/papers/waspaa2021/` (and `gin/demo.gin`), with the
tiny model's sizes (`models/tiny.gin`, keeping the file's number of
outputs), a tiny pretrained classifier for the files with classification
losses, and seeded weights, the trainer the file configures computes its
loss terms on a fixed batch (of the parts the file's data has: MoMs of
single mixtures, supervised examples, weak labels), takes one optimizer
step on it, and computes them again. The terms are written as JSON:

  {"<file>": {"before": {term: value}, "step": {metric: value},
              "after": {term: value}}}

`tests/data/table1_loss_terms.json` holds these numbers as the trainer
with flag arguments gave them, before the loss terms became objects;
`tests/test_loss_terms.py` runs this tool and compares, so a refactor of
how the losses are configured cannot change what the files compute.

Usage: python tools/record_loss_terms.py OUT.json
"""

import argparse
import json
import pathlib
import sys
import tempfile

import gin
import keras
import numpy as np

from sound_separation import gin_utils
from sound_separation import models
from sound_separation.models import folders
from sound_separation.training import trainer as trainer_lib

GIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "gin"
RATE = 16000
SAMPLES = 1600
BATCH = 4
CLASSES = 2
DATASET = "sound_separation.training_dataset"


def files():
  """The gin files recorded, as names relative to `gin/`."""
  names = sorted(str(p.relative_to(GIN_DIR))
                 for p in (GIN_DIR / "papers" / "waspaa2021").glob("*.gin"))
  return names + ["demo.gin"]


def _tiny_classifier(folder):
  """A 2-class tiny classifier folder with seeded weights (what `load_classifier` reads)."""
  keras.utils.set_random_seed(1)
  classifier = models.SoundClassifier(num_classes=CLASSES, num_filters=8, widths=(4, 8),
                                      blocks_per_stage=1)
  classifier.build((None, None))
  folders.save_classifier(classifier, folder, RATE, ["a", "b"])
  return folder


def _batch(num_sources, unsupervised, supervised, labelled):
  rng = np.random.default_rng(0)
  batch = {}
  if unsupervised:
    batch["mixtures"] = (0.1 * rng.standard_normal([BATCH, SAMPLES])).astype(np.float32)
    if labelled:
      batch["labels"] = np.array([[1, 0], [0, 1], [1, 1], [0, 1]], np.float32)
  if supervised:
    count = min(num_sources, 4)
    sources = (0.1 * rng.standard_normal([BATCH // 2, count, SAMPLES])).astype(np.float32)
    sources[:, -1] = 0.0  # a silent reference, as FUSS pads with
    batch["supervised_sources"] = sources
    batch["supervised_mixtures"] = sources.sum(1)
  return batch


def _floats(terms):
  return {k: float(np.asarray(v)) for k, v in sorted(terms.items())}


def record(name, classifier_dir):
  """`{'before', 'step', 'after'}` loss terms of one gin file (module docstring)."""
  gin.clear_config()
  try:
    gin_utils.parse_gin([str(GIN_DIR / name)])
    num_sources = (gin.query_parameter("sound_separation.SeparationModel.num_sources")
                   if gin_utils.is_bound("sound_separation.SeparationModel.num_sources") else 4)
    unsupervised = gin_utils.is_bound(f"{DATASET}.unsupervised_list")
    supervised = gin_utils.is_bound(f"{DATASET}.supervised_list")
    labelled = gin_utils.is_bound("sound_separation.load_classifier.model_dir")
    gin_utils.parse_gin([str(GIN_DIR / name), str(GIN_DIR / "models" / "tiny.gin")],
                        [f"sound_separation.load_classifier.model_dir = '{classifier_dir}'"]
                        if labelled else [])
    keras.utils.set_random_seed(0)
    trainer = trainer_lib.MixITTrainer()
    trainer.compile()
    batch = _batch(num_sources, unsupervised, supervised, labelled)
    before = _floats(trainer.compute_losses(batch, training=False))
    step = _floats(trainer.train_on_batch(batch, return_dict=True))
    after = _floats(trainer.compute_losses(batch, training=False))
  finally:
    gin.clear_config()
  return {"before": before, "step": step, "after": after}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("out", help="the JSON file to write")
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as scratch:
    classifier_dir = _tiny_classifier(str(pathlib.Path(scratch) / "classifier"))
    results = {}
    for name in files():
      results[name] = record(name, classifier_dir)
      print(name, {k: round(v, 5) for k, v in results[name]["after"].items()}, flush=True)
  pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
