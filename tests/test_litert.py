"""LiteRT model folders: export, the TensorFlow-free runtime, and the shipped model's copy."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile

from sound_separation import pretrained
from sound_separation.inference import litert
from sound_separation.inference import chunked
from sound_separation.inference import separate
from sound_separation.inference import separator as separator_lib

# CI installs the `litert` extra and sets this, so these tests run there.
if not litert.available():
  if os.environ.get("SOUND_SEPARATION_REQUIRE_LITERT") == "1":
    raise RuntimeError("SOUND_SEPARATION_REQUIRE_LITERT=1 but LiteRT is not installed: "
                       + litert.INSTALL_HINT)
  pytest.skip("LiteRT is not installed (" + litert.INSTALL_HINT + ")", allow_module_level=True)


@pytest.fixture(scope="module")
def litert_folder(model_folder, tmp_path_factory):
  """The tiny 8 kHz model folder exported with 1 s chunks: `(folder, tf separator)`."""
  from sound_separation.inference import export  # pylint: disable=import-outside-toplevel
  folder, separator = model_folder
  out = str(tmp_path_factory.mktemp("litert") / "lite")
  info = export.export_litert(folder, out, chunk_seconds=1.0)
  assert info["chunk_samples"] == 8000 and info["sample_rate"] == 8000
  return out, separator


def test_both_programs_compute_what_the_keras_separator_computes(litert_folder):
  folder, keras_separator = litert_folder
  lite = separator_lib.load_model(folder)
  assert isinstance(lite, litert.LiteRTSeparator) and "LiteRT" in lite.description
  assert (lite.sample_rate, lite.num_sources) == (8000, 4)
  rng = np.random.default_rng(0)
  chunk = (0.1 * rng.standard_normal((3, 8000))).astype(np.float32)
  np.testing.assert_allclose(lite.fixed_length(8000)(chunk),
                             keras_separator(chunk, training=False).numpy(), atol=1e-5)
  for length in (333, 2500, 8000, 11111):  # the any-length program, resized each time
    x = (0.1 * rng.standard_normal((2, length))).astype(np.float32)
    np.testing.assert_allclose(lite(x), keras_separator(x, training=False).numpy(), atol=1e-5)
  with pytest.raises(ValueError, match=r"\[batch, 8000\]"):
    lite.fixed_length(8000)(chunk[:, :-1])
  from test_protocol import check_protocol  # pylint: disable=import-outside-toplevel
  check_protocol(lite, keras_separator(chunk, training=False).numpy(), chunk)


def test_a_file_separates_as_with_the_model_folder(litert_folder, model_folder, tmp_path):
  folder, _ = litert_folder
  path = tmp_path / "long.wav"
  x = 0.1 * np.random.default_rng(1).standard_normal(int(11025 * 3.7))  # 4 chunks at 8 kHz
  soundfile.write(str(path), x.astype(np.float32), 11025, subtype="FLOAT")
  via_tf = separate.separate_file(separator_lib.load_model(model_folder[0]), str(path),
                                  str(tmp_path / "tf"), chunk_seconds=1.0, overlap_seconds=0.25)
  via_lite = separate.separate_file(separator_lib.load_model(folder), str(path),
                                    str(tmp_path / "lite"), chunk_seconds=1.0,
                                    overlap_seconds=0.25)
  assert [os.path.basename(p) for p in via_lite] == [os.path.basename(p) for p in via_tf]
  for a, b in zip(via_tf, via_lite):
    np.testing.assert_allclose(soundfile.read(b)[0], soundfile.read(a)[0], atol=1e-5)


def test_separate_runs_without_tensorflow(litert_folder, tmp_path):
  folder, _ = litert_folder
  wav = tmp_path / "in.wav"
  soundfile.write(str(wav), (0.1 * np.random.default_rng(2).standard_normal(20000))
                  .astype(np.float32), 8000, subtype="FLOAT")
  code = textwrap.dedent(f"""
      import sys
      from sound_separation import cli
      status = cli.main(["prog", "separate", "--model={folder}", "--out_dir={tmp_path / 'o'}",
                         {str(wav)!r}])
      print("STATUS", status, "tensorflow" in sys.modules, "keras" in sys.modules)
      """)
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
  assert "STATUS 0 False False" in result.stdout, result.stdout + result.stderr[-2000:]
  assert sorted(os.listdir(tmp_path / "o" / "in_wav")) == [f"in_source{j}.wav"
                                                           for j in range(4)]


def test_the_shipped_copy_matches_the_shipped_weights():
  shipped = pretrained.default_litert_dir()
  assert shipped is not None, "the shipped model's LiteRT copy is missing from the package"
  lite = separator_lib.load_model(None)
  tf_model = separator_lib.load_model(None, runtime="tensorflow")
  assert isinstance(lite, litert.LiteRTSeparator)
  assert not isinstance(tf_model, litert.LiteRTSeparator)
  with open(os.path.join(shipped, litert.INFO_FILE), encoding="utf-8") as f:
    info = json.load(f)
  # Exported from the checkpoint the TensorFlow path reads.
  assert tf_model.description.endswith(os.path.basename(info["checkpoint"]) + ")")
  x = 0.1 * np.random.default_rng(3).standard_normal(16000 * 12).astype(np.float32)
  np.testing.assert_allclose(chunked.separate_waveform(lite, x),
                             chunked.separate_waveform(tf_model, x), atol=1e-4)


def test_runtime_choices_and_errors(litert_folder, model_folder, tmp_path, monkeypatch):
  folder, _ = litert_folder
  with pytest.raises(ValueError, match="not 'tensorflow'"):
    separator_lib.load_model(folder, runtime="tensorflow")
  with pytest.raises(ValueError, match="export --format=litert"):
    separator_lib.load_model(model_folder[0], runtime="litert")
  with pytest.raises(ValueError, match="checkpoint applies"):
    separator_lib.load_model(folder, checkpoint="x/ckpt-1")
  with pytest.raises(ValueError, match="runtime must be one of"):
    separator_lib.load_model(folder, runtime="tflite")
  # Without LiteRT: a LiteRT folder says what to install; "auto" runs the
  # shipped model with TensorFlow (its description says which runtime).
  monkeypatch.setattr(litert, "available", lambda: False)
  with pytest.raises(RuntimeError, match=r"sound-separation\[litert\]"):
    separator_lib.load_model(folder)
  assert separator_lib.litert_folder(None) is None
  monkeypatch.undo()
  broken = tmp_path / "broken"
  broken.mkdir()
  (broken / litert.INFO_FILE).write_text("{not json")
  with pytest.raises(ValueError, match="litert.json is not valid JSON"):
    separator_lib.load_model(str(broken))
  (broken / litert.INFO_FILE).write_text(json.dumps(
      {"format": litert.FORMAT, "version": 1, "sample_rate": 8000, "num_sources": 4,
       "chunk_samples": 8000}))
  with pytest.raises(FileNotFoundError, match="chunk.tflite not found"):
    separator_lib.load_model(str(broken))


def test_export_refuses_a_folder_that_is_not_empty(model_folder, tmp_path):
  from sound_separation.inference import export  # pylint: disable=import-outside-toplevel
  (tmp_path / "x").mkdir()
  (tmp_path / "x" / "keep.txt").write_text("mine")
  with pytest.raises(FileExistsError, match="not empty"):
    export.export_litert(model_folder[0], str(tmp_path / "x"))


def test_the_delegate_notice_is_dropped_and_other_stderr_kept(capfd):
  def create():
    os.write(2, (litert._DELEGATE_NOTICE + "\nE: a real problem\n").encode())  # pylint: disable=protected-access
    return 7
  assert litert._without_delegate_notice(create) == 7  # pylint: disable=protected-access
  err = capfd.readouterr().err
  assert "XNNPACK" not in err and "E: a real problem" in err
