"""Batch separation that loses nothing, truncated audio, and the shipped model."""

import io
import os

import numpy as np
import pytest
import soundfile

from sound_separation import cli
from sound_separation import pretrained
from sound_separation.data import audio
from sound_separation.data import pipelines
from sound_separation.data import lists
from sound_separation.evaluation import evaluator
from sound_separation.inference import separate
from sound_separation.inference import separator as separator_lib

RATE = 8000
M = 4




def _clip(path, seed, fmt=None):
  x = (0.1 * np.random.default_rng(seed).standard_normal(2000)).astype(np.float32)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  soundfile.write(path, x, RATE, format=fmt, subtype="FLOAT" if fmt != "FLAC" else "PCM_24")
  return audio.read_audio(path, RATE)


def _outputs(folder, stem, num_sources=M):
  return np.stack([soundfile.read(os.path.join(folder, f"{stem}_source{j}.wav"),
                                  dtype="float32")[0] for j in range(num_sources)])


def _run(*args):
  out = io.StringIO()
  return cli.main(["prog", "separate", *args], stream=out), out.getvalue()


def test_inputs_sharing_a_name_get_distinct_folders(model_folder, tmp_path):
  folder, separator = model_folder
  inputs = {"ok.wav": _clip(str(tmp_path / "in" / "ok.wav"), 1),
            "ok.flac": _clip(str(tmp_path / "in" / "ok.flac"), 2, "FLAC"),
            "sub/ok.wav": _clip(str(tmp_path / "in" / "sub" / "ok.wav"), 3)}
  out = tmp_path / "out"
  status, text = _run(f"--model={folder}", f"--out_dir={out}",
                      *[str(tmp_path / "in" / name) for name in inputs])
  assert status == 0, text
  expected_folders = {"ok.wav": out / "ok_wav", "ok.flac": out / "ok_flac",
                      "sub/ok.wav": out / "sub" / "ok_wav"}
  for name, x in inputs.items():
    outputs = _outputs(expected_folders[name], "ok")
    np.testing.assert_allclose(outputs, separator(x[None]).numpy()[0], atol=1e-5)
  files = [f for _, _, names in os.walk(out) for f in names]
  assert len(files) == 3 * M  # nothing overwrote anything, no temporary left
  assert "Separated 3, skipped 0" in text and "failed 0" in text


def test_rerun_skips_and_overwrite_replaces(model_folder, tmp_path):
  folder, _ = model_folder
  wav = str(tmp_path / "a.wav")
  _clip(wav, 4)
  out = tmp_path / "out"
  assert _run(f"--model={folder}", f"--out_dir={out}", wav)[0] == 0
  target = out / "a_wav" / "a_source0.wav"
  target.write_bytes(b"marker")  # stands for an earlier result
  status, text = _run(f"--model={folder}", f"--out_dir={out}", wav)
  assert status == 0 and "skipped" in text and target.read_bytes() == b"marker"
  status, text = _run(f"--model={folder}", f"--out_dir={out}", "--overwrite", wav)
  assert status == 0 and target.read_bytes() != b"marker"
  assert soundfile.info(str(target)).frames == 2000
  assert sorted(os.listdir(out)) == ["a_wav"]


def test_folders_are_expanded_recursively(model_folder, tmp_path):
  folder, _ = model_folder
  for name in ("x.wav", "deep/er/y.wav", "deep/z.flac"):
    _clip(str(tmp_path / "rec" / name), len(name), "FLAC" if name.endswith("flac") else None)
  (tmp_path / "rec" / "notes.txt").write_text("not audio")
  out = tmp_path / "out"
  status, text = _run(f"--model={folder}", f"--out_dir={out}", str(tmp_path / "rec"))
  assert status == 0, text
  for sub in ("x_wav", "deep/er/y_wav", "deep/z_flac"):
    assert len(os.listdir(out / sub)) == M
  assert "3/3" in text


def test_a_bad_file_is_reported_and_the_rest_are_separated(model_folder, tmp_path):
  folder, _ = model_folder
  paths = [str(tmp_path / f"{n}.wav") for n in "abcd"]
  for i, p in enumerate(paths):
    _clip(p, 10 + i)
  with open(paths[1], "wb") as f:
    f.write(b"this is not audio")
  status, text = _run(f"--model={folder}", f"--out_dir={tmp_path / 'out'}", *paths,
                      str(tmp_path / "missing.wav"))
  assert status == 1
  assert sorted(os.listdir(tmp_path / "out")) == ["a_wav", "c_wav", "d_wav"]
  assert "Separated 3, skipped 0 (outputs already there), failed 2" in text
  assert f"failed: {paths[1]}: AudioReadError" in text
  assert f"failed: {tmp_path / 'missing.wav'}: no such file" in text


def test_a_failure_mid_write_leaves_no_folder_and_no_temporary(model_folder, tmp_path,
                                                               monkeypatch):
  folder, _ = model_folder
  wav = str(tmp_path / "a.wav")
  _clip(wav, 5)
  separator = separator_lib.load_model(folder)
  real_write, calls = audio.AudioWriter.write, []

  def failing_write(writer, block):
    calls.append(writer.path)
    if len(calls) == 3:  # the third output's first block
      raise OSError("disk full")
    return real_write(writer, block)
  monkeypatch.setattr(audio.AudioWriter, "write", failing_write)
  summary = separate.separate_files(separator, [wav], str(tmp_path / "out"),
                                    stream=io.StringIO())
  assert summary.failed and "disk full" in summary.failed[0][1]
  assert os.listdir(tmp_path / "out") == []
  monkeypatch.setattr(audio.AudioWriter, "write", real_write)
  summary = separate.separate_files(separator, [wav], str(tmp_path / "out"),
                                    stream=io.StringIO())
  assert summary.separated == [wav] and len(os.listdir(tmp_path / "out" / "a_wav")) == M


def _truncated_wav(path):
  x = (0.1 * np.random.default_rng(0).standard_normal(4000)).astype(np.float32)
  soundfile.write(path, x, RATE, subtype="PCM_16")
  data = open(path, "rb").read()
  with open(path, "wb") as f:
    f.write(data[:len(data) // 2])


def test_truncated_audio_is_an_error_naming_the_file_everywhere(model_folder, tmp_path):
  path = str(tmp_path / "short.wav")
  _truncated_wav(path)
  # The header promises 4000 frames; about 1978 are there.
  with pytest.raises(audio.AudioReadError, match="short.wav.*truncated.*promises 4000 frames"):
    audio.read_audio(path, RATE)
  # Separation reports and skips it.
  status, text = _run(f"--model={model_folder[0]}", f"--out_dir={tmp_path / 'out'}", path)
  assert status == 1 and "short.wav: AudioReadError" in text and "truncated" in text
  # Evaluation names it.
  list_path = lists.write_fuss_list(tmp_path / "list.txt", [(path, [path])])
  with pytest.raises(audio.AudioReadError, match="short.wav.*truncated"):
    evaluator.evaluate(lambda w: np.stack([w] * M), list_path, "fuss", RATE,
                       stream=io.StringIO())
  # Training data names it (on_error='raise').
  clips = lists.write_clip_list(tmp_path / "clips.txt", [(path, None)])
  dataset = pipelines.clip_dataset(clips, batch_size=1, clip_seconds=0.1, sample_rate=RATE,
                                  shuffle=False, repeat=False)
  with pytest.raises(Exception, match="short.wav.*truncated"):
    next(iter(dataset))


def test_a_streamed_wav_with_an_unknown_size_is_not_called_truncated(tmp_path):
  path = str(tmp_path / "stream.wav")
  x = (0.1 * np.random.default_rng(0).standard_normal(4000)).astype(np.float32)
  soundfile.write(path, x, RATE, subtype="PCM_16")
  data = bytearray(open(path, "rb").read())
  index = data.find(b"data")
  data[index + 4:index + 8] = (0xFFFFFFFF).to_bytes(4, "little")  # a pipe writer's size
  open(path, "wb").write(bytes(data))
  assert audio.read_audio(path, RATE).shape == (4000,)


def test_load_model_without_a_path_loads_the_shipped_model(model_folder, monkeypatch, tmp_path):
  monkeypatch.setattr(pretrained, "DEFAULT_DIR", str(tmp_path / "absent"))
  with pytest.raises(FileNotFoundError, match="no default model"):
    separator_lib.load_model()
  monkeypatch.setattr(pretrained, "DEFAULT_DIR", model_folder[0])
  separator = separator_lib.load_model()
  x = (0.1 * np.random.default_rng(9).standard_normal(1000)).astype(np.float32)
  np.testing.assert_allclose(separator(x[None])[0], model_folder[1](x[None]).numpy()[0],
                             atol=1e-5)
  wav = str(tmp_path / "a.wav")
  _clip(wav, 6)
  status, text = _run(f"--out_dir={tmp_path / 'out'}", wav)
  assert status == 0 and model_folder[0] in text


# ---------------------------------------------------------------------------
# The model that ships with the package.


def test_the_shipped_model_separates_a_file_and_its_outputs_sum_to_it(tmp_path):
  """What a fresh install does: `separate FILE --out_dir=out` with no --model."""
  card = pretrained.model_card()
  assert "Training data" in card and "CC-BY-SA-3.0" in card and "GPL-2" in card
  separator = separator_lib.load_model()  # the Python API: one call
  assert separator.sample_rate == 16000 and separator.num_sources >= 2
  rng = np.random.default_rng(11)
  t = np.arange(3 * 16000) / 16000
  x = (0.3 * np.sin(2 * np.pi * 440 * t) * (t < 1.5)
       + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
  wav = tmp_path / "some.wav"
  soundfile.write(str(wav), x, 16000, subtype="FLOAT")
  status, text = _run(f"--out_dir={tmp_path / 'out'}", str(wav))
  assert status == 0, text
  outputs = _outputs(tmp_path / "out" / "some_wav", "some", separator.num_sources)
  assert np.all(np.isfinite(outputs))
  np.testing.assert_allclose(outputs.sum(axis=0), x, atol=1e-4)
  # The files are the model's own outputs, not the input copied into one of
  # them. (Whether it separates well is the study's test numbers, on real
  # mixtures: trained to keep a source whole, it keeps this synthetic tone
  # and noise mostly in one output.)
  np.testing.assert_allclose(outputs, separator(x[None])[0], atol=1e-4)
  assert np.sum(outputs ** 2, axis=1).min() > 0


def test_evaluate_and_the_demo_use_the_shipped_model(tmp_path):
  rng = np.random.default_rng(12)
  sources = (0.1 * rng.standard_normal((2, 16000))).astype(np.float32)
  paths = []
  for k, s in enumerate(sources):
    paths.append(tmp_path / f"s{k}.wav")
    soundfile.write(str(paths[-1]), s, 16000, subtype="FLOAT")
  soundfile.write(str(tmp_path / "mix.wav"), sources.sum(0), 16000, subtype="FLOAT")
  fuss = lists.write_fuss_list(tmp_path / "list.txt", [(tmp_path / "mix.wav", paths)])
  out = io.StringIO()
  assert cli.main(["prog", "evaluate", f"--data={fuss}"], stream=out) == 0
  assert "pretrained/default" in out.getvalue() and "MSi" in out.getvalue()
  out = io.StringIO()
  assert cli.main(["prog", "demo", "--pretrained", f"--eval_list={fuss}",
                   f"--out_dir={tmp_path / 'demo'}"], stream=out) == 0
  summary = (tmp_path / "demo" / "evaluation" / "summary.json").read_text()
  assert '"MSi"' in summary
  assert len(os.listdir(tmp_path / "demo" / "examples" / "example0")) == (
      1 + separator_lib.load_model().num_sources)
