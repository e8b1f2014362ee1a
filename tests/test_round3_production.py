"""`tools/round3_production.py`: part 2's study file from planted part-1 and probe results."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import gin

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
