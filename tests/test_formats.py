"""Data formats: a toy format planted here trains and evaluates without editing the library.

The toy format (a NumPy bundle of mixtures and sources) is defined in this
file only, as CONTRIBUTING.md's recipe says; the library's training batches,
evaluator and job sizing reach it through the registry. Expected values come
from the planted arrays and a NumPy SI-SNR, not from the library.
"""

import os

import numpy as np
import pytest

from sound_separation.data import audio
from sound_separation.data import datasets
from sound_separation.data import format_protocol
from sound_separation.data import formats
from sound_separation.data import lists
from sound_separation.data import pipelines
from sound_separation.evaluation import evaluator

RATE = 8000
SAMPLES = 800
NUM_EXAMPLES = 6
NUM_SOURCES = 2


class Bundle(format_protocol.DataFormat):
  """`<name>.bundle.npz`: `mixtures [N, T]`, `sources [N, S, T]`, `rate`."""

  name = "toy_bundle"
  has_sources = True

  def recognises(self, path):
    return os.fspath(path).endswith(".bundle.npz")

  def _load(self, path, sample_rate=None):
    with np.load(path) as bundle:
      arrays = {k: bundle[k] for k in bundle.files}
    if sample_rate is not None and int(arrays["rate"]) != sample_rate:
      raise ValueError(f"'{path}' is at {int(arrays['rate'])} Hz, not {sample_rate}")
    return arrays

  def count(self, path):
    return len(self._load(path)["mixtures"])

  def files(self, path):
    return None

  def examples(self, path, sample_rate):
    arrays = self._load(path, sample_rate)
    for n, (mixture, sources) in enumerate(zip(arrays["mixtures"], arrays["sources"])):
      yield format_protocol.Example(f"{path}#{n}", None, len(sources),
                                    lambda m=mixture, s=sources: (m, s))

  def dataset(self, path, batch_size, *, clip_seconds, sample_rate, shuffle, repeat, seed,
              vocabulary=None, max_sources=lists.MAX_FUSS_SOURCES, on_error="raise",
              skip_counter=None, backend="auto", start_example=0, shard=(1, 0)):
    del vocabulary, backend
    arrays = self._load(path, sample_rate)
    length, _ = audio.clip_samples(clip_seconds, sample_rate)

    def read_item(index, rng):
      rows = np.zeros([1 + max_sources, arrays["mixtures"].shape[1]], np.float32)
      rows[0] = arrays["mixtures"][index]
      rows[1:1 + NUM_SOURCES] = arrays["sources"][index]
      rows, _ = pipelines.crop_or_pad(rows, length, rng)
      return rows[0], rows[1:]

    return pipelines.indexed_dataset(
        len(arrays["mixtures"]), read_item, ["mixtures", "sources"],
        [[length], [max_sources, length]], list_path=path, batch_size=batch_size,
        shuffle=shuffle, repeat=repeat, seed=seed, on_error=on_error,
        skip_counter=skip_counter, start_example=start_example, shard=shard)


@pytest.fixture
def bundle(tmp_path):
  rng = np.random.default_rng(7)
  sources = (0.1 * rng.standard_normal([NUM_EXAMPLES, NUM_SOURCES, SAMPLES])).astype(np.float32)
  mixtures = sources.sum(axis=1)
  path = str(tmp_path / "toy.bundle.npz")
  np.savez(path, mixtures=mixtures, sources=sources, rate=RATE)
  formats.register(Bundle())
  yield path, mixtures, sources
  formats.unregister(Bundle.name)


def _si_snr(estimate, reference):
  scale = np.dot(estimate, reference) / np.dot(reference, reference)
  target = scale * reference
  return 10 * np.log10(np.sum(target ** 2) / np.sum((estimate - target) ** 2))


def test_the_toy_format_is_recognised_and_the_text_lists_still_are(bundle, tmp_path):
  path, _, _ = bundle
  assert formats.detect(path, has_sources=True).name == "toy_bundle"
  assert formats.detect(tmp_path / "list.txt", has_sources=True).name == "fuss"
  assert formats.detect(tmp_path / "x.index.json", has_sources=True).name == "records"
  assert "toy_bundle" in formats.names(has_sources=True)


def test_training_batches_read_the_toy_format_as_mixit_and_as_pit_data(bundle):
  path, mixtures, sources = bundle
  common = dict(clip_seconds=SAMPLES / RATE, sample_rate=RATE)
  batch = next(iter(datasets.validation_dataset(
      batch_size=4, unsupervised_list=path, unsupervised_format="toy_bundle", **common)))
  np.testing.assert_array_equal(batch["mixtures"].numpy(), mixtures[:4])
  assert set(batch) == {"mixtures"}  # MixIT reads mixtures only
  batch = next(iter(datasets.validation_dataset(
      supervised_list=path, supervised_batch_size=2, max_sources=3, **common)))
  np.testing.assert_array_equal(batch["supervised_mixtures"].numpy(), mixtures[:2])
  np.testing.assert_array_equal(batch["supervised_sources"].numpy()[:, :2], sources[:2])
  np.testing.assert_array_equal(batch["supervised_sources"].numpy()[:, 2], 0.0)


def test_an_unknown_format_name_is_refused_with_the_known_ones(bundle):
  path, _, _ = bundle
  with pytest.raises(ValueError, match="unsupervised_format: unknown data format 'nope'.*"
                     "clips, fuss, records, toy_bundle"):
    datasets.training_dataset(batch_size=2, unsupervised_list=path, unsupervised_format="nope")


def test_the_evaluator_scores_the_toy_format_against_a_numpy_si_snr(bundle, tmp_path):
  path, mixtures, sources = bundle
  noise = np.random.default_rng(3).standard_normal(sources.shape).astype(np.float32)
  noisy = sources + 0.05 * noise
  by_mixture = {m.tobytes(): n for n, m in enumerate(mixtures)}

  def separate(mixture):
    return noisy[by_mixture[np.asarray(mixture, np.float32).tobytes()]]

  summary = evaluator.evaluate(separate, path, sample_rate=RATE, out_dir=tmp_path / "eval")
  expected = np.mean([[_si_snr(noisy[n, j], sources[n, j]) - _si_snr(mixtures[n], sources[n, j])
                       for j in range(NUM_SOURCES)] for n in range(NUM_EXAMPLES)])
  assert summary["MSi"] == pytest.approx(expected, abs=0.01)
  assert evaluator.count_examples(path) == NUM_EXAMPLES
  assert evaluator.separated_inputs(path) is None  # not files: no chunk count from headers
  rows = (tmp_path / "eval" / "examples.csv").read_text().splitlines()
  assert len(rows) == 1 + NUM_EXAMPLES and f"{path}#5" in rows[-1]


def test_a_format_without_sources_is_not_offered_for_evaluation():
  assert "clips" not in formats.names(has_sources=True)
  with pytest.raises(ValueError, match="already registered"):
    formats.register(formats.ClipList())
