"""A trained separator for inference, from a run's folder or an exported SavedModel.

`load_model(path)` accepts any of:

- a model folder: a training run's `model_dir` or a folder written by
  `import-tf1` (`separator.json` + `checkpoints/`), rebuilt with this
  library;
- a SavedModel written by `export_saved_model` (`saved_model.pb` +
  `assets.extra/sound_separation.json`);
- a LiteRT model folder written by `export --format=litert` (`litert.json`),
  run by LiteRT without TensorFlow (`inference.litert`);
- nothing: the model that ships with the library (`sound_separation.pretrained`),
  through LiteRT when it is installed;
- the name of a published model (`pretrained.registry`, e.g. 'yfcc100m-mixit'):
  fetched and converted into the cache the first time.

All give a separator (`sound_separation.protocol`): `separator(waveforms
[B, T]) -> [B, M, T]` float32 NumPy, `separator.separate(waveform [T])`,
`sample_rate`, `num_sources`, `description` and `fixed_length(L)`.

TensorFlow is imported only when a TensorFlow model is loaded, so the
LiteRT path runs in a process without it.
"""

import json
import os

from sound_separation import filesystem
from sound_separation import protocol
from sound_separation import run_folder
from sound_separation import pretrained

SAVED_MODEL_INFO = os.path.join("assets.extra", "sound_separation.json")
# How a model runs: "tensorflow", "litert" (LiteRT model folders, and the
# shipped model's LiteRT copy), or "auto": LiteRT for a LiteRT folder, and
# for the shipped model when LiteRT is installed; TensorFlow otherwise.
RUNTIMES = ("auto", "litert", "tensorflow")


class SavedModelSeparator(protocol.Separator):
  """An exported SavedModel (`export_saved_model`) under the separator protocol.

  `self(waveforms [B, T])` runs its any-length `serve`; `fixed_length(L)` its
  `serve_chunk` when L is the chunk length it was exported with (the
  any-length `serve` otherwise).
  """

  def __init__(self, path, loaded, info):
    self._loaded = loaded  # keeps the functions' variables alive
    self.sample_rate = int(info["sample_rate"])
    self.num_sources = int(info["num_sources"])
    self.description = path
    chunk = info.get("chunk_samples")
    self._chunk = int(chunk) if chunk is not None and hasattr(loaded, "serve_chunk") else None

  def __call__(self, waveforms):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return self._loaded.serve(tf.constant(protocol.check_waveforms(waveforms))).numpy()

  def has_fixed_length(self, length):
    return self._chunk is not None and int(length) == self._chunk

  def fixed_length(self, length):
    if not self.has_fixed_length(length):
      return self
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return lambda waveforms: self._loaded.serve_chunk(
        tf.constant(protocol.check_waveforms(waveforms, self._chunk))).numpy()


def is_saved_model(path):
  return filesystem.exists(filesystem.join(path, "saved_model.pb"))


def litert_folder(path=None, checkpoint=None, runtime="auto"):
  """The LiteRT folder `load_model(path, checkpoint, runtime)` runs, or None for TensorFlow.

  Decided from the files alone, without importing TensorFlow; raises as
  `load_model` does for a combination that cannot run.
  """
  if runtime not in RUNTIMES:
    raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
  from sound_separation.inference import litert  # pylint: disable=import-outside-toplevel
  if path is None and checkpoint is None and runtime != "tensorflow":
    shipped = pretrained.default_litert_dir()
    if shipped is not None and (runtime == "litert" or litert.available()):
      return shipped
  if path is not None and litert.is_litert_model(path):
    if runtime == "tensorflow":
      raise ValueError(f"{path} is a LiteRT model folder: it runs with runtime 'litert' or "
                       f"'auto', not 'tensorflow'")
    if checkpoint is not None:
      raise ValueError(f"checkpoint applies to a model folder, not to the LiteRT folder {path}")
    return os.fspath(path)
  if runtime == "litert":
    raise ValueError(f"{path or 'the shipped model'} has no LiteRT form (no "
                     f"{litert.INFO_FILE}); write one with 'sound-separation export "
                     f"--format=litert'")
  return None


def load_model(path=None, checkpoint=None, runtime="auto"):
  """Loads a model folder, an exported SavedModel or a LiteRT folder as a separator.

  Args:
    path: a model folder (`separator.json`), a SavedModel folder, a
      published model's name (`pretrained.registry.PUBLISHED`; fetched into
      the cache on first use), or None for the model that ships with the
      library (`pretrained.default_model_dir`).
    checkpoint: for a model folder, a checkpoint prefix to read instead of
      its latest (e.g. `runs/m8/checkpoints/best/ckpt-300000`).
    runtime: one of `RUNTIMES`.

  Returns:
    a separator (`protocol`): `serving.KerasSeparator` (a model folder),
    `SavedModelSeparator` or `litert.LiteRTSeparator`; its `description`
    says which.

  Raises:
    FileNotFoundError: `path` is none of these.
    ValueError: a runtime the model cannot run with, or a checkpoint given
      for a LiteRT folder.
    RuntimeError: runtime "litert" without LiteRT installed.
  """
  folder = litert_folder(path, checkpoint, runtime)
  if folder is not None:
    from sound_separation.inference import litert  # pylint: disable=import-outside-toplevel
    return litert.LiteRTSeparator(folder)
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel
  from sound_separation.models import serving  # pylint: disable=import-outside-toplevel
  from sound_separation.pretrained import registry  # pylint: disable=import-outside-toplevel
  path = pretrained.default_model_dir() if path is None else os.fspath(registry.resolve(path))
  if is_saved_model(path):
    if checkpoint is not None:
      raise ValueError(f"checkpoint applies to a model folder, not to the SavedModel {path}")
    return _load_saved_model(path)
  if not filesystem.exists(run_folder.separator_file(path)):
    raise FileNotFoundError(
        f"{path!r} is neither a model folder (no {run_folder.SEPARATOR_FILE}) nor a "
        f"SavedModel (no saved_model.pb)")
  separator, sample_rate, read = folders.load_keras_separator(path, checkpoint)
  return serving.KerasSeparator(separator, sample_rate, f"{path} ({read})")


def _load_saved_model(path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  info_path = filesystem.join(path, SAVED_MODEL_INFO)
  if not filesystem.exists(info_path):
    raise FileNotFoundError(f"{info_path} not found: the SavedModel was not written by "
                            f"'sound-separation export', so its sample rate is unknown")
  info = json.loads(filesystem.read_text(info_path))
  return SavedModelSeparator(path, tf.saved_model.load(path), info)
