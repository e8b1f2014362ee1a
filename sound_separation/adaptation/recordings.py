"""A user's unlabeled recordings as training clips and a held-out set (docs/adapt.md).

`prepare(paths, out_dir, sample_rate)` finds every audio file under the
given folders (recursively) and files (`inference.separate.expand_inputs`,
the same files `separate` takes), streams each one in clip-sized blocks at
the model's rate (`data.audio.FileSource`: an hour-long file is never held
whole), cuts consecutive `clip_seconds` clips, drops near-silent ones and
writes them as 16-bit PCM:

    <out_dir>/train/r<NNNNN>/clip<KKKK>.wav      clips of training recordings
    <out_dir>/heldout/r<NNNNN>/clip<KKKK>.wav    clips of held-out recordings
    <out_dir>/train_clip_list.txt               the training clips (a clip list)
    <out_dir>/heldout_mom_list.txt              held-out mixtures of mixtures (task 'mom')
    <out_dir>/prepared.json                     what was used and skipped, and why

r is the recording's number in the order the files were found (folders
walked in sorted order; `prepared.json` maps each to its file), k the clip's
start in clips.
A share of the *recordings* is held out (never a share of clips), so no
held-out second was trained on: the held-out mixtures of mixtures are pairs
of held-out clips from two different recordings where there are two, the
user's own validation set, which needs no reference (MoMi, docs/adapt.md).
"""

import hashlib
import json
import os
import typing

import numpy as np

from sound_separation import filesystem
from sound_separation.corpus import clips as clips_lib
from sound_separation.corpus import mom_sets
from sound_separation.data import audio
from sound_separation.data import lists
from sound_separation.inference import separate

CLIP_SECONDS = 10.0
# A clip whose RMS is below this level (dB re full scale) is a silent stretch.
SILENCE_DBFS = -55.0
# The held-out set: this share of the clips, by whole recordings, between
# MIN_HELDOUT_CLIPS and MAX_HELDOUT_CLIPS; training keeps at least MIN_TRAIN_CLIPS.
HOLDOUT_SHARE = 0.1
MIN_HELDOUT_CLIPS = 8
MAX_HELDOUT_CLIPS = 64
MIN_TRAIN_CLIPS = 16
PREPARED_FILE = "prepared.json"


class NotEnoughAudioError(ValueError):
  """Too little usable audio to train on and to hold out; the message says how much is needed."""


class Recording(typing.NamedTuple):
  path: str
  relative: str
  seconds: float  # at the model's rate
  clips: int  # usable (non-silent) clips
  silent: int  # clips dropped as silent


def _fingerprint(inputs):
  """Changes when the set of files, or any file's size or modification time, changes."""
  digest = hashlib.sha256()
  for item in inputs:
    stat = os.stat(item.path)
    digest.update(f"{item.relative}\0{stat.st_size}\0{int(stat.st_mtime)}\n".encode())
  return digest.hexdigest()


def _holdout_rank(relative, seed):
  return hashlib.sha256(f"{seed}/{relative}".encode()).hexdigest()


def _clip_path(out_dir, part, number, k):
  return filesystem.join(out_dir, part, f"r{number:05d}", f"clip{k:04d}.wav")


def _cut(path, sample_rate, clip_samples, write):
  """Streams `path`, calls `write(k, clip)` for each non-silent clip; `(seconds, clips, silent)`."""
  with audio.FileSource(path, sample_rate) as source:
    count = source.num_samples // clip_samples
    kept = silent = 0
    for k in range(count):
      clip = source.read(k * clip_samples, (k + 1) * clip_samples)
      if clips_lib.rms_dbfs(clip) < SILENCE_DBFS:
        silent += 1
        continue
      write(k, clip)
      kept += 1
    return source.num_samples / sample_rate, kept, silent


def required_audio_text(clip_seconds=CLIP_SECONDS):
  seconds = (MIN_TRAIN_CLIPS + MIN_HELDOUT_CLIPS) * clip_seconds
  amount = f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} s"
  return (f"at least {amount} of non-silent audio in at least 2 recordings "
          f"({MIN_TRAIN_CLIPS} clips of {clip_seconds:g} s to train on and "
          f"{MIN_HELDOUT_CLIPS} from other recordings to hold out)")


def prepare(paths, out_dir, sample_rate, clip_seconds=CLIP_SECONDS, seed=0, stream=None):
  """Cuts the recordings under `paths` into training and held-out clips (module doc).

  Re-running with the same files (same names, sizes, modification times)
  and settings reuses what is on disk.

  Args:
    paths: audio files and folders (searched recursively).
    out_dir: where the clips and lists go.
    sample_rate: the model's rate in Hz (every file is resampled to it).
    clip_seconds: clip length.
    seed: chooses the held-out recordings and the MoM pairs.
    stream: progress lines (None: quiet).

  Returns:
    the `prepared.json` dict: "files", "hours", "train" / "heldout" (clips,
    recordings, hours), "skipped" (`[[file, reason]]`), "train_clip_list",
    "heldout_mom_list", "heldout_clips".

  Raises:
    FileError: a path that does not exist, or a folder without audio files.
    NotEnoughAudioError: no usable audio, or too little for a held-out set.
  """
  inputs, problems = separate.expand_inputs(paths)
  if problems:
    path, reason = problems[0]
    raise audio.FileError(path, reason)
  clip_samples, sample_rate = audio.clip_samples(clip_seconds, sample_rate)
  settings = {"fingerprint": _fingerprint(inputs), "sample_rate": sample_rate,
              "clip_seconds": clip_seconds, "seed": seed, "silence_dbfs": SILENCE_DBFS}
  record_path = filesystem.join(out_dir, PREPARED_FILE)
  if filesystem.exists(record_path):
    record = json.loads(filesystem.read_text(record_path))
    if record.get("settings") == settings:
      return record
  filesystem.makedirs(out_dir)

  # First pass: every recording's usable clips, cut into a staging folder.
  recordings, skipped = [], []
  silent_clips = 0
  staging = filesystem.join(out_dir, "staging")
  if filesystem.exists(staging):
    filesystem.rmtree(staging)
  for number, item in enumerate(inputs):
    written = []

    def write(k, clip, number=number, written=written):
      clips_lib.write_clip(_clip_path(staging, "all", number, k), clip, sample_rate)
      written.append(k)

    try:
      seconds, kept, silent = _cut(item.path, sample_rate, clip_samples, write)
    except audio.AudioReadError as e:
      skipped.append([item.path, e.reason])
      continue
    silent_clips += silent
    if kept == 0:
      skipped.append([item.path, "silent throughout" if silent else
                      f"shorter than one clip ({clip_seconds:g} s)"])
      continue
    recordings.append((number, Recording(item.path, item.relative, seconds, kept, silent)))
    if stream is not None and (len(recordings) % 25 == 0 or number == len(inputs) - 1):
      print(f"  read {number + 1}/{len(inputs)} files", file=stream, flush=True)
  total_clips = sum(r.clips for _, r in recordings)
  if not recordings:
    reasons = "; ".join(f"{os.path.basename(p)}: {r}" for p, r in skipped[:3])
    raise NotEnoughAudioError(f"no usable audio in {len(inputs)} file(s) ({reasons}"
                              f"{'; ...' if len(skipped) > 3 else ''}); adaptation needs "
                              f"{required_audio_text(clip_seconds)}")

  # Held-out recordings: in a seeded order, until the share is reached and
  # they make enough MoMs of two different recordings.
  wanted = min(MAX_HELDOUT_CLIPS, max(MIN_HELDOUT_CLIPS, int(HOLDOUT_SHARE * total_clips)))
  heldout, counts = set(), []
  for number, recording in sorted(recordings, key=lambda r: _holdout_rank(r[1].relative, seed)):
    if sum(counts) >= wanted and cross_pairs(counts) >= MIN_HELDOUT_CLIPS // 2:
      break
    if total_clips - sum(counts) - recording.clips < MIN_TRAIN_CLIPS:
      continue
    heldout.add(number)
    counts.append(recording.clips)
  held = sum(counts)
  train_clips = total_clips - held
  if cross_pairs(counts) < MIN_HELDOUT_CLIPS // 2 or train_clips < MIN_TRAIN_CLIPS:
    raise NotEnoughAudioError(
        f"too little audio to hold out a validation set: {len(recordings)} usable recording(s), "
        f"{total_clips} clips of {clip_seconds:g} s ({total_clips * clip_seconds / 60:.1f} min); "
        f"adaptation needs {required_audio_text(clip_seconds)}")

  # Move the staged clips into their parts; write the lists.
  train_list, heldout_paths = [], []
  for number, recording in recordings:
    part = "heldout" if number in heldout else "train"
    folder = filesystem.join(staging, "all", f"r{number:05d}")
    target = filesystem.join(out_dir, part, f"r{number:05d}")
    if filesystem.exists(target):
      filesystem.rmtree(target)
    filesystem.makedirs(filesystem.dirname(target))
    filesystem.rename(folder, target)
    names = sorted(filesystem.listdir(target))
    paths_here = [filesystem.join(target, name) for name in names]
    if part == "train":
      train_list += [(p, ()) for p in paths_here]
    else:
      heldout_paths.append(paths_here)
  filesystem.rmtree(staging)
  clip_list = filesystem.join(out_dir, "train_clip_list.txt")
  lists.write_clip_list(clip_list, train_list)
  moms = _heldout_moms(heldout_paths, out_dir, seed, clip_seconds, sample_rate)

  hours = lambda rows: round(sum(r.seconds for _, r in rows) / 3600, 4)  # noqa: E731
  record = {
      "settings": settings,
      "files": len(inputs),
      "hours": hours(recordings),
      "clips": total_clips,
      "silent_clips": silent_clips,
      "train": {"recordings": len(recordings) - len(heldout), "clips": train_clips,
                "hours": hours([r for r in recordings if r[0] not in heldout])},
      "heldout": {"recordings": len(heldout), "clips": held, "moms": moms["count"],
                  "hours": hours([r for r in recordings if r[0] in heldout]),
                  "files": sorted(r.relative for n, r in recordings if n in heldout)},
      "skipped": skipped,
      "recordings": {f"r{number:05d}": r.path for number, r in recordings},
      "train_clip_list": clip_list,
      "heldout_mom_list": moms["list"],
      "heldout_clips": [p for group in heldout_paths for p in group],
  }
  filesystem.write_text(record_path, json.dumps(record, indent=1))
  return record


def cross_pairs(counts):
  """How many disjoint pairs of clips from two different recordings `counts` clips allow."""
  total = sum(counts)
  return min(total // 2, total - max(counts, default=0))


def _heldout_moms(groups, out_dir, seed, clip_seconds, sample_rate):
  """Pairs held-out clips of two different recordings into MoMs (`cross_pairs` of them).

  Each pair takes a clip of each of the two recordings with the most clips
  left (ties in a seeded order), which reaches `cross_pairs`; clips drawn
  from a recording in a seeded order.
  """
  rng = np.random.default_rng(seed)
  left = [list(rng.permutation(group)) for group in groups]
  tiebreak = rng.permutation(len(groups))
  pairs = []
  while True:
    order = sorted(range(len(left)), key=lambda g: (-len(left[g]), tiebreak[g]))
    if len(order) < 2 or not left[order[1]]:
      break
    pairs.append((str(left[order[0]].pop()), str(left[order[1]].pop())))
  files = mom_sets.write_mom_set([p for pair in pairs for p in pair], out_dir, "heldout",
                                 pairing="consecutive", seed=seed, clip_seconds=clip_seconds,
                                 sample_rate=sample_rate)
  return {"list": files.mom_list, "count": len(pairs)}
