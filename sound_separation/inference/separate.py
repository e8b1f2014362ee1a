"""`sound-separation separate`: separate audio files of any length and rate.

A file is read at its own rate (channels averaged), resampled to the
model's, separated in overlapping chunks (`chunked`: matched and
cross-faded), and each output resampled back to the file's rate and length.

A file is separated as a stream (`inference.streaming`): read a few chunks
at a time, resampled exactly as the whole file would be, each output block
written as soon as it is final, so memory does not grow with the
recording's length.

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
import tempfile
import time
import typing

import numpy as np

from sound_separation import filesystem
from sound_separation.data import audio
from sound_separation.evaluation import listening
from sound_separation.inference import chunked
from sound_separation.inference import streaming

_PARTIAL = ".partial-"
def loudest(separated, num_sources):
  """Indices of the `num_sources` outputs of `[M, T]` with the most energy, in output order."""
  return loudest_by_energy(np.sum(np.square(separated, dtype=np.float64), axis=1), num_sources)


def loudest_by_energy(energy, num_sources):
  """Indices of the `num_sources` largest of `energy` `[M]`, in output order."""
  if not 1 <= num_sources <= len(energy):
    raise ValueError(f"num_sources must be between 1 and the model's {len(energy)} "
                     f"outputs, got {num_sources!r}")
  return np.sort(np.argsort(-np.asarray(energy), kind="stable")[:num_sources])


def separate_file(separator, path, out_dir, num_sources=None, chunk_seconds=10.0,
                  overlap_seconds=1.0, subtype="FLOAT", compiled=True,
                  batch_size=chunked.BATCH_CHUNKS):
  """Separates an audio file as a stream; writes `<out_dir>/<name>_source<j>.wav` per output.

  The file is read a few chunks at a time at the model's rate (resampled
  exactly as `audio.resample` would resample the whole file), separated and
  stitched (`streaming.stitch`), and each output is resampled back to the
  file's rate and written block by block: memory holds a few chunks,
  whatever the file's length. The outputs equal those of
  `separate_waveform` on the whole file, resampled back and cut to its
  length, up to float rounding.

  Args:
    separator: a separator (`protocol`).
    path: any file libsndfile reads (wav, flac, ogg, ...), any rate, any
      number of channels (averaged).
    out_dir: created if missing.
    num_sources: keep only this many outputs, the loudest (by their energy
      at the model's rate; None: all M).
    chunk_seconds, overlap_seconds: as in `separate_waveform`.
    subtype: libsndfile subtype of the written wavs; 'FLOAT' keeps samples
      beyond full scale, which separated sources of a loud mixture can have.
    compiled: as in `separate_waveform`.
    batch_size: chunks per call of the separator.

  Returns:
    The written paths, in output order.
  """
  name = os.path.splitext(filesystem.basename(path))[0]
  remote = filesystem.is_remote(out_dir)
  work = tempfile.mkdtemp(prefix=".separate-") if remote else out_dir
  filesystem.makedirs(out_dir)
  partial = lambda j: os.path.join(work, f".{name}_source{j}{_PARTIAL}{os.getpid()}.wav")
  writers, energy = [], None
  try:
    with audio.FileSource(path, separator.sample_rate) as source:
      call, chunk, overlap = chunked.chunk_function(separator, source.num_samples,
                                                    chunk_seconds, overlap_seconds, compiled)
      back = streaming.OutputResampler(separator.sample_rate, source.file_rate, source.frames)

      def write(block):
        for writer, channel in zip(writers, block):
          writer.write(channel)

      for _, block in streaming.stitch(call, source.read, source.num_samples, chunk, overlap,
                                       batch_size):
        if not writers:
          writers = [audio.AudioWriter(partial(j), source.file_rate, subtype)
                     for j in range(block.shape[0])]
          energy = np.zeros(block.shape[0])
        energy += np.sum(np.square(block, dtype=np.float64), axis=1)
        write(back.push(block))
      write(back.flush(len(writers)))
      for writer in writers:
        writer.close()
    keep = (np.arange(len(writers)) if num_sources is None
            else loudest_by_energy(energy, num_sources))
    written = []
    for j in range(len(writers)):
      if j not in keep:
        os.remove(partial(j))
        continue
      # Renamed when complete: a kill never leaves a truncated wav under its name.
      out_path = filesystem.join(out_dir, f"{name}_source{j}.wav")
      if remote:
        filesystem.write_bytes(out_path, filesystem.read_bytes(partial(j)))
        os.remove(partial(j))
      else:
        filesystem.rename(partial(j), out_path, overwrite=True)
      written.append(out_path)
    return written
  finally:
    for j in range(len(writers)):
      if os.path.exists(partial(j)):
        os.remove(partial(j))
    if remote:
      shutil.rmtree(work, ignore_errors=True)


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
  """Files and folders (searched recursively for `audio.AUDIO_EXTENSIONS`) as `Input`s.

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
                  if os.path.splitext(f)[1].lower() in audio.AUDIO_EXTENSIONS]
      if len(found) == before:
        missing.append((path, "the folder holds no audio files "
                              f"({', '.join(audio.AUDIO_EXTENSIONS)})"))
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
    separator: a separator (`protocol`).
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
  # A short job (one 10 s file, small model) runs sooner uncompiled.
  job = chunked.job_chunks([item.path for item in inputs], separator.sample_rate, chunk_seconds,
                           overlap_seconds)
  compiled = chunked.JobChunks(separator, job, chunk_seconds)
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
