"""A procedural, deterministic "in-the-wild-like" corpus that needs no download.

Clips are built like FUSS: one stationary background (`noise_bed`) plus 0 to
`max_foreground` foreground events, each foreground of a different class,
drawn from simple signal models. The corpus is meant for demos and smoke
tests of MixIT training on a fresh machine, not as a benchmark.

Source classes (`SOURCE_CLASSES`, in vocabulary order):

- `harmonic`: one note, f0 100–800 Hz with harmonics of decaying amplitude,
  4–7 Hz vibrato of 0.5–3 %, attack/decay envelope, on for part of the clip.
- `chirp`: 1–3 pure-tone sweeps (all up or all down, linear or exponential
  in frequency, at least an octave), separated by silent gaps.
- `noise_burst`: 1–4 short band-pass noise bursts with a 1–3 ms attack and an
  exponential decay; at most about a fifth of the clip is active.
- `clicks`: a periodic or Poisson train of very short damped resonances.
- `texture`: an amplitude-modulated texture, either a few inharmonic FM
  partials or band-pass noise, with 1.5–8 Hz amplitude modulation.
- `noise_bed`: stationary coloured band-pass noise over the whole clip.

Every generator is `(rng, num_samples, sample_rate) -> float32 [num_samples]`
with randomised parameters, peak-normalised to 1; foregrounds are silent
outside their events. Levels are set by `synthesize_example`.

On disk (`write_corpus`), the corpus layout of `sound_separation.corpus.layout`
for a split such as 'train': `labels.txt`, `train_clip_list.txt`,
`train_example_list.txt`, and `train/example00000/mixture.wav` with
`source0_noise_bed.wav`, `source1_<class>.wav`, ...; the mixture file is the
exact sum of its 16-bit source files. Example i of a split is drawn from its
own generator, seeded by `(seed, crc32(split), i)`: it does not depend on
`num_clips`, and two splits do not share examples.
"""

import math
import numbers

import numpy as np
import scipy.signal

from sound_separation.corpus import layout
from sound_separation.corpus import mixing
from sound_separation.data import audio

BACKGROUND_CLASS = "noise_bed"
# Lowest supported rate: the harmonic and sweep ranges need a few kHz of band.
MIN_SAMPLE_RATE = 8000
# Shortest supported clip: the events' minimal durations and gaps fit in it.
MIN_CLIP_SECONDS = 0.5
MAX_LISTED_FOREGROUND = mixing.MAX_FOREGROUND

# Foreground level relative to the background (dB, active RMS ratio) and
# peak level of the loudest of the mixture and its sources (dBFS).
FOREGROUND_DB_RANGE = (-5.0, 10.0)
PEAK_DBFS_RANGE = mixing.PEAK_DBFS_RANGE


# ----------------------------------------------------------------------------
# Helpers shared by the generators. Times are in samples unless named
# `*_seconds`; frequencies in Hz.


def _log_uniform(rng, low, high, size=None):
  return np.exp(rng.uniform(math.log(low), math.log(high), size))


def _nyquist_cap(sample_rate):
  # Keep partials clear of the band edge, where nothing is left to alias.
  return 0.45 * sample_rate


def _event_seconds(rng, clip_seconds, low, high, max_fraction):
  """A duration uniform in `[low, high]` seconds, both capped to `max_fraction` of the clip."""
  high = min(high, max_fraction * clip_seconds)
  low = min(low, 0.5 * high)
  return rng.uniform(low, high)


def _place(event, onset, num_samples):
  """`[num_samples]` zeros with `event` starting at sample `onset` (truncated at the end)."""
  out = np.zeros([num_samples], np.float64)
  stop = min(num_samples, onset + event.shape[0])
  out[onset:stop] = event[:stop - onset]
  return out


def _random_onset(rng, length, num_samples):
  return int(rng.integers(0, max(0, num_samples - length) + 1))


def _ramps(length, attack, release):
  """Raised-cosine attack and release over `[length]`, 1 in between.

  Ramps longer than the event are shortened so that they do not overlap.
  """
  attack = int(min(attack, length // 2))
  release = int(min(release, length - attack))
  env = np.ones([length], np.float64)
  if attack > 0:
    env[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
  if release > 0:
    env[length - release:] = 0.5 + 0.5 * np.cos(np.pi * (np.arange(release) + 1) / release)
  return env


def _band_pass(noise, sample_rate, low, high, order):
  """Causal Butterworth band-pass of `noise` (second-order sections, stable at any order)."""
  sos = scipy.signal.butter(order, [low, high], btype="bandpass", fs=sample_rate,
                            output="sos")
  return scipy.signal.sosfilt(sos, noise)


def _random_band(rng, sample_rate, low_range=(200.0, 4000.0), octaves=(0.5, 2.0)):
  """`(low, high)` band edges: a log-uniform centre and a width in octaves."""
  cap = _nyquist_cap(sample_rate)
  width = rng.uniform(*octaves)
  centre = _log_uniform(rng, low_range[0], min(low_range[1], cap / 2 ** (width / 2)))
  low = centre / 2 ** (width / 2)
  high = min(centre * 2 ** (width / 2), cap)
  return low, high


def _peak_normalise(x):
  peak = np.max(np.abs(x))
  if peak > 0:
    x = x / peak
  return x.astype(np.float32)


# ----------------------------------------------------------------------------
# Source generators: (rng, num_samples, sample_rate) -> float32 [num_samples].


def harmonic(rng, num_samples, sample_rate):
  """One harmonic note with vibrato and an attack/decay envelope.

  f0 is log-uniform in 100–800 Hz; 3–10 harmonics (fewer when they would pass
  0.45 · sample_rate) with amplitudes k^-p, p in 0.5–1.5, each jittered by up
  to ±3 dB; vibrato 4–7 Hz with a depth of 0.5–3 % of the frequency. The
  note lasts 0.3–3 s (at most 80 % of the clip) at a random onset: a 5–80 ms
  attack, an exponential decay, and a 20–100 ms release.

  Returns:
    float32 `[num_samples]`, peak 1, zero outside the note.
  """
  clip_seconds = num_samples / sample_rate
  length = int(_event_seconds(rng, clip_seconds, 0.3, 3.0, 0.8) * sample_rate)
  f0 = _log_uniform(rng, 100.0, 800.0)
  depth = rng.uniform(0.005, 0.03)
  rate = rng.uniform(4.0, 7.0)
  max_harmonics = max(1, int(_nyquist_cap(sample_rate) // (f0 * (1 + depth))))
  count = min(int(rng.integers(3, 11)), max_harmonics)
  k = np.arange(1, count + 1, dtype=np.float64)
  amplitudes = k ** -rng.uniform(0.5, 1.5) * 10 ** (rng.uniform(-3, 3, count) / 20)
  phases0 = rng.uniform(0, 2 * np.pi, count)

  t = np.arange(length) / sample_rate
  frequency = f0 * (1 + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))
  phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
  # [count, length]: every harmonic follows the fundamental's phase.
  note = amplitudes @ np.sin(k[:, None] * phase[None, :] + phases0[:, None])

  decay_seconds = rng.uniform(0.3, 2.0) * length / sample_rate
  env = np.exp(-t / decay_seconds) * _ramps(
      length, rng.uniform(0.005, 0.08) * sample_rate, rng.uniform(0.02, 0.1) * sample_rate)
  return _peak_normalise(_place(note * env, _random_onset(rng, length, num_samples),
                                num_samples))


def chirp(rng, num_samples, sample_rate):
  """1–3 pure-tone frequency sweeps separated by silence.

  The clip span holding the sweeps starts at a random onset; it is split into
  equal slots, one sweep in each, so that sweeps never overlap and at least
  60 ms of silence separate them. All sweeps of a clip go the same way (up
  or down) with the same law (linear or exponential), each over at least an
  octave inside 150 Hz–min(6 kHz, 0.45 · sample_rate), lasting 0.15–1.5 s.

  Returns:
    float32 `[num_samples]`, peak 1, zero outside the sweeps.
  """
  count = int(rng.integers(1, 4))
  up = bool(rng.integers(2))
  exponential = bool(rng.integers(2))
  span = int(rng.uniform(0.5, 0.9) * num_samples)
  span_onset = _random_onset(rng, span, num_samples)
  slot = span // count
  gap = int(0.06 * sample_rate)
  f_max = min(6000.0, _nyquist_cap(sample_rate))
  out = np.zeros([num_samples], np.float64)
  for i in range(count):
    longest = min(1.5, (slot - gap) / sample_rate)
    length = max(1, int(rng.uniform(min(0.15, 0.5 * longest), longest) * sample_rate))
    low = _log_uniform(rng, 150.0, f_max / 2)
    high = _log_uniform(rng, 2 * low, f_max)
    start, stop = (low, high) if up else (high, low)
    fraction = np.arange(length) / length
    if exponential:
      frequency = start * (stop / start) ** fraction
    else:
      frequency = start + (stop - start) * fraction
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate + rng.uniform(0, 2 * np.pi)
    ramp = 0.01 * sample_rate
    sweep = np.sin(phase) * _ramps(length, ramp, ramp) * rng.uniform(0.5, 1.0)
    onset = span_onset + i * slot + int(rng.integers(0, slot - length - gap + 1))
    out[onset:onset + length] = sweep
  return _peak_normalise(out)


def noise_burst(rng, num_samples, sample_rate):
  """1–4 short band-pass noise bursts with a sharp attack.

  One band per clip (4th-order Butterworth, 0.5–2 octaves wide, centred in
  200 Hz–4 kHz). Each burst lasts 30–250 ms, at most a fifth of the clip
  shared among the bursts, with a 1–3 ms attack, an exponential decay (time
  constant 20–50 % of the burst) and a 5 ms release; levels vary by 6 dB.

  Returns:
    float32 `[num_samples]`, peak 1, zero between the bursts.
  """
  clip_seconds = num_samples / sample_rate
  count = int(rng.integers(1, 5))
  low, high = _random_band(rng, sample_rate)
  noise = _band_pass(rng.standard_normal(num_samples), sample_rate, low, high, 4)
  env = np.zeros([num_samples], np.float64)
  for _ in range(count):
    seconds = _event_seconds(rng, clip_seconds, 0.03, 0.25, 0.2 / count)
    length = max(1, int(seconds * sample_rate))
    t = np.arange(length) / sample_rate
    shape = np.exp(-t / (rng.uniform(0.2, 0.5) * seconds)) * _ramps(
        length, rng.uniform(0.001, 0.003) * sample_rate, 0.005 * sample_rate)
    onset = _random_onset(rng, length, num_samples)
    # Overlapping bursts take the louder envelope, not the sum.
    env[onset:onset + length] = np.maximum(env[onset:onset + length],
                                           shape * 10 ** (rng.uniform(-6, 0) / 20))
  return _peak_normalise(noise * env)


def clicks(rng, num_samples, sample_rate):
  """A sparse train of clicks: impulses through a very short damped resonance.

  Clicks come periodically (2–15 per second, ±10 % jitter) or at Poisson
  times (same rates) over 30–90 % of the clip from a random onset, each with
  an amplitude of 0.3–1. The click itself is a damped sinusoid at 1–6 kHz
  (capped at 0.45 · sample_rate) decaying with a 0.3–2 ms time constant.

  Returns:
    float32 `[num_samples]`, peak 1, zero between the clicks (after each
    click has decayed).
  """
  span = int(rng.uniform(0.3, 0.9) * num_samples)
  span_onset = _random_onset(rng, span, num_samples)
  rate = _log_uniform(rng, 2.0, 15.0)
  if rng.integers(2):
    period = sample_rate / rate
    times = np.arange(rng.uniform(0, period), span, period)
    times = times + rng.uniform(-0.1, 0.1, times.shape) * period
  else:
    count = rng.poisson(rate * span / sample_rate)
    times = rng.uniform(0, span, count)
  times = np.clip(np.round(times), 0, span - 1).astype(np.int64)
  if times.size == 0:
    # A train needs at least one click; a short span at a low rate can miss.
    times = np.array([int(rng.integers(0, span))])
  impulses = np.zeros([span], np.float64)
  np.add.at(impulses, times, rng.uniform(0.3, 1.0, times.shape))

  tau = rng.uniform(0.0003, 0.002) * sample_rate
  frequency = min(rng.uniform(1000.0, 6000.0), _nyquist_cap(sample_rate))
  n = np.arange(int(np.ceil(8 * tau)))  # 8 time constants: down by 70 dB.
  kernel = np.exp(-n / tau) * np.sin(2 * np.pi * frequency * n / sample_rate + np.pi / 2)
  train = scipy.signal.oaconvolve(impulses, kernel)[:span]
  return _peak_normalise(_place(train, span_onset, num_samples))


def texture(rng, num_samples, sample_rate):
  """An amplitude-modulated texture: a few FM partials or band-pass noise.

  Half the textures are 2–5 inharmonic partials (log-uniform in 150 Hz–4
  kHz), each frequency-modulated at 0.5–6 Hz by 1–8 %; the other half are
  band-pass noise. Both are amplitude-modulated at 1.5–8 Hz (faster in
  events too short to hold 1.5 periods) with a depth of 60–95 %. The texture lasts
  30–90 % of the clip from a random onset, with 20–100 ms fades.

  Returns:
    float32 `[num_samples]`, peak 1, zero outside the event.
  """
  length = int(rng.uniform(0.3, 0.9) * num_samples)
  t = np.arange(length) / sample_rate
  if rng.integers(2):
    count = int(rng.integers(2, 6))
    carriers = _log_uniform(rng, 150.0, min(4000.0, _nyquist_cap(sample_rate) / 1.08), count)
    fm_rate = rng.uniform(0.5, 6.0, count)
    fm_depth = rng.uniform(0.01, 0.08, count)
    fm_phase = rng.uniform(0, 2 * np.pi, count)
    # [count, length] instantaneous frequencies, integrated to phases.
    frequency = carriers[:, None] * (
        1 + fm_depth[:, None] * np.sin(2 * np.pi * fm_rate[:, None] * t + fm_phase[:, None]))
    phase = 2 * np.pi * np.cumsum(frequency, axis=1) / sample_rate
    weights = rng.uniform(0.5, 1.0, count)
    carrier = weights @ np.sin(phase + rng.uniform(0, 2 * np.pi, count)[:, None])
  else:
    low, high = _random_band(rng, sample_rate, octaves=(1.0, 3.0))
    carrier = _band_pass(rng.standard_normal(length), sample_rate, low, high, 2)
  lowest_rate = max(1.5, 1.5 * sample_rate / length)
  am_rate = rng.uniform(lowest_rate, max(8.0, lowest_rate + 1.0))
  am_depth = rng.uniform(0.6, 0.95)
  am = 1 - am_depth * (0.5 - 0.5 * np.cos(2 * np.pi * am_rate * t + rng.uniform(0, 2 * np.pi)))
  fade = rng.uniform(0.02, 0.1) * sample_rate
  event = carrier * am * _ramps(length, fade, fade)
  return _peak_normalise(_place(event, _random_onset(rng, length, num_samples), num_samples))


def noise_bed(rng, num_samples, sample_rate):
  """Stationary coloured band-pass noise over the whole clip: the background.

  White noise is shaped in the frequency domain by a power law f^(-α/2)
  (α in 0–1.5: white to beyond pink) and 2nd-order Butterworth-like
  high-pass (60–400 Hz) and low-pass (1 kHz–min(7 kHz, 0.45 · sample_rate))
  magnitudes. The filtering is circular, so there is no start-up transient
  and the level is the same throughout the clip.

  Returns:
    float32 `[num_samples]`, peak 1.
  """
  alpha = rng.uniform(0.0, 1.5)
  high_pass = _log_uniform(rng, 60.0, 400.0)
  low_pass = _log_uniform(rng, 1000.0, min(7000.0, _nyquist_cap(sample_rate)))
  spectrum = np.fft.rfft(rng.standard_normal(num_samples))
  f = np.fft.rfftfreq(num_samples, 1.0 / sample_rate)
  f[0] = f[1] if f.shape[0] > 1 else 1.0  # the DC bin is removed by the high-pass below.
  magnitude = ((f / high_pass) ** (-alpha / 2)
               / np.sqrt(1 + (high_pass / f) ** 4) / np.sqrt(1 + (f / low_pass) ** 4))
  magnitude[0] = 0.0
  return _peak_normalise(np.fft.irfft(spectrum * magnitude, n=num_samples))


SOURCE_CLASSES = {
    "harmonic": harmonic,
    "chirp": chirp,
    "noise_burst": noise_burst,
    "clicks": clicks,
    "texture": texture,
    "noise_bed": noise_bed,
}
FOREGROUND_CLASSES = tuple(name for name in SOURCE_CLASSES if name != BACKGROUND_CLASS)


# ----------------------------------------------------------------------------
# Examples.


def _clip_samples(clip_seconds, sample_rate):
  sample_rate = audio.check_sample_rate(sample_rate)
  if sample_rate < MIN_SAMPLE_RATE:
    raise ValueError(f"sample_rate must be at least {MIN_SAMPLE_RATE} Hz, got {sample_rate}")
  if (isinstance(clip_seconds, numbers.Real) and not isinstance(clip_seconds, bool)
      and clip_seconds < MIN_CLIP_SECONDS):
    raise ValueError(f"clip_seconds must be a finite number >= {MIN_CLIP_SECONDS}, "
                     f"got {clip_seconds!r}")
  return audio.clip_samples(clip_seconds, sample_rate)


def synthesize_example(rng, clip_seconds=10.0, sample_rate=16000, max_foreground=3):
  """Draws one FUSS-like clip: a `noise_bed` background and 0–max_foreground events.

  The number of foregrounds is uniform in `0..max_foreground`; their classes
  are distinct, drawn without replacement from the non-background classes.
  Each foreground's active RMS (over its 20 ms frames within 40 dB of its
  loudest) is set to 5 dB below to 10 dB above the background's RMS. Then
  every source is scaled by one common factor so that the loudest peak of
  the mixture and its sources is at −10 to −1 dBFS (below 0.9 full scale).

  Args:
    rng: a `np.random.Generator`; all randomness comes from it.
    clip_seconds: clip length in seconds, at least `MIN_CLIP_SECONDS`.
    sample_rate: Hz, at least `MIN_SAMPLE_RATE`.
    max_foreground: the most foreground sources, 0 to the number of
      foreground classes (5).

  Returns:
    `(mixture, sources, classes)`: float32 `[T]` with T = round(clip_seconds ·
    sample_rate), float32 `[S, T]` with S = 1 + foregrounds, and the S class
    names, the background first. `mixture` is `sources.sum(axis=0)` computed
    in float32.
  """
  if not isinstance(rng, np.random.Generator):
    raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
  num_samples, sample_rate = _clip_samples(clip_seconds, sample_rate)
  max_foreground = layout.check_int(max_foreground, "max_foreground", 0,
                                    len(FOREGROUND_CLASSES))

  count = int(rng.integers(0, max_foreground + 1))
  picks = rng.permutation(len(FOREGROUND_CLASSES))[:count]
  classes = [BACKGROUND_CLASS] + [FOREGROUND_CLASSES[i] for i in picks]
  raw = [SOURCE_CLASSES[name](rng, num_samples, sample_rate) for name in classes]

  levels_db = np.concatenate([[0.0], rng.uniform(*FOREGROUND_DB_RANGE, count)])
  peak = 10 ** (rng.uniform(*PEAK_DBFS_RANGE) / 20)
  sources = mixing.set_levels(np.stack(raw), levels_db, peak, sample_rate)
  mixture = np.sum(sources, axis=0, dtype=np.float32)
  return mixture, sources, classes


# ----------------------------------------------------------------------------
# Corpus files.


def write_corpus(out_dir, split, num_clips, clip_seconds=10.0, sample_rate=16000, seed=0,
                 max_foreground=3):
  """Synthesises `num_clips` examples of a split and writes their wavs and lists.

  Example i is `synthesize_example` on a generator seeded by
  `(seed, crc32(split), i)`. Files are 16-bit PCM wavs, the mixture the
  exact sum of its source files (`layout.write_example`); the same arguments
  give byte-identical files. Existing files of the same names are
  overwritten; other files in `out_dir` are left alone (the lists name only
  this run's examples).

  Args:
    out_dir: the corpus folder, created if missing.
    split: the split name ('train', 'validation', ...), used as a folder name.
    num_clips: number of examples, >= 1.
    clip_seconds, sample_rate: as in `synthesize_example`.
    seed: a non-negative integer.
    max_foreground: the most foreground sources, 0–3 (a FUSS list line holds
      at most 4 sources).

  Returns:
    `layout.CorpusFiles(clip_list, fuss_list, vocabulary)`: the list paths (the
    clip list's labels are the classes of each example's sources, in
    vocabulary order; the vocabulary is every class of `SOURCE_CLASSES`).
  """
  split = layout.check_split(split)
  num_clips = layout.check_int(num_clips, "num_clips", 1)
  seed = layout.check_int(seed, "seed", 0)
  max_foreground = layout.check_int(max_foreground, "max_foreground", 0, MAX_LISTED_FOREGROUND)
  _clip_samples(clip_seconds, sample_rate)

  vocabulary = list(SOURCE_CLASSES)
  examples = []
  for index in range(num_clips):
    _, sources, classes = synthesize_example(
        layout.example_rng(seed, split, index), clip_seconds, sample_rate, max_foreground)
    mixture_path, source_paths = layout.write_example(out_dir, split, index, sources, classes,
                                                      sample_rate)
    examples.append((mixture_path, source_paths, classes))
  return layout.write_lists(out_dir, split, vocabulary, examples)
