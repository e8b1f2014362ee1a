"""`sound-separation demo`, shortened: corpus, training, evaluation, examples."""

import io
import json

import gin
import numpy as np
import soundfile

from sound_separation import demo

SHORT = ["sound_separation.train.num_steps = 2", "sound_separation.train.steps_per_checkpoint = 2",
         "sound_separation.training_dataset.batch_size = 4"]


def test_demo_trains_evaluates_and_writes_examples(tmp_path):
  stream = io.StringIO()
  try:
    result, summary = demo.run(str(tmp_path), minutes=5, num_train_clips=8,
                               num_validation_clips=4, gin_params=SHORT, num_examples=2,
                               stream=stream)
  finally:
    gin.clear_config()
  report = stream.getvalue()
  assert result.step == 2
  assert "TRF" in report and "MSi" in report and "step 0" in report
  written = json.loads((tmp_path / "evaluation" / "summary.json").read_text())
  assert written["num_examples"] == 4 and written["TRF"] == summary["TRF"]
  # The example separations sum back to their mixtures (mixture consistency).
  for index in range(2):
    folder = tmp_path / "examples" / f"example{index}"
    mixture, rate = soundfile.read(folder / "input.wav")
    reference, _ = soundfile.read(tmp_path / "corpus" / "validation" / f"example{index:05d}" /
                                  "mixture.wav")
    np.testing.assert_array_equal(mixture, reference)
    outputs = sorted(folder.glob("mixture_source*.wav"))
    assert len(outputs) == 4 and rate == 16000  # the demo model has M = 4
    np.testing.assert_allclose(sum(soundfile.read(p)[0] for p in outputs), mixture, atol=1e-4)


def test_demo_on_own_lists(tmp_path):
  from sound_separation.corpus import synthetic  # pylint: disable=import-outside-toplevel
  train = synthetic.write_corpus(tmp_path / "data", "train", 6, clip_seconds=4.0, seed=3)
  held_out = synthetic.write_corpus(tmp_path / "data", "validation", 3, clip_seconds=4.0,
                                    seed=3)
  stream = io.StringIO()
  try:
    _, summary = demo.run(str(tmp_path / "out"), minutes=5, gin_params=SHORT,
                          train_list=train.clip_list, eval_list=held_out.fuss_list,
                          num_examples=1, stream=stream)
  finally:
    gin.clear_config()
  assert summary["num_examples"] == 3
  assert not (tmp_path / "out" / "corpus").exists()
  assert summary["list_path"] == str(held_out.fuss_list)
  assert len(list((tmp_path / "out" / "examples" / "example0").glob("*.wav"))) == 5
