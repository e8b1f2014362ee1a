"""Tests of `sound-separation adapt` (sound_separation/adaptation, docs/adapt.md).

Recordings are planted (lengths, rates, channels, silence, broken files);
the model is the tiny random-weight separator of `conftest.model_folder`
(8 kHz, M = 4) or a tiny TF1 checkpoint in the original's layout.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from sound_separation import run_folder
from sound_separation.adaptation import fine_tuning
from sound_separation.adaptation import recordings
from sound_separation.data import audio
from sound_separation.data import lists
from sound_separation.models import folders

RATE = 8000


def _tones(rng, seconds, rate, channels=1):
  """Bursts of tones and noise, `[T, channels]` float32 at `rate`."""
  t = np.arange(int(seconds * rate)) / rate
  x = np.zeros_like(t)
  for _ in range(int(seconds)):
    start = rng.uniform(0, seconds)
    envelope = np.exp(-0.5 * ((t - start) / rng.uniform(0.1, 0.6)) ** 2)
    x += envelope * (np.sin(2 * np.pi * rng.uniform(100, 1500) * t) if rng.random() < 0.5
                     else rng.normal(size=t.shape))
  # A noise floor at about -45 dBFS: no clip of a planted recording is silent.
  x = 0.3 * x / max(np.max(np.abs(x)), 1e-9) + 0.006 * rng.normal(size=t.shape)
  return np.stack([x * (1 - 0.2 * c) for c in range(channels)], axis=1).astype(np.float32)


def plant_recordings(folder, rng, specs):
  """Writes `[(relative name, seconds, rate, channels)]`; returns their paths."""
  paths = []
  for name, seconds, rate, channels in specs:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), _tones(rng, seconds, rate, channels), rate)
    paths.append(path)
  return paths


GOOD = [("a/long.wav", 25.3, 44100, 2), ("a/b/mid.flac", 14.0, 22050, 1),
        ("c.ogg", 9.5, 16000, 1), ("d.wav", 12.0, 8000, 1), ("e.wav", 11.0, 11025, 2)]


# ----------------------------------------------------------------------------
# Recordings -> clips.


def test_clips_are_the_resampled_recordings_cut_in_order(tmp_path, rng):
  paths = plant_recordings(tmp_path / "rec", rng, GOOD)
  silent = tmp_path / "rec" / "silent.wav"
  soundfile.write(str(silent), np.zeros(RATE * 5, np.float32), RATE)
  broken = tmp_path / "rec" / "broken.wav"
  broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
  short = tmp_path / "rec" / "short.wav"
  soundfile.write(str(short), _tones(rng, 0.5, RATE), RATE)
  # A recording with a silent stretch in its middle: clip 1 of 3 is dropped.
  gap = tmp_path / "rec" / "gap.wav"
  x = _tones(rng, 3.0, RATE)[:, 0]
  x[RATE:2 * RATE] = 0
  soundfile.write(str(gap), x, RATE)

  record = recordings.prepare([tmp_path / "rec"], tmp_path / "out", RATE, clip_seconds=1.0)

  skipped = dict(record["skipped"])
  assert set(skipped) == {str(silent), str(broken), str(short)}
  assert skipped[str(silent)] == "silent throughout"
  assert "shorter than one clip" in skipped[str(short)]
  assert "Error" in skipped[str(broken)]
  train, _ = lists.read_clip_list(record["train_clip_list"])
  every = train + record["heldout_clips"]
  expected = {str(p): int(len(audio.read_audio(p, RATE)) // RATE) for p in paths}
  expected[str(gap)] = 2
  assert record["clips"] == len(every) == sum(expected.values())
  assert record["silent_clips"] == 1 + 5  # the gap's middle, and the silent file's 5 s
  assert record["files"] == len(GOOD) + 4
  # Each clip is its recording's stretch, resampled as a whole-file read would be.
  source_of = record["recordings"]
  assert sorted(source_of.values()) == sorted(map(str, paths + [gap]))
  for clip in every:
    k = int(os.path.basename(clip)[4:8])
    whole = audio.read_audio(source_of[os.path.basename(os.path.dirname(clip))], RATE)
    np.testing.assert_allclose(audio.read_audio(clip, RATE), whole[k * RATE:(k + 1) * RATE],
                               atol=1.5 / 32768)
  gap_clips = [c for c in every if source_of[os.path.basename(os.path.dirname(c))] == str(gap)]
  assert sorted(int(os.path.basename(c)[4:8]) for c in gap_clips) == [0, 2]


def test_held_out_recordings_are_never_trained_on(tmp_path, rng):
  specs = [(f"r{i}.wav", rng.uniform(3, 7), RATE, 1) for i in range(12)]
  plant_recordings(tmp_path / "rec", rng, specs)
  record = recordings.prepare([tmp_path / "rec"], tmp_path / "out", RATE, clip_seconds=1.0,
                              seed=3)
  train, _ = lists.read_clip_list(record["train_clip_list"])
  recording_of = lambda clip: os.path.basename(os.path.dirname(clip))  # noqa: E731
  held = {recording_of(c) for c in record["heldout_clips"]}
  assert held and not held & {recording_of(c) for c in train}
  assert record["heldout"]["recordings"] == len(held)
  assert record["heldout"]["clips"] >= recordings.MIN_HELDOUT_CLIPS
  # Each MoM is the exact sum of two held-out clips, from two recordings.
  origins = lists.read_fuss_list(record["heldout_mom_list"].replace("_mom_list",
                                                                    "_mom_origins"))
  assert len(origins) == record["heldout"]["moms"] >= recordings.MIN_HELDOUT_CLIPS // 2
  for (mom, (first, second)), (_, (o1, o2)) in zip(
      lists.read_fuss_list(record["heldout_mom_list"]), origins):
    assert {recording_of(o1), recording_of(o2)} <= held
    assert recording_of(o1) != recording_of(o2)
    np.testing.assert_allclose(audio.read_audio(mom, RATE),
                               audio.read_audio(first, RATE) + audio.read_audio(second, RATE),
                               atol=1e-6)
  # The same files and seed give the same split, reused from disk.
  again = recordings.prepare([tmp_path / "rec"], tmp_path / "out", RATE, clip_seconds=1.0,
                             seed=3)
  assert again == record


def test_too_little_audio_says_how_much_is_needed(tmp_path, rng):
  plant_recordings(tmp_path / "rec", rng, [("a.wav", 12.0, RATE, 1), ("b.wav", 6.0, RATE, 1)])
  with pytest.raises(recordings.NotEnoughAudioError,
                     match=r"too little audio.*2 usable recording.*18 clips of 1 s.*needs at "
                           r"least 24 s .*in at least 2 recordings"):
    recordings.prepare([tmp_path / "rec"], tmp_path / "out", RATE, clip_seconds=1.0)


# ----------------------------------------------------------------------------
# Selection.


def test_the_checkpoint_with_the_highest_held_out_momi_is_chosen(monkeypatch, model_folder,
                                                                  tmp_path):
  """Planted per-checkpoint scores: the best MoMi wins, ties go to the earlier step."""
  folder, separator = model_folder
  run = tmp_path / "adapted" / "train"
  for step in (10, 20, 30):
    folders.save_separator(separator, str(run), RATE, step=step)
  planted = {folders.newest_intact(run_folder.checkpoints(folder)): 1.0}
  planted.update({str(run / "checkpoints" / f"ckpt-{s}"): v
                  for s, v in ((10, 3.0), (20, 4.5), (30, 4.5))})

  def score(model, prefix, mom_list, cache):
    value = planted[prefix]
    # MoMi of a record is the mean SI-SNRi of its two mixtures.
    return [{"kind": "mom", "num_references": 2, "num_outputs": 4, "num_active_refs": 2,
             "si_snri": [value + d, value - d]} for d in (0.0, 0.5, 1.0)]

  monkeypatch.setattr(fine_tuning, "_score", score)
  monkeypatch.setattr(fine_tuning, "_listening_page", lambda *args: "page")
  data = {"files": 3, "hours": 0.1, "clips": 30, "silent_clips": 0, "skipped": [],
          "train": {"recordings": 2, "clips": 20, "hours": 0.05},
          "heldout": {"recordings": 1, "clips": 10, "moms": 3, "hours": 0.02},
          "heldout_mom_list": "unused", "heldout_clips": []}
  state = {"request": {"arm": "mixit", "sparsity_weight": 0.0, "seed": 0},
           "seconds_per_step": 0.1}
  report = fine_tuning._select_and_write(str(tmp_path / "adapted"), folder, "tiny", data, state,
                                        io.StringIO())
  assert report["selection"]["selected_step"] == 20
  assert [h["MoMi"] for h in report["selection"]["history"]] == pytest.approx(
      [1.0, 3.0, 4.5, 4.5])
  assert report["heldout_momi"]["delta"] == pytest.approx(3.5)
  _, _, read = folders.load_keras_separator(str(tmp_path / "adapted" / "model"))
  assert read.endswith("ckpt-20")
  card = (tmp_path / "adapted" / "model" / run_folder.MODEL_CARD).read_text()
  assert "before 1.00 dB, after 4.50 dB" in card and "step 20" in card


# ----------------------------------------------------------------------------
# The command, end to end (child processes train).


def _cli(*args, timeout=600):
  return subprocess.run([sys.executable, "-m", "sound_separation", *args], capture_output=True,
                        text=True, timeout=timeout)


@pytest.fixture(scope="module")
def planted_audio(tmp_path_factory):
  folder = tmp_path_factory.mktemp("recordings")
  rng = np.random.default_rng(5)
  plant_recordings(folder, rng, [(f"take{i}.wav", 40.0, RATE, 1) for i in range(7)]
                   + [("stereo.flac", 15.0, 22050, 2), ("hi.ogg", 10.0, 16000, 1)])
  return folder


def _check_page_in_chromium(page):
  """The before/after page: every image and sound loads in Chromium."""
  from test_listening import load_in_chromium, require_chromium  # pylint: disable=import-outside-toplevel
  images, sounds, failed, errors = load_in_chromium(page, require_chromium())
  text = page.read_text()
  assert "<th>starting model</th><th>adapted</th>" in text and "output 3" in text
  # Each held-out example: the input and 4 outputs before and after.
  assert len(sounds) == len(images) and len(sounds) % 9 == 0 and sounds
  assert all(complete and width > 0 for _, complete, width in images)
  for src, ready, error, duration in sounds:
    assert error is None and ready >= 1 and duration == pytest.approx(10.0, abs=0.01), src
  assert not failed and not errors


def test_adapt_runs_resumes_after_a_kill_and_then_reports_it_is_done(model_folder,
                                                                      planted_audio, tmp_path):
  folder, _ = model_folder
  out = tmp_path / "run"
  command = [sys.executable, "-m", "sound_separation", "adapt", f"--model={folder}",
             f"--audio={planted_audio}", f"--out_dir={out}", "--steps=200"]
  child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
  kept = out / "train" / "checkpoints" / "kept"
  deadline = time.monotonic() + 300
  while not (kept.is_dir() and any(kept.glob("ckpt-*.index"))) and time.monotonic() < deadline:
    assert child.poll() is None, child.stdout.read()
    time.sleep(0.2)
  os.killpg(child.pid, signal.SIGKILL)  # the command and its training child
  first = child.communicate()[0]
  assert "Estimate:" in first and "s/step here, so 200 steps take" in first
  assert "Selected step" not in first

  second = _cli(*command[3:])
  assert second.returncode == 0, second.stderr
  assert "[adapt] Resumed from" in second.stdout
  assert "Selected step" in second.stdout
  report = json.loads((out / "report.json").read_text())
  assert report["training"]["steps"] == 200
  assert [h["step"] for h in report["selection"]["history"]] == [0] + list(range(20, 201, 20))
  assert (out / "listen" / "index.html").exists()
  # No --sparsity_weight: the evidence's default recipe, MixIT + L1/L2 at 5, said
  # first, trained (the step reports the term) and on the card.
  opening = next(line for line in first.splitlines() if line.startswith("Adapting "))
  assert opening.endswith("with MixIT + L1/L2 sparsity at weight 5.")
  steps_logged = [json.loads(line) for line in
                  (out / "train" / "progress.jsonl").read_text().splitlines()]
  assert all("sparsity" in e["metrics"] for e in steps_logged if e["event"] == "step")
  assert "with L1/L2 sparsity at weight 5" in (out / "model" / run_folder.MODEL_CARD).read_text()

  third = _cli(*command[3:])
  assert third.returncode == 0, third.stderr
  assert "Training is done" in third.stdout and "[adapt] step" not in third.stdout

  # The adaptation's folder stands for its model folder (acceptance: `separate --model=RUN`).
  separated = _cli("separate", f"--model={out}", f"--out_dir={tmp_path / 'sep'}",
                   str(planted_audio / "hi.ogg"))
  assert separated.returncode == 0, separated.stderr
  assert len(list((tmp_path / "sep").rglob("*_source*.wav"))) == 4
  # The adapted folder is a model folder like any other: evaluate and export take it.
  evaluated = _cli("evaluate", f"--model={out}",
                   f"--data={out / 'data' / 'heldout_mom_list.txt'}", "--task=mom",
                   f"--out_dir={tmp_path / 'eval'}")
  assert evaluated.returncode == 0, evaluated.stderr
  summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
  assert summary["MoMi"] == pytest.approx(report["heldout_momi"]["after"], abs=0.05)
  exported = _cli("export", f"--model={out / 'model'}", f"--out_dir={tmp_path / 'litert'}",
                  "--format=litert")
  assert exported.returncode == 0, exported.stderr
  # Last, as it skips where there is no browser (CI requires one).
  _check_page_in_chromium(out / "listen" / "index.html")


def test_a_minutes_budget_stops_training_on_time(model_folder, planted_audio, tmp_path):
  folder, _ = model_folder
  result = fine_tuning.adapt(folder, [planted_audio], tmp_path / "run", minutes=0.4,
                             sparsity_weight=0, stream=io.StringIO())
  report = result.report
  # The budget is training wall time: start-up and the final checkpoint come on top.
  assert 0.4 * 60 <= report["training"]["wall_seconds"] <= 0.4 * 60 + 60
  steps = report["training"]["steps"]
  assert 0 < steps < 0.4 * 60 / report["training"]["seconds_per_step"] * 1.5
  events = [json.loads(line) for line in
            (tmp_path / "run" / "train" / "progress.jsonl").read_text().splitlines()]
  assert events[-1]["event"] == "stopped"
  # The step count only bounds a timed run: its progress says the time limit sets the ETA.
  steps_reported = [e for e in events if e["event"] == "step"]
  assert steps_reported and all(e.get("eta_by") == "time_limit" for e in steps_reported)
  # sparsity_weight=0: MixIT alone, no sparsity term in the step.
  assert not any("sparsity" in e["metrics"] for e in steps_reported)
  assert report["request"]["arm"] == "mixit"


def test_adapt_from_a_tf1_checkpoint_in_the_originals_layout(planted_audio, tmp_path):
  """The published-model path: TF1 checkpoint -> import -> fine-tune at its own rate."""
  from sound_separation.models import tf1_checkpoint  # pylint: disable=import-outside-toplevel
  from test_tf1_import import Original, save_tf1  # pylint: disable=import-outside-toplevel
  save_tf1(str(tmp_path / "tf1"), Original(3, 2, 1).original)
  imported = tmp_path / "imported"
  tf1_checkpoint.import_tf1(str(tmp_path / "tf1"), str(imported), 22050, num_dilations=2,
                            hop_size=20)
  result = fine_tuning.adapt(str(imported), [planted_audio], tmp_path / "run", steps=20,
                       stream=io.StringIO())
  separator, rate, _ = folders.load_keras_separator(result.model_dir)
  assert rate == 22050 and separator.num_sources == 3
  data = json.loads((tmp_path / "run" / "data" / recordings.PREPARED_FILE).read_text())
  assert data["settings"]["sample_rate"] == 22050
  assert result.report["training"]["steps"] == 20


# ----------------------------------------------------------------------------
# Bad input: one clear line, nothing lost.


def _error_line(result):
  assert result.returncode != 0
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert "Traceback" not in result.stderr, result.stderr
  return lines[0]


def test_bad_inputs_are_refused_with_one_line(model_folder, planted_audio, tmp_path, rng):
  folder, _ = model_folder
  empty = tmp_path / "empty"
  empty.mkdir()
  line = _error_line(_cli("adapt", f"--model={folder}", f"--audio={empty}",
                          f"--out_dir={tmp_path / 'a'}"))
  assert "adapt: error:" in line and str(empty) in line and "no audio files" in line

  junk = tmp_path / "junk"
  junk.mkdir()
  (junk / "bad.wav").write_bytes(b"not a wav")
  soundfile.write(str(junk / "quiet.wav"), np.zeros(RATE * 30, np.float32), RATE)
  line = _error_line(_cli("adapt", f"--model={folder}", f"--audio={junk}",
                          f"--out_dir={tmp_path / 'b'}"))
  assert "no usable audio in 2 file(s)" in line and "bad.wav" in line and "silent" in line
  assert "needs at least 4 minutes" in line

  litert = tmp_path / "litert"
  litert.mkdir()
  (litert / "model.tflite").write_bytes(b"")
  (litert / "litert.json").write_text("{}")
  line = _error_line(_cli("adapt", f"--model={litert}", f"--audio={planted_audio}",
                          f"--out_dir={tmp_path / 'c'}"))
  assert str(litert) in line and "LiteRT model folder" in line

  # A folder holding another adaptation: refused, named, left as it was.
  other = tmp_path / "other"
  other.mkdir()
  state = {"request": {"model": "/elsewhere", "audio": ["/x"], "arm": "l1_l2",
                       "sparsity_weight": 5.0, "seed": 0}}
  (other / fine_tuning.STATE_FILE).write_text(json.dumps(state))
  line = _error_line(_cli("adapt", f"--model={folder}", f"--audio={planted_audio}",
                          f"--out_dir={other}"))
  assert f"--out_dir {other} already holds another adaptation" in line
  assert "model, audio differ" in line
  assert json.loads((other / fine_tuning.STATE_FILE).read_text()) == state
  assert sorted(p.name for p in other.iterdir()) == [fine_tuning.STATE_FILE]

  line = _error_line(_cli("adapt", f"--audio={planted_audio}", f"--out_dir={tmp_path / 'd'}",
                          "--minutes=5", "--steps=5"))
  assert "give --minutes or --steps, not both" in line


def test_checkpoint_separator_compiles_a_repeated_length_and_follows_reloads(model_folder,
                                                                            tmp_path):
  from sound_separation.training import child_runs  # pylint: disable=import-outside-toplevel
  _, separator = model_folder
  run = tmp_path / "run"
  folders.save_separator(separator, str(run), RATE, step=1)
  original = [v.numpy() for v in separator.weights]
  try:
    for v in separator.weights:  # another checkpoint: other weights
      v.assign(v.numpy() * 0.5)
    folders.save_separator(separator, str(run), RATE, step=2)
  finally:
    for v, value in zip(separator.weights, original):
      v.assign(value)
  model = child_runs.CheckpointSeparator(str(run))
  x = np.random.default_rng(1).normal(size=4000).astype(np.float32) * 0.1
  for step in (1, 2, 1):
    model.load(str(run / "checkpoints" / f"ckpt-{step}"))
    reference = model.separator(x[np.newaxis], training=False).numpy()[0]  # Keras, eagerly
    for _ in range(3):  # the second call on compiles the fixed length
      np.testing.assert_allclose(model.separate(x), reference, atol=1e-5)
  assert 4000 in model._fixed  # pylint: disable=protected-access


def test_a_full_disk_mid_run_says_so_and_the_same_call_resumes(model_folder, planted_audio,
                                                               tmp_path, monkeypatch):
  from sound_separation.training import child_runs  # pylint: disable=import-outside-toplevel
  folder, _ = model_folder
  disk = tmp_path / "disk"
  disk.mkdir()
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                           capture_output=True, text=True, check=False)
  if mounted.returncode:
    pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'not root'})")
  try:
    out = disk / "run"
    train = child_runs.train
    filler = disk / "filler"
    filled = []

    def fill_then_train(run_dir, *args, **kwargs):
      if str(run_dir).endswith("train") and not filled:
        filled.append(True)
        # The disk fills up as training starts (data and timing are done).
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler.write_bytes(b"\0" * (free - 16 * 1024))
      return train(run_dir, *args, **kwargs)

    monkeypatch.setattr(child_runs, "train", fill_then_train)
    # The training child fails on the full disk: the error says why, and where to look.
    with pytest.raises(RuntimeError, match=r"training run adapt failed .*No space left on "
                                           r"device.*see .*train\.log"):
      fine_tuning.adapt(folder, [planted_audio], out, steps=40, stream=io.StringIO())
    filler.unlink()
    result = fine_tuning.adapt(folder, [planted_audio], out, steps=40, stream=io.StringIO())
    assert result.report["training"]["steps"] == 40
    assert (out / "model" / run_folder.MODEL_CARD).exists()
  finally:
    subprocess.run(["umount", str(disk)], check=False)
