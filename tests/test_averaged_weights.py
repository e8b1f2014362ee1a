"""Averaged weights (`default_optimizer(ema_momentum=...)`): the averaged checkpoints hold
the moving average of the raw weights, computed here by hand from every step's checkpoint."""

import io

import gin
import numpy as np
import pytest
import soundfile

from sound_separation import gin_utils
from sound_separation import run_folder
from sound_separation.models import folders
from sound_separation.training import keras_compat
from sound_separation.training import loop
from sound_separation.training import optimizer as optimizer_lib

RATE = 8000


def _clips(tmp_path, rng, count=8):
  lines = []
  for i in range(count):
    path = tmp_path / f"clip{i}.wav"
    soundfile.write(str(path), 0.1 * rng.normal(size=RATE // 2).astype(np.float32), RATE)
    lines.append(str(path))
  (tmp_path / "clips.txt").write_text("\n".join(lines) + "\n")
  return str(tmp_path / "clips.txt")


def _train(model_dir, clip_list, num_steps, momentum):
  gin.clear_config()
  try:
    gin_utils.parse_gin(["models/tiny"], [
        f"sound_separation.training_dataset.unsupervised_list = {clip_list!r}",
        "sound_separation.training_dataset.batch_size = 4",
        "sound_separation.training_dataset.clip_seconds = 0.1",
        f"sound_separation.training_dataset.sample_rate = {RATE}",
        "sound_separation.default_optimizer.learning_rate = 0.01",
        f"sound_separation.default_optimizer.ema_momentum = {momentum}"])
    return loop.train(model_dir, num_steps=num_steps, steps_per_checkpoint=1,
                      keep_checkpoint_every_steps=1, max_checkpoints_to_keep=2,
                      num_audio_examples=0, sample_rate=RATE, seed=3, stream=io.StringIO())
  finally:
    gin.clear_config()


def _weights(model_dir, prefix):
  separator, _, _ = folders.load_keras_separator(model_dir, prefix)
  return [v.numpy().astype(np.float64) for v in separator.trainable_variables]


def test_averaged_checkpoints_are_the_moving_average_of_the_raw_weights(tmp_path, rng):
  clip_list = _clips(tmp_path, rng)
  run = str(tmp_path / "run")
  momentum = 0.6
  _train(run, clip_list, 3, momentum)
  # Interrupted and resumed: the averages continue from the optimizer's checkpoint.
  _train(run, clip_list, 6, momentum)
  checkpoints = run_folder.checkpoints(run)
  raw = {step: _weights(run, f"{run_folder.kept(checkpoints)}/ckpt-{step}")
         for step in range(1, 7)}
  average = None
  for step in range(1, 7):
    average = raw[step] if average is None else [
        momentum * a + (1 - momentum) * w for a, w in zip(average, raw[step])]
    stored = _weights(run, f"{run_folder.averaged(checkpoints)}/ckpt-{step}")
    for got, want in zip(stored, average):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # The raw weights moved: the average differs from the last raw weights.
  assert max(np.max(np.abs(a - w)) for a, w in zip(average, raw[6])) > 1e-4


def test_kept_steps_keep_their_averaged_checkpoints(tmp_path, rng):
  clip_list = _clips(tmp_path, rng)
  run = str(tmp_path / "run")
  _train(run, clip_list, 4, 0.9)
  # keep_checkpoint_every_steps=1 keeps every step's average, whatever the retention.
  names = sorted(p.name for p in (tmp_path / "run" / "checkpoints" / "averaged").glob("*.index"))
  assert names == [f"ckpt-{s}.index" for s in (1, 2, 3, 4)]


def test_without_ema_there_is_no_average():
  optimizer = optimizer_lib.default_optimizer()
  assert keras_compat.moving_average(optimizer, None) is None
  with pytest.raises(ValueError, match="ema_momentum must be None or in"):
    optimizer_lib.default_optimizer(ema_momentum=1.0)
