"""Lists, audio, model folders and outputs on TensorFlow's in-memory `ram://` filesystem.

Every path the package reads or writes goes through `sound_separation.filesystem`;
`ram://` stands here for any filesystem TensorFlow knows (`gs://` on a TPU
run). Each test writes the same corpus locally and on `ram://` and checks
that both give the same result.
"""

import io
import itertools

import numpy as np
import pytest
import tensorflow as tf

from sound_separation import cli
from sound_separation import filesystem
from sound_separation.data import audio
from sound_separation.data import pipelines
from sound_separation.data import lists
from sound_separation.evaluation import evaluator
from sound_separation.inference import separator as separator_lib
from sound_separation.models import folders

RATE = 8000
_ROOTS = itertools.count()


@pytest.fixture
def ram_root():
  """A fresh `ram://` folder (the in-memory filesystem lives as long as the process)."""
  root = f"ram://test_filesystems/{next(_ROOTS)}"
  tf.io.gfile.makedirs(root)
  yield root
  tf.io.gfile.rmtree(root)


def _corpus(root, rng, num_examples=4, num_samples=2400):
  """A FUSS list and a clip list (relative entries) under `root`; returns their paths."""
  examples, clips = [], []
  for i in range(num_examples):
    sources = (0.2 * rng.standard_normal((2, num_samples))).astype(np.float32)
    folder = filesystem.join(root, f"example{i}")
    filesystem.makedirs(folder)
    source_paths = []
    for j, source in enumerate(sources):
      source_paths.append(filesystem.join(folder, f"source{j}.wav"))
      audio.write_audio(source_paths[-1], source, RATE, subtype="FLOAT")
    mixture = filesystem.join(folder, "mixture.wav")
    audio.write_audio(mixture, sources.sum(0), RATE, subtype="FLOAT")
    examples.append((mixture, source_paths))
    clips.append((mixture, ["a"] if i % 2 else ["b"]))
  fuss = lists.write_fuss_list(filesystem.join(root, "fuss_list.txt"), examples)
  clip = lists.write_clip_list(filesystem.join(root, "clip_list.txt"), clips, ["a", "b"])
  return fuss, clip


def _both(tmp_path, ram_root, seed=0):
  local = _corpus(str(tmp_path), np.random.default_rng(seed))
  remote = _corpus(ram_root, np.random.default_rng(seed))
  return local, remote


def test_lists_on_ram_are_relative_and_resolve_on_ram(tmp_path, ram_root):
  _, (fuss, clip) = _both(tmp_path, ram_root)
  text = filesystem.read_text(clip)
  assert text.splitlines()[0] == "example0/mixture.wav\tb"  # relative, as locally
  paths, labels = lists.read_clip_list(clip, ["a", "b"])
  assert paths[1] == f"{ram_root}/example1/mixture.wav"
  np.testing.assert_array_equal(labels, [[0, 1], [1, 0], [0, 1], [1, 0]])
  mixture, sources = lists.read_fuss_list(fuss)[2]
  assert mixture.startswith(ram_root) and all(s.startswith(ram_root) for s in sources)


def test_pipelines_read_the_same_batches_from_ram(tmp_path, ram_root):
  (local_fuss, local_clip), (fuss, clip) = _both(tmp_path, ram_root)
  for local, remote, make in (
      (local_fuss, fuss, lambda p: pipelines.fuss_dataset(p, 2, clip_seconds=0.2,
                                                         sample_rate=RATE, shuffle=False,
                                                         repeat=False)),
      (local_clip, clip, lambda p: pipelines.clip_dataset(p, 2, clip_seconds=0.2,
                                                         sample_rate=RATE, seed=3,
                                                         vocabulary=["a", "b"]))):
    got = [b for _, b in zip(range(2), make(remote))]
    want = [b for _, b in zip(range(2), make(local))]
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
      assert set(g) == set(w)
      for key in g:
        np.testing.assert_array_equal(g[key].numpy(), w[key].numpy())


def test_bad_remote_files_are_named(ram_root):
  with pytest.raises(audio.AudioReadError, match=f"{ram_root}/missing.wav"):
    audio.read_audio(f"{ram_root}/missing.wav")
  good = f"{ram_root}/good.wav"
  audio.write_audio(good, np.zeros(800, np.float32) + 0.1, RATE)
  with filesystem.open_file(f"{ram_root}/cut.wav", "wb") as f:
    f.write(filesystem.read_bytes(good)[:900])
  with pytest.raises(audio.AudioReadError, match="cut.wav.*truncated"):
    audio.read_audio(f"{ram_root}/cut.wav")
  with pytest.raises(ValueError, match="cannot read list file"):
    lists.read_fuss_list(f"{ram_root}/no_list.txt")


def test_model_folder_evaluation_and_separation_on_ram(tmp_path, ram_root, model_folder):
  local_folder, separator = model_folder
  (local_fuss, _), (fuss, _) = _both(tmp_path, ram_root)
  # A model folder on ram://: written, read back, the same outputs.
  folders.save_separator(separator, f"{ram_root}/model", RATE, step=7)
  loaded = separator_lib.load_model(f"{ram_root}/model")
  x = np.random.default_rng(1).standard_normal((1, 1600)).astype(np.float32)
  np.testing.assert_array_equal(loaded(x), separator_lib.load_model(local_folder)(x))

  # Evaluation of a ram:// list, outputs on ram://: the local numbers.
  def separate_fn(waveform):
    return separator(waveform[None]).numpy()[0]
  want = evaluator.evaluate(separate_fn, local_fuss, "fuss", RATE, out_dir=None,
                            stream=io.StringIO())
  got = evaluator.evaluate(separate_fn, fuss, "fuss", RATE, out_dir=f"{ram_root}/eval",
                           stream=io.StringIO())
  assert got["MSi"] == want["MSi"] and got["num_examples"] == 4
  assert '"MSi"' in filesystem.read_text(f"{ram_root}/eval/{evaluator.SUMMARY_FILE}")
  assert filesystem.read_text(f"{ram_root}/eval/{evaluator.EXAMPLES_FILE}").count("\n") == 5

  # `separate` from ram:// to ram:// through the command line, and a re-run skips.
  out = io.StringIO()
  status = cli.main(["prog", "separate", f"--model={ram_root}/model", f"--out_dir={ram_root}/out",
                     f"{ram_root}/example0", f"{ram_root}/example1/mixture.wav"], stream=out)
  assert status == 0, out.getvalue()
  names = sorted(filesystem.listdir(f"{ram_root}/out/example0/mixture_wav"))
  assert names == [f"mixture_source{j}.wav" for j in range(4)]
  mixture = audio.read_audio(f"{ram_root}/example1/mixture.wav", RATE)
  outputs = np.stack([audio.read_audio(f"{ram_root}/out/example1/mixture_wav/"
                                       f"mixture_source{j}.wav", RATE) for j in range(4)])
  np.testing.assert_allclose(outputs.sum(0), mixture, atol=1e-4)
  again = io.StringIO()
  assert cli.main(["prog", "separate", f"--model={ram_root}/model",
                   f"--out_dir={ram_root}/out", f"{ram_root}/example0"], stream=again) == 0
  assert "skipped" in again.getvalue()
  assert not [n for n in filesystem.listdir(f"{ram_root}/out/example0/mixture_wav")
              if ".partial" in n]


def test_a_training_run_entirely_on_ram(tmp_path, ram_root):
  import gin  # pylint: disable=import-outside-toplevel
  from sound_separation import gin_utils  # pylint: disable=import-outside-toplevel
  from sound_separation.training import loop  # pylint: disable=import-outside-toplevel
  _, clip = _both(tmp_path, ram_root)[1]
  model_dir = f"{ram_root}/run"
  gin.clear_config()
  try:
    gin_utils.parse_gin(["models/tiny"], [
        f"sound_separation.training_dataset.unsupervised_list = '{clip}'",
        "sound_separation.training_dataset.batch_size = 4",
        "sound_separation.training_dataset.clip_seconds = 0.05",
        f"sound_separation.training_dataset.sample_rate = {RATE}",
        "sound_separation.train.steps_per_checkpoint = 2"])
    result = loop.train(model_dir, num_steps=4, log_every=2, num_audio_examples=1,
                        sample_rate=RATE, stream=io.StringIO())
    assert result.step == 4
    # Resumed from ram://: nothing left to do.
    again = io.StringIO()
    assert loop.train(model_dir, num_steps=4, sample_rate=RATE, stream=again).step == 4
    assert "already at step 4" in again.getvalue()
  finally:
    gin.clear_config()
  assert {"checkpoints", "config.gin", "separator.json", "summaries"} <= set(
      filesystem.listdir(model_dir))
  loaded = separator_lib.load_model(model_dir)
  assert loaded(np.zeros((1, 800), np.float32)).shape == (1, 4, 800)
