"""`tools/compare_precision.py` on a tiny separator: pairs by seed, every figure in its JSON
recomputed from the runs' own cached selection scores, and bfloat16 really used in training."""

import importlib.util
import json
import pathlib

import pytest

from test_scaling_probe import _recipe
from test_study import _corpus

REPO = pathlib.Path(__file__).resolve().parents[1]


def _tool():
  spec = importlib.util.spec_from_file_location("compare_precision",
                                                REPO / "tools" / "compare_precision.py")
  tool = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(tool)
  return tool


def test_two_seeds_of_each_precision_are_paired_and_summarized(tmp_path, monkeypatch):
  monkeypatch.syspath_prepend(str(REPO / "tools"))
  tool = _tool()
  corpus = _corpus(tmp_path)
  runs, out = tmp_path / "runs", tmp_path / "precision.json"
  tool.main(["--data", str(corpus), "--train_list", "train.txt", "--selection_list",
             "selection.txt", "--runs_dir", str(runs), "--recipe", _recipe(tmp_path),
             "--model_gin", "models/tiny.gin", "--seeds", "1", "2", "--steps", "4",
             "--steps_per_checkpoint", "2", "--gin_param",
             "sound_separation.SeparationModel.num_sources = 2", "--out", str(out)])
  record = json.loads(out.read_text())
  assert sorted(record["runs"]) == ["float32_s1", "float32_s2", "mixed_bfloat16_s1",
                                    "mixed_bfloat16_s2"]
  assert record["machine"]["cpu_flags"] is not None
  cached = {name: {step: json.loads((runs / name / "selection" / f"step-{step}.json")
                                    .read_text())["MSi"] for step in (2, 4)}
            for name in record["runs"]}
  for step in (2, 4):
    row = record["by_step"][str(step)]
    fp32 = [cached[f"float32_s{s}"][step] for s in (1, 2)]
    assert row["float32"]["MSi"]["mean"] == pytest.approx(sum(fp32) / 2)
    assert row["float32"]["MSi"]["min"] == pytest.approx(min(fp32))
    assert row["float32"]["MSi"]["max"] == pytest.approx(max(fp32))
    for seed in (1, 2):
      assert row["bfloat16_minus_float32"][str(seed)]["MSi"] == pytest.approx(
          cached[f"mixed_bfloat16_s{seed}"][step] - cached[f"float32_s{seed}"][step])
  # Each run trained at its own precision, and its loss was logged.
  for name, run in record["runs"].items():
    log = (runs / name / "train.log").read_text()
    assert f"sound_separation.train.precision = '{run['precision']}'" in log
    assert run["loss"] and run["loss"][-1][0] == 4
  # The bfloat16 run's folder describes a mixed-bfloat16 separator, so it
  # is scored as it trained.
  assert "mixed_bfloat16" in (runs / "mixed_bfloat16_s1" / "separator.json").read_text()
  assert "mixed_bfloat16" not in (runs / "float32_s1" / "separator.json").read_text()
  # The same seed starts from the same weights and batches: the first logged
  # losses of a pair agree to about bfloat16's precision.
  first = {name: run["loss"][0][1] for name, run in record["runs"].items()}
  assert first["mixed_bfloat16_s1"] == pytest.approx(first["float32_s1"], rel=0.05)
  assert (tmp_path / "precision_loss.png").exists()
  assert (tmp_path / "precision_selection.png").exists()
