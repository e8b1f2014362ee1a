"""A study's report: the Table-1-shaped table, the raw results and Figure 1.

Written to the results folder from the finished runs' JSON files alone, so a
re-run of a finished study rewrites the same files without training:

- `table.md`: per M, the baseline, the MixIT-only control and each loss arm
  at the weight the selection rule chose on the selection list, with the test
  metrics (MSi, 1S, TRF, MoMi, speech, over/under-separation); then every run
  with its selection-list and test metrics (the whole sweep); then the facts
  the paper's claims are checked against.
- `results.json`: every run's result, the chosen rows and the shipped run.
- `figure1.png`: test MSi against 1S per arm, marker size by weight, one
  panel per M (with the `plot` extra; skipped with a note without it).
"""

import json
import os

from sound_separation.study import figure
from sound_separation.study import grid
from sound_separation.study import selection

RULE = ("highest TRF on the selection list among candidates whose MSi is at most "
        "{tol:g} dB below the reference MSi (a baseline's checkpoints: their best MSi; "
        "fine-tunes, weights and the shipped model: the baseline's selected MSi)")


def _fmt(value, digits=2):
  return "–" if value is None else f"{value:.{digits}f}"


def _share(count, total):
  return "–" if count is None or not total else f"{100.0 * count / total:.0f}"


def chosen_rows(study, specs, results):
  """Per M: the baseline, then per arm the run the rule chooses. `[(spec, result, meets)]`."""
  rows = []
  for m in study.num_sources:
    baseline = results.get(f"m{m}/baseline")
    if baseline is None:
      continue
    rows.append((f"m{m}/baseline", baseline, baseline["selected"]["meets_floor"]))
    msi_floor = selection.floor(baseline["selected"]["selection"]["MSi"],
                                study.msi_tolerance_db)
    for arm in study.arms_for(m):
      runs = [results[s.name] for s in specs
              if s.num_sources == m and s.arm == arm and s.name in results]
      if not runs:
        continue
      chosen, meets = selection.select(runs, msi_floor, key=lambda r: r["selected"]["selection"])
      rows.append((chosen["run"]["name"], chosen, meets))
  return rows


def shipped_run(study, rows):
  """The run to ship: the rule over the chosen rows of every M (reference: each M's baseline)."""
  candidates = []
  for name, result, meets in rows:
    if meets:
      candidates.append(result)
  chosen, _ = selection.select(candidates, float("-inf"),
                               key=lambda r: r["selected"]["selection"])
  return None if chosen is None else chosen["run"]["name"]


def _test_cells(result):
  fuss = result["test"].get("fuss", {})
  total = fuss.get("num_examples")
  return [_fmt(fuss.get("MSi")), _fmt(fuss.get("1S")), _fmt(fuss.get("TRF")),
          _fmt(result["test"].get("mom", {}).get("MoMi")),
          _fmt(result["test"].get("speech", {}).get("MSi")),
          _share(fuss.get("under_separation"), total), _share(fuss.get("over_separation"), total)]


def _table1(rows):
  lines = ["| M | loss | weight | step | MSi | 1S | TRF | MoMi | speech MSi | under % | over % "
           "| within MSi budget |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for name, result, meets in rows:
    run = result["run"]
    lines.append("| " + " | ".join(
        [str(run["num_sources"]), grid.ARM_TITLES[run["arm"]], f"{run['weight']:g}",
         str(result["selected"]["step"])] + _test_cells(result) + ["yes" if meets else "**no**"])
                 + " |")
  return lines


def _all_runs(specs, results):
  lines = ["| run | selected step | sel. MSi | sel. 1S | sel. TRF | test MSi | test 1S | "
           "test TRF | MoMi | speech MSi | under % | over % | efficient = exhaustive |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for spec in specs:
    result = results.get(spec.name)
    if result is None:
      continue
    sel = result["selected"]["selection"]
    agreement = result["solver_agreement"]
    lines.append("| " + " | ".join(
        [spec.name + ("" if result["selected"]["meets_floor"] else " (below floor)"),
         str(result["selected"]["step"]), _fmt(sel["MSi"]), _fmt(sel["1S"]), _fmt(sel["TRF"])]
        + _test_cells(result) + [f"{100 * agreement['same_matrix']:.0f} %"]) + " |")
  return lines


def _facts(study, specs, results):
  """Numbers the paper's four claims are judged by (verdicts are the authors')."""
  lines = []
  agreements = [r["solver_agreement"] for r in results.values()]
  if agreements:
    moms = sum(a["num_moms"] for a in agreements)
    same = sum(a["same_matrix"] * a["num_moms"] for a in agreements)
    same_loss = sum(a["same_loss"] * a["num_moms"] for a in agreements)
    worst = max(a["max_gap_db"] for a in agreements)
    lines.append(f"- Efficient vs exhaustive MixIT on the selection MoMs of every run's "
                 f"selected model: same mixing matrix on {100 * same / moms:.1f} % of {moms} "
                 f"MoMs, same loss (±1e-3 dB) on {100 * same_loss / moms:.1f} %; largest loss "
                 f"gap {worst:.2f} dB.")
  for m in study.num_sources:
    base = results.get(f"m{m}/baseline")
    if base is None:
      continue
    fuss = base["test"]["fuss"]
    lines.append(f"- M = {m} baseline: test MSi {_fmt(fuss['MSi'])}, 1S {_fmt(fuss['1S'])} dB; "
                 f"over-separated {_share(fuss['over_separation'], fuss['num_examples'])} % of "
                 f"the test mixtures.")
    for arm in study.arms_for(m):
      runs = sorted((results[s.name] for s in specs
                     if s.num_sources == m and s.arm == arm and s.name in results),
                    key=lambda r: r["run"]["weight"])
      for r in runs:
        t = r["test"]["fuss"]
        lines.append(f"  - {r['run']['name']}: ΔMSi {t['MSi'] - fuss['MSi']:+.2f} dB, "
                     f"Δ1S {t['1S'] - fuss['1S']:+.2f} dB vs the baseline (test).")
  return lines


def write_report(study, specs, results, results_dir, study_file):
  """Writes table.md, results.json and figure1.png; returns the paths written."""
  os.makedirs(results_dir, exist_ok=True)
  rows = chosen_rows(study, specs, results)
  shipped = shipped_run(study, rows)
  rule = RULE.format(tol=study.msi_tolerance_db)
  lines = [f"# {study.name}", "",
           f"Selection rule: {rule}. Test metrics (dB) on `{os.path.basename(study.test_list)}`; "
           f"under/over %: share of test mixtures with fewer/more active outputs than "
           f"active references.", "",
           "## Table 1 (chosen weight per loss)", ""] + _table1(rows) + [
           "", f"Shipped model: {shipped or '(none yet)'}.", "",
           "## Every run", ""] + _all_runs(specs, results) + [
           "", "## Facts for the paper's claims", ""] + _facts(study, specs, results)
  paths = []
  table_path = os.path.join(results_dir, "table.md")
  with open(table_path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  paths.append(table_path)
  json_path = os.path.join(results_dir, "results.json")
  with open(json_path, "w", encoding="utf-8") as f:
    json.dump({"study": study.name, "study_file": os.path.basename(study_file),
               "selection_rule": rule, "chosen": [name for name, _, _ in rows],
               "shipped": shipped, "runs": {s.name: results[s.name] for s in specs
                                            if s.name in results}},
              f, indent=1, sort_keys=True)
    f.write("\n")
  paths.append(json_path)
  points = []
  for spec in specs:
    result = results.get(spec.name)
    if result is None or result["test"].get("fuss", {}).get("MSi") is None:
      continue
    fuss = result["test"]["fuss"]
    arm = "baseline" if spec.arm == "baseline" else spec.arm
    points.append(figure.Point(spec.name, grid.ARM_TITLES[arm], spec.weight, fuss["MSi"],
                               fuss["1S"], f"M = {spec.num_sources}"))
  if points:
    try:
      paths.append(figure.plot_tradeoff(points, os.path.join(results_dir, "figure1.png"),
                                        title=f"{study.name}: test MSi vs 1S"))
    except figure.MissingDependency as e:
      print(f"figure1.png not written: {e}")
  return paths
