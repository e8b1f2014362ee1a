"""tools/adapt_evidence.py's report: verdicts and the target sentence from planted results."""

import importlib.util
import pathlib

import pytest

TOOL = pathlib.Path(__file__).resolve().parent.parent / "tools" / "adapt_evidence.py"


@pytest.fixture(scope="module")
def tool():
  spec = importlib.util.spec_from_file_location("adapt_evidence", TOOL)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _results(mean, low, high, delta=(5.0, 4.0, 6.0)):
  metric = lambda m, lo, hi: {"mean": m, "low": lo, "high": hi}  # noqa: E731
  row = {"seeds": [1, 2, 3],
         "start": {"MSi": 0.2, "1S": 20.0, "TRF": None, "over_separation": 0.0,
                   "under_separation": 100.0, "per_source_count": {}},
         "adapted": {"MSi": metric(mean, low, high), "1S": metric(18.0, 17.0, 19.0),
                     "TRF": metric(None, None, None), "over_separation": metric(40.0, 30.0, 50.0),
                     "under_separation": metric(5.0, 0.0, 10.0)},
         "adapted_per_seed": [],
         "delta": {"MSi": {"delta": delta[0], "low": delta[1], "high": delta[2]},
                   "1S": {"delta": -2.0, "low": -3.0, "high": 0.5},
                   "TRF": {"delta": None, "low": None, "high": None}}}
  runs = {f"speech_s{s}": {"domain": "speech", "group": "speech", "seed": s, "steps": 11270, "cpu_hours": 2.0,
                           "selected_step": 9400} for s in (1, 2, 3)}
  return {"rows": {"speech": {"speech_clean": row}}, "runs": runs, "curves": {}}


@pytest.mark.parametrize("adapted, sentence", [
    ((7.0, 6.5, 7.5), "the 6 dB target is met: the interval lies above it"),
    ((6.2, 5.1, 7.3), "the 6 dB target is met by the mean; the interval reaches below it"),
    ((3.25, 2.0, 4.5), "the 6 dB target is not met: short by 2.75 dB"),
])
def test_the_target_sentence_follows_the_interval(tool, tmp_path, adapted, sentence):
  tool.write_readme(_results(*adapted), tmp_path / "README.md")
  text = (tmp_path / "README.md").read_text()
  assert sentence in text
  assert f"{adapted[0]:.2f} [{adapted[1]:.2f}, {adapted[2]:.2f}] dB after" in text


def test_verdicts_read_the_interval_not_the_sign(tool, tmp_path):
  assert tool._verdict({"delta": 0.4, "low": -0.1, "high": 0.9}) == "inconclusive"  # pylint: disable=protected-access
  assert tool._verdict({"delta": 0.4, "low": 0.1, "high": 0.9}) == "better"  # pylint: disable=protected-access
  assert tool._verdict({"delta": -0.4, "low": -0.9, "high": -0.1}) == "worse"  # pylint: disable=protected-access
  tool.write_readme(_results(7.0, 6.5, 7.5), tmp_path / "README.md")
  text = (tmp_path / "README.md").read_text()
  assert "| speech_clean | MSi | 0.20 | 7.00 [6.50, 7.50] | +5.00 [+4.00, +6.00] | better |" in text
  assert "| speech_clean | 1S | 20.00 | 18.00 [17.00, 19.00] | -2.00 [-3.00, +0.50] | " \
         "inconclusive |" in text
  assert "3 seeds (1, 2, 3)" in text


def test_partial_results_and_the_reading_are_generated_from_the_rows(tool, tmp_path):
  results = _results(3.25, 2.0, 4.5)
  del results["runs"]["speech_s3"]
  results["rows"]["speech"]["speech_clean"]["seeds"] = [1, 2]
  tool.write_readme(results, tmp_path / "README.md")
  text = (tmp_path / "README.md").read_text()
  assert "**Partial: 2 of the plan's 3 seeds.**" in text
  assert "short by 2.75 dB (partial: 2 of 3 seeds)." in text
  assert ("mixtures over-separated (more active outputs than references): 0 % before, 40 % "
          "after; under-separated: 100 % before, 5 % after.") in text


def test_each_speech_arm_is_set_against_the_target(tool, tmp_path):
  results = _results(3.25, 2.0, 4.5)
  sparse = _results(6.2, 5.1, 7.3)
  results["rows"]["speech_sparse"] = sparse["rows"]["speech"]
  results["runs"].update({f"speech_sparse_s{s}": dict(r, group="speech_sparse")
                          for s, r in zip((1, 2, 3), sparse["runs"].values())})
  tool.write_readme(results, tmp_path / "README.md")
  text = (tmp_path / "README.md").read_text()
  assert ("- MixIT alone: two-speaker MSi (clean) 0.20 dB before, 3.25 [2.00, 4.50] dB after; "
          "the 6 dB target is not met: short by 2.75 dB.") in text
  assert ("- MixIT + sparsity (--sparsity_weight=5): two-speaker MSi (clean) 0.20 dB before, "
          "6.20 [5.10, 7.30] dB after; the 6 dB target is met by the mean; the interval "
          "reaches below it.") in text


def _speech_records(noise, seed, count=12, samples=800):
  """Planted two-speaker separations: each output a speaker plus noise of a given level."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from sound_separation.evaluation import metrics  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  records = []
  for _ in range(count):
    speakers = rng.standard_normal([2, samples])
    estimates = speakers + noise * rng.standard_normal([2, samples])
    records.append(metrics.score_speech(speakers.sum(0), speakers, estimates))
  return records


def test_a_share_interval_stays_within_0_and_100_percent(tool):
  import numpy as np  # pylint: disable=import-outside-toplevel
  from sound_separation.evaluation import metrics  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)

  def records(extra_output):
    # Two speakers; with `extra_output` a third active output (noise) makes
    # every example over-separated.
    out = []
    for _ in range(6):
      speakers = rng.standard_normal([2, 800])
      estimates = speakers + 0.3 * rng.standard_normal([2, 800])
      if extra_output:
        estimates = np.concatenate([estimates, rng.standard_normal([1, 800])])
      out.append(metrics.score_speech(speakers.sum(0), speakers, estimates))
    return out

  row = tool.set_row({"seeds": [1, 2], "start": records(False),
                      "adapted": [records(True), records(False)]})
  over = row["adapted"]["over_separation"]
  assert over["mean"] == 50.0
  # Two seeds at 100 % and 0 %: the t-interval (±12.7 · 50 %) is cut at the share's limits.
  assert (over["low"], over["high"]) == (0.0, 100.0)
  assert (row["adapted"]["under_separation"]["low"],
          row["adapted"]["under_separation"]["high"]) == (0.0, 0.0)
  # dB metrics are not cut: MSi keeps the plain two-seed t-interval,
  # mean ± t(0.975, 1 df) · |a − b| / 2 with t = 12.706.
  a, b = (seed["MSi"] for seed in row["adapted_per_seed"])
  half = 12.7062 * abs(a - b) / 2
  assert row["adapted"]["MSi"]["low"] == pytest.approx((a + b) / 2 - half, rel=1e-4)
  assert row["adapted"]["MSi"]["high"] == pytest.approx((a + b) / 2 + half, rel=1e-4)


def _planted_arms(sparse_noise, mixit_noise, sparse_seeds=(1, 2, 3)):
  def arm(noise, seeds):
    return {"adapted": [_speech_records(noise, 100 * s) for s in seeds], "seeds": list(seeds)}
  return {("speech_sparse", "speech_clean"): arm(sparse_noise, sparse_seeds),
          ("speech", "speech_clean"): arm(mixit_noise, (1, 2, 3))}


def test_the_sparsity_default_follows_the_plans_rule(tool, tmp_path):
  # Less noise in the sparsity arm's outputs: a higher MSi, clear of 0.
  decision = tool.sparsity_decision(_planted_arms(0.3, 0.6))
  assert decision["sparse_mean"] > decision["mixit_mean"] + 3  # 20·log10(2) ≈ 6 dB apart
  assert decision["delta"]["low"] > 0 and decision["default"] == "sparsity"
  # The same arms swapped: MixIT alone stays.
  assert tool.sparsity_decision(_planted_arms(0.6, 0.3))["default"] == "MixIT alone"
  # Equal noise levels: a difference inside its interval does not switch the default.
  even = tool.sparsity_decision(_planted_arms(0.45, 0.45))
  assert even["delta"]["low"] < 0 < even["delta"]["high"] and even["default"] == "MixIT alone"
  # Fewer than the planned seeds: no decision, and the README says so.
  partial = tool.sparsity_decision(_planted_arms(0.3, 0.6, sparse_seeds=(1, 2)))
  assert partial["default"] is None and not partial["complete"]
  results = _results(3.25, 2.0, 4.5)
  results["sparsity_decision"] = partial
  tool.write_readme(results, tmp_path / "README.md")
  text = (tmp_path / "README.md").read_text()
  assert "Not decided yet: the rule waits for every planned seed of both arms" in text
  assert "(seeds 1, 2)" in text
  # Without the sparsity arm's runs there is nothing to decide.
  assert tool.sparsity_decision({("speech", "speech_clean"): {"adapted": [], "seeds": []}}) is None
