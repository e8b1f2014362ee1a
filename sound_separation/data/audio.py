"""Reading and writing audio files as mono float32 waveforms.

Waveforms are NumPy float32 `[T]` in full-scale units (a 16-bit sample of
32767 reads as 32767/32768), at a sample rate in Hz. Files are read with
`soundfile` (libsndfile: wav, flac, ogg and the rest of its formats);
multichannel files are downmixed by averaging the channels, and other sample
rates are resampled with `scipy.signal.resample_poly` at the exact rational
ratio.

tensorflow-io can decode instead (`backend='tfio'`). Its last release loads
only with TensorFlow 2.16–2.17 and NumPy < 2, so it is probed once, by
importing it and decoding a tiny wav, before it is used.

A recording too long to hold is read in ranges (`FileSource`), resampled
exactly as the whole file would be (`RangeResampler`).
"""

import contextlib
import functools
import io
import math
import numbers
import threading

import numpy as np
import scipy.signal
import soundfile

from sound_separation import checks
from sound_separation import filesystem

BACKENDS = ("auto", "soundfile", "tfio")

# soundfile reads a 16-bit sample q as q / 32768.
PCM16_FULL_SCALE = 32768

# Full scale of the integer sample types the tfio backend accepts. Other
# types (e.g. 24-bit audio in int32 containers) are refused rather than scaled
# by a guess; soundfile reads them.
_TFIO_FULL_SCALE = {"int16": 32768.0, "float32": 1.0}

# tensorflow-io 0.37.1's AudioIOTensor is not thread-safe: concurrent reads
# (the datasets' parallel map) can return another file's samples and rate, or
# crash the process. Its reads are serialized.
_TFIO_LOCK = threading.Lock()


# Audio files the library picks up in folders, by extension: the formats
# libsndfile reads (`separate`, `adapt`, corpora made from folders).
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                    ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64", ".voc", ".sd2")


class FileError(ValueError):
  """A problem with one file; the message names it.

  Attributes:
    path: the file.
    reason: what is wrong with it.
  """

  message = "problem with file '{path}': {reason}"

  def __init__(self, path, reason):
    self.path = str(path)
    self.reason = str(reason)
    super().__init__(self.message.format(path=self.path, reason=self.reason))

  def __reduce__(self):
    # The default pickling passes the formatted message as the only argument.
    return (type(self), (self.path, self.reason))


class AudioReadError(FileError):
  """An audio file could not be read."""

  message = "cannot read audio file '{path}': {reason}"


class AudioWriteError(FileError):
  """An audio file could not be written (the reason names the cause: a full disk, ...)."""

  message = "cannot write audio file '{path}': {reason}"


def check_sample_rate(sample_rate, name="sample_rate"):
  """Returns `sample_rate` as an int; ValueError naming `name` unless a positive integer."""
  return int(checks.integer(name, sample_rate, hint=" (Hz)"))


def clip_samples(clip_seconds, sample_rate):
  """`(T, sample_rate)` of a clip: `T = round(clip_seconds · sample_rate)` samples.

  The one clip-length rule of the package: input pipelines, corpus writers
  and the synthetic corpus all size their clips with it.

  Raises:
    ValueError: `sample_rate` not a positive integer, or `clip_seconds` not a
      finite number of at least one sample.
  """
  sample_rate = check_sample_rate(sample_rate)
  if (isinstance(clip_seconds, bool) or not isinstance(clip_seconds, numbers.Real)
      or not math.isfinite(clip_seconds) or round(clip_seconds * sample_rate) < 1):
    raise ValueError(f"clip_seconds must be a finite number of at least one sample at "
                     f"{sample_rate} Hz, got {clip_seconds!r}")
  return int(round(clip_seconds * sample_rate)), sample_rate


def resample(waveform, rate_in, rate_out):
  """Resamples `[..., T]` along the last axis from `rate_in` to `rate_out` Hz.

  Polyphase filtering (`scipy.signal.resample_poly`, its default Kaiser
  window) at the exact ratio `up/down = rate_out/rate_in` reduced by their
  greatest common divisor. The output has `ceil(T · up / down)` samples.

  Returns:
    float32 `[..., ceil(T · up / down)]`; the input itself when the rates are equal.
  """
  rate_in = check_sample_rate(rate_in, "rate_in")
  rate_out = check_sample_rate(rate_out, "rate_out")
  if rate_in == rate_out:
    return np.asarray(waveform, np.float32)
  g = math.gcd(rate_in, rate_out)
  out = scipy.signal.resample_poly(waveform, rate_out // g, rate_in // g, axis=-1)
  return out.astype(np.float32, copy=False)


def _tensorflow_version():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return ".".join(tf.__version__.split(".")[:2])


@functools.lru_cache(maxsize=None)
def _tfio_probe():
  """`(usable, reason)`: imports tensorflow-io and decodes a 4-sample wav.

  Importing alone is not enough: with an unsupported TensorFlow the import
  can succeed and the first op then fails to load its kernel library.
  """
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import tensorflow_io as tfio  # pylint: disable=import-outside-toplevel
    expected = np.array([0, 1000, -1000, 32767], np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, expected, 16000, format="WAV", subtype="PCM_16")
    decoded = tfio.audio.decode_wav(tf.constant(buffer.getvalue()), dtype=tf.int16)
    decoded = np.asarray(decoded).reshape(-1)
    if not np.array_equal(decoded, expected):
      return False, f"decoding a test wav gave {decoded.tolist()}, expected {expected.tolist()}"
  except Exception as e:  # pylint: disable=broad-except
    # Any failure (ImportError, a missing kernel library, an ABI mismatch)
    # means the backend is unusable; the reason is kept for the error message.
    return False, f"{type(e).__name__}: {e}"
  return True, ""


def tfio_available():
  """Whether tensorflow-io imports and can decode a wav here (probed once, cached)."""
  return _tfio_probe()[0]


def require_tfio():
  """Raises a RuntimeError with install advice unless `tfio_available()`."""
  usable, reason = _tfio_probe()
  if not usable:
    raise RuntimeError(
        f"tensorflow-io is not usable with TF {_tensorflow_version()}; install the "
        "`tfio` extra in an env with TF 2.16–2.17 and numpy<2, or use "
        f"backend='soundfile'. (Probe failure: {reason})")


def _rewound(source):
  if not isinstance(source, str):
    source.seek(0)
  return source


def _read_soundfile(path, source):
  """`(samples [T, C] float32, rate)` of `source` (`filesystem.readable(path)`); raises AudioReadError."""
  try:
    samples, rate = soundfile.read(_rewound(source), dtype="float32", always_2d=True)
  except (RuntimeError, OSError, ValueError, TypeError) as e:
    # soundfile.LibsndfileError (a RuntimeError) covers unknown formats,
    # truncated files and missing files.
    raise AudioReadError(path, f"{type(e).__name__}: {e}") from e
  return samples, rate


def _integer_pcm(path):
  """True if libsndfile reads the header as integer PCM (False if it cannot)."""
  try:
    return soundfile.info(str(path)).subtype.startswith("PCM")
  except (RuntimeError, OSError, ValueError, TypeError):
    return False


def _read_tfio(path):
  """`(samples [T, C] float32, rate)` decoded by tensorflow-io; raises AudioReadError."""
  require_tfio()
  import tensorflow_io as tfio  # pylint: disable=import-outside-toplevel
  try:
    with _TFIO_LOCK:
      audio = tfio.audio.AudioIOTensor(str(path))
      samples = np.asarray(audio.to_tensor())
      rate = int(np.asarray(audio.rate))
    dtype_name = np.dtype(samples.dtype).name
  except Exception as e:  # pylint: disable=broad-except
    # tensorflow-io raises tf.errors.* and assorted Python errors for bad files.
    raise AudioReadError(path, f"tensorflow-io: {type(e).__name__}: {e}") from e
  if dtype_name not in _TFIO_FULL_SCALE:
    raise AudioReadError(
        path, f"tensorflow-io decodes it as {dtype_name}, whose full scale is not "
        "known here; read it with backend='soundfile'")
  if dtype_name == "float32" and _integer_pcm(path):
    # tensorflow-io 0.37 hands 32-bit integer PCM back as float32 bit
    # patterns (values up to ~1e38) instead of refusing it.
    raise AudioReadError(
        path, "tensorflow-io misdecodes this integer PCM file as float32; read it "
        "with backend='soundfile'")
  samples = samples.astype(np.float32) / _TFIO_FULL_SCALE[dtype_name]
  if samples.ndim == 1:
    samples = samples[:, np.newaxis]
  return samples, rate


def _riff_declared_frames(source):
  """Frames a RIFF/WAVE header promises (its 'data' size / block size), or None.

  None where the header states no usable size: not a RIFF file, no 'fmt '
  before 'data', or a streaming writer's placeholder size (0 or 0xFFFFFFFF,
  also RF64's marker).
  """
  try:
    with (filesystem.open_file(source, "rb") if isinstance(source, str)
          else contextlib.nullcontext(_rewound(source))) as f:
      head = f.read(12)
      if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
      block_align = None
      while True:
        chunk = f.read(8)
        if len(chunk) < 8:
          return None
        chunk_id, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        if chunk_id == b"fmt ":
          fmt = f.read(min(size, 16))
          if len(fmt) < 14:
            return None
          block_align = int.from_bytes(fmt[12:14], "little")
          f.seek(size - len(fmt) + (size & 1), 1)
        elif chunk_id == b"data":
          if not block_align or size in (0, 0xFFFFFFFF):
            return None
          return size // block_align
        else:
          f.seek(size + (size & 1), 1)
  except OSError:
    return None


def _check_complete(path, source, frames_read):
  """AudioReadError if the file holds fewer frames than its header promises.

  libsndfile reads a truncated file's intact part without a word (a wav's
  frame count is cut to the bytes present), so a short download or an
  interrupted copy would pass as a shorter recording. The header's promise:
  a wav's 'data' chunk size, else libsndfile's frame count (e.g. FLAC's
  STREAMINFO).
  """
  promised = _riff_declared_frames(source)
  if promised is None:
    try:
      promised = soundfile.info(_rewound(source)).frames
    except (RuntimeError, OSError, ValueError, TypeError):
      return
  if 0 < promised < 2 ** 62 and frames_read < promised:
    raise AudioReadError(
        path, f"the file is truncated: its header promises {promised} frames but it "
        f"holds {frames_read} ({100.0 * frames_read / promised:.1f} %)")


def check_not_truncated(path, frames):
  """AudioReadError if the file's header promises more than `frames` frames (`read_audio`'s check)."""
  _check_complete(str(path), filesystem.readable(str(path)), frames)


def file_sample_rate(path):
  """The sample rate of an audio file, in Hz (from its header); raises AudioReadError."""
  path = str(path)
  try:
    return int(soundfile.info(filesystem.readable(path)).samplerate)
  except (RuntimeError, OSError, ValueError, TypeError) as e:
    raise AudioReadError(path, f"{type(e).__name__}: {e}") from e


def file_duration(path):
  """The length of an audio file in seconds (from its header); raises AudioReadError."""
  path = str(path)
  try:
    info = soundfile.info(filesystem.readable(path))
  except (RuntimeError, OSError, ValueError, TypeError) as e:
    raise AudioReadError(path, f"{type(e).__name__}: {e}") from e
  return info.frames / float(info.samplerate)


def read_audio(path, sample_rate=16000, backend="auto"):
  """Reads an audio file as a mono float32 waveform at `sample_rate`.

  Args:
    path: a wav, flac, ogg (or other libsndfile) file.
    sample_rate: the wanted rate in Hz; other rates are resampled (see
      `resample`).
    backend: 'soundfile', 'tfio' (tensorflow-io; a RuntimeError explains how
      to install it when it is not usable) or 'auto', which is soundfile:
      it reads every format tensorflow-io does here, and needs no probe.

  Returns:
    float32 `[T]`, the channels averaged, in full-scale units.

  Raises:
    AudioReadError: the file is missing, unreadable, truncated (holds fewer
      frames than its header promises), has no samples or has non-finite
      samples.
  """
  sample_rate = check_sample_rate(sample_rate)
  if backend not in BACKENDS:
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
  path = str(path)
  try:
    source = filesystem.readable(path)
  except OSError as e:
    raise AudioReadError(path, f"{type(e).__name__}: {e}") from e
  if backend == "tfio":
    samples, rate = _read_tfio(path)
  else:
    samples, rate = _read_soundfile(path, source)
  _check_complete(path, source, samples.shape[0])
  if samples.shape[0] == 0:
    raise AudioReadError(path, "the file has no samples")
  if samples.shape[1] == 0:
    raise AudioReadError(path, "the file has no channels")
  waveform = samples.mean(axis=1, dtype=np.float32)
  if not np.all(np.isfinite(waveform)):
    raise AudioReadError(path, "the file has non-finite samples")
  return resample(waveform, rate, sample_rate)


def to_pcm16(waveform, name="waveform"):
  """Quantises full-scale samples to 16-bit integers, rounding to nearest.

  Sample q reads back (`read_audio`) as exactly q / 32768, so signals summed
  as integers here are sums of what their files hold, to the last bit.
  (libsndfile scales floats by 32767 when it writes PCM_16 but divides by
  32768 when it reads, so a float written and read back is not exact.)

  Args:
    waveform: float `[...]` in [-1, 1]; +1 becomes 32767 as libsndfile
      clips it.
    name: what to call the waveform in errors.

  Returns:
    int16 `[...]`.

  Raises:
    ValueError: non-finite samples or samples beyond ±1.
  """
  waveform = np.asarray(waveform, np.float64)
  if not np.all(np.isfinite(waveform)):
    raise ValueError(f"{name} has non-finite samples")
  if waveform.size and np.max(np.abs(waveform)) > 1.0:
    raise ValueError(f"{name} peaks at {np.max(np.abs(waveform)):.4g} > 1, beyond 16-bit PCM")
  scaled = np.round(waveform * PCM16_FULL_SCALE)
  return np.clip(scaled, -PCM16_FULL_SCALE, PCM16_FULL_SCALE - 1).astype(np.int16)


def write_audio(path, waveform, sample_rate, subtype="PCM_16"):
  """Writes a waveform to an audio file (the format follows the extension).

  Args:
    path: the file to write ('.wav', '.flac', ...).
    waveform: `[T]` mono or `[T, C]` in full-scale units; or int16 samples
      (from `to_pcm16`), written verbatim with subtype 'PCM_16'.
    sample_rate: Hz.
    subtype: a libsndfile subtype: 'PCM_16' (the default), 'FLOAT' for
      float32 wav, 'PCM_24', ...

  Raises:
    ValueError: non-finite samples, or samples beyond ±1 for an integer
      subtype (libsndfile would clip them; pass subtype='FLOAT' to keep them).
  """
  sample_rate = check_sample_rate(sample_rate)
  if getattr(waveform, "dtype", None) == np.int16:
    if waveform.ndim not in (1, 2):
      raise ValueError(f"waveform for '{path}' must be [T] or [T, C], got shape {waveform.shape}")
    if subtype != "PCM_16":
      raise ValueError(f"int16 samples for '{path}' are written as PCM_16, not {subtype!r}")
    _write(path, waveform, sample_rate, subtype)
    return
  waveform = np.asarray(waveform, np.float32)
  if waveform.ndim not in (1, 2):
    raise ValueError(f"waveform for '{path}' must be [T] or [T, C], got shape {waveform.shape}")
  if not np.all(np.isfinite(waveform)):
    raise ValueError(f"waveform for '{path}' has non-finite samples")
  if subtype is not None and subtype.upper().startswith("PCM") and waveform.size:
    peak = float(np.max(np.abs(waveform)))
    if peak > 1.0:
      raise ValueError(
          f"waveform for '{path}' peaks at {peak:.4g} > 1, beyond the range of "
          f"{subtype}; scale it or use subtype='FLOAT'")
  _write(path, waveform, sample_rate, subtype)


class AudioWriter:
  """A mono audio file written block by block (local paths), for outputs of any length.

  `write(block [n])` appends float samples; `close()` finishes the file.
  Non-finite samples, samples beyond ±1 for an integer subtype, and write
  failures raise (AudioWriteError names the file and the cause: a full disk,
  a read-only folder). Use as a context manager.
  """

  def __init__(self, path, sample_rate, subtype="FLOAT"):
    self.path = str(path)
    self.subtype = subtype
    self._integer = subtype is not None and subtype.upper().startswith("PCM")
    try:
      self._file = soundfile.SoundFile(self.path, "w", check_sample_rate(sample_rate), 1,
                                       subtype)
    except (RuntimeError, OSError) as e:
      raise self._error(e) from e

  def _error(self, e):
    cause = filesystem.write_failure_cause(self.path)
    return AudioWriteError(self.path, f"{cause} ({type(e).__name__}: {e})" if cause
                           else f"{type(e).__name__}: {e}")

  def write(self, block):
    block = np.asarray(block, np.float32)
    if not np.all(np.isfinite(block)):
      raise ValueError(f"waveform for '{self.path}' has non-finite samples")
    if self._integer and block.size and float(np.max(np.abs(block))) > 1.0:
      raise ValueError(f"waveform for '{self.path}' peaks at {float(np.max(np.abs(block))):.4g}"
                       f" > 1, beyond the range of {self.subtype}; use subtype='FLOAT'")
    try:
      self._file.write(block)
    except (RuntimeError, OSError) as e:
      raise self._error(e) from e

  def close(self):
    try:
      self._file.close()
    except (RuntimeError, OSError) as e:
      raise self._error(e) from e

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._file.close()


def _write(path, waveform, sample_rate, subtype):
  path = str(path)
  if not filesystem.is_remote(path):
    try:
      soundfile.write(path, waveform, sample_rate, subtype=subtype)
    except (RuntimeError, OSError) as e:
      # libsndfile says "System error." for a full disk or a read-only folder.
      cause = filesystem.write_failure_cause(path)
      raise AudioWriteError(path, f"{cause} ({type(e).__name__}: {e})" if cause
                            else f"{type(e).__name__}: {e}") from e
    return
  # libsndfile cannot write to a TensorFlow filesystem: the file is made in
  # memory, in the format its extension names, and copied there.
  buffer = io.BytesIO()
  extension = path.rsplit(".", 1)[-1].upper() if "." in filesystem.basename(path) else ""
  soundfile.write(buffer, waveform, sample_rate, subtype=subtype, format=extension or None)
  filesystem.write_bytes(path, buffer.getvalue())


# ----------------------------------------------------------------------------
# Reading in ranges, for recordings too long to hold.

class RangeResampler:
  """Ranges of `resample`'s output for a signal read through `read(start, stop)`.

  `resample` is `scipy.signal.resample_poly(x, up, down)` at the
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
    if not filesystem.exists(self.path):  # libsndfile would say only "System error"
      raise AudioReadError(self.path, "no such file")
    try:
      self._file = soundfile.SoundFile(filesystem.readable(self.path))
    except (RuntimeError, OSError, ValueError, TypeError) as e:
      raise AudioReadError(self.path, f"{type(e).__name__}: {e}") from e
    self.file_rate = int(self._file.samplerate)
    self.frames = int(self._file.frames)
    if self.frames <= 0 or self._file.channels <= 0:
      raise AudioReadError(self.path, "the file has no samples")
    # libsndfile counts the frames present, so a cut-off wav looks whole.
    check_not_truncated(self.path, self.frames)
    self.rate = int(rate)
    self._resampler = RangeResampler(self._read_frames, self.frames, self.file_rate, self.rate)
    self.num_samples = self._resampler.num_samples

  def _read_frames(self, start, stop):
    try:
      self._file.seek(start)
      block = self._file.read(stop - start, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as e:
      raise AudioReadError(self.path, f"{type(e).__name__}: {e}") from e
    if block.shape[0] != stop - start:
      raise AudioReadError(
          self.path, f"the file is truncated: its header promises {self.frames} frames but "
          f"reading frames {start}–{stop} gave {block.shape[0]}")
    waveform = block.mean(axis=1, dtype=np.float32)
    if not np.all(np.isfinite(waveform)):
      raise AudioReadError(self.path, "the file has non-finite samples")
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
