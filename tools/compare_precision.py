#!/usr/bin/env python
"""Does mixed bfloat16 train as well as float32? Both from the same start, side by side.

For each seed, the same recipe is trained once in float32 and once in mixed
bfloat16 (`train.precision`): the same `train.seed`, so the same initial
weights and the same batches in the same order; only the arithmetic differs.
Runs go seed by seed (float32, then bfloat16), so a budget cut short still
leaves pairs. Every kept checkpoint is scored on the selection list (MSi,
1S, TRF) as the run folder loads, which is what `separate` does with it: the
bfloat16 run's separator computes in mixed bfloat16 there too, so the
comparison is end to end. The training loss is read from each run's progress
events.

Reported (printed and in the JSON): per precision and checkpoint step, the
mean over seeds with the seed spread (min–max); per seed, bfloat16 − float32
at each step; each run's wall seconds per step after a warm-up and its CPU
time. Figures: the loss curves and the selection metrics against the step.

  python tools/compare_precision.py --data DEV --train_list study2/train_clip_list.txt \\
      --selection_list study2/selection_list.txt --runs_dir RUNS/precision \\
      [--model_gin models/tdcnpp_m8] [--seeds 1 2] [--steps 1000] \\
      [--steps_per_checkpoint 250] [--out bench_results/precision_training.json]

Resumable: run it again; finished runs only re-score from their caches.
Give it the cores alone: each run's step time is part of the result.
"""

import argparse
import json
import os
import sys

import bench_common  # tools/, the scripts' own folder

from sound_separation import filesystem
from sound_separation.study import figure
from sound_separation.study import runner
from sound_separation.training import child_runs
from sound_separation.training import progress

PRECISIONS = ("float32", "mixed_bfloat16")
WARMUP = 20


def run_name(precision, seed):
  return f"{precision}_s{seed}"


def _loss_curve(run_dir):
  """`[(step, loss)]` from a run's `step` events (the last event of a step wins)."""
  curve = {}
  for event in progress.ProgressFile(run_dir).read_new():
    if event["event"] == "step" and "loss" in event.get("metrics", {}):
      curve[event["step"]] = event["metrics"]["loss"]
  return sorted(curve.items())


def _speed(run_dir):
  """Wall seconds per step after `WARMUP`, or None (too short, or resumed)."""
  try:
    return progress.seconds_per_step_after(progress.ProgressFile(run_dir).read_new(), WARMUP)
  except ValueError:
    return None


def _spread(values):
  values = [v for v in values if v is not None]
  if not values:
    return None
  return {"mean": sum(values) / len(values), "min": min(values), "max": max(values),
          "n": len(values)}


def summarize(runs, seeds):
  """Per precision and step: the seed mean and spread; per seed: bfloat16 − float32."""
  steps = sorted({c["step"] for r in runs.values() for c in r["checkpoints"]})
  by_step = {}
  for step in steps:
    row = {}
    for precision in PRECISIONS:
      values = {m: [] for m in ("MSi", "1S", "TRF")}
      for seed in seeds:
        run = runs.get(run_name(precision, seed))
        point = next((c for c in run["checkpoints"] if c["step"] == step), None) if run else None
        for m in values:
          values[m].append(point[m] if point else None)
      row[precision] = {m: _spread(v) for m, v in values.items()}
    differences = {}
    for seed in seeds:
      pair = [runs.get(run_name(p, seed)) for p in PRECISIONS]
      points = [next((c for c in r["checkpoints"] if c["step"] == step), None) if r else None
                for r in pair]
      if all(points) and all(p["MSi"] is not None for p in points):
        differences[str(seed)] = {m: points[1][m] - points[0][m] for m in ("MSi", "1S", "TRF")
                                  if points[0][m] is not None and points[1][m] is not None}
    row["bfloat16_minus_float32"] = differences
    by_step[str(step)] = row
  return by_step


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  bench_common.add_training_arguments(parser)
  parser.add_argument("--recipe", default="studies/small_recipe")
  parser.add_argument("--model_gin", default="models/tdcnpp_m8",
                      help="the separator's size (default: the paper's, M = 8)")
  parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
  parser.add_argument("--steps", type=int, default=1000)
  parser.add_argument("--steps_per_checkpoint", type=int, default=250)
  parser.add_argument("--gin_param", action="append", default=[],
                      help="further bindings for every run (repeatable)")
  parser.add_argument("--out", default="bench_results/precision_training.json")
  args = parser.parse_args(argv)
  if args.steps < 1 or args.steps_per_checkpoint < 1 or args.steps % args.steps_per_checkpoint:
    parser.error(f"--steps ({args.steps}) must be a positive multiple of "
                 f"--steps_per_checkpoint ({args.steps_per_checkpoint})")
  lists = bench_common.corpus_lists(parser, args)
  params = [f"sound_separation.training_dataset.unsupervised_list = {lists['train_list']!r}",
            f"sound_separation.train.num_steps = {args.steps}",
            f"sound_separation.train.steps_per_checkpoint = {args.steps_per_checkpoint}",
            f"sound_separation.train.keep_checkpoint_every_steps = {args.steps_per_checkpoint}",
            "sound_separation.train.log_every = 10"] + args.gin_param
  runs = {}
  for seed in args.seeds:
    for precision in PRECISIONS:
      name = run_name(precision, seed)
      run_dir = os.path.join(os.path.abspath(args.runs_dir), name)
      done = max((s for s, _ in child_runs.kept_checkpoints(run_dir)), default=0)
      if done < args.steps:
        child_runs.train(run_dir, [args.recipe, args.model_gin], params + [
            f"sound_separation.train.seed = {seed}",
            f"sound_separation.train.precision = {precision!r}"], name, sys.stdout)
      history = runner.evaluate_checkpoints(child_runs.CheckpointSeparator(run_dir), run_dir,
                                            lists["selection_list"], sys.stdout, name)
      clock = child_runs.train_time(run_dir)
      runs[name] = {
          "precision": precision, "seed": seed, "seconds_per_step": _speed(run_dir),
          "cpu_seconds": clock.get("cpu_seconds"), "wall_seconds": clock["seconds"],
          "loss": _loss_curve(run_dir),
          "checkpoints": [{"step": h["step"], **{m: h["metrics"][m] for m in ("MSi", "1S", "TRF")}}
                          for h in history]}
  summary = summarize(runs, args.seeds)
  record = {"machine": bench_common.machine(), "recipe": args.recipe,
            "model_gin": args.model_gin, "steps": args.steps, "seeds": args.seeds,
            "params": params, "runs": runs, "by_step": summary}
  filesystem.write_text(args.out, json.dumps(record, indent=1, sort_keys=True) + "\n")

  print(f"\n{'step':>6}  {'precision':<15}{'MSi mean [min, max]':>24}{'1S mean [min, max]':>24}")
  for step, row in summary.items():
    for precision in PRECISIONS:
      cells = []
      for m in ("MSi", "1S"):
        s = row[precision][m]
        cells.append(f"{s['mean']:.2f} [{s['min']:.2f}, {s['max']:.2f}]" if s else "–")
      print(f"{step:>6}  {precision:<15}{cells[0]:>24}{cells[1]:>24}")
  for name, run in runs.items():
    speed = run["seconds_per_step"]
    print(f"{name}: {'–' if speed is None else f'{speed:.3f}'} s/step after step {WARMUP}")
  stem = os.path.splitext(args.out)[0]
  try:
    figure.plot_curves({n: [(s, {"loss": v}) for s, v in r["loss"]] for n, r in runs.items()},
                       stem + "_loss.png", metrics=("loss",), x_label="step",
                       y_label="training {metric}", title="float32 vs mixed bfloat16: loss")
    figure.plot_curves({n: [(c["step"], c) for c in r["checkpoints"]] for n, r in runs.items()},
                       stem + "_selection.png", metrics=("MSi", "1S"), x_label="step",
                       title="float32 vs mixed bfloat16: selection list")
  except figure.MissingDependency as e:
    print(f"figures not written: {e}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
