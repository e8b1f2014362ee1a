"""The separator protocol: what every separator offers, whatever runs it (docs/architecture.md).

A separator is an object with

- `sample_rate`: the rate it separates at, Hz (int);
- `num_sources`: M, its number of outputs (int);
- `description`: where it came from, for reports (str);
- `separator(waveforms)`: float32 `[B, T]` -> float32 NumPy `[B, M, T]`,
  any B and T;
- `separator.separate(waveform)`: one waveform `[T]` -> `[M, T]`;
- `separator.has_fixed_length(L)` / `separator.fixed_length(L)`: a faster
  function for `[B, L]` inputs where the runtime has one (XLA-compiled
  TDCN++ middles, a SavedModel's `serve_chunk`, LiteRT's static chunk
  program); `compiles_fixed_length` says whether the first call of it
  compiles (so that a short job can avoid paying for it);
- optionally `separator.stream(read, num_samples)`: the outputs as a stream
  of final blocks `(start, [M, n])` for an input read by
  `read(start, stop) -> [n]` (chunked separation,
  `inference.chunked.ChunkedSeparation`), which the evaluator uses to score
  an example of any length in bounded memory.

Implementations: `models.serving.KerasSeparator` (a Keras separator, and
`training.child_runs.CheckpointSeparator` for a run's checkpoints),
`inference.separator.SavedModelSeparator`, `inference.litert.LiteRTSeparator`
and `inference.chunked.ChunkedSeparation` (any of them, chunked). The
evaluator, the training callback, the study and the benchmarks take any of
them; a plain function `[T] -> [M, T]` becomes one with `as_separator`.

This module imports neither TensorFlow nor Keras (LiteRT runs without them).
"""

import numpy as np


def check_waveforms(waveforms, length=None):
  """`waveforms` as float32 `[B, T]` NumPy (`T = length` if given); ValueError otherwise."""
  waveforms = np.asarray(waveforms, np.float32)
  if waveforms.ndim != 2 or waveforms.shape[1] == 0:
    raise ValueError(f"waveforms must be [batch, samples] with samples >= 1, got shape "
                     f"{waveforms.shape}")
  if length is not None and waveforms.shape[1] != length:
    raise ValueError(f"this function takes [batch, {length}] waveforms, got shape "
                     f"{waveforms.shape}")
  return waveforms


def check_waveform(waveform):
  """`waveform` as float32 `[T]` NumPy with T >= 1; ValueError otherwise."""
  waveform = np.asarray(waveform, np.float32)
  if waveform.ndim != 1 or waveform.size == 0:
    raise ValueError(f"waveform must be [samples] with samples >= 1, got shape "
                     f"{waveform.shape}")
  return waveform


class Separator:
  """Base of the separators: subclasses set the attributes and define `__call__`.

  The defaults: no fixed-length function (`fixed_length(L)` is the
  any-length call) and `separate(w)` as a batch of one.
  """

  sample_rate: int
  num_sources: int
  description: str = ""
  # Whether the first call of `fixed_length(L)` compiles (XLA) rather than
  # running a program that exists already (LiteRT's chunk program).
  compiles_fixed_length = True

  def __call__(self, waveforms):
    """float32 `[B, T]` -> float32 NumPy `[B, M, T]`."""
    raise NotImplementedError

  def has_fixed_length(self, length):  # pylint: disable=unused-argument
    """True if `fixed_length(length)` is a faster program than the any-length call."""
    return False

  def fixed_length(self, length):  # pylint: disable=unused-argument
    """A callable `[B, length]` -> `[B, M, length]`; here the any-length call."""
    return self

  def separate(self, waveform):
    """One waveform: float32 `[T]` -> float32 NumPy `[M, T]`."""
    return self(check_waveform(waveform)[np.newaxis])[0]


class FunctionSeparator(Separator):
  """A plain function `f(waveform [T]) -> [M, T]` as a separator at `sample_rate` Hz.

  `num_sources` is None until the first call tells it.
  """

  def __init__(self, function, sample_rate, description="a function"):
    self.function = function
    self.sample_rate = int(sample_rate)
    self.num_sources = None
    self.description = description

  def separate(self, waveform):
    out = np.asarray(self.function(check_waveform(waveform)))
    if out.ndim == 2:
      self.num_sources = out.shape[0]
    return out

  def __call__(self, waveforms):
    return np.stack([self.separate(row) for row in check_waveforms(waveforms)])


def is_separator(obj):
  """True if `obj` offers the protocol (a `Separator`, or duck-typed alike)."""
  return isinstance(obj, Separator) or all(
      hasattr(obj, name) for name in ("sample_rate", "num_sources", "separate"))


def as_separator(obj, sample_rate=None):
  """`obj` if it is a separator, else the function `obj([T]) -> [M, T]` at `sample_rate` Hz.

  Raises:
    ValueError: a separator at another rate than `sample_rate`, or a
      function without one.
    TypeError: `obj` is neither.
  """
  if is_separator(obj):
    if sample_rate is not None and int(sample_rate) != obj.sample_rate:
      raise ValueError(f"the separator runs at {obj.sample_rate} Hz, not at the "
                       f"sample_rate={sample_rate} asked for")
    return obj
  if not callable(obj):
    raise TypeError(f"expected a separator or a function [T] -> [M, T], got {type(obj).__name__}")
  if sample_rate is None:
    raise ValueError("a plain function [T] -> [M, T] needs sample_rate (Hz)")
  return FunctionSeparator(obj, sample_rate)
