"""Every path of a model folder and a run folder, named once (docs/formats.md#model-folders).

A **model folder** (a training run's `model_dir`, what `import-tf1` writes,
the shipped model) holds:

- `separator.json` (or `classifier.json` for a classifier run): the model's
  Keras config and sample rate (`models.folders` reads and writes them);
- `checkpoints/`: `ckpt-<step>` checkpoints; `checkpoints/kept/` the ones
  retention must not delete; `checkpoints/best/` the best by evaluation,
  with `best.json` saying which and why; `checkpoints/averaged/` (runs whose
  optimizer keeps a moving average of the weights) the averaged separator
  at each checkpoint's step.

A **training run's folder** adds `config.gin` (the configuration it started
with; `config-resumed-at-<step>.gin` when a resume changed it),
`summaries/` (TensorBoard), `eval/<list>_<task>/` (evaluations),
`progress.jsonl` (its progress events, `training.progress`), `LOCK` (the
process training it, `training.locks`) and, for a classifier run,
`validation_tagging.json`. A **study's run folder** adds `train.log`,
`train_time.json` and `selection/step-<N>.json` (its checkpoints' cached
selection scores).

An **adaptation's folder** (`sound-separation adapt`) holds `adapt.json`
(the request), `data/`, `train/` (a training run's folder), `model/` (the
adapted model folder), `listen/` and `report.json`; wherever a model folder
is asked for, an adaptation's folder stands for its `model/`
(`model_folder`).

Nothing else in the package spells these names. Writes go through
`filesystem`, whole files renamed into place (`write_json`).
"""

import json
import os

from sound_separation import filesystem

SEPARATOR_FILE = "separator.json"
CLASSIFIER_FILE = "classifier.json"
CHECKPOINTS = "checkpoints"
KEPT = "kept"
AVERAGED = "averaged"
BEST = "best"
BEST_RECORD = "best.json"
CONFIG_FILE = "config.gin"
SUMMARIES = "summaries"
EVALUATIONS = "eval"
PROGRESS_FILE = "progress.jsonl"
LOCK_FILE = "LOCK"
TAGGING_FILE = "validation_tagging.json"
# A model folder's card: what it is, was trained on, and scores (pretrained, adapt).
MODEL_CARD = "MODEL_CARD.md"
TRAIN_LOG = "train.log"
TRAIN_TIME_FILE = "train_time.json"
SELECTION = "selection"
ADAPTATION_FILE = "adapt.json"
MODEL_SUBFOLDER = "model"


def _join(folder, *names):
  return filesystem.join(os.fspath(folder), *names)


def separator_file(model_dir):
  return _join(model_dir, SEPARATOR_FILE)


def classifier_file(model_dir):
  return _join(model_dir, CLASSIFIER_FILE)


def checkpoints(model_dir):
  """`<model_dir>/checkpoints`."""
  return _join(model_dir, CHECKPOINTS)


def kept(checkpoint_dir):
  """The kept checkpoints' folder of a checkpoint folder."""
  return _join(checkpoint_dir, KEPT)


def averaged(checkpoint_dir):
  """The averaged separators' folder of a checkpoint folder."""
  return _join(checkpoint_dir, AVERAGED)


def best(checkpoint_dir):
  """The best checkpoint's folder of a checkpoint folder."""
  return _join(checkpoint_dir, BEST)


def best_record(best_dir):
  """`best.json` in a best checkpoint's folder."""
  return _join(best_dir, BEST_RECORD)


def config_file(model_dir, resumed_at=None):
  """`config.gin`, or `config-resumed-at-<step>.gin` for a resume's changed configuration."""
  return _join(model_dir, CONFIG_FILE if resumed_at is None
               else f"config-resumed-at-{int(resumed_at)}.gin")


def summaries(model_dir):
  return _join(model_dir, SUMMARIES)


def evaluation(model_dir, name):
  """`<model_dir>/eval/<name>`: one evaluation's outputs."""
  return _join(model_dir, EVALUATIONS, name)


def progress_file(model_dir):
  return _join(model_dir, PROGRESS_FILE)


def lock_file(model_dir):
  return _join(model_dir, LOCK_FILE)


def tagging_file(model_dir):
  return _join(model_dir, TAGGING_FILE)


def train_log(run_dir):
  return _join(run_dir, TRAIN_LOG)


def train_time_file(run_dir):
  return _join(run_dir, TRAIN_TIME_FILE)


def selection_cache(run_dir, step, averaged=False):
  """A study run's cached selection scores of checkpoint `step` (or of its averaged weights)."""
  return _join(run_dir, SELECTION, f"step-{int(step)}{'-averaged' if averaged else ''}.json")


def model_subfolder(job_dir):
  """The model folder a job writes inside its output folder (`adapt`, `demo`)."""
  return _join(job_dir, MODEL_SUBFOLDER)


def model_folder(path):
  """`path`, or the adapted model folder when `path` is an adaptation's folder that has one."""
  if path is None or filesystem.exists(separator_file(path)):
    return path
  if filesystem.exists(_join(path, ADAPTATION_FILE)) and filesystem.exists(
      separator_file(model_subfolder(path))):
    return model_subfolder(path)
  return path


def write_json(path, value, sort_keys=True):
  """Writes `value` as JSON (indent 1, a final newline) through a renamed temporary file."""
  filesystem.makedirs(filesystem.dirname(path))
  filesystem.write_text(path, json.dumps(value, indent=1, sort_keys=sort_keys) + "\n")


def read_json(path):
  return json.loads(filesystem.read_text(path))
