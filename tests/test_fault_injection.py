"""Fault injection: real processes killed at chosen moments, and the bad-input matrix.

A training process (`sound-separation train`, tiny model) is SIGKILLed at
five moments: right after start, mid-step, mid-checkpoint write (the data
written, the index not yet updated), mid-evaluation and mid-summary write.
The moments are made reachable by a `sitecustomize` put on the child's path
that pauses there and says so on stdout (`FAULT <moment>`). After each kill
the same command must finish the run with every checkpoint readable and
finite. `separate` is killed between two inputs' outputs and re-run. The bad
input matrix of `bad_inputs.py` must hold: every cell works with finite
outputs or names the file.
"""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import gin
import numpy as np
import pytest
import soundfile
import tensorflow as tf

import bad_inputs
from conftest import tiny_checkpoint_separator
from sound_separation.inference import separator as separator_lib
from sound_separation.models import folders
from test_trainer import tiny_separator

REPO = pathlib.Path(__file__).resolve().parents[1]
RATE = 16000
T = 1600

# Pauses a child at one moment (env SS_FAULT), announcing it on stdout.
SITECUSTOMIZE = textwrap.dedent("""
    import os, sys, time
    MOMENT = os.environ.get("SS_FAULT")

    def pause(what):
      print(f"FAULT {what}", flush=True)
      time.sleep(30)

    if MOMENT == "checkpoint":
      from tensorflow.python.checkpoint import checkpoint_management as cm
      original = cm.update_checkpoint_state_internal
      def update(*args, **kwargs):
        pause("checkpoint")  # the checkpoint's files are written, the index not yet
        return original(*args, **kwargs)
      cm.update_checkpoint_state_internal = update
    elif MOMENT == "evaluation":
      from sound_separation.evaluation import evaluator
      original_evaluate = evaluator.evaluate
      def evaluate(separate_fn, *args, **kwargs):
        calls = [0]
        def separate(waveform):
          calls[0] += 1
          if calls[0] == 2:
            pause("evaluation")  # one example scored, the next one not
          return separate_fn.separate(waveform)  # a KerasSeparator (protocol)
        return original_evaluate(separate, *args, **kwargs)
      evaluator.evaluate = evaluate
    elif MOMENT == "summary":
      import tensorflow as tf
      original_scalar = tf.summary.scalar
      count = [0]
      def scalar(*args, **kwargs):
        result = original_scalar(*args, **kwargs)
        count[0] += 1
        if count[0] == 12:
          pause("summary")  # inside a summary write, before the flush
        return result
      tf.summary.scalar = scalar
    elif MOMENT == "separate":
      from sound_separation.data import audio
      original_write = audio.AudioWriter.write
      def write(writer, block):
        if "f1_source1" in writer.path:  # the second input's second output
          pause("separate")
        return original_write(writer, block)
      audio.AudioWriter.write = write
""")


@pytest.fixture(autouse=True)
def _unlocked_gin():
  yield
  with gin.unlock_config():
    gin.clear_config()


def _env(tmp_path, moment=None):
  hooks = tmp_path / "hooks"
  hooks.mkdir(exist_ok=True)
  (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hooks), str(REPO)]),
             CUDA_VISIBLE_DEVICES="")
  env.pop("SS_FAULT", None)
  if moment:
    env["SS_FAULT"] = moment
  return env


def _corpus(tmp_path):
  rng = np.random.default_rng(0)
  clips, examples = [], []
  for i in range(8):
    path = tmp_path / f"clip{i}.wav"
    soundfile.write(str(path), (0.1 * rng.standard_normal(T)).astype(np.float32), RATE,
                    subtype="FLOAT")
    clips.append(path.name)
    examples.append(f"{path.name}\t{path.name}")
  (tmp_path / "clips.txt").write_text("\n".join(clips) + "\n")
  (tmp_path / "fuss.txt").write_text("\n".join(examples[:3]) + "\n")
  return tmp_path / "clips.txt", tmp_path / "fuss.txt"


def _train_command(model_dir, clip_list, fuss_list, num_steps=12):
  params = [
      f"sound_separation.training_dataset.unsupervised_list = '{clip_list}'",
      "sound_separation.training_dataset.batch_size = 4",
      "sound_separation.training_dataset.clip_seconds = 0.1",
      f"sound_separation.train.num_steps = {num_steps}",
      "sound_separation.train.steps_per_checkpoint = 4",
      "sound_separation.train.max_checkpoints_to_keep = 10",
      "sound_separation.train.log_every = 1",
      "sound_separation.train.summary_every = 1",
      "sound_separation.train.num_audio_examples = 1",
      f"sound_separation.train.evaluation_list = '{fuss_list}'",
  ]
  return ([sys.executable, "-m", "sound_separation", "train", f"--model_dir={model_dir}",
           "--gin_file=models/tiny"] + [f"--gin_param={p}" for p in params])


def _kill_at(command, env, marker, cwd, timeout=300):
  """Starts `command`, SIGKILLs it once a stdout line starts with `marker`."""
  child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, bufsize=1)
  deadline = time.monotonic() + timeout
  seen = []
  for line in child.stdout:
    seen.append(line)
    if marker is None or line.startswith(marker):
      break
    assert time.monotonic() < deadline, "".join(seen[-20:])
  child.send_signal(signal.SIGKILL)
  child.wait()
  return "".join(seen)


def _separator_weights(prefix):
  return [v.numpy() for v in tiny_checkpoint_separator(prefix).weights]


def _check_run(model_dir, num_steps):
  """Every retained checkpoint restores finite; the latest is at num_steps; files parse."""
  state = tf.train.get_checkpoint_state(str(model_dir / "checkpoints"))
  steps = [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths]
  assert steps[-1] == num_steps
  for path in state.all_model_checkpoint_paths:
    assert all(np.all(np.isfinite(w)) for w in _separator_weights(path))
  assert (model_dir / "config.gin").read_text()
  best = model_dir / "checkpoints" / "best" / "best.json"
  if best.exists():
    import json  # pylint: disable=import-outside-toplevel
    record = json.loads(best.read_text())
    assert all(np.isfinite(w).all() for w in _separator_weights(record["checkpoint"]))
  for event_file in (model_dir / "summaries").rglob("events.out.tfevents.*"):
    for _ in tf.data.TFRecordDataset(str(event_file)):
      pass  # raises on a corrupt record


# The training kills are marked `fault_injection` (about 1.5 min each here),
# left out of CI: `python -m pytest -m fault_injection tests` runs them. CI
# keeps tests/test_train_cli.py's kill after a step and the separate kill.
_MORE = pytest.mark.fault_injection


@pytest.mark.slow
@pytest.mark.parametrize("moment, marker", [
    pytest.param("start", None, marks=_MORE),
    pytest.param("step", "step 6/", marks=_MORE),
    pytest.param("checkpoint", "FAULT checkpoint", marks=_MORE),
    pytest.param("evaluation", "FAULT evaluation", marks=_MORE),
    pytest.param("summary", "FAULT summary", marks=_MORE),
])
def test_training_killed_at_a_moment_resumes_and_nothing_is_corrupt(tmp_path, moment, marker):
  clip_list, fuss_list = _corpus(tmp_path)
  model_dir = tmp_path / "run"
  command = _train_command(model_dir, clip_list, fuss_list)
  out = _kill_at(command, _env(tmp_path, moment if marker and marker.startswith("FAULT")
                               else None), marker, tmp_path)
  if marker:
    assert marker in out
  done = subprocess.run(command, env=_env(tmp_path), cwd=tmp_path, capture_output=True,
                        text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "at step 12" in done.stdout
  _check_run(model_dir, 12)


@pytest.mark.slow
def test_separate_killed_mid_job_leaves_no_partial_outputs_and_resumes(tmp_path):
  separator = tiny_separator()
  separator(np.zeros((1, 400), np.float32))
  model = tmp_path / "model"
  folders.save_separator(separator, str(model), RATE)
  inputs = []
  for i in range(4):
    path = tmp_path / "in" / f"f{i}.wav"
    path.parent.mkdir(exist_ok=True)
    soundfile.write(str(path), (0.1 * np.random.default_rng(i).standard_normal(T)), RATE,
                    subtype="FLOAT")
    inputs.append(str(path))
  out = tmp_path / "out"
  command = [sys.executable, "-m", "sound_separation", "separate", f"--model={model}",
             f"--out_dir={out}", *inputs]
  _kill_at(command, _env(tmp_path, "separate"), "FAULT separate", tmp_path)
  # Whatever is under a final name is complete: f0 done, nothing of f1.
  finished = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
  assert finished == ["f0_wav"]
  assert len(list((out / "f0_wav").iterdir())) == 4
  done = subprocess.run(command, env=_env(tmp_path), cwd=tmp_path, capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "Separated 3, skipped 1" in done.stdout
  assert sorted(p.name for p in out.iterdir()) == ["f0_wav", "f1_wav", "f2_wav", "f3_wav"]
  for i in range(4):
    outputs = [soundfile.read(str(p))[0] for p in sorted((out / f"f{i}_wav").iterdir())]
    assert len(outputs) == 4
    np.testing.assert_allclose(np.sum(outputs, axis=0), soundfile.read(inputs[i])[0],
                               atol=1e-5)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp("bad_inputs"))
  separator = tiny_separator()
  separator(np.zeros((1, 400), np.float32))
  folders.save_separator(separator, os.path.join(folder, "model"), RATE)
  loaded = separator_lib.load_model(os.path.join(folder, "model"))
  return bad_inputs.run_matrix(folder, loaded, long=bool(os.environ.get("SS_LONG_INPUTS"))), \
      bad_inputs.make_cases(folder)


# What each case must do, where the rule is not "either": files that hold no
# usable audio are errors everywhere; ordinary odd files work everywhere.
MUST_FAIL = {"empty.wav", "zero_bytes.wav", "not_audio.wav", "truncated.wav", "nan_inf.wav",
             "a_folder", "missing.wav"}
MUST_WORK = {"silent.wav", "clipped.wav", "rate_8k.wav", "rate_44k.wav", "six_channels.wav"}


def test_bad_inputs_work_with_finite_outputs_or_name_the_file(matrix):
  rows, cases = matrix
  for name, _, outcomes in rows:
    path = cases[name][0] if name in cases else name
    for consumer, (status, detail) in outcomes.items():
      assert status in ("ok", "error"), (name, consumer, detail)
      if status == "error":
        assert bad_inputs.names_the_file(detail, path), (name, consumer, detail)
      if name in MUST_FAIL:
        assert status == "error", (name, consumer, detail)
      if name in MUST_WORK:
        assert status == "ok", (name, consumer, detail)
