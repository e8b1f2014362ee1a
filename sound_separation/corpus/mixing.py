"""FUSS-style mixtures: one background and 0–3 foregrounds from labelled clips.

FUSS (`datasets/fuss/make_ss_examples.py` of the original code, through
scaper) mixes one background clip and a uniform number of 0–3 foreground
clips into 10 s at 16 kHz, each foreground at −5 to 25 dB relative to the
background, with labels distinct within a mixture. `write_mixtures` does the
same from a clip inventory, with these rules:

- Background: a random window of the clip; a clip shorter than the mixture
  is looped.
- Foreground: a clip longer than the mixture gives a random window; a
  shorter one is placed whole at a uniform random onset (scaper may instead
  run an event off the end of the mixture; here every foreground is heard
  whole, so its weak label holds).
- Levels: each source's active RMS (`active_rms`) is set relative to the
  background's, then all sources are scaled by one factor so that the loudest
  peak of the mixture and its sources is at `peak_dbfs` (−10 to −1 dBFS).
- Labels: the background's label and the foregrounds' labels are distinct
  unless `allow_same_label` (no clip appears twice in a mixture either way).

Mixture i of a split is drawn from `layout.example_rng(seed, split, i)` over
the inventory sorted by path: the same inventory, seed and arguments give
byte-identical files. Files are written in the `corpus` layout, mixtures as
the exact sum of their 16-bit sources.

The inventory comes from folders (`clips_from_folders`: `<root>/<label>/*.wav`)
or a CSV manifest (`read_clip_manifest`: `path,label,role`).
"""

import os
import typing

import numpy as np
import soundfile

from sound_separation.corpus import layout
from sound_separation.data import audio
from sound_separation.data import lists

BACKGROUND = "background"
FOREGROUND = "foreground"
ROLES = (BACKGROUND, FOREGROUND)


# FUSS's foreground level relative to the background (dB, active RMS ratio).
SNR_DB_RANGE = (-5.0, 25.0)
# Peak level of the loudest of the mixture and its sources (dBFS).
PEAK_DBFS_RANGE = (-10.0, -1.0)
# A FUSS list line holds at most 4 sources: the background and 3 foregrounds.
MAX_FOREGROUND = 3

# Frames for measuring the active RMS of a source: 20 ms; frames more than
# 40 dB below the loudest frame count as silent.
_LEVEL_FRAME_SECONDS = 0.02
_LEVEL_FLOOR_DB = -40.0


class LabelledClip(typing.NamedTuple):
  """One clip of the inventory."""

  path: str
  label: str
  role: str  # BACKGROUND or FOREGROUND.


# ----------------------------------------------------------------------------
# Levels.


def active_rms(x, sample_rate):
  """RMS of `[T]` over its 20 ms frames within 40 dB of the loudest one; 0 for silence."""
  frame = max(1, int(_LEVEL_FRAME_SECONDS * sample_rate))
  usable = x.shape[0] // frame * frame
  energies = np.mean(np.square(x[:usable].reshape(-1, frame)), axis=1)
  if usable < x.shape[0]:
    energies = np.append(energies, np.mean(np.square(x[usable:])))
  loudest = np.max(energies)
  if loudest <= 0:
    return 0.0
  active = energies >= loudest * 10 ** (_LEVEL_FLOOR_DB / 10)
  return float(np.sqrt(np.mean(energies[active])))


def set_levels(sources, levels_db, peak, sample_rate):
  """Scales sources to relative levels, then all together to a peak.

  Args:
    sources: float `[S, T]`.
    levels_db: S levels: source i's active RMS becomes `levels_db[i]` dB
      (re 1) before the common scaling; silent sources stay silent.
    peak: the final loudest absolute sample of the mixture and the sources,
      in full-scale units.
    sample_rate: Hz, for the 20 ms frames of `active_rms`.

  Returns:
    float32 `[S, T]`; all zeros if every source is silent.
  """
  scaled = np.array(sources, np.float64)
  for i, source in enumerate(scaled):
    rms = active_rms(source, sample_rate)
    if rms > 0:
      scaled[i] = source * (10 ** (levels_db[i] / 20) / rms)
  loudest = max(np.max(np.abs(scaled.sum(axis=0))), np.max(np.abs(scaled)))
  if loudest <= 0:
    return np.zeros(scaled.shape, np.float32)
  return (scaled * (peak / loudest)).astype(np.float32)


# ----------------------------------------------------------------------------
# Clip inventories.


def clips_from_folders(root, background_labels=(), background_min_seconds=None):
  """The clips of `<root>/<label>/<file>` (`audio.AUDIO_EXTENSIONS`), sorted by path.

  A clip is a background if its label (folder name) is in
  `background_labels`, or, with `background_min_seconds`, if it lasts longer
  than that (FUSS's own rule, with 10 s); otherwise a foreground.

  Args:
    root: the folder of label folders.
    background_labels: labels whose clips are backgrounds; each must be a
      folder of `root`.
    background_min_seconds: None, or a duration in seconds.

  Returns:
    list of `LabelledClip`.

  Raises:
    ValueError: naming `root` or the missing label folder, when there is no
      clip or a background label has no folder.
  """
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise audio.FileError(root, "not a folder of label folders")
  labels = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
  missing = sorted(set(background_labels) - set(labels))
  if missing:
    raise audio.FileError(os.path.join(root, missing[0]),
                          "a background label has no folder here")
  clips = []
  for label in labels:
    folder = os.path.join(root, label)
    lists.check_label(label, folder)
    for name in sorted(os.listdir(folder)):
      path = os.path.join(folder, name)
      if not (os.path.isfile(path) and name.lower().endswith(audio.AUDIO_EXTENSIONS)):
        continue
      background = label in background_labels
      if not background and background_min_seconds is not None:
        try:
          background = soundfile.info(path).duration > background_min_seconds
        except (RuntimeError, OSError, ValueError) as e:
          raise audio.AudioReadError(path, f"{type(e).__name__}: {e}") from e
      clips.append(LabelledClip(path, label, BACKGROUND if background else FOREGROUND))
  if not clips:
    raise audio.FileError(root, f"no audio files ({', '.join(audio.AUDIO_EXTENSIONS)}) in its "
                          "label folders")
  return clips


def read_clip_manifest(path):
  """Parses a CSV inventory with a header row naming the columns `path,label,role`.

  `path` is relative to the CSV's folder (or absolute); `role` is
  'background' or 'foreground'. Other columns are ignored.

  Returns:
    list of `LabelledClip`, sorted by path.

  Raises:
    ValueError: naming the file and line, for a missing column, an empty
      path, a bad role or label.
  """
  path = os.fspath(path)
  folder, header, rows = layout.read_csv_manifest(path, ("path", "label", "role"),
                                                  "path,label,role")
  column = {name: header.index(name) for name in ("path", "label", "role")}
  clips = []
  for number, row in rows:
    where = f"{path}:{number}"
    if len(row) < len(header):
      raise ValueError(f"{where}: {len(row)} fields, the header has {len(header)}")
    clip_path, label, role = (row[column[n]].strip() for n in ("path", "label", "role"))
    if not clip_path:
      raise ValueError(f"{where}: empty path")
    if role.lower() not in ROLES:
      raise ValueError(f"{where}: role {role!r} is not one of {ROLES}")
    clips.append(LabelledClip(os.path.join(folder, clip_path), lists.check_label(label, where),
                              role.lower()))
  if not clips:
    raise audio.FileError(path, "the CSV manifest lists no clips")
  return sorted(clips)


# ----------------------------------------------------------------------------
# Mixing.


def _pick_foregrounds(rng, foregrounds, count, used_labels, allow_same_label):
  """`count` distinct clips of `foregrounds`; labels not in `used_labels` unless allowed."""
  picked, used = [], set(used_labels)
  for i in rng.permutation(len(foregrounds)):
    if len(picked) == count:
      break
    clip = foregrounds[i]
    if allow_same_label or clip.label not in used:
      picked.append(clip)
      used.add(clip.label)
  if len(picked) < count:
    raise ValueError(
        f"cannot pick {count} foreground clips with labels distinct from each other and "
        f"from {sorted(used_labels)}: the inventory has too few foreground labels; lower "
        "max_foreground or allow the same label twice")
  return picked


def _place_background(rng, waveform, num_samples):
  if waveform.shape[0] >= num_samples:
    offset = int(rng.integers(0, waveform.shape[0] - num_samples + 1))
    return waveform[offset:offset + num_samples]
  return np.resize(waveform, num_samples)  # np.resize repeats the clip: a loop.


def _place_foreground(rng, waveform, num_samples):
  placed = np.zeros([num_samples], np.float32)
  if waveform.shape[0] >= num_samples:
    offset = int(rng.integers(0, waveform.shape[0] - num_samples + 1))
    placed[:] = waveform[offset:offset + num_samples]
  else:
    onset = int(rng.integers(0, num_samples - waveform.shape[0] + 1))
    placed[onset:onset + waveform.shape[0]] = waveform
  return placed


def mix_example(rng, backgrounds, foregrounds, num_samples, sample_rate, max_foreground=3,
                min_foreground=0, allow_same_label=False, snr_db=SNR_DB_RANGE,
                peak_dbfs=PEAK_DBFS_RANGE):
  """Draws one mixture's sources from clips (see the module docstring).

  Args:
    rng: a `np.random.Generator`; all randomness comes from it.
    backgrounds, foregrounds: sequences of `LabelledClip`.
    num_samples: T, the mixture length in samples.
    sample_rate: Hz; clips at other rates are resampled, multichannel ones
      downmixed (`audio.read_audio`).
    max_foreground, min_foreground: the foreground count is uniform in
      `min_foreground..max_foreground`.
    allow_same_label: allow a label twice in a mixture.
    snr_db: `(low, high)`: each foreground's active RMS relative to the
      background's, uniform in dB.
    peak_dbfs: `(low, high)`: the loudest peak of the mixture and its
      sources, uniform in dBFS.

  Returns:
    `(sources, clips)`: float32 `[S, T]` with S = 1 + foregrounds, the
    background first, and the S `LabelledClip`s used.

  Raises:
    AudioReadError: an unreadable clip. FileError: a clip silent in its
    window. ValueError: too few foreground labels to pick from.
  """
  background = backgrounds[int(rng.integers(0, len(backgrounds)))]
  count = int(rng.integers(min_foreground, max_foreground + 1))
  used = () if allow_same_label else (background.label,)
  clips = [background] + _pick_foregrounds(rng, foregrounds, count, used, allow_same_label)
  placed = [_place_background(rng, audio.read_audio(background.path, sample_rate), num_samples)]
  for clip in clips[1:]:
    placed.append(_place_foreground(rng, audio.read_audio(clip.path, sample_rate), num_samples))
  for clip, waveform in zip(clips, placed):
    if not np.any(waveform):
      # A silent source would teach the separator an event that is not there.
      raise audio.FileError(clip.path, "silent in the window chosen for a mixture")
  levels_db = np.concatenate([[0.0], rng.uniform(*snr_db, count)])
  peak = 10 ** (rng.uniform(*peak_dbfs) / 20)
  return set_levels(np.stack(placed), levels_db, peak, sample_rate), clips


def write_mixtures(clips, out_dir, split, num_mixtures, seed=0, clip_seconds=10.0,
                   sample_rate=16000, max_foreground=3, min_foreground=0,
                   allow_same_label=False, snr_db=SNR_DB_RANGE, peak_dbfs=PEAK_DBFS_RANGE):
  """Mixes `num_mixtures` examples of a split from a clip inventory and writes them.

  Writes the `corpus` layout: `<split>/example<i>/mixture.wav` and
  `source<j>_<label>.wav` (source 0 the background), 16-bit PCM, the mixture
  the exact sum of its sources; `<split>_example_list.txt`,
  `<split>_clip_list.txt` (each mixture's labels: its sources' labels) and
  `labels.txt` (every label of the inventory, sorted).

  Args:
    clips: `LabelledClip`s, with at least one background (and one foreground
      unless max_foreground is 0).
    out_dir: the corpus folder, created if missing.
    split: the split name ('train', 'validation', ...).
    num_mixtures: >= 1.
    seed: a non-negative integer.
    clip_seconds, sample_rate: the mixture length and rate.
    max_foreground, min_foreground, allow_same_label, snr_db, peak_dbfs: as
      in `mix_example`; 0 <= min_foreground <= max_foreground <= 3.

  Returns:
    The `layout.CorpusFiles` written.
  """
  split = layout.check_split(split)
  num_mixtures = layout.check_int(num_mixtures, "num_mixtures", 1)
  seed = layout.check_int(seed, "seed", 0)
  max_foreground = layout.check_int(max_foreground, "max_foreground", 0, MAX_FOREGROUND)
  min_foreground = layout.check_int(min_foreground, "min_foreground", 0, max_foreground)
  snr_db = layout.check_range(snr_db, "snr_db")
  peak_dbfs = layout.check_range(peak_dbfs, "peak_dbfs")
  if peak_dbfs[1] > 0:
    raise ValueError(f"peak_dbfs must be at most 0 dBFS, got {peak_dbfs}")
  num_samples, sample_rate = audio.clip_samples(clip_seconds, sample_rate)
  clips = sorted(clips)
  backgrounds = [c for c in clips if c.role == BACKGROUND]
  foregrounds = [c for c in clips if c.role == FOREGROUND]
  if not backgrounds:
    raise ValueError("the clip inventory has no background clips; every mixture needs one")
  if max_foreground > 0 and not foregrounds:
    raise ValueError("the clip inventory has no foreground clips; pass max_foreground=0 "
                     "for background-only mixtures")

  vocabulary = sorted({c.label for c in clips})
  examples = []
  for index in range(num_mixtures):
    sources, used = mix_example(
        layout.example_rng(seed, split, index), backgrounds, foregrounds, num_samples,
        sample_rate, max_foreground, min_foreground, allow_same_label, snr_db, peak_dbfs)
    labels = [c.label for c in used]
    mixture_path, source_paths = layout.write_example(out_dir, split, index, sources, labels,
                                                      sample_rate)
    examples.append((mixture_path, source_paths, labels))
  return layout.write_lists(out_dir, split, vocabulary, examples)
