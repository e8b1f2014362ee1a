"""The paper's claims, judged on a seeded study's per-example scores (docs/study.md#verdicts).

A row is one loss arm at one weight and M, trained with one or more seeds
(`grid.RunSpec.row`). For every row this module gives the mean test metric
over its seeds with a 95 % interval (`intervals.seed_interval`), and every
difference it reports — an arm against the MixIT-only control, the
efficient solver against the exact one, M = 8 against M = 4 — comes with a
paired two-level bootstrap interval over the same test mixtures and the
rows' seeds (`intervals.paired_bootstrap`). Each claim then gets a verdict by
the criterion written in `intervals.verdict` / `equivalence_verdict`.

The claims, as the paper states them (WASPAA 2021, Table 1 and its text):

1. Sparsity: L1/L2 sparsity raises 1S by 10–17 dB at a cost of at most 1 dB
   of MSi (against MixIT alone; here against the control, which trains as
   long).
2. Efficient MixIT: training with the least-squares solver makes no
   significant difference to the trained model (judged as equivalence
   within `EQUIVALENCE_DB`).
3. More outputs: with sparsity, more outputs (M = 8, 16) do better (TRF).
4. Semantic: the classification and cosine losses improve on MixIT alone,
   and combined with sparsity give the best model (TRF against the control
   and against sparsity alone).
"""

import math
import re

from sound_separation.study import arms
from sound_separation.study import grid
from sound_separation.study import intervals
from sound_separation.evaluation import selection

# What the study calls "no significant difference" for claim 2: a difference
# within ±0.5 dB, about the spread of one checkpoint's MSi between the
# selection and test lists in the first round (0.40 dB).
EQUIVALENCE_DB = 0.5
PAPER_1S_GAIN_DB = (10.0, 17.0)
MSI_BUDGET_DB = 1.0
# The shipped model must clear its MSi floor by this many seed-to-seed
# standard deviations of selection MSi (`ship`): about a one-sided 98 % bound
# for one more seed.
SHIP_MARGIN_SDS = 2.0
NUM_RESAMPLES = 2000


def row_name(name):
  """A run's row: its name without a seed suffix (`m4/l1_l2_w5_s2` -> `m4/l1_l2_w5`)."""
  return re.sub(r"_s\d+$", "", name)


class Row:
  """The finished runs of one row (one per seed) and their kept per-example scores."""

  def __init__(self, name, results, scores):
    self.name = name
    self.results = results  # [result dict], one per seed
    self.scores = scores  # {task: [Scores]} of the seeds that have them
    run = results[0]["run"]
    self.num_sources, self.arm, self.weight = run["num_sources"], run["arm"], run["weight"]
    self.seeds = [r["run"].get("seed") for r in results]

  def test(self, metric, task="fuss"):
    """`(mean, low, high)` of a test metric over the seeds (shares in %)."""
    values = []
    for result in self.results:
      summary = result["test"].get(task, {})
      if metric in ("over_separation", "under_separation"):
        count, total = summary.get(metric), summary.get("num_examples")
        values.append(None if count is None or not total else 100.0 * count / total)
      else:
        values.append(summary.get(metric))
    mean, low, high = intervals.seed_interval(values)
    if metric in ("over_separation", "under_separation") and low is not None:
      low, high = max(low, 0.0), min(high, 100.0)  # a share's interval stays a share
    return mean, low, high

  def selection(self):
    """Mean selection-list metrics of the seeds' selected checkpoints (for the rule)."""
    merged = {}
    for key in ("MSi", "1S", "TRF"):
      values = [r["selected"]["selection"].get(key) for r in self.results]
      values = [v for v in values if v is not None]
      merged[key] = sum(values) / len(values) if values else None
    return merged


def gather(specs, results, read_scores):
  """`{row name: Row}` of the finished runs, in grid order.

  Args:
    specs: the grid.
    results: `{run name: result}`.
    read_scores: `(run name, task) -> records or None` (`runner.read_scores`).
  """
  rows = {}
  for spec in specs:
    if spec.name in results:
      rows.setdefault(row_name(spec.name), []).append(spec.name)
  out = {}
  for name, runs in rows.items():
    scores = {}
    for task in ("fuss", "mom"):
      records = [read_scores(run, task) for run in runs]
      records = [r for r in records if r]
      if records:
        scores[task] = [intervals.Scores(r) for r in records]
    out[name] = Row(name, [results[run] for run in runs], scores)
  return out


def seed_sds(rows):
  """`{metric: (sd, rows)}`: the test metrics' seed-to-seed spread, pooled over the rows
  with several seeds (`intervals.pooled_sd`; shares as fractions), and how many rows."""
  out = {}
  for metric in ("MSi", "1S", "TRF", "MoMi", "over_separation", "under_separation"):
    task = "mom" if metric == "MoMi" else "fuss"
    groups = []
    for row in rows.values():
      if len(row.results) < 2:
        continue
      values = []
      for result in row.results:
        summary = result["test"].get(task, {})
        if metric in ("over_separation", "under_separation"):
          count, total = summary.get(metric), summary.get("num_examples")
          values.append(None if count is None or not total else count / total)
        else:
          values.append(summary.get(metric))
      groups.append(values)
    sd = intervals.pooled_sd(groups)
    out[metric] = (sd, sum(1 for g in groups
                           if sum(v is not None and math.isfinite(v) for v in g) >= 2))
  return out


def compare(row_a, row_b, metric, seed=0, seed_sd=None):
  """`paired_bootstrap` of a test metric, `row_a - row_b`, its interval carrying the seeds.

  With several seeds on both sides the two-level bootstrap resamples seeds
  (`"seed_level": "bootstrap"`). A side with one seed has no seed level of
  its own: its interval is widened by the seed-to-seed spread measured on
  the replicated rows, `seed_sd = (sd, rows)` (`seed_sds`): each half-width
  becomes `sqrt(h² + (1.96 · sd)² · k)` for k one-seed sides
  (`"seed_level": "pooled"`, with `"seed_sd"` and `"seed_sd_rows"`). Without
  a measured spread the interval is None (`"seed_level": "none"`: the
  verdict reads "one seed: not judged").

  Returns:
    the `paired_bootstrap` dict so amended, or None without kept scores.
  """
  task = "mom" if metric == "MoMi" else "fuss"
  if task not in row_a.scores or task not in row_b.scores:
    return None
  sizes = {s.num_examples for s in row_a.scores[task] + row_b.scores[task]}
  if len(sizes) != 1:
    return None
  result = intervals.paired_bootstrap(row_a.scores[task], row_b.scores[task], metric,
                                      num_resamples=NUM_RESAMPLES, seed=seed)
  one_seed_sides = sum(len(row.scores[task]) == 1 for row in (row_a, row_b))
  if not one_seed_sides:
    return {**result, "seed_level": "bootstrap"}
  sd, sd_rows = seed_sd or (None, 0)
  if sd is None or result["low"] is None:
    return {**result, "low": None, "high": None, "seed_level": "none"}
  extra = 1.96 * sd * math.sqrt(one_seed_sides)
  delta = result["delta"]
  return {**result, "low": delta - math.hypot(delta - result["low"], extra),
          "high": delta + math.hypot(result["high"] - delta, extra), "seed_level": "pooled",
          "seed_sd": sd, "seed_sd_rows": sd_rows}


def chosen(rows, num_sources, arm_names, msi_floor):
  """The row the selection rule picks among the given arms at M (None if none finished)."""
  candidates = [r for r in rows.values() if r.num_sources == num_sources and r.arm in arm_names]
  pick, meets = selection.select(candidates, msi_floor, key=lambda r: r.selection())
  return (pick, meets) if pick is not None else (None, False)


def floors(study, rows):
  """`{M: the lowest selection MSi (dB) a row at M may have}`: its baseline's minus the budget."""
  out = {}
  for m in study.num_sources:
    base = rows.get(f"m{m}/baseline")
    if base is not None and base.selection()["MSi"] is not None:
      out[m] = selection.floor(base.selection()["MSi"], study.msi_tolerance_db)
  return out


def selection_noise(rows):
  """`(pooled sd, number of rows)`: the seed-to-seed spread (dB) of the selected checkpoints'
  selection MSi, pooled over the rows trained with several seeds (`intervals.pooled_sd`)."""
  seeded = [[r["selected"]["selection"].get("MSi") for r in row.results]
            for row in rows.values() if len(row.results) > 1]
  return intervals.pooled_sd(seeded), len(seeded)


def ship(study, rows):
  """The run to ship: the selection rule over every row, with a margin for seed noise.

  The rule (`selection.select`) over every finished row at every M, each row
  judged by its seeds' mean selection metrics (rows holding a post-hoc run of
  a blind round left out: `protocol.py`), with the floor raised by
  `SHIP_MARGIN_SDS` times the measured seed-to-seed spread of selection MSi
  (`selection_noise`): a row that clears the floor by less could fall below it
  with another seed, as the first round's shipped model did on test. Of the
  picked row, its seed with the best selection TRF among those that clear
  the raised floor themselves.

  Returns:
    dict: "run" (None if no row clears), "row", "noise_db", "noise_rows",
    "margin_db" (0 without seeded rows), "floors" (`{M: raised floor}`).
  """
  noise, noise_rows = selection_noise(rows)
  margin = 0.0 if noise is None else SHIP_MARGIN_SDS * noise
  raised = {m: f + margin for m, f in floors(study, rows).items()}
  # A post-hoc run (`protocol.py`) never ships, nor does a row holding one.
  passing = [r for r in rows.values() if r.num_sources in raised
             and not any(result.get("protocol", {}).get("post_hoc") for result in r.results)
             and r.selection()["MSi"] is not None
             and r.selection()["MSi"] >= raised[r.num_sources]]
  row, meets = selection.select(passing, -math.inf, key=lambda r: r.selection())
  run = None
  if row is not None and meets:
    seed_run, _ = selection.select(row.results, raised[row.num_sources],
                                   key=lambda r: r["selected"]["selection"])
    run = seed_run["run"]["name"]
  return {"run": run, "row": None if run is None else row.name, "noise_db": noise,
          "noise_rows": noise_rows, "margin_db": margin,
          "floors": {str(m): f for m, f in raised.items()}}


def _interval_text(comparison, digits=2):
  if comparison is None:
    return "–"
  low, high = comparison["low"], comparison["high"]
  if low is None:
    return f"{comparison['delta']:+.{digits}f} (no interval)"
  return f"{comparison['delta']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def judge(study, rows):
  """Every claim's comparisons and verdict: a list of dicts (`claim`, `what`, `verdict`, ...)."""
  verdicts = []

  sds = seed_sds(rows)  # every comparison carries the seed level

  def add(claim, what, comparison, verdict, paper):
    level = None if comparison is None else comparison.get("seed_level")
    if level == "none":
      verdict = "one seed: not judged"
    verdicts.append({"claim": claim, "what": what, "paper": paper, "seed_level": level,
                     "seed_sd": None if comparison is None else comparison.get("seed_sd"),
                     "seed_sd_rows": None if comparison is None else
                     comparison.get("seed_sd_rows"),
                     "delta": None if comparison is None else comparison["delta"],
                     "low": None if comparison is None else comparison["low"],
                     "high": None if comparison is None else comparison["high"],
                     "seeds": None if comparison is None else
                     [comparison["seeds_a"], comparison["seeds_b"]],
                     "text": _interval_text(comparison), "verdict": verdict})

  msi_floors = floors(study, rows)
  for m in study.num_sources:
    control = rows.get(f"m{m}/mixit_w0")
    floor = msi_floors.get(m, -math.inf)
    sparse, _ = chosen(rows, m, ("l1_l2",), floor)
    # Claim 1: the chosen L1/L2 weight against the control.
    if control is not None and sparse is not None:
      gain = compare(sparse, control, "1S", seed_sd=sds["1S"])
      add(1, f"M = {m}: Δ1S, L1/L2 ({sparse.weight:g}, chosen) − control", gain,
          intervals.verdict(gain and gain["low"], gain and gain["high"], *PAPER_1S_GAIN_DB),
          "+10 to +17 dB")
      cost = compare(sparse, control, "MSi", seed_sd=sds["MSi"])
      budget = "not tested"
      if cost is not None and cost["low"] is not None:
        budget = ("reproduced" if cost["low"] >= -MSI_BUDGET_DB else
                  "not reproduced" if cost["high"] < -MSI_BUDGET_DB else "inconclusive")
      add(1, f"M = {m}: ΔMSi, L1/L2 ({sparse.weight:g}, chosen) − control", cost, budget,
          "≥ −1 dB")
    else:
      add(1, f"M = {m}: L1/L2 against the control", None, "not tested", "+10 to +17 dB 1S")
    # Claim 2: efficient against exact, same arm and weight.
    for exact_arm, efficient_arm in (("mixit", "mixit_efficient"), ("l1_l2", "l1_l2_efficient")):
      for eff in [r for r in rows.values() if r.num_sources == m and r.arm == efficient_arm]:
        exact = rows.get(f"m{m}/{exact_arm}_w{grid.weight_name(eff.weight)}")
        for metric in ("MSi", "1S", "TRF"):
          diff = compare(eff, exact, metric, seed_sd=sds[metric]) if exact is not None else None
          add(2, f"M = {m}: Δ{metric}, {efficient_arm} − {exact_arm} (weight {eff.weight:g})",
              diff, intervals.equivalence_verdict(diff and diff["low"], diff and diff["high"],
                                                  EQUIVALENCE_DB),
              f"no significant difference (here: within ±{EQUIVALENCE_DB:g} dB)")
    # Claim 4: semantic arms.
    semantic, _ = chosen(rows, m, arms.semantic_names(), floor)
    if control is not None and semantic is not None:
      diff = compare(semantic, control, "TRF", seed_sd=sds["TRF"])
      add(4, f"M = {m}: ΔTRF, best semantic ({semantic.name}) − control", diff,
          intervals.verdict(diff and diff["low"], diff and diff["high"], 1e-9), "positive")
    else:
      add(4, f"M = {m}: semantic against the control", None, "not tested", "positive TRF")
    combo = [r for r in rows.values() if r.num_sources == m and r.arm == "soft_or+cosine+l1_l2"]
    if combo:
      alone = rows.get(f"m{m}/l1_l2_w{grid.weight_name(study.sparsity_weight)}")
      diff = compare(combo[0], alone, "TRF", seed_sd=sds["TRF"]) if alone is not None else None
      add(4, f"M = {m}: ΔTRF, soft-OR + cosine + L1/L2 − L1/L2 alone "
             f"({study.sparsity_weight:g})", diff,
          intervals.verdict(diff and diff["low"], diff and diff["high"], 1e-9), "positive")
  # Claim 3: more outputs, with sparsity.
  by_m = {}
  for m in study.num_sources:
    pick, _ = chosen(rows, m, ("l1_l2",), msi_floors.get(m, -math.inf))
    if pick is not None:
      by_m[m] = pick
  ms = sorted(by_m)
  for small, large in zip(ms, ms[1:]):
    diff = compare(by_m[large], by_m[small], "TRF", seed_sd=sds["TRF"])
    add(3, f"ΔTRF, chosen L1/L2 at M = {large} − at M = {small}", diff,
        intervals.verdict(diff and diff["low"], diff and diff["high"], 1e-9), "positive")
  if len(ms) < 2:
    add(3, "chosen L1/L2 at two values of M", None, "not tested", "positive TRF")
  return verdicts


def row_table(rows, shipped=None, mark_text="shipped"):
  """Markdown lines: every row with seed means and 95 % intervals of the test metrics.

  The row named `shipped` is marked with `mark_text`.
  """
  lines = ["| row | M | loss | weight | seeds | MSi | 1S | TRF | MoMi | over % | under % |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]

  def cell(stat, digits=2):
    mean, low, high = stat
    if mean is None:
      return "–"
    return (f"{mean:.{digits}f}" if low is None
            else f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]")

  for row in rows.values():
    mark = f" ({mark_text})" if shipped and row.name == shipped else ""
    lines.append("| " + " | ".join([
        row.name + mark, str(row.num_sources), arms.title(row.arm), f"{row.weight:g}",
        ", ".join(str(s) for s in row.seeds), cell(row.test("MSi")), cell(row.test("1S")),
        cell(row.test("TRF")), cell(row.test("MoMi", "mom")),
        cell(row.test("over_separation"), 0), cell(row.test("under_separation"), 0)]) + " |")
  return lines


def delta_table(rows):
  """Markdown lines: every row against its M's control (paired bootstrap, 95 %)."""
  lines = ["| row | ΔMSi dB | Δ1S dB | ΔTRF dB | Δ share over-separated |",
           "|---|---|---|---|---|"]
  sds = seed_sds(rows)
  for row in rows.values():
    control = rows.get(f"m{row.num_sources}/mixit_w0")
    if control is None or row is control:
      continue
    cells = [_interval_text(compare(row, control, metric, seed_sd=sds[metric]))
             for metric in ("MSi", "1S", "TRF")]
    cells.append(_interval_text(compare(row, control, "over_separation",
                                        seed_sd=sds["over_separation"]), 3))
    lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
  return lines


def verdict_lines(verdicts):
  """Markdown lines: one per comparison, grouped by claim."""
  titles = {1: "Sparsity raises 1S by 10–17 dB for ≤ 1 dB of MSi",
            2: "Training with efficient MixIT makes no significant difference",
            3: "With sparsity, more outputs do better",
            4: "Semantic losses help, best combined with sparsity"}
  lines = []
  for claim in sorted({v["claim"] for v in verdicts}):
    lines.append(f"- **Claim {claim}: {titles[claim]}.**")
    for v in (v for v in verdicts if v["claim"] == claim):
      seeds = "" if not v["seeds"] else f"; seeds {v['seeds'][0]} vs {v['seeds'][1]}"
      if v.get("seed_level") == "pooled":
        seeds += (f"; one-seed side widened by the seed SD {v['seed_sd']:.2f} pooled over "
                  f"{v['seed_sd_rows']} replicated rows")
      lines.append(f"  - {v['what']}: {v['text']} (paper: {v['paper']}{seeds}) → "
                   f"**{v['verdict']}**")
  return lines
