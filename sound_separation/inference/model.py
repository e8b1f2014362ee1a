"""A trained separator for inference, from a run's folder or an exported SavedModel.

`load_model(path)` accepts either:

- a model folder: a training run's `model_dir` or a folder written by
  `import-tf1` (`separator.json` + `checkpoints/`), rebuilt with this
  library;
- a SavedModel written by `export_saved_model` (`saved_model.pb` +
  `assets.extra/sound_separation.json`);
- nothing: the model that ships with the library (`sound_separation.pretrained`).

Both give a `Separator`: `separator(waveforms [B, T]) -> [B, M, T]` float32
NumPy, with `sample_rate` and `num_sources`.
"""

import json
import os

import numpy as np
import tensorflow as tf

from sound_separation import pretrained
from sound_separation.layers import fused_block
from sound_separation.training import checkpoints

SAVED_MODEL_INFO = os.path.join("assets.extra", "sound_separation.json")


class Separator:
  """Callable `[B, T]` float32 -> `[B, M, T]` float32, at `sample_rate` Hz.

  Attributes:
    sample_rate: the rate the model was trained at, Hz.
    num_sources: M.
    description: where it came from (folder and checkpoint), for reports.
  """

  def __init__(self, function, sample_rate, num_sources, description):
    self._function = function
    self.sample_rate = int(sample_rate)
    self.num_sources = int(num_sources)
    self.description = description

  def __call__(self, waveforms):
    waveforms = np.asarray(waveforms, np.float32)
    if waveforms.ndim != 2 or waveforms.shape[1] == 0:
      raise ValueError(f"waveforms must be [batch, samples] with samples >= 1, got shape "
                       f"{waveforms.shape}")
    return np.asarray(self._function(tf.constant(waveforms)), np.float32)


def serving_function(separator):
  """A `tf.function` of the Keras separator for inputs `[None, None]`.

  Traced once with the TDCN++ blocks as plain ops (`fused_block.xla_middles`):
  with XLA, every new input length would compile new programs.
  """
  function = tf.function(lambda waveforms: separator(waveforms, training=False),
                         input_signature=[tf.TensorSpec([None, None], tf.float32)])
  with fused_block.xla_middles(False):
    return function.get_concrete_function()


def is_saved_model(path):
  return tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))


def load_model(path=None, checkpoint=None):
  """Loads a model folder or an exported SavedModel as a `Separator`.

  Args:
    path: a model folder (`separator.json`) or a SavedModel folder; None for
      the model that ships with the library (`pretrained.default_model_dir`).
    checkpoint: for a model folder, a checkpoint prefix to read instead of
      its latest (e.g. `runs/m8/checkpoints/best/ckpt-300000`).

  Raises:
    FileNotFoundError: `path` is neither.
  """
  path = pretrained.default_model_dir() if path is None else os.fspath(path)
  if is_saved_model(path):
    if checkpoint is not None:
      raise ValueError(f"checkpoint applies to a model folder, not to the SavedModel {path}")
    return _load_saved_model(path)
  if not tf.io.gfile.exists(os.path.join(path, checkpoints.SEPARATOR_FILE)):
    raise FileNotFoundError(
        f"{path!r} is neither a model folder (no {checkpoints.SEPARATOR_FILE}) nor a "
        f"SavedModel (no saved_model.pb)")
  separator, sample_rate, read = checkpoints.load_separator(path, checkpoint)
  return Separator(serving_function(separator), sample_rate, separator.num_sources,
                   f"{path} ({read})")


def _load_saved_model(path):
  info_path = os.path.join(path, SAVED_MODEL_INFO)
  if not tf.io.gfile.exists(info_path):
    raise FileNotFoundError(f"{info_path} not found: the SavedModel was not written by "
                            f"'sound-separation export', so its sample rate is unknown")
  with tf.io.gfile.GFile(info_path) as f:
    info = json.load(f)
  loaded = tf.saved_model.load(path)
  # The closure keeps `loaded` (and so its variables) alive with the function.
  return Separator(lambda waveforms: loaded.serve(waveforms), info["sample_rate"], info["num_sources"], path)
