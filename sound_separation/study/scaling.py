"""A scaling probe: separator sizes trained for the same CPU time, scored on the selection list.

Which size to train for shipping, when the budget is CPU time? A larger
TDCN++ learns more per step but takes fewer steps in the same time. The
probe trains each size from scratch with the recipe (MixIT alone in round 3)
for `cpu_hours` on one core, keeps a checkpoint every tenth of the budget,
scores each on the selection list (MSi, 1S, TRF) and picks a size by
`choose`: the highest best selection MSi; a smaller size within
`TIE_DB` of it wins instead, since it trains more steps in any later budget.

The time is turned into steps before training (`child_runs.time_steps` on
the same bindings), so a run is a fixed number of steps that resumes like any
other; the CPU time it really took (`train_time`) is recorded beside and is
the figure's x axis. Run it pinned to a core with one TensorFlow thread
(`taskset -c K`, `TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1`): the
plan prices a step in wall time, which equals CPU time only there.

Files: `<runs_dir>/<size>/` the training run (`plan.json`: the timing and
the step count); `<out_dir>/scaling.json` (every size's plan, CPU time,
parameters and selection history, and the pick) and `scaling.png`.
"""

import json
import os
import sys
import typing

from sound_separation import filesystem
from sound_separation import run_folder
from sound_separation.study import figure
from sound_separation.study import runner
from sound_separation.training import child_runs

# Sizes of the TDCN++ (docs/models.md): round 2's separator, twice as wide,
# and twice as wide and deep.
SIZES = {
    "S": {"bottleneck": 64, "conv_channels": 128, "num_repeats": 2},
    "W": {"bottleneck": 128, "conv_channels": 256, "num_repeats": 2},
    "D": {"bottleneck": 128, "conv_channels": 256, "num_repeats": 4},
}
TIE_DB = 0.3
NUM_CHECKPOINTS = 10
PLAN_FILE = "plan.json"


class Plan(typing.NamedTuple):
  seconds_per_step: float  # wall seconds per step measured before training
  num_steps: int
  steps_per_checkpoint: int


def size_bindings(size):
  """gin bindings of one size of `SIZES`."""
  if size not in SIZES:
    raise ValueError(f"unknown size {size!r}; the sizes are {', '.join(SIZES)}")
  return [f"sound_separation.TDCNPlusPlus.{k} = {v}" for k, v in SIZES[size].items()]


def plan_steps(cpu_seconds, seconds_per_step, num_checkpoints=NUM_CHECKPOINTS):
  """`Plan`: the steps `cpu_seconds` buy at `seconds_per_step`, a multiple of the checkpoint spacing.

  The spacing is a tenth of the expected steps rounded to 10 (at least 10);
  the step count is the nearest multiple of it (at least one spacing).
  """
  if not (cpu_seconds > 0 and seconds_per_step > 0):
    raise ValueError(f"need a positive budget and step time, got {cpu_seconds!r} s and "
                     f"{seconds_per_step!r} s/step")
  expected = cpu_seconds / seconds_per_step
  every = max(10, int(round(expected / num_checkpoints / 10.0)) * 10)
  return Plan(seconds_per_step, every * max(1, int(round(expected / every))), every)


def choose(best_msi, parameters, tie_db=TIE_DB):
  """The picked size: the highest best MSi, or the smallest within `tie_db` dB of it.

  Args:
    best_msi: `{size: best selection MSi (dB)}`.
    parameters: `{size: parameter count}` (what "smaller" means).
  """
  scored = {s: v for s, v in best_msi.items() if v is not None}
  if not scored:
    return None
  top = max(scored.values())
  close = [s for s, v in scored.items() if v >= top - tie_db]
  return min(close, key=lambda s: (parameters[s], s))


def _plan(run_dir, recipe, params, cpu_seconds, stream, python, env):
  path = filesystem.join(run_dir, PLAN_FILE)
  if filesystem.exists(path):
    return Plan(**run_folder.read_json(path))
  print(f"[{os.path.basename(run_dir)}] timing 30 steps...", file=stream, flush=True)
  seconds = child_runs.time_steps(run_dir + ".timing", [recipe], params, python=python, env=env)
  plan = plan_steps(cpu_seconds, seconds)
  os.makedirs(run_dir, exist_ok=True)
  run_folder.write_json(path, plan._asdict())
  return plan


def run_probe(recipe, params, selection_list, runs_dir, out_dir, sizes=tuple(SIZES),
              cpu_hours=1.0, stream=None, python=None, env=None):
  """Trains (or resumes) each size, scores its checkpoints, writes the JSON and figure.

  Args:
    recipe: the gin file every size trains with.
    params: its bindings (data, M, seed), the size's added per run.
    selection_list: the FUSS-format list checkpoints are scored on.
    runs_dir: the runs' folders (large; not committed).
    out_dir: where `scaling.json` and `scaling.png` go.
    sizes: names of `SIZES`, trained in this order.
    cpu_hours: each size's budget.

  Returns:
    the `scaling.json` record.
  """
  stream = stream or sys.stdout
  python = python or sys.executable
  record = {"cpu_hours_budget": cpu_hours, "recipe": recipe, "params": list(params),
            "selection_list": selection_list, "tie_db": TIE_DB, "sizes": {}}
  for size in sizes:
    run_dir = os.path.join(runs_dir, size)
    size_params = list(params) + size_bindings(size)
    plan = _plan(run_dir, recipe, size_params, cpu_hours * 3600, stream, python, env)
    done = max((s for s, _ in child_runs.kept_checkpoints(run_dir)), default=0)
    if done < plan.num_steps:
      print(f"[{size}] {plan.num_steps} steps at {plan.seconds_per_step:.3f} s/step "
            f"({done} done)", file=stream, flush=True)
      child_runs.train(run_dir, [recipe], size_params + [
          f"sound_separation.train.num_steps = {plan.num_steps}",
          f"sound_separation.train.steps_per_checkpoint = {plan.steps_per_checkpoint}",
          f"sound_separation.train.keep_checkpoint_every_steps = {plan.steps_per_checkpoint}"],
          size, stream, python=python, env=env)
    model = child_runs.CheckpointSeparator(run_dir)
    history = runner.evaluate_checkpoints(model, run_dir, selection_list, stream, size)
    clock = child_runs.train_time(run_dir)
    # The child's CPU time comes from /proc (Linux); elsewhere only wall time
    # is known, and the record says which it used.
    cpu, clock_kind = clock.get("cpu_seconds"), "cpu"
    if not cpu:
      cpu, clock_kind = clock["seconds"], "wall (no CPU clock on this system)"
      print(f"[{size}] no CPU time recorded: the figure uses wall time", file=stream)
    last_step = history[-1]["step"] if history else plan.num_steps
    record["sizes"][size] = {
        **SIZES[size], "parameters": int(model.separator.count_params()),
        "plan": plan._asdict(), "cpu_seconds": cpu, "clock": clock_kind,
        "wall_seconds": clock["seconds"],
        "checkpoints": [{"step": h["step"], "cpu_hours": cpu / 3600 * h["step"] / last_step,
                         **{m: h["metrics"][m] for m in ("MSi", "1S", "TRF")}}
                        for h in history]}
  best = {s: max((c["MSi"] for c in r["checkpoints"] if c["MSi"] is not None), default=None)
          for s, r in record["sizes"].items()}
  record["best_msi"] = best
  record["chosen"] = choose(best, {s: r["parameters"] for s, r in record["sizes"].items()})
  os.makedirs(out_dir, exist_ok=True)
  filesystem.write_text(os.path.join(out_dir, "scaling.json"),
                        json.dumps(record, indent=1, sort_keys=True) + "\n")
  curves = {f"{s} ({r['parameters'] / 1e6:.2f}M params)":
            [(c["cpu_hours"], c) for c in r["checkpoints"]] for s, r in record["sizes"].items()}
  try:
    figure.plot_curves(curves, os.path.join(out_dir, "scaling.png"),
                       title=f"Scaling probe: {cpu_hours:g} CPU-hour(s) per size; "
                             f"picked {record['chosen']}")
  except figure.MissingDependency as e:
    print(f"figure not written: {e}", file=stream)
  print("Best selection MSi: " + ", ".join(f"{s} {v:.2f} dB" for s, v in best.items()
                                            if v is not None)
        + f"; picked {record['chosen']}.", file=stream, flush=True)
  return record

