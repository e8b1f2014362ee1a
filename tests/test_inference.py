"""Inference: model folders, SavedModel export, chunked separation of files."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from sound_separation.inference import export
from sound_separation.inference import chunked
from sound_separation.inference import separate
from sound_separation.inference import separator as separator_lib

RATE = 8000




class PlantedSeparator:
  """Returns the true sources of each chunk, in a fresh random order per chunk.

  It finds a chunk's position by exact search in the full mixture, so the
  stitched result can only be right if the chunks' orders are matched.
  """

  def __init__(self, sources, seed):
    self.sources = sources
    self.mixture = sources.sum(0)
    self.sample_rate = RATE
    self.rng = np.random.default_rng(seed)
    self.calls = 0

  def __call__(self, batch):
    out = []
    for chunk in batch:
      length = chunk.shape[0]
      starts = [s for s in range(self.mixture.shape[0] - length + 1)
                if np.array_equal(self.mixture[s:s + length], chunk)]
      assert len(starts) == 1
      out.append(self.sources[self.rng.permutation(len(self.sources)), starts[0]:
                              starts[0] + length])
      self.calls += 1
    return np.stack(out)


def test_chunks_are_reordered_to_match_and_cross_faded_without_seams():
  rng = np.random.default_rng(1)
  t = np.arange(5 * RATE + 123) / RATE
  sources = np.stack([np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(t)),
                      0.3 * rng.standard_normal(t.shape),
                      np.zeros_like(t)]).astype(np.float32)  # one silent output
  planted = PlantedSeparator(sources, seed=2)
  out = chunked.separate_waveform(planted, sources.sum(0), chunk_seconds=1.0,
                                   overlap_seconds=0.25, batch_size=3)
  assert planted.calls == 7  # starts 0, 0.75 s, ..., 3.75 s, then 4.015 s (the end)
  # One global order (the first chunk's), each stitched output a true source.
  order = [int(np.argmin([np.abs(o - s).max() for s in sources])) for o in out]
  assert sorted(order) == [0, 1, 2]
  np.testing.assert_allclose(out, sources[order], atol=1e-5)


def test_short_input_is_one_chunk_and_long_outputs_sum_to_the_input(model_folder):
  folder, separator = model_folder
  loaded = separator_lib.load_model(folder)
  assert (loaded.sample_rate, loaded.num_sources) == (RATE, 4)
  x = np.random.default_rng(3).standard_normal(3 * RATE + 7).astype(np.float32) * 0.1
  short = chunked.separate_waveform(loaded, x[:500], chunk_seconds=1.0, overlap_seconds=0.1)
  np.testing.assert_allclose(short, separator(x[None, :500]).numpy()[0], atol=1e-5)
  # Mixture consistency per chunk + fades summing to one: the stitched
  # outputs sum to the whole input.
  out = chunked.separate_waveform(loaded, x, chunk_seconds=0.5, overlap_seconds=0.1)
  assert out.shape == (4, x.shape[0])
  np.testing.assert_allclose(out.sum(0), x, atol=1e-5)


def test_full_chunks_go_through_the_compiled_function(model_folder, monkeypatch):
  folder, separator = model_folder
  loaded = separator_lib.load_model(folder)
  x = np.random.default_rng(8).standard_normal(int(2.5 * RATE)).astype(np.float32) * 0.1
  fixed = loaded.fixed_length(RATE)
  np.testing.assert_allclose(fixed(x[None, :RATE]), separator(x[None, :RATE]).numpy(),
                             atol=1e-5)
  with pytest.raises(ValueError, match=f"takes \\[batch, {RATE}\\]"):
    fixed(x[None, :100])
  calls = []
  real = loaded.fixed_length
  monkeypatch.setattr(loaded, "fixed_length", lambda n: calls.append(n) or real(n))
  graph_calls = []
  real_graph = type(loaded).__call__  # the any-length graph
  monkeypatch.setattr(type(loaded), "__call__",
                      lambda self, w: graph_calls.append(np.shape(w)) or real_graph(self, w))
  out = chunked.separate_waveform(loaded, x, chunk_seconds=1.0, overlap_seconds=0.25)
  assert calls == [RATE] and not graph_calls
  np.testing.assert_allclose(out.sum(0), x, atol=1e-5)
  # Shorter than a chunk: the any-length graph, not padding (which would
  # change the outputs).
  short = chunked.separate_waveform(loaded, x[:777], chunk_seconds=1.0, overlap_seconds=0.25)
  assert graph_calls == [(1, 777)]
  np.testing.assert_allclose(short, separator(x[None, :777]).numpy()[0], atol=1e-5)


def test_separate_file_resamples_downmixes_and_keeps_the_loudest(tmp_path):
  rate = 11025
  t = np.arange(int(2.3 * rate)) / rate
  left = 0.5 * np.sin(2 * np.pi * 300 * t)
  right = 0.1 * np.sin(2 * np.pi * 1200 * t)
  path = tmp_path / "in.wav"
  soundfile.write(path, np.stack([left, right], 1), rate, subtype="FLOAT")

  class Gains:  # outputs: the input times 0.5, 0.1, 0.3, 0.1
    sample_rate = RATE

    def __call__(self, batch):
      return batch[:, None] * np.array([0.5, 0.1, 0.3, 0.1], np.float32)[:, None]

  written = separate.separate_file(Gains(), str(path), str(tmp_path / "out"),
                                   num_sources=2, chunk_seconds=1.0, overlap_seconds=0.2)
  assert [os.path.basename(p) for p in written] == ["in_source0.wav", "in_source2.wav"]
  mono = (left + right) / 2
  for p, gain in zip(written, (0.5, 0.3)):
    samples, written_rate = soundfile.read(p)
    assert written_rate == rate and samples.shape == mono.shape
    # Down to 8 kHz and back: the 300 and 1200 Hz tones survive (edges aside).
    np.testing.assert_allclose(samples[200:-200], gain * mono[200:-200], atol=2e-3)
  with pytest.raises(ValueError, match="num_sources"):
    separate.separate_file(Gains(), str(path), str(tmp_path / "out"), num_sources=5)


def test_export_reloads_without_the_library_at_two_lengths(model_folder, tmp_path):
  folder, separator = model_folder
  out = str(tmp_path / "saved")
  result = export.export_saved_model(folder, out, chunk_seconds=0.2,  # 1600 samples
                                     overlap_seconds=0.05)
  assert result["sample_rate"] == RATE and result["num_sources"] == 4
  assert result["chunk_samples"] == 1600
  rng = np.random.default_rng(4)
  inputs = {n: rng.standard_normal((2, n)).astype(np.float32) for n in (333, 1600)}
  for n, x in inputs.items():
    np.save(tmp_path / f"x{n}.npy", x)
  script = textwrap.dedent(f"""
      import sys
      sys.modules["sound_separation"] = None  # importing the library would fail
      import numpy as np, tensorflow as tf
      loaded = tf.saved_model.load({out!r})
      for n in (333, 1600):
        x = np.load({str(tmp_path)!r} + f"/x{{n}}.npy")
        y = loaded.serve(tf.constant(x)).numpy()
        sig = loaded.signatures["serving_default"](waveforms=tf.constant(x))
        np.save({str(tmp_path)!r} + f"/y{{n}}.npy", y)
        np.save({str(tmp_path)!r} + f"/s{{n}}.npy", list(sig.values())[0].numpy())
      x = np.load({str(tmp_path)!r} + "/x1600.npy")
      np.save({str(tmp_path)!r} + "/c1600.npy", loaded.serve_chunk(tf.constant(x)).numpy())
  """)
  env = dict(os.environ, PYTHONPATH="")
  done = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path), env=env,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  for n, x in inputs.items():
    expected = separator(x).numpy()
    assert expected.shape == (2, 4, n)
    np.testing.assert_allclose(np.load(tmp_path / f"y{n}.npy"), expected, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / f"s{n}.npy"), expected, atol=1e-5)
  # The compiled fixed-length function (XLA middles) agrees to rounding.
  np.testing.assert_allclose(np.load(tmp_path / "c1600.npy"),
                             separator(inputs[1600]).numpy(), atol=1e-5)
  # The library's loader reads the SavedModel too, with its sample rate, and
  # offers serve_chunk at its length only.
  loaded = separator_lib.load_model(out)
  assert loaded.sample_rate == RATE
  assert loaded.has_fixed_length(1600) and not loaded.has_fixed_length(1000)
  np.testing.assert_allclose(loaded.fixed_length(1600)(inputs[1600]),
                             separator(inputs[1600]).numpy(), atol=1e-5)
  np.testing.assert_allclose(loaded(inputs[333]), separator(inputs[333]).numpy(), atol=1e-5)
  from test_protocol import check_protocol  # pylint: disable=import-outside-toplevel
  check_protocol(loaded, separator(inputs[1600]).numpy(), inputs[1600])
  with pytest.raises(FileExistsError, match="not empty"):
    export.export_saved_model(folder, out)


def test_load_model_names_a_folder_that_is_neither(tmp_path):
  with pytest.raises(FileNotFoundError, match="neither a model folder"):
    separator_lib.load_model(str(tmp_path))
  (tmp_path / "saved_model.pb").write_bytes(b"")
  with pytest.raises(FileNotFoundError, match="sound_separation.json"):
    separator_lib.load_model(str(tmp_path))


def test_tflite_export_runs_at_two_lengths(model_folder, tmp_path):
  folder, separator = model_folder
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  result = export.export_saved_model(folder, str(tmp_path / "saved"), tflite=True)
  runner = tf.lite.Interpreter(model_path=result["tflite"]).get_signature_runner()
  for n in (333, 1600):
    x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
    (y,) = runner(waveforms=x).values()
    np.testing.assert_allclose(y, separator(x).numpy(), atol=1e-5)


def test_cli_export_and_separate(model_folder, tmp_path, capsys):
  from sound_separation import cli  # pylint: disable=import-outside-toplevel
  folder, separator = model_folder
  x = np.random.default_rng(5).standard_normal(2500).astype(np.float32) * 0.1
  wav = tmp_path / "clip.wav"
  soundfile.write(wav, x, RATE, subtype="FLOAT")
  saved = str(tmp_path / "saved")
  assert cli.main(["prog", "export", f"--model_dir={folder}", f"--out={saved}"]) == 0
  for model in (folder, saved):
    out_dir = tmp_path / ("from_" + os.path.basename(model))
    assert cli.main(["prog", "separate", f"--model={model}", f"--out_dir={out_dir}",
                     str(wav)]) == 0
    outputs = np.stack([soundfile.read(out_dir / "clip_wav" / f"clip_source{j}.wav")[0]
                        for j in range(4)])
    np.testing.assert_allclose(outputs, separator(x[None]).numpy()[0], atol=1e-5)

  assert cli.main(["prog", "export", f"--model_dir={folder}"]) == 2
  assert "--out_dir is required" in capsys.readouterr().err
  assert cli.main(["prog", "export", f"--model_dir={folder}", f"--out={saved}"]) == 1
  assert "not empty" in capsys.readouterr().err
  assert cli.main(["prog", "export", f"--model_dir={tmp_path}", "--out=x"]) == 1
  assert "separator.json" in capsys.readouterr().err
  assert cli.main(["prog", "separate", f"--model={folder}", f"--out_dir={tmp_path}",
                   str(tmp_path / "missing.wav")]) == 1
  assert "failed: " + str(tmp_path / "missing.wav") in capsys.readouterr().out
  assert cli.main(["prog", "separate", f"--model={folder}", f"--out_dir={tmp_path}"]) == 2
  assert cli.main(["prog", "export", f"--model_dir={folder}", f"--out={saved}2",
                   "extra"]) == 2
  assert "unexpected arguments" in capsys.readouterr().err


def _xla_functions(function):
  """How many functions of a restored endpoint's graph must be compiled by XLA."""
  concrete = function.concrete_functions[0] if hasattr(function, "concrete_functions") \
      else function
  library = concrete.graph.as_graph_def().library
  return sum(1 for f in library.function
             if "_XlaMustCompile" in f.attr and f.attr["_XlaMustCompile"].b)


def test_serve_is_separates_chunked_program_and_compiles_once(model_folder, tmp_path):
  """`serve` in a process without the library: `separate`'s outputs at any length, from one
  compiled chunk program (XLA's dumps count the compilations: none after the first length)."""
  folder, _ = model_folder
  out = str(tmp_path / "saved")
  export.export_saved_model(folder, out, chunk_seconds=0.2, overlap_seconds=0.05)
  loaded = tf.saved_model.load(out)
  assert _xla_functions(loaded.serve_unchunked) == 0  # what TFLite converts
  assert _xla_functions(loaded.serve_chunk) > 0
  lengths = (4321, 7777, 1700, 2999)  # each longer than a chunk, all different
  rng = np.random.default_rng(9)
  inputs = {n: (0.1 * rng.standard_normal((2, n))).astype(np.float32) for n in lengths}
  for n, x in inputs.items():
    np.save(tmp_path / f"x{n}.npy", x)
  dump = tmp_path / "xla_dump"
  script = textwrap.dedent(f"""
      import os, sys
      sys.modules["sound_separation"] = None  # importing the library would fail
      import numpy as np, tensorflow as tf
      loaded = tf.saved_model.load({out!r})
      counts = []
      for n in {lengths!r}:
        x = np.load({str(tmp_path)!r} + f"/x{{n}}.npy")
        np.save({str(tmp_path)!r} + f"/y{{n}}.npy", loaded.serve(tf.constant(x)).numpy())
        counts.append(len([f for f in os.listdir({str(dump)!r})
                           if f.endswith("before_optimizations.txt")]))
      print("COUNTS", counts)
  """)
  env = dict(os.environ, PYTHONPATH="", XLA_FLAGS=f"--xla_dump_to={dump}")
  done = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path), env=env,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  counts = eval(done.stdout.split("COUNTS", 1)[1].strip())  # pylint: disable=eval-used
  assert counts[0] > 0 and counts == [counts[0]] * len(lengths), counts
  separator = separator_lib.load_model(folder)
  for n, x in inputs.items():
    expected = np.stack([chunked.separate_waveform(separator, w, chunk_seconds=0.2,
                                                    overlap_seconds=0.05) for w in x])
    np.testing.assert_allclose(np.load(tmp_path / f"y{n}.npy"), expected, atol=1e-5)


def test_the_serving_functions_follow_the_separators_weights(model_folder):
  from sound_separation.models import serving  # pylint: disable=import-outside-toplevel
  _, separator = model_folder
  x = np.random.default_rng(9).standard_normal((2, 1234)).astype(np.float32)
  keras_separator = serving.KerasSeparator(separator, 8000)
  any_length = serving.serving_function(separator)
  fixed = serving.fixed_length_function(separator, 1234)
  expected = separator(x, training=False).numpy()
  np.testing.assert_allclose(keras_separator.separate(x[1]), expected[1], atol=1e-5)
  np.testing.assert_allclose(keras_separator(x), expected, atol=1e-5)
  np.testing.assert_allclose(keras_separator.fixed_length(1234)(x), expected, atol=1e-5)
  np.testing.assert_allclose(any_length(x).numpy(), expected, atol=1e-5)
  np.testing.assert_allclose(fixed(x).numpy(), expected, atol=1e-5)
  saved = [v.numpy() for v in separator.weights]
  try:
    for v in separator.weights:  # another checkpoint restored into the same model
      v.assign(v.numpy() * 0.5)
    changed = separator(x, training=False).numpy()
    assert not np.allclose(changed, expected, atol=1e-3)
    np.testing.assert_allclose(keras_separator.separate(x[0]), changed[0], atol=1e-5)
    np.testing.assert_allclose(keras_separator.fixed_length(1234)(x), changed, atol=1e-5)
  finally:
    for v, value in zip(separator.weights, saved):
      v.assign(value)


def test_the_root_evaluate_takes_what_load_model_returns(model_folder, tmp_path):
  """`ss.evaluate(ss.load_model(folder), list)`: the two halves of the root API fit."""
  import io  # pylint: disable=import-outside-toplevel
  import sound_separation as ss  # pylint: disable=import-outside-toplevel
  from sound_separation.evaluation import metrics  # pylint: disable=import-outside-toplevel
  folder, _ = model_folder
  rng = np.random.default_rng(4)
  lines = []
  for i in range(3):
    sources = (0.1 * rng.normal(size=(2, 8000))).astype(np.float32)
    names = [f"m{i}.wav", f"m{i}_s0.wav", f"m{i}_s1.wav"]
    for name, wave in zip(names, [sources.sum(0)] + list(sources)):
      ss.write_audio(str(tmp_path / name), wave, 8000, subtype="FLOAT")
    lines.append("\t".join(names))
  (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
  separator = ss.load_model(folder)
  summary = ss.evaluate(separator, str(tmp_path / "list.txt"), stream=io.StringIO())
  # The reference: one direct call per 1 s mixture, scored by the metrics.
  records = []
  for i in range(3):
    mixture = ss.read_audio(str(tmp_path / f"m{i}.wav"), 8000)
    sources = np.stack([ss.read_audio(str(tmp_path / f"m{i}_s{k}.wav"), 8000)
                        for k in range(2)])
    records.append(metrics.score_example(mixture, sources,
                                         np.asarray(separator(mixture[None]))[0]))
  assert summary["sample_rate"] == 8000
  assert summary["MSi"] == pytest.approx(metrics.summarize(records)["MSi"], abs=1e-4)
