"""tf.data readers, one per data format: batches of clips, FUSS examples or records.

- `clip_dataset`: batches `{'mixtures': [B, T]}` (plus weak labels
  `'labels': [B, K]`) of clips in the wild, from a clip list.
- `fuss_dataset`: batches `{'mixtures': [B, T], 'sources': [B, S, T]}` of
  FUSS examples, from a FUSS list.
- `records_dataset`: either of those from a sharded records corpus.

The formats (`formats`) batch themselves through these; a run's batches
(`datasets.training_dataset`) dispatch through the formats.
Waveforms are float32 in full-scale units,
`T = round(clip_seconds · sample_rate)` samples (`audio.clip_samples`).
Every batch has static shapes (the last partial batch is dropped), as XLA
and TPUs need.

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

from sound_separation import checks
from sound_separation import gin_utils
from sound_separation.data import audio
from sound_separation.data import batches
from sound_separation.data import examples
from sound_separation.data import lists
from sound_separation.data import records

_LOG = logging.getLogger(__name__)

ON_ERROR = ("raise", "skip")
_PASSED_ARGS = ["clip_seconds", "sample_rate", "shuffle", "repeat", "seed", "on_error",
                "skip_counter", "backend", "start_example", "shard"]


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


def _check_common_args(batch_size, on_error, seed, sample_rate, backend):
  checks.integer("batch_size", batch_size)
  if on_error not in ON_ERROR:
    raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
  checks.integer("seed", seed, minimum=0, allow_none=True)
  audio.check_sample_rate(sample_rate)
  if backend not in audio.BACKENDS:
    raise ValueError(f"backend must be one of {audio.BACKENDS}, got {backend!r}")
  if backend == "tfio":
    audio.require_tfio()


def indexed_dataset(num_items, read_item, names, shapes, *, list_path, batch_size,
                    shuffle, repeat, seed, on_error="raise", skip_counter=None,
                    num_parallel_calls=tf.data.AUTOTUNE, start_example=0, shard=(1, 0)):
  """Batches of `read_item(index, rng)` over `range(num_items)`: any format's reader.

  Args:
    num_items: the examples, read by index (the list is parsed beforehand).
    read_item: `(index, rng) -> tuple of float32 arrays` with the given
      `shapes`; `rng` is None without `shuffle` (crop at 0), else a NumPy
      generator seeded by (seed, stream position, index) for the crop.
      Raises `AudioReadError` or `examples.ExampleError` for a bad example.
    names, shapes: each array's key in the batch and its static shape.
    list_path: names the corpus in messages.
    batch_size, shuffle, repeat, seed, on_error, skip_counter,
      num_parallel_calls, start_example, shard: as in `clip_dataset`.

  Returns:
    A `tf.data.Dataset` of `{name: float32 [batch_size, *shape]}`.
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
    except (audio.AudioReadError, examples.ExampleError) as e:
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

  num_shards, shard_index = shard
  if num_items < num_shards:
    raise ValueError(f"'{list_path}' has {num_items} examples for {num_shards} input "
                     f"pipelines")
  # This input pipeline's share of the list: every num_shards-th index.
  ds = tf.data.Dataset.range(num_items).shard(num_shards, shard_index)
  if shuffle:
    # The whole share fits the buffer: indices are 8 bytes each.
    ds = ds.shuffle(-(-num_items // num_shards), seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  # Positions count from the stream's start, so skipping (before any audio is
  # read) resumes it exactly: the same shuffles, the same crops.
  ds = ds.enumerate().skip(start_example)
  ds = ds.map(load_op, num_parallel_calls=num_parallel_calls, deterministic=True)
  if on_error == "skip":
    ds = ds.filter(lambda example, ok: ok)
  ds = ds.map(lambda example, ok: example)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE)


# `training_dataset`, `validation_dataset` and the classifier's loop pass these;
# bind them there (a binding here would be silently overridden).
@gin_utils.configurable(denylist=_PASSED_ARGS + ["vocabulary"])
def clip_dataset(list_path, batch_size, clip_seconds=10.0, sample_rate=16000, shuffle=True,
                 repeat=True, seed=None, vocabulary=None, on_error="raise",
                 skip_counter=None, backend="auto", num_parallel_calls=tf.data.AUTOTUNE,
                 start_example=0, shard=(1, 0)):
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
    start_example: the position in the (shuffled, repeated) stream to start
      at, for an exact resume: `step · batch_size` after `step` batches.
      Skipped positions are not read. (With on_error='skip', positions count
      the skipped examples too.)
    shard: `(n, i)`: read only the list indices `i, i + n, ...` (one input
      pipeline of n, `training_dataset(input_context=...)`).

  Returns:
    A `tf.data.Dataset` of `{'mixtures': float32 [batch_size, T]}`, plus
    `'labels': float32 multi-hot [batch_size, K]` with a vocabulary.
  """
  _check_common_args(batch_size, on_error, seed, sample_rate, backend)
  length, _ = audio.clip_samples(clip_seconds, sample_rate)
  list_path = os.fspath(list_path)
  if vocabulary is not None:
    vocabulary = lists.as_vocabulary(vocabulary)
  paths, label_indices = lists.parse_clip_list(list_path, vocabulary)

  def read_item(index, rng):
    waveform = audio.read_audio(paths[index], sample_rate, backend=backend)
    waveform, _ = crop_or_pad(waveform, length, rng)
    if label_indices is None:
      return (waveform,)
    return waveform, lists.multi_hot(label_indices[index], len(vocabulary))

  names, shapes = ["mixtures"], [[length]]
  if vocabulary is not None:
    names.append("labels")
    shapes.append([len(vocabulary)])
  return indexed_dataset(
      len(paths), read_item, names, shapes, list_path=list_path, batch_size=batch_size,
      shuffle=shuffle, repeat=repeat, seed=seed, on_error=on_error,
      skip_counter=skip_counter, num_parallel_calls=num_parallel_calls,
      start_example=start_example, shard=shard)


# `training_dataset`, `validation_dataset` and the classifier's loop pass these;
# bind them there (a binding here would be silently overridden).
@gin_utils.configurable(denylist=_PASSED_ARGS + ["max_sources"])
def fuss_dataset(list_path, batch_size, clip_seconds=10.0, sample_rate=16000, shuffle=True,
                 repeat=True, seed=None, max_sources=lists.MAX_FUSS_SOURCES,
                 mixture_tolerance=1e-3, on_error="raise", skip_counter=None,
                 backend="auto", num_parallel_calls=tf.data.AUTOTUNE, start_example=0,
                 shard=(1, 0)):
  """Batches of FUSS mixtures and their sources.

  Each example's mixture and sources are cropped with one common window (or
  zero-padded together) and its sources are padded with silent sources up to
  `max_sources`, as in FUSS.

  Args:
    list_path: a FUSS list (see `read_fuss_list`), parsed once here.
    batch_size, clip_seconds, sample_rate, shuffle, repeat, seed, on_error,
      skip_counter, backend, num_parallel_calls, start_example, shard: as in
      `clip_dataset`. With
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
    `AudioReadError` for unreadable files, `examples.ExampleError` for a source whose
    length differs from its mixture's or a mixture that is not the sum of its
    sources.
  """
  _check_common_args(batch_size, on_error, seed, sample_rate, backend)
  length, _ = audio.clip_samples(clip_seconds, sample_rate)
  checks.integer("max_sources", max_sources)
  if mixture_tolerance is not None and not mixture_tolerance >= 0:
    raise ValueError(f"mixture_tolerance must be None or >= 0, got {mixture_tolerance!r}")
  list_path = os.fspath(list_path)
  listed = lists.read_fuss_list(list_path)
  for mixture_path, source_paths in listed:
    if len(source_paths) > max_sources:
      raise ValueError(f"'{list_path}': example '{mixture_path}' has {len(source_paths)} "
                       f"sources, more than max_sources={max_sources}")

  def read_item(index, rng):
    mixture, sources = examples.read_fuss_example(*listed[index], sample_rate=sample_rate,
                                         mixture_tolerance=mixture_tolerance, backend=backend)
    padded = np.zeros([1 + max_sources, mixture.shape[0]], np.float32)
    padded[0] = mixture
    padded[1:1 + len(sources)] = sources
    padded, _ = crop_or_pad(padded, length, rng)
    return padded[0], padded[1:]

  return indexed_dataset(
      len(listed), read_item, ["mixtures", "sources"], [[length], [max_sources, length]],
      list_path=list_path, batch_size=batch_size, shuffle=shuffle, repeat=repeat, seed=seed,
      on_error=on_error, skip_counter=skip_counter, num_parallel_calls=num_parallel_calls,
      start_example=start_example, shard=shard)


def records_dataset(index_path, batch_size, clip_seconds=10.0, sample_rate=16000, shuffle=True,
                    repeat=True, seed=None, vocabulary=None, max_sources=lists.MAX_FUSS_SOURCES,
                    shuffle_buffer=1024, cycle_length=8, num_parallel_calls=tf.data.AUTOTUNE,
                    start_example=0, shard=(1, 0)):
  """Batches from a sharded records corpus (`data.records`), as the list pipelines give them.

  Shards are read `cycle_length` at a time, interleaved record by record (in
  a seeded shuffled order each epoch with `shuffle`), records shuffled in a
  `shuffle_buffer`, then cropped (a uniform offset drawn from `(seed,
  position in the stream)`: reproducible for a seed, whatever thread reads)
  or zero-padded at the end, as `clip_dataset` / `fuss_dataset` do.

  Args:
    index_path: the corpus's `<prefix>.index.json`.
    batch_size, clip_seconds, shuffle, repeat, seed: as in `clip_dataset`.
    sample_rate: must be the corpus's (records are stored at the model's
      rate; `make_records.py` resamples once).
    vocabulary: for a clips corpus: None, or True / the class names to emit
      multi-hot `'labels'` over the corpus's vocabulary.
    max_sources: S of a FUSS corpus's `'sources'` rows.
    shuffle_buffer, cycle_length, num_parallel_calls: tf.data settings.
    start_example: as in `clip_dataset` (skipped records are read, not
      decoded).
    shard: `(n, i)`: read only the shard files `i, i + n, ...` (one input
      pipeline of n); the corpus needs at least n shards.

  Returns:
    A `tf.data.Dataset` of `{'mixtures': [B, T]}` (+ `'labels': [B, K]`) for
    a clips corpus, `{'mixtures': [B, T], 'sources': [B, S, T]}` for FUSS.
    A bad record stops iteration with an error naming its shard, position
    and source file.
  """
  _check_common_args(batch_size, "raise", seed, sample_rate, "auto")
  length, _ = audio.clip_samples(clip_seconds, sample_rate)
  index = records.read_index(index_path)
  if index["sample_rate"] != sample_rate:
    raise ValueError(f"'{index_path}' holds audio at {index['sample_rate']} Hz, not "
                     f"sample_rate={sample_rate}; make the records at the model's rate")
  kind = index["format"]
  num_classes = 0
  if vocabulary is not None:
    if kind != "clips" or not index.get("vocabulary"):
      raise ValueError(f"'{index_path}' has no clip labels (vocabulary)")
    names = index["vocabulary"]
    if vocabulary is not True and list(lists.as_vocabulary(vocabulary)) != list(names):
      raise ValueError(f"the vocabulary differs from the one of '{index_path}'")
    num_classes = len(names)
  crop_seed = seed if seed is not None else int(np.random.SeedSequence().entropy % 2 ** 31)
  num_pipelines, pipeline = shard
  shards = index["shard_paths"][pipeline::num_pipelines]
  if len(index["shard_paths"]) < num_pipelines:
    raise ValueError(f"'{index_path}' has {len(index['shard_paths'])} shards for "
                     f"{num_pipelines} input pipelines; make at least one shard per host")

  files = tf.data.Dataset.from_tensor_slices(shards)
  if shuffle:
    files = files.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
  if repeat:
    files = files.repeat()

  def read_shard(shard):
    return tf.data.TFRecordDataset(shard).enumerate().map(
        lambda position, record: (shard, position, record))

  ds = files.interleave(read_shard, cycle_length=min(cycle_length, len(shards)),
                        block_length=1, num_parallel_calls=num_parallel_calls,
                        deterministic=True)
  if shuffle:
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  ds = ds.enumerate().skip(start_example)

  def load(position, item):
    shard, record, serialized = item
    waveforms, labels, _ = records.parse(serialized, shard, record)
    excess = tf.shape(waveforms)[1] - length
    offset = 0
    if shuffle:
      offset = tf.random.stateless_uniform(
          [], tf.stack([tf.constant(crop_seed, tf.int64), position]),
          minval=0, maxval=tf.maximum(excess, 0) + 1, dtype=tf.int32)
    cropped = waveforms[:, offset:offset + length]
    cropped = tf.pad(cropped, [[0, 0], [0, length - tf.shape(cropped)[1]]])
    example = {batches.MIXTURES: tf.ensure_shape(cropped[0], [length])}
    if kind == "fuss":
      sources = cropped[1:1 + max_sources]
      sources = tf.pad(sources, [[0, max_sources - tf.shape(sources)[0]], [0, 0]])
      example[batches.SOURCES] = tf.ensure_shape(sources, [max_sources, length])
    if num_classes:
      # Multi-hot; an unlabelled clip (no indices) is all zeros.
      hot = tf.minimum(tf.reduce_sum(tf.one_hot(labels, num_classes), axis=0), 1.0)
      example[batches.LABELS] = tf.ensure_shape(hot, [num_classes])
    return example

  ds = ds.map(load, num_parallel_calls=num_parallel_calls, deterministic=True)
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
