"""Writing sharded TFRecord corpora (`data.records` reads them).

`write_records` turns a clip list (with weak labels) or a FUSS list (with
sources) into shards of 16-bit PCM at the model's rate plus an index, so a
training run reads a few large files instead of millions of small ones, and
decodes no audio format per example.
"""

import json
import math
import typing

import numpy as np
import tensorflow as tf

from sound_separation import filesystem
from sound_separation.data import audio
from sound_separation.data import examples as examples_lib
from sound_separation.data import lists
from sound_separation.data import records


class RecordsFiles(typing.NamedTuple):
  """What `write_records` wrote."""
  index: str  # <out_prefix>.index.json
  shards: list  # shard paths
  count: int  # examples written


def write_records(list_path, out_prefix, list_format="clips", sample_rate=16000,
                  num_shards=None, examples_per_shard=1000, vocabulary=None,
                  mixture_tolerance=1e-3, progress=None):
  """Writes `<out_prefix>-SSSSS-of-NNNNN.tfrecord` shards and `<out_prefix>.index.json`.

  Examples go to the shards round-robin in list order, so each shard is a
  stride of the list and shard counts differ by at most one.

  Args:
    list_path: a clip list (`list_format='clips'`) or a FUSS list ('fuss').
    out_prefix: path prefix of the shards and index (any filesystem).
    list_format: 'clips' or 'fuss'.
    sample_rate: Hz; audio at other rates is resampled once, here.
    num_shards: default `ceil(examples / examples_per_shard)`.
    vocabulary: clips: None (no labels kept), or class names / a vocabulary
      file; every label must be in it.
    mixture_tolerance: fuss: as `examples.read_fuss_example` checks.
    progress: None or `callable(done, total)`.

  Returns:
    `RecordsFiles(index=..., shards=[...], count=N)`.

  Raises:
    AudioReadError / ExampleError naming the file; ValueError for samples
    beyond 16-bit full scale (naming the file).
  """
  if list_format not in records.FORMATS:
    raise ValueError(f"list_format must be one of {records.FORMATS}, got {list_format!r}")
  sample_rate = audio.check_sample_rate(sample_rate)
  names = None
  if list_format == "clips":
    names = None if vocabulary is None else list(lists.as_vocabulary(vocabulary))
    paths, label_indices = lists.parse_clip_list(list_path, names)
    items = [(p, (), None if label_indices is None else label_indices[i])
             for i, p in enumerate(paths)]
  else:
    if vocabulary is not None:
      raise ValueError("a FUSS list has no labels; vocabulary applies to clip lists")
    items = [(m, s, None) for m, s in lists.read_fuss_list(list_path)]
  total = len(items)
  num_shards = num_shards or max(1, math.ceil(total / examples_per_shard))
  if not 1 <= num_shards <= total:
    raise ValueError(f"num_shards={num_shards} for {total} examples")
  base = filesystem.basename(out_prefix)
  folder = filesystem.dirname(out_prefix)
  filesystem.makedirs(folder)
  shard_names = [records.shard_name(base, s, num_shards) for s in range(num_shards)]
  shard_paths = [filesystem.join(folder, n) for n in shard_names]
  writers = [tf.io.TFRecordWriter(p) for p in shard_paths]
  counts = [0] * num_shards
  max_sources = 0
  try:
    for i, (path, sources, labels) in enumerate(items):
      if list_format == "clips":
        channels = audio.read_audio(path, sample_rate)[np.newaxis]
      else:
        mixture, separated = examples_lib.read_fuss_example(
            path, sources, sample_rate=sample_rate, mixture_tolerance=mixture_tolerance)
        channels = np.concatenate([mixture[np.newaxis], separated])
        max_sources = max(max_sources, len(sources))
      pcm = audio.to_pcm16(channels, name=f"'{path}'")
      writers[i % num_shards].write(records.serialize(
          pcm, () if labels is None else [int(k) for k in labels], path))
      counts[i % num_shards] += 1
      if progress is not None:
        progress(i + 1, total)
  finally:
    for writer in writers:
      writer.close()
  index = {"format": list_format, "sample_rate": sample_rate,
           "shards": [{"name": n, "count": c} for n, c in zip(shard_names, counts)],
           "vocabulary": names, "max_sources": max_sources or None,
           "source_list": str(list_path)}
  index_path = out_prefix + records.INDEX_SUFFIX
  filesystem.write_text(index_path, json.dumps(index, indent=1) + "\n")
  return RecordsFiles(index=index_path, shards=shard_paths, count=total)
