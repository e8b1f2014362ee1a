"""The study runner: grid, selection rule, solver agreement, resume, no retraining."""

import io
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import gin
import numpy as np
import pytest

from sound_separation import gin_utils
from sound_separation.data import audio
from sound_separation.layers import TDCNPlusPlus
from sound_separation.models import SeparationModel
from sound_separation.data import lists
from sound_separation.study import grid
from sound_separation.study import runner
from sound_separation.evaluation import selection
from sound_separation.training import loss_terms
from sound_separation.training import MixITTrainer

RATE = 16000
T = 3200  # 0.2 s
REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clear_gin():
  yield
  with gin.unlock_config():
    gin.clear_config()


# ---------------------------------------------------------------------------
# The selection rule, on planted candidates.


def test_collapse_cannot_win_the_selection():
  baseline = {"MSi": 4.3, "1S": 6.5, "TRF": 4.9}
  candidates = [
      {"name": "mild", "MSi": 4.0, "1S": 9.0, "TRF": 5.5},
      {"name": "better", "MSi": 3.5, "1S": 14.0, "TRF": 6.6},
      {"name": "too costly", "MSi": 3.2, "1S": 30.0, "TRF": 11.0},  # 1.1 dB below
      {"name": "collapse", "MSi": 0.0, "1S": 67.7, "TRF": 19.6},
  ]
  chosen, meets = selection.select(candidates, selection.floor(baseline["MSi"], 1.0))
  assert meets and chosen["name"] == "better"
  # TRF alone (no MSi budget) would pick the collapse.
  chosen, _ = selection.select(candidates, float("-inf"))
  assert chosen["name"] == "collapse"


def test_selection_without_a_passing_candidate_takes_the_best_msi():
  candidates = [{"MSi": 1.0, "TRF": 9.0}, {"MSi": 2.0, "TRF": 3.0}, {"MSi": None, "TRF": 20.0}]
  chosen, meets = selection.select(candidates, 5.0)
  assert not meets and chosen["MSi"] == 2.0
  assert selection.select([], 0.0) == (None, False)
  assert selection.best_msi(candidates) == 2.0


def test_selection_keeps_the_earliest_of_equal_trf():
  candidates = [{"id": 0, "MSi": 5.0, "TRF": 7.0}, {"id": 1, "MSi": 5.0, "TRF": 7.0}]
  assert selection.select(candidates, 0.0)[0]["id"] == 0


# ---------------------------------------------------------------------------
# The grid.


def _study(tmp_path, **overrides):
  for name in ("train.txt", "sel.txt", "test.txt"):
    (tmp_path / name).write_text("x\n")
  settings = dict(train_list="train.txt", selection_list="sel.txt", test_list="test.txt",
                  data_root=str(tmp_path), num_sources=[2, 3], baseline_steps=4,
                  finetune_steps=2, steps_per_checkpoint=2,
                  arms={"mixit": [0], "l1_l2+covariance": [0.5, 2]}, covariance_weight=0.25)
  settings.update(overrides)
  return grid.Study(**settings)


def _terms_of(spec):
  """The loss terms a run's trainer gets from the recipe and the run's bindings."""
  gin.clear_config()
  try:
    gin_utils.parse_gin(["studies/small_recipe.gin"], spec.gin_params)
    return MixITTrainer(SeparationModel(num_sources=2, num_basis=8, tdcn=TDCNPlusPlus(
        bottleneck=4, conv_channels=4, num_dilations=1, num_repeats=1))).loss_terms
  finally:
    gin.clear_config()


@pytest.mark.parametrize("arm, expected", [
    ("mixit", [("MixIT", "exact_gram")]),
    ("mixit_efficient", [("MixIT", "efficient")]),
    ("l1_l2_efficient", [("MixIT", "efficient"), ("Sparsity", 3.0)]),
    ("covariance", [("MixIT", "exact_gram"), ("Covariance", 3.0)]),
])
def test_each_arm_binds_its_loss_terms(tmp_path, arm, expected):
  spec = _study(tmp_path, arms={arm: [3]}).runs()[1]
  got = [(type(t).__name__, t.solver if isinstance(t, loss_terms.MixIT) else t.weight)
         for t in _terms_of(spec)]
  assert got == expected


def test_the_best_semantic_arm_binds_its_four_terms(tmp_path):
  (tmp_path / "labels.txt").write_text("a\nb\n")
  study = _study(tmp_path, arms={"soft_or+cosine+l1_l2": [2]}, classifier_dir="/c",
                 label_vocabulary="labels.txt", cosine_weight=3.0, sparsity_weight=5.0)
  gin.clear_config()
  try:
    gin_utils.parse_gin(["studies/small_recipe.gin"], study.runs()[1].gin_params)
    names = [ref.configurable.name for ref in
             gin.query_parameter("sound_separation.MixITTrainer.loss_terms")]
    weights = [gin.query_parameter(f"sound_separation.{name}.weight") for name in names[1:]]
    assert gin.query_parameter("sound_separation.MixITTrainer.joint_classifier") is True
    assert gin.query_parameter("sound_separation.Classification.aggregation") == "or"
  finally:
    gin.clear_config()
  assert names == ["MixIT", "Sparsity", "Classification", "CosineSimilarity"]
  assert weights == [5.0, 2.0, 3.0]


def test_grid_has_a_baseline_per_m_and_one_finetune_per_arm_and_weight(tmp_path):
  specs = _study(tmp_path).runs()
  assert [s.name for s in specs] == [
      "m2/baseline", "m2/mixit_w0", "m2/l1_l2+covariance_w0.5", "m2/l1_l2+covariance_w2",
      "m3/baseline", "m3/mixit_w0", "m3/l1_l2+covariance_w0.5", "m3/l1_l2+covariance_w2"]
  combined = specs[3]
  assert combined.init_from == "m2/baseline" and combined.num_steps == 2
  terms = _terms_of(combined)
  assert [(type(t).__name__, t.get_config()) for t in terms] == [
      ("MixIT", {"weight": 1.0, "solver": "exact_gram", "signal_loss": "thresholded_log_mse",
                 "diag_load": 1e-4}),
      ("Sparsity", {"weight": 2.0, "kind": "l1_l2"}), ("Covariance", {"weight": 0.25})]
  assert "sound_separation.SeparationModel.num_sources = 2" in combined.gin_params
  assert not any("sparsity" in p or "covariance" in p for p in specs[1].gin_params)
  assert specs[4].init_from is None and specs[4].num_steps == 4
  assert specs[0].gin_params[0].endswith(repr(str(tmp_path / "train.txt")))


def test_arms_by_num_sources_replaces_the_arms_at_that_m_only(tmp_path):
  specs = _study(tmp_path, arms_by_num_sources={3: {"l1": [1, 10]}}).runs()
  assert [s.name for s in specs] == [
      "m2/baseline", "m2/mixit_w0", "m2/l1_l2+covariance_w0.5", "m2/l1_l2+covariance_w2",
      "m3/baseline", "m3/l1_w1", "m3/l1_w10"]
  assert [(type(t).__name__, t.weight, t.kind) for t in _terms_of(specs[-1])[1:]] == [
      ("Sparsity", 10.0, "l1")]
  assert "sound_separation.SeparationModel.num_sources = 3" in specs[-1].gin_params


@pytest.mark.parametrize("overrides, message", [
    (dict(arms={"l3": [1]}), "unknown arm 'l3'"),
    (dict(arms_by_num_sources={5: {"l1": [1]}}), r"names M = \[5\]"),
    (dict(arms_by_num_sources={3: {"l1": [float("nan")]}}),
     r"arms_by_num_sources\[3\]\['l1'\]: weights must be finite"),
    (dict(arms={"l1": [-1]}), "weights must be finite numbers >= 0"),
    (dict(finetune_steps=3), "multiple of steps_per_checkpoint"),
    (dict(num_sources=[]), "num_sources is empty"),
    (dict(test_list="missing.txt"), "no such list"),
    (dict(selection_list=None), "selection_list is required"),
])
def test_grid_errors(tmp_path, overrides, message):
  with pytest.raises((ValueError, FileNotFoundError), match=message):
    _study(tmp_path, **overrides)


# ---------------------------------------------------------------------------
# Efficient vs exhaustive MixIT on planted outputs.


class _Planted:
  """A 'separator' returning planted outputs for each MoM (by its first sample)."""
  sample_rate = RATE

  def __init__(self, table):
    self.table = table

  def separate(self, waveform):
    return self.table[round(float(waveform[0]) * 1e6)]


def _np_loss(ref, remix):
  """Thresholded log-MSE (30 dB), mean over the two mixtures."""
  err = ((ref - remix) ** 2).sum(axis=1)
  return float(np.mean(10 * np.log10(err + 1e-3 * (ref ** 2).sum(axis=1) + 1e-8)))


def _np_assignments(ref, est):
  """(exhaustive assignment, its loss, least-squares projection, its loss) in NumPy."""
  m = len(est)
  remix = lambda a: np.stack([est[[j for j in range(m) if a[j] == n]].sum(axis=0)
                              for n in range(2)])
  candidates = [tuple((k >> j) & 1 for j in range(m)) for k in range(2 ** m)]
  best = min(candidates, key=lambda a: _np_loss(ref, remix(a)))
  gram = est @ est.T
  a_ls = (ref @ est.T) @ np.linalg.inv(gram + 1e-4 * np.trace(gram) * np.eye(m))
  projected = tuple(int(np.argmax(a_ls[:, j])) for j in range(m))
  return best, _np_loss(ref, remix(best)), projected, _np_loss(ref, remix(projected))


def test_solver_agreement_matches_a_numpy_brute_force(tmp_path):
  rng = np.random.default_rng(0)
  mixtures = [(0.1 * rng.normal(size=T)).astype(np.float32) for _ in range(4)]
  lines = []
  for i, mixture in enumerate(mixtures):
    audio.write_audio(tmp_path / f"m{i}.wav", mixture, RATE, subtype="FLOAT")
    lines.append((str(tmp_path / f"m{i}.wav"), [str(tmp_path / f"m{i}.wav")]))
  list_path = lists.write_fuss_list(tmp_path / "list.txt", lines)
  read = [audio.read_audio(m, RATE) for m, _ in lines]
  pairs = [np.stack(read[0:2]), np.stack(read[2:4])]
  # MoM 1: outputs that split the mixtures exactly, so both
  # solvers must agree. MoM 2: outputs mixing both mixtures, drawn until the
  # NumPy least-squares projection and brute force disagree.
  planted = [np.array([[0.9, 0.0], [0.0, 1.0], [0.1, 0.0]]) @ pairs[0]]
  expected = [_np_assignments(pairs[0], planted[0])]
  assert expected[0][0] == expected[0][2]
  search = np.random.default_rng(5)
  while True:
    est = search.uniform(0, 1, size=(3, 2)) @ pairs[1]
    found = _np_assignments(pairs[1], est)
    if found[0] != found[2] and found[3] - found[1] > 0.1:
      break
  planted.append(est)
  expected.append(found)
  table = {round(float(p.sum(axis=0)[0]) * 1e6): e.astype(np.float32)
           for p, e in zip(pairs, planted)}
  result = runner.solver_agreement(_Planted(table), list_path)
  assert result["num_moms"] == 2
  assert result["same_matrix"] == 0.5 and result["same_loss"] == 0.5
  assert result["max_gap_db"] == pytest.approx(found[3] - found[1], abs=1e-3)
  assert result["mean_gap_db"] == pytest.approx(found[3] - found[1], abs=1e-3)


# ---------------------------------------------------------------------------
# A whole tiny study: two runs, re-run without training, resume after a kill.


def _corpus(tmp_path):
  """Tiny clips (noise bursts and tones) and FUSS lists of their mixtures."""
  rng = np.random.default_rng(1)
  t = np.arange(T) / RATE
  folder = tmp_path / "corpus"
  folder.mkdir()

  def source(k):
    if k % 2:
      return (0.2 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t)).astype(np.float32)
    burst = np.zeros(T, np.float32)
    start = rng.integers(0, T // 2)
    burst[start:start + T // 3] = 0.1 * rng.normal(size=len(burst[start:start + T // 3]))
    return burst

  clips = []
  for i in range(8):
    path = folder / f"clip{i}.wav"
    audio.write_audio(path, source(i) + source(i + 1), RATE, subtype="FLOAT")
    clips.append((str(path), None))
  lists.write_clip_list(folder / "train.txt", clips)
  for name, count in (("selection", 4), ("test", 4)):
    examples = []
    for i in range(count):
      sources = [source(i + k) for k in range(1 + i % 2)]
      paths = []
      for k, s in enumerate(sources):
        paths.append(folder / f"{name}{i}_s{k}.wav")
        audio.write_audio(paths[-1], s, RATE, subtype="FLOAT")
      mixture = folder / f"{name}{i}.wav"
      audio.write_audio(mixture, np.sum(sources, axis=0), RATE, subtype="FLOAT")
      examples.append((mixture, paths))
    lists.write_fuss_list(folder / f"{name}.txt", examples)
  return folder


def tiny_recipe(tmp_path, log_every=1):
  """A recipe file for the tiny separator on 0.1 s clips (MixIT, exact solver, Adam)."""
  recipe = tmp_path / "recipe.gin"
  recipe.write_text("\n".join([
      "include 'models/tiny.gin'",
      "include 'losses/snr_thresholded.gin'",
      "include 'losses/mixit_exact.gin'",
      "include 'optimization/adam.gin'",
      "sound_separation.training_dataset.unsupervised_format = 'clips'",
      "sound_separation.training_dataset.batch_size = 4",
      "sound_separation.training_dataset.clip_seconds = 0.1",
      "sound_separation.training_dataset.sample_rate = 16000",
      f"sound_separation.train.log_every = {log_every}",
      "sound_separation.train.num_audio_examples = 0",
  ]) + "\n")
  return recipe


def _write_study(tmp_path, corpus, baseline_steps=4, extra=()):
  """A tiny study file; `extra`: bindings appended after the defaults (later ones win)."""
  recipe = tiny_recipe(tmp_path)
  study = tmp_path / "results" / "study.gin"
  study.parent.mkdir()
  study.write_text("\n".join([
      f"sound_separation.Study.recipe = {str(recipe)!r}",
      f"sound_separation.Study.data_root = {str(corpus)!r}",
      "sound_separation.Study.train_list = 'train.txt'",
      "sound_separation.Study.selection_list = 'selection.txt'",
      "sound_separation.Study.test_list = 'test.txt'",
      "sound_separation.Study.num_sources = [2]",
      f"sound_separation.Study.baseline_steps = {baseline_steps}",
      "sound_separation.Study.finetune_steps = 2",
      "sound_separation.Study.steps_per_checkpoint = 2",
      "sound_separation.Study.arms = {'l1_l2': [1.0]}",
      *extra,
  ]) + "\n")
  return study


def _outputs(results_dir):
  return {name: (results_dir / name).read_bytes() for name in ("table.md", "results.json")}


def _refuse_rework(monkeypatch):
  """Makes any training or model loading fail: a finished study must do neither."""
  def refuse(*args, **kwargs):
    raise AssertionError("a finished study must not train or evaluate")
  monkeypatch.setattr(runner, "train_run", refuse)
  monkeypatch.setattr(runner, "_Model", refuse)
  with gin.unlock_config():
    gin.clear_config()


def test_two_run_study_then_rerun_trains_nothing(tmp_path, monkeypatch):
  corpus = _corpus(tmp_path)
  study = _write_study(tmp_path, corpus)
  runs = tmp_path / "runs"
  results = runner.run_study(study, runs)
  assert sorted(results) == ["m2/baseline", "m2/l1_l2_w1"]
  results_dir = study.parent
  base = json.loads((results_dir / "runs" / "m2" / "baseline.json").read_text())
  # Both checkpoints of the baseline (steps 2, 4) were evaluated; the chosen
  # one is the rule's choice among them.
  assert [c["step"] for c in base["checkpoints"]] == [2, 4]
  expected, _ = selection.select(
      [c["selection"] for c in base["checkpoints"]],
      max(c["selection"]["MSi"] for c in base["checkpoints"]) - 1.0)
  assert base["selected"]["selection"] == expected
  assert base["test"]["fuss"]["num_examples"] == 4
  # The baseline's selected separator is the fine-tune's starting point.
  assert (results_dir / "baselines" / "m2" / "separator.json").exists()
  log = (runs / "m2" / "l1_l2_w1" / "train.log").read_text()
  assert "init_checkpoint = " + repr(str(results_dir / "baselines" / "m2")) in log
  finetune = json.loads((results_dir / "runs" / "m2" / "l1_l2_w1.json").read_text())
  assert finetune["msi_floor"] == pytest.approx(base["selected"]["selection"]["MSi"] - 1.0)
  assert [c["step"] for c in finetune["checkpoints"]] == [2]
  table = (results_dir / "table.md").read_text()
  assert "L1/L2 sparsity" in table and "Baseline (MixIT)" in table
  assert (results_dir / "figure1.png").stat().st_size > 1000
  before = _outputs(results_dir)

  # A finished study: nothing trains, loads or evaluates; the same report.
  _refuse_rework(monkeypatch)
  runner.run_study(study, runs)
  assert _outputs(results_dir) == before


def test_a_study_killed_mid_run_resumes_it(tmp_path):
  corpus = _corpus(tmp_path)
  study = _write_study(tmp_path, corpus, baseline_steps=24)
  runs = tmp_path / "runs"
  command = [sys.executable, "-m", "sound_separation", "study", f"--config={study}",
             f"--out_dir={runs}"]
  env = dict(os.environ, PYTHONPATH=str(REPO))
  child = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
  kept = runs / "m2" / "baseline" / "checkpoints" / "kept"
  deadline = time.monotonic() + 300
  while not list(kept.glob("ckpt-1[0-9].index")) and time.monotonic() < deadline:
    assert child.poll() is None, "the study ended before it could be killed"
    time.sleep(0.2)
  os.killpg(child.pid, signal.SIGKILL)  # the study and its training child
  child.wait()
  assert not (study.parent / "runs" / "m2" / "baseline.json").exists()
  done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  log = (runs / "m2" / "baseline" / "train.log").read_text()
  assert "Resumed from" in log
  # The study echoes the run's progress events (progress.jsonl), not its stdout.
  events = [json.loads(line) for line in
            (runs / "m2" / "baseline" / "progress.jsonl").read_text().splitlines()]
  resumed = [e for e in events if e["event"] == "resumed"]
  assert len(resumed) == 1 and resumed[0]["step"] >= 10
  assert f"[m2/baseline] Resumed from {resumed[0]['checkpoint']} at step" in done.stdout
  assert "[m2/baseline] step 24/24  loss " in done.stdout
  base = json.loads((study.parent / "runs" / "m2" / "baseline.json").read_text())
  assert [c["step"] for c in base["checkpoints"]] == list(range(2, 26, 2))
  assert (study.parent / "runs" / "m2" / "l1_l2_w1.json").exists()
  # The killed invocation counts in the run's compute.
  spent = json.loads((runs / "m2" / "baseline" / "train_time.json").read_text())
  assert spent["invocations"] == 2


def test_train_time_keeps_what_a_killed_invocation_spent(tmp_path, monkeypatch):
  clock = {"now": 1000.0}
  monkeypatch.setattr(runner.time, "monotonic", lambda: clock["now"])
  first = runner.TrainClock(tmp_path, every_seconds=30.0)
  for k in range(1, 11):  # 100 s of output lines, 2 CPU-s each 10 s, then a kill
    clock["now"] += 10.0
    first.tick(cpu_seconds=2.0 * k)
  # Written at 30, 60 and 90 s; the last 10 s are lost with the process.
  assert runner.train_time(tmp_path) == {"seconds": 90.0, "cpu_seconds": 18.0,
                                         "invocations": 1}
  second = runner.TrainClock(tmp_path, every_seconds=30.0)
  clock["now"] += 5.0
  second.tick(force=True, cpu_seconds=1.5)
  assert runner.train_time(tmp_path) == {"seconds": 95.0, "cpu_seconds": 19.5,
                                         "invocations": 2}


def test_run_locks_exclude_live_processes_and_take_over_dead_ones(tmp_path):
  first, second = runner.run_lock(str(tmp_path), "m4/a"), runner.run_lock(str(tmp_path), "m4/a")
  assert first.try_acquire()
  (tmp_path / "m4" / "a.lock").write_text(str(os.getppid()))  # a live process (old format)
  assert not second.try_acquire()
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True).stdout.strip()
  (tmp_path / "m4" / "a.lock").write_text(dead)  # a process that has ended
  assert second.try_acquire(io.StringIO())
  assert json.loads((tmp_path / "m4" / "a.lock").read_text())["pid"] == os.getpid()
  second.release()
  assert not (tmp_path / "m4" / "a.lock").exists()


def test_a_seeded_study_keeps_scores_seeds_verdicts_and_a_listening_page(tmp_path, monkeypatch):
  corpus = _corpus(tmp_path)
  study = _write_study(tmp_path, corpus, extra=[
      "sound_separation.Study.seed = 7",
      "sound_separation.Study.arms = {'mixit': [0], 'l1_l2': [1.0]}",
      "sound_separation.Study.extra_seeds = {'m2/mixit_w0': [8]}"])
  runs = tmp_path / "runs"
  results = runner.run_study(study, runs, stream=io.StringIO())
  assert sorted(results) == ["m2/baseline", "m2/l1_l2_w1", "m2/mixit_w0", "m2/mixit_w0_s8"]
  results_dir = study.parent
  # Seeds come from the study, not from the folders: bound in every run and recorded.
  assert "sound_separation.train.seed = 8" in (runs / "m2" / "mixit_w0_s8" / "train.log").read_text()
  assert results["m2/mixit_w0"]["run"]["seed"] == 7 and results["m2/mixit_w0_s8"]["run"]["seed"] == 8
  # Every test example's scores are kept, and the summary is theirs.
  kept = runner.read_scores(str(results_dir), "m2/l1_l2_w1", "fuss")
  assert len(kept) == 4
  from sound_separation.evaluation import metrics  # pylint: disable=import-outside-toplevel
  assert metrics.summarize(kept)["MSi"] == pytest.approx(
      results["m2/l1_l2_w1"]["test"]["fuss"]["MSi"], abs=1e-3)
  assert results["m2/l1_l2_w1"]["compute"]["steps"] == 2
  table = (results_dir / "table.md").read_text()
  assert "## Verdicts" in table and "m2/mixit_w0 | 2 |" in table and "7, 8" in table
  verdicts = json.loads((results_dir / "results.json").read_text())["verdicts"]
  assert {v["claim"] for v in verdicts} >= {1, 3, 4}
  page = (results_dir / "listen" / "index.html").read_text()
  assert "MixIT continued (control)" in page and page.count("<audio") == 4 * (1 + 3 * 2)
  for link in re.findall(r'src="([^"]+)"', page):
    assert (results_dir / "listen" / link).is_file()
  before = {**_outputs(results_dir), "page": page}

  _refuse_rework(monkeypatch)
  runner.run_study(study, runs, stream=io.StringIO())
  after = {**_outputs(results_dir), "page": (results_dir / "listen" / "index.html").read_text()}
  assert after == before


# ---------------------------------------------------------------------------
# tools/ship_model.py: the shipped model's folder and card.


def _fuss_summary(num_examples, under, over, per_count):
  return {"num_examples": num_examples, "under_separation": under, "over_separation": over,
          "equal_separation": num_examples - under - over, "MSi": 4.5, "1S": 19.0, "TRF": 7.9,
          "per_source_count": per_count}


def test_ship_model_writes_a_loadable_folder_and_a_card_with_its_baseline(tmp_path, model_folder):
  import importlib.util  # pylint: disable=import-outside-toplevel
  import shutil  # pylint: disable=import-outside-toplevel
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel
  repo = pathlib.Path(__file__).resolve().parents[1]
  spec = importlib.util.spec_from_file_location("ship_model", repo / "tools" / "ship_model.py")
  tool = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(tool)
  folder, separator = model_folder
  # A finished fine-tune's run folder: its selected checkpoint kept at step 250.
  run_dir = tmp_path / "runs" / "m4" / "l1_l2_w8"
  folders.save_separator(separator, str(run_dir), 8000, step=250)
  kept = run_dir / "checkpoints" / "kept"
  kept.mkdir()
  for f in (run_dir / "checkpoints").glob("ckpt-250.*"):
    shutil.move(str(f), kept / f.name)
  results = tmp_path / "results"
  (results / "runs" / "m4").mkdir(parents=True)
  per_count = {"1": {"count": 10, "1S": 19.0, "MSi": None},
               "2": {"count": 30, "1S": None, "MSi": 4.25}}
  base_count = {"1": {"count": 10, "1S": 6.41, "MSi": None},
                "2": {"count": 30, "1S": None, "MSi": 5.75}}
  run = {"run": {"name": "m4/l1_l2_w8", "num_sources": 4, "arm": "l1_l2", "weight": 8.0,
                 "init_from": "m4/baseline", "init_model": None, "num_steps": 2000, "seed": 3},
         "selected": {"step": 250, "selection": {"MSi": 4.41, "1S": 18.13, "TRF": 8.49}},
         "msi_floor": 3.82,
         "checkpoints": [{"step": 250 * (i + 1), "selection": {"MSi": v}}
                         for i, v in enumerate([4.41, 3.5, 3.0])],
         "test": {"fuss": _fuss_summary(40, 3, 12, per_count),
                  "speech": {"MSi": 0.11, "under_separation": 94, "num_examples": 100}}}
  baseline = {"run": {"name": "m4/baseline", "init_from": None, "init_model": "/x/baselines/m4"},
              "selected": {"step": 1500, "selection": {"MSi": 4.82, "1S": 7.23, "TRF": 5.54}},
              "test": {"fuss": _fuss_summary(40, 0, 31, base_count)}}
  (results / "runs" / "m4" / "l1_l2_w8.json").write_text(json.dumps(run))
  (results / "runs" / "m4" / "baseline.json").write_text(json.dumps(baseline))
  second = json.loads(json.dumps(run))
  second["run"].update(name="m4/l1_l2_w8_s2", seed=2)
  second["selected"]["selection"]["MSi"] = 4.21
  (results / "results.json").write_text(json.dumps(
      {"study": "planted", "shipped": "m4/l1_l2_w8",
       "shipping": {"run": "m4/l1_l2_w8", "margin_db": 0.5, "floors": {"4": 4.0}},
       "protocol": {"commit": "0123456789abcdef"},
       "runs": {"m4/l1_l2_w8": run, "m4/l1_l2_w8_s2": second, "m4/baseline": baseline}}))
  out = tmp_path / "default"
  tool.main(["--results", str(results), "--runs_dir", str(tmp_path / "runs"), "--out", str(out)])
  card = (out / "MODEL_CARD.md").read_text()
  # Recipe: the run, its baseline's checkpoint, its seed; the rule's margin.
  assert "run `m4/l1_l2_w8`" in card and "seed 3" in card and "step 1500" in card
  assert "fine-tuned for 2000 steps from `m4/baseline`" in card
  assert "at most 0.50 dB below the baseline's" in card
  # Limitations from the planted counts; the baseline's numbers beside the model's.
  assert "3 of 40 (8 %)" in card and "12 of 40 (30 %)" in card
  assert "| its baseline | 4.82 | 7.23 | 5.54 |" in card
  assert "| 2 | 30 | MSi | 4.25 | 5.75 |" in card and "| 1 | 10 | 1S | 19.00 | 6.41 |" in card
  assert "GPL-2" in card and "CC-BY-SA" in card and "Apache-2.0" in card
  # The selected checkpoint (the first) and its one later neighbour.
  assert "selection MSi at steps 250, 500 is 4.41, 3.50 dB (the floor: 3.82 dB)" in card
  # How it was chosen: its row's two seeds, the blind protocol's commit, the
  # margin: the row's mean selection MSi (4.41 + 4.21) / 2 = 4.31 against the
  # raised floor 4.0 (3.5 + the 0.5 margin).
  assert "its row `m4/l1_l2_w8` was trained with 2 seeds (2, 3)." in card
  assert "fixed in commit `0123456789` before any of its test numbers" in card
  assert ("its row's mean selection MSi, 4.31 dB, clears the raised floor (4.00 dB: the 1 dB "
          "floor 3.50 plus the 0.50 dB margin) by 0.31 dB.") in card
  # The folder holds the kept checkpoint's weights, and its LiteRT copy.
  shipped, rate, _ = folders.load_keras_separator(str(out))
  x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 800)).astype(np.float32)
  np.testing.assert_allclose(shipped(x).numpy(), separator(x).numpy(), atol=1e-6)
  assert rate == 8000 and (out / "litert" / "litert.json").exists()
  # --card_only rewrites the card from the results and leaves the weights.
  weights = {p: p.read_bytes() for p in (out / "checkpoints").iterdir()}
  (out / "MODEL_CARD.md").write_text("stale")
  tool.main(["--results", str(results), "--out", str(out), "--card_only"])
  assert (out / "MODEL_CARD.md").read_text() == card
  assert {p: p.read_bytes() for p in (out / "checkpoints").iterdir()} == weights


def test_the_card_of_a_model_trained_for_shipping_says_its_size_data_and_decision(
    tmp_path, model_folder):
  """A production run (its baseline trained from scratch in the same study) that won the
  round's written decision: the card's size, data, averaging, lineage, margin and compute."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  import shutil  # pylint: disable=import-outside-toplevel
  repo = pathlib.Path(__file__).resolve().parents[1]
  spec = importlib.util.spec_from_file_location("ship_model", repo / "tools" / "ship_model.py")
  tool = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(tool)
  folder, separator = model_folder
  # A corpus: 3 training clips whose labels name 4 source files of 2 packages,
  # one file in two clips (counted once).
  corpus = tmp_path / "dev"
  (corpus / "wild_3" / "train").mkdir(parents=True)
  (corpus / "wild_3" / "train_labels.tsv").write_text(
      "example\torigin\n"
      "train/example00000\tsonic-pi-samples/a.flac|lincity-ng-data/x.wav\n"
      "train/example00001\tsonic-pi-samples/a.flac\n"
      "train/example00002\tsonic-pi-samples/b.flac|sonic-pi-samples/c.flac\n")
  (corpus / "study3").mkdir()
  (corpus / "study3" / "train_clip_list.txt").write_text("".join(
      f"{corpus}/wild_3/train/example{i:05d}.wav\tmusic\n" for i in range(3)))
  round3 = tmp_path / "round3"
  production = round3 / "production"
  (production / "runs" / "m4").mkdir(parents=True)
  bindings = ["sound_separation.training_dataset.unsupervised_list = "
              "'/elsewhere/dev/study3/train_clip_list.txt'",
              "sound_separation.default_optimizer.ema_momentum = 0.999"]
  counts = {"1": {"count": 10, "1S": 19.0, "MSi": None}}
  run = {"run": {"name": "m4/l1_l2_w5", "num_sources": 4, "arm": "l1_l2", "weight": 5.0,
                 "init_from": "m4/baseline", "init_model": None, "num_steps": 12000, "seed": 1,
                 "gin_params": bindings},
         "selected": {"step": 9000, "averaged": True,
                      "selection": {"MSi": 5.75, "1S": 18.0, "TRF": 9.5}},
         "compute": {"train_seconds": 3 * 3600, "evaluation_seconds": 1800},
         "test": {"fuss": _fuss_summary(10, 1, 2, counts)}}
  baseline = {"run": {"name": "m4/baseline", "init_from": None, "init_model": None,
                      "num_steps": 8000, "gin_params": bindings},
              "selected": {"step": 7000, "selection": {"MSi": 6.0, "1S": 7.0, "TRF": 6.0}},
              "compute": {"train_seconds": 2 * 3600, "evaluation_seconds": 900},
              "test": {"fuss": _fuss_summary(10, 0, 5, counts)}}
  (production / "runs" / "m4" / "l1_l2_w5.json").write_text(json.dumps(run))
  (production / "runs" / "m4" / "baseline.json").write_text(json.dumps(baseline))
  (production / "results.json").write_text(json.dumps(
      {"study": "production", "shipped": "m4/l1_l2_w5", "protocol": {"commit": "feed" * 10},
       "shipping": {"run": "m4/l1_l2_w5", "margin_db": 0.0, "floors": {"4": 5.0}},
       "runs": {"m4/l1_l2_w5": run, "m4/baseline": baseline}}))
  (round3 / "shipping.json").write_text(json.dumps(
      {"ships": "production", "results": "production", "run": "m4/l1_l2_w5",
       "why": "planted: the production run beats the pick", "floor_db": 5.25,
       "margin_db": 0.5, "production": {"selection": {"MSi": 5.75}}}))
  out = tmp_path / "default"
  shutil.copytree(folder, out)
  # The run folders' training CPU time: 4.5 h for the run, 1.8 h for its baseline.
  runs = tmp_path / "runs"
  for name, cpu in (("m4/l1_l2_w5", 4.5 * 3600), ("m4/baseline", 1.8 * 3600)):
    (runs / name).mkdir(parents=True)
    (runs / name / "train_time.json").write_text(json.dumps(
        {"seconds": 1.0, "invocations": 1, "cpu_seconds": cpu}))
  tool.main(["--results", str(production), "--out", str(out), "--corpus", str(corpus),
             "--runs_dir", str(runs), "--card_only"])
  card = (out / "MODEL_CARD.md").read_text()
  flat = " ".join(card.split())
  assert ("**CPU-hours**: 6.30 of training (process CPU time, 4.50 + 1.80 for this run and its "
          "baseline, from the run folders' `train_time.json`).") in flat
  # Its size, from the folder's own separator (tiny_separator: bottleneck 8, 12 channels).
  assert (f"the paper's TDCN++ separator at bottleneck 8, 12 channels, 1 repeat of 2 "
          f"dilated blocks ({separator.count_params():,} parameters)") in flat
  assert "Why this one**: planted: the production run beats the pick." in flat
  # The list found under --corpus; its 3 clips; 3 sonic-pi files, 1 lincity file.
  assert "3 in-the-wild 10 s clips (`study3/train_clip_list.txt` of the development" in flat
  assert "| sonic-pi-samples | 130 files CC0, the rest MIT / CC-BY-SA-4.0 | 3 |" in card
  assert "| lincity-ng-data | GPL-2+ | 1 |" in card and "| klettres-data | GPL-2+ | – |" in card
  assert ("fine-tuned for 12000 steps from `m4/baseline` (step 7000 of 8000 MixIT steps from a "
          "random initialisation, trained in the same study); weights averaged over steps "
          "(momentum 0.999), the average selected;") in flat
  # The margin over the round's raised floor, not the production study's own.
  assert ("its selection MSi, 5.75 dB, clears the round's raised floor (5.25 dB: the 1 dB "
          "floor 4.75 plus the 0.50 dB margin) by 0.50 dB.") in flat
  assert ("3.00 h of training and 0.50 h of evaluation (wall time) for this run, and 2.00 h of "
          "training and 0.25 h of evaluation for its baseline, trained in the same study.") in flat
  assert "its row `m4/l1_l2_w5` was trained with 1 seed (1); one seed is one draw" in flat
  # A production run has no seeded rows of its own: the spread is its round's.
  assert f"by the spread its round (`{round3}/table.md`) measured" in flat


def test_a_blind_averaged_study_fixes_its_protocol_and_labels_a_later_run(tmp_path):
  """Study.blind and Study.ema_momentum on a tiny grid in a git checkout of its own."""
  corpus = _corpus(tmp_path)
  study = _write_study(tmp_path, corpus, extra=[
      "sound_separation.Study.blind = True", "sound_separation.Study.ema_momentum = 0.5",
      "sound_separation.Study.finetune_steps = 4"])
  git = lambda *args: subprocess.run(["git", "-C", str(study.parent), *args], check=True,  # noqa: E731
                                     capture_output=True, text=True).stdout.strip()
  git("init", "-q")
  git("-c", "user.email=t@example.com", "-c", "user.name=t", "add", "study.gin")
  git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "grid")
  runs = tmp_path / "runs"
  results = runner.run_study(study, runs, stream=io.StringIO())
  record = json.loads((study.parent / "protocol.json").read_text())
  assert record["commit"] == git("rev-parse", "HEAD")
  assert record["runs"] == ["m2/baseline", "m2/l1_l2_w1"]
  finetune = results["m2/l1_l2_w1"]
  assert finetune["protocol"] == {"commit": record["commit"], "post_hoc": False}
  # Selected and tested with the averaged weights, which the run checkpointed.
  assert finetune["selected"]["averaged"]
  averaged = runs / "m2" / "l1_l2_w1" / "checkpoints" / "averaged"
  assert (averaged / f"ckpt-{finetune['selected']['step']}.index").exists()
  assert (runs / "m2" / "l1_l2_w1" / "selection" /
          f"step-{finetune['selected']['step']}-averaged.json").exists()
  # The raw weights of the same run are scored, picked by the same rule and
  # tested too; the report's swing is the largest adjacent change, recomputed
  # here from the cached selection files.
  selection_dir = runs / "m2" / "l1_l2_w1" / "selection"
  msi = {kind: [json.loads((selection_dir / f"step-{step}{suffix}.json").read_text())["MSi"]
                for step in (2, 4)]
         for kind, suffix in (("raw", ""), ("averaged", "-averaged"))}
  assert msi["raw"] != msi["averaged"]
  raw = finetune["raw_weights"]
  assert [c["selection"]["MSi"] for c in raw["checkpoints"]] == msi["raw"]
  assert raw["selected"]["step"] in (2, 4) and raw["test"]["fuss"]["MSi"] is not None
  assert (study.parent / "scores" / "m2" / "l1_l2_w1" / "raw" / "fuss.json").exists()
  averaging = json.loads((study.parent / "results.json").read_text())["averaging"]
  row = averaging["runs"]["m2/l1_l2_w1"]
  assert row["swing_raw_db"] == pytest.approx(abs(msi["raw"][1] - msi["raw"][0]))
  assert row["swing_averaged_db"] == pytest.approx(abs(msi["averaged"][1] - msi["averaged"][0]))
  assert row["test_delta"]["MSi"] == pytest.approx(
      finetune["test"]["fuss"]["MSi"] - raw["test"]["fuss"]["MSi"])
  assert "## Averaged weights against raw weights" in (study.parent / "table.md").read_text()

  # A weight added after the round's test results: post hoc, never shipped.
  with open(study, "a", encoding="utf-8") as f:
    f.write("sound_separation.Study.arms = {'l1_l2': [1.0, 2.0]}\n")
  git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "w2 added")
  results = runner.run_study(study, runs, stream=io.StringIO())
  assert results["m2/l1_l2_w2"]["protocol"]["post_hoc"]
  report = json.loads((study.parent / "results.json").read_text())
  assert report["post_hoc_runs"] == ["m2/l1_l2_w2"]
  assert report["protocol"] == record
  assert report["shipped"] != "m2/l1_l2_w2"
