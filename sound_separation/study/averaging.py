"""What averaged weights change in a study (docs/study.md#averaged-weights).

A study with `Study.ema_momentum` selects among each run's averaged
checkpoints; the runner also scores the same run's raw checkpoints on the
selection list, applies the same rule to them and tests that pick on the test
list (`result["raw_weights"]`). Two things are compared, run by run:

- the **swing**: the largest change of selection MSi (dB) between adjacent
  kept checkpoints of a run (and the mean change). A large swing means a
  pick depends on which checkpoint happened to be saved; round 2's shipped
  run swung 1.56 dB between neighbours. The target is a swing of at most
  `TARGET_SWING_DB` with averaged weights (the mean over runs);
- the **test effect**: test MSi, 1S and TRF of the averaged pick minus those
  of the raw pick, with a Student-t 95 % interval over the runs (each run is
  one paired unit; the runs differ in arm, weight and seed).
"""

import math

from sound_separation.study import intervals

TARGET_SWING_DB = 0.5
METRICS = ("MSi", "1S", "TRF")


def swing(values):
  """`(largest, mean)` |change| between adjacent values (dB); `(None, None)` with < 2.

  values: a run's selection MSi at its kept checkpoints, by step (None or
  non-finite values are left out, joining their neighbours).
  """
  kept = [v for v in values if v is not None and math.isfinite(v)]
  steps = [abs(b - a) for a, b in zip(kept, kept[1:])]
  if not steps:
    return None, None
  return max(steps), sum(steps) / len(steps)


def _msi(checkpoints):
  return [c["selection"].get("MSi") for c in sorted(checkpoints, key=lambda c: c["step"])]


def compare(results):
  """Raw against averaged weights over the runs that have both; None without any.

  results: `{run name: run result}` (`runner.complete_run`). Returns
  `{"runs": {name: {...}}, "swing": {...}, "test": {metric: {...}}}`: per run
  the two swings, the two picks' steps and the test differences; over runs
  the mean swings with their paired difference (averaged − raw, Student-t
  interval), whether the averaged swing meets `TARGET_SWING_DB`, and each test
  metric's mean difference (averaged − raw) with its interval.
  """
  runs = {}
  for name, result in sorted(results.items()):
    raw = result.get("raw_weights")
    if raw is None:
      continue
    raw_max, raw_mean = swing(_msi(raw["checkpoints"]))
    avg_max, avg_mean = swing(_msi(result["checkpoints"]))
    test_raw, test_avg = raw["test"].get("fuss", {}), result["test"].get("fuss", {})
    runs[name] = {
        "swing_raw_db": raw_max, "swing_averaged_db": avg_max,
        "mean_change_raw_db": raw_mean, "mean_change_averaged_db": avg_mean,
        "step_raw": raw["selected"]["step"], "step_averaged": result["selected"]["step"],
        "test_delta": {m: (test_avg[m] - test_raw[m]
                           if test_avg.get(m) is not None and test_raw.get(m) is not None
                           else None) for m in METRICS}}
  if not runs:
    return None

  def interval(values):
    mean, low, high = intervals.seed_interval(values)
    return {"mean": mean, "low": low, "high": high,
            "n": sum(v is not None for v in values)}

  rows = list(runs.values())
  paired = [r["swing_averaged_db"] - r["swing_raw_db"] for r in rows
            if r["swing_averaged_db"] is not None and r["swing_raw_db"] is not None]
  averaged = interval([r["swing_averaged_db"] for r in rows])
  return {
      "runs": runs,
      "swing": {"raw": interval([r["swing_raw_db"] for r in rows]),
                "averaged": averaged,
                "averaged_minus_raw": interval(paired),
                "target_db": TARGET_SWING_DB,
                "meets_target": (averaged["mean"] is not None
                                 and averaged["mean"] <= TARGET_SWING_DB)},
      "test": {m: interval([r["test_delta"][m] for r in rows]) for m in METRICS}}


def _cell(stat):
  if stat["mean"] is None:
    return "–"
  if stat["low"] is None:
    return f"{stat['mean']:+.2f} (one run)"
  return f"{stat['mean']:+.2f} [{stat['low']:+.2f}, {stat['high']:+.2f}]"


def _db(value):
  return "–" if value is None else f"{value:.2f}"


def report_lines(comparison):
  """Markdown: the per-run table and the summary of `compare`'s result."""
  swing_ = comparison["swing"]
  lines = ["| run | swing raw | swing averaged | step raw → averaged | ΔMSi | Δ1S | ΔTRF |",
           "|---|---|---|---|---|---|---|"]
  for name, r in comparison["runs"].items():
    deltas = " | ".join("–" if r["test_delta"][m] is None else f"{r['test_delta'][m]:+.2f}"
                        for m in METRICS)
    lines.append(f"| {name} | {_db(r['swing_raw_db'])} | {_db(r['swing_averaged_db'])} | "
                 f"{r['step_raw']} → {r['step_averaged']} | {deltas} |")
  n = swing_["averaged"]["n"]
  lines += ["",
            f"Swing: the largest change of selection MSi between adjacent checkpoints of a run "
            f"(dB). Over {n} runs: raw {_db(swing_['raw']['mean'])}, averaged "
            f"{_db(swing_['averaged']['mean'])} dB; averaged − raw "
            f"{_cell(swing_['averaged_minus_raw'])} dB. Target ≤ {swing_['target_db']:g} dB: "
            f"{'met' if swing_['meets_target'] else 'not met'}.",
            "Test (Δ: the averaged pick minus the raw pick, mean over runs [95 % Student-t "
            "interval over runs]): " + ", ".join(
                f"{m} {_cell(comparison['test'][m])} dB" for m in METRICS) + "."]
  return lines
