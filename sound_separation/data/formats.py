"""Data formats: how a corpus file is recognised, counted, read and batched (docs/formats.md).

A format is a `DataFormat` (`format_protocol`) registered here under a name.
Everything that takes a corpus goes through the registry, so a new format is
one class in its own module and one `register` line at the bottom of this
one (CONTRIBUTING.md lists the files):

- `datasets.training_dataset` / `validation_dataset` batch a run's lists with
  the format named by `unsupervised_format` (gin), and recognise the format
  of a `supervised_list`;
- the evaluator (`evaluation.evaluator`) and `chunked.for_list` recognise a
  list's format, count its examples, read them one at a time and list the
  audio files they separate;
- the corpus builders read a list's mixture files (`corpus.mom_sets`).

Built in:

| name | file | examples | `dataset` batches |
|---|---|---|---|
| `clips` | clip list (`lists.read_clip_list`) | clips, no sources | `mixtures` [+ `labels`] |
| `fuss` | FUSS list (`lists.read_fuss_list`) | mixture + 1–4 sources | `mixtures`, `sources` |
| `records` | records index `<prefix>.index.json` (`records`) | either, decoded | as the list it was made from |

Recognition (`detect`) asks the formats newest-registered first, so a format
added later that recognises its own files wins over the built-in text lists,
which recognise any file that is not a records index.
"""

import os

import numpy as np

from sound_separation.data import audio
from sound_separation.data import examples
from sound_separation.data import lists
from sound_separation.data import pipelines
from sound_separation.data import records
from sound_separation.data.format_protocol import DataFormat
from sound_separation.data.format_protocol import Example

__all__ = ["DataFormat", "Example", "register", "unregister", "names", "get", "detect"]

_REGISTRY = {}


def register(data_format):
  """Adds a `DataFormat` instance under its name; returns it. Names are unique."""
  if not isinstance(data_format, DataFormat) or not isinstance(data_format.name, str):
    raise TypeError(f"register takes a DataFormat instance with a name, got {data_format!r}")
  if data_format.name in _REGISTRY:
    raise ValueError(f"a data format named {data_format.name!r} is already registered")
  _REGISTRY[data_format.name] = data_format
  return data_format


def unregister(name):
  """Removes a registered format (a test's toy format, say)."""
  _REGISTRY.pop(name)


def names(has_sources=None):
  """The registered formats' names, oldest first (only those with sources if asked)."""
  return tuple(n for n, f in _REGISTRY.items()
               if has_sources is None or f.has_sources == has_sources)


def get(name):
  """The format registered as `name`; ValueError naming the known ones."""
  try:
    return _REGISTRY[name]
  except (KeyError, TypeError):
    raise ValueError(f"unknown data format {name!r}; known: {', '.join(names())}") from None


def detect(path, has_sources=False):
  """The format of `path`: the newest registered one that recognises it.

  Args:
    path: a corpus file.
    has_sources: only formats whose examples carry sources (evaluation,
      supervised training).
  """
  path = os.fspath(path)
  for data_format in reversed(list(_REGISTRY.values())):
    if (data_format.has_sources or not has_sources) and data_format.recognises(path):
      return data_format
  wanted = "with sources " if has_sources else ""
  raise ValueError(f"no data format {wanted}recognises '{path}' (known: {', '.join(names())})")


def _check_num_samples(name, waveform, mixture_path, mixture, sample_rate, where):
  if waveform.shape[0] != mixture.shape[0]:
    raise examples.ExampleError(
        name, f"has {waveform.shape[0]} samples at {sample_rate} Hz but its mixture "
        f"'{mixture_path}' has {mixture.shape[0]} ({where})")


class _TextList(DataFormat):
  """A list of audio files (`lists`): anything that is not a records index."""

  def recognises(self, path):
    return not records.is_index(path)

  def count(self, path):
    return len(self.files(path))


class ClipList(_TextList):
  """Clip lists: one clip a line, optionally its weak labels (no sources)."""

  name = "clips"
  has_labels = True

  def files(self, path):
    return [(clip, []) for clip in lists.read_clip_list(path)[0]]

  def dataset(self, path, batch_size, *, max_sources=lists.MAX_FUSS_SOURCES, **reading):
    del max_sources  # clips have no sources
    return pipelines.clip_dataset(path, batch_size, **reading)


class FussList(_TextList):
  """FUSS lists: a mixture and its sources a line (speech, enhancement and MoM lists too)."""

  name = "fuss"
  has_sources = True

  def files(self, path):
    return lists.read_fuss_list(path)

  def examples(self, path, sample_rate):
    path = os.fspath(path)
    for number, (mixture_path, source_paths) in enumerate(self.files(path), start=1):

      def read(mixture_path=mixture_path, source_paths=source_paths, number=number):
        # Lengths are checked, sums are not: a speech list's third file is noise.
        mixture = audio.read_audio(mixture_path, sample_rate)
        sources = [audio.read_audio(p, sample_rate) for p in source_paths]
        for source_path, source in zip(source_paths, sources):
          _check_num_samples(source_path, source, mixture_path, mixture, sample_rate,
                             f"example {number} of list '{path}'")
        return mixture, np.stack(sources)

      yield Example(mixture_path, source_paths, len(source_paths), read)

  def dataset(self, path, batch_size, *, vocabulary=None, **reading):
    if vocabulary is not None:
      raise ValueError(f"'{path}' is a FUSS list: weak labels (vocabulary) need a clip list or "
                       f"clip records")
    return pipelines.fuss_dataset(path, batch_size, **reading)


class Records(DataFormat):
  """A sharded records corpus (`records`): clips or FUSS examples, decoded PCM."""

  name = "records"
  has_sources = True  # a FUSS corpus's; a clips corpus is refused where sources are needed
  has_labels = True

  def recognises(self, path):
    return records.is_index(path)

  def count(self, path):
    return sum(records.read_index(path)["counts"])

  def files(self, path):
    return None

  def examples(self, path, sample_rate):
    index = records.read_index(path)
    if index["format"] != "fuss":
      raise ValueError(f"'{path}' holds {index['format']} records; evaluation needs FUSS "
                       f"records (a mixture and its sources)")
    if index["sample_rate"] != sample_rate:
      raise ValueError(f"'{path}' holds audio at {index['sample_rate']} Hz, not "
                       f"{sample_rate} Hz")
    for waveforms, _, source_file in records.examples(index):
      yield Example(source_file, None, waveforms.shape[0] - 1,
                    lambda w=waveforms: (w[0], w[1:]))

  def dataset(self, path, batch_size, *, on_error="raise", skip_counter=None, backend="auto",
              **reading):
    del skip_counter, backend  # records hold decoded PCM, checked when written
    if on_error != "raise":
      raise ValueError(f"'{path}' is a records corpus, checked when it was written: "
                       f"on_error={on_error!r} applies to lists only")
    return pipelines.records_dataset(path, batch_size, **reading)


# The built-in formats. A new format's module is imported above and
# registered here, so every user of the registry sees it.
CLIPS = register(ClipList())
FUSS = register(FussList())
RECORDS = register(Records())
