"""The scaling probe (`study.scaling`, `tools/scaling_probe.py`): budgets turned into steps by
closed form, the pick by its rule on planted numbers, and a tiny probe of two sizes whose
record is checked against the runs' own cached selection scores."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from sound_separation.study import scaling
from sound_separation.training import child_runs

from test_study import _corpus
from test_study import tiny_recipe

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_plan_steps_spends_the_budget_in_whole_checkpoint_spacings():
  # 1 h at 0.5 s/step: 7200 steps, a checkpoint every 720.
  assert scaling.plan_steps(3600, 0.5) == (0.5, 7200, 720)
  # 100 s at 0.3 s/step: 333 expected; spacing round(33.3 / 10) * 10 = 30;
  # steps: the nearest multiple, 11 * 30.
  assert scaling.plan_steps(100, 0.3) == (0.3, 330, 30)
  # A budget of a few steps still trains one spacing of 10.
  assert scaling.plan_steps(1, 0.5) == (0.5, 10, 10)
  with pytest.raises(ValueError, match="positive budget"):
    scaling.plan_steps(0, 0.5)


def test_choose_takes_the_best_msi_unless_a_smaller_size_is_within_the_tie():
  params = {"S": 1, "W": 4, "D": 8}
  assert scaling.choose({"S": 5.0, "W": 5.2, "D": 6.0}, params) == "D"
  # W beats S by 0.25 dB < 0.3: the smaller S is picked.
  assert scaling.choose({"S": 5.0, "W": 5.25, "D": 4.0}, params) == "S"
  assert scaling.choose({"S": 5.0, "W": 5.31, "D": None}, params) == "W"
  assert scaling.choose({"S": None}, params) is None
  with pytest.raises(ValueError, match="unknown size 'X'"):
    scaling.size_bindings("X")


def _recipe(tmp_path):
  return str(tiny_recipe(tmp_path, log_every=5))


def test_a_tiny_probe_of_two_sizes_records_what_its_runs_hold_and_resumes(tmp_path, monkeypatch):
  corpus = _corpus(tmp_path)
  params = [f"sound_separation.training_dataset.unsupervised_list = {str(corpus / 'train.txt')!r}",
            "sound_separation.SeparationModel.num_sources = 2",
            "sound_separation.train.seed = 1"]
  runs, out = tmp_path / "runs", tmp_path / "out"
  budget_hours = 1.5 / 3600
  record = scaling.run_probe(_recipe(tmp_path), params, str(corpus / "selection.txt"),
                             str(runs), str(out), sizes=("S", "W"), cpu_hours=budget_hours,
                             stream=open(os.devnull, "w", encoding="utf-8"))
  best = {}
  for size in ("S", "W"):
    plan = json.loads((runs / size / "plan.json").read_text())
    expected = 1.5 / plan["seconds_per_step"]
    every = max(10, int(round(expected / 100.0)) * 10)
    assert plan["steps_per_checkpoint"] == every
    assert plan["num_steps"] == every * max(1, int(round(expected / every)))
    got = record["sizes"][size]
    assert [c["step"] for c in got["checkpoints"]] == list(
        range(every, plan["num_steps"] + 1, every))
    cached = [json.loads((runs / size / "selection" / f"step-{c['step']}.json").read_text())
              for c in got["checkpoints"]]
    assert [c["MSi"] for c in got["checkpoints"]] == [c["MSi"] for c in cached]
    assert got["checkpoints"][-1]["cpu_hours"] == pytest.approx(got["cpu_seconds"] / 3600)
    assert got["clock"] == "cpu" and 0 < got["cpu_seconds"]  # /proc's clock (Linux)
    assert got["bottleneck"] == scaling.SIZES[size]["bottleneck"]
    best[size] = max(c["MSi"] for c in cached)
  assert record["sizes"]["W"]["parameters"] > 2 * record["sizes"]["S"]["parameters"]
  top = max(best.values())
  assert record["chosen"] == ("S" if best["S"] >= top - 0.3 else "W")
  assert json.loads((out / "scaling.json").read_text())["chosen"] == record["chosen"]
  assert (out / "scaling.png").stat().st_size > 0

  # Finished sizes neither time nor train again.
  def refuse(*args, **kwargs):
    raise AssertionError("a finished probe must not train")
  monkeypatch.setattr(child_runs, "train", refuse)
  monkeypatch.setattr(child_runs, "time_steps", refuse)
  again = scaling.run_probe(_recipe(tmp_path), params, str(corpus / "selection.txt"), str(runs),
                            str(out), sizes=("S", "W"), cpu_hours=budget_hours,
                            stream=open(os.devnull, "w", encoding="utf-8"))
  assert again["chosen"] == record["chosen"] and again["sizes"] == record["sizes"]


@pytest.mark.parametrize("args, message", [
    (["--train_list", "missing.txt", "--selection_list", "sel.txt"],
     "--train_list: no such list"),
    (["--train_list", "train.txt", "--selection_list", "sel.txt", "--sizes", "XL"],
     "invalid choice: 'XL'"),
    (["--train_list", "train.txt", "--selection_list", "sel.txt", "--cpu_hours", "0"],
     "--cpu_hours must be > 0"),
])
def test_the_tool_names_the_bad_argument(tmp_path, args, message):
  (tmp_path / "train.txt").write_text("")
  (tmp_path / "sel.txt").write_text("")
  done = subprocess.run([sys.executable, str(REPO / "tools" / "scaling_probe.py"),
                         "--data", str(tmp_path), "--runs_dir", str(tmp_path / "r"),
                         "--out_dir", str(tmp_path / "o"), *args],
                        capture_output=True, text=True, timeout=300, check=False)
  assert done.returncode == 2
  assert message in done.stderr
