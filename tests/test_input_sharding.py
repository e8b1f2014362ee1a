"""Per-host input: two worker processes on loopback read every example exactly once."""

import json
import os
import pathlib
import sys

import numpy as np
import pytest

from conftest import run_local_workers
from sound_separation.corpus import records as records_writer
from sound_separation.data import audio
from sound_separation.data import lists

SCRIPT = str(pathlib.Path(__file__).resolve().parent / "input_sharding_worker.py")
REPO = str(pathlib.Path(__file__).resolve().parents[1])
NUM_CLIPS = 16


def _clips(root):
  """Clips whose samples all equal (index + 1) / 1000: a read clip names itself."""
  entries = []
  for i in range(NUM_CLIPS):
    path = root / f"clip{i}.wav"
    audio.write_audio(str(path), np.full(400, (i + 1) / 1000, np.float32), 16000,
                      subtype="FLOAT")
    entries.append((str(path), None))
  return lists.write_clip_list(str(root / "clips.txt"), entries)


@pytest.mark.slow
@pytest.mark.parametrize("data_format", ["clips", "records"])
def test_two_workers_read_every_example_exactly_once(tmp_path, data_format):
  data = _clips(tmp_path)
  if data_format == "records":
    # Records keep 16-bit PCM: (i + 1) / 1000 rounds to within 1.5e-5, still distinct.
    data = records_writer.write_records(data, str(tmp_path / "rec" / "clips"), "clips",
                                        sample_rate=16000, num_shards=4).index
  results = run_local_workers([sys.executable, SCRIPT, data, str(tmp_path), data_format],
                              env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
  assert [r[0] for r in results] == [0, 0], results[0][2][-4000:]
  seen = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
  assert seen[0]["replicas"] == 2
  first, second = seen[0]["seen"], seen[1]["seen"]
  assert len(first) == len(second) == NUM_CLIPS // 2  # each reads only its half
  assert sorted(first + second) == list(range(1, NUM_CLIPS + 1))  # every clip once


@pytest.mark.slow
def test_training_under_two_workers_reads_per_host_and_checkpoints(tmp_path):
  data = _clips(tmp_path)
  params = [f"sound_separation.training_dataset.unsupervised_list = '{data}'",
            "sound_separation.training_dataset.batch_size = 8",
            "sound_separation.training_dataset.clip_seconds = 0.02",
            "sound_separation.train.num_steps = 4",
            "sound_separation.train.steps_per_checkpoint = 2",
            "sound_separation.train.num_audio_examples = 1",
            "sound_separation.train.log_every = 1"]
  command = ([sys.executable, "-m", "sound_separation", "train", "--strategy=multi_worker",
              f"--model_dir={tmp_path / 'run'}", "--gin_file=models/tiny"]
             + [f"--gin_param={p}" for p in params])
  results = run_local_workers(command, cwd=tmp_path, capture_stdout=True,
                              env=dict(os.environ, PYTHONPATH=REPO))
  assert [r[0] for r in results] == [0, 0], results[0][2][-4000:]
  outputs = [(r[1], r[2]) for r in results]
  assert "step 4/4" in outputs[0][0]
  checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("ckpt-*.index"))
  assert checkpoints == ["ckpt-2.index", "ckpt-4.index"]
  assert not list((tmp_path / "run").glob(".worker_*"))  # the other worker's scratch is gone
