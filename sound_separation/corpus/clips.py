"""Fixed-length clips cut from long recordings in the wild, with weak labels.

MixIT trains on 10 s clips of in-the-wild audio (YFCC100m, AudioSet) with
optional clip-level labels (docs/formats.md#input-pipeline). `write_clips` cuts every recording of a
manifest (`read_recording_manifest`: `path,labels`) into consecutive,
non-overlapping clips at 16 kHz mono (any input rate and channel count, via
`audio.read_audio`); each clip inherits its recording's labels.

On disk, for a split such as 'train':

    <out_dir>/train/<r>_<stem>/clip<k>.wav     clip k of recording r, from k · clip_seconds s
    <out_dir>/train_clip_list.txt              <clip>[\\t<label>,<label>...]
    <out_dir>/labels.txt                       every label, sorted (only if any)

r is the recording's 5-digit row in the manifest, k a 4-digit clip number;
a clip skipped as near-silent leaves a gap in k, so a clip's name still
gives its start time.
"""

import os
import re
import typing

import numpy as np

from sound_separation.corpus import layout
from sound_separation.data import audio
from sound_separation.data import pipelines
from sound_separation.data import lists

TAILS = ("drop", "pad")
ON_ERROR = pipelines.ON_ERROR

# Labels in a manifest's `labels` field: separated by ';', or by ',' in a
# quoted CSV field.
_LABEL_SEPARATORS = re.compile(r"[;,]")


class Recording(typing.NamedTuple):
  """One row of a recording manifest."""

  path: str
  labels: tuple  # class names; empty for an unlabelled recording.


class ClipReport(typing.NamedTuple):
  """What `write_clips` wrote."""

  clip_list: str
  vocabulary: typing.Optional[str]  # None when no recording has labels.
  clips: int  # clips listed.
  silent: int  # clips dropped as near-silent.
  clipped: int  # clips with samples beyond full scale, hard-limited to ±1.
  failed: typing.Tuple[str, ...]  # unreadable recordings skipped (on_error='skip').


def read_recording_manifest(path):
  """Parses a CSV manifest with a header row naming the columns `path` and `labels`.

  `path` is relative to the CSV's folder (or absolute). `labels` (optional
  column, may be empty) holds class names separated by ';' or, in a quoted
  field, by ','. Other columns are ignored.

  Returns:
    list of `Recording`, in file order.

  Raises:
    FileError / ValueError naming the file (and line) for a missing `path`
    column, an empty path, a bad label or a row with too few fields.
  """
  path = os.fspath(path)
  folder, header, rows = layout.read_csv_manifest(path, ("path",), "path,labels")
  path_column = header.index("path")
  labels_column = header.index("labels") if "labels" in header else None
  recordings = []
  for number, row in rows:
    where = f"{path}:{number}"
    if len(row) != len(header):
      raise ValueError(f"{where}: {len(row)} fields, the header has {len(header)} (quote a "
                       "labels field that holds commas)")
    file = row[path_column].strip()
    if not file:
      raise ValueError(f"{where}: empty path")
    labels = ()
    if labels_column is not None and row[labels_column].strip():
      labels = tuple(lists.check_label(name.strip(), where)
                     for name in _LABEL_SEPARATORS.split(row[labels_column]))
    recordings.append(Recording(os.path.join(folder, file), labels))
  if not recordings:
    raise audio.FileError(path, "the CSV manifest lists no recordings")
  return recordings


def cut_clips(waveform, clip_samples, tail="drop"):
  """Cuts `[L]` into consecutive, non-overlapping clips of `clip_samples`.

  Args:
    waveform: `[L]`.
    clip_samples: T.
    tail: what to do with the last `L mod T` samples: 'drop' them, or 'pad'
      them with zeros into one more clip. (A recording shorter than T gives
      no clip with 'drop' and one with 'pad'.)

  Returns:
    `[N, T]` with N = floor(L / T), or ceil(L / T) with 'pad'.
  """
  if tail not in TAILS:
    raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")
  waveform = np.asarray(waveform)
  count = waveform.shape[0] // clip_samples
  if tail == "pad" and waveform.shape[0] % clip_samples:
    count += 1
    waveform = np.pad(waveform, (0, count * clip_samples - waveform.shape[0]))
  return waveform[:count * clip_samples].reshape(count, clip_samples)


def rms_dbfs(x):
  """RMS level of `[T]` in dB re full scale; -inf for silence."""
  power = float(np.mean(np.square(np.asarray(x, np.float64)))) if np.size(x) else 0.0
  return 10 * np.log10(power) if power > 0 else -np.inf


def write_clip(path, waveform, sample_rate):
  """Writes `[T]` as 16-bit PCM, hard-limiting samples beyond ±1.

  Resampling a recording that reaches full scale overshoots it slightly;
  the overshoot is limited rather than refused.

  Returns:
    whether any sample was limited.
  """
  waveform = np.asarray(waveform, np.float32)
  clipped = bool(np.any(np.abs(waveform) > 1.0))
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  audio.write_audio(path, audio.to_pcm16(np.clip(waveform, -1.0, 1.0), f"clip '{path}'"),
                    sample_rate)
  return clipped


def write_clips(recordings, out_dir, split, clip_seconds=10.0, sample_rate=16000, tail="drop",
                min_rms_dbfs=None, on_error="raise"):
  """Cuts recordings into clips and writes them with their clip list.

  Args:
    recordings: `Recording`s (see `read_recording_manifest`).
    out_dir: the output folder, created if missing.
    split: the split name, used as a folder and list-name prefix.
    clip_seconds, sample_rate: the clip length and rate.
    tail: 'drop' or 'pad', see `cut_clips`.
    min_rms_dbfs: None, or a level in dBFS: clips whose RMS is lower are
      skipped as near-silent (e.g. -60).
    on_error: 'raise' stops at the first unreadable recording with an error
      naming it; 'skip' leaves it out and reports it in `failed`.

  Returns:
    A `ClipReport`.

  Raises:
    ValueError: bad arguments, or no clip at all to list.
  """
  split = layout.check_split(split)
  num_samples, sample_rate = audio.clip_samples(clip_seconds, sample_rate)
  if tail not in TAILS:
    raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")
  if on_error not in ON_ERROR:
    raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
  files = layout.corpus_files(out_dir, split)
  listed, failed = [], []
  silent = clipped = 0
  for row, recording in enumerate(recordings):
    try:
      waveform = audio.read_audio(recording.path, sample_rate)
    except audio.AudioReadError:
      if on_error == "raise":
        raise
      failed.append(recording.path)
      continue
    stem = layout.file_name_part(os.path.splitext(os.path.basename(recording.path))[0])
    folder = os.path.join(os.fspath(out_dir), split, f"{row:05d}_{stem}")
    for k, clip in enumerate(cut_clips(waveform, num_samples, tail)):
      if min_rms_dbfs is not None and rms_dbfs(clip) < min_rms_dbfs:
        silent += 1
        continue
      path = os.path.join(folder, f"clip{k:04d}.wav")
      clipped += write_clip(path, clip, sample_rate)
      listed.append((path, recording.labels))
  if not listed:
    raise ValueError(f"no clip to list: {len(recordings)} recordings gave no clip of "
                     f"{clip_seconds} s (tail={tail!r}, {silent} near-silent, "
                     f"{len(failed)} unreadable)")
  vocabulary = sorted({label for _, labels in listed for label in labels})
  if vocabulary:
    lists.write_label_vocabulary(files.vocabulary, vocabulary)
  lists.write_clip_list(files.clip_list, listed, vocabulary=vocabulary or None)
  return ClipReport(files.clip_list, files.vocabulary if vocabulary else None, len(listed),
                    silent, clipped, tuple(failed))
