"""Sharded TFRecord corpora: the format, its index, and the tf.data reader.

A corpus of records is a set of TFRecord shards and a JSON index beside
them (`<prefix>.index.json`, written by `corpus.records.write_records`):

    {"format": "clips" | "fuss", "sample_rate": 16000,
     "shards": [{"name": "<prefix>-00000-of-00004.tfrecord", "count": 180}, ...],
     "vocabulary": [class names] | null, "max_sources": 4}

Each record is a `tf.train.Example` of one example:

- `audio`: bytes, 16-bit little-endian PCM at `sample_rate`, channel-major:
  a clip's samples `[T]`, or a FUSS example's mixture then its sources
  `[1 + S, T]`;
- `num_channels` (1 or 1 + S) and `num_samples` (T): int64;
- `labels`: int64 class indices into the vocabulary (clips; may be empty);
- `path`: the example's source file, for error messages.

Reading needs no Python per example (`tf.io.parse_single_example`,
`tf.io.decode_raw`), so one core delivers far more clips per second than the
list path's file decoding (docs/benchmarks.md#input-pipeline).
"""

import json

import numpy as np
import tensorflow as tf

from sound_separation import filesystem

INDEX_SUFFIX = ".index.json"
FORMATS = ("clips", "fuss")
PCM16_FULL_SCALE = 32768.0

FEATURES = {
    "audio": tf.io.FixedLenFeature([], tf.string),
    "num_channels": tf.io.FixedLenFeature([], tf.int64),
    "num_samples": tf.io.FixedLenFeature([], tf.int64),
    "labels": tf.io.VarLenFeature(tf.int64),
    "path": tf.io.FixedLenFeature([], tf.string),
}


def shard_name(prefix, shard, num_shards):
  return f"{prefix}-{shard:05d}-of-{num_shards:05d}.tfrecord"


def is_index(path):
  return str(path).endswith(INDEX_SUFFIX)


def read_index(path):
  """The index of a records corpus, its shard names resolved to paths.

  Raises:
    ValueError: naming the file, for an index that is not one.
  """
  path = str(path)
  try:
    index = json.loads(filesystem.read_text(path))
    if index["format"] not in FORMATS or not index["shards"]:
      raise ValueError(f"format {index['format']!r} or no shards")
    shards = [filesystem.resolve(path, s["name"]) for s in index["shards"]]
    counts = [int(s["count"]) for s in index["shards"]]
    sample_rate = int(index["sample_rate"])
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ValueError(f"'{path}' is not a records index ({type(e).__name__}: {e})") from e
  return {**index, "shard_paths": shards, "counts": counts, "sample_rate": sample_rate}


def serialize(pcm16, labels=(), path=""):
  """One record: `pcm16` int16 `[C, T]` (or `[T]`), label indices, source path."""
  pcm16 = np.asarray(pcm16)
  if pcm16.dtype != np.int16:
    raise TypeError(f"records hold int16 PCM, got {pcm16.dtype}")
  if pcm16.ndim == 1:
    pcm16 = pcm16[np.newaxis]
  feature = {
      "audio": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[pcm16.astype("<i2").tobytes()])),
      "num_channels": tf.train.Feature(int64_list=tf.train.Int64List(value=[pcm16.shape[0]])),
      "num_samples": tf.train.Feature(int64_list=tf.train.Int64List(value=[pcm16.shape[1]])),
      "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=list(labels))),
      "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(path).encode()])),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse(serialized, shard, position):
  """`(waveforms float32 [C, T], labels int64 [n], path)` of one record.

  A record whose sizes disagree with its bytes is an InvalidArgumentError
  naming the shard, the record's position in it and its source path.
  """
  example = tf.io.parse_single_example(serialized, FEATURES)
  samples = tf.io.decode_raw(example["audio"], tf.int16, little_endian=True)
  channels, length = example["num_channels"], example["num_samples"]
  size = tf.size(samples, tf.int64)
  message = tf.strings.join([
      "bad record ", tf.strings.as_string(position), " of shard ", shard, " (",
      example["path"], "): ", tf.strings.as_string(size), " samples for ",
      tf.strings.as_string(channels), " channels x ", tf.strings.as_string(length)])
  check = tf.debugging.Assert(tf.equal(size, channels * length), [message])
  with tf.control_dependencies([check]):
    waveforms = tf.reshape(tf.cast(samples, tf.float32) / PCM16_FULL_SCALE,
                           tf.stack([channels, length]))
  return waveforms, tf.sparse.to_dense(example["labels"]), example["path"]


def examples(index):
  """Yields `(waveforms float32 [C, T], label indices, source path)` of every record, in order.

  `index`: the index's path, or what `read_index` returned. Eager iteration
  for evaluation and checks; training reads through `pipelines.records_dataset`.
  """
  if not isinstance(index, dict):
    index = read_index(index)
  for shard in index["shard_paths"]:
    for position, serialized in tf.data.TFRecordDataset(shard).enumerate():
      waveforms, labels, path = parse(serialized, shard, position)
      yield waveforms.numpy(), labels.numpy(), path.numpy().decode()
