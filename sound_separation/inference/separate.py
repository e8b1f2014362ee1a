"""`sound-separation separate`: separate audio files of any length and rate.

A file is read at its own rate (channels averaged), resampled to the
model's, separated in overlapping chunks, and each output resampled back to
the file's rate and length.

Chunks: a separator's outputs have no fixed order, so output j of one chunk
need not be the same sound as output j of the next. Each chunk's outputs
are therefore permuted to match the previous chunk's on their overlap
(minimum total squared difference, an exact assignment), then cross-faded
linearly over the overlap. The fades sum to one, so when each chunk's
outputs sum to its input (mixture consistency), the stitched outputs sum
to the whole input.

Many files (`separate_files`): each input's outputs go to a folder of its
own that mirrors the input's path (see `output_folder`), so no two inputs
collide; a folder that exists is a finished input and is skipped unless
`overwrite`; outputs are written to a temporary folder that is renamed when
complete, so a kill never leaves a partial folder under a final name; a bad
file is reported and skipped and the rest are processed.
"""

import glob
import os
import shutil
import sys
import time
import typing

import numpy as np
import scipy.optimize

from sound_separation import filesystem
from sound_separation.data import audio
from sound_separation.evaluation import listening

# What a folder argument expands to (libsndfile's formats, by extension).
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                    ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64", ".voc", ".sd2")
_PARTIAL = ".partial-"
# Compiling the fixed-length function (XLA) costs more on its first call than
# tracing the any-length graph, and saves time on every later chunk. Measured
# with the shipped model (tools/bench_cli.py, docs/benchmarks.md): about
# 1.5 s more up front, 0.11 s less per 10 s chunk, so it pays from about 14
# chunks on; a job with fewer chunks in all runs uncompiled.
COMPILE_MIN_CHUNKS = 16


def _chunk_starts(num_samples, chunk, hop):
  """Starts of equal-length chunks covering [0, num_samples); the last ends at the end."""
  if num_samples <= chunk:
    return [0]
  starts = list(range(0, num_samples - chunk, hop))
  starts.append(num_samples - chunk)
  return starts


def _match(previous, current):
  """Permutation `p` with `current[p[j]]` best matching `previous[j]`, both `[M, L]`."""
  # ‖a − b‖² = ‖a‖² + ‖b‖² − 2⟨a, b⟩ for every pair, as one product.
  cost = (np.sum(previous ** 2, 1)[:, None] + np.sum(current ** 2, 1)[None, :]
          - 2.0 * previous @ current.T)
  rows, columns = scipy.optimize.linear_sum_assignment(cost)
  return columns[np.argsort(rows)]


def num_chunks(num_samples, sample_rate, chunk_seconds=10.0, overlap_seconds=1.0):
  """How many chunks `separate_waveform` cuts `num_samples` at `sample_rate` into."""
  chunk = int(round(chunk_seconds * sample_rate))
  overlap = int(round(overlap_seconds * sample_rate))
  return len(_chunk_starts(int(num_samples), chunk, chunk - overlap))


def separate_waveform(separator, waveform, chunk_seconds=10.0, overlap_seconds=1.0,
                      batch_size=4, compiled=True):
  """Separates one long waveform at the model's rate.

  Args:
    separator: a `Separator` (`inference.load_model`; its compiled
      `fixed_length` function is used where it has one for the chunk
      length), or any callable `[B, L] -> [B, M, L]` with a `sample_rate`
      attribute.
    waveform: float32 `[T]` at `separator.sample_rate`.
    chunk_seconds: chunk length; inputs up to this length are one chunk.
    overlap_seconds: at least this much overlap between consecutive chunks
      (the last chunk is aligned to the end, so its overlap may be longer).
    batch_size: chunks per call of the separator.
    compiled: use the separator's compiled fixed-length function where it
      has one (False: always the any-length graph, which starts sooner; see
      `COMPILE_MIN_CHUNKS`).

  Returns:
    float32 `[M, T]`.
  """
  waveform = np.asarray(waveform, np.float32)
  if waveform.ndim != 1 or waveform.size == 0:
    raise ValueError(f"waveform must be [samples] with samples >= 1, got shape "
                     f"{waveform.shape}")
  rate = separator.sample_rate
  chunk = int(round(chunk_seconds * rate))
  overlap = int(round(overlap_seconds * rate))
  if chunk < 1 or not 0 < overlap < chunk:
    raise ValueError(f"need chunk_seconds > overlap_seconds > 0 (at least one sample at "
                     f"{rate} Hz), got chunk_seconds={chunk_seconds!r}, "
                     f"overlap_seconds={overlap_seconds!r}")
  num_samples = waveform.shape[0]
  # Full chunks go through the separator's function compiled for the chunk
  # length, where it has one: one program for every file. A shorter input
  # takes the any-length graph rather than being padded, since padding would
  # change the separator's statistics over time and so its outputs.
  has_fixed = getattr(separator, "has_fixed_length", None)
  compiled = compiled and has_fixed is not None and num_samples >= chunk and has_fixed(chunk)
  call = separator.fixed_length(chunk) if compiled else separator
  starts = _chunk_starts(num_samples, chunk, chunk - overlap)
  length = min(chunk, num_samples)
  pieces = []
  for i in range(0, len(starts), batch_size):
    batch = np.stack([waveform[s:s + length] for s in starts[i:i + batch_size]])
    pieces.extend(call(batch))
  output = np.array(pieces[0], np.float32)
  if len(starts) == 1:
    return output
  output = np.pad(output, [(0, 0), (0, num_samples - length)])
  for index in range(1, len(starts)):
    start, end = starts[index], starts[index - 1] + length
    piece = pieces[index]
    piece = piece[_match(output[:, start:end], piece[:, :end - start])]
    fade = (np.arange(end - start, dtype=np.float32) + 0.5) / (end - start)
    output[:, start:end] = output[:, start:end] * (1.0 - fade) + piece[:, :end - start] * fade
    output[:, end:start + length] = piece[:, end - start:]
  return output


def loudest(separated, num_sources):
  """Indices of the `num_sources` outputs of `[M, T]` with the most energy, in output order."""
  if not 1 <= num_sources <= separated.shape[0]:
    raise ValueError(f"num_sources must be between 1 and the model's {separated.shape[0]} "
                     f"outputs, got {num_sources!r}")
  energy = np.sum(np.square(separated, dtype=np.float64), axis=1)
  return np.sort(np.argsort(-energy, kind="stable")[:num_sources])


def separate_file(separator, path, out_dir, num_sources=None, chunk_seconds=10.0,
                  overlap_seconds=1.0, subtype="FLOAT", compiled=True):
  """Separates an audio file; writes `<out_dir>/<name>_source<j>.wav` per output.

  Args:
    separator: a `Separator`.
    path: any file libsndfile reads (wav, flac, ogg, ...), any rate, any
      number of channels (averaged).
    out_dir: created if missing.
    num_sources: keep only this many outputs, the loudest (None: all M).
    chunk_seconds, overlap_seconds: as in `separate_waveform`.
    subtype: libsndfile subtype of the written wavs; 'FLOAT' keeps samples
      beyond full scale, which separated sources of a loud mixture can have.
    compiled: as in `separate_waveform`.

  Returns:
    The written paths, in output order.
  """
  rate = audio.file_sample_rate(path)
  waveform = audio.read_audio(path, sample_rate=rate)
  separated = separate_waveform(separator, audio.resample(waveform, rate, separator.sample_rate),
                                chunk_seconds, overlap_seconds, compiled=compiled)
  keep = (np.arange(separated.shape[0]) if num_sources is None
          else loudest(separated, num_sources))
  restored = audio.resample(separated[keep], separator.sample_rate, rate)
  restored = restored[:, :waveform.shape[0]]
  restored = np.pad(restored, [(0, 0), (0, waveform.shape[0] - restored.shape[1])])
  filesystem.makedirs(out_dir)
  name = os.path.splitext(filesystem.basename(path))[0]
  written = []
  for j, source in zip(keep, restored):
    out_path = filesystem.join(out_dir, f"{name}_source{j}.wav")
    # Renamed when complete: a kill never leaves a truncated wav under its name.
    partial = filesystem.join(out_dir, f".{name}_source{j}{_PARTIAL}{os.getpid()}.wav")
    audio.write_audio(partial, source, rate, subtype)
    filesystem.rename(partial, out_path, overwrite=True)
    written.append(out_path)
  return written


def _write_atomically(folder, write):
  """Runs `write(temporary_folder)`, then renames the folder to `folder`.

  An existing `folder` is replaced only after the new one is complete. On a
  remote filesystem (no folder renames there) the files are written into
  `folder` directly, each still renamed into place when complete.
  """
  if filesystem.is_remote(folder):
    filesystem.makedirs(folder)
    return write(folder)
  parent, name = os.path.split(os.path.abspath(folder))
  os.makedirs(parent, exist_ok=True)
  # What a killed earlier run left of this folder (its names carry its pid).
  for pattern in (f".{glob.escape(name)}{_PARTIAL}*", f".{glob.escape(name)}.old-*"):
    for stale in glob.glob(os.path.join(parent, pattern)):
      shutil.rmtree(stale, ignore_errors=True)
  partial = os.path.join(parent, f".{name}{_PARTIAL}{os.getpid()}")
  try:
    result = write(partial)
    if os.path.exists(folder):
      old = os.path.join(parent, f".{name}.old-{os.getpid()}")
      os.replace(folder, old)
      os.replace(partial, folder)
      shutil.rmtree(old)
    else:
      os.replace(partial, folder)
  finally:
    shutil.rmtree(partial, ignore_errors=True)
  return result


class Input(typing.NamedTuple):
  path: str  # the file as found.
  relative: str  # its path relative to the inputs' common folder.


def expand_inputs(paths):
  """Files and folders (searched recursively for `AUDIO_EXTENSIONS`) as `Input`s.

  `relative` is each file's path from the common folder of the arguments
  (a folder argument counts as itself, a file as its folder), so the same
  arguments always map to the same outputs.

  Returns:
    `(inputs, problems)`: the files in argument order (each folder's
    sorted), and `(argument, reason)` for arguments that do not exist or
    are folders without audio files.
  """
  found, missing, roots = [], [], []
  for path in paths:
    path = os.fspath(path)
    if filesystem.isdir(path):
      roots.append(filesystem.absolute(path))
      before = len(found)
      for folder, subfolders, files in filesystem.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [filesystem.join(folder, f) for f in sorted(files)
                  if os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS]
      if len(found) == before:
        missing.append((path, f"the folder holds no audio files ({', '.join(AUDIO_EXTENSIONS)})"))
    elif filesystem.exists(path):
      roots.append(filesystem.dirname(path))
      found.append(path)
    else:
      missing.append((path, "no such file or folder"))
  root = filesystem.commonpath(roots) if roots else os.getcwd()
  unique = list(dict.fromkeys(found))
  return [Input(p, filesystem.relative(filesystem.absolute(p), root)) for p in unique], missing


def output_folder(out_dir, relative):
  """`<out_dir>/<relative folder>/<name>_<extension>`: one folder per input.

  The extension stays in the name (`ok.wav` -> `ok_wav/`, `ok.flac` ->
  `ok_flac/`) so that inputs differing only by extension do not collide.
  """
  folder, name = os.path.split(relative)
  stem, extension = os.path.splitext(name)
  leaf = f"{stem}_{extension[1:]}" if extension else stem
  return filesystem.join(out_dir, folder, leaf) if folder else filesystem.join(out_dir, leaf)


class Summary(typing.NamedTuple):
  separated: list  # input paths.
  skipped: list  # input paths whose outputs were already there.
  failed: list  # (input path, reason).


def _duration(seconds):
  seconds = int(round(seconds))
  return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _job_chunks(inputs, sample_rate, chunk_seconds, overlap_seconds):
  """Chunks of all inputs together, from their headers (unreadable files count 0)."""
  total = 0
  for item in inputs:
    try:
      seconds = audio.file_duration(item.path)
    except audio.AudioReadError:
      continue
    total += num_chunks(max(1, int(seconds * sample_rate)), sample_rate, chunk_seconds,
                        overlap_seconds)
  return total


def write_listening_page(out_dir, items, description, stream=None):
  """`<out_dir>/index.html`: each input with its outputs, players and spectrograms.

  Args:
    out_dir: the root of the output folders.
    items: `(input path, output folder)` pairs whose outputs exist.
    description: the model, for the page's introduction.
    stream: where to say what was written (None: nowhere).

  Returns:
    the page's path.
  """
  page = listening.ListeningPage(
      "Separations", f"Model: {description}. Each input with its separated outputs; an "
      f"output is marked active when its level is within "
      f"{listening.ACTIVE_BELOW_MIXTURE_DB:g} dB of its input's.")
  for path, folder in items:
    rate = audio.file_sample_rate(path)
    limit = int(listening.MAX_PICTURE_SECONDS * rate)
    mixture = audio.read_audio(path, sample_rate=rate)[:limit]
    outputs = sorted(f for f in filesystem.listdir(folder) if f.endswith(".wav"))
    waveforms = [audio.read_audio(filesystem.join(folder, f), sample_rate=rate)[:limit]
                 for f in outputs]
    active = listening.outputs_activity(waveforms, mixture)
    tracks = [listening.Track("input", path, mixture, rate)]
    tracks += [listening.Track(os.path.splitext(f)[0].rsplit("_", 1)[-1], filesystem.join(
        folder, f), w, rate, active=a) for f, w, a in zip(outputs, waveforms, active)]
    page.add(os.fspath(path), tracks, scores={
        "active outputs": f"{sum(active)} of {len(active)}"})
  written = page.write(out_dir)
  if stream is not None:
    print(f"Listening page: {written}", file=stream, flush=True)
  return written


def separate_files(separator, paths, out_dir, overwrite=False, num_sources=None,
                   chunk_seconds=10.0, overlap_seconds=1.0, stream=None, report=False):
  """Separates many files and folders; never overwrites, never stops at a bad file.

  Each input's outputs (`separate_file`) go to `output_folder(out_dir, ...)`.
  Progress (count, share, time left) goes to `stream` per file, then a
  summary with every failure and its reason.

  Args:
    separator: a `Separator`.
    paths: files and folders (folders are searched recursively).
    out_dir: the root of the output folders.
    overwrite: replace the outputs of inputs that already have them (else
      they are skipped, so a re-run resumes a big job).
    num_sources, chunk_seconds, overlap_seconds: as in `separate_file`.
    stream: progress and summary (default stdout).
    report: also write `<out_dir>/index.html` (`write_listening_page`) with
      every input whose outputs are there (separated now or before).

  Returns:
    A `Summary`.
  """
  stream = stream or sys.stdout
  inputs, failed = expand_inputs(paths)
  folders = {}
  for item in inputs:
    folders.setdefault(output_folder(out_dir, item.relative), []).append(item.path)
  for folder, sources in folders.items():
    if len(sources) > 1:  # e.g. 'a/b_wav' (no extension) and 'a/b.wav'.
      raise ValueError(f"inputs {sources} would share the output folder {folder}; rename one")
  separated, skipped = [], []
  start = time.monotonic()
  # A short job (one 10 s file) runs sooner uncompiled: COMPILE_MIN_CHUNKS.
  compiled = _job_chunks(inputs, separator.sample_rate, chunk_seconds,
                         overlap_seconds) >= COMPILE_MIN_CHUNKS
  for number, item in enumerate(inputs, start=1):
    folder = output_folder(out_dir, item.relative)
    done = number - 1
    eta = ("" if not separated else
           f" ETA {_duration((time.monotonic() - start) / done * (len(inputs) - done))}")
    filled = 20 * done // len(inputs)
    prefix = f"[{'#' * filled}{'.' * (20 - filled)}] {number}/{len(inputs)}{eta}"
    if filesystem.exists(folder) and not overwrite:
      skipped.append(item.path)
      print(f"{prefix} {item.path}: skipped, {folder} exists (--overwrite replaces it)",
            file=stream, flush=True)
      continue
    try:
      written = _write_atomically(folder, lambda tmp, item=item: separate_file(
          separator, item.path, tmp, num_sources, chunk_seconds, overlap_seconds,
          compiled=compiled))
    except Exception as e:  # pylint: disable=broad-except
      # One bad file must not stop a batch of thousands; the reason is kept.
      failed.append((item.path, f"{type(e).__name__}: {e}"))
      print(f"{prefix} {item.path}: FAILED: {type(e).__name__}: {e}", file=stream, flush=True)
      continue
    separated.append(item.path)
    print(f"{prefix} {item.path}: {len(written)} outputs in {folder}", file=stream, flush=True)
  print(f"Separated {len(separated)}, skipped {len(skipped)} (outputs already there), "
        f"failed {len(failed)} in {_duration(time.monotonic() - start)}.", file=stream,
        flush=True)
  for path, reason in failed:
    print(f"  failed: {path}: {reason}", file=stream, flush=True)
  if report:
    done = set(separated) | set(skipped)
    write_listening_page(out_dir, [(i.path, output_folder(out_dir, i.relative)) for i in inputs
                                   if i.path in done],
                         getattr(separator, "description", "?"), stream)
  return Summary(separated, skipped, failed)
