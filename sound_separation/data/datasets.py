"""Input pipelines: clip lists, FUSS lists, mixtures of mixtures (SPEC §5).

Two kinds of data:

- Clips in the wild (YFCC100m, AudioSet): single mixtures with no sources,
  optionally with clip-level (weak) labels. `read_clip_list` parses their
  list, `clip_dataset` yields batches `{'mixtures': [B, T]}` (plus
  `'labels': [B, K]`).
- FUSS: a mixture and its 1–4 sources per example. `read_fuss_list` parses
  the list, `fuss_dataset` yields `{'mixtures': [B, T], 'sources': [B, S, T]}`.

MixIT trains on mixtures of mixtures (MoMs): `form_moms` turns a batch of B
single mixtures into B/2 MoMs and their two reference mixtures, inside the
training step. `training_dataset` builds a run's batches in the format the
trainer reads: single mixtures for MixIT beside supervised examples for PIT.

Waveforms are float32 in full-scale units, `T = round(clip_seconds ·
sample_rate)` samples. Every batch has static shapes (the last partial batch
is dropped), as XLA and TPUs need.

Reading runs in `tf.numpy_function` inside a parallel `Dataset.map` over
indices into the list, which is parsed once when the dataset is built. A
clip longer than T is cropped to a random window (seeded per element, so the
result does not depend on which thread reads it; with `shuffle=False` the
window starts at sample 0); a shorter clip is zero-padded at its end.
Errors raised by the reader reach the consumer as `tf.errors.OpError`s (an
`InvalidArgumentError` for `AudioReadError`) whose message names the file.
"""

import logging
import os
import threading

import numpy as np
import tensorflow as tf

from sound_separation import gin_utils
from sound_separation.data import audio
from sound_separation.losses.classification import union_labels

_LOG = logging.getLogger(__name__)

# Keys of the batches `MixITTrainer` trains on (`training_dataset`).
MIXTURES = "mixtures"
SOURCES = "sources"
LABELS = "labels"
SUPERVISED_MIXTURES = "supervised_mixtures"
SUPERVISED_SOURCES = "supervised_sources"

ON_ERROR = ("raise", "skip")
UNSUPERVISED_FORMATS = ("clips", "fuss")
PAIRINGS = ("consecutive", "random")
MAX_FUSS_SOURCES = 4


class ExampleError(audio.FileError):
  """An example's files were read but are inconsistent."""

  message = "bad example '{path}': {reason}"


class SkipCounter:
  """Counts the examples dropped by `on_error='skip'` (thread-safe).

  Pass one to `clip_dataset` / `fuss_dataset` as `skip_counter` to read the
  count while (or after) iterating. One counter may be shared by datasets.

  Attributes:
    count: examples dropped so far; an unreadable file met again in a later
      epoch counts again.
    files: `{path: reason}` of every distinct file that caused a drop.
  """

  def __init__(self):
    self._lock = threading.Lock()
    self._count = 0
    self._files = {}

  @property
  def count(self):
    with self._lock:
      return self._count

  @property
  def files(self):
    with self._lock:
      return dict(self._files)

  def record(self, path, reason):
    """Counts one dropped example; returns True the first time `path` is seen."""
    with self._lock:
      self._count += 1
      first = path not in self._files
      if first:
        self._files[path] = reason
      return first

  def __repr__(self):
    return f"SkipCounter(count={self.count}, files={len(self.files)})"


# ----------------------------------------------------------------------------
# List files.


def _list_lines(path):
  """Yields `(line_number, fields)` of a tab-separated list, 1-based numbers.

  Blank lines and lines whose first non-blank character is '#' are skipped.
  Fields are stripped of surrounding whitespace (so CRLF files parse).
  """
  try:
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
  except (OSError, UnicodeDecodeError) as e:
    raise ValueError(f"cannot read list file '{path}': {e}") from e
  for number, line in enumerate(lines, start=1):
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
      continue
    yield number, [field.strip() for field in line.split("\t")]


def _resolve(list_path, entry):
  # os.path.join keeps `entry` as is when it is absolute.
  return os.path.join(os.path.dirname(os.path.abspath(list_path)), entry)


def read_label_vocabulary(path):
  """Class names, one per line, in index order (blank and '#' lines skipped).

  Names may not contain commas or tabs (they separate labels in clip lists)
  and may not repeat.

  Returns:
    list of K class names; class k is the k-th name.
  """
  path = os.fspath(path)
  names = []
  seen = {}
  for number, fields in _list_lines(path):
    name = "\t".join(fields)
    if len(fields) != 1 or "," in name:
      raise ValueError(
          f"{path}:{number}: class name {name!r} contains a tab or a comma, "
          "which separate labels in clip lists")
    if name in seen:
      raise ValueError(f"{path}:{number}: class name {name!r} repeats line {seen[name]}")
    seen[name] = number
    names.append(name)
  if not names:
    raise ValueError(f"label vocabulary '{path}' has no class names")
  return names


def _as_vocabulary(vocabulary):
  """A list of class names from a list of names or a vocabulary file path."""
  if isinstance(vocabulary, (str, os.PathLike)):
    return read_label_vocabulary(vocabulary)
  names = list(vocabulary)
  if not names or len(set(names)) != len(names):
    raise ValueError(f"vocabulary must hold distinct class names, got {names!r}")
  bad = [n for n in names if not isinstance(n, str) or not n or "," in n or "\t" in n]
  if bad:
    raise ValueError(f"vocabulary names must be non-empty strings without commas or tabs, "
                     f"got {bad[0]!r}")
  return names


def _parse_clip_list(path, vocabulary):
  """`(paths, label_indices or None)`; label_indices[i] is an int array."""
  path = os.fspath(path)
  index = None if vocabulary is None else {name: k for k, name in enumerate(vocabulary)}
  paths, label_indices = [], []
  for number, fields in _list_lines(path):
    if len(fields) > 2 or not fields[0]:
      raise ValueError(
          f"{path}:{number}: expected '<path>[<TAB><label>,<label>...]', got "
          f"{len(fields)} tab-separated fields with path {fields[0]!r}")
    names = []
    if len(fields) == 2 and fields[1]:
      names = [name.strip() for name in fields[1].split(",")]
      if not all(names):
        raise ValueError(f"{path}:{number}: empty label in {fields[1]!r}")
    if index is not None:
      if not names:
        # An all-zero target would teach "no class present"; an unlabelled
        # clip belongs in a list read without a vocabulary.
        raise ValueError(f"{path}:{number}: clip {fields[0]!r} has no labels, "
                         "but a vocabulary was given")
      unknown = [name for name in names if name not in index]
      if unknown:
        raise ValueError(f"{path}:{number}: unknown label {unknown[0]!r} "
                         f"(not in the vocabulary of {len(index)} classes)")
      label_indices.append(np.array(sorted({index[n] for n in names}), np.int64))
    paths.append(_resolve(path, fields[0]))
  if not paths:
    raise ValueError(f"clip list '{path}' has no clips")
  return paths, (label_indices if index is not None else None)


def _multi_hot(indices, num_classes):
  row = np.zeros([num_classes], np.float32)
  row[indices] = 1.0
  return row


def read_clip_list(path, vocabulary=None):
  """Parses a clip list: `<path>[<TAB><label>,<label>...]` per line.

  Relative paths are relative to the list's folder; blank lines and '#'
  comment lines are skipped. Labels are read only when a vocabulary is given;
  then every clip needs at least one label, all in the vocabulary.

  Args:
    path: the list file.
    vocabulary: None, a list of K class names, or the path of a vocabulary
      file (see `read_label_vocabulary`).

  Returns:
    `(paths, labels)`: a list of N file paths, and float32 multi-hot `[N, K]`
    (None without a vocabulary).

  Raises:
    ValueError: naming the list file and line, for a malformed line, a clip
      without labels or an unknown label (with a vocabulary).
  """
  if vocabulary is not None:
    vocabulary = _as_vocabulary(vocabulary)
  paths, label_indices = _parse_clip_list(path, vocabulary)
  if label_indices is None:
    return paths, None
  labels = np.stack([_multi_hot(ix, len(vocabulary)) for ix in label_indices])
  return paths, labels


def read_fuss_list(path):
  """Parses a FUSS example list (SPEC §5).

  Each line: the mixture file, then its 1–4 source files, tab-separated and
  relative to the list's folder. Blank lines and '#' comment lines are
  skipped.

  Returns:
    list of `(mixture_path, [source_paths])`.

  Raises:
    ValueError: naming the list file and line, for a line without 2–5
      non-empty fields.
  """
  path = os.fspath(path)
  examples = []
  for number, fields in _list_lines(path):
    if not 2 <= len(fields) <= MAX_FUSS_SOURCES + 1 or not all(fields):
      raise ValueError(
          f"{path}:{number}: expected a mixture and 1-{MAX_FUSS_SOURCES} sources, "
          f"tab-separated and non-empty, got {len(fields)} fields: {fields!r}")
    examples.append((_resolve(path, fields[0]), [_resolve(path, f) for f in fields[1:]]))
  if not examples:
    raise ValueError(f"FUSS list '{path}' has no examples")
  return examples


def _list_entry(list_dir, path):
  """How a list names `path`: relative to `list_dir` when inside it, else absolute.

  Relative entries use '/' and keep the corpus movable as a whole folder.
  Entries the readers would misparse (tabs, line breaks, surrounding spaces,
  a leading '#') are refused.
  """
  absolute = os.path.abspath(os.fspath(path))
  relative = os.path.relpath(absolute, list_dir)
  if relative == os.pardir or relative.startswith(os.pardir + os.sep):
    entry = absolute
  else:
    entry = relative.replace(os.sep, "/")
  if (any(c in entry for c in "\t\n\r") or entry != entry.strip() or entry.startswith("#")):
    raise ValueError(f"cannot list file '{path}': list entries may not contain tabs or line "
                     "breaks, start with '#' or have surrounding spaces")
  return entry


def _write_lines(path, lines, what):
  """Writes `lines` to `path` (LF endings) through a renamed temporary file.

  A run that fails midway leaves no list naming files it never wrote.
  """
  path = os.fspath(path)
  if not lines:
    raise ValueError(f"{what} '{path}' would be empty (the readers refuse empty lists)")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  partial = path + ".partial"
  with open(partial, "w", encoding="utf-8", newline="\n") as f:
    f.write("".join(line + "\n" for line in lines))
  os.replace(partial, path)
  return path


def check_label(label, where):
  """Returns `label`; ValueError naming `where` unless a clip list can hold it.

  Labels are separated by commas in clip lists: a label is a non-empty string
  without commas, tabs, line breaks or surrounding spaces.
  """
  if (not isinstance(label, str) or not label or label != label.strip()
      or any(c in label for c in ",\t\n\r")):
    raise ValueError(f"{where}: label {label!r} is empty, has surrounding spaces or contains "
                     "a comma, tab or line break (clip lists separate labels by commas)")
  return label


def write_label_vocabulary(path, names):
  """Writes class names, one a line, for `read_label_vocabulary`.

  Args:
    path: the file to write (its folder is created if missing).
    names: K distinct names without commas or tabs, in class-index order.

  Returns:
    `path`.
  """
  names = _as_vocabulary(names)
  bad = [n for n in names if n != n.strip() or n.startswith("#") or "\n" in n or "\r" in n]
  if bad:
    raise ValueError(f"class name {bad[0]!r} would not read back: no surrounding spaces, "
                     "line breaks or leading '#'")
  return _write_lines(path, names, "label vocabulary")


def write_clip_list(path, clips, vocabulary=None):
  """Writes a clip list for `read_clip_list`: `<file>[<TAB><label>,<label>...]`.

  Args:
    path: the list to write (its folder is created if missing).
    clips: `(file, labels)` pairs: `file` a path (absolute or relative to the
      working directory; listed relative to the list's folder when inside it,
      else absolute), `labels` None or a sequence of class names.
    vocabulary: None, or the class names every label must belong to; the
      labels of a clip are then written once each, in vocabulary order.

  Returns:
    `path`.
  """
  path = os.fspath(path)
  list_dir = os.path.dirname(os.path.abspath(path))
  index = None if vocabulary is None else {n: k for k, n in enumerate(_as_vocabulary(vocabulary))}
  lines = []
  for file, labels in clips:
    labels = [check_label(label, f"clip '{file}'") for label in labels or ()]
    if index is not None:
      unknown = [n for n in labels if n not in index]
      if unknown:
        raise ValueError(f"label {unknown[0]!r} of '{file}' is not in the vocabulary")
      labels = sorted(set(labels), key=index.get)
    entry = _list_entry(list_dir, file)
    lines.append(f"{entry}\t{','.join(labels)}" if labels else entry)
  return _write_lines(path, lines, "clip list")


def write_fuss_list(path, examples):
  """Writes a FUSS example list for `read_fuss_list` (SPEC §5).

  Args:
    path: the list to write (its folder is created if missing).
    examples: `(mixture_file, [source_files])` pairs with 1–4 sources; paths
      are listed as in `write_clip_list`.

  Returns:
    `path`.
  """
  path = os.fspath(path)
  list_dir = os.path.dirname(os.path.abspath(path))
  lines = []
  for mixture, sources in examples:
    sources = list(sources)
    if not 1 <= len(sources) <= MAX_FUSS_SOURCES:
      raise ValueError(f"example '{mixture}' has {len(sources)} sources; a FUSS list line "
                       f"holds 1-{MAX_FUSS_SOURCES}")
    lines.append("\t".join(_list_entry(list_dir, p) for p in [mixture] + sources))
  return _write_lines(path, lines, "FUSS list")


# ----------------------------------------------------------------------------
# Datasets.


def crop_or_pad(waveform, length, rng=None):
  """Crops or zero-pads `[..., L]` to `[..., length]` along the last axis.

  Longer input: a window of `length` samples starting at a uniform random
  offset in `[0, L - length]` drawn from `rng` (at 0 when `rng` is None).
  Shorter input: zeros appended at the end. The same window applies to every
  leading row, so stacked mixture and sources stay aligned.

  Returns:
    `(cropped [..., length], offset)`.
  """
  excess = waveform.shape[-1] - length
  if excess > 0:
    offset = 0 if rng is None else int(rng.integers(0, excess + 1))
    return waveform[..., offset:offset + length], offset
  if excess < 0:
    padding = [(0, 0)] * (waveform.ndim - 1) + [(0, -excess)]
    return np.pad(waveform, padding), 0
  return waveform, 0


def _num_samples(clip_seconds, sample_rate):
  if not clip_seconds > 0:
    raise ValueError(f"clip_seconds must be positive, got {clip_seconds!r}")
  samples = int(round(clip_seconds * sample_rate))
  if samples < 1:
    raise ValueError(f"clip_seconds={clip_seconds} at {sample_rate} Hz is under one sample")
  return samples


def _check_common_args(batch_size, on_error, seed, sample_rate, backend):
  if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
    raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
  if on_error not in ON_ERROR:
    raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
  if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
    raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
  audio.check_sample_rate(sample_rate)
  if backend not in audio.BACKENDS:
    raise ValueError(f"backend must be one of {audio.BACKENDS}, got {backend!r}")
  if backend == "tfio":
    audio.require_tfio()


def _indexed_dataset(num_items, read_item, names, shapes, *, list_path, batch_size,
                     shuffle, repeat, seed, on_error, skip_counter, num_parallel_calls):
  """Batches of `read_item(index, rng)` over `range(num_items)`.

  `read_item` returns a tuple of float32 arrays with the given `shapes` and
  raises `AudioReadError` or `ExampleError` for a bad example.
  """
  counter = skip_counter if skip_counter is not None else SkipCounter()
  bad_items = set()
  bad_lock = threading.Lock()
  # Crops are drawn from a generator seeded by (seed, position in the stream,
  # list index): reproducible for a fixed seed whatever thread reads.
  crop_seed = seed if seed is not None else np.random.SeedSequence().entropy

  def load(position, index):
    rng = np.random.default_rng([crop_seed, int(position), int(index)]) if shuffle else None
    try:
      arrays = read_item(int(index), rng)
    except (audio.AudioReadError, ExampleError) as e:
      if on_error == "raise":
        raise
      if counter.record(e.path, e.reason):
        _LOG.warning("skipping '%s' (listed in '%s'): %s", e.path, list_path, e.reason)
      with bad_lock:
        bad_items.add(int(index))
        all_bad = len(bad_items) == num_items
      if all_bad:
        # Skipping would otherwise loop forever (repeat) or yield nothing.
        raise RuntimeError(
            f"all {num_items} examples of '{list_path}' failed to read; the last: {e}") from e
      # Placeholders: dropped by the filter below, never yielded.
      return tuple(np.zeros(s, np.float32) for s in shapes) + (np.bool_(False),)
    return tuple(arrays) + (np.bool_(True),)

  def load_op(position, index):
    outputs = tf.numpy_function(
        load, [position, index], [tf.float32] * len(shapes) + [tf.bool], name="read_example")
    arrays = [tf.ensure_shape(a, s) for a, s in zip(outputs[:-1], shapes)]
    return dict(zip(names, arrays)), tf.ensure_shape(outputs[-1], [])

  ds = tf.data.Dataset.range(num_items)
  if shuffle:
    # The whole list fits the buffer: indices are 8 bytes each.
    ds = ds.shuffle(num_items, seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.enumerate()
  ds = ds.map(load_op, num_parallel_calls=num_parallel_calls, deterministic=True)
  if on_error == "skip":
    ds = ds.filter(lambda example, ok: ok)
  ds = ds.map(lambda example, ok: example)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE)


@gin_utils.configurable
def clip_dataset(list_path, batch_size, clip_seconds=10.0, sample_rate=16000, shuffle=True,
                 repeat=True, seed=None, vocabulary=None, on_error="raise",
                 skip_counter=None, backend="auto", num_parallel_calls=tf.data.AUTOTUNE):
  """Batches of single clips (and weak labels) from a clip list.

  Args:
    list_path: a clip list (see `read_clip_list`), parsed once here.
    batch_size: clips per batch; the last partial batch is dropped.
    clip_seconds: clip length; `T = round(clip_seconds · sample_rate)`.
    sample_rate: Hz; files at other rates are resampled.
    shuffle: shuffle the whole list (again each epoch) and crop long clips at
      random offsets; when False, the list order and crops at sample 0.
    repeat: repeat forever.
    seed: None or an int: the shuffle and crop seed.
    vocabulary: None (no labels), a list of K class names or a vocabulary
      file path; with one, batches have 'labels'.
    on_error: 'raise': an unreadable file stops iteration with an error naming
      it. 'skip': the clip is dropped, counted in `skip_counter` and logged
      (a warning once per file); if every clip fails, an error is raised.
    skip_counter: a `SkipCounter` to count skipped clips in.
    backend: audio decoder, see `audio.read_audio`.
    num_parallel_calls: parallel reads.

  Returns:
    A `tf.data.Dataset` of `{'mixtures': float32 [batch_size, T]}`, plus
    `'labels': float32 multi-hot [batch_size, K]` with a vocabulary.
  """
  _check_common_args(batch_size, on_error, seed, sample_rate, backend)
  length = _num_samples(clip_seconds, sample_rate)
  list_path = os.fspath(list_path)
  if vocabulary is not None:
    vocabulary = _as_vocabulary(vocabulary)
  paths, label_indices = _parse_clip_list(list_path, vocabulary)

  def read_item(index, rng):
    waveform = audio.read_audio(paths[index], sample_rate, backend=backend)
    waveform, _ = crop_or_pad(waveform, length, rng)
    if label_indices is None:
      return (waveform,)
    return waveform, _multi_hot(label_indices[index], len(vocabulary))

  names, shapes = ["mixtures"], [[length]]
  if vocabulary is not None:
    names.append("labels")
    shapes.append([len(vocabulary)])
  return _indexed_dataset(
      len(paths), read_item, names, shapes, list_path=list_path, batch_size=batch_size,
      shuffle=shuffle, repeat=repeat, seed=seed, on_error=on_error,
      skip_counter=skip_counter, num_parallel_calls=num_parallel_calls)


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


@gin_utils.configurable
def fuss_dataset(list_path, batch_size, clip_seconds=10.0, sample_rate=16000, shuffle=True,
                 repeat=True, seed=None, max_sources=MAX_FUSS_SOURCES,
                 mixture_tolerance=1e-3, on_error="raise", skip_counter=None,
                 backend="auto", num_parallel_calls=tf.data.AUTOTUNE):
  """Batches of FUSS mixtures and their sources.

  Each example's mixture and sources are cropped with one common window (or
  zero-padded together) and its sources are padded with silent sources up to
  `max_sources`, as in FUSS.

  Args:
    list_path: a FUSS list (see `read_fuss_list`), parsed once here.
    batch_size, clip_seconds, sample_rate, shuffle, repeat, seed, on_error,
      skip_counter, backend, num_parallel_calls: as in `clip_dataset`. With
      'skip', inconsistent examples are skipped like unreadable files.
    max_sources: S, the number of source rows; an example with more sources
      is an error when the dataset is built.
    mixture_tolerance: the largest allowed `max_t |mixture − Σ sources|`
      (full-scale units), checked on the whole files before cropping; None
      skips the check. The default 1e-3 (−60 dBFS) is ten times the worst
      16-bit rounding of a mixture and four sources (5 · 2⁻¹⁶ ≈ 7.6e-5).

  Returns:
    A `tf.data.Dataset` of `{'mixtures': float32 [batch_size, T],
    'sources': float32 [batch_size, max_sources, T]}`.

  Raises (when iterating, as `tf.errors.OpError`s naming the file):
    `AudioReadError` for unreadable files, `ExampleError` for a source whose
    length differs from its mixture's or a mixture that is not the sum of its
    sources.
  """
  _check_common_args(batch_size, on_error, seed, sample_rate, backend)
  length = _num_samples(clip_seconds, sample_rate)
  if isinstance(max_sources, bool) or not isinstance(max_sources, int) or max_sources < 1:
    raise ValueError(f"max_sources must be a positive integer, got {max_sources!r}")
  if mixture_tolerance is not None and not mixture_tolerance >= 0:
    raise ValueError(f"mixture_tolerance must be None or >= 0, got {mixture_tolerance!r}")
  list_path = os.fspath(list_path)
  examples = read_fuss_list(list_path)
  for mixture_path, source_paths in examples:
    if len(source_paths) > max_sources:
      raise ValueError(f"'{list_path}': example '{mixture_path}' has {len(source_paths)} "
                       f"sources, more than max_sources={max_sources}")

  def read_item(index, rng):
    mixture, sources = read_fuss_example(*examples[index], sample_rate=sample_rate,
                                         mixture_tolerance=mixture_tolerance, backend=backend)
    padded = np.zeros([1 + max_sources, mixture.shape[0]], np.float32)
    padded[0] = mixture
    padded[1:1 + len(sources)] = sources
    padded, _ = crop_or_pad(padded, length, rng)
    return padded[0], padded[1:]

  return _indexed_dataset(
      len(examples), read_item, ["mixtures", "sources"], [[length], [max_sources, length]],
      list_path=list_path, batch_size=batch_size, shuffle=shuffle, repeat=repeat, seed=seed,
      on_error=on_error, skip_counter=skip_counter, num_parallel_calls=num_parallel_calls)


# ----------------------------------------------------------------------------
# Mixtures of mixtures.


def _pairing_keys(batch, seed):
  """Uniform float32 `[batch]` sort keys: stateless when a seed is given."""
  if seed is None:
    return tf.random.uniform([batch])
  seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
  if seed.shape.rank == 0:
    seed = tf.stack([seed, tf.constant(0, tf.int64)])
  elif seed.shape != [2]:
    raise ValueError(f"seed must be an integer or a shape-[2] integer tensor, "
                     f"got shape {seed.shape}")
  # Philox on every device (the default algorithm depends on the device).
  # XLA's kernel still draws other numbers than TensorFlow's for one seed.
  return tf.random.stateless_uniform([batch], seed, alg="philox")


@gin_utils.configurable
def form_moms(mixtures, labels=None, pairing="consecutive", seed=None):
  """Pairs a batch of single mixtures into mixtures of mixtures (MoMs).

  Pair i is mixtures `(2i, 2i + 1)` of the batch ('consecutive', as the
  original code), or of a uniformly random permutation of it ('random').
  Shuffled datasets already pair random clips, so 'random' matters only for
  ordered data. Plain TensorFlow; it compiles with XLA (static shapes). The
  batch size may be known only at run time (Keras' per-replica batches under
  MultiWorkerMirroredStrategy lose it): then evenness is checked at run time.

  Args:
    mixtures: `[B, T]` single mixtures, B even.
    labels: optional `[B, K]` weak labels (any numeric type).
    pairing: 'consecutive' or 'random'.
    seed: for 'random': None (stateful `tf.random`, a new permutation each
      call), or an integer / scalar integer tensor / shape-[2] integer tensor
      for stateless ops: the same seed gives the same permutation, so in a
      training step pass one that changes with the step (e.g. `[seed, step]`).
      XLA-compiled and uncompiled code give different (each deterministic)
      permutations for one seed: their random kernels differ.

  Returns:
    dict with 'mom' `[B/2, T]` (the sum of each pair), 'references'
    `[B/2, 2, T]` (the pair, in order) in the dtype of `mixtures`, and with
    labels 'labels' float32 `[B/2, K]`, the union (max) of the pair's labels.
  """
  mixtures = tf.convert_to_tensor(mixtures)
  if mixtures.shape.rank != 2:
    raise ValueError(f"mixtures must be [B, T], got shape {mixtures.shape}")
  batch = mixtures.shape[0]
  if batch is None:
    batch = tf.shape(mixtures)[0]
    with tf.control_dependencies([tf.debugging.assert_equal(
        batch % 2, 0, message="form_moms needs an even batch of mixtures")]):
      mixtures = tf.identity(mixtures)
  elif batch % 2:
    raise ValueError(f"form_moms needs an even batch of mixtures to pair, got {batch}")
  if pairing not in PAIRINGS:
    raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
  if labels is not None:
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank != 2 or labels.shape[0] != mixtures.shape[0]:
      raise ValueError(f"labels must be [B, K] like mixtures {mixtures.shape}, "
                       f"got shape {labels.shape}")

  if pairing == "random":
    order = tf.argsort(_pairing_keys(batch, seed), stable=True)
    mixtures = tf.gather(mixtures, order)
    if labels is not None:
      labels = tf.gather(labels, order)

  references = tf.reshape(mixtures, [-1, 2, tf.shape(mixtures)[1]])
  moms = {"mom": references[:, 0] + references[:, 1], "references": references}
  if labels is not None:
    pairs = tf.reshape(labels, [-1, 2, tf.shape(labels)[1]])
    moms["labels"] = union_labels(pairs[:, 0], pairs[:, 1])
  return moms


# ----------------------------------------------------------------------------
# Training batches.


def supervised_moms(batch):
  """Pairs consecutive FUSS examples into supervised MoMs with all their sources.

  The supervised "MoMs" baseline of Table 1 trains with PIT on mixtures of
  two FUSS mixtures (2–8 sources). Example pairs `(2i, 2i + 1)` are summed
  and their source rows concatenated, the first example's rows first.

  Args:
    batch: `{'mixtures': [B, T], 'sources': [B, S, T]}`, B even and static.

  Returns:
    `{'mixtures': [B/2, T], 'sources': [B/2, 2S, T]}` (other keys dropped).
  """
  mixtures, sources = batch[MIXTURES], batch[SOURCES]
  size = mixtures.shape[0]
  if size is None or size % 2:
    raise ValueError(f"supervised MoMs need a static, even batch of FUSS examples, got {size}")
  num_sources, length = sources.shape[1], sources.shape[2]
  return {MIXTURES: mixtures[0::2] + mixtures[1::2],
          SOURCES: tf.reshape(sources, [size // 2, 2 * num_sources, length])}


def _check_batch_size(name, value, list_name, list_path):
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
  if (value > 0) != (list_path is not None):
    raise ValueError(f"{name}={value} needs {list_name} to be set, and {list_name} a "
                     f"positive {name} (got {list_name}={list_path!r})")


@gin_utils.configurable
def training_dataset(batch_size=0, unsupervised_list=None, unsupervised_format="clips",
                     supervised_list=None, supervised_batch_size=0, supervised_as_moms=False,
                     vocabulary=None, clip_seconds=10.0, sample_rate=16000, shuffle=True,
                     repeat=True, seed=None, max_sources=MAX_FUSS_SOURCES, on_error="raise",
                     skip_counter=None, backend="auto"):
  """Batches in the format `MixITTrainer` trains on, from a run's list files.

  Every batch joins `batch_size` single mixtures for MixIT (paired into MoMs
  inside the step) and `supervised_batch_size` examples with sources for PIT,
  so the supervised fraction of a batch is fixed and every shape is static.
  Under a distribution strategy each replica gets its share of both parts.

  Args:
    batch_size: single mixtures per batch from `unsupervised_list` (even,
      as they are paired into MoMs); 0 for none.
    unsupervised_list: the MixIT data: a clip list (`read_clip_list`) or,
      with `unsupervised_format='fuss'`, a FUSS list whose mixtures are used
      and whose sources are ignored.
    unsupervised_format: 'clips' or 'fuss'.
    supervised_list: a FUSS list of examples with sources, scored by PIT;
      None for none.
    supervised_batch_size: FUSS examples per batch from `supervised_list`.
    supervised_as_moms: pair consecutive supervised examples into MoMs with
      their 2·max_sources sources (`supervised_moms`): the "MoMs" PIT
      baseline. `supervised_batch_size` must then be even.
    vocabulary: None, or class names / a vocabulary file: with a clip list,
      batches then carry the clips' weak labels.
    clip_seconds, sample_rate, shuffle, repeat, seed, max_sources, on_error,
      skip_counter, backend: as in `clip_dataset` and `fuss_dataset`
      (`seed` seeds the unsupervised stream, `seed + 1` the supervised one).

  Returns:
    A `tf.data.Dataset` of dicts: `'mixtures'` float32 `[batch_size, T]`
    (with `'labels'` `[batch_size, K]` given a vocabulary) when there is
    unsupervised data; `'supervised_mixtures'` `[Bs, T]` and
    `'supervised_sources'` `[Bs, S, T]` when there is supervised data, where
    `Bs, S` are `supervised_batch_size, max_sources`, or half and twice
    those with `supervised_as_moms`.
  """
  _check_batch_size("batch_size", batch_size, "unsupervised_list", unsupervised_list)
  _check_batch_size("supervised_batch_size", supervised_batch_size, "supervised_list",
                    supervised_list)
  if unsupervised_list is None and supervised_list is None:
    raise ValueError("training_dataset needs unsupervised_list, supervised_list or both")
  if batch_size % 2:
    raise ValueError(f"batch_size must be even (mixtures are paired into MoMs), got {batch_size}")
  if supervised_as_moms and supervised_batch_size % 2:
    raise ValueError(f"supervised_as_moms pairs examples: supervised_batch_size must be even, "
                     f"got {supervised_batch_size}")
  if unsupervised_format not in UNSUPERVISED_FORMATS:
    raise ValueError(f"unsupervised_format must be one of {UNSUPERVISED_FORMATS}, got "
                     f"{unsupervised_format!r}")
  if vocabulary is not None and (unsupervised_list is None or unsupervised_format != "clips"):
    raise ValueError("vocabulary (weak labels) needs a clip list as unsupervised_list")
  common = dict(clip_seconds=clip_seconds, sample_rate=sample_rate, shuffle=shuffle,
                repeat=repeat, on_error=on_error, skip_counter=skip_counter, backend=backend)
  parts = []
  if unsupervised_list is not None:
    if unsupervised_format == "clips":
      ds = clip_dataset(unsupervised_list, batch_size, seed=seed, vocabulary=vocabulary, **common)
    else:
      ds = fuss_dataset(unsupervised_list, batch_size, seed=seed, max_sources=max_sources,
                        **common).map(lambda b: {MIXTURES: b[MIXTURES]})
    parts.append(ds)
  if supervised_list is not None:
    ds = fuss_dataset(supervised_list, supervised_batch_size,
                      seed=None if seed is None else seed + 1, max_sources=max_sources, **common)
    if supervised_as_moms:
      ds = ds.map(supervised_moms)
    parts.append(ds.map(lambda b: {SUPERVISED_MIXTURES: b[MIXTURES],
                                   SUPERVISED_SOURCES: b[SOURCES]}))
  if len(parts) == 1:
    return parts[0]
  return tf.data.Dataset.zip(tuple(parts)).map(lambda a, b: {**a, **b})


@gin_utils.configurable
def validation_dataset(batch_size=0, unsupervised_list=None, unsupervised_format="clips",
                       supervised_list=None, supervised_batch_size=0, supervised_as_moms=False,
                       clip_seconds=10.0, sample_rate=16000, max_sources=MAX_FUSS_SOURCES,
                       backend="auto"):
  """A run's validation batches: `training_dataset` over validation lists.

  The lists are read once, in order, with crops at sample 0 and errors
  raised (never skipped), so every validation pass scores the same audio.
  Its own gin name keeps validation lists from silently inheriting the
  training lists' bindings. Arguments and batches as in `training_dataset`.
  """
  return training_dataset(
      batch_size=batch_size, unsupervised_list=unsupervised_list,
      unsupervised_format=unsupervised_format, supervised_list=supervised_list,
      supervised_batch_size=supervised_batch_size, supervised_as_moms=supervised_as_moms,
      clip_seconds=clip_seconds, sample_rate=sample_rate, shuffle=False, repeat=False,
      max_sources=max_sources, backend=backend)
