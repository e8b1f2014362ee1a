"""On-disk layout of FUSS-style corpora, shared by everything that writes one.

A corpus folder holds, for a split such as 'train':

    <out_dir>/labels.txt                     class names, one a line
    <out_dir>/train_clip_list.txt            <mixture>\\t<label>,<label>...
    <out_dir>/train_example_list.txt         <mixture>\\t<source>\\t<source>...
    <out_dir>/train/example00000/mixture.wav
    <out_dir>/train/example00000/source0_<name>.wav ...

Paths in the lists are relative to `out_dir`, as `lists.read_clip_list`
and `lists.read_fuss_list` expect (`lists.write_*` write them).

Audio is 16-bit PCM. A mixture is written as the integer sum of its sources'
16-bit samples (`write_sum`), so read back it equals the sum of its read
sources exactly: every sample is a multiple of 2⁻¹⁵ and a sum of at most a
few of them is exact in float32.

The argument checks the corpus writers share (`check_int`, `check_range`,
`check_split`) live here too; clip lengths follow `audio.clip_samples`.
"""

import csv
import math
import numbers
import os
import posixpath
import re
import typing
import zlib

import numpy as np

from sound_separation import filesystem
from sound_separation.data import audio
from sound_separation.data import lists

# What may appear in a file name built from a class name; anything else
# becomes '_' (class names such as 'Speech, male' or 'Bark/Dog' exist).
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


# ----------------------------------------------------------------------------
# Argument checks shared by the corpus writers.


def check_int(value, name, low, high=None):
  """Returns `value` as an int; ValueError naming `name` unless an integer in [low, high]."""
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise ValueError(f"{name} must be an integer, got {value!r}")
  if value < low or (high is not None and value > high):
    bound = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise ValueError(f"{name} must be {bound}, got {value!r}")
  return int(value)


def check_range(value, name):
  """Returns `(low, high)` floats; ValueError naming `name` unless finite with low <= high."""
  try:
    low, high = (float(v) for v in value)
  except (TypeError, ValueError) as e:
    raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from e
  if not (math.isfinite(low) and math.isfinite(high) and low <= high):
    raise ValueError(f"{name} must be finite with low <= high, got {value!r}")
  return low, high


# ----------------------------------------------------------------------------
# Layout.


class CorpusFiles(typing.NamedTuple):
  """Paths of the lists of one split of a corpus."""

  clip_list: str  # <out_dir>/<split>_clip_list.txt, for lists.read_clip_list.
  fuss_list: str  # <out_dir>/<split>_example_list.txt, for lists.read_fuss_list.
  vocabulary: str  # <out_dir>/labels.txt, for lists.read_label_vocabulary.


def check_split(split):
  """Returns `split`; ValueError unless it is usable as a folder and list-name prefix."""
  if (not isinstance(split, str) or not split or split in (".", "..")
      or any(c in split for c in "/\\\t\n\r") or split != split.strip()):
    raise ValueError(f"split must be a non-empty folder name without separators, tabs or "
                     f"surrounding spaces, got {split!r}")
  return split


def corpus_files(out_dir, split):
  """The `CorpusFiles` of `split` in `out_dir` (nothing is written)."""
  out_dir = os.fspath(out_dir)
  split = check_split(split)
  return CorpusFiles(
      clip_list=os.path.join(out_dir, f"{split}_clip_list.txt"),
      fuss_list=os.path.join(out_dir, f"{split}_example_list.txt"),
      vocabulary=os.path.join(out_dir, "labels.txt"))


def example_rng(seed, split, index):
  """The generator of example `index` of `split`: seeded by `(seed, crc32(split), index)`.

  An example does not depend on how many others are made, and two splits do
  not share examples.
  """
  return np.random.default_rng(
      np.random.SeedSequence([seed, zlib.crc32(split.encode("utf-8")), index]))


def file_name_part(name):
  """`name` made safe for a file name: runs of other characters than [A-Za-z0-9._-] become '_'."""
  return _UNSAFE_NAME_CHARS.sub("_", str(name)).strip("_") or "unnamed"


def write_sum(folder, mixture_name, sources, source_names, sample_rate):
  """Writes sources and their mixture as 16-bit wavs, the mixture the exact sum.

  Each source is rounded to 16 bits (`audio.to_pcm16`) and the mixture is the
  sum of those integers, so the files satisfy mixture = Σ sources exactly.

  Args:
    folder: where to write (created if missing).
    mixture_name: the mixture's file name, e.g. 'mixture.wav'.
    sources: float `[S, T]` in full-scale units, each within ±1.
    source_names: S file names.
    sample_rate: Hz.

  Returns:
    `(mixture_path, [source_paths])`, joined to `folder`.

  Raises:
    ValueError: a source beyond ±1, or a mixture beyond 16-bit range (scale
      the sources down first).
  """
  sources = np.asarray(sources)
  if sources.ndim != 2 or sources.shape[0] != len(source_names):
    raise ValueError(f"sources must be [S, T] with S = {len(source_names)} names, got shape "
                     f"{sources.shape}")
  folder = os.fspath(folder)
  names = [mixture_name] + list(source_names)
  if len(set(names)) != len(names):
    raise ValueError(f"file names must be distinct, got {names!r}")
  mixture_path = os.path.join(folder, mixture_name)
  quantised = np.stack([audio.to_pcm16(s, f"source '{name}' of '{mixture_path}'")
                        for s, name in zip(sources, source_names)])
  total = quantised.sum(axis=0, dtype=np.int32)
  peak = int(np.max(np.abs(total))) if total.size else 0
  if peak > audio.PCM16_FULL_SCALE - 1:
    raise ValueError(f"mixture '{mixture_path}' peaks at {peak / audio.PCM16_FULL_SCALE:.4g} "
                     "full scale, beyond 16-bit PCM; scale its sources down")
  os.makedirs(folder, exist_ok=True)
  audio.write_audio(mixture_path, total.astype(np.int16), sample_rate)
  source_paths = [os.path.join(folder, name) for name in source_names]
  for path, samples in zip(source_paths, quantised):
    audio.write_audio(path, samples, sample_rate)
  return mixture_path, source_paths


def write_example(out_dir, split, index, sources, names, sample_rate):
  """Writes example `index` in the corpus layout (see the module docstring).

  Args:
    out_dir: the corpus folder.
    split: the split name.
    index: the example number, >= 0.
    sources: float `[S, T]` in full-scale units.
    names: S class names; source i goes to `source<i>_<name>.wav` (the name
      made file-safe with `file_name_part`).
    sample_rate: Hz.

  Returns:
    `(mixture_path, [source_paths])` under `out_dir`.
  """
  folder = os.path.join(os.fspath(out_dir), posixpath.join(check_split(split),
                                                           f"example{index:05d}"))
  source_names = [f"source{i}_{file_name_part(n)}.wav" for i, n in enumerate(names)]
  return write_sum(folder, "mixture.wav", sources, source_names, sample_rate)


def write_lists(out_dir, split, vocabulary, examples):
  """Writes the three lists of a split (see the module docstring).

  Args:
    out_dir, split: the corpus folder and split.
    vocabulary: the class names, in index order, for labels.txt.
    examples: `(mixture_path, [source_paths], labels)` per example, as
      `write_example` returns them plus the example's class names.

  Returns:
    The `CorpusFiles` written.
  """
  files = corpus_files(out_dir, split)
  examples = list(examples)
  lists.write_label_vocabulary(files.vocabulary, vocabulary)
  lists.write_clip_list(files.clip_list, [(m, labels) for m, _, labels in examples],
                           vocabulary=vocabulary)
  lists.write_fuss_list(files.fuss_list, [(m, s) for m, s, _ in examples])
  return files


def read_csv_manifest(path, required, expected):
  """Reads a CSV manifest with a header row.

  Args:
    path: the CSV file.
    required: column names the header must have.
    expected: the header to suggest in errors (e.g. 'path,label,role').

  Returns:
    (folder of the file, for relative paths; header column names;
    `[(line number, row)]` of the non-blank rows after the header).

  Raises:
    audio.FileError naming the file: unreadable, empty, or a header without
    the `required` columns.
  """
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  try:
    with filesystem.open_file(path, "r", newline="") as f:
      rows = list(csv.reader(f))
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise audio.FileError(path, f"cannot read the CSV manifest: {e}") from e
  rows = [(number, row) for number, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
  if not rows:
    raise audio.FileError(path, "the CSV manifest is empty")
  header = [c.strip() for c in rows[0][1]]
  missing = [c for c in required if c not in header]
  if missing:
    raise audio.FileError(path, f"the header row {header} lacks the column(s) {missing}; "
                          f"expected {expected}")
  return folder, header, rows[1:]
