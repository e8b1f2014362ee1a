"""Separation of recordings of any length in bounded memory.

`separate` (`inference.separate`) cuts a recording into overlapping chunks,
separates them, matches each chunk's outputs to the previous chunk's on
their overlap and cross-fades them (docs/formats.md#separated-outputs). Here
the same computation runs as a stream: the input is read a few chunks at a
time, and every output sample is handed on as soon as no later chunk can
change it, so memory holds a few chunks, never the recording. The outputs
equal the whole-recording computation's up to float rounding
(`tests/test_streaming.py`).

- `RangeResampler`: any range of `scipy.signal.resample_poly`'s output over
  a whole signal, computed from the input samples that range needs (the
  polyphase filter's support plus an alignment to the rate ratio), so a
  stream is resampled exactly as the whole signal would be.
- `FileSource`: an audio file read in ranges at another rate, channels
  averaged.
- `stitch`: the chunked separation itself, yielding final output blocks.
- `OutputResampler`: the outputs' blocks back at the input's rate.
"""

import math

import numpy as np
import scipy.optimize
import scipy.signal
import soundfile

from sound_separation import filesystem
from sound_separation.data import audio


def chunk_starts(num_samples, chunk, hop):
  """Starts of equal-length chunks covering [0, num_samples); the last ends at the end."""
  if num_samples <= chunk:
    return [0]
  starts = list(range(0, num_samples - chunk, hop))
  starts.append(num_samples - chunk)
  return starts


def match(previous, current):
  """Permutation `p` with `current[p[j]]` best matching `previous[j]`, both `[M, L]`."""
  # ‖a − b‖² = ‖a‖² + ‖b‖² − 2⟨a, b⟩ for every pair, as one product.
  cost = (np.sum(previous ** 2, 1)[:, None] + np.sum(current ** 2, 1)[None, :]
          - 2.0 * previous @ current.T)
  rows, columns = scipy.optimize.linear_sum_assignment(cost)
  return columns[np.argsort(rows)]


class RangeResampler:
  """Ranges of `audio.resample`'s output for a signal read through `read(start, stop)`.

  `audio.resample` is `scipy.signal.resample_poly(x, up, down)` at the
  reduced ratio. Output sample m is a weighted sum of the inputs within the
  filter's half length `10·max(up, down)` (at the upsampled rate) of
  `m·down/up`; resampling the input from a start that is a multiple of
  `down` gives the same outputs shifted by a whole number of samples. So
  `get(a, b)` reads just the inputs outputs `[a, b)` need and returns what
  the whole signal's resampling would hold there.

  Args:
    read: `(start, stop) -> float32 [stop - start]` at `rate_in`, for
      `0 <= start <= stop <= num_samples`.
    num_samples: the input's length at `rate_in`.
    rate_in, rate_out: Hz.
  """

  def __init__(self, read, num_samples, rate_in, rate_out):
    self._read = read
    self.num_samples_in = int(num_samples)
    self.same = rate_in == rate_out
    g = math.gcd(int(rate_in), int(rate_out))
    self.up, self.down = int(rate_out) // g, int(rate_in) // g
    self.half = 10 * max(self.up, self.down)
    self.num_samples = -(-self.num_samples_in * self.up // self.down)

  def get(self, start, stop):
    """Output samples `[start, stop)`, float32."""
    start, stop = int(start), int(min(stop, self.num_samples))
    if stop <= start:
      return np.zeros(0, np.float32)
    if self.same:
      return self._read(start, stop)
    up, down, half = self.up, self.down, self.half
    first = max(0, ((start * down - half) // up) // down * down)
    last = min(self.num_samples_in, -(-((stop - 1) * down + half) // up) + 1 + down)
    block = scipy.signal.resample_poly(self._read(first, last), up, down)
    offset = first // down * up
    return np.asarray(block[start - offset:stop - offset], np.float32)


class FileSource:
  """An audio file read in ranges at `rate` Hz, channels averaged (float32).

  Raises AudioReadError (naming the file) for a file that cannot be opened,
  or whose header promises more frames than it holds (found when the
  missing part is read).
  """

  def __init__(self, path, rate):
    self.path = str(path)
    try:
      self._file = soundfile.SoundFile(filesystem.readable(self.path))
    except (RuntimeError, OSError, ValueError, TypeError) as e:
      raise audio.AudioReadError(self.path, f"{type(e).__name__}: {e}") from e
    self.file_rate = int(self._file.samplerate)
    self.frames = int(self._file.frames)
    if self.frames <= 0 or self._file.channels <= 0:
      raise audio.AudioReadError(self.path, "the file has no samples")
    # libsndfile counts the frames present, so a cut-off wav looks whole.
    audio.check_not_truncated(self.path, self.frames)
    self.rate = int(rate)
    self._resampler = RangeResampler(self._read_frames, self.frames, self.file_rate, self.rate)
    self.num_samples = self._resampler.num_samples

  def _read_frames(self, start, stop):
    try:
      self._file.seek(start)
      block = self._file.read(stop - start, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as e:
      raise audio.AudioReadError(self.path, f"{type(e).__name__}: {e}") from e
    if block.shape[0] != stop - start:
      raise audio.AudioReadError(
          self.path, f"the file is truncated: its header promises {self.frames} frames but "
          f"reading frames {start}–{stop} gave {block.shape[0]}")
    waveform = block.mean(axis=1, dtype=np.float32)
    if not np.all(np.isfinite(waveform)):
      raise audio.AudioReadError(self.path, "the file has non-finite samples")
    return waveform

  def read(self, start, stop):
    """Samples `[start, stop)` at `rate`."""
    return self._resampler.get(start, stop)

  def close(self):
    self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def stitch(call, read, num_samples, chunk, overlap, batch_size=2):
  """The chunked separation of a long input, as a stream of final output blocks.

  Args:
    call: `[B, L] -> [B, M, L]` float32 (the separator, compiled or not).
    read: `(start, stop) -> float32 [stop - start]`, the input.
    num_samples: the input's length.
    chunk, overlap: in samples, `0 < overlap < chunk`.
    batch_size: chunks per `call`.

  Yields:
    `(start, block [M, n])`: consecutive final output blocks covering
    `[0, num_samples)`.
  """
  starts = chunk_starts(num_samples, chunk, chunk - overlap)
  length = min(chunk, num_samples)
  held, held_start = None, 0  # output [M, *] from held_start, not yet final
  for first in range(0, len(starts), batch_size):
    group = starts[first:first + batch_size]
    pieces = np.asarray(call(np.stack([read(s, s + length) for s in group])), np.float32)
    for index, (start, piece) in enumerate(zip(group, pieces), start=first):
      if held is None:
        held, held_start = np.array(piece, np.float32), start
      else:
        end = starts[index - 1] + length  # the previous chunk's end
        overlap_part = held[:, start - held_start:end - held_start]
        piece = piece[match(overlap_part, piece[:, :end - start])]
        fade = (np.arange(end - start, dtype=np.float32) + 0.5) / (end - start)
        held[:, start - held_start:end - held_start] = (overlap_part * (1.0 - fade)
                                                        + piece[:, :end - start] * fade)
        held = np.concatenate([held, piece[:, end - start:]], axis=1)
      # Samples before the next chunk's start are final now.
      final = (starts[index + 1] if index + 1 < len(starts) else num_samples) - held_start
      if final > 0:
        yield held_start, np.array(held[:, :final])
        held, held_start = held[:, final:], held_start + final
  if held is not None and held.shape[1]:
    yield held_start, held


class OutputResampler:
  """Model-rate output blocks `[M, n]` in, the same at another rate out, exactly.

  Feed consecutive blocks with `push`; it returns the output samples that
  are complete (enough later input for the filter), `flush` the rest, cut
  or zero-padded to `num_samples_out`.
  """

  def __init__(self, rate_in, rate_out, num_samples_out):
    self.same = rate_in == rate_out
    g = math.gcd(int(rate_in), int(rate_out))
    self.up, self.down = int(rate_out) // g, int(rate_in) // g
    self.half = 10 * max(self.up, self.down)
    self.num_samples_out = int(num_samples_out)
    self._buffer = None  # [M, *] model-rate samples from self._buffer_start
    self._buffer_start = 0
    self._received = 0
    self._emitted = 0

  def _range(self, stop, total=None):
    """Outputs `[emitted, stop)` from the buffer (all inputs they need are in it)."""
    up, down, half = self.up, self.down, self.half
    start = self._emitted
    if stop <= start:
      return None
    first = max(0, ((start * down - half) // up) // down * down)
    last = -(-((stop - 1) * down + half) // up) + 1 + down
    if total is not None:
      last = min(last, total)
    block = self._buffer[:, first - self._buffer_start:last - self._buffer_start]
    out = scipy.signal.resample_poly(block, up, down, axis=1)
    offset = first // down * up
    out = np.asarray(out[:, start - offset:stop - offset], np.float32)
    self._emitted = stop
    # Keep only what later outputs can still need.
    keep_from = max(0, ((stop * down - half) // up) // down * down)
    cut = max(0, keep_from - self._buffer_start)
    self._buffer, self._buffer_start = self._buffer[:, cut:], self._buffer_start + cut
    return out

  def push(self, block):
    """Adds model-rate samples; returns `[M, k]` newly complete outputs (maybe k = 0)."""
    block = np.asarray(block, np.float32)
    if self.same:
      return block
    self._buffer = block if self._buffer is None else np.concatenate([self._buffer, block], 1)
    self._received += block.shape[1]
    # Output m needs inputs up to (m·down + half)/up (+ alignment slack).
    ready = ((self._received - 1 - self.down) * self.up - self.half) // self.down
    ready = min(ready, self.num_samples_out)
    out = self._range(ready)
    return out if out is not None else np.zeros((block.shape[0], 0), np.float32)

  def flush(self, num_channels):
    """The remaining outputs up to `num_samples_out` (zeros past the input's end)."""
    if self.same or self._buffer is None:
      return np.zeros((num_channels, 0), np.float32)
    total_out = -(-self._received * self.up // self.down)
    stop = min(total_out, self.num_samples_out)
    out = self._range(stop, total=self._received)
    out = np.zeros((num_channels, 0), np.float32) if out is None else out
    missing = self.num_samples_out - max(stop, self._emitted)
    if missing > 0:
      out = np.concatenate([out, np.zeros((out.shape[0], missing), np.float32)], axis=1)
      self._emitted += missing
    return out
