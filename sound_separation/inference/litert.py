"""Separation with LiteRT (TensorFlow Lite's runtime), in a process without TensorFlow.

Importing TensorFlow alone takes about 0.53 GB of resident memory; a process
with LiteRT (`pip install 'sound-separation[litert]'`, the `ai-edge-litert`
package) and the shipped model's chunk program peaks under 0.1 GB
(`tools/bench_memory_stages.py`, docs/benchmarks.md#long-recordings). This module imports
neither TensorFlow nor Keras.

A LiteRT model folder (`sound-separation export --format=litert`,
docs/formats.md#litert-model-folders) holds:

- `litert.json`: `format`, `version`, `sample_rate` (Hz), `num_sources` (M),
  `chunk_samples`, and where it was exported from (`model_dir`,
  `checkpoint`);
- `chunk.tflite`: the separator for float32 `[1, chunk_samples]` inputs,
  every shape static (what `separate` runs on full chunks);
- `any_length.tflite`: the same for `[1, T]`, any T (inputs shorter than a
  chunk). Its tensors are sized at each new length, so it needs more
  memory per second of input than the chunk program.

Both programs hold the weights as constants, and compute what the model
folder's separator computes up to float rounding (`tests/test_litert.py`).
"""

import json
import os

import numpy as np

from sound_separation import filesystem
from sound_separation import protocol
from sound_separation import quiet

INFO_FILE = "litert.json"
CHUNK_FILE = "chunk.tflite"
ANY_LENGTH_FILE = "any_length.tflite"
FORMAT = "sound_separation LiteRT model"
VERSION = 1
INSTALL_HINT = "pip install 'sound-separation[litert]' (the ai-edge-litert package)"


def available():
  """True if LiteRT's interpreter imports here."""
  try:
    from ai_edge_litert import interpreter  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    return False
  return True


def is_litert_model(path):
  """True if `path` is a LiteRT model folder (has `litert.json`)."""
  return path is not None and filesystem.exists(filesystem.join(os.fspath(path), INFO_FILE))


def read_info(path):
  """The folder's `litert.json`, checked; ValueError naming the file if malformed."""
  info_path = filesystem.join(os.fspath(path), INFO_FILE)
  try:
    info = json.loads(filesystem.read_text(info_path))
  except ValueError as e:
    raise ValueError(f"{info_path} is not valid JSON: {e}") from e
  if not isinstance(info, dict) or info.get("format") != FORMAT:
    raise ValueError(f"{info_path} does not describe a LiteRT model folder (its 'format' is "
                     f"not {FORMAT!r})")
  if info.get("version") != VERSION:
    raise ValueError(f"{info_path} has version {info.get('version')!r}; this library reads "
                     f"version {VERSION}")
  for key in ("sample_rate", "num_sources", "chunk_samples"):
    if not isinstance(info.get(key), int) or info[key] < 1:
      raise ValueError(f"{info_path}: {key!r} must be a positive integer, got "
                       f"{info.get(key)!r}")
  return info


# LiteRT's C++ notice on creating its CPU delegate, written straight to file
# descriptor 2 on every new interpreter; it says nothing a user can act on.
_DELEGATE_NOTICE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def _without_delegate_notice(create):
  """`create()`, less `_DELEGATE_NOTICE` on descriptor 2 (`quiet.filtered`)."""
  return quiet.filtered(create, lambda lines: [line for line in lines
                                               if line.strip() != _DELEGATE_NOTICE])


class _Program:
  """One `.tflite` file's interpreter: `[1, T]` float32 in, `[1, M, T]` out."""

  def __init__(self, path, num_threads):
    from ai_edge_litert import interpreter  # pylint: disable=import-outside-toplevel
    self.path = path
    content = filesystem.read_bytes(path)
    self._interpreter = _without_delegate_notice(
        lambda: interpreter.Interpreter(model_content=content, num_threads=num_threads))
    self._input = self._interpreter.get_input_details()[0]["index"]
    self._output = self._interpreter.get_output_details()[0]["index"]
    self._length = None

  def __call__(self, row):
    if row.shape[0] != self._length:
      self._interpreter.resize_tensor_input(self._input, [1, row.shape[0]], strict=False)
      _without_delegate_notice(self._interpreter.allocate_tensors)
      self._length = row.shape[0]
    self._interpreter.set_tensor(self._input, row[np.newaxis])
    self._interpreter.invoke()
    return self._interpreter.get_tensor(self._output)[0]


class LiteRTSeparator(protocol.Separator):
  """A LiteRT model folder as a separator: `[B, T]` float32 -> `[B, M, T]` float32.

  The separator protocol (`sound_separation.protocol`): calling it runs the
  any-length program; `fixed_length(chunk_samples)` the static chunk
  program. The batch's rows run one at a time (the programs take batch 1).

  Args:
    path: a LiteRT model folder.
    num_threads: LiteRT's threads (None: as many as the machine has cores).

  Raises:
    RuntimeError: LiteRT is not installed (naming the package to install).
    FileNotFoundError, ValueError: a missing or malformed file of the folder.
  """

  # `fixed_length` costs no compilation: `separate` uses it from the first chunk.
  compiles_fixed_length = False

  def __init__(self, path, num_threads=None):
    if not available():
      raise RuntimeError(f"{path} is a LiteRT model folder, and LiteRT is not installed: "
                         f"{INSTALL_HINT}")
    self.path = os.fspath(path)
    info = read_info(self.path)
    for name in (CHUNK_FILE, ANY_LENGTH_FILE):
      if not filesystem.exists(filesystem.join(self.path, name)):
        raise FileNotFoundError(f"{filesystem.join(self.path, name)} not found: the LiteRT "
                                f"model folder is incomplete")
    self.sample_rate = info["sample_rate"]
    self.num_sources = info["num_sources"]
    self.chunk_samples = info["chunk_samples"]
    self.description = f"{self.path} (LiteRT; exported from {info.get('checkpoint')})"
    threads = os.cpu_count() if num_threads is None else int(num_threads)
    self._threads = threads
    self._chunk = None
    self._any_length = None

  def __call__(self, waveforms):
    if self._any_length is None:
      self._any_length = _Program(filesystem.join(self.path, ANY_LENGTH_FILE), self._threads)
    return self._rows(self._any_length, protocol.check_waveforms(waveforms))

  def has_fixed_length(self, length):
    return int(length) == self.chunk_samples

  def fixed_length(self, length):
    """The chunk program for `[B, chunk_samples]` (the any-length one for other lengths)."""
    if not self.has_fixed_length(length):
      return self
    if self._chunk is None:
      self._chunk = _Program(filesystem.join(self.path, CHUNK_FILE), self._threads)
    return lambda waveforms: self._rows(
        self._chunk, protocol.check_waveforms(waveforms, self.chunk_samples))

  def _rows(self, program, waveforms):
    out = np.empty((waveforms.shape[0], self.num_sources, waveforms.shape[1]), np.float32)
    for i, row in enumerate(waveforms):
      out[i] = program(np.ascontiguousarray(row))
    return out

