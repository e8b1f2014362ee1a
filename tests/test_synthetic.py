"""Tests of `sound_separation.corpus.synthetic`: generators, examples, corpus files.

Each class property is measured here with NumPy/SciPy on its own terms
(spectral peaks, STFT peak tracks, frame energies, kurtosis), over several
seeds. Clips are 1–2 s at 16 kHz so that the suite stays fast.
"""

import os
import zlib

import numpy as np
import pytest
import scipy.signal
import scipy.stats
import soundfile

from sound_separation.corpus import synthetic
from sound_separation.data import pipelines
from sound_separation.data import lists

RATE = 16000
SEEDS = range(8)
FOREGROUNDS = ("harmonic", "chirp", "noise_burst", "clicks", "texture")


def _generate(name, seed, seconds=1.5, rate=RATE):
  x = synthetic.SOURCE_CLASSES[name](np.random.default_rng(seed), int(seconds * rate), rate)
  assert x.dtype == np.float32 and x.shape == (int(seconds * rate),)
  return x.astype(np.float64)


def _frame_energies(x, frame):
  usable = len(x) // frame * frame
  return np.mean(np.square(x[:usable].reshape(-1, frame)), axis=1)


def _active_part(x):
  nonzero = np.flatnonzero(x)
  return x[nonzero[0]:nonzero[-1] + 1]


def _all_files(folder):
  """{relative path: bytes} of every file under `folder`."""
  files = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, folder)] = f.read()
  return files


# ----------------------------------------------------------------------------
# Generators.


def test_source_classes_are_the_six_named_classes_in_order():
  assert list(synthetic.SOURCE_CLASSES) == [
      "harmonic", "chirp", "noise_burst", "clicks", "texture", "noise_bed"]


@pytest.mark.parametrize("rate", [8000, 16000, 22050])
@pytest.mark.parametrize("name", list(synthetic.SOURCE_CLASSES))
def test_generators_give_finite_float32_peak_one(name, rate):
  for seed in range(3):
    x = synthetic.SOURCE_CLASSES[name](np.random.default_rng(seed), rate, rate)
    assert x.dtype == np.float32 and x.shape == (rate,)
    assert np.all(np.isfinite(x))
    assert np.max(np.abs(x)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", FOREGROUNDS)
def test_foregrounds_are_silent_outside_their_events_at_varying_onsets(name):
  onsets = set()
  for seed in SEEDS:
    x = _generate(name, seed)
    nonzero = np.flatnonzero(x)
    # Exact zeros around the event(s): at least 5 % of the clip is silent.
    assert np.mean(x == 0) > 0.05, f"seed {seed}: {np.mean(x == 0):.3f} silent"
    onsets.add(int(nonzero[0]))
  assert len(onsets) >= 6


def test_generators_are_deterministic_given_the_generator():
  for name, generate in synthetic.SOURCE_CLASSES.items():
    a = generate(np.random.default_rng(7), RATE, RATE)
    b = generate(np.random.default_rng(7), RATE, RATE)
    c = generate(np.random.default_rng(8), RATE, RATE)
    np.testing.assert_array_equal(a, b, err_msg=name)
    assert not np.array_equal(a, c), name


@pytest.mark.parametrize("seed", SEEDS)
def test_harmonic_peaks_sit_at_integer_multiples_of_a_common_f0(seed):
  x = _generate("harmonic", seed)
  f, _, z = scipy.signal.stft(x, RATE, nperseg=1024, noverlap=768, nfft=8192,
                              boundary=None, padded=False)
  spectrum = np.abs(z[:, np.argmax(np.sum(np.abs(z) ** 2, axis=0))])
  # Harmonics are at least 100 Hz apart; peaks within 25 dB of the strongest.
  peaks, _ = scipy.signal.find_peaks(spectrum, height=spectrum.max() * 10 ** (-25 / 20),
                                     distance=int(70 / f[1]))
  p = f[peaks]
  assert len(p) >= 3, f"only {len(p)} peaks at {p}"
  k = np.round(p / p.min())
  f0 = np.sum(p * k) / np.sum(k * k)  # least-squares common f0
  assert 90 <= f0 <= 850
  np.testing.assert_array_less(np.abs(p / (k * f0) - 1), 0.02)
  assert len(np.unique(k)) == len(k)


@pytest.mark.parametrize("seed", SEEDS)
def test_chirp_peak_frequency_is_monotonic_within_each_sweep(seed):
  x = _generate("chirp", seed, seconds=2.0)
  f, _, z = scipy.signal.stft(x, RATE, nperseg=512, noverlap=384, boundary=None, padded=False)
  energy = np.sum(np.abs(z) ** 2, axis=0)
  track = f[np.argmax(np.abs(z), axis=0)]
  active = np.flatnonzero(energy > energy.max() * 1e-3)
  runs = [r for r in np.split(active, np.flatnonzero(np.diff(active) > 1) + 1) if len(r) >= 3]
  assert 1 <= len(runs) <= 3
  directions = set()
  for run in runs:
    direction = np.sign(track[run[-1]] - track[run[0]])
    # A sweep covers at least an octave from 150 Hz: well over 100 Hz.
    assert abs(track[run[-1]] - track[run[0]]) > 100
    # No step back by more than one bin along the sweep.
    assert np.min(np.diff(track[run]) * direction) >= -f[1]
    directions.add(direction)
  assert len(directions) == 1, "sweeps of one clip all go the same way"


def test_chirp_directions_vary_across_clips():
  directions = set()
  for seed in range(12):
    x = _generate("chirp", seed)
    f, _, z = scipy.signal.stft(x, RATE, nperseg=512, boundary=None, padded=False)
    energy = np.sum(np.abs(z) ** 2, axis=0)
    active = np.flatnonzero(energy > energy.max() * 1e-3)
    track = f[np.argmax(np.abs(z), axis=0)]
    directions.add(np.sign(track[active[1]] - track[active[0]]) or
                   np.sign(track[active[-1]] - track[active[-2]]))
  assert {-1.0, 1.0} <= directions


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_burst_is_short(seed):
  x = _generate("noise_burst", seed)
  energies = _frame_energies(x, RATE // 100)
  active = energies > energies.max() * 1e-4
  assert 0 < np.mean(active) < 0.3
  # Sharp attack: the first two active 10 ms frames are already within 7 dB of
  # the loudest frame that follows (a 50 ms fade-in would start far below).
  first = np.flatnonzero(active)[0]
  assert energies[first:first + 2].max() > energies[first:first + 10].max() * 0.2


@pytest.mark.parametrize("seed", SEEDS)
def test_clicks_concentrate_energy_in_few_samples(seed):
  x = _generate("clicks", seed)
  active = _active_part(x)
  power = np.sort(np.square(x))[::-1]
  # 90 % of the energy in under 3 % of the samples (noise needs about 60 %).
  holding = np.searchsorted(np.cumsum(power), 0.9 * power.sum()) + 1
  assert holding / len(x) < 0.03
  # Gaussian noise has kurtosis 3, a sinusoid 1.5.
  assert scipy.stats.kurtosis(active, fisher=False) > 20
  assert np.max(np.abs(active)) / np.sqrt(np.mean(active ** 2)) > 8


def _modulation_fraction(x, frame_seconds=0.01):
  """Share of the RMS envelope's variance at 1–10 Hz modulation rates."""
  frame = int(frame_seconds * RATE)
  envelope = np.sqrt(_frame_energies(_active_part(x), frame))[10:-10]  # skip fades
  envelope = envelope - envelope.mean()
  power = np.abs(np.fft.rfft(envelope * np.hanning(len(envelope)))) ** 2
  rates = np.fft.rfftfreq(len(envelope), frame_seconds)
  return power[(rates >= 1) & (rates <= 10)].sum() / power[rates > 0].sum()


@pytest.mark.parametrize("seed", SEEDS)
def test_texture_is_amplitude_modulated(seed):
  x = _generate("texture", seed, seconds=2.0)
  envelope = np.sqrt(_frame_energies(_active_part(x), RATE // 20))[2:-2]
  assert envelope.max() / envelope.min() > 1.5
  assert envelope.std() / envelope.mean() > 0.15
  assert _modulation_fraction(x) > 0.35


def test_modulation_measure_rejects_stationary_noise():
  # The measure above would pass an unmodulated texture only by chance.
  for seed in range(4):
    assert _modulation_fraction(_generate("noise_bed", seed, seconds=2.0)) < 0.3


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_bed_is_stationary_and_never_silent(seed):
  x = _generate("noise_bed", seed)
  energies = _frame_energies(x, RATE // 10)
  assert energies.std() / energies.mean() < 0.3
  assert energies.min() > 0.5 * np.median(energies)
  # No silent stretch anywhere: every 10 ms frame carries energy.
  assert np.min(_frame_energies(x, RATE // 100)) > 0.05 * np.mean(x ** 2)
  assert abs(np.mean(x)) < 0.05 * np.std(x)  # no DC offset


# ----------------------------------------------------------------------------
# Examples.


def test_examples_have_one_background_and_zero_to_three_foregrounds():
  counts = []
  for seed in range(40):
    mixture, sources, classes = synthetic.synthesize_example(
        np.random.default_rng(seed), clip_seconds=1.0, sample_rate=RATE)
    assert mixture.dtype == np.float32 and mixture.shape == (RATE,)
    assert sources.dtype == np.float32 and sources.shape == (len(classes), RATE)
    assert classes[0] == "noise_bed" and classes.count("noise_bed") == 1
    assert set(classes[1:]) <= set(FOREGROUNDS)
    assert len(set(classes)) == len(classes)
    assert np.all(np.isfinite(sources)) and np.all(np.isfinite(mixture))
    assert np.max(np.abs(mixture)) < 0.9 and np.max(np.abs(sources)) < 0.9
    assert np.max(np.abs(mixture - sources.astype(np.float64).sum(axis=0))) < 1e-6
    assert np.all(np.max(np.abs(sources), axis=1) > 0)
    counts.append(len(classes) - 1)
  assert set(counts) == {0, 1, 2, 3}


def _active_rms_db(x, frame=RATE // 50):
  energies = _frame_energies(x, frame)
  return 10 * np.log10(np.mean(energies[energies >= energies.max() * 1e-4]))


def test_foreground_levels_relative_to_background():
  relative = []
  for seed in range(20):
    _, sources, classes = synthetic.synthesize_example(
        np.random.default_rng(seed), clip_seconds=1.0, sample_rate=RATE)
    background = _active_rms_db(sources[0].astype(np.float64))
    relative += [_active_rms_db(s.astype(np.float64)) - background for s in sources[1:]]
  relative = np.array(relative)
  assert len(relative) >= 20
  assert np.all(relative > -5.5) and np.all(relative < 10.5)
  assert relative.min() < 0 < relative.max()


def test_max_foreground_bounds_the_count():
  for seed in range(10):
    _, sources, classes = synthetic.synthesize_example(
        np.random.default_rng(seed), clip_seconds=1.0, max_foreground=0)
    assert classes == ["noise_bed"] and sources.shape[0] == 1
  counts = {len(synthetic.synthesize_example(np.random.default_rng(s), 1.0, 8000, 5)[2])
            for s in range(40)}
  assert max(counts) > 4 and min(counts) >= 1


def test_ten_second_clips():
  mixture, sources, _ = synthetic.synthesize_example(np.random.default_rng(3))
  assert mixture.shape == (160000,) and sources.shape[1] == 160000


@pytest.mark.parametrize("kwargs, name", [
    (dict(clip_seconds=0.1), "clip_seconds"),
    (dict(clip_seconds=float("nan")), "clip_seconds"),
    (dict(sample_rate=4000), "sample_rate"),
    (dict(sample_rate=16000.0), "sample_rate"),
    (dict(max_foreground=-1), "max_foreground"),
    (dict(max_foreground=6), "max_foreground"),
])
def test_synthesize_example_validates_arguments(kwargs, name):
  with pytest.raises(ValueError, match=name):
    synthetic.synthesize_example(np.random.default_rng(0), **kwargs)
  with pytest.raises(ValueError, match="rng"):
    synthetic.synthesize_example(0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(split=""), "split"),
    (dict(split="a/b"), "split"),
    (dict(num_clips=0), "num_clips"),
    (dict(num_clips=2.0), "num_clips"),
    (dict(seed=-1), "seed"),
    (dict(max_foreground=4), "max_foreground"),
    (dict(clip_seconds=0), "clip_seconds"),
    (dict(sample_rate=0), "sample_rate"),
])
def test_write_corpus_validates_arguments(tmp_path, kwargs, name):
  args = dict(out_dir=tmp_path, split="train", num_clips=1, clip_seconds=1.0)
  args.update(kwargs)
  with pytest.raises(ValueError, match=name):
    synthetic.write_corpus(**args)
  assert not os.listdir(tmp_path)


# ----------------------------------------------------------------------------
# Corpus files.


def test_write_corpus_is_deterministic(tmp_path):
  args = dict(split="train", clip_seconds=1.0, sample_rate=RATE)
  synthetic.write_corpus(tmp_path / "a", num_clips=3, seed=5, **args)
  synthetic.write_corpus(tmp_path / "b", num_clips=3, seed=5, **args)
  a = _all_files(tmp_path / "a")
  assert a == _all_files(tmp_path / "b")
  assert len([p for p in a if p.endswith("mixture.wav")]) == 3

  # Example i does not depend on num_clips.
  synthetic.write_corpus(tmp_path / "c", num_clips=5, seed=5, **args)
  c = _all_files(tmp_path / "c")
  assert {p: c[p] for p in a if p.endswith(".wav")} == {p: a[p] for p in a if p.endswith(".wav")}
  assert len([p for p in c if p.endswith("mixture.wav")]) == 5

  # Another seed or another split gives other audio.
  synthetic.write_corpus(tmp_path / "d", num_clips=3, seed=6, **args)
  d = _all_files(tmp_path / "d")
  synthetic.write_corpus(tmp_path / "a", split="validation", num_clips=3, seed=5,
                         clip_seconds=1.0, sample_rate=RATE)
  mixture = os.path.join("{}", "example{:05d}", "mixture.wav")
  for i in range(3):
    assert d[mixture.format("train", i)] != a[mixture.format("train", i)]
    with open(tmp_path / "a" / mixture.format("validation", i), "rb") as f:
      assert f.read() != a[mixture.format("train", i)]


def test_written_corpus_loads_with_the_datasets_module(tmp_path):
  files = synthetic.write_corpus(tmp_path, "train", 6, clip_seconds=1.0, sample_rate=RATE,
                                 seed=3)
  assert files.clip_list == os.path.join(str(tmp_path), "train_clip_list.txt")
  assert files.fuss_list == os.path.join(str(tmp_path), "train_example_list.txt")
  assert files.vocabulary == os.path.join(str(tmp_path), "labels.txt")
  vocabulary = lists.read_label_vocabulary(files.vocabulary)
  assert vocabulary == list(synthetic.SOURCE_CLASSES)

  paths, labels = lists.read_clip_list(files.clip_list, vocabulary=files.vocabulary)
  examples = lists.read_fuss_list(files.fuss_list)
  assert len(paths) == len(examples) == 6 and labels.shape == (6, len(vocabulary))
  for i, (path, (mixture_path, source_paths)) in enumerate(zip(paths, examples)):
    assert path == mixture_path
    # The documented seeding: example i from SeedSequence([seed, crc32(split), i]).
    rng = np.random.default_rng(np.random.SeedSequence([3, zlib.crc32(b"train"), i]))
    mixture, sources, classes = synthetic.synthesize_example(rng, 1.0, RATE)
    expected = np.zeros(len(vocabulary), np.float32)
    expected[[vocabulary.index(c) for c in classes]] = 1
    np.testing.assert_array_equal(labels[i], expected)
    assert labels[i, vocabulary.index("noise_bed")] == 1
    assert len(source_paths) == len(classes)
    for source_path, name in zip(source_paths, classes):
      assert os.path.basename(source_path).endswith(f"_{name}.wav")
    written, rate = soundfile.read(mixture_path, dtype="float64")
    assert rate == RATE
    # 16-bit PCM: each source within half a quantisation step of its
    # synthesised self, and the mixture file the exact sum of the source files.
    written_sources = np.stack([soundfile.read(p, dtype="float64")[0] for p in source_paths])
    np.testing.assert_allclose(written_sources, sources, rtol=0, atol=2 ** -16)
    np.testing.assert_array_equal(written, written_sources.sum(axis=0))
    np.testing.assert_allclose(written, mixture, rtol=0, atol=len(sources) * 2 ** -16 + 1e-7)

  ds = pipelines.fuss_dataset(files.fuss_list, batch_size=2, clip_seconds=1.0,
                             sample_rate=RATE, shuffle=False, repeat=False)
  batches = [{k: v.numpy() for k, v in b.items()} for b in ds]
  assert len(batches) == 3
  for batch in batches:
    assert batch["mixtures"].shape == (2, RATE)
    assert batch["sources"].shape == (2, lists.MAX_FUSS_SOURCES, RATE)
    np.testing.assert_allclose(batch["sources"].sum(axis=1), batch["mixtures"], atol=1e-3)
