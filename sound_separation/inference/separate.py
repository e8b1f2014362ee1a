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
"""

import os

import numpy as np
import scipy.optimize

from sound_separation.data import audio


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


def separate_waveform(separator, waveform, chunk_seconds=10.0, overlap_seconds=1.0,
                      batch_size=4):
  """Separates one long waveform at the model's rate.

  Args:
    separator: a `Separator` (`inference.load_model`), or any callable
      `[B, L] -> [B, M, L]` with a `sample_rate` attribute.
    waveform: float32 `[T]` at `separator.sample_rate`.
    chunk_seconds: chunk length; inputs up to this length are one chunk.
    overlap_seconds: at least this much overlap between consecutive chunks
      (the last chunk is aligned to the end, so its overlap may be longer).
    batch_size: chunks per call of the separator.

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
  starts = _chunk_starts(num_samples, chunk, chunk - overlap)
  length = min(chunk, num_samples)
  pieces = []
  for i in range(0, len(starts), batch_size):
    batch = np.stack([waveform[s:s + length] for s in starts[i:i + batch_size]])
    pieces.extend(separator(batch))
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
                  overlap_seconds=1.0, subtype="FLOAT"):
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

  Returns:
    The written paths, in output order.
  """
  rate = audio.file_sample_rate(path)
  waveform = audio.read_audio(path, sample_rate=rate)
  separated = separate_waveform(separator, audio.resample(waveform, rate, separator.sample_rate),
                                chunk_seconds, overlap_seconds)
  keep = (np.arange(separated.shape[0]) if num_sources is None
          else loudest(separated, num_sources))
  restored = audio.resample(separated[keep], separator.sample_rate, rate)
  restored = restored[:, :waveform.shape[0]]
  restored = np.pad(restored, [(0, 0), (0, waveform.shape[0] - restored.shape[1])])
  os.makedirs(out_dir, exist_ok=True)
  name = os.path.splitext(os.path.basename(path))[0]
  written = []
  for j, source in zip(keep, restored):
    out_path = os.path.join(out_dir, f"{name}_source{j}.wav")
    audio.write_audio(out_path, source, rate, subtype)
    written.append(out_path)
  return written
