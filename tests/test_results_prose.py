"""Every interval the READMEs quote is one the results files hold.

Prose about a round is typed, but its numbers must not be: each `[low, high]`
quoted in the README at the root, a round's README or docs/study.md must
appear in a file the study or the evidence tools wrote (a round's `table.md`,
the adaptation evidence's generated README), so a number left behind when
results are regenerated fails here."""

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# Written by programs from the results (study report; tools/adapt_evidence.py).
GENERATED = ["results/waspaa2021_round3/table.md",
             "results/waspaa2021_round3/production/table.md", "results/waspaa2021_round2/table.md",
             "results/waspaa2021_small/table.md", "results/adapt/README.md"]
PROSE = ["README.md", "results/waspaa2021_round3/README.md",
         "results/waspaa2021_round3/production/README.md",
         "results/waspaa2021_round2/README.md", "docs/study.md", "docs/adapt.md",
         "sound_separation/pretrained/default/MODEL_CARD.md"]
_INTERVAL = re.compile(r"\[([−+\-]?\d+\.\d+), ([−+\-]?\d+\.\d+)\]")


def _plain(text):
  """Unicode minus to ASCII and no plus signs, as the generated files and prose differ."""
  return text.replace("−", "-").replace("+", "")


def test_the_interval_finder_sees_both_spellings():
  found = [m.groups() for m in _INTERVAL.finditer("Δ −0.45 [−1.17, +0.25] and [0.16, 0.79]")]
  assert found == [("−1.17", "+0.25"), ("0.16", "0.79")]


@pytest.mark.parametrize("prose", PROSE)
def test_every_quoted_interval_is_in_a_generated_results_file(prose):
  generated = _plain("\n".join((REPO / g).read_text(encoding="utf-8") for g in GENERATED))
  missing = []
  for number, line in enumerate((REPO / prose).read_text(encoding="utf-8").splitlines(), 1):
    for match in _INTERVAL.finditer(line):
      low, high = (_plain(v) for v in match.groups())
      # Whole numbers only: "0.16, 0.79" must not match inside "10.16, 0.791".
      if not re.search(rf"(?<![\d.]){re.escape(low)}, {re.escape(high)}(?!\d)", generated):
        missing.append(f"{prose}:{number}: {match.group(0)}")
  assert not missing, "intervals no results file holds:\n" + "\n".join(missing)
