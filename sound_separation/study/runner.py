"""Runs a study's grid: training, checkpoint selection, test evaluation; resumable.

`run_study(study_file, out_dir)` works through `Study.runs()` in order. For
each run:

1. **Train** with `sound-separation train` in a child process, in
   `<out_dir>/<run>` (recipe + the run's bindings; a fine-tune starts from
   `<results_dir>/baselines/m<M>`). The same command resumes a killed run
   from its last checkpoint; a finished run trains no further.
2. **Evaluate every kept checkpoint** on the selection list (MSi, 1S, TRF,
   under/over-separation), each cached in `<run>/selection/step-<N>.json`.
3. **Select** a checkpoint by the rule of `evaluation/selection.py`. A baseline's
   selected separator is written to `<results_dir>/baselines/m<M>/` (a model
   folder, the fine-tunes' starting point).
4. **Test** the selected checkpoint on the test list (and the MoM, speech and
   enhancement lists the study names), and measure on the selection list's
   MoMs how often efficient MixIT picks the exhaustive mixing matrix
   (`solver_agreement`).
5. Write `<results_dir>/runs/<run>.json`. A run with that file is finished:
   a re-run of the study skips it without loading anything.

Several processes may run the same study at once (e.g. one per core, or
`--only='m8/*'` beside the rest): a run is locked by the process working on
it (`<out_dir>/<run>.lock`), the others take the next run; a killed
process's locks are taken over.

Only the small per-run JSON files and the baselines' separators live in
`results_dir` (committed with the results); checkpoints, logs and caches stay
in `out_dir`.
"""

import fnmatch
import glob
import io
import json
import os
import re
import shutil
import sys
import time
import zlib

import numpy as np
import tensorflow as tf

from sound_separation import filesystem
from sound_separation import run_folder
from sound_separation import gin_utils
from sound_separation.corpus import mom_sets
from sound_separation.data import audio
from sound_separation.data import lists
from sound_separation.evaluation import evaluator
from sound_separation.evaluation import listening
from sound_separation.evaluation import metrics as metrics_lib
from sound_separation.losses import mixture_invariant as mixit_lib
from sound_separation.losses import snr
from sound_separation.models import folders
from sound_separation.study import arms
from sound_separation.study import grid
from sound_separation.study import protocol
from sound_separation.study import report
from sound_separation.evaluation import selection
from sound_separation.training import child_runs
from sound_separation.training import locks

RESULT_VERSION = 1
_CKPT = re.compile(r"ckpt-(\d+)\.index$")


def result_path(results_dir, name):
  return os.path.join(results_dir, "runs", name + ".json")


def baseline_dir(results_dir, num_sources):
  return os.path.join(results_dir, "baselines", f"m{num_sources}")


def scores_path(results_dir, name, task, variant=None):
  """Where a run's per-example test scores of one task live (JSON, committed).

  `variant="raw"`: those of the checkpoint selected among the raw weights of a
  run that averaged its weights (`averaging.py`), in a `raw/` subfolder.
  """
  return os.path.join(results_dir, "scores", name, *((variant,) if variant else ()),
                      task + ".json")


_write_json = run_folder.write_json
_read_json = run_folder.read_json


def train_run(spec, study, run_dir, results_dir, stream, python=sys.executable):
  """Trains (or resumes, or finds finished) one run in a child process (`child_runs.train`).

  Raises:
    RuntimeError: the child failed (naming the run and its log).
  """
  params = list(study.gin_params) + list(spec.gin_params)
  if spec.seed is not None:
    params.append(f"sound_separation.train.seed = {spec.seed}")
  if spec.init_from is not None:
    params.append(f"sound_separation.train.init_checkpoint = "
                  f"{baseline_dir(results_dir, spec.num_sources)!r}")
  child_runs.train(run_dir, [study.recipe], params, spec.name, stream, python=python)


# Kept under their old names: the study's tests and tools use them from here.
TrainClock = child_runs.TrainClock
train_time = child_runs.train_time
kept_checkpoints = child_runs.kept_checkpoints
_Model = child_runs.CheckpointSeparator


def _metrics(summary):
  keep = ("MSi", "1S", "TRF", "MoMi", "S+N", "S-only", "num_examples", "under_separation",
          "equal_separation", "over_separation", "per_source_count")
  return {k: summary.get(k) for k in keep}


def evaluate_checkpoints(model, run_dir, list_path, stream, name, cache_dir=None,
                         averaged=False):
  """Selection-list metrics of every kept checkpoint, cached: `[{step, prefix, metrics}]`.

  With `averaged`, of the run's averaged-weight checkpoints instead
  (`child_runs.kept_checkpoints`). The cache is
  `<cache_dir or run_dir>/selection/step-<N>[-averaged].json`.
  """
  history = []
  for step, prefix in kept_checkpoints(run_dir, averaged=averaged):
    cache = run_folder.selection_cache(cache_dir or run_dir, step, averaged)
    if os.path.exists(cache):
      metrics = _read_json(cache)
    else:
      summary = evaluator.evaluate(model.load(prefix), list_path, "fuss", model.sample_rate,
                                   stream=io.StringIO())
      metrics = _metrics(summary)
      _write_json(cache, metrics)
      print(f"[{name}] step {step} selection list: MSi {_db(metrics['MSi'])}  "
            f"1S {_db(metrics['1S'])}  TRF {_db(metrics['TRF'])}  over-separated "
            f"{metrics['over_separation']}/{metrics['num_examples']}", file=stream, flush=True)
    history.append({"step": step, "prefix": prefix, "metrics": metrics})
  return history


def _db(value):
  return "n/a" if value is None else f"{value:.2f}"


def solver_agreement(model, list_path, max_moms=None, seed=None):
  """How often efficient MixIT picks the exhaustive mixing matrix (paper claim 2).

  The list's mixtures are paired into MoMs, in order (1+2, 3+4, ...) or,
  given a `seed`, in a random order drawn from it (so that each model can be
  measured on MoMs of its own); each MoM is separated and both solvers
  choose the mixing matrix of the two mixtures from the outputs, under the
  thresholded SNR loss of training.

  Returns:
    dict: "num_moms"; "same_matrix" (share with identical matrices);
    "same_loss" (share whose losses agree within 1e-3 dB: a different matrix
    can tie, e.g. by moving a silent output); "mean_gap_db" and
    "max_gap_db" (efficient minus exhaustive loss over the MoMs where they
    differ, dB; 0 where none do).
  """
  examples = lists.read_fuss_list(list_path)
  mixtures = [audio.read_audio(m, model.sample_rate) for m, _ in examples]
  order = mom_sets.pair_indices(len(mixtures), "consecutive" if seed is None else "random",
                                seed=seed or 0)
  pairs = [(mixtures[i], mixtures[j]) for i, j in order]
  if max_moms is not None:
    pairs = pairs[:max_moms]
  loss_fn = snr.get_signal_loss("thresholded_log_mse")
  same_matrix, gaps = 0, []
  for first, second in pairs:
    length = min(len(first), len(second))
    reference = np.stack([first[:length], second[:length]])[np.newaxis]
    estimate = model.separate(reference.sum(axis=1)[0])[np.newaxis]
    reference = tf.constant(reference, tf.float32)
    estimate = tf.constant(estimate, tf.float32)
    losses = {}
    for solver in ("exhaustive", "efficient"):
      # The exhaustive optimum from inner products: the matrix that scoring
      # every one on waveforms picks (test_mixit), without remixing 10 s of
      # audio 2^M times (half an hour per model at M = 16).
      mix = (mixit_lib.solve_exact_gram(reference, estimate, loss_fn) if solver == "exhaustive"
             else mixit_lib.solve_efficient(reference, estimate))
      losses[solver] = (mix.numpy(), float(tf.reduce_mean(
          loss_fn(reference, tf.matmul(mix, estimate)))))
    if np.array_equal(losses["exhaustive"][0], losses["efficient"][0]):
      same_matrix += 1
      gaps.append(0.0)
    else:
      gaps.append(losses["efficient"][1] - losses["exhaustive"][1])
  gaps = np.asarray(gaps)
  differing = gaps[np.abs(gaps) > 1e-3]
  return {"num_moms": len(pairs), "same_matrix": same_matrix / len(pairs),
          "same_loss": float(np.mean(np.abs(gaps) <= 1e-3)),
          "mean_gap_db": float(differing.mean()) if differing.size else 0.0,
          "max_gap_db": float(differing.max()) if differing.size else 0.0}


def _compact(record, list_dir):
  """A metrics record for the results: floats to 4 decimals, paths relative to the list."""
  def round_(value):
    if isinstance(value, float):
      return round(value, 4)
    if isinstance(value, list):
      return [round_(v) for v in value]
    return value
  compact = {k: round_(v) for k, v in record.items()}
  if "mixture" in compact:
    compact["mixture"] = os.path.relpath(compact["mixture"], list_dir)
  return compact


def _write_scores(path, header, records):
  """The scores file: JSON with one record a line (small in git, readable in a diff)."""
  filesystem.makedirs(filesystem.dirname(path))
  lines = ",\n".join(json.dumps(r, sort_keys=True, separators=(",", ":")) for r in records)
  head = json.dumps(header, sort_keys=True)[:-1]
  filesystem.write_text(path, f'{head}, "records": [\n{lines}\n]}}\n')


def read_scores(results_dir, name, task):
  """A run's per-example test records of one task (`metrics.score_*` dicts), or None."""
  path = scores_path(results_dir, name, task)
  return _read_json(path)["records"] if os.path.exists(path) else None


def _test(model, study, run_dir, prefix, stream, name, results_dir, variant=None):
  """Test metrics of the selected checkpoint on each list the study names (cached).

  Every example's scores are kept in `scores_path(results_dir, name, task)`
  (for intervals); the summary is computed from them. `variant="raw"`: the
  checkpoint selected among a run's raw weights, on the test list only (what
  averaging changes, `averaging.py`).
  """
  results = {}
  tasks = (("fuss", study.test_list), ("mom", study.mom_list),
           ("speech", study.speech_list), ("enhancement", study.enhancement_list))
  if variant is not None:
    tasks = tasks[:1]
  step = _CKPT.search(prefix + ".index").group(1)
  label = name if variant is None else f"{name} ({variant} weights)"
  for task, list_path in tasks:
    if not list_path:
      continue
    path = scores_path(results_dir, name, task, variant)
    if os.path.exists(path) and _read_json(path).get("step") == int(step):
      results[task] = _metrics(metrics_lib.summarize(_read_json(path)["records"]))
      continue
    start = time.monotonic()
    records, rows = evaluator.score_examples(model.load(prefix), list_path, task,
                                             model.sample_rate)
    summary = metrics_lib.summarize(records)
    results[task] = _metrics(summary)
    list_dir = os.path.dirname(list_path)
    _write_scores(path, {"run": name, "step": int(step), "task": task,
                         "list": os.path.basename(list_path)},
                  [_compact({"mixture": row["mixture"], **record}, list_dir)
                   for record, row in zip(records, rows)])
    values = "  ".join(f"{k} {_db(summary[k])}" for k in evaluator.METRICS
                       if summary.get(k) is not None)
    print(f"[{label}] test ({task}, {summary['num_examples']} examples, "
          f"{time.monotonic() - start:.0f} s): {values}", file=stream, flush=True)
  return results


def install_baseline(spec, results_dir):
  """Copies a baseline given as a model folder to `baseline_dir` (once); returns that folder."""
  target = baseline_dir(results_dir, spec.num_sources)
  if not os.path.isdir(target):
    partial = target + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(spec.init_model, partial)
    os.replace(partial, target)
  return target


def complete_run(spec, study, out_dir, results_dir, stream, baseline_result=None,
                 fix_protocol=None):
  """Trains, selects, tests one run and writes its result JSON; returns the result.

  `fix_protocol`: for a blind round, `() -> protocol record`, called once the
  run's selection is final and before its test evaluation (`protocol.fix`).
  """
  run_dir = os.path.join(out_dir, spec.name)
  eval_start = None
  if spec.init_model:
    model_dir = install_baseline(spec, results_dir)
    os.makedirs(run_dir, exist_ok=True)
  else:
    train_run(spec, study, run_dir, results_dir, stream)
    model_dir = run_dir
  eval_start = time.monotonic()
  model = _Model(model_dir)
  # A study that averages the weights selects among the averaged checkpoints
  # (a baseline given as a model folder has none).
  averaged = study.ema_momentum is not None and not spec.init_model
  history = evaluate_checkpoints(model, model_dir, study.selection_list, stream, spec.name,
                                 cache_dir=run_dir, averaged=averaged)
  if not history:
    raise RuntimeError(f"run {spec.name} has no checkpoints in {run_dir}/checkpoints")
  if spec.init_from is None:
    reference = selection.best_msi(history, key=lambda h: h["metrics"])
  else:
    reference = baseline_result["selected"]["selection"]["MSi"]
  msi_floor = selection.floor(reference, study.msi_tolerance_db) if reference is not None \
      else float("inf")
  chosen, meets = selection.select(history, msi_floor, key=lambda h: h["metrics"])
  raw_history = raw_chosen = None
  if averaged:
    # The same rule over the same run's raw weights: what averaging changes
    # (swing between checkpoints, the pick, its test numbers; `averaging.py`).
    raw_history = evaluate_checkpoints(model, model_dir, study.selection_list, stream,
                                       f"{spec.name} (raw weights)", cache_dir=run_dir)
    raw_chosen, raw_meets = selection.select(raw_history, msi_floor, key=lambda h: h["metrics"])
  print(f"[{spec.name}] selected step {chosen['step']} (TRF {_db(chosen['metrics']['TRF'])}, "
        f"MSi {_db(chosen['metrics']['MSi'])} dB against the floor {msi_floor:.2f} dB"
        f"{'' if meets else ': no checkpoint reaches it'})", file=stream, flush=True)
  if spec.init_from is None and not spec.init_model:
    model.load(chosen["prefix"])
    target = baseline_dir(results_dir, spec.num_sources)
    if os.path.isdir(target):
      for old in glob.glob(os.path.join(run_folder.checkpoints(target), "*")):
        os.remove(old)
    folders.save_separator(model.separator, target, model.sample_rate, step=chosen["step"])
  record = fix_protocol() if fix_protocol is not None else None
  if protocol.is_post_hoc(record, spec.name):
    print(f"[{spec.name}] post hoc: not in the round's protocol (commit "
          f"{record['commit'][:10]}), so it can never ship", file=stream, flush=True)
  test = _test(model, study, run_dir, chosen["prefix"], stream, spec.name, results_dir)
  raw_weights = None
  if averaged:
    raw_weights = {
        "selected": {"step": raw_chosen["step"], "meets_floor": raw_meets,
                     "selection": raw_chosen["metrics"]},
        "checkpoints": [{"step": h["step"], "selection": h["metrics"]} for h in raw_history],
        "test": _test(model, study, run_dir, raw_chosen["prefix"], stream, spec.name,
                      results_dir, variant="raw")}
  # Each model's own random MoMs when the study is seeded (round 2 on); in
  # list order otherwise, as the first round measured it.
  agreement = solver_agreement(
      model.load(chosen["prefix"]), study.selection_list,
      seed=None if study.seed is None else zlib.crc32(spec.name.encode()))
  print(f"[{spec.name}] efficient MixIT picks the exhaustive matrix on "
        f"{agreement['same_matrix']:.0%} of {agreement['num_moms']} selection MoMs "
        f"(same loss on {agreement['same_loss']:.0%})", file=stream, flush=True)
  result = {
      "version": RESULT_VERSION,
      "run": spec._asdict(),
      "msi_floor": msi_floor,
      "reference_msi": reference,
      "selected": {"step": chosen["step"], "meets_floor": meets,
                   "selection": chosen["metrics"], "averaged": averaged},
      "checkpoints": [{"step": h["step"], "selection": h["metrics"]} for h in history],
      "test": test,
      "solver_agreement": agreement,
  }
  if raw_weights is not None:
    result["raw_weights"] = raw_weights
  if record is not None:
    result["protocol"] = protocol.stamp(record, spec.name)
  if study.seed is not None:  # Round 2 on: compute spent (round 1 did not record it).
    result["compute"] = {"train_seconds": round(train_time(run_dir)["seconds"], 1),
                         "train_invocations": train_time(run_dir)["invocations"],
                         "evaluation_seconds": round(time.monotonic() - eval_start, 1),
                         "steps": spec.num_steps}
  _write_json(result_path(results_dir, spec.name), result)
  return result


def run_lock(out_dir, name):
  """`<out_dir>/<run>.lock`: one study process per run, so several can share a study.

  A `training.locks.FileLock` (holder's host, pid, command); a lock whose
  process is gone is taken over.
  """
  return locks.FileLock(os.path.join(out_dir, name + ".lock"), f"study run {name}")


LISTEN_FOLDER = "listen"
LISTEN_MIXTURES = 4


def _listening_models(study, specs, results, out_dir, results_dir):
  """`[(title, model dir, checkpoint prefix, run name, step)]`: what the listening page plays."""
  chosen_names = {name for name, _, _ in report.chosen_rows(study, specs, results)}
  m = min(study.num_sources)
  wanted = [("MixIT baseline", f"m{m}/baseline"), ("MixIT continued (control)", f"m{m}/mixit_w0")]
  sparse = [n for n in chosen_names if n.startswith(f"m{m}/l1_l2_w")]
  semantic = [n for n in chosen_names if n.startswith(f"m{m}/")
              and results[n]["run"]["arm"] in arms.semantic_names()]
  if sparse:
    wanted.append(("chosen L1/L2 sparsity", sparse[0]))
  if semantic:
    best = max(semantic, key=lambda n: results[n]["selected"]["selection"]["TRF"] or -1e9)
    wanted.append((f"best semantic ({results[best]['run']['arm']})", best))
  models = []
  for title, name in wanted:
    result = results.get(name)
    if result is None:
      continue
    step = result["selected"]["step"]
    folder = (baseline_dir(results_dir, m) if name.endswith("/baseline")
              else os.path.join(out_dir, name))
    # A baseline's folder holds its selected weights as a plain checkpoint.
    averaged = result["selected"].get("averaged", False) and not name.endswith("/baseline")
    prefix = dict(kept_checkpoints(folder, averaged=averaged)).get(step)
    if prefix is None:  # the run folder is not on this machine
      return None
    models.append((title, folder, prefix, name, step))
  return models


def write_listening_page(study, specs, results, out_dir, results_dir, stream):
  """`<results_dir>/listen/index.html`: test mixtures through each key model, to hear them.

  The same `LISTEN_MIXTURES` test mixtures (spread over the list) through the
  baseline, the control, the chosen L1/L2 model and the best semantic model
  at the smallest M (those that are finished), outputs as Ogg Vorbis. Written
  again only when that set of models changes (`listen/models.json`), and only
  where the runs' folders are on this machine.
  """
  models = _listening_models(study, specs, results, out_dir, results_dir)
  if not models:
    return None
  folder = os.path.join(results_dir, LISTEN_FOLDER)
  record = [[title, name, step] for title, _, _, name, step in models]
  manifest = os.path.join(folder, "models.json")
  if os.path.exists(manifest) and _read_json(manifest) == record:
    return None
  examples = lists.read_fuss_list(study.test_list)
  chosen = evaluator.sample_indices(len(examples), LISTEN_MIXTURES)
  loaded = [(title, _Model(path).load(prefix)) for title, path, prefix, _, _ in models]
  rate = loaded[0][1].sample_rate
  page = listening.ListeningPage(
      f"{study.name}: listen", "The same test mixtures through the baseline, the MixIT-only "
      "control, the L1/L2 model the selection rule chose and the best semantic model "
      f"({', '.join(f'{n} at step {s}' for _, n, s in record)}). Outputs are marked active "
      "or silent by the evaluator's rule; each model's MSi or 1S on the mixture is listed.",
      audio_format="ogg")
  shutil.rmtree(folder, ignore_errors=True)
  for number in chosen:
    mixture_path, source_paths = examples[number - 1]
    mixture = audio.read_audio(mixture_path, rate)
    sources = np.stack([audio.read_audio(p, rate) for p in source_paths])
    tracks = [listening.Track("mixture", None, mixture, rate)]
    scores = {"references": str(len(source_paths))}
    for title, model in loaded:
      estimates = model.separate(mixture)
      record_ = metrics_lib.score_example(mixture, sources, estimates)
      active = metrics_lib.active_outputs(estimates, sources)
      value = record_["MSi"] if record_["MSi"] is not None else record_["1S"]
      scores[title] = ("–" if value is None else
                       f"{'MSi' if record_['MSi'] is not None else '1S'} {value:.1f} dB, "
                       f"{record_['num_active_outputs']} active")
      tracks += [listening.Track(f"{title} · {j + 1}", None, e, rate, active=bool(a))
                 for j, (e, a) in enumerate(zip(estimates, active))]
    page.add(f"Test mixture {number}: {os.path.basename(mixture_path)}", tracks, scores)
  written = page.write(folder)
  _write_json(manifest, record)
  print(f"Listening page: {os.path.relpath(written)}", file=stream, flush=True)
  return written


def _refresh_status(study, specs, results_dir):
  """Rewrites the README's status block from every finished run's result file.

  A round spans sessions and its full report is written only when a pass
  over the grid ends, so each finished run updates the counts at once (other
  processes' runs included); nothing else of the report is touched.
  """
  finished = {s.name: _read_json(result_path(results_dir, s.name)) for s in specs
              if os.path.exists(result_path(results_dir, s.name))}
  report.write_readme_blocks(os.path.join(results_dir, "README.md"),
                             {"status": report.status_lines(study, specs, finished)})


def run_study(study_file, out_dir, results_dir=None, gin_params=(), only=None, stream=None,
              train_only=False):
  """Runs (or resumes, or re-reports) a study; writes the report.

  Args:
    study_file: the study's gin file (binds `sound_separation.Study`).
    out_dir: the folder of the training runs (large; not committed).
    results_dir: where per-run results, baselines and the report go
      (default: the study file's folder).
    gin_params: bindings applied after the study file (e.g. list paths).
    only: a shell pattern of run names (e.g. 'm4/*'): train only those; the
      report covers every finished run.
    stream: progress (default stdout).
    train_only: only train (or resume) the runs that can start (fine-tunes
      of a baseline that is selected or given as a model folder); select,
      test and report nothing. A later run without it evaluates them.

  Returns:
    `{run name: result}` of the finished runs.
  """
  stream = stream or sys.stdout
  study_file = os.path.abspath(study_file)
  results_dir = os.path.abspath(results_dir or os.path.dirname(study_file))
  out_dir = os.path.abspath(out_dir)
  gin_utils.parse_gin([study_file], [f"sound_separation.Study.results_root = "
                                     f"{os.path.dirname(study_file)!r}"] + list(gin_params))
  study = grid.Study()
  specs = study.runs()
  for spec in specs:
    if spec.init_model:
      install_baseline(spec, results_dir)
  fix_protocol = None
  if study.blind:
    names = [spec.name for spec in specs]
    fix_protocol = lambda: protocol.fix(results_dir, study_file, names)  # noqa: E731
  results = {}
  for spec in specs:
    path = result_path(results_dir, spec.name)
    if os.path.exists(path):
      results[spec.name] = _read_json(path)
      print(f"[{spec.name}] finished ({os.path.relpath(path)})", file=stream, flush=True)
      continue
    if only is not None and not fnmatch.fnmatch(spec.name, only):
      continue
    baseline_ready = spec.init_from is None or os.path.isdir(
        baseline_dir(results_dir, spec.num_sources))
    if train_only:
      if spec.init_model:
        continue
      if not baseline_ready:
        print(f"[{spec.name}] waiting for {spec.init_from}", file=stream, flush=True)
        continue
    elif spec.init_from is not None and spec.init_from not in results:
      base_path = result_path(results_dir, spec.init_from)
      if not os.path.exists(base_path):  # another process may have finished it
        print(f"[{spec.name}] waiting for {spec.init_from}", file=stream, flush=True)
        continue
      results[spec.init_from] = _read_json(base_path)
    lock = run_lock(out_dir, spec.name)
    if not lock.try_acquire(stream):
      print(f"[{spec.name}] in progress in {lock.describe(lock.holder())}", file=stream,
            flush=True)
      continue
    try:
      if train_only:
        train_run(spec, study, os.path.join(out_dir, spec.name), results_dir, stream)
        continue
      if os.path.exists(path):  # finished by another process meanwhile
        results[spec.name] = _read_json(path)
        continue
      results[spec.name] = complete_run(spec, study, out_dir, results_dir, stream,
                                        results.get(spec.init_from), fix_protocol)
      _refresh_status(study, specs, results_dir)
    finally:
      lock.release()
  if train_only:
    return results
  for spec in specs:  # runs other processes finished meanwhile
    path = result_path(results_dir, spec.name)
    if spec.name not in results and os.path.exists(path):
      results[spec.name] = _read_json(path)
  written = report.write_report(study, specs, results, results_dir, study_file,
                                lambda name, task: read_scores(results_dir, name, task))
  if study.seed is not None:
    page = write_listening_page(study, specs, results, out_dir, results_dir, stream)
    written += [page] if page else []
  print(f"Report: {', '.join(os.path.relpath(p) for p in written)}", file=stream, flush=True)
  return results
