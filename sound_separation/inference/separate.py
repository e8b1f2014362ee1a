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
from sound_separation import protocol
from sound_separation.data import audio
from sound_separation.evaluation import listening
from sound_separation.inference import streaming

_PARTIAL = ".partial-"
# Compiling the fixed-length function (XLA) costs one to two seconds on its
# first call and then runs a chunk in about half the any-length graph's time
# (tools/bench_cli.py, tools/bench_inference.py; docs/benchmarks.md). So a
# job compiles once the any-length graph, timed on the chunks done so far,
# would need more than this many seconds for the rest (`JobChunks`): a 10 s
# file with the shipped model does not, a minute with the paper's separator
# or a hundred files do.
COMPILE_WHEN_GRAPH_SECONDS = 4.0
# Chunks per call of the separator. Two keep the paper-size separator's
# working memory small (a 2 h file peaked at 1.27 GB, against 1.62 GB with
# four, at the same speed per chunk: docs/benchmarks.md#long-recordings).
BATCH_CHUNKS = 2


def num_chunks(num_samples, sample_rate, chunk_seconds=10.0, overlap_seconds=1.0):
  """How many chunks `separate_waveform` cuts `num_samples` at `sample_rate` into."""
  chunk = int(round(chunk_seconds * sample_rate))
  overlap = int(round(overlap_seconds * sample_rate))
  return len(streaming.chunk_starts(int(num_samples), chunk, chunk - overlap))


def separate_waveform(separator, waveform, chunk_seconds=10.0, overlap_seconds=1.0,
                      batch_size=BATCH_CHUNKS, compiled=True):
  """Separates one long waveform at the model's rate.

  Args:
    separator: a separator (`protocol`, e.g. from `inference.load_model`);
      its `fixed_length` function is used where it has one for the chunk
      length.
    waveform: float32 `[T]` at `separator.sample_rate`.
    chunk_seconds: chunk length; inputs up to this length are one chunk.
    overlap_seconds: at least this much overlap between consecutive chunks
      (the last chunk is aligned to the end, so its overlap may be longer).
    batch_size: chunks per call of the separator.
    compiled: use the separator's compiled fixed-length function where it
      has one (False: always the any-length graph, which starts sooner), or a
      `JobChunks` that decides as the job goes.

  Returns:
    float32 `[M, T]`.
  """
  waveform = protocol.check_waveform(waveform)
  call, chunk, overlap = _chunk_function(separator, waveform.shape[0], chunk_seconds,
                                         overlap_seconds, compiled)
  blocks = [block for _, block in streaming.stitch(
      call, lambda start, stop: waveform[start:stop], waveform.shape[0], chunk, overlap,
      batch_size)]
  return np.concatenate(blocks, axis=1)


class ChunkedSeparation(protocol.Separator):
  """A separator that separates in matched, cross-faded chunks (`separate_waveform`).

  The separator protocol (`sound_separation.protocol`) on top of another
  separator: `separate(waveform [T]) -> [M, T]` is `separate_waveform`;
  `stream(read, num_samples)` the same chunked computation as a stream of
  final output blocks (`streaming.stitch`), which `evaluation.evaluator`
  uses to score an example of any length in bounded memory; a batch
  `[B, T]` is separated row by row.

  Args:
    separator, chunk_seconds, overlap_seconds, batch_size, compiled: as in
      `separate_waveform`.
  """

  def __init__(self, separator, chunk_seconds=10.0, overlap_seconds=1.0,
               batch_size=BATCH_CHUNKS, compiled=True):
    self.separator = separator
    self.sample_rate = separator.sample_rate
    self.num_sources = separator.num_sources
    self.description = (f"{separator.description}, in {chunk_seconds:g} s chunks overlapping "
                        f"by {overlap_seconds:g} s")
    self._chunking = dict(chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds)
    self._batch_size = batch_size
    self._compiled = compiled

  def separate(self, waveform):
    return separate_waveform(self.separator, waveform, batch_size=self._batch_size,
                             compiled=self._compiled, **self._chunking)

  def __call__(self, waveforms):
    return np.stack([self.separate(row) for row in protocol.check_waveforms(waveforms)])

  def stream(self, read, num_samples):
    """Yields `(start, block [M, n])` covering `[0, num_samples)`; `read(start, stop)` the input."""
    call, chunk, overlap = _chunk_function(self.separator, num_samples,
                                           compiled=self._compiled, **self._chunking)
    return streaming.stitch(call, read, num_samples, chunk, overlap, self._batch_size)


def for_list(separator, list_path, task="fuss", max_examples=None):
  """`separator` as a list's examples are best separated: a `ChunkedSeparation` sized to the job.

  Examples longer than a chunk are separated in chunks, stitched as
  `separate` stitches them; full chunks go through the compiled
  fixed-length function once the job's remaining chunks (counted from the
  files' headers) repay compiling (`JobChunks`). A separator that streams
  already is returned as it is.
  """
  from sound_separation.evaluation import evaluator  # pylint: disable=import-outside-toplevel
  if callable(getattr(separator, "stream", None)):
    return separator
  inputs = evaluator.separated_inputs(list_path, task, max_examples)
  job = (evaluator.count_examples(list_path) if inputs is None
         else job_chunks(inputs, separator.sample_rate))
  return ChunkedSeparation(separator, compiled=JobChunks(separator, job))


def evaluate(separator, list_path, task="fuss", sample_rate=None, max_examples=None, **kwargs):
  """`evaluation.evaluate` for a loaded separator, each example in chunks (`for_list`).

  `sound_separation.evaluate(sound_separation.load_model(), "list.txt")`: a
  separator (`protocol`; TensorFlow or LiteRT) is evaluated at its own rate;
  a plain function `[T] -> [M, T]` is evaluated as `evaluation.evaluate`
  takes it.

  Args:
    separator: a separator, or `f(waveform [T]) -> [M, T]`.
    list_path, task, sample_rate, max_examples, **kwargs: as
      `evaluation.evaluate`.

  Returns:
    the summary dict.
  """
  from sound_separation.evaluation import evaluator  # pylint: disable=import-outside-toplevel
  if protocol.is_separator(separator):
    separator = for_list(separator, list_path, task, max_examples)
  return evaluator.evaluate(separator, list_path, task, sample_rate, max_examples=max_examples,
                            **kwargs)


def _chunk_function(separator, num_samples, chunk_seconds, overlap_seconds, compiled):
  """`(call, chunk, overlap)`: the function chunks go through, and the chunking in samples."""
  rate = separator.sample_rate
  chunk = int(round(chunk_seconds * rate))
  overlap = int(round(overlap_seconds * rate))
  if chunk < 1 or not 0 < overlap < chunk:
    raise ValueError(f"need chunk_seconds > overlap_seconds > 0 (at least one sample at "
                     f"{rate} Hz), got chunk_seconds={chunk_seconds!r}, "
                     f"overlap_seconds={overlap_seconds!r}")
  # Full chunks go through the separator's function compiled for the chunk
  # length, where it has one: one program for every file. A shorter input
  # takes the any-length graph rather than being padded, since padding would
  # change the separator's statistics over time and so its outputs.
  if isinstance(compiled, JobChunks):
    return (compiled if num_samples >= chunk else separator), chunk, overlap
  has_fixed = getattr(separator, "has_fixed_length", None)
  compiled = compiled and has_fixed is not None and num_samples >= chunk and has_fixed(chunk)
  return (separator.fixed_length(chunk) if compiled else separator), chunk, overlap


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
                  overlap_seconds=1.0, subtype="FLOAT", compiled=True, batch_size=BATCH_CHUNKS):
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
      call, chunk, overlap = _chunk_function(separator, source.num_samples, chunk_seconds,
                                             overlap_seconds, compiled)
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


class JobChunks:
  """The chunk function of a job of `num_chunks` full chunks, compiling only if it pays.

  Chunks go through the any-length graph first; each call is timed, and as
  soon as the job's remaining chunks would take the graph more than
  `COMPILE_WHEN_GRAPH_SECONDS`, the rest go through the fixed-length function
  compiled by XLA (about twice as fast once compiled). A one-file job with
  the shipped model never compiles; a minute with the paper's separator
  compiles after its first call. Both give the same outputs up to float
  rounding. Pass one as `compiled` to `separate_file`.
  """

  def __init__(self, separator, num_chunks, chunk_seconds=10.0):
    self.separator = separator
    self.remaining = int(num_chunks)
    self.chunk = int(round(chunk_seconds * separator.sample_rate))
    has_fixed = getattr(separator, "has_fixed_length", None)
    self.can_compile = has_fixed is not None and has_fixed(self.chunk)
    # A fixed-length function that costs no compilation (LiteRT's static
    # chunk program) is used from the start.
    self.compiled = self.can_compile and not getattr(separator, "compiles_fixed_length", True)

  def __call__(self, batch):
    if self.compiled:
      self.remaining -= len(batch)
      return self.separator.fixed_length(self.chunk)(batch)
    start = time.perf_counter()
    out = self.separator(batch)
    per_chunk = (time.perf_counter() - start) / len(batch)
    self.remaining -= len(batch)
    if self.can_compile and self.remaining * per_chunk > COMPILE_WHEN_GRAPH_SECONDS:
      self.compiled = True
    return out


def job_chunks(paths, sample_rate, chunk_seconds=10.0, overlap_seconds=1.0):
  """Chunks of all the audio files `paths` together, from their headers (unreadable ones count 0).

  What a `JobChunks` for separating them all is built with.
  """
  total = 0
  for path in paths:
    try:
      seconds = audio.file_duration(path)
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
  compiled = JobChunks(separator, job_chunks([item.path for item in inputs],
                                             separator.sample_rate, chunk_seconds,
                                             overlap_seconds), chunk_seconds)
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
