"""Importers of public dataset lists into this library's list formats (docs/formats.md#input-pipeline).

- YFCC100m (the MixIT paper's clip lists, `datasets/yfcc100m/README.md` of
  the original code): CSV rows `video path, input start s, input end s,
  output offset s`, one clip per row (the test MoM CSV: two clips per row).
  Each clip is cut from a locally downloaded audio track of the video and
  placed at its offset in a 10 s clip of zeros. `import_yfcc_clips` writes a
  clip list (no labels: YFCC100m has none); `import_yfcc_moms` a MoM set
  (`mom` module).
- FUSS: its `<split>_example_list.txt` files are already FUSS lists;
  `normalise_fuss_list` checks that every file exists (and optionally that
  each mixture is the sum of its sources) and rewrites the list relative to
  its new location.
- Libri2Mix: the metadata CSVs LibriMix writes beside its audio
  (`mixture_ID,mixture_path,source_1_path,source_2_path[,noise_path],length`)
  become FUSS lists: `convert_librimix_csv` with task 'separation' (sources
  s1, s2, plus the noise when the CSV has it, so that the mixture is the sum
  of its sources) or 'enhancement' (sources speech = s1, noise; from a
  `mix_single` CSV, whose mixtures are s1 + noise).

Missing files are errors naming the file and the list line, or, with
`on_missing='skip'`, are left out and counted in the returned
`ImportReport`.
"""

import csv
import os
import typing

import numpy as np

from sound_separation import filesystem
from sound_separation.corpus import clips
from sound_separation.corpus import layout
from sound_separation.corpus import mom_sets
from sound_separation.data import audio
from sound_separation.data import examples
from sound_separation.data import lists

ON_MISSING = ("raise", "skip")
LIBRIMIX_TASKS = ("separation", "enhancement")
# Extensions tried for a video's locally extracted audio track.
# The formats a YFCC100m clip's audio is looked for in, in this order.
YFCC_AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
_YFCC_FIELDS = 4


class ImportReport(typing.NamedTuple):
  """What an importer wrote."""

  list_path: str
  written: int  # lines (clips, examples or MoMs) in the list.
  skipped: int  # rows left out for missing files (on_missing='skip').
  missing: typing.Tuple[str, ...]  # the missing files (YFCC100m: videos), in list order.


class YfccClip(typing.NamedTuple):
  """One clip of a YFCC100m CSV row (times in seconds)."""

  video: str  # e.g. 'data/videos/mp4/827/f6b/827f6b...mp4'.
  start: float  # input start time.
  end: float  # input end time.
  offset: float  # where the input starts in the output clip.


class MissingFileError(audio.FileError):
  """A file named by a list does not exist."""

  message = "missing file '{path}': {reason}"


def _check_on_missing(on_missing):
  if on_missing not in ON_MISSING:
    raise ValueError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")


def _read_csv_rows(path):
  """`[(line_number, fields)]` of the non-blank rows of a CSV file."""
  path = os.fspath(path)
  try:
    with filesystem.open_file(path, "r", newline="") as f:
      rows = list(csv.reader(f))
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise audio.FileError(path, f"cannot read the CSV file: {e}") from e
  return [(n, [c.strip() for c in row]) for n, row in enumerate(rows, start=1)
          if any(c.strip() for c in row)]


# ----------------------------------------------------------------------------
# YFCC100m.


def _float(text):
  try:
    return float(text)
  except ValueError:
    return None


def read_yfcc_csv(path, clips_per_row=1):
  """Parses a YFCC100m clip CSV: 4 fields per clip, `clips_per_row` clips per row.

  A first row whose time fields are not numbers is taken for a header and
  skipped.

  Returns:
    `[(line_number, (YfccClip, ...))]`.

  Raises:
    ValueError: naming the file and line, for a wrong field count, a time
      that is not a number, `end <= start`, or a negative start or offset.
  """
  path = os.fspath(path)
  rows = _read_csv_rows(path)
  width = _YFCC_FIELDS * clips_per_row
  if rows and len(rows[0][1]) > 1 and _float(rows[0][1][1]) is None:
    rows = rows[1:]  # A header row: its "start time" is a column name.
  parsed = []
  for number, fields in rows:
    where = f"{path}:{number}"
    if len(fields) != width:
      raise ValueError(f"{where}: expected {width} fields (video path, input start, input end, "
                       f"output offset{' per clip' if clips_per_row > 1 else ''}), got "
                       f"{len(fields)}")
    row = []
    for k in range(0, width, _YFCC_FIELDS):
      video = fields[k]
      times = [_float(t) for t in fields[k + 1:k + _YFCC_FIELDS]]
      if not video or any(t is None or not np.isfinite(t) for t in times):
        raise ValueError(f"{where}: expected a video path and three times in seconds, got "
                         f"{fields[k:k + _YFCC_FIELDS]}")
      start, end, offset = times
      if start < 0 or end <= start or offset < 0:
        raise ValueError(f"{where}: need 0 <= start < end and offset >= 0, got start={start}, "
                         f"end={end}, offset={offset}")
      row.append(YfccClip(video, start, end, offset))
    parsed.append((number, tuple(row)))
  if not parsed:
    raise audio.FileError(path, "the YFCC100m CSV lists no clips")
  return parsed


def find_yfcc_audio(audio_dir, video):
  """The local audio file of a video, or None.

  Tried in order, for each extension of `YFCC_AUDIO_EXTENSIONS`: the video
  path under `audio_dir` with its extension replaced
  (`<audio_dir>/data/videos/mp4/827/f6b/827f6b….wav`), then the video's
  file name alone (`<audio_dir>/827f6b….wav`).
  """
  stem = os.path.splitext(video.lstrip("/"))[0]
  for base in (stem, os.path.basename(stem)):
    for extension in YFCC_AUDIO_EXTENSIONS:
      candidate = os.path.join(os.fspath(audio_dir), base + extension)
      if os.path.isfile(candidate):
        return candidate
  return None


def yfcc_clip_waveform(waveform, clip, num_samples, sample_rate):
  """The output clip of a YFCC100m row from a video's audio track.

  Args:
    waveform: the whole audio track, `[L]` at `sample_rate`.
    clip: a `YfccClip`.
    num_samples: T, the output clip length.

  Returns:
    float32 `[T]`: zeros, with the input segment `[start, end)` from
    `offset`; a segment past the end of the track or of the output clip is
    cut there.
  """
  start = int(round(clip.start * sample_rate))
  end = int(round(clip.end * sample_rate))
  offset = min(int(round(clip.offset * sample_rate)), num_samples)
  segment = np.asarray(waveform, np.float32)[start:end][:num_samples - offset]
  out = np.zeros([num_samples], np.float32)
  out[offset:offset + segment.shape[0]] = segment
  return out


def _yfcc_rows(csv_path, audio_dir, clips_per_row, on_missing):
  """`([(number, clips, audio_paths)], skipped, missing)`: rows with all their audio.

  A row with a video without local audio raises `MissingFileError`, or is
  skipped (counted in `skipped`, its videos in `missing`).
  """
  rows, missing = [], []
  skipped = 0
  for number, row in read_yfcc_csv(csv_path, clips_per_row):
    found = [find_yfcc_audio(audio_dir, clip.video) for clip in row]
    absent = [clip.video for clip, path in zip(row, found) if path is None]
    if absent:
      if on_missing == "raise":
        raise MissingFileError(
            os.path.join(os.fspath(audio_dir), absent[0]),
            f"no audio track ({', '.join(YFCC_AUDIO_EXTENSIONS)}) for the video of "
            f"{os.fspath(csv_path)}:{number} under '{os.fspath(audio_dir)}'")
      missing += absent
      skipped += 1
      continue
    rows.append((number, row, found))
  return rows, skipped, missing


def import_yfcc_clips(csv_path, audio_dir, out_dir, split, clip_seconds=10.0, sample_rate=16000,
                      on_missing="raise"):
  """Cuts the clips of a YFCC100m clip CSV from local audio and lists them.

  Writes `<out_dir>/<split>/<row>_<video stem>.wav` (16-bit PCM; row the
  6-digit row number in the CSV) and `<out_dir>/<split>_clip_list.txt`.

  Args:
    csv_path: the YFCC100m CSV (train, validation or test).
    audio_dir: where the videos' audio tracks are (see `find_yfcc_audio`).
    out_dir, split: the output folder and split name.
    clip_seconds, sample_rate: the output clips (10 s, 16 kHz in the paper).
    on_missing: 'raise' or 'skip' for a video without a local audio track.

  Returns:
    An `ImportReport`.
  """
  _check_on_missing(on_missing)
  split = layout.check_split(split)
  num_samples, sample_rate = audio.clip_samples(clip_seconds, sample_rate)
  rows, skipped, missing = _yfcc_rows(csv_path, audio_dir, 1, on_missing)
  listed = []
  for number, (clip,), (audio_path,) in rows:
    waveform = yfcc_clip_waveform(audio.read_audio(audio_path, sample_rate), clip, num_samples,
                                  sample_rate)
    stem = layout.file_name_part(os.path.splitext(os.path.basename(clip.video))[0])
    path = os.path.join(os.fspath(out_dir), split, f"{number:06d}_{stem}.wav")
    clips.write_clip(path, waveform, sample_rate)
    listed.append((path, None))
  if not listed:
    raise ValueError(f"no clip of '{os.fspath(csv_path)}' has local audio under "
                     f"'{os.fspath(audio_dir)}' ({len(missing)} missing)")
  list_path = lists.write_clip_list(layout.corpus_files(out_dir, split).clip_list, listed)
  return ImportReport(list_path, len(listed), skipped, tuple(missing))


def import_yfcc_moms(csv_path, audio_dir, out_dir, split, clip_seconds=10.0, sample_rate=16000,
                     on_missing="raise"):
  """Builds the MoM set of a YFCC100m test MoM CSV (two clips per row) from local audio.

  Each row's two clips are cut like `import_yfcc_clips` and written as a MoM
  (`mom_sets.write_mom`: scaled together only if their sum passes full scale).
  Writes the `mom` layout: `<out_dir>/<split>_mom_list.txt` and
  `<split>_mom_origins.txt` (the origins name the local audio tracks).

  Returns:
    An `ImportReport` (its list the MoM list).
  """
  _check_on_missing(on_missing)
  split = layout.check_split(split)
  num_samples, sample_rate = audio.clip_samples(clip_seconds, sample_rate)
  rows, skipped, missing = _yfcc_rows(csv_path, audio_dir, 2, on_missing)
  moms, origins = [], []
  for index, (_, row, audio_paths) in enumerate(rows):
    pair = mom_sets.fit_pair(*[
        yfcc_clip_waveform(audio.read_audio(p, sample_rate), clip, num_samples, sample_rate)
        for clip, p in zip(row, audio_paths)], num_samples)
    moms.append(mom_sets.write_mom(out_dir, split, index, pair[0], pair[1], sample_rate))
    origins.append(tuple(audio_paths))
  if not moms:
    raise ValueError(f"no MoM of '{os.fspath(csv_path)}' has local audio under "
                     f"'{os.fspath(audio_dir)}' ({len(missing)} missing)")
  files = mom_sets.write_mom_lists(out_dir, split, moms, origins)
  return ImportReport(files.mom_list, files.count, skipped, tuple(missing))


# ----------------------------------------------------------------------------
# FUSS.


def normalise_fuss_list(list_path, out_path, on_missing="raise", check_audio=False,
                        sample_rate=16000, mixture_tolerance=1e-3):
  """Checks a FUSS example list and rewrites it at `out_path`.

  Args:
    list_path: a FUSS `<split>_example_list.txt` (paths relative to its
      folder).
    out_path: the list to write; its entries are relative to its own folder
      when inside it, else absolute. May be `list_path` itself.
    on_missing: 'raise' or 'skip' for an example with a missing file.
    check_audio: also read every example and check that the sources match
      their mixture's length and sum to it (`examples.read_fuss_example`);
      a failing example is an error.
    sample_rate, mixture_tolerance: for `check_audio`.

  Returns:
    An `ImportReport`.
  """
  _check_on_missing(on_missing)
  kept, missing = [], []
  skipped = 0
  for mixture, sources in lists.read_fuss_list(list_path):
    absent = [p for p in [mixture] + sources if not os.path.isfile(p)]
    if absent:
      if on_missing == "raise":
        raise MissingFileError(absent[0], f"listed in '{os.fspath(list_path)}' (example "
                               f"'{mixture}')")
      missing += absent
      skipped += 1
      continue
    if check_audio:
      examples.read_fuss_example(mixture, sources, sample_rate, mixture_tolerance)
    kept.append((mixture, sources))
  if not kept:
    raise ValueError(f"no example of '{os.fspath(list_path)}' has all its files "
                     f"({len(missing)} missing)")
  lists.write_fuss_list(out_path, kept)
  return ImportReport(os.fspath(out_path), len(kept), skipped, tuple(missing))


# ----------------------------------------------------------------------------
# Libri2Mix.


def _remap(path, path_prefixes):
  for old, new in path_prefixes:
    if path.startswith(old):
      return new + path[len(old):]
  return path


def convert_librimix_csv(csv_path, out_path, task="separation", path_prefixes=(),
                         on_missing="raise"):
  """Converts a LibriMix metadata CSV to a FUSS list.

  Args:
    csv_path: e.g. `Libri2Mix/wav16k/min/metadata/mixture_test_mix_both.csv`,
      with a header naming `mixture_path`, `source_<k>_path` (k = 1, 2, ...)
      and optionally `noise_path`; other columns are ignored.
    out_path: the FUSS list to write.
    task: 'separation': sources s1, s2, ... then the noise if the CSV has a
      `noise_path` column (mix_both: the mixture includes it). 'enhancement':
      sources speech (s1), noise; the CSV must have `noise_path` and a single
      speaker (mix_single).
    path_prefixes: `(old, new)` pairs: a path starting with `old` has it
      replaced by `new` (LibriMix writes absolute paths of the machine that
      generated it); the first match applies. Relative paths are relative to
      the CSV's folder.
    on_missing: 'raise' or 'skip' for a row with a missing file.

  Returns:
    An `ImportReport`.
  """
  _check_on_missing(on_missing)
  if task not in LIBRIMIX_TASKS:
    raise ValueError(f"task must be one of {LIBRIMIX_TASKS}, got {task!r}")
  csv_path = os.fspath(csv_path)
  folder = os.path.dirname(os.path.abspath(csv_path))
  rows = _read_csv_rows(csv_path)
  if not rows:
    raise audio.FileError(csv_path, "the CSV file is empty")
  header = rows[0][1]
  speakers = []
  while f"source_{len(speakers) + 1}_path" in header:
    speakers.append(f"source_{len(speakers) + 1}_path")
  if "mixture_path" not in header or not speakers:
    raise audio.FileError(csv_path, f"the header {header} lacks mixture_path or source_1_path; "
                          "expected a LibriMix metadata CSV")
  has_noise = "noise_path" in header
  if task == "enhancement" and (not has_noise or len(speakers) != 1):
    raise audio.FileError(
        csv_path, "enhancement needs a mix_single CSV (mixture = source_1 + noise, columns "
        f"mixture_path, source_1_path, noise_path); this one has {len(speakers)} speaker "
        f"column(s) and {'a' if has_noise else 'no'} noise_path column")
  columns = ["mixture_path"] + speakers + (["noise_path"] if has_noise else [])
  index = [header.index(c) for c in columns]
  examples, missing = [], []
  skipped = 0
  for number, fields in rows[1:]:
    where = f"{csv_path}:{number}"
    if len(fields) != len(header):
      raise ValueError(f"{where}: {len(fields)} fields, the header has {len(header)}")
    if not all(fields[i] for i in index):
      raise ValueError(f"{where}: an empty path in the columns {columns}")
    paths = [os.path.join(folder, _remap(fields[i], path_prefixes)) for i in index]
    absent = [p for p in paths if not os.path.isfile(p)]
    if absent:
      if on_missing == "raise":
        raise MissingFileError(absent[0], f"listed in {where}")
      missing += absent
      skipped += 1
      continue
    examples.append((paths[0], paths[1:]))
  if not examples:
    raise ValueError(f"no row of '{csv_path}' has all its files ({len(missing)} missing)")
  lists.write_fuss_list(out_path, examples)
  return ImportReport(os.fspath(out_path), len(examples), skipped, tuple(missing))
