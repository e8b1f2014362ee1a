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
    if title:
      figure.suptitle(title)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    figure.savefig(out_path, format="png")
  finally:
    plt.close(figure)
  return out_path
