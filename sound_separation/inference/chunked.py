"""Chunked separation: one waveform of any length in matched, cross-faded chunks.

A separator's outputs have no fixed order, so output j of one chunk need
not be the same sound as output j of the next. Each chunk's outputs are
therefore permuted to match the previous chunk's on their overlap (minimum
total squared difference, an exact assignment), then cross-faded linearly
over the overlap (`streaming.stitch`). The fades sum to one, so when each
chunk's outputs sum to its input (mixture consistency), the stitched
outputs sum to the whole input.

- `separate_waveform`, `ChunkedSeparation`: one waveform, or the separator
  protocol on top of another separator (with `stream` for bounded memory);
- `JobChunks`, `job_chunks`: a job's chunks go through the compiled
  fixed-length function once compiling pays;
- `for_list`, `evaluate`: a list's examples evaluated this way.

Files of any length, rate and channel count on disk: `separate`.
"""

import time

import numpy as np

from sound_separation import protocol
from sound_separation.data import audio
from sound_separation.inference import streaming

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
  call, chunk, overlap = chunk_function(separator, waveform.shape[0], chunk_seconds,
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
    call, chunk, overlap = chunk_function(self.separator, num_samples,
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


def chunk_function(separator, num_samples, chunk_seconds, overlap_seconds, compiled):
  """`(call, chunk, overlap)`: the function chunks go through, and the chunking in samples.

  `compiled` as in `separate_waveform`; `separate.separate_file` streams with it too.
  """
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
