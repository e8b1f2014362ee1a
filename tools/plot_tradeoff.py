r"""Plots the MSi / 1S trade-off of a sweep of runs (the paper's Figure 1).

One point per run: x = 1S (single-source SI-SNR, dB), y = MSi (multi-source
SI-SNR improvement, dB), from the run's evaluator summary. One colour per
loss, the points of a loss joined in weight order; marker area grows with the
loss weight (log scale; weight 0, a baseline, gets the smallest marker). The
table printed to stdout lists every run and, per loss, the weight the
study's rule picks (`evaluation/selection.py`): the highest TRF among the
runs whose MSi is within `--msi_tolerance_db` of the reference MSi, the
baseline's (a run of weight 0, of any loss) if there is one, else the loss's
best. TRF alone, the paper's rule, prefers a weight that collapses every
mixture into one output.

Runs come from a CSV manifest with a header and the columns
`label,loss,weight,summary` (summary: the path of the JSON, relative to the
CSV), or from repeated `--run loss:weight:path`. A summary is a JSON object
with numbers "MSi" and "1S" at its top level (and "TRF", optional here).

Example:
  python tools/plot_tradeoff.py --runs sweep.csv --out tradeoff.png \
      --title "FUSS, M=8"

Needs matplotlib (the `plot` extra: pip install 'sound-separation[plot]').
"""

import argparse
import csv
import json
import math
import os
import sys
import typing

# The checkout this script belongs to (the figure code is the library's).
from sound_separation.evaluation import selection  # noqa: E402  pylint: disable=wrong-import-position
from sound_separation.study import figure  # noqa: E402  pylint: disable=wrong-import-position

PROG = "plot_tradeoff.py"
MANIFEST_COLUMNS = ("label", "loss", "weight", "summary")
marker_sizes = figure.marker_sizes


class Run(typing.NamedTuple):
  label: str
  loss: str
  weight: float
  summary: str  # path of the evaluator summary JSON.


class Point(typing.NamedTuple):
  run: Run
  msi: float  # dB.
  one_source: float  # 1S, dB.
  trf: typing.Optional[float]  # dB; None if the summary has none.


def _weight(text, where):
  try:
    weight = float(text)
  except ValueError:
    weight = math.nan
  if not math.isfinite(weight) or weight < 0:
    raise ValueError(f"{where}: weight must be a finite number >= 0, got {text!r}")
  return weight


def read_manifest(path):
  """Runs of a CSV manifest `label,loss,weight,summary`; summaries relative to the CSV."""
  folder = os.path.dirname(os.path.abspath(path))
  try:
    with open(path, encoding="utf-8", newline="") as f:
      rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1)
              if any(c.strip() for c in row)]
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise ValueError(f"cannot read the run manifest '{path}': {e}") from e
  if not rows:
    raise ValueError(f"run manifest '{path}' is empty")
  header = [c.strip() for c in rows[0][1]]
  missing = [c for c in MANIFEST_COLUMNS if c not in header]
  if missing:
    raise ValueError(f"run manifest '{path}': the header {header} lacks {missing}; expected "
                     f"{','.join(MANIFEST_COLUMNS)}")
  runs = []
  for number, row in rows[1:]:
    where = f"{path}:{number}"
    if len(row) != len(header):
      raise ValueError(f"{where}: {len(row)} fields, the header has {len(header)}")
    fields = {c: row[header.index(c)].strip() for c in MANIFEST_COLUMNS}
    if not fields["loss"] or not fields["summary"]:
      raise ValueError(f"{where}: empty loss or summary")
    weight = _weight(fields["weight"], where)
    runs.append(Run(fields["label"] or f"{fields['loss']} {weight:g}", fields["loss"], weight,
                    os.path.join(folder, fields["summary"])))
  if not runs:
    raise ValueError(f"run manifest '{path}' lists no runs")
  return runs


def parse_run(text):
  """A `Run` from `loss:weight:path` (the path may itself contain ':')."""
  parts = text.split(":", 2)
  if len(parts) != 3 or not parts[0] or not parts[2]:
    raise ValueError(f"--run must be loss:weight:path, got {text!r}")
  weight = _weight(parts[1], f"--run {text!r}")
  return Run(f"{parts[0]} {weight:g}", parts[0], weight, parts[2])


def read_summary(path):
  """`(msi, one_source, trf or None)` from an evaluator summary JSON."""
  try:
    with open(path, encoding="utf-8") as f:
      summary = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f"cannot read the summary '{path}': {e}") from e
  if not isinstance(summary, dict):
    raise ValueError(f"summary '{path}' is not a JSON object")
  values = {}
  for key in ("MSi", "1S", "TRF"):
    value = summary.get(key)
    if value is None and key == "TRF":
      continue
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
      raise ValueError(f"summary '{path}': {key!r} must be a finite number at the top level, "
                       f"got {value!r}")
    values[key] = float(value)
  return values["MSi"], values["1S"], values.get("TRF")


def load_points(runs):
  return [Point(run, *read_summary(run.summary)) for run in runs]


def best_by_rule(points, msi_tolerance_db=selection.DEFAULT_MSI_TOLERANCE_DB):
  """`{loss: (Point, meets_floor)}`: each loss's pick by the study's rule (see the module doc)."""
  metrics = lambda p: {"MSi": p.msi, "TRF": p.trf}  # noqa: E731
  baseline = selection.best_msi([p for p in points if p.run.weight == 0], key=metrics)
  best = {}
  for loss in dict.fromkeys(p.run.loss for p in points):
    mine = [p for p in points if p.run.loss == loss]
    reference = baseline if baseline is not None else selection.best_msi(mine, key=metrics)
    if reference is None:
      continue
    pick, meets = selection.select(mine, selection.floor(reference, msi_tolerance_db),
                                   key=metrics)
    if pick is not None:
      best[loss] = (pick, meets)
  return best


def plot_tradeoff(points, out_path, title=None, annotate="weight"):
  """Draws the points (`study.figure.plot_tradeoff`) and writes a PNG; returns `out_path`."""
  return figure.plot_tradeoff(
      [figure.Point(p.run.label, p.run.loss, p.run.weight, p.msi, p.one_source)
       for p in points], out_path, title, annotate)


def table(points, msi_tolerance_db=selection.DEFAULT_MSI_TOLERANCE_DB):
  """The printed summary: one line per run, then each loss's pick by the study's rule."""
  lines = [f"{'loss':16s} {'weight':>10s} {'MSi':>7s} {'1S':>7s} {'TRF':>7s}  label"]
  fmt = lambda v: "-" if v is None else f"{v:.2f}"
  for p in sorted(points, key=lambda p: (p.run.loss, p.run.weight)):
    lines.append(f"{p.run.loss:16s} {p.run.weight:10g} {fmt(p.msi):>7s} {fmt(p.one_source):>7s} "
                 f"{fmt(p.trf):>7s}  {p.run.label}")
  for loss, (p, meets) in best_by_rule(points, msi_tolerance_db).items():
    below = "" if meets else ", below the MSi floor: the best MSi instead"
    lines.append(f"picked for {loss}: weight {p.run.weight:g} (TRF {fmt(p.trf)} dB, MSi "
                 f"{fmt(p.msi)} dB, {p.run.label}{below})")
  return "\n".join(lines)


def parser():
  p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=__doc__.split("\n\n", 1)[1])
  p.add_argument("--runs", help="CSV manifest with the columns label,loss,weight,summary")
  p.add_argument("--run", action="append", default=[], metavar="LOSS:WEIGHT:PATH",
                 help="one run (repeatable; adds to --runs)")
  p.add_argument("--out", required=True, help="the PNG to write")
  p.add_argument("--title", default=None)
  p.add_argument("--annotate", choices=("weight", "label", "none"), default="weight",
                 help="text next to each point")
  p.add_argument("--msi_tolerance_db", type=float, default=selection.DEFAULT_MSI_TOLERANCE_DB,
                 help="the selection rule's MSi budget (dB)")
  return p


def main(argv=None):
  args = parser().parse_args(argv)
  if not args.runs and not args.run:
    parser().error("give the runs: --runs manifest.csv and/or --run loss:weight:path")
  try:
    runs = read_manifest(args.runs) if args.runs else []
    runs += [parse_run(text) for text in args.run]
    points = load_points(runs)
    plot_tradeoff(points, args.out, args.title, args.annotate)
  except (ValueError, OSError, figure.MissingDependency) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  print(table(points, args.msi_tolerance_db))
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
