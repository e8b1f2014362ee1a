"""A run SIGKILLed mid-interval and resumed reaches the uninterrupted run's weights.

Real `sound-separation train` processes (tiny model, CPU, TensorFlow's
deterministic ops): one trains 12 steps straight; another is killed at step
7 (its last checkpoint is step 6) and the same command finishes it. The
input streams resume at the checkpoint's position (same shuffles, same
crops), the initial weights by the run's seed and the random MoM pairing by
the step, so the separators at step 12 must be bit-identical. Lists and
records.
"""

import subprocess

import numpy as np
import pytest

from sound_separation.corpus import records as records_writer
from test_fault_injection import _corpus
from test_fault_injection import _env
from test_fault_injection import _kill_at
from test_fault_injection import _separator_weights

NUM_STEPS = 12


def _command(model_dir, data, data_format):
  import sys  # pylint: disable=import-outside-toplevel
  params = [
      f"sound_separation.training_dataset.unsupervised_list = '{data}'",
      f"sound_separation.training_dataset.unsupervised_format = '{data_format}'",
      "sound_separation.training_dataset.batch_size = 4",
      "sound_separation.training_dataset.clip_seconds = 0.05",  # crops of 0.1 s clips
      "sound_separation.train.seed = 7",  # the initial weights and the input order
      "sound_separation.MixITTrainer.pairing = 'random'",
      f"sound_separation.train.num_steps = {NUM_STEPS}",
      "sound_separation.train.steps_per_checkpoint = 2",
      "sound_separation.train.max_checkpoints_to_keep = 20",
      "sound_separation.train.log_every = 1",
      "sound_separation.train.num_audio_examples = 0",
  ]
  return ([sys.executable, "-m", "sound_separation", "train", f"--model_dir={model_dir}",
           "--gin_file=models/tiny"] + [f"--gin_param={p}" for p in params])


def _finish(command, env, cwd):
  done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("data_format", ["clips", "records"])
def test_killed_and_resumed_run_equals_the_uninterrupted_run(tmp_path, data_format):
  clip_list, _ = _corpus(tmp_path)
  data = str(clip_list)
  if data_format == "records":
    data = records_writer.write_records(data, str(tmp_path / "records" / "clips"), "clips",
                                        sample_rate=16000, num_shards=3).index
  env = dict(_env(tmp_path), TF_DETERMINISTIC_OPS="1")
  straight = tmp_path / "straight"
  _finish(_command(straight, data, data_format), env, tmp_path)
  killed = tmp_path / "killed"
  out = _kill_at(_command(killed, data, data_format), env, "step 7/", tmp_path)
  assert "step 7/" in out
  resumed = _finish(_command(killed, data, data_format), env, tmp_path)
  # It resumed from step 6: a restart from scratch (same seed) would reach the
  # same weights too, so the steps it logs must start at 7.
  assert "step 7/" in resumed and "step 1/" not in resumed
  want = _separator_weights(str(straight / "checkpoints" / f"ckpt-{NUM_STEPS}"))
  have = _separator_weights(str(killed / "checkpoints" / f"ckpt-{NUM_STEPS}"))
  start = _separator_weights(str(straight / "checkpoints" / "ckpt-2"))
  assert max(float(np.abs(w - s).max()) for w, s in zip(want, start)) > 1e-4  # it trained
  gap = max(float(np.abs(w - h).max()) for w, h in zip(want, have))
  assert gap == 0.0, f"resumed run differs by {gap:g}"  # bit-identical
