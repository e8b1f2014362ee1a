"""The real tensorflow-io backend of `read_audio` and of the datasets.

tensorflow-io's last release (0.37.1) loads only with TensorFlow 2.16–2.17 and
NumPy < 2, so these tests run in CI's second environment (TF 2.17.1 +
tensorflow-io 0.37.1, `requirements/ci-tf2.17-tfio.txt`) and are skipped
elsewhere. `tests/test_data.py` covers the backend's plumbing with a stand-in
for tensorflow-io in every environment.

The reference is independent of tensorflow-io: the same file decoded by
soundfile (libsndfile), the channels averaged and resampled here in float64.
"""

import concurrent.futures
import math

import numpy as np
import pytest
import scipy.signal
import soundfile
import tensorflow as tf

from sound_separation import data
from sound_separation.data import audio

_USABLE, _WHY_NOT = audio._tfio_probe()  # pylint: disable=protected-access
pytestmark = pytest.mark.skipif(
    not _USABLE,
    reason="tensorflow-io is not usable here (it needs TF 2.16–2.17 and numpy<2; "
    f"CI's second environment has it): {_WHY_NOT}")

# Lossless formats decode to the same samples in both libraries; the lossy
# decoders are different builds (tensorflow-io bundles its own), which agree
# to about 1e-7 (Vorbis) and 6e-7 (MP3) full scale.
LOSSLESS_ATOL = 1e-7
LOSSY_ATOL = 1e-5

# (file name, libsndfile subtype, tolerance)
FORMATS = [
    ("pcm16.wav", "PCM_16", LOSSLESS_ATOL),
    ("float.wav", "FLOAT", LOSSLESS_ATOL),
    ("pcm16.flac", "PCM_16", LOSSLESS_ATOL),
    ("vorbis.ogg", "VORBIS", LOSSY_ATOL),
    ("layer3.mp3", "MPEG_LAYER_III", LOSSY_ATOL),
]


def _needs_writer(name):
  # Writing MP3 needs libsndfile >= 1.1; the soundfile wheels bundle 1.2.
  if name.endswith(".mp3") and "MP3" not in soundfile.available_formats():
    pytest.skip(f"this libsndfile ({soundfile.__libsndfile_version__}) cannot write MP3")


def _signal(rng, frames, channels, rate):
  """A sine plus noise per channel: content a lossy codec keeps recognisably."""
  t = np.arange(frames) / rate
  out = np.stack([0.4 * np.sin(2 * np.pi * (300.0 + 200.0 * c) * t) for c in range(channels)], 1)
  out += rng.uniform(-0.1, 0.1, size=out.shape)
  return out.astype(np.float32)


def _write(path, samples, rate, subtype):
  soundfile.write(str(path), samples, rate, subtype=subtype)
  return str(path)


def _reference(path, sample_rate):
  """soundfile's decoding, channels averaged and resampled in float64."""
  samples, rate = soundfile.read(path, dtype="float64", always_2d=True)
  mono = samples.mean(axis=1)
  if rate != sample_rate:
    g = math.gcd(rate, sample_rate)
    mono = scipy.signal.resample_poly(mono, sample_rate // g, rate // g)
  return mono


def test_tfio_is_available():
  assert data.tfio_available() is True
  audio.require_tfio()  # does not raise


@pytest.mark.parametrize("name,subtype,atol", FORMATS, ids=[f[0] for f in FORMATS])
@pytest.mark.parametrize("channels", [1, 2])
def test_read_audio_tfio_matches_soundfile(tmp_path, rng, name, subtype, atol, channels):
  _needs_writer(name)
  path = _write(tmp_path / name, _signal(rng, 1600, channels, 16000), 16000, subtype)
  got = data.read_audio(path, 16000, backend="tfio")
  expected = _reference(path, 16000)
  assert got.dtype == np.float32
  assert got.shape == expected.shape
  np.testing.assert_allclose(got, expected, rtol=0, atol=atol)
  # The default backend (soundfile) agrees too.
  np.testing.assert_allclose(got, data.read_audio(path, 16000), rtol=0, atol=atol)


def test_read_audio_tfio_raw_channels_are_not_mixed_up(tmp_path):
  # Left a ramp, right silent: the downmix is half the ramp, sample for sample.
  ramp = (np.arange(500, dtype=np.float32) - 250) / 512
  stereo = np.stack([ramp, np.zeros_like(ramp)], axis=1)
  path = _write(tmp_path / "left_only.wav", stereo, 16000, "PCM_16")
  np.testing.assert_array_equal(data.read_audio(path, 16000, backend="tfio"), ramp / 2)


@pytest.mark.parametrize("name,subtype,rate", [
    ("8k.wav", "PCM_16", 8000),
    ("22k05.wav", "FLOAT", 22050),
    ("44k1.flac", "PCM_16", 44100),
    ("48k.ogg", "VORBIS", 48000),
])
def test_read_audio_tfio_resamples_like_soundfile(tmp_path, rng, name, subtype, rate):
  frames = rate // 10  # 0.1 s
  path = _write(tmp_path / name, _signal(rng, frames, 2, rate), rate, subtype)
  got = data.read_audio(path, 16000, backend="tfio")
  expected = _reference(path, 16000)
  assert got.shape == (1600,) == expected.shape
  atol = LOSSY_ATOL if name.endswith(".ogg") else 1e-6
  np.testing.assert_allclose(got, expected, rtol=0, atol=atol)


def test_read_audio_tfio_is_safe_from_threads(tmp_path, rng):
  # tensorflow-io's AudioIOTensor alone, read from 4 threads, returns another
  # file's samples or rate for some reads (or crashes); read_audio serializes it.
  paths = [_write(tmp_path / f"f{i}.wav", rng.uniform(-0.5, 0.5, 100 + 7 * i).astype(np.float32),
                  [1000, 1500, 2000][i % 3], "FLOAT") for i in range(24)]
  expected = [_reference(p, 1000).astype(np.float32) for p in paths]
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    for _ in range(4):
      for path, want, got in zip(paths, expected,
                                 pool.map(lambda p: data.read_audio(p, 1000, backend="tfio"),
                                          paths)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=path)


# ----------------------------------------------------------------------------
# What tensorflow-io cannot decode faithfully is refused, naming the file.


@pytest.mark.parametrize("name,subtype,match", [
    ("pcm24.wav", "PCM_24", "decodes it as int32.*backend='soundfile'"),
    ("pcm24.flac", "PCM_24", "decodes it as int32.*backend='soundfile'"),
    ("pcm_u8.wav", "PCM_U8", "decodes it as uint8.*backend='soundfile'"),
    ("double.wav", "DOUBLE", "tensorflow-io: InvalidArgumentError"),
])
def test_read_audio_tfio_refuses_sample_types_it_cannot_scale(tmp_path, rng, name, subtype,
                                                              match):
  path = _write(tmp_path / name, _signal(rng, 400, 1, 16000), 16000, subtype)
  with pytest.raises(data.AudioReadError, match=f"{name}.*{match}") as info:
    data.read_audio(path, 16000, backend="tfio")
  assert info.value.path == path
  # soundfile reads them.
  np.testing.assert_allclose(data.read_audio(path, 16000), _reference(path, 16000), atol=1e-7)


def test_read_audio_tfio_refuses_32_bit_integer_wav(tmp_path):
  # tensorflow-io 0.37.1 returns its int32 samples as float32 bit patterns
  # (garbage up to ~1e38); read_audio must refuse rather than pass them on.
  t = np.arange(1600) / 16000
  sine = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
  path = _write(tmp_path / "pcm32.wav", sine, 16000, "PCM_32")
  with pytest.raises(data.AudioReadError, match="pcm32.wav.*misdecodes"):
    data.read_audio(path, 16000, backend="tfio")
  # soundfile reads it correctly.
  np.testing.assert_allclose(data.read_audio(path, 16000), sine, atol=1e-6)


@pytest.mark.parametrize("name,contents", [
    ("corrupt.wav", bytes(range(256)) * 2),
    ("not_audio.flac", b"not audio at all"),
    ("zero_bytes.wav", b""),
    ("missing.wav", None),
])
def test_read_audio_tfio_bad_files_name_the_file(tmp_path, name, contents):
  path = tmp_path / name
  if contents is not None:
    path.write_bytes(contents)
  with pytest.raises(data.AudioReadError, match=f"{name}.*tensorflow-io") as info:
    data.read_audio(str(path), 16000, backend="tfio")
  assert info.value.path == str(path)


def test_read_audio_tfio_file_without_samples(tmp_path):
  path = _write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000, "FLOAT")
  with pytest.raises(data.AudioReadError, match="empty.wav.*no samples"):
    data.read_audio(path, 16000, backend="tfio")


# ----------------------------------------------------------------------------
# Datasets: backend='tfio' gives the batches backend='soundfile' gives.

RATE = 1000
CLIP_SECONDS = 0.1


def _batches(ds, count):
  return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(count)]


def _assert_same_batches(got, expected, atol):
  assert len(got) == len(expected) > 0
  for g, e in zip(got, expected):
    assert set(g) == set(e)
    for key in e:
      np.testing.assert_allclose(g[key], e[key], rtol=0, atol=atol, err_msg=key)


def _clip_corpus(tmp_path, rng):
  """Clips of several formats, rates, channel counts and lengths (some padded, some cropped)."""
  specs = [("a.wav", "PCM_16", 1000, 2, 250), ("b.wav", "FLOAT", 2000, 1, 60),
           ("c.flac", "PCM_16", 500, 2, 120), ("d.wav", "PCM_16", 1000, 1, 100),
           ("e.flac", "PCM_16", 1000, 1, 400), ("f.wav", "FLOAT", 4000, 2, 900)]
  lines = []
  for i, (name, subtype, rate, channels, frames) in enumerate(specs):
    _write(tmp_path / name, rng.uniform(-0.5, 0.5, size=[frames, channels]).astype(np.float32),
           rate, subtype)
    lines.append(f"{name}\t{['dog', 'cat', 'dog,cat'][i % 3]}")
  lst = tmp_path / "clips.txt"
  lst.write_text("\n".join(lines) + "\n", encoding="utf-8")
  return str(lst)


@pytest.mark.parametrize("shuffle", [False, True])
def test_clip_dataset_tfio_gives_the_soundfile_batches(tmp_path, rng, shuffle):
  lst = _clip_corpus(tmp_path, rng)
  batches = {}
  for backend in ("soundfile", "tfio"):
    ds = data.clip_dataset(lst, batch_size=2, clip_seconds=CLIP_SECONDS, sample_rate=RATE,
                           shuffle=shuffle, repeat=shuffle, seed=11, vocabulary=["dog", "cat"],
                           backend=backend)
    assert ds.element_spec["mixtures"].shape == [2, 100]
    batches[backend] = _batches(ds, count=6 if shuffle else 3)
  # Resampled float32 samples: the two decoders agree exactly before resampling.
  _assert_same_batches(batches["tfio"], batches["soundfile"], atol=1e-6)
  if not shuffle:
    first = batches["tfio"][0]["mixtures"][0]
    np.testing.assert_allclose(first, _reference(str(tmp_path / "a.wav"), RATE)[:100], atol=1e-6)


def test_clip_dataset_tfio_skips_and_counts_bad_files(tmp_path, rng):
  _write(tmp_path / "good.wav", np.full(100, 0.25, np.float32), RATE, "PCM_16")
  (tmp_path / "broken.wav").write_bytes(bytes(range(256)))
  _write(tmp_path / "pcm24.wav", np.full(100, 0.5, np.float32), RATE, "PCM_24")
  lst = tmp_path / "clips.txt"
  lst.write_text("good.wav\nbroken.wav\npcm24.wav\n", encoding="utf-8")
  counter = data.SkipCounter()
  ds = data.clip_dataset(str(lst), batch_size=1, clip_seconds=CLIP_SECONDS, sample_rate=RATE,
                         shuffle=False, repeat=False, on_error="skip", skip_counter=counter,
                         backend="tfio")
  batches = _batches(ds, count=10)
  assert [float(b["mixtures"][0, 0]) for b in batches] == [0.25]
  assert counter.count == 2
  assert sorted(counter.files) == [str(tmp_path / "broken.wav"), str(tmp_path / "pcm24.wav")]
  raising = data.clip_dataset(str(lst), batch_size=1, clip_seconds=CLIP_SECONDS,
                              sample_rate=RATE, shuffle=False, repeat=False, backend="tfio")
  with pytest.raises(tf.errors.OpError, match="broken.wav"):
    _batches(raising, count=10)


def test_fuss_dataset_tfio_gives_the_soundfile_batches(tmp_path, rng):
  lines = []
  for i, num_sources in enumerate([2, 3, 4, 1]):
    rate = [1000, 2000][i % 2]
    frames = [150, 80][i % 2] * rate // 1000
    sources = rng.uniform(-0.2, 0.2, size=[num_sources, frames]).astype(np.float32)
    names = [f"ex{i}_s{j}.wav" for j in range(num_sources)]
    for name, source in zip(names, sources):
      _write(tmp_path / name, source, rate, "FLOAT")
    _write(tmp_path / f"ex{i}.wav", sources.sum(axis=0), rate, "FLOAT")
    lines.append("\t".join([f"ex{i}.wav"] + names))
  lst = tmp_path / "fuss.txt"
  lst.write_text("\n".join(lines) + "\n", encoding="utf-8")
  batches = {}
  for backend in ("soundfile", "tfio"):
    ds = data.fuss_dataset(str(lst), batch_size=2, clip_seconds=CLIP_SECONDS, sample_rate=RATE,
                           seed=4, max_sources=4, backend=backend)
    batches[backend] = _batches(ds, count=4)
  _assert_same_batches(batches["tfio"], batches["soundfile"], atol=1e-6)
