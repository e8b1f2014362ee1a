"""The MSi-1S trade-off of a loss-weight sweep (the paper's Figure 1).

One point per run: x = 1S (single-source SI-SNR, dB), y = MSi (multi-source
SI-SNR improvement, dB). One colour per loss, its points joined in weight
order; the marker area grows with the weight (log scale; weight 0, a
baseline or control, gets the smallest marker). Points may be split into
panels (e.g. one per number of outputs M).

Needs matplotlib (the `plot` extra: `pip install 'sound-separation[plot]'`).
"""

import math
import os
import textwrap
import typing

# Marker areas (points²) of the smallest and largest weights.
_SMALLEST, _LARGEST = 30.0, 320.0


class Point(typing.NamedTuple):
  label: str  # shown with annotate='label'.
  loss: str  # the series (colour).
  weight: float  # >= 0; the marker size.
  msi: float  # dB.
  one_source: float  # 1S, dB.
  panel: str = ""  # points with the same panel share axes.


class MissingDependency(RuntimeError):
  """matplotlib is not installed."""


def marker_sizes(weights):
  """Marker areas: log-spaced between the smallest and largest positive weights."""
  positive = [w for w in weights if w > 0]
  if not positive:
    return [_SMALLEST for _ in weights]
  low, high = math.log(min(positive)), math.log(max(positive))
  sizes = []
  for w in weights:
    if w <= 0:
      sizes.append(_SMALLEST)
    elif high == low:
      sizes.append((_SMALLEST + _LARGEST) / 2)
    else:
      fraction = (math.log(w) - low) / (high - low)
      sizes.append(_SMALLEST + 20.0 + fraction * (_LARGEST - _SMALLEST - 20.0))
  return sizes


def _pyplot():
  try:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise MissingDependency(
        f"plotting needs matplotlib: pip install 'sound-separation[plot]' (or "
        f"pip install 'matplotlib>=3.6'); importing it failed: {e}") from e
  return plt


def _save(figure, out_path, title):
  """Titles, lays out and writes a figure as PNG (its folder created)."""
  if title:
    width = int(figure.get_figwidth() * 11)  # characters that fit at this size
    figure.suptitle(textwrap.fill(title, max(width, 40)), fontsize=10)
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  figure.savefig(out_path, format="png")


def plot_tradeoff(points, out_path, title=None, annotate="weight"):
  """Draws the points (one panel per `Point.panel`) and writes a PNG; returns `out_path`.

  Args:
    points: `Point`s.
    out_path: the PNG to write (its folder is created).
    title: the figure's title, or None.
    annotate: the text beside each point: 'weight', 'label' or 'none'.
  """
  if annotate not in ("weight", "label", "none"):
    raise ValueError(f"annotate must be 'weight', 'label' or 'none', got {annotate!r}")
  plt = _pyplot()
  points = list(points)
  sizes = dict(zip(points, marker_sizes([p.weight for p in points])))
  losses = list(dict.fromkeys(p.loss for p in points))  # first-seen order: stable colours.
  panels = list(dict.fromkeys(p.panel for p in points))
  figure, axes_list = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.8), dpi=150,
                                   squeeze=False)
  try:
    for axes, panel in zip(axes_list[0], panels):
      for k, loss in enumerate(losses):
        series = sorted((p for p in points if p.loss == loss and p.panel == panel),
                        key=lambda p: p.weight)
        if not series:
          continue
        color = f"C{k % 10}"
        axes.plot([p.one_source for p in series], [p.msi for p in series], color=color,
                  linewidth=0.8, alpha=0.6, zorder=1)
        axes.scatter([p.one_source for p in series], [p.msi for p in series],
                     s=[sizes[p] for p in series], color=color, alpha=0.8,
                     edgecolors="black", linewidths=0.5, label=loss, zorder=2)
        for p in series:
          text = {"weight": f"{p.weight:g}", "label": p.label, "none": None}[annotate]
          if text:
            axes.annotate(text, (p.one_source, p.msi), textcoords="offset points",
                          xytext=(5, 4), fontsize=7)
      axes.set_xlabel("1S: single-source SI-SNR (dB)")
      axes.set_ylabel("MSi: multi-source SI-SNRi (dB)")
      axes.grid(True, linewidth=0.3)
      if panel:
        axes.set_title(panel)
      # Every legend marker at one size: the size encodes the weight.
      legend = axes.legend(title="loss (marker size: weight)", fontsize=8, title_fontsize=8)
      # `legend_handles` is matplotlib >= 3.7's name of `legendHandles`.
      for handle in getattr(legend, "legend_handles", None) or legend.legendHandles:
        handle.set_sizes([60.0])
    _save(figure, out_path, title)
  finally:
    plt.close(figure)
  return out_path


class RowPoint(typing.NamedTuple):
  """A row of a seeded study for `plot_frontier` (test metrics, dB)."""
  name: str
  loss: str  # the series (colour); the baseline is its own series.
  weight: float
  num_sources: int
  msi: typing.Tuple  # (mean, low, high); low/high None with one seed
  one_source: typing.Tuple
  chosen: bool = False  # picked by the selection rule for its loss
  below_floor: bool = False  # its selection MSi misses the budget
  shipped: bool = False


def plot_frontier(points, out_path, budget_db=1.0, title=None, pick_label="shipped"):
  """Figure 1 of a seeded study: MSi against 1S per M, one line per loss.

  Panels (one per M) share their axes. Each loss's line starts at its M's
  baseline and runs through its weights in order; seed intervals are drawn
  as error bars; the rule's chosen rows are ringed, the shipped one (or the
  rule's pick so far: `pick_label`) starred,
  rows below the MSi floor hollow; a dashed line marks the baseline's test
  MSi minus the budget.
  """
  plt = _pyplot()
  points = list(points)
  panels = sorted({p.num_sources for p in points})
  losses = list(dict.fromkeys(p.loss for p in points if p.weight > 0 or p.loss != "baseline"))
  # The legend sits right of the last panel: with a dozen arms it would hide points.
  figure, axes_list = plt.subplots(1, len(panels), figsize=(5.0 * len(panels) + 3.5, 4.8),
                                   dpi=150, squeeze=False, sharex=True, sharey=True)
  try:
    for axes, m in zip(axes_list[0], panels):
      here = [p for p in points if p.num_sources == m]
      base = next((p for p in here if p.loss == "Baseline (MixIT)"), None)
      if base is not None:
        axes.axhline(base.msi[0] - budget_db, color="grey", linestyle="--", linewidth=0.8,
                     label=f"baseline MSi − {budget_db:g} dB")
      for k, loss in enumerate(losses):
        series = sorted((p for p in here if p.loss == loss), key=lambda p: p.weight)
        if not series:
          continue
        color = f"C{k % 10}"
        line = ([base] if base is not None and loss != base.loss else []) + series
        axes.plot([p.one_source[0] for p in line], [p.msi[0] for p in line], color=color,
                  linewidth=0.9, alpha=0.7)
        for p in series:
          xerr = None if p.one_source[1] is None else [[p.one_source[0] - p.one_source[1]],
                                                       [p.one_source[2] - p.one_source[0]]]
          yerr = None if p.msi[1] is None else [[p.msi[0] - p.msi[1]], [p.msi[2] - p.msi[0]]]
          axes.errorbar(p.one_source[0], p.msi[0], xerr=xerr, yerr=yerr, color=color,
                        marker="o", markersize=6,
                        markerfacecolor="white" if p.below_floor else color,
                        markeredgecolor="black" if p.chosen else color, capsize=2,
                        linewidth=0.8, label=loss if p is series[0] else None)
          if p.weight > 0:
            axes.annotate(f"{p.weight:g}", (p.one_source[0], p.msi[0]),
                          textcoords="offset points", xytext=(5, 4), fontsize=7)
          if p.shipped:
            axes.scatter([p.one_source[0]], [p.msi[0]], s=260, marker="*", color="gold",
                         edgecolors="black", zorder=5, label=pick_label)
      axes.set_title(f"M = {m}")
      axes.set_xlabel("1S: single-source SI-SNR (dB)")
      axes.set_ylabel("MSi: multi-source SI-SNRi (dB)")
      axes.grid(True, linewidth=0.3)
    handles = {}
    for axes in axes_list[0]:
      for handle, label in zip(*axes.get_legend_handles_labels()):
        handles.setdefault(label, handle)
    axes_list[0][-1].legend(handles.values(), handles.keys(), fontsize=7, loc="upper left",
                            bbox_to_anchor=(1.02, 1.0),
                            title="black edge: chosen\nhollow: below the MSi floor",
                            title_fontsize=7)
    _save(figure, out_path, title)
  finally:
    plt.close(figure)
  return out_path


def _num_sources(name):
  """M of a run named `m<M>/...` (None for other names)."""
  head = name.split("/", 1)[0]
  return int(head[1:]) if head[:1] == "m" and head[1:].isdigit() else None


def plot_training(histories, out_path, title=None):
  """Selection-list MSi and 1S against the fine-tuning step, one line per run.

  A run named `m<M>/...` is drawn solid at the smallest M, dashed and then
  dotted at larger ones, so that a colour reused among many runs still
  tells them apart; the legend sits beside the panels.

  Args:
    histories: `{run name: [(step, MSi, 1S)]}`.
  """
  plt = _pyplot()
  sizes = sorted({_num_sources(name) for name in histories} - {None})
  styles = {m: ("-", "--", ":", "-.")[min(k, 3)] for k, m in enumerate(sizes)}
  figure, (left, right) = plt.subplots(1, 2, figsize=(13.5, 4.4), dpi=150)
  try:
    for k, (name, history) in enumerate(histories.items()):
      steps = [h[0] for h in history]
      style = dict(marker="o", markersize=3, color=plt.get_cmap("tab20")(k % 20),
                   linestyle=styles.get(_num_sources(name), "-"), label=name)
      left.plot(steps, [h[1] for h in history], **style)
      right.plot(steps, [h[2] for h in history], **style)
    for axes, what in ((left, "MSi (dB)"), (right, "1S (dB)")):
      axes.set_xlabel("step")
      axes.set_ylabel(f"selection-list {what}")
      axes.grid(True, linewidth=0.3)
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    _save(figure, out_path, title)
  finally:
    plt.close(figure)
  return out_path


def plot_curves(curves, out_path, metrics=("MSi", "1S", "TRF"), x_label="CPU-hours",
                title=None, y_label="selection-list {metric} (dB)"):
  """One panel per metric, one line per series (e.g. selection metrics against CPU time).

  Args:
    curves: `{series label: [(x, {metric: dB or None})]}`, each in x order;
      a missing value leaves a gap.
    metrics: the panels, in order.
    y_label: each panel's axis label, `{metric}` filled in.
  """
  plt = _pyplot()
  figure, axes_list = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 4.0), dpi=150,
                                   squeeze=False)
  try:
    for k, (label, points) in enumerate(curves.items()):
      color = plt.get_cmap("tab10")(k % 10)
      for axes, metric in zip(axes_list[0], metrics):
        values = [float("nan") if p[1].get(metric) is None else p[1][metric] for p in points]
        axes.plot([p[0] for p in points], values, marker="o", markersize=3, color=color,
                  label=label)
    for axes, metric in zip(axes_list[0], metrics):
      axes.set_xlabel(x_label)
      axes.set_ylabel(y_label.format(metric=metric))
      axes.grid(True, linewidth=0.3)
    axes_list[0][-1].legend(fontsize=7)
    _save(figure, out_path, title)
  finally:
    plt.close(figure)
  return out_path
