"""Evaluation during training (best checkpoint by TRF) and `sound-separation evaluate`."""

import io
import json
import pathlib
import shutil

import gin
import numpy as np
import pytest
import tensorflow as tf

from sound_separation import cli
from sound_separation import gin_utils
from sound_separation.corpus import synthetic
from sound_separation.evaluation import evaluator
from sound_separation.inference import separator as separator_lib
from sound_separation.training import callbacks
from sound_separation.training import loop

GIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "gin"
RATE = 8000


def _tiny_gin(train_list):
  gin.clear_config()
  gin_utils.parse_gin([str(GIN_DIR / "models" / "tiny.gin")], [
      f"sound_separation.training_dataset.unsupervised_list = '{train_list}'",
      "sound_separation.training_dataset.batch_size = 4",
      "sound_separation.training_dataset.clip_seconds = 0.5",
      f"sound_separation.training_dataset.sample_rate = {RATE}",
      "sound_separation.default_optimizer.learning_rate = 0.01"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A tiny model trained 6 steps, evaluated on a synthetic FUSS list every 2."""
  root = tmp_path_factory.mktemp("eval_run")
  train = synthetic.write_corpus(root / "corpus", "train", 8, clip_seconds=0.5,
                                 sample_rate=RATE, seed=1)
  validation = synthetic.write_corpus(root / "corpus", "validation", 6, clip_seconds=0.5,
                                      sample_rate=RATE, seed=1)
  try:
    _tiny_gin(train.clip_list)
    stream = io.StringIO()
    model_dir = root / "model"
    loop.train(str(model_dir), num_steps=6, steps_per_checkpoint=2, sample_rate=RATE,
               num_audio_examples=0, evaluation_list=validation.fuss_list,
               stream=stream)
  finally:
    gin.clear_config()
  return model_dir, validation.fuss_list, stream.getvalue(), train.clip_list


def _scalars(model_dir, tag):
  """{step: value} of a validation scalar, read from the event files."""
  values = {}
  for path in sorted((model_dir / "summaries" / "validation").glob("events.out.tfevents.*")):
    for record in tf.data.TFRecordDataset(str(path)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return values


def _rule_as_the_checkpoints_come(msi, trf, tolerance=1.0):
  """The best step by the study's rule applied online, written out for the test."""
  kept, best_msi = None, None
  for step in sorted(trf):
    best_msi = msi[step] if best_msi is None else max(best_msi, msi[step])
    if kept is None:
      kept = step
      continue
    passing = [s for s in (kept, step) if msi[s] >= best_msi - tolerance]
    if passing:
      kept = max(passing, key=lambda s: (trf[s], -s))  # ties: the earlier
    else:
      kept = max((kept, step), key=lambda s: (msi[s], -s))
  return kept


def test_best_checkpoint_by_the_rule_is_kept_and_scores_what_it_says(run):
  model_dir, fuss_list, log, _ = run
  trf, msi = _scalars(model_dir, "TRF"), _scalars(model_dir, "MSi")
  assert sorted(trf) == [2, 4, 6], log
  best = json.loads((model_dir / "checkpoints" / "best" / "best.json").read_text())
  assert best["step"] == _rule_as_the_checkpoints_come(msi, trf) and best["select_by"] == "TRF"
  assert best["score"] == pytest.approx(trf[best["step"]], abs=1e-4)
  assert [h["step"] for h in best["history"]] == [2, 4, 6]
  # Only the best checkpoint's files are left in best/.
  names = {p.name.split(".")[0] for p in (model_dir / "checkpoints" / "best").glob("ckpt-*")}
  assert names == {f"ckpt-{best['step']}"}
  # Re-evaluated independently from its checkpoint, it scores the recorded TRF.
  separator = separator_lib.load_model(str(model_dir), checkpoint=best["checkpoint"])
  summary = evaluator.evaluate(lambda w: separator(w[None])[0], fuss_list, "fuss", RATE,
                               stream=io.StringIO())
  assert summary["TRF"] == pytest.approx(best["score"], abs=1e-3)
  for key in ("MSi", "1S"):
    assert summary[key] == pytest.approx(best["metrics"][key], abs=1e-3)


def test_a_resumed_run_compares_with_the_recorded_best(run, tmp_path):
  model_dir, fuss_list, _, clip_list = run
  copy = tmp_path / "model"
  shutil.copytree(model_dir, copy)
  record_path = copy / "checkpoints" / "best" / "best.json"
  record = json.loads(record_path.read_text())
  # Planted: a best no checkpoint can beat, and whose MSi puts every new one below the floor.
  record["score"] = record["metrics"]["TRF"] = record["metrics"]["MSi"] = 1000.0
  record["history"] = [{"step": record["step"], "metrics": record["metrics"]}]
  record_path.write_text(json.dumps(record))
  try:
    _tiny_gin(clip_list)
    loop.train(str(copy), num_steps=8, steps_per_checkpoint=2, sample_rate=RATE,
               num_audio_examples=0, evaluation_list=fuss_list, stream=io.StringIO())
  finally:
    gin.clear_config()
  assert sorted(_scalars(copy, "TRF")) == [2, 4, 6, 8]  # it did evaluate step 8
  after = json.loads(record_path.read_text())  # and kept the planted best, learning step 8
  assert {k: after[k] for k in ("step", "checkpoint", "score", "metrics")} == {
      k: record[k] for k in ("step", "checkpoint", "score", "metrics")}
  assert [h["step"] for h in after["history"]] == [record["step"], 8]


class _Manager:
  def __init__(self, directory):
    self.directory = str(directory)


def test_the_best_checkpoint_rule_passes_over_a_collapsed_model(tmp_path):
  # TRF alone would keep step 4: it copies single sources (1S high) and separates nothing.
  fuss_list = tmp_path / "list.txt"
  fuss_list.write_text("mix.wav\tsource.wav\n")
  callback = callbacks.SeparationEvaluation(str(fuss_list), _Manager(tmp_path / "ckpt"))
  history = [{"step": 2, "metrics": {"MSi": 5.0, "TRF": 10.0}}]
  callback.best = {"step": 2, "score": 10.0, "metrics": history[0]["metrics"]}
  collapsed = {"MSi": 0.5, "TRF": 19.0}
  prefers, floor = callback._prefers_new(collapsed, history + [{"step": 4, "metrics": collapsed}])  # pylint: disable=protected-access
  assert not prefers and floor == pytest.approx(4.0)
  better = {"MSi": 4.5, "TRF": 12.0}  # within 1 dB of the best MSi, higher TRF
  assert callback._prefers_new(better, history + [{"step": 4, "metrics": better}])[0]  # pylint: disable=protected-access
  # A later, better-separating checkpoint raises the floor past the kept one: it wins on MSi.
  raised = {"MSi": 8.0, "TRF": 9.0}
  assert callback._prefers_new(raised, history + [{"step": 4, "metrics": raised}])[0]  # pylint: disable=protected-access


def test_evaluate_command_writes_summary_and_csv(run, tmp_path, capsys):
  model_dir, fuss_list, _, _ = run
  out = tmp_path / "eval"
  assert cli.main(["prog", "evaluate", f"--model_dir={model_dir}", f"--data={fuss_list}",
                   f"--out_dir={out}"]) == 0
  printed = capsys.readouterr().out
  assert "TRF" in printed and "MSi" in printed
  summary = json.loads((out / "summary.json").read_text())
  assert summary["num_examples"] == 6 and summary["task"] == "fuss"
  rows = (out / "examples.csv").read_text().strip().splitlines()
  assert len(rows) == 7  # header + one row per example
  # The default folder is under the model's.
  assert cli.main(["prog", "evaluate", f"--model_dir={model_dir}", f"--data={fuss_list}",
                   "--max_examples=2"]) == 0
  default = model_dir / "eval" / "validation_example_list_fuss" / "summary.json"
  assert json.loads(default.read_text())["num_examples"] == 2

  assert cli.main(["prog", "evaluate", f"--model_dir={model_dir}", f"--saved_model={out}",
                   f"--data={fuss_list}"]) == 2
  assert "at most one of --model_dir and --saved_model" in capsys.readouterr().err
  assert cli.main(["prog", "evaluate", f"--model_dir={model_dir}",
                   f"--data={tmp_path / 'nope.txt'}"]) == 1
  assert "nope.txt" in capsys.readouterr().err
  bad = tmp_path / "bad.txt"
  bad.write_text("only_a_mixture.wav\n")
  assert cli.main(["prog", "evaluate", f"--model_dir={model_dir}", f"--data={bad}"]) == 1
  assert "bad.txt:1" in capsys.readouterr().err


def test_a_kept_checkpoint_lost_to_a_kill_is_written_when_the_run_resumes(run, tmp_path):
  """A kill between a save and its kept copy: the resumed run writes the copy."""
  _, _, _, train_list = run
  model_dir = tmp_path / "model"
  try:
    _tiny_gin(train_list)
    loop.train(str(model_dir), num_steps=2, steps_per_checkpoint=2,
               keep_checkpoint_every_steps=2, sample_rate=RATE, num_audio_examples=0,
               stream=io.StringIO())
    kept = model_dir / "checkpoints" / "kept"
    saved = tf.train.load_checkpoint(str(model_dir / "checkpoints" / "ckpt-2"))
    for path in kept.glob("ckpt-2.*"):
      path.unlink()  # as if killed right after the manager's save
    loop.train(str(model_dir), num_steps=4, steps_per_checkpoint=2,
               keep_checkpoint_every_steps=2, sample_rate=RATE, num_audio_examples=0,
               stream=io.StringIO())
  finally:
    gin.clear_config()
  assert sorted(p.name for p in kept.glob("*.index")) == ["ckpt-2.index", "ckpt-4.index"]
  restored = tf.train.load_checkpoint(str(kept / "ckpt-2"))
  names = [n for n, _ in tf.train.list_variables(str(kept / "ckpt-2"))
           if not n.startswith(("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter"))]
  assert len(names) > 10
  for name in names:
    np.testing.assert_array_equal(restored.get_tensor(name), saved.get_tensor(name))
