"""`tools/round3_production.py`: part 2's study file from planted part-1 and probe results."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import gin
import pytest

from sound_separation import gin_utils
from sound_separation.study import grid

REPO = pathlib.Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "round3_production.py"


def _plant(root, complete=True):
  root.mkdir()
  shutil.copy(REPO / "results" / "waspaa2021_round3" / "study.gin", root / "study.gin")
  (root / "results.json").write_text(json.dumps({"shipping": {
      "complete": complete, "run": "m8/l1_l2_w12_s5", "row": "m8/l1_l2_w12"}}))
  run = root / "runs" / "m8" / "l1_l2_w12_s5.json"
  run.parent.mkdir(parents=True)
  run.write_text(json.dumps({"run": {"name": "m8/l1_l2_w12_s5", "num_sources": 8,
                                     "arm": "l1_l2", "weight": 12.0, "seed": 5}}))
  probe = root / "scaling" / "scaling.json"
  probe.parent.mkdir()
  probe.write_text(json.dumps({"chosen": "W", "sizes": {
      "S": {"plan": {"seconds_per_step": 0.5}}, "W": {"plan": {"seconds_per_step": 1.44}}}}))


def _run(*args):
  return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                        check=False, timeout=300)


def test_the_study_file_trains_the_picked_recipe_at_the_probes_size_for_the_budget(tmp_path):
  root = tmp_path / "round3"
  _plant(root)
  done = _run(f"--results_dir={root}")
  assert done.returncode == 0, done.stderr
  out = root / "production" / "study.gin"
  # The lists and the classifier a Study checks for, where round 3's file puts them.
  dev = tmp_path / "dev"
  for name in ("study3/train_clip_list.txt", "study2/selection_list.txt",
               "study2/test/test_example_list.txt", "study2/mom/test_mom_list.txt",
               "speech/validation_clean_example_list.txt", "study2/labels.txt"):
    (dev / name).parent.mkdir(parents=True, exist_ok=True)
    (dev / name).write_text("")
  (tmp_path / "waspaa2021_round2" / "classifier").mkdir(parents=True)
  gin.clear_config()
  try:
    gin_utils.parse_gin([str(out)], [f"sound_separation.Study.results_root = {str(out.parent)!r}",
                                     f"DEV = {str(dev)!r}"])
    study = grid.Study()
    specs = study.runs()
  finally:
    gin.clear_config()
  # 8 CPU-hours at 1.44 s a step = 20000 steps: 40 % MixIT alone, 60 % the recipe.
  assert [(s.name, s.num_steps) for s in specs] == [("m8/baseline", 8000),
                                                    ("m8/l1_l2_w12", 12000)]
  assert specs[1].arm == "l1_l2" and specs[1].weight == 12.0
  assert study.train_list == str(dev / "study3/train_clip_list.txt")
  assert study.ema_momentum == 0.999
  assert study.blind and study.steps_per_checkpoint == 1000 and study.seed == 1
  # The size W: twice as wide as round 2's separator, two repeats.
  assert sorted(study.gin_params) == sorted([
      "sound_separation.TDCNPlusPlus.bottleneck = 128",
      "sound_separation.TDCNPlusPlus.conv_channels = 256",
      "sound_separation.TDCNPlusPlus.num_repeats = 2"])
  # Round 3's lists stay, and its classifier is the same folder seen from production/.
  assert study.selection_list == str(dev / "study2/selection_list.txt")
  assert (os.path.normpath(out.parent / study.classifier_dir)
          == os.path.normpath(root / "../waspaa2021_round2/classifier"))


def test_an_unfinished_part_one_is_refused_naming_the_file(tmp_path):
  root = tmp_path / "round3"
  _plant(root, complete=False)
  done = _run(f"--results_dir={root}")
  assert done.returncode == 2
  assert done.stderr.strip() == (f"round3_production: {root / 'results.json'}: part 1 is not "
                                 f"complete (its shipping pick is not final)")
  assert not (root / "production").exists()
  (root / "results.json").write_text(json.dumps({"shipping": {"complete": True, "run": "m8/x"}}))
  (root / "scaling" / "scaling.json").unlink()
  done = _run(f"--results_dir={root}")
  assert done.returncode == 2 and "runs/m8/x.json does not exist" in done.stderr


# ---------------------------------------------------------------------------
# --decide_shipping: the production run against part 1's pick (README, part 2,
# step 6), selection numbers only.


def _plant_production(root, msi, trf, post_hoc=False, finished=True):
  """Part 1's pick (selection TRF 8.0; M = 8 raised floor 5.0) and a production run."""
  (root / "results.json").write_text(json.dumps({"shipping": {
      "complete": True, "run": "m8/l1_l2_w12_s5", "row": "m8/l1_l2_w12",
      "floors": {"4": 4.3, "8": 5.0}, "margin_db": 0.5}}))
  (root / "runs" / "m8" / "l1_l2_w12_s5.json").write_text(json.dumps({
      "run": {"name": "m8/l1_l2_w12_s5", "num_sources": 8, "arm": "l1_l2", "weight": 12.0},
      "selected": {"selection": {"MSi": 5.3, "1S": 20.0, "TRF": 8.0}}}))
  production = root / "production"
  production.mkdir(exist_ok=True)
  run = {"run": {"name": "m8/l1_l2_w12"},
         "selected": {"selection": {"MSi": msi, "1S": 19.0, "TRF": trf}},
         "protocol": {"commit": "c0ffee", "post_hoc": post_hoc}}
  if finished:
    run["test"] = {"fuss": {"MSi": 1.0}}  # what it is does not matter: never read
  baseline = {"run": {"name": "m8/baseline"}, "test": {},
              "selected": {"selection": {"MSi": 9.0, "1S": 5.0, "TRF": 99.0}}}
  (production / "results.json").write_text(json.dumps(
      {"runs": {"m8/baseline": baseline, "m8/l1_l2_w12": run}}))


@pytest.mark.parametrize("msi, trf, post_hoc, ships", [
    (5.0, 8.01, False, "production"),  # at the floor, a higher TRF
    (4.99, 9.5, False, "round3"),      # below the raised floor
    (6.0, 8.0, False, "round3"),       # TRF only equal
    (6.0, 9.5, True, "round3"),        # post hoc never ships
])
def test_the_production_run_ships_only_above_the_floor_with_a_higher_trf(tmp_path, msi, trf,
                                                                          post_hoc, ships):
  root = tmp_path / "round3"
  _plant(root)
  _plant_production(root, msi, trf, post_hoc)
  done = _run(f"--results_dir={root}", "--decide_shipping")
  assert done.returncode == 0, done.stderr
  decision = json.loads((root / "shipping.json").read_text())
  assert decision["ships"] == ships
  if ships == "production":
    assert decision["run"] == "m8/l1_l2_w12" and decision["results"] == "production"
    assert f"--results {os.path.normpath(root / 'production')} --run m8/l1_l2_w12" in done.stdout
  else:
    assert decision["run"] == "m8/l1_l2_w12_s5" and decision["results"] == "."
  assert decision["floor_db"] == 5.0
  assert decision["production"]["selection"]["TRF"] == trf  # the baseline's 99 is not it


def test_an_unfinished_production_run_decides_nothing(tmp_path):
  root = tmp_path / "round3"
  _plant(root)
  _plant_production(root, 6.0, 9.0, finished=False)
  (root / "production" / "results.json").rename(root / "production" / "later.json")
  done = _run(f"--results_dir={root}", "--decide_shipping")
  assert done.returncode == 2
  assert done.stderr.strip() == (f"round3_production: {root / 'production' / 'results.json'} "
                                 f"does not exist: the production run has not reported")
  (root / "production" / "later.json").rename(root / "production" / "results.json")
  done = _run(f"--results_dir={root}", "--decide_shipping")
  assert done.returncode == 2 and "m8/l1_l2_w12 has not finished" in done.stderr
  assert not (root / "shipping.json").exists()


def test_ship_model_holds_to_the_written_decision(tmp_path):
  root = tmp_path / "round3"
  _plant(root)
  _plant_production(root, 6.0, 9.0)
  assert _run(f"--results_dir={root}", "--decide_shipping").returncode == 0
  # Part 1's pick, from the round's folder: refused, naming the decision file.
  shipped = subprocess.run(
      [sys.executable, str(REPO / "tools" / "ship_model.py"), f"--results={root}",
       "--run=m8/l1_l2_w12_s5", f"--out={tmp_path / 'out'}", "--card_only"],
      capture_output=True, text=True, check=False, timeout=300)
  assert shipped.returncode != 0
  assert shipped.stderr.strip().splitlines()[-1] == (
      f"{root / 'shipping.json'} ships m8/l1_l2_w12 from {root / 'production'}, not "
      f"m8/l1_l2_w12_s5 from {root}: ship that one (the decision reads selection numbers only)")
  assert not (tmp_path / "out").exists()
