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

from sound_separation import run_folder
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
  _, _, read = folders.load_keras_separator(str(model_dir))
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
    (model_dir / run_folder.LOCK_FILE).write_text(json.dumps(
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
  (model_dir / run_folder.LOCK_FILE).write_text(json.dumps(
      {"host": socket.gethostname(), "pid": int(dead), "command": "killed train"}))
  result = subprocess.run(_train_command(model_dir, clips, 20), capture_output=True, text=True,
                          env=_env(), timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "taking over the lock" in result.stderr and f"process {dead}" in result.stderr
  assert not (model_dir / run_folder.LOCK_FILE).exists()  # released at the end


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
  path = tmp_path / "LOCK"
  path.write_text(json.dumps({"host": "elsewhere.example", "pid": 1}))
  with pytest.raises(locks.FolderBusyError, match="process 1 on elsewhere.example"):
    locks.FileLock(str(path)).acquire()


# ---------------------------------------------------------------------------
# Errors that say what happened: a full disk, a read-only folder.


def _mount_tmpfs(path, options):
  path.mkdir(parents=True, exist_ok=True)
  result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
  if result.returncode:
    pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or 'not root'}): "
                f"the full-disk and read-only cases need one")
  return path


@pytest.fixture()
def full_disk(tmp_path):
  path = _mount_tmpfs(tmp_path / "full", "size=192k")
  yield path
  subprocess.run(["umount", str(path)], check=False)


@pytest.fixture()
def read_only(tmp_path):
  path = _mount_tmpfs(tmp_path / "ro", "ro,size=64k")
  yield path
  subprocess.run(["umount", str(path)], check=False)


def _wavs(tmp_path, count=2, seconds=2.0):
  paths = []
  for i in range(count):
    path = tmp_path / f"in{i}.wav"
    soundfile.write(str(path), (0.1 * np.random.default_rng(i).standard_normal(
        int(16000 * seconds))).astype(np.float32), 16000)
    paths.append(str(path))
  return paths


def test_separate_onto_a_full_disk_names_the_cause(trained, tmp_path, full_disk):
  _, model_dir, _ = trained
  out = io.StringIO()
  status = cli.main(["prog", "separate", f"--model={model_dir}", f"--out_dir={full_disk}",
                     *_wavs(tmp_path)], stream=out)
  assert status == 1
  text = out.getvalue()
  assert "No space left on device" in text and str(full_disk) in text, text
  # Only complete folders under final names (here: none fits).
  finals = [n for n in os.listdir(full_disk) if not n.startswith(".")]
  for name in finals:
    assert len(os.listdir(full_disk / name)) == 4


def test_separate_into_a_read_only_folder_names_the_cause(trained, tmp_path, read_only):
  _, model_dir, _ = trained
  out = io.StringIO()
  status = cli.main(["prog", "separate", f"--model={model_dir}",
                     f"--out_dir={read_only / 'out'}", *_wavs(tmp_path, 1)], stream=out)
  assert status == 1
  assert "Read-only file system" in out.getvalue() and str(read_only) in out.getvalue()


def test_evaluate_and_export_onto_a_full_disk_name_the_cause(trained, tmp_path, full_disk,
                                                            capsys):
  _, model_dir, _ = trained
  lines = []
  for i, path in enumerate(_wavs(tmp_path, 2, 1.0)):
    lines.append(f"{path}\t{path}")
  data = tmp_path / "list.txt"
  data.write_text("\n".join(lines) + "\n")
  filler = full_disk / "filler"
  with open(filler, "wb") as f:  # leave almost nothing
    try:
      f.write(b"\0" * (190 * 1024))
    except OSError:
      pass
  status = cli.main(["prog", "evaluate", f"--model_dir={model_dir}", f"--data={data}",
                     f"--out_dir={full_disk / 'eval'}"], stream=io.StringIO())
  err = capsys.readouterr().err
  assert status == 1 and "No space left on device" in err, err
  status = cli.main(["prog", "export", f"--model_dir={model_dir}",
                     f"--out={full_disk / 'exported'}"], stream=io.StringIO())
  err = capsys.readouterr().err
  assert status == 1 and "No space left on device" in err, err


def test_train_onto_a_full_disk_names_the_cause(trained, full_disk):
  _, _, clips = trained
  with open(full_disk / "filler", "wb") as f:  # leave about 24 KB: less than a checkpoint
    try:
      f.write(b"\0" * (168 * 1024))
    except OSError:
      pass
  result = subprocess.run(_train_command(full_disk / "run", clips, 5), capture_output=True,
                          text=True, env=_env(), timeout=600, check=False)
  assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
  last = result.stderr.strip().splitlines()
  assert any("No space left on device" in line and str(full_disk) in line for line in last), \
      result.stderr[-2000:]
  assert "Traceback" not in result.stderr
