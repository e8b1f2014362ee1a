"""The separator that ships with the library, used when no model is named.

`default_model_dir()` is a model folder (`separator.json` + `checkpoints/`,
the format of `training.checkpoints`) inside the installed package, with its
model card `MODEL_CARD.md` (training data and licences, recipe, metrics).
`inference.load_model()` without a path loads it; so do `sound-separation
separate` without `--model` and `sound-separation evaluate` without
`--model`.
"""

import os

from sound_separation import run_folder

__all__ = ["DEFAULT_DIR", "MODEL_CARD", "default_litert_dir", "default_model_dir", "model_card"]

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default")
MODEL_CARD = run_folder.MODEL_CARD


def default_model_dir():
  """The shipped model's folder.

  Raises:
    FileNotFoundError: this installation has no shipped model (its files
      were left out of the package).
  """
  from sound_separation import run_folder  # pylint: disable=import-outside-toplevel
  if not os.path.isfile(run_folder.separator_file(DEFAULT_DIR)):
    raise FileNotFoundError(
        f"this installation of sound_separation has no default model ({DEFAULT_DIR} holds "
        f"no separator.json); name a model folder or SavedModel instead")
  return DEFAULT_DIR


def model_card():
  """The shipped model's card (markdown text)."""
  from sound_separation import filesystem  # pylint: disable=import-outside-toplevel
  return filesystem.read_text(os.path.join(default_model_dir(), MODEL_CARD))


def default_litert_dir():
  """The shipped model's LiteRT copy (`inference.litert`), or None if not installed."""
  folder = os.path.join(DEFAULT_DIR, "litert")
  return folder if os.path.isfile(os.path.join(folder, "litert.json")) else None
