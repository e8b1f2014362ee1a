"""Mixture-of-mixtures (MoM) evaluation sets.

A MoM is the sum of two reference mixtures; the evaluator's "mom" task
separates it and scores MoMi (docs/metrics.md) against the two mixtures. A MoM set
is a FUSS list (`lists.read_fuss_list` reads it) whose lines are
`mom.wav<TAB>mixture1.wav<TAB>mixture2.wav`.

On disk, for a split such as 'test':

    <out_dir>/test/mom00000/mom.wav           mixture1 + mixture2, exactly
    <out_dir>/test/mom00000/mixture1.wav
    <out_dir>/test/mom00000/mixture2.wav
    <out_dir>/test_mom_list.txt               mom<TAB>mixture1<TAB>mixture2
    <out_dir>/test_mom_origins.txt            mom<TAB>original1<TAB>original2

The two mixtures are rewritten, not referenced: each is read at the set's
rate, cut to its first `clip_seconds` (or zero-padded), and both are scaled by
one common factor when their sum would pass full scale, so that the three
16-bit files satisfy mom = mixture1 + mixture2 to the last bit
(`layout.write_sum`). The origins file records which input clips they are.
"""

import os
import typing

import numpy as np

from sound_separation.corpus import layout
from sound_separation.data import audio
from sound_separation.data import batches
from sound_separation.data import formats
from sound_separation.data import lists
from sound_separation.data import pipelines

PAIRINGS = batches.PAIRINGS
# Peak the MoM is scaled to when the plain sum would pass full scale: 16-bit
# rounding of the two mixtures then cannot carry their sum past it.
_SCALED_PEAK = 0.99


class MomFiles(typing.NamedTuple):
  """The lists `write_mom_set` wrote."""

  mom_list: str  # <out_dir>/<split>_mom_list.txt, a FUSS list.
  origins: str  # <out_dir>/<split>_mom_origins.txt: the input clips of each MoM.
  count: int  # MoMs written.


def mom_files(out_dir, split):
  """`(mom_list, origins)` paths of `split` in `out_dir`."""
  split = layout.check_split(split)
  return (os.path.join(os.fspath(out_dir), f"{split}_mom_list.txt"),
          os.path.join(os.fspath(out_dir), f"{split}_mom_origins.txt"))


def read_mixture_paths(list_path, list_format="clips"):
  """The mixture files of a list in a data format of files (`formats`), in list order.

  `list_format`: a registered format whose examples are files, e.g. 'clips'
  (a clip list) or 'fuss' (a FUSS list).
  """
  listed = formats.get(list_format).files(list_path)
  if listed is None:
    raise ValueError(f"list_format {list_format!r} is not a list of audio files; MoM sets "
                     f"are built from a clip list or a FUSS list")
  return [mixture for mixture, _ in listed]


def pair_indices(count, pairing="random", seed=0, num_pairs=None):
  """Pairs of distinct indices into `count` clips, each clip in at most one pair.

  Args:
    count: the number of clips, >= 2.
    pairing: 'consecutive': (0, 1), (2, 3), ... in list order; 'random': the
      same over a permutation drawn from `np.random.default_rng(seed)`.
    seed: a non-negative integer ('random' only).
    num_pairs: None for all `count // 2` pairs, or fewer.

  Returns:
    list of `(i, j)` index pairs.
  """
  count = layout.check_int(count, "the number of clips", 2)
  if pairing not in PAIRINGS:
    raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
  seed = layout.check_int(seed, "seed", 0)
  available = count // 2
  num_pairs = available if num_pairs is None else layout.check_int(num_pairs, "num_pairs", 1,
                                                                   available)
  order = np.arange(count) if pairing == "consecutive" else np.random.default_rng(
      seed).permutation(count)
  return [(int(order[2 * k]), int(order[2 * k + 1])) for k in range(num_pairs)]


def fit_pair(mixture1, mixture2, num_samples):
  """Cuts or pads two mixtures to T samples and scales them together to fit a MoM.

  Each is cut to its first T samples or zero-padded at its end. If the
  loudest sample of either or of their sum passes full scale, both are scaled
  by one factor to a peak of 0.99.

  Returns:
    float32 `[2, T]`.
  """
  pair = np.stack([pipelines.crop_or_pad(np.asarray(m, np.float32), num_samples)[0]
                   for m in (mixture1, mixture2)]).astype(np.float64)
  peak = max(np.max(np.abs(pair.sum(axis=0))), np.max(np.abs(pair)))
  if peak > 1.0:
    pair *= _SCALED_PEAK / peak
  return pair.astype(np.float32)


def write_mom(out_dir, split, index, mixture1, mixture2, sample_rate):
  """Writes MoM `index`: mom.wav, mixture1.wav, mixture2.wav (see the module docstring).

  Args:
    mixture1, mixture2: float `[T]`, within ±1 with their sum (`fit_pair`).

  Returns:
    `(mom_path, [mixture1_path, mixture2_path])`.
  """
  folder = os.path.join(os.fspath(out_dir), layout.check_split(split), f"mom{index:05d}")
  return layout.write_sum(folder, "mom.wav", np.stack([mixture1, mixture2]),
                          ["mixture1.wav", "mixture2.wav"], sample_rate)


def write_mom_lists(out_dir, split, moms, origins):
  """Writes the MoM list and the origins list.

  Args:
    moms: `(mom_path, [mixture1_path, mixture2_path])` per MoM.
    origins: `(original1, original2)` paths per MoM.

  Returns:
    `MomFiles`.
  """
  mom_list, origins_list = mom_files(out_dir, split)
  moms = list(moms)
  lists.write_fuss_list(mom_list, moms)
  lists.write_fuss_list(origins_list, [(m, list(o)) for (m, _), o in zip(moms, origins)])
  return MomFiles(mom_list, origins_list, len(moms))


def write_mom_set(mixture_paths, out_dir, split, pairing="random", seed=0, num_moms=None,
                  clip_seconds=10.0, sample_rate=16000):
  """Pairs mixture files deterministically and writes a MoM set.

  Args:
    mixture_paths: the single mixtures (e.g. `read_mixture_paths`), >= 2.
    out_dir: the output folder, created if missing.
    split: the split name, a folder and list-name prefix.
    pairing, seed, num_moms: as `pair_indices`' pairing, seed, num_pairs.
    clip_seconds, sample_rate: the MoM length and rate.

  Returns:
    `MomFiles`.
  """
  split = layout.check_split(split)
  num_samples, sample_rate = audio.clip_samples(clip_seconds, sample_rate)
  mixture_paths = list(mixture_paths)
  if len(mixture_paths) < 2:
    raise ValueError(f"a MoM set needs at least 2 mixtures, got {len(mixture_paths)}")
  moms, origins = [], []
  for index, (i, j) in enumerate(pair_indices(len(mixture_paths), pairing, seed, num_moms)):
    pair = fit_pair(audio.read_audio(mixture_paths[i], sample_rate),
                    audio.read_audio(mixture_paths[j], sample_rate), num_samples)
    moms.append(write_mom(out_dir, split, index, pair[0], pair[1], sample_rate))
    origins.append((mixture_paths[i], mixture_paths[j]))
  return write_mom_lists(out_dir, split, moms, origins)
