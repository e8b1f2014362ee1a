#!/usr/bin/env python
"""Scores the adaptation evidence runs on reference sets; writes results/adapt/ (issue 28).

The runs are `sound-separation adapt` runs made as `results/adapt/plan.md`
says, in `RUNS/<domain>_s<seed>` (domain `speech` or `outdoor`; MixIT alone)
and `RUNS/<domain>_sparse_s<seed>` (the sparsity arm of the plan's amendment
2, `--sparsity_weight=5`). A group is a domain and an arm. For each
finished run (one with `report.json`) and for the starting model, this tool
scores the run's own pick (its held-out MoMi choice: nothing here changes
it) on the domain's reference sets and on the FUSS-style set, and every kept
checkpoint on the domain's main set (the curve). Scores are cached per
checkpoint and set in `RUNS/<run>/reference/`; every example's scores of the
start and the picks are kept in `results/adapt/scores/` for intervals.

Writes `results/adapt/results.json`, `README.md` (generated from it) and
`curve.png`, and applies the amendment's rule for the default recipe's
sparsity once both speech arms have their seeds. Running it again scores
only what is new.

  python tools/adapt_evidence.py --runs_dir RUNS --corpus DEV [--results results/adapt]
"""

import argparse
import math
import os
import re
import sys

from sound_separation import run_folder
from sound_separation.evaluation import evaluator
from sound_separation.evaluation import metrics as metrics_lib
from sound_separation.study import intervals
from sound_separation.training import child_runs

# Reference sets: (name, list relative to the corpus, evaluation task). The
# first of a domain is its main set: the curve's, and the headline.
SETS = {
    "speech": [("speech_clean", "speech/validation_clean_example_list.txt", "speech"),
               ("speech_noisy", "speech/validation_example_list.txt", "speech"),
               ("fuss", "fuss_like/validation_example_list.txt", "fuss")],
    "outdoor": [("outdoor", "adapt/outdoor/validation_example_list.txt", "fuss"),
                ("fuss", "fuss_like/validation_example_list.txt", "fuss")],
}
METRICS = ("MSi", "1S", "TRF", "over_separation", "under_separation")
SHARES = ("over_separation", "under_separation")  # % of the examples
TARGET_MSI_DB = 6.0
# plan.md: the command's own timing of the shipped model's step on one core
# here (two probes side by side), which turned the CPU-hour budgets into steps.
PLAN_SECONDS_PER_STEP = 0.639
# The seeds results/adapt/plan.md runs per domain; fewer finished are reported as partial.
PLAN_SEEDS = {"speech": 3, "outdoor": 3, "speech_sparse": 3}
ARMS = {"": "MixIT alone", "_sparse": "MixIT + sparsity (--sparsity_weight=5)"}
_RUN = re.compile(r"^((speech|outdoor)(_sparse)?)_s(\d+)$")
# Plan amendment 2: the sparsity arm becomes the default recipe only if its
# seed mean of this metric on this set beats MixIT alone's and the paired
# interval of the difference excludes 0.
DECISION = {"group": "speech_sparse", "against": "speech", "set": "speech_clean",
            "metric": "MSi"}


def _compact(record):
  """A record with floats rounded (the scores files stay small)."""
  def round_(value):
    if isinstance(value, float):
      return None if not math.isfinite(value) else round(value, 4)
    if isinstance(value, list):
      return [round_(v) for v in value]
    return value
  return {k: round_(v) for k, v in record.items() if k != "mixture"}


def _scores(model, prefix, list_path, task, cache):
  if os.path.exists(cache):
    return run_folder.read_json(cache)
  records, _ = evaluator.score_examples(model.load(prefix), list_path, task, model.sample_rate)
  records = [_compact(r) for r in records]
  run_folder.write_json(cache, records)
  return records


def _summary(records):
  """MSi, 1S, TRF (dB), the shares over- and under-separated (% of the examples), and
  MSi / 1S per source count."""
  summary = metrics_lib.summarize(records)
  keep = {k: summary.get(k) for k in ("MSi", "1S", "TRF")}
  for share in ("over_separation", "under_separation"):
    count, total = summary.get(share), summary.get("num_examples")
    keep[share] = None if count is None or not total else 100.0 * count / total
  keep["per_source_count"] = {
      n: {"count": c["count"], "MSi": c["MSi"], "1S": c["1S"]}
      for n, c in (summary.get("per_source_count") or {}).items()}
  return keep


def _runs(runs_dir):
  """`[(run, group, domain, seed)]` of the finished runs (those with `report.json`)."""
  found = []
  for name in sorted(os.listdir(runs_dir)):
    match = _RUN.match(name)
    if match and os.path.exists(os.path.join(runs_dir, name, "report.json")):
      found.append((name, match.group(1), match.group(2), int(match.group(4))))
  return found


def _domain(group):
  return group.split("_")[0]


def _arm(group):
  return ARMS["_sparse" if group.endswith("_sparse") else ""]


def sparsity_decision(per_set):
  """Plan amendment 2's rule, from the picks' records (None until both arms have runs).

  Args:
    per_set: `{(group, set): {"adapted": [records per seed], "seeds": [...]}}`.
  """
  arm = per_set.get((DECISION["group"], DECISION["set"]))
  base = per_set.get((DECISION["against"], DECISION["set"]))
  if not arm or not base:
    return None
  metric = DECISION["metric"]
  delta = intervals.paired_bootstrap(arm["adapted"], base["adapted"], metric)
  means = [sum(_summary(records)[metric] for records in row) / len(row)
           for row in (arm["adapted"], base["adapted"])]
  complete = (len(arm["seeds"]) >= PLAN_SEEDS[DECISION["group"]]
              and len(base["seeds"]) >= PLAN_SEEDS[DECISION["against"]])
  wins = means[0] > means[1] and delta["low"] is not None and delta["low"] > 0
  return {**DECISION, "seeds": {"sparse": arm["seeds"], "mixit": base["seeds"]},
          "sparse_mean": means[0], "mixit_mean": means[1], "delta": delta,
          "complete": complete,
          "default": None if not complete else ("sparsity" if wins else "MixIT alone")}


def score_runs(runs_dir, corpus, results_dir, stream):
  """Scores the start model and every finished run; returns `results.json`'s dict."""
  results = {"plan": "plan.md", "runs": {}, "rows": {}, "curves": {}}
  per_set = {}  # (group, set) -> {"start": records, "adapted": [records per seed], "seeds"}
  start_cache = {}
  for name, group, domain, seed in _runs(runs_dir):
    run_dir = os.path.join(runs_dir, name)
    report = run_folder.read_json(os.path.join(run_dir, "report.json"))
    model = child_runs.CheckpointSeparator(os.path.join(run_dir, "train"))
    picked = report["selection"]["selected_step"]
    prefixes = dict(child_runs.kept_checkpoints(os.path.join(run_dir, "train")))
    prefixes[0] = report["started_from"]["checkpoint"]
    cache_dir = os.path.join(run_dir, "reference")
    for set_name, relative, task in SETS[domain]:
      list_path = os.path.join(corpus, relative)
      key = (group, set_name)
      if set_name not in start_cache:
        start_cache[set_name] = _scores(model, prefixes[0], list_path, task,
                                        os.path.join(results_dir, "scores", "start",
                                                     f"{set_name}.json"))
      entry = per_set.setdefault(key, {"start": start_cache[set_name], "adapted": [],
                                       "seeds": []})
      records = _scores(model, prefixes[picked], list_path, task,
                        os.path.join(results_dir, "scores", name, f"{set_name}.json"))
      entry["adapted"].append(records)
      entry["seeds"].append(seed)
      print(f"[{name}] {set_name}: start MSi {_summary(entry['start'])['MSi']:.2f}, "
            f"pick (step {picked}) MSi {_summary(records)['MSi']:.2f}", file=stream, flush=True)
    # The curve: every kept checkpoint on the domain's main set.
    main_name, main_relative, main_task = SETS[domain][0]
    steps = report["training"]["steps"]
    # CPU time as the plan counts it: steps x the command's timing of the
    # shipped model's step on one core here when the plan was fixed (each run
    # has one core and one thread): the same whatever else shared the machine
    # or however often the run was resumed. (A run's own probe is taken at
    # each invocation and reads high when runs start side by side.)
    cpu_per_step = PLAN_SECONDS_PER_STEP
    momi = {h["step"]: h["MoMi"] for h in report["selection"]["history"]}
    curve = []
    for step in sorted(prefixes):
      records = start_cache[main_name] if step == 0 else _scores(
          model, prefixes[step], os.path.join(corpus, main_relative), main_task,
          os.path.join(cache_dir, f"step-{step}_{main_name}.json"))
      curve.append({"step": step, "cpu_minutes": None if cpu_per_step is None else
                    round(step * cpu_per_step / 60, 2), "heldout_momi": momi.get(step),
                    main_name: _summary(records)["MSi"]})
    results["curves"][name] = curve
    results["runs"][name] = {
        "group": group, "domain": domain, "arm": _arm(group), "seed": seed,
        "selected_step": picked, "steps": steps,
        "cpu_hours": round(steps * cpu_per_step / 3600, 3),
        # The training child's CPU seconds read from /proc (low for runs whose
        # first invocations predate that clock).
        "cpu_seconds_measured": report["training"].get("cpu_seconds"),
        "heldout_momi": report["heldout_momi"], "data": {
            k: report["data"][k] for k in ("files", "hours", "clips")},
    }
  for (group, set_name), entry in sorted(per_set.items()):
    results["rows"].setdefault(group, {})[set_name] = set_row(entry)
  results["sparsity_decision"] = sparsity_decision(per_set)
  return results


def set_row(entry):
  """One arm on one reference set: start, seed mean [Student-t 95 %] and Δ per metric.

  `entry`: `{"seeds", "start": records, "adapted": [records per seed]}`.
  """
  row = {"seeds": entry["seeds"], "start": _summary(entry["start"]),
         "adapted_per_seed": [_summary(r) for r in entry["adapted"]]}
  for metric in METRICS:
    values = [s[metric] for s in row["adapted_per_seed"]]
    mean, low, high = intervals.seed_interval(values)
    if metric in SHARES and low is not None:
      # A share lies in [0, 100] %: with few seeds the t-interval reaches
      # past that, where no value can be.
      low, high = max(low, 0.0), min(high, 100.0)
    row.setdefault("adapted", {})[metric] = {"mean": mean, "low": low, "high": high}
    if metric in ("MSi", "1S", "TRF"):
      delta = intervals.paired_bootstrap(entry["adapted"], [entry["start"]], metric)
      row.setdefault("delta", {})[metric] = delta
  return row


def _fmt(value, signed=False):
  if value is None:
    return "–"
  return f"{value:+.2f}" if signed else f"{value:.2f}"


def _interval(low, high, signed=False):
  return "" if low is None else f" [{_fmt(low, signed)}, {_fmt(high, signed)}]"


def _verdict(delta):
  if delta["low"] is None:
    return "no interval"
  if delta["low"] > 0:
    return "better"
  if delta["high"] < 0:
    return "worse"
  return "inconclusive"


def _per_count_lines(row):
  """What adaptation costs on the FUSS-style set, by the number of sources."""
  lines = ["FUSS-style set by number of sources (1S for one source, MSi for more; "
           "adapted: mean over seeds):", "", "| sources | mixtures | metric | start | adapted |",
           "|---|---|---|---|---|"]
  for n, start in sorted(row["start"]["per_source_count"].items()):
    metric = "1S" if n == "1" else "MSi"
    values = [s["per_source_count"].get(n, {}).get(metric) for s in row["adapted_per_seed"]]
    values = [v for v in values if v is not None]
    mean = sum(values) / len(values) if values else None
    lines.append(f"| {n} | {start['count']} | {metric} | {_fmt(start[metric])} | "
                 f"{_fmt(mean)} |")
  return lines + [""]


def _reading(domain, rows):
  """Generated sentences on how the separations changed (every number from `rows`)."""
  main = rows.get(SETS[domain][0][0])
  lines = []
  if main:
    over = (main["start"]["over_separation"], main["adapted"]["over_separation"]["mean"])
    under = (main["start"]["under_separation"], main["adapted"]["under_separation"]["mean"])
    if None not in over + under:
      lines.append(f"- On `{SETS[domain][0][0]}`, mixtures over-separated (more active outputs "
                   f"than references): {over[0]:.0f} % before, {over[1]:.0f} % after; "
                   f"under-separated: {under[0]:.0f} % before, {under[1]:.0f} % after.")
  fuss = rows.get("fuss")
  if fuss and fuss["delta"].get("1S"):
    delta = fuss["delta"]["1S"]
    lines.append(f"- Elsewhere (FUSS-style set): 1S, a single source kept whole, "
                 f"{_fmt(fuss['start']['1S'])} dB before, {_fmt(fuss['adapted']['1S']['mean'])} "
                 f"dB after (Δ {_fmt(delta['delta'], True)}"
                 f"{_interval(delta['low'], delta['high'], True)}: {_verdict(delta)}).")
  return lines + [""] if lines else []


def _decision_lines(decision):
  """The default recipe's sparsity, by plan amendment 2's rule (generated)."""
  if not decision:
    return []
  delta = decision["delta"]
  seeds = decision["seeds"]
  measured = (f"{decision['metric']} on `{decision['set']}`: sparsity arm "
              f"{_fmt(decision['sparse_mean'])} dB (seeds {', '.join(map(str, seeds['sparse']))}), "
              f"MixIT alone {_fmt(decision['mixit_mean'])} dB (seeds "
              f"{', '.join(map(str, seeds['mixit']))}); Δ {_fmt(delta['delta'], True)}"
              f"{_interval(delta['low'], delta['high'], True)} ({_verdict(delta)}).")
  if decision["default"] is None:
    ruling = ("Not decided yet: the rule waits for every planned seed of both arms "
              "(partial).")
  elif decision["default"] == "sparsity":
    ruling = ("By the plan's rule (a higher mean and an interval above 0) the sparsity arm "
              "becomes the default recipe.")
  else:
    ruling = ("By the plan's rule (the sparsity arm needs a higher mean and an interval above "
              "0) MixIT alone stays the default recipe.")
  return ["## The default recipe's sparsity (plan amendment 2)", "", measured, "", ruling, ""]


def write_readme(results, path):
  lines = ["# Adaptation evidence (issue 28)", "",
           "Generated by `tools/adapt_evidence.py` from `results.json`; the plan, fixed before "
           "the runs, is [plan.md](plan.md). Each run is `sound-separation adapt` from the "
           "shipped model of the time (round 2's, checkpoint 1750; round 3's production model "
           "has replaced it since), with MixIT alone or, where a section says so, MixIT with the "
           "sparsity term; its checkpoint is the command's own pick by "
           "held-out MoMi (no reference). Adapted: mean over seeds [Student-t 95 %]; Δ: "
           "adapted − start, paired two-level bootstrap over examples and seeds (95 %). "
           f"CPU time: steps × {PLAN_SECONDS_PER_STEP} s, the plan's timing of a step on one "
           "core of this machine (each run had one core and one thread). The command run as a user "
           "would, on ordinary recordings: [acceptance/](acceptance/README.md).", ""]
  for group, rows in results["rows"].items():
    runs = {n: r for n, r in results["runs"].items() if r["group"] == group}
    cpu = [r["cpu_hours"] for r in runs.values()]
    partial = (f" **Partial: {len(runs)} of the plan's {PLAN_SEEDS[group]} seeds.**"
               if len(runs) < PLAN_SEEDS.get(group, 0) else "")
    lines += [f"## {_domain(group)}: {_arm(group)}", "",
              f"{len(runs)} seed{'s' if len(runs) != 1 else ''} "
              f"({', '.join(str(r['seed']) for r in runs.values())}); "
              f"{min(r['steps'] for r in runs.values())}–{max(r['steps'] for r in runs.values())} "
              f"steps, {min(cpu):.2f}–{max(cpu):.2f} CPU-hours each; picks at steps "
              f"{', '.join(str(r['selected_step']) for r in runs.values())}.{partial}", "",
              "| set | metric | start | adapted | Δ | verdict |", "|---|---|---|---|---|---|"]
    for set_name, row in rows.items():
      for metric in ("MSi", "1S", "TRF", "over_separation", "under_separation"):
        start = row["start"][metric]
        adapted = row["adapted"][metric]
        if start is None and adapted["mean"] is None:
          continue
        delta = row["delta"].get(metric)
        shown = {"over_separation": "over-separated %",
                 "under_separation": "under-separated %"}.get(metric, metric)
        lines.append(f"| {set_name} | {shown} | {_fmt(start)} | {_fmt(adapted['mean'])}"
                     f"{_interval(adapted['low'], adapted['high'])} | "
                     + ("–" if delta is None else
                        f"{_fmt(delta['delta'], True)}"
                        f"{_interval(delta['low'], delta['high'], True)}")
                     + f" | {'–' if delta is None else _verdict(delta)} |")
    lines.append("")
    if "speech_clean" in rows and "speech_noisy" in rows:
      lines += ["The two speech sets share their 1S row: 1S is a second pass with speaker 1 "
                "alone as the input, and both lists name the same speaker-1 files.", ""]
    lines += _reading(_domain(group), rows)
    if "fuss" in rows:
      lines += _per_count_lines(rows["fuss"])
  target_lines = []
  for group in ("speech", "speech_sparse"):
    speech = results["rows"].get(group, {}).get("speech_clean")
    if not speech:
      continue
    a = speech["adapted"]["MSi"]
    if a["mean"] is None:
      where = "not measured"
    elif a["mean"] < TARGET_MSI_DB:
      where = f"not met: short by {TARGET_MSI_DB - a['mean']:.2f} dB"
    elif a["low"] is not None and a["low"] >= TARGET_MSI_DB:
      where = "met: the interval lies above it"
    else:
      where = "met by the mean; the interval reaches below it"
    target_lines.append(
        f"- {_arm(group)}: two-speaker MSi (clean) {_fmt(speech['start']['MSi'])} dB before, "
        f"{_fmt(a['mean'])}{_interval(a['low'], a['high'])} dB after; the "
        f"{TARGET_MSI_DB:g} dB target is {where}"
        + (f" (partial: {len(speech['seeds'])} of {PLAN_SEEDS[group]} seeds)."
           if len(speech["seeds"]) < PLAN_SEEDS[group] else "."))
  if target_lines:
    lines += ["## Against the target", ""] + target_lines + [""]
  lines += _decision_lines(results.get("sparsity_decision"))
  lines += ["## The curve", "", "![held-out MoMi and in-domain MSi against CPU-minutes]"
            "(curve.png)", "", "Per run and kept checkpoint (`results.json`, `curves`).", ""]
  with open(path, "w") as f:
    f.write("\n".join(lines))


def plot_curves(results, path):
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  colours = {"speech": "tab:blue", "outdoor": "tab:green",  # a group a colour,
             "speech_sparse": "tab:purple"}
  styles = ["o-", "s--", "^:", "d-."]  # a seed a line style
  for name, curve in results["curves"].items():
    domain, group = results["runs"][name]["domain"], results["runs"][name]["group"]
    style = styles[(results["runs"][name]["seed"] - 1) % len(styles)]
    main = SETS[domain][0][0]
    x = [p["cpu_minutes"] for p in curve]
    axes[0].plot(x, [p["heldout_momi"] for p in curve], style, color=colours[group],
                 alpha=0.8, label=name, markersize=3)
    axes[1].plot(x, [p[main] for p in curve], style, color=colours[group], alpha=0.8,
                 label=f"{name} ({main})", markersize=3)
    picked = results["runs"][name]["selected_step"]
    for p in curve:
      if p["step"] == picked:
        axes[1].plot([p["cpu_minutes"]], [p[main]], "*", color="black", markersize=10)
  axes[0].set(xlabel=f"CPU-minutes of training (steps × {PLAN_SECONDS_PER_STEP} s, one core)", ylabel="held-out MoMi (dB)",
              title="What adapt sees (no reference)")
  axes[1].set(xlabel=f"CPU-minutes of training (steps × {PLAN_SECONDS_PER_STEP} s, one core)", ylabel="MSi on the reference set (dB)",
              title="What it does on references (★: the pick)")
  axes[1].axhline(TARGET_MSI_DB, color="grey", linestyle=":", linewidth=1)
  for ax in axes:
    ax.grid(alpha=0.3)
  axes[1].legend(fontsize=7, loc="center right")
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def warm_caches(runs_dir, corpus, results_dir, stream):
  """Scores what is already there of unfinished runs (cached; writes no result).

  The start model on every reference set, and every kept checkpoint of a
  run still training on its domain's main set, so that little is left to do
  when the runs finish.
  """
  for name in sorted(os.listdir(runs_dir)):
    match = _RUN.match(name)
    train_dir = os.path.join(runs_dir, name, "train")
    if not match or not os.path.isdir(run_folder.checkpoints(train_dir)):
      continue
    kept = child_runs.kept_checkpoints(train_dir)
    if not kept:
      continue
    model = child_runs.CheckpointSeparator(train_dir)
    domain = match.group(2)
    request = run_folder.read_json(os.path.join(runs_dir, name, "adapt.json"))["request"]
    from sound_separation.adaptation import fine_tuning  # pylint: disable=import-outside-toplevel
    from sound_separation.models import folders  # pylint: disable=import-outside-toplevel
    # "default" (the shipped model) and published names resolve as `adapt` resolves them.
    start = fine_tuning.starting_model(request["model"])[0]
    start_prefix = folders.newest_intact(run_folder.checkpoints(start))
    for set_name, relative, task in SETS[domain]:
      _scores(model, start_prefix, os.path.join(corpus, relative), task,
              os.path.join(results_dir, "scores", "start", f"{set_name}.json"))
    main_name, main_relative, main_task = SETS[domain][0]
    for step, prefix in kept:
      if os.path.basename(prefix) != f"ckpt-{step}" or "kept" not in prefix:
        continue  # the latest may be deleted by retention while scoring
      _scores(model, prefix, os.path.join(corpus, main_relative), main_task,
              os.path.join(runs_dir, name, "reference", f"step-{step}_{main_name}.json"))
      print(f"[{name}] step {step}: {main_name} scored", file=stream, flush=True)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--runs_dir", required=True)
  parser.add_argument("--corpus", required=True)
  parser.add_argument("--results", default=os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results", "adapt"))
  parser.add_argument("--warm", action="store_true",
                      help="only score what unfinished runs have so far (cached)")
  args = parser.parse_args(argv)
  if args.warm:
    warm_caches(args.runs_dir, args.corpus, args.results, sys.stdout)
    return
  results = score_runs(args.runs_dir, args.corpus, args.results, sys.stdout)
  run_folder.write_json(os.path.join(args.results, "results.json"), results)
  write_readme(results, os.path.join(args.results, "README.md"))
  plot_curves(results, os.path.join(args.results, "curve.png"))
  print(f"Wrote {args.results}/results.json, README.md, curve.png", flush=True)


if __name__ == "__main__":
  main()
