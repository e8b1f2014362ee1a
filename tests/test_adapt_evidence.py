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
  runs = {f"speech_s{s}": {"domain": "speech", "seed": s, "steps": 11270, "cpu_hours": 2.0,
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
