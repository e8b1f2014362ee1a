"""Sharded TFRecord corpora: writer -> reader gives what the list path gives."""

import io
import json

import numpy as np
import pytest
import tensorflow as tf

from sound_separation import filesystem
from sound_separation.corpus import records as writer
from sound_separation.data import audio
from sound_separation.data import datasets
from sound_separation.data import pipelines
from sound_separation.data import lists
from sound_separation.data import records
from sound_separation.evaluation import evaluator

RATE = 8000
VOCABULARY = ["dog", "rain", "speech"]


def _pcm_wav(path, rng, num_samples, channels=1):
  """A 16-bit wav at RATE whose read-back values records store exactly."""
  x = audio.to_pcm16(0.3 * rng.uniform(-1, 1, (channels, num_samples)))
  audio.write_audio(path, x[0], RATE)
  return x[0]


def _clip_corpus(root, rng, count=7):
  clips = []
  for i in range(count):
    path = filesystem.join(root, f"clip{i}.wav")
    _pcm_wav(path, rng, 1200 + 100 * i)  # lengths differ: crops and pads
    clips.append((path, [VOCABULARY[i % 3]] + (["speech"] if i == 4 else [])))
  return lists.write_clip_list(filesystem.join(root, "clips.txt"), clips, VOCABULARY)


def _fuss_corpus(root, rng, count=6):
  examples = []
  for i in range(count):
    folder = filesystem.join(root, f"ex{i}")
    filesystem.makedirs(folder)
    num_sources = 1 + i % 3
    sources = audio.to_pcm16(0.2 * rng.uniform(-1, 1, (num_sources, 1500)))
    paths = []
    for j, source in enumerate(sources):
      paths.append(filesystem.join(folder, f"s{j}.wav"))
      audio.write_audio(paths[-1], source, RATE)
    mixture = filesystem.join(folder, "mix.wav")
    audio.write_audio(mixture, sources.astype(np.int32).sum(0).astype(np.int16), RATE)
    examples.append((mixture, paths))
  return lists.write_fuss_list(filesystem.join(root, "fuss.txt"), examples)


def _batches(ds):
  return [{k: v.numpy() for k, v in b.items()} for b in ds]


def test_clip_records_round_trip_equals_the_list_path(tmp_path):
  clip_list = _clip_corpus(str(tmp_path), np.random.default_rng(0))
  files = writer.write_records(clip_list, str(tmp_path / "rec" / "clips"), "clips",
                               sample_rate=RATE, num_shards=3, vocabulary=VOCABULARY)
  index = json.loads(filesystem.read_text(files.index))
  assert [s["count"] for s in index["shards"]] == [3, 2, 2]
  assert index["vocabulary"] == VOCABULARY and index["sample_rate"] == RATE
  # Every record: the samples read_audio gives, the labels of the list.
  paths, labels = lists.read_clip_list(clip_list, VOCABULARY)
  got = {path: (w, l) for w, l, path in records.examples(files.index)}
  assert sorted(got) == sorted(paths)
  for path, hot in zip(paths, labels):
    waveforms, indices = got[path]
    np.testing.assert_array_equal(waveforms[0], audio.read_audio(path, RATE))
    assert sorted(indices) == list(np.flatnonzero(hot))
  # The pipelines, in order (round-robin shards interleaved give list order).
  want = _batches(pipelines.clip_dataset(clip_list, 2, clip_seconds=0.16, sample_rate=RATE,
                                        shuffle=False, repeat=False, vocabulary=VOCABULARY))
  have = _batches(pipelines.records_dataset(files.index, 2, clip_seconds=0.16, sample_rate=RATE,
                                           shuffle=False, repeat=False, vocabulary=True))
  assert len(have) == len(want) == 3
  for h, w in zip(have, want):
    assert set(h) == set(w) == {"mixtures", "labels"}
    np.testing.assert_array_equal(h["mixtures"], w["mixtures"])
    np.testing.assert_array_equal(h["labels"], w["labels"])


def test_fuss_records_round_trip_training_and_evaluation(tmp_path):
  fuss_list = _fuss_corpus(str(tmp_path), np.random.default_rng(1))
  files = writer.write_records(fuss_list, str(tmp_path / "fuss"), "fuss", sample_rate=RATE,
                               num_shards=2)
  want = _batches(pipelines.fuss_dataset(fuss_list, 3, clip_seconds=0.2, sample_rate=RATE,
                                        shuffle=False, repeat=False))
  have = _batches(pipelines.records_dataset(files.index, 3, clip_seconds=0.2, sample_rate=RATE,
                                           shuffle=False, repeat=False))
  assert len(have) == len(want) == 2
  for h, w in zip(have, want):
    np.testing.assert_array_equal(h["mixtures"], w["mixtures"])
    np.testing.assert_array_equal(h["sources"], w["sources"])
  # training_dataset reads records as the supervised part, too.
  batch = next(iter(datasets.training_dataset(
      supervised_list=files.index, supervised_batch_size=2, clip_seconds=0.2,
      sample_rate=RATE, shuffle=False)))
  np.testing.assert_array_equal(batch["supervised_sources"].numpy(), want[0]["sources"][:2])

  def separate_fn(waveform):
    return np.stack([0.25 * waveform] * 4)
  from_list = evaluator.evaluate(separate_fn, fuss_list, "fuss", RATE, stream=io.StringIO())
  from_records = evaluator.evaluate(separate_fn, files.index, "fuss", RATE,
                                    stream=io.StringIO())
  assert from_records["num_examples"] == from_list["num_examples"] == 6
  for key in ("MSi", "1S", "TRF"):
    assert from_records[key] == pytest.approx(from_list[key], abs=1e-9, nan_ok=True)


def test_shuffled_records_are_deterministic_for_a_seed(tmp_path):
  clip_list = _clip_corpus(str(tmp_path), np.random.default_rng(2), count=12)
  files = writer.write_records(clip_list, str(tmp_path / "c"), "clips", sample_rate=RATE,
                               num_shards=4)

  def first(seed):
    ds = pipelines.records_dataset(files.index, 4, clip_seconds=0.1, sample_rate=RATE, seed=seed)
    return np.concatenate([b["mixtures"] for b in _batches(ds.take(6))])

  np.testing.assert_array_equal(first(5), first(5))
  assert not np.array_equal(first(5), first(6))


def test_a_bad_record_is_named_by_shard_and_position(tmp_path):
  clip_list = _clip_corpus(str(tmp_path), np.random.default_rng(3), count=2)
  files = writer.write_records(clip_list, str(tmp_path / "r"), "clips", sample_rate=RATE,
                               num_shards=1)
  bad = records.serialize(np.zeros((1, 10), np.int16), (), "bad.wav")
  example = tf.train.Example.FromString(bad)
  example.features.feature["num_samples"].int64_list.value[0] = 99
  with tf.io.TFRecordWriter(files.shards[0]) as w:  # rewritten: a good record, then the bad
    w.write(records.serialize(np.zeros((1, 800), np.int16), (), "good.wav"))
    w.write(example.SerializeToString())
  ds = pipelines.records_dataset(files.index, 1, clip_seconds=0.1, sample_rate=RATE,
                                shuffle=False, repeat=False)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"bad record 1 of shard [^ ]*r-00000-of-00001.tfrecord \(bad.wav\): "
                           r"10 samples for 1 channels x 99"):
    _batches(ds)


def test_writer_errors_name_the_problem(tmp_path):
  clip_list = _clip_corpus(str(tmp_path), np.random.default_rng(4), count=2)
  with pytest.raises(ValueError, match="num_shards=3 for 2 examples"):
    writer.write_records(clip_list, str(tmp_path / "x"), "clips", sample_rate=RATE, num_shards=3)
  loud = str(tmp_path / "loud.wav")
  audio.write_audio(loud, np.full(100, 1.5, np.float32), RATE, subtype="FLOAT")
  lists.write_clip_list(str(tmp_path / "loud.txt"), [(loud, None)])
  with pytest.raises(ValueError, match="loud.wav.*beyond 16-bit"):
    writer.write_records(str(tmp_path / "loud.txt"), str(tmp_path / "y"), "clips",
                         sample_rate=RATE)
  files = writer.write_records(clip_list, str(tmp_path / "z"), "clips", sample_rate=RATE)
  with pytest.raises(ValueError, match="holds audio at 8000 Hz, not sample_rate=16000"):
    pipelines.records_dataset(files.index, 1, sample_rate=16000)


def test_prepare_records(tmp_path, capsys):
  from sound_separation import prepare  # pylint: disable=import-outside-toplevel
  clip_list = _clip_corpus(str(tmp_path), np.random.default_rng(5), count=3)
  vocabulary = str(tmp_path / "labels.txt")
  lists.write_label_vocabulary(vocabulary, VOCABULARY)
  assert prepare.run("records", ["--clip_list", clip_list, "--vocabulary", vocabulary,
                            "--out_prefix", str(tmp_path / "out" / "train"),
                            "--sample_rate", str(RATE), "--num_shards", "2"]) == 0
  assert "3 examples in 2 shards" in capsys.readouterr().out
  assert sorted(filesystem.listdir(str(tmp_path / "out"))) == [
      "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord", "train.index.json"]
  assert prepare.run("records", ["--clip_list", str(tmp_path / "missing.txt"),
                            "--out_prefix", str(tmp_path / "o2")]) == 1
