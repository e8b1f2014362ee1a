"""Separation of recordings of any length in bounded memory.

`separate` (`inference.separate`) cuts a recording into overlapping chunks,
separates them, matches each chunk's outputs to the previous chunk's on
their overlap and cross-fades them (docs/formats.md#separated-outputs). Here
the same computation runs as a stream: the input is read a few chunks at a
time, and every output sample is handed on as soon as no later chunk can
change it, so memory holds a few chunks, never the recording. The outputs
equal the whole-recording computation's up to float rounding
(`tests/test_streaming.py`).

The input is read in ranges by `data.audio.FileSource`, resampled exactly
as the whole file would be (`data.audio.RangeResampler`).

- `stitch`: the chunked separation itself, yielding final output blocks.
- `OutputResampler`: the outputs' blocks back at the input's rate.
"""

import math

import numpy as np
import scipy.optimize
import scipy.signal


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
