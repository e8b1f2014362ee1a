"""Run folders that survive a damaged checkpoint and a second process."""

import io
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from sound_separation import cli
from sound_separation.models import folders
from sound_separation.training import locks

from test_train_cli import _corpus  # pylint: disable=wrong-import-order
from test_train_cli import _env  # pylint: disable=wrong-import-order
from test_train_cli import _train_command  # pylint: disable=wrong-import-order

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny run trained to step 15 (checkpoints 5, 10, 15), and its command."""
  root = tmp_path_factory.mktemp("run")
  clips = _corpus(root, np.random.default_rng(0))
  model_dir = root / "model"
  result = subprocess.run(_train_command(model_dir, clips, 15), capture_output=True, text=True,
                          env=_env(), timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return root, model_dir, clips


def _copy(trained, tmp_path):
  root, model_dir, clips = trained
  copy = tmp_path / "model"
  subprocess.run(["cp", "-r", str(model_dir), str(copy)], check=True)
  return copy, clips


def _data_file(model_dir, step):
  return next((model_dir / "checkpoints").glob(f"ckpt-{step}.data-*"))


def _truncate(path):
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])


def _flip_bit(path):
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0x10
  path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip_bit], ids=["truncated", "bit-flipped"])
def test_a_damaged_newest_checkpoint_resumes_from_the_previous(trained, tmp_path, damage):
  model_dir, clips = _copy(trained, tmp_path)
  damaged = _data_file(model_dir, 15)
  damage(damaged)
  assert folders.checkpoint_problem(str(model_dir / "checkpoints" / "ckpt-15")) is not None
  assert folders.checkpoint_problem(str(model_dir / "checkpoints" / "ckpt-10")) is None
  result = subprocess.run(_train_command(model_dir, clips, 20), capture_output=True, text=True,
                          env=_env(), timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  text = result.stdout + result.stderr
  assert f"warning: checkpoint {model_dir / 'checkpoints' / 'ckpt-15'} is damaged" in text
  assert damaged.name in text  # the file is named
  assert f"Resumed from {model_dir / 'checkpoints' / 'ckpt-10'} at step 10." in text
  # Kept aside, not deleted; training went on from step 10 to 20.
  assert (model_dir / "checkpoints" / folders.DAMAGED_FOLDER / damaged.name).exists()
  state = tf.train.get_checkpoint_state(str(model_dir / "checkpoints"))
  assert state.model_checkpoint_path.endswith("ckpt-20")


def test_inference_uses_the_newest_intact_checkpoint(trained, tmp_path):
  model_dir, _ = _copy(trained, tmp_path)
  _truncate(_data_file(model_dir, 15))
  before = sorted(os.listdir(model_dir / "checkpoints"))
  wav = tmp_path / "in.wav"
  soundfile.write(str(wav), (0.1 * np.random.default_rng(1).standard_normal(1600)).astype(
      np.float32), 16000)
  status = cli.main(["prog", "separate", f"--model={model_dir}", f"--out_dir={tmp_path / 'o'}",
                     str(wav)], stream=io.StringIO())
  assert status == 0
  _, _, read = folders.load_separator(str(model_dir))
  assert read.endswith("ckpt-10")
  assert sorted(os.listdir(model_dir / "checkpoints")) == before  # a reader moves nothing


def test_every_checkpoint_damaged_is_one_clear_error(trained, tmp_path):
  model_dir, _ = _copy(trained, tmp_path)
  for step in (5, 10, 15):
    _truncate(_data_file(model_dir, step))
  with pytest.raises(folders.DamagedCheckpointError) as error:
    folders.newest_intact(str(model_dir / "checkpoints"), stream=io.StringIO())
  message = str(error.value)
  assert all(f"ckpt-{s}" in message for s in (5, 10, 15))
  assert "Read less bytes than requested" in message or "truncated" in message.lower() \
      or "Data" in message


def test_a_second_trainer_is_refused_naming_the_holder(trained, tmp_path):
  model_dir, clips = _copy(trained, tmp_path)
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
  try:
    (model_dir / locks.LOCK_FILE).write_text(json.dumps(
        {"host": socket.gethostname(), "pid": holder.pid, "started": "earlier",
         "command": "sound-separation train (the other one)"}))
    result = subprocess.run(_train_command(model_dir, clips, 20), capture_output=True,
                            text=True, env=_env(), timeout=300, check=False)
  finally:
    holder.kill()
    holder.wait()
  assert result.returncode != 0
  assert f"is in use by process {holder.pid} on {socket.gethostname()}" in result.stderr
  assert "the other one" in result.stderr
  assert not (model_dir / "checkpoints" / "ckpt-20.index").exists()


def test_a_stale_lock_is_taken_over_with_a_warning(trained, tmp_path):
  model_dir, clips = _copy(trained, tmp_path)
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True).stdout.strip()
  (model_dir / locks.LOCK_FILE).write_text(json.dumps(
      {"host": socket.gethostname(), "pid": int(dead), "command": "killed train"}))
  result = subprocess.run(_train_command(model_dir, clips, 20), capture_output=True, text=True,
                          env=_env(), timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "taking over the lock" in result.stderr and f"process {dead}" in result.stderr
  assert not (model_dir / locks.LOCK_FILE).exists()  # released at the end


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
  path = tmp_path / "LOCK"
  path.write_text(json.dumps({"host": "elsewhere.example", "pid": 1}))
  with pytest.raises(locks.FolderBusyError, match="process 1 on elsewhere.example"):
    locks.FileLock(str(path)).acquire()
