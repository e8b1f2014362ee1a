"""The `sound-separation` command: flags, errors, and a real kill and resume."""

import io
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import gin
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from conftest import tiny_checkpoint_separator
from sound_separation import cli

RATE = 16000
T = 1600  # 0.1 s clips keep the tiny model's steps fast.
REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _unlocked_gin():
  yield
  with gin.unlock_config():
    gin.clear_config()


def _run_cli(*args):
  out = io.StringIO()
  status = cli.main(["sound-separation", *args], stream=out)
  return status, out.getvalue()


def test_usage_and_unknown_command(capsys):
  status, out = _run_cli("--help")
  assert status == 0 and "train" in out and "demo" in out
  status, _ = _run_cli("fly")
  assert status == 2
  assert "unknown command 'fly'" in capsys.readouterr().err


def test_train_help_lists_its_flags():
  status, out = _run_cli("train", "--help")
  assert status == 0
  for flag in ("--model_dir", "--gin_file", "--gin_param", "--strategy", "--tpu"):
    assert flag in out


@pytest.mark.parametrize("args, status, message", [
    ((), 2, "--model_dir is required"),
    (("--model_dir=x",), 2, "at least one --gin_file"),
    (("--model_dir=x", "--gin_file=models/tiny", "--strategy=gpu"), 2, "strategy"),
    (("--model_dir=x", "--gin_file=models/tiny", "--bogus=1"), 2, "bogus"),
    (("--model_dir=x", "--gin_file=no/such_file"), 1, "gin file 'no/such_file' not found"),
    (("--model_dir=x", "--gin_file=models/tiny", "--strategy=mirrored", "--tpu=grpc://x"), 2,
     "--tpu needs --strategy=tpu"),
])
def test_train_bad_command_lines_say_what_is_wrong(capsys, args, status, message):
  got, _ = _run_cli("train", *args)
  assert got == status
  assert message in capsys.readouterr().err


def test_train_bad_gin_binding_is_reported(capsys, tmp_path):
  got, _ = _run_cli("train", f"--model_dir={tmp_path}", "--gin_file=models/tiny",
                    "--gin_param=sound_separation.train.num_stepz = 3")
  assert got == 1
  assert "num_stepz" in capsys.readouterr().err


def test_a_gin_file_of_the_flag_trainer_is_told_where_its_flags_went(capsys, tmp_path):
  # A run folder's config.gin from before the losses were terms binds flags.
  old = tmp_path / "old.gin"
  old.write_text("sound_separation.MixITTrainer.sparsity_weight = 2.0\n")
  got, _ = _run_cli("train", f"--model_dir={tmp_path / 'run'}", "--gin_file=models/tiny",
                    f"--gin_file={old}", "--gin_param=sound_separation.train.num_steps = 1")
  err = capsys.readouterr().err
  assert got == 1
  assert "MixITTrainer no longer takes ['sparsity_weight']" in err
  assert "sparsity_weight -> sound_separation.Sparsity.weight" in err
  assert not (tmp_path / "run" / "LOCK").exists()  # the refused run holds nothing


# ----------------------------------------------------------------------------
# Kill and resume a real training process.


def _corpus(root, rng, count=8):
  lines = []
  for i in range(count):
    path = root / f"clip{i}.wav"
    soundfile.write(str(path), (0.1 * rng.standard_normal(T)).astype(np.float32), RATE,
                    subtype="FLOAT")
    lines.append(path.name)
  (root / "clips.txt").write_text("\n".join(lines) + "\n")
  return root / "clips.txt"


def _train_command(model_dir, clip_list, num_steps):
  return [sys.executable, "-m", "sound_separation", "train", f"--model_dir={model_dir}",
          "--gin_file=models/tiny",
          f"--gin_param=sound_separation.training_dataset.unsupervised_list = '{clip_list}'",
          "--gin_param=sound_separation.training_dataset.batch_size = 4",
          "--gin_param=sound_separation.training_dataset.clip_seconds = 0.1",
          "--gin_param=sound_separation.MixITTrainer.loss_terms = "
          "[@sound_separation.MixIT(), @sound_separation.Sparsity()]",
          "--gin_param=sound_separation.Sparsity.weight = 0.1",
          f"--gin_param=sound_separation.train.num_steps = {num_steps}",
          "--gin_param=sound_separation.train.steps_per_checkpoint = 5",
          "--gin_param=sound_separation.train.max_checkpoints_to_keep = 3",
          "--gin_param=sound_separation.train.log_every = 1",
          "--gin_param=sound_separation.train.summary_every = 1",
          "--gin_param=sound_separation.train.num_audio_examples = 1",
          "--gin_param=sound_separation.train.sample_rate = 16000"]


def _env():
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
  env["CUDA_VISIBLE_DEVICES"] = ""
  return env


def _checkpoint_steps(model_dir):
  state = tf.train.get_checkpoint_state(str(model_dir / "checkpoints"))
  return [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths]


def _separator_kernel(prefix):
  return tiny_checkpoint_separator(prefix).mask_dense.kernel.numpy()


def _event_tags(folder):
  """{tag: sorted steps} over the event files in `folder`."""
  tags = {}
  for path in sorted(folder.glob("events.out.tfevents.*")):
    for record in tf.data.TFRecordDataset(str(path)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        tags.setdefault(value.tag, set()).add(event.step)
  return {tag: sorted(steps) for tag, steps in tags.items()}


def test_kill_mid_run_then_resume_continues_from_the_saved_step(tmp_path):
  clip_list = _corpus(tmp_path, np.random.default_rng(0))
  model_dir = tmp_path / "run"
  first = subprocess.Popen(_train_command(model_dir, clip_list, 100_000), env=_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  seen = []
  deadline = time.monotonic() + 300
  try:
    for line in first.stdout:
      seen.append(line)
      match = re.match(r"step (\d+)/", line)
      if match and int(match.group(1)) >= 12:  # past the checkpoints at 5 and 10
        break
      assert time.monotonic() < deadline, "".join(seen[-20:])
  finally:
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
  assert first.returncode == -signal.SIGKILL
  saved = _checkpoint_steps(model_dir)
  assert saved and saved[-1] >= 10 and all(s % 5 == 0 for s in saved), saved
  resume_step = saved[-1]
  prefix = str(model_dir / "checkpoints" / f"ckpt-{resume_step}")
  kernel_at_kill = _separator_kernel(prefix)

  # Resume to a step that is not a multiple of the checkpoint interval.
  final_step = resume_step + 7
  second = subprocess.run(_train_command(model_dir, clip_list, final_step), env=_env(),
                          capture_output=True, text=True, timeout=600)
  log = second.stdout + second.stderr
  assert second.returncode == 0, log
  assert f"Resumed from {prefix} at step {resume_step}." in log
  progress = [int(m) for m in re.findall(r"^step (\d+)/", second.stdout, re.M)]
  assert progress[0] == resume_step + 1 and progress[-1] == final_step, progress
  assert f"at step {final_step}." in second.stdout

  # Every retained checkpoint reads back whole, with finite values.
  steps = _checkpoint_steps(model_dir)
  assert steps[-1] == final_step and len(steps) <= 3, steps
  for step in steps:
    reader = tf.train.load_checkpoint(str(model_dir / "checkpoints" / f"ckpt-{step}"))
    for name, _ in tf.train.list_variables(str(model_dir / "checkpoints" / f"ckpt-{step}")):
      value = reader.get_tensor(name)
      if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        assert np.all(np.isfinite(value)), (step, name)
  # The resumed run started from the saved weights: its first checkpoint is
  # the killed run's weights plus a few small Adam steps, not a fresh init.
  kernel_after = _separator_kernel(str(model_dir / "checkpoints" / f"ckpt-{final_step}"))
  fresh_scale = np.abs(kernel_at_kill).mean()
  assert np.abs(kernel_after - kernel_at_kill).max() < 0.1 * fresh_scale

  # TensorBoard: every loss term before and after the kill, and audio.
  tags = _event_tags(model_dir / "summaries" / "train")
  for term in ("loss", "mixit", "sparsity", "learning_rate"):  # the terms it lists
    assert term in tags, sorted(tags)
    assert min(tags[term]) <= 5 and max(tags[term]) == final_step, (term, tags[term])
  for tag in ("input", "reference_0", "reference_1", "output_0", "output_3"):
    # Written at every checkpoint of both runs.
    assert tag in tags and {5, 10, final_step} <= set(tags[tag]), (tag, tags.get(tag))
  assert (model_dir / "config.gin").read_text().count("unsupervised_list") == 1


def test_an_absurd_learning_rate_stops_the_run_with_finite_checkpoints(tmp_path):
  clip_list = _corpus(tmp_path, np.random.default_rng(3))
  model_dir = tmp_path / "run"
  sane = _train_command(model_dir, clip_list, 5) + [
      "--gin_param=sound_separation.train.num_audio_examples = 0"]
  result = subprocess.run(sane, env=_env(), capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  good = _separator_kernel(str(model_dir / "checkpoints" / "ckpt-5"))
  # The same run resumed with a learning rate that blows the weights up.
  command = _train_command(model_dir, clip_list, 40) + [
      "--gin_param=sound_separation.default_optimizer.learning_rate = 1e30",
      "--gin_param=sound_separation.train.max_consecutive_nonfinite = 3",
      "--gin_param=sound_separation.train.num_audio_examples = 0"]
  result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
  assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
  assert "3 consecutive training steps had a non-finite loss or gradients" in result.stderr
  skipped = re.findall(r"step (\d+): non-finite loss or gradients; 1 step\(s\) skipped",
                       result.stdout)
  assert len(skipped) >= 3
  # Every checkpoint left behind holds finite weights (the steps that would
  # have poisoned them were not applied), and the one before is untouched.
  steps = _checkpoint_steps(model_dir)
  assert steps[0] == 5
  for step in steps:
    kernel = _separator_kernel(str(model_dir / "checkpoints" / f"ckpt-{step}"))
    assert np.all(np.isfinite(kernel))
  np.testing.assert_array_equal(
      _separator_kernel(str(model_dir / "checkpoints" / "ckpt-5")), good)
