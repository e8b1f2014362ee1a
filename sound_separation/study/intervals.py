"""Error bars for a study: seed intervals, paired bootstrap intervals, verdicts.

A study row (a loss arm at one weight) may be trained with several seeds and
is tested on one list of mixtures whose per-example scores are kept
(`runner.scores_path`). Two sources of noise then matter: which mixtures the
test list happens to hold, and which seed trained the model. This module
measures both (docs/study.md, "Error bars"):

- `seed_interval(values)`: the mean of a metric over a row's seeds and its
  95 % Student-t interval (None with one seed).
- `paired_bootstrap(rows_a, rows_b, metric)`: the difference of a metric
  between two rows (e.g. an arm minus the control) with a 95 % percentile
  interval from a two-level bootstrap: each replicate draws the test
  mixtures with replacement (the same draw for both rows: the comparison is
  paired) and, within each row, its seeds with replacement; the row's value
  is the mean over the drawn seeds of the metric on the drawn mixtures.
- `verdict(interval, paper_effect)`: the claim-level verdict of the study's
  stated criterion.
- `pooled_sd(groups)`: the seed-to-seed spread of a value pooled over rows
  (the shipping margin, `claims.ship`).

The metrics are recomputed from per-example records exactly as
`evaluation.metrics.summarize` computes them (MSi pooled over active
source pairs, 1S over single-source mixtures, TRF weighted by the share of
each source count, MoMi over the MoMs' active mixtures), vectorised over the
bootstrap replicates.
"""

import math

import numpy as np

METRICS = ("MSi", "1S", "TRF", "MoMi", "over_separation", "under_separation")
# Two-sided Student-t quantiles t_{0.975, dof} for small numbers of seeds.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228}
MAX_SOURCES = 4

VERDICTS = ("reproduced", "direction only", "not reproduced", "inconclusive", "not tested")


class Scores:
  """One run's per-example test records as arrays (what the metrics need of them).

  Args:
    records: `metrics.score_example` / `score_mom` dicts of one list, in list
      order (every run of a comparison must hold the same examples in the same
      order: the bootstrap pairs them by position).
  """

  def __init__(self, records):
    records = list(records)
    if not records:
      raise ValueError("no records")
    self.kind = records[0]["kind"]
    self.num_examples = len(records)
    if self.kind == "mom":
      values = [[v for v in r["si_snri"] if v is not None] for r in records]
      self.pair_sum = np.array([sum(v) for v in values], np.float64)
      self.pair_count = np.array([len(v) for v in values], np.float64)
      return
    self.num_refs = np.array([r["num_active_refs"] for r in records], np.int64)
    self.pair_sum = np.array([sum(v for v, a in zip(r["si_snri"], r["pair_active"]) if a)
                              for r in records], np.float64)
    self.pair_count = np.array([sum(1 for a in r["pair_active"] if a) for r in records],
                               np.float64)
    self.one_source = np.array([np.nan if r["1S"] is None else r["1S"] for r in records],
                               np.float64)
    self.over = np.array([r["over_separation"] or 0 for r in records], np.float64)
    self.under = np.array([r["under_separation"] or 0 for r in records], np.float64)
    self.all_fuss = all(r["kind"] == "fuss" for r in records)

  def metric(self, name, index=None):
    """The metric on the examples `index` `[R, N]` (rows: replicates); `[R]` float64.

    NaN where `summarize` would give None. `index=None` means the list as it is
    (one replicate). Shares ("over_separation", "under_separation") are
    fractions of the examples with an active reference.
    """
    if index is None:
      index = np.arange(self.num_examples)[np.newaxis]
    index = np.asarray(index)
    with np.errstate(invalid="ignore", divide="ignore"):
      if self.kind == "mom":
        if name != "MoMi":
          return np.full(index.shape[0], np.nan)
        return self.pair_sum[index].sum(1) / self.pair_count[index].sum(1)
      if name == "MoMi":
        return np.full(index.shape[0], np.nan)
      refs = self.num_refs[index]
      scored = (refs > 0).sum(1)
      if name == "MSi":
        multi = refs >= 2
        return (self.pair_sum[index] * multi).sum(1) / (self.pair_count[index] * multi).sum(1)
      if name == "1S":
        return _nanmean(self.one_source[index])
      if name in ("over_separation", "under_separation"):
        flags = self.over if name == "over_separation" else self.under
        return (flags[index] * (refs > 0)).sum(1) / scored
      if name == "TRF":
        if not self.all_fuss:
          return np.full(index.shape[0], np.nan)
        total = np.zeros(index.shape[0])
        for n in range(1, MAX_SOURCES + 1):
          group = refs == n
          count = group.sum(1)
          if n == 1:
            ones = np.where(group, self.one_source[index], np.nan)
            score = _nanmean(ones)
          else:
            score = ((self.pair_sum[index] * group).sum(1)
                     / (self.pair_count[index] * group).sum(1))
          share = count / scored
          # A source count absent from the draw adds nothing; present but
          # without a score, TRF is undefined (summarize gives None).
          total = total + np.where(count > 0, share * score, 0.0)
        return total
    raise ValueError(f"unknown metric {name!r}; the metrics are {METRICS}")


def _nanmean(values):
  """Row means of `[R, N]` ignoring NaN; NaN for rows without a value."""
  present = ~np.isnan(values)
  count = present.sum(1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(count > 0, np.where(present, values, 0.0).sum(1) / count, np.nan)


def seed_interval(values, level=0.95):
  """`(mean, low, high)` of a metric over seeds; low/high None with fewer than 2 values.

  The interval is the Student-t interval of the mean (`level` 0.95 only).
  """
  if level != 0.95:
    raise ValueError("only the 95 % interval is tabulated")
  values = [v for v in values if v is not None and math.isfinite(v)]
  if not values:
    return None, None, None
  mean = float(np.mean(values))
  if len(values) < 2:
    return mean, None, None
  dof = len(values) - 1
  half = _T975.get(dof, 1.96) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
  return mean, mean - half, mean + half


def pooled_sd(groups):
  """The pooled standard deviation of several groups' values, or None.

  `sqrt(sum_g (n_g - 1) s_g^2 / sum_g (n_g - 1))` over the groups with at
  least two finite values (`s_g`: the group's sample standard deviation):
  the spread of one value around its group's mean when every group shares
  it, e.g. a selection metric's seed-to-seed spread over the seeded rows.
  """
  squares, dof = 0.0, 0
  for values in groups:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if len(values) >= 2:
      squares += (len(values) - 1) * float(np.var(values, ddof=1))
      dof += len(values) - 1
  return math.sqrt(squares / dof) if dof else None


def _check_rows(rows):
  rows = [row if isinstance(row, Scores) else Scores(row) for row in rows]
  if not rows:
    raise ValueError("a row needs the scores of at least one seed")
  return rows


def paired_bootstrap(rows_a, rows_b, metric, num_resamples=2000, seed=0, level=0.95):
  """Difference `metric(a) - metric(b)` with a paired, two-level bootstrap interval.

  Args:
    rows_a, rows_b: each a list with one `Scores` (or record list) per seed
      of the row; all on the same examples in the same order.
    metric: one of `METRICS`.
    num_resamples: bootstrap replicates.
    seed: of the resampling.
    level: the interval's coverage.

  Returns:
    dict: "delta" (the difference of the seed means on the list as it is),
    "low", "high" (percentile interval; None when too few replicates are
    defined), "num_resamples", "seeds_a", "seeds_b".

  Raises:
    ValueError: the rows hold different numbers of examples.
  """
  rows_a, rows_b = _check_rows(rows_a), _check_rows(rows_b)
  sizes = {r.num_examples for r in rows_a + rows_b}
  if len(sizes) != 1:
    raise ValueError(f"the rows hold different numbers of examples: {sorted(sizes)}; a paired "
                     f"comparison needs the same test list")
  num_examples = sizes.pop()
  rng = np.random.default_rng(seed)
  index = rng.integers(0, num_examples, size=(num_resamples, num_examples))

  def row_value(rows, index):
    per_seed = np.stack([r.metric(metric, index) for r in rows])  # [S, R]
    if len(rows) == 1 or index.shape[0] == 1:
      return per_seed.mean(0)
    draw = rng.integers(0, len(rows), size=(len(rows), index.shape[0]))
    return np.take_along_axis(per_seed, draw, axis=0).mean(0)

  delta = float(row_value(rows_a, np.arange(num_examples)[np.newaxis])[0]
                - row_value(rows_b, np.arange(num_examples)[np.newaxis])[0])
  replicates = row_value(rows_a, index) - row_value(rows_b, index)
  replicates = replicates[np.isfinite(replicates)]
  low = high = None
  if replicates.size >= 0.9 * num_resamples:
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = (float(v) for v in np.percentile(replicates, [tail, 100.0 - tail]))
  return {"delta": delta if math.isfinite(delta) else None, "low": low, "high": high,
          "num_resamples": num_resamples, "seeds_a": len(rows_a), "seeds_b": len(rows_b)}


def verdict(low, high, paper_low, paper_high=math.inf):
  """The study's verdict on one claim, from the 95 % interval of the measured effect.

  The paper claims an effect in `[paper_low, paper_high]` on one side of
  zero (e.g. a 1S gain of +10 to +17 dB: `(10, 17)`; "positive":
  `(tiny, inf)`). The criterion (docs/study.md#verdicts):

  - "reproduced": the interval excludes no effect (0), on the paper's side,
    and overlaps the paper's range;
  - "direction only": it excludes no effect on the paper's side but lies
    outside the paper's range (the effect is there, smaller or larger);
  - "not reproduced": it excludes no effect on the other side, or it holds
    zero and excludes the whole of the paper's range;
  - "inconclusive": it holds zero and part of the paper's range;
  - "not tested": no interval.
  """
  if low is None or high is None:
    return "not tested"
  positive = paper_low > 0
  overlaps_paper = high >= paper_low and low <= paper_high
  if (low > 0 and positive) or (high < 0 and not positive):
    return "reproduced" if overlaps_paper else "direction only"
  if low > 0 or high < 0:
    return "not reproduced"
  return "inconclusive" if overlaps_paper else "not reproduced"


def equivalence_verdict(low, high, margin):
  """The verdict on a claim of *no* difference ("made no significant difference").

  - "reproduced": the whole interval lies within `±margin` (the difference
    the study calls negligible, stated beside the verdict);
  - "not reproduced": the interval lies entirely outside `±margin`;
  - "inconclusive": otherwise; "not tested": no interval.
  """
  if low is None or high is None:
    return "not tested"
  if -margin <= low and high <= margin:
    return "reproduced"
  if low > margin or high < -margin:
    return "not reproduced"
  return "inconclusive"
