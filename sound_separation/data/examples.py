"""Reading one listed example: a mixture and its sources, checked (no TensorFlow).

`read_fuss_example` reads a FUSS example's files and checks that they agree;
`ExampleError` names the file of an example that is read but inconsistent.
"""

import numpy as np

from sound_separation.data import audio


class ExampleError(audio.FileError):
  """An example's files were read but are inconsistent."""

  message = "bad example '{path}': {reason}"


def read_fuss_example(mixture_path, source_paths, sample_rate=16000, mixture_tolerance=1e-3,
                      backend="auto"):
  """Reads one FUSS example and checks that its files agree.

  Args:
    mixture_path, source_paths: as `read_fuss_list` returns them.
    sample_rate: Hz; files at other rates are resampled.
    mixture_tolerance: the largest allowed `max_t |mixture − Σ sources|`
      (full-scale units); None skips the check.
    backend: audio decoder, see `audio.read_audio`.

  Returns:
    `(mixture, sources)`: float32 `[T]` and `[S, T]`.

  Raises:
    AudioReadError: an unreadable file. ExampleError: a source whose length
      differs from its mixture's, or a mixture that is not the sum of its
      sources.
  """
  mixture = audio.read_audio(mixture_path, sample_rate, backend=backend)
  sources = []
  for source_path in source_paths:
    source = audio.read_audio(source_path, sample_rate, backend=backend)
    if source.shape[0] != mixture.shape[0]:
      raise ExampleError(source_path, f"{source.shape[0]} samples, but its mixture "
                         f"'{mixture_path}' has {mixture.shape[0]}")
    sources.append(source)
  sources = np.stack(sources)
  if mixture_tolerance is not None:
    error = float(np.max(np.abs(mixture - sources.sum(axis=0, dtype=np.float64))))
    if error > mixture_tolerance:
      raise ExampleError(mixture_path, f"differs from the sum of its {len(sources)} "
                         f"sources by up to {error:.3g} > mixture_tolerance="
                         f"{mixture_tolerance:g}")
  return mixture, sources

