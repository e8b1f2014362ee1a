"""The separator protocol (sound_separation/protocol.py): every runtime offers it, alike."""

import io

import numpy as np
import pytest

from sound_separation import protocol
from sound_separation.evaluation import evaluator
from sound_separation.models import folders
from sound_separation.models import serving

RATE = 8000


def check_protocol(separator, expected, x, atol=1e-5):
  """`separator` offers the protocol and computes `expected` `[B, M, T]` for `x` `[B, T]`."""
  assert protocol.is_separator(separator)
  np.testing.assert_allclose(separator(x), expected, atol=atol)
  # (A plain function's separator knows M once it has separated.)
  assert isinstance(separator.sample_rate, int) and isinstance(separator.num_sources, int)
  assert separator.num_sources == expected.shape[1]
  assert isinstance(separator.description, str) and separator.description
  for row, want in zip(x, expected):
    got = separator.separate(row)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=atol)
  length = x.shape[1]
  np.testing.assert_allclose(separator.fixed_length(length)(x), expected, atol=atol)
  with pytest.raises(ValueError, match=r"waveform must be \[samples\]"):
    separator.separate(x)  # a batch where one waveform is expected


@pytest.fixture(scope="module")
def inputs():
  return (0.1 * np.random.default_rng(3).standard_normal((2, 1200))).astype(np.float32)


def test_a_keras_separator_offers_the_protocol(model_folder, inputs):
  _, separator = model_folder
  expected = separator(inputs, training=False).numpy()  # Keras, eagerly
  keras_separator = serving.KerasSeparator(separator, RATE)
  assert keras_separator.has_fixed_length(1200)
  check_protocol(keras_separator, expected, inputs)


def test_a_checkpoint_separator_offers_the_protocol(model_folder, inputs, tmp_path):
  from sound_separation.training import child_runs  # pylint: disable=import-outside-toplevel
  _, separator = model_folder
  folders.save_separator(separator, str(tmp_path / "run"), RATE, step=3)
  model = child_runs.CheckpointSeparator(str(tmp_path / "run"))
  model.load(str(tmp_path / "run" / "checkpoints" / "ckpt-3"))
  check_protocol(model, separator(inputs, training=False).numpy(), inputs)


def test_chunked_separation_offers_the_protocol_and_streams(model_folder, inputs):
  from sound_separation.inference import chunked  # pylint: disable=import-outside-toplevel
  _, separator = model_folder
  keras_separator = serving.KerasSeparator(separator, RATE)
  # Chunks longer than the input: one chunk, the whole-input separation.
  in_chunks = chunked.ChunkedSeparation(keras_separator, chunk_seconds=0.5, overlap_seconds=0.1)
  check_protocol(in_chunks, separator(inputs, training=False).numpy(), inputs)
  # Inputs of several chunks: the stream's blocks are `separate`'s output, in order.
  long = np.concatenate([inputs[0], inputs[1], inputs[0]])
  in_chunks = chunked.ChunkedSeparation(keras_separator, chunk_seconds=0.1, overlap_seconds=0.02)
  blocks = list(in_chunks.stream(lambda a, b: long[a:b], long.shape[0]))
  assert [start for start, _ in blocks] == list(np.cumsum([0] + [b.shape[1]
                                                                 for _, b in blocks[:-1]]))
  np.testing.assert_allclose(np.concatenate([b for _, b in blocks], axis=1),
                             in_chunks.separate(long), atol=1e-6)


def test_a_plain_function_becomes_a_separator_at_a_given_rate():
  gains = np.array([0.5, 0.25, 0.25], np.float32)[:, None]
  wrapped = protocol.as_separator(lambda w: gains * w, 16000)
  x = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
  check_protocol(wrapped, gains[None] * x[:, None], x)
  assert wrapped.sample_rate == 16000
  with pytest.raises(ValueError, match="needs sample_rate"):
    protocol.as_separator(lambda w: w[None])
  with pytest.raises(TypeError, match="got int"):
    protocol.as_separator(3, 16000)


def test_the_evaluator_takes_a_separator_at_its_rate_and_refuses_another(model_folder,
                                                                         tmp_path, inputs):
  import soundfile  # pylint: disable=import-outside-toplevel
  _, separator = model_folder
  keras_separator = serving.KerasSeparator(separator, RATE)
  sources = np.stack([inputs[0], inputs[1]])
  for name, wave in (("mix.wav", sources.sum(0)), ("s0.wav", sources[0]), ("s1.wav", sources[1])):
    soundfile.write(str(tmp_path / name), wave, RATE, subtype="FLOAT")
  (tmp_path / "list.txt").write_text("mix.wav\ts0.wav\ts1.wav\n")
  summary = evaluator.evaluate(keras_separator, str(tmp_path / "list.txt"), stream=io.StringIO())
  assert summary["sample_rate"] == RATE
  # The same as the plain function of the same model at the same rate.
  function = lambda w: separator(w[None], training=False).numpy()[0]
  same = evaluator.evaluate(function, str(tmp_path / "list.txt"), sample_rate=RATE,
                            stream=io.StringIO())
  assert summary["MSi"] == pytest.approx(same["MSi"], abs=1e-4)
  with pytest.raises(ValueError, match="runs at 8000 Hz, not at the sample_rate=16000"):
    evaluator.evaluate(keras_separator, str(tmp_path / "list.txt"), sample_rate=16000,
                       stream=io.StringIO())
