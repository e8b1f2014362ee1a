"""A study's report: the Table-1-shaped table, the raw results and Figure 1.

Written to the results folder from the finished runs' JSON files alone, so a
re-run of a finished study rewrites the same files without training:

- `table.md`: the round's counts (also written into the results folder's
  README between its `status` markers, `write_readme_blocks`); per M, the
  baseline, the MixIT-only control and each loss arm at the weight the
  selection rule chose on the selection list, with the test
  metrics (MSi, 1S, TRF, MoMi, speech, over/under-separation); then every run
  with its selection-list and test metrics (the whole sweep); then the facts
  the paper's claims are checked against.
- `results.json`: every run's result, the chosen rows and the shipped run.
- with averaged weights (`Study.ema_momentum`), what averaging changed
  against the same runs' raw weights (`averaging.py`);
- `figure1.png`: test MSi against 1S per arm, marker size by weight, one
  panel per M (with the `plot` extra; skipped with a note without it).
"""

import json
import os

from sound_separation import filesystem
from sound_separation.study import averaging
from sound_separation.study import claims
from sound_separation.study import figure
from sound_separation.study import arms
from sound_separation.study import independence
from sound_separation.study import protocol
from sound_separation.evaluation import selection

VERDICT_RULE = (
    "Verdicts: **reproduced** when the 95 % interval of the difference excludes no effect, "
    "lies on the paper's side and overlaps the paper's size; **direction only** when it "
    "excludes no effect on the paper's side but misses the paper's size; **not reproduced** "
    "when it excludes the paper's effect; **inconclusive** otherwise; **not tested** without "
    "the runs. A claim of no difference (claim 2) is reproduced when the whole interval lies "
    "within ±{eq:g} dB. Intervals: paired two-level bootstrap ({n} replicates) over the same "
    "test mixtures and the rows' seeds; row values: mean over seeds with a Student-t 95 % "
    "interval.")
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
    if meets and not result.get("protocol", {}).get("post_hoc"):  # post hoc never ships
      candidates.append(result)
  chosen, _ = selection.select(candidates, float("-inf"),
                               key=lambda r: r["selected"]["selection"])
  return None if chosen is None else chosen["run"]["name"]


def chosen_seeded_rows(study, rows_by_name):
  """Per M: the baseline row, then per arm the row the rule picks by its seeds' mean
  selection metrics (`claims.chosen`). `[(row, meets)]`."""
  chosen = []
  msi_floors = claims.floors(study, rows_by_name)
  for m in study.num_sources:
    baseline = rows_by_name.get(f"m{m}/baseline")
    if baseline is None or m not in msi_floors:
      continue
    chosen.append((baseline, baseline.results[0]["selected"]["meets_floor"]))
    for arm in study.arms_for(m):
      row, meets = claims.chosen(rows_by_name, m, (arm,), msi_floors[m])
      if row is not None:
        chosen.append((row, meets))
  return chosen


def _table1_seeded(chosen):
  lines = ["| M | loss | weight | seeds | MSi | 1S | TRF | MoMi | speech MSi | under % | over % "
           "| within MSi budget |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for row, meets in chosen:
    cells = [_fmt(row.test(k)[0]) for k in ("MSi", "1S", "TRF")]
    cells += [_fmt(row.test("MoMi", "mom")[0]), _fmt(row.test("MSi", "speech")[0]),
              _fmt(row.test("under_separation")[0], 0), _fmt(row.test("over_separation")[0], 0)]
    lines.append("| " + " | ".join(
        [str(row.num_sources), arms.title(row.arm), f"{row.weight:g}",
         ", ".join(str(s) for s in row.seeds)] + cells + ["yes" if meets else "**no**"]) + " |")
  return lines


def _shipping_line(shipping, complete):
  if shipping["run"] is None:
    return "No row clears its MSi floor with the shipping margin: nothing to ship."
  noise = ("no row has seeds, so no margin" if shipping["noise_db"] is None else
           f"{claims.SHIP_MARGIN_SDS:g} × {shipping['noise_db']:.2f} dB, the seed-to-seed "
           f"standard deviation of selection MSi pooled over the {shipping['noise_rows']} "
           f"rows with several seeds")
  what = "Shipped model" if complete else "The rule's pick so far (the round is not complete)"
  return (f"{what}: {shipping['run']} (row {shipping['row']}): the rule over every row, each "
          f"judged by its seeds' mean selection metrics, with each M's MSi floor raised by "
          f"{shipping['margin_db']:.2f} dB ({noise}); of the row's seeds, the best selection "
          f"TRF that clears the raised floor itself.")


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
        [str(run["num_sources"]), arms.title(run["arm"]), f"{run['weight']:g}",
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


def status_lines(study, specs, results):
  """The round's counts, from its results alone: runs finished, trained, per M, seeds, compute.

  What a README says about how many runs a round has is this text (written
  between the README's `status` markers by `write_readme_blocks`), never typed.
  """
  done = [s for s in specs if s.name in results]
  trained = [s for s in done if not s.init_model]
  per_m = ", ".join(f"M = {m}: {sum(s.num_sources == m for s in done)}"
                    for m in study.num_sources)
  rows = {}
  for spec in done:
    rows.setdefault(spec.row, []).append(spec.seed)
  seeded = [f"`{row}` (seeds {', '.join(str(s) for s in sorted(x for x in seeds if x))})"
            for row, seeds in rows.items() if len(seeds) > 1]
  lines = [f"{'Complete' if len(done) == len(specs) else 'In progress'}: {len(done)} of the "
           f"grid's {len(specs)} runs finished ({per_m}); {len(trained)} trained here, "
           f"{len(done) - len(trained)} given as model folders and evaluated as they are."]
  if seeded:
    lines.append(f"Rows with several seeds: {'; '.join(seeded)}; every other row has one.")
  compute = [results[s.name].get("compute") for s in done if results[s.name].get("compute")]
  if compute:
    train = sum(c["train_seconds"] for c in compute) / 3600
    evaluation = sum(c["evaluation_seconds"] for c in compute) / 3600
    lines.append(f"Compute: {train:.1f} h of training and {evaluation:.1f} h of evaluation "
                 f"(wall time summed over {len(compute)} runs).")
  post_hoc = sorted(s.name for s in done if results[s.name].get("protocol", {}).get("post_hoc"))
  if study.blind:
    lines.append("Blind round: the grid is fixed in `protocol.json` before its first test "
                 "evaluation; post hoc runs: "
                 f"{', '.join(f'`{n}`' for n in post_hoc) if post_hoc else 'none'}.")
  return lines


_BEGIN, _END = "<!-- generated:{name} (by the study command; do not edit) -->", \
    "<!-- /generated:{name} -->"


def write_readme_blocks(readme_path, blocks):
  """Replaces each `{name: lines}` block between its markers in a README; returns names written.

  A README opts in by holding the two marker lines (`_BEGIN`, `_END`) of a
  block; blocks it does not mark are left out, and text outside the markers
  is kept as it is.
  """
  if not filesystem.exists(readme_path):
    return []
  text = filesystem.read_text(readme_path)
  written = []
  for name, lines in blocks.items():
    begin, end = _BEGIN.format(name=name), _END.format(name=name)
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    if start < 0 or stop < 0:
      continue
    text = text[:start + len(begin)] + "\n" + "\n".join(lines) + "\n" + text[stop:]
    written.append(name)
  if written:
    filesystem.write_text(readme_path, text)
  return written


def last_checkpoint_picks(specs, results):
  """The runs the rule picked at their last checkpoint, and whether selection had flattened.

  A fine-tune picked at its last checkpoint may only have been stopped too
  early. For each such run, its selection TRF (the rule's metric) at the
  last checkpoints and the gain of the pick over the best earlier one.

  Returns:
    Markdown lines (none when no run was picked at its last checkpoint).
  """
  lines = []
  for spec in specs:
    result = results.get(spec.name)
    if result is None or not result.get("checkpoints"):
      continue
    history = sorted(result["checkpoints"], key=lambda c: c["step"])
    if len(history) < 2 or result["selected"]["step"] != history[-1]["step"]:
      continue
    trf = [c["selection"]["TRF"] for c in history]
    gain = trf[-1] - max(trf[:-1])
    lines.append(f"- {spec.name}: picked at its last checkpoint (step {history[-1]['step']}); "
                 f"selection TRF at steps "
                 f"{', '.join(str(c['step']) for c in history[-4:])}: "
                 f"{', '.join(_fmt(v) for v in trf[-4:])} dB, {abs(gain):.2f} dB "
                 f"{'above' if gain >= 0 else 'below'} the best earlier checkpoint"
                 f"{'' if gain >= 0 else ', which the rule passed over for its MSi'}.")
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
    sizes = sorted({a["num_moms"] for a in agreements})
    which = ("each model on its own random pairing of the selection list into MoMs"
             if study.seed is not None
             else "every model on the same MoMs of the selection list")
    rates = [100 * a["same_matrix"] for a in agreements]
    lines.append(f"- Efficient vs exhaustive MixIT on every run's selected model, {which} "
                 f"({len(agreements)} models × {'/'.join(str(n) for n in sizes)} MoMs): same "
                 f"mixing matrix on {100 * same / moms:.1f} % of the {moms} model–MoM pairs "
                 f"(per model {min(rates):.0f}–{max(rates):.0f} %), same loss (±1e-3 dB) on "
                 f"{100 * same_loss / moms:.1f} %; largest loss gap {worst:.2f} dB.")
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


def _seeded_figures(study, specs, results, rows_by_name, chosen, shipping, results_dir):
  """figure1.png (the frontier with seed intervals) and training.png of a seeded study."""
  chosen_names = {row.name for row, _ in chosen}
  floors = claims.floors(study, rows_by_name)
  points = []
  for row in rows_by_name.values():
    msi, one = row.test("MSi"), row.test("1S")
    if msi[0] is None or one[0] is None:
      continue
    sel = row.selection()["MSi"]
    points.append(figure.RowPoint(
        row.name, arms.title(row.arm), row.weight, row.num_sources, msi, one,
        chosen=row.name in chosen_names,
        below_floor=sel is not None and sel < floors.get(row.num_sources, float("-inf")),
        shipped=shipping["row"] == row.name))
  paths = []
  if points:
    paths.append(figure.plot_frontier(points, os.path.join(results_dir, "figure1.png"),
                                      study.msi_tolerance_db,
                                      title=f"{study.name}: test MSi vs 1S",
                                      pick_label="shipped" if shipping["complete"]
                                      else "rule's pick so far"))
  histories = {}
  for spec in specs:
    result = results.get(spec.name)
    if result is None or spec.arm == "baseline" or spec.name != spec.row:
      continue
    if (claims.row_name(spec.name) in chosen_names or spec.name == shipping["row"]
        or spec.arm in ("mixit",) + arms.semantic_names()):
      histories[spec.name] = [(c["step"], c["selection"].get("MSi"), c["selection"].get("1S"))
                              for c in result["checkpoints"]]
  if histories:
    paths.append(figure.plot_training(histories, os.path.join(results_dir, "training.png"),
                                      title="Selection-list metrics during fine-tuning"))
  return paths


def write_report(study, specs, results, results_dir, study_file, read_scores=None):
  """Writes table.md, results.json and figure1.png; returns the paths written.

  A seeded study (`Study.seed` set) whose runs kept per-example scores
  (`read_scores(run, task)`) also gets every row with seed intervals, every
  row against its control with bootstrap intervals, and a verdict per claim
  (`claims`); `results.json` holds the verdicts.
  """
  os.makedirs(results_dir, exist_ok=True)
  rule = RULE.format(tol=study.msi_tolerance_db)
  lines = [f"# {study.name}", "",
           f"Selection rule: {rule}. Test metrics (dB) on `{os.path.basename(study.test_list)}`; "
           f"under/over %: share of test mixtures with fewer/more active outputs than "
           f"active references.", ""]
  shipping = None
  if study.seed is None:
    rows = chosen_rows(study, specs, results)
    chosen_names = [name for name, _, _ in rows]
    shipped = shipped_run(study, rows)
    lines += ["## Table 1 (chosen weight per loss)", ""] + _table1(rows) + [
        "", f"Shipped model: {shipped or '(none yet)'}."]
  else:
    rows_by_name = claims.gather(specs, results, read_scores or (lambda run, task: None))
    rows = chosen_seeded_rows(study, rows_by_name)
    chosen_names = [row.name for row, _ in rows]
    shipping = claims.ship(study, rows_by_name)
    shipping["complete"] = all(s.name in results for s in specs)
    shipped = shipping["run"]
    lines += ["## Table 1 (chosen weight per loss; mean over seeds)", "",
              "A loss's weight is chosen by the rule on its rows' mean selection metrics over "
              "their seeds.", ""] + _table1_seeded(rows) + [
        "", _shipping_line(shipping, shipping["complete"])]
  lines += ["", "## Every run", ""] + _all_runs(specs, results) + [
            "", "## Facts for the paper's claims", ""] + _facts(study, specs, results)
  last = last_checkpoint_picks(specs, results)
  if last:
    lines += ["", "## Picked at the last checkpoint", "",
              "Runs whose selected checkpoint is their last: longer training might have "
              "picked a later one, unless selection had flattened.", ""] + last
  averaged = averaging.compare(results)
  if averaged is not None:
    lines += ["", "## Averaged weights against raw weights (same runs, same rule)", ""]
    lines += averaging.report_lines(averaged)
  verdicts = None
  if study.seed is not None and read_scores is not None:
    verdicts = claims.judge(study, rows_by_name)
    lines += ["", "## Rows: mean over seeds [95 % interval], test list", ""]
    lines += claims.row_table(rows_by_name, shipped and claims.row_name(shipped),
                              "shipped" if shipping["complete"] else "rule's pick so far")
    lines += ["", "## Against the MixIT-only control: difference [95 % interval]", ""]
    lines += claims.delta_table(rows_by_name)
    lines += ["", "## Verdicts", "", VERDICT_RULE.format(eq=claims.EQUIVALENCE_DB,
                                                         n=claims.NUM_RESAMPLES), ""]
    lines += claims.verdict_lines(verdicts)
  status = status_lines(study, specs, results)
  lines[2:2] = status + [""]
  paths = []
  readme = os.path.join(results_dir, "README.md")
  if write_readme_blocks(readme, {"status": status}):
    paths.append(readme)
  table_path = os.path.join(results_dir, "table.md")
  filesystem.write_text(table_path, "\n".join(lines) + "\n")
  paths.append(table_path)
  json_path = os.path.join(results_dir, "results.json")
  independence_record = os.path.join(results_dir, independence.RECORD_FOLDER,
                                     independence.RECORD_FILE)
  filesystem.write_text(json_path, json.dumps(
      {"study": study.name, "study_file": os.path.basename(study_file),
       "selection_rule": rule, "chosen": chosen_names, "shipped": shipped,
       **({"shipping": shipping} if shipping is not None else {}),
       **({"protocol": protocol.read(results_dir),
           "post_hoc_runs": sorted(n for n, r in results.items()
                                   if r.get("protocol", {}).get("post_hoc"))}
          if study.blind else {}),
       "runs": {s.name: results[s.name] for s in specs if s.name in results},
       **({"verdicts": verdicts} if verdicts is not None else {}),
       **({"averaging": averaged} if averaged is not None else {}),
       **({"independence": json.loads(filesystem.read_text(independence_record))}
          if filesystem.exists(independence_record) else {})},
      indent=1, sort_keys=True) + "\n")
  paths.append(json_path)
  try:
    if verdicts is not None:
      paths += _seeded_figures(study, specs, results, rows_by_name, rows, shipping, results_dir)
    else:
      points = []
      for spec in specs:
        result = results.get(spec.name)
        if result is None or result["test"].get("fuss", {}).get("MSi") is None:
          continue
        fuss = result["test"]["fuss"]
        points.append(figure.Point(spec.name, arms.title(spec.arm), spec.weight,
                                   fuss["MSi"], fuss["1S"], f"M = {spec.num_sources}"))
      if points:
        paths.append(figure.plot_tradeoff(points, os.path.join(results_dir, "figure1.png"),
                                          title=f"{study.name}: test MSi vs 1S"))
  except figure.MissingDependency as e:
    print(f"figures not written: {e}")
  return paths
