"""`study.averaging`: the swing between adjacent checkpoints and the test effect of averaging,
against values worked out by hand and SciPy's Student-t quantiles."""

import math

import pytest
from scipy import stats

from sound_separation.study import averaging


def _run(raw_msi, averaged_msi, raw_test, averaged_test):
  checkpoints = lambda values: [{"step": 250 * (i + 1), "selection": {"MSi": v}}  # noqa: E731
                                for i, v in enumerate(values)]
  return {"checkpoints": checkpoints(averaged_msi),
          "selected": {"step": 500},
          "test": {"fuss": dict(zip(averaging.METRICS, averaged_test))},
          "raw_weights": {"checkpoints": checkpoints(raw_msi), "selected": {"step": 750},
                          "test": {"fuss": dict(zip(averaging.METRICS, raw_test))}}}


def test_swing_is_the_largest_adjacent_change_skipping_missing_values():
  # Round 2's shipped run: |3.12 - 4.68| is its largest step.
  largest, mean = averaging.swing([3.55, 3.12, 4.68, 4.57, 4.15, 3.77, 5.19, 3.83])
  assert largest == pytest.approx(1.56)
  assert mean == pytest.approx((0.43 + 1.56 + 0.11 + 0.42 + 0.38 + 1.42 + 1.36) / 7)
  assert averaging.swing([1.0, None, 3.0, float("nan")]) == (2.0, 2.0)
  assert averaging.swing([2.0]) == (None, None)


def test_compare_pairs_each_run_and_intervals_are_student_t_over_runs():
  results = {
      "a": _run([1.0, 3.0, 2.0], [1.5, 2.0, 2.2], (4.0, 10.0, 6.0), (4.5, 11.0, 6.0)),
      "b": _run([2.0, 2.5, 4.0], [2.0, 2.4, 2.6], (5.0, 12.0, 7.0), (5.1, 12.5, 7.5)),
      "c": _run([0.0, 1.0, 1.2], [0.5, 0.6, 0.9], (3.0, 9.0, 5.0), (3.9, 8.0, 5.2)),
      "no_average": {"checkpoints": [], "test": {}},
  }
  out = averaging.compare(results)
  assert sorted(out["runs"]) == ["a", "b", "c"]
  assert out["runs"]["a"]["swing_raw_db"] == pytest.approx(2.0)
  assert out["runs"]["b"]["swing_averaged_db"] == pytest.approx(0.4)
  assert out["runs"]["a"]["step_raw"] == 750 and out["runs"]["a"]["step_averaged"] == 500
  raw, avg = [2.0, 1.5, 1.0], [0.5, 0.4, 0.3]
  assert out["swing"]["raw"]["mean"] == pytest.approx(1.5)
  assert out["swing"]["averaged"]["mean"] == pytest.approx(0.4)
  assert out["swing"]["meets_target"]
  diff = [a - r for a, r in zip(avg, raw)]
  half = stats.t.ppf(0.975, 2) * stats.tstd(diff) / math.sqrt(3)
  pair = out["swing"]["averaged_minus_raw"]
  assert pair["mean"] == pytest.approx(sum(diff) / 3)
  assert pair["low"] == pytest.approx(sum(diff) / 3 - half, abs=1e-3)
  assert pair["high"] == pytest.approx(sum(diff) / 3 + half, abs=1e-3)
  one_s = [1.0, 0.5, -1.0]
  assert out["test"]["1S"]["mean"] == pytest.approx(sum(one_s) / 3)
  lines = "\n".join(averaging.report_lines(out))
  assert "| a | 2.00 | 0.50 | 750 → 500 | +0.50 | +1.00 | +0.00 |" in lines
  assert "Target ≤ 0.5 dB: met" in lines


def test_an_averaged_swing_above_the_target_is_not_met_and_one_run_has_no_interval():
  out = averaging.compare({"a": _run([1.0, 1.2], [1.0, 2.0], (1, 1, 1), (2, 2, 2))})
  assert not out["swing"]["meets_target"]
  assert out["swing"]["averaged"]["low"] is None
  assert "(one run)" in "\n".join(averaging.report_lines(out))
  assert averaging.compare({"x": {"checkpoints": []}}) is None
