"""Choosing checkpoints, weights and the shipped model: TRF within an MSi budget.

The paper keeps the checkpoint (and loss weight) with the best TRF on
validation (docs/metrics.md). TRF mixes 1S, the score of single-source
mixtures, with MSi. A model that collapses every mixture into one output
copies single-source mixtures perfectly (1S of 60+ dB) while separating
nothing (MSi 0 dB); where MSi is small, as in a small model trained for
minutes, that collapse has the highest TRF of all (weight 100 in the study:
TRF 19.6 dB against the baseline's 4.9). TRF alone would pick it.

The rule here: **the highest TRF among the candidates whose MSi is at most
`tolerance` dB below a reference MSi**, the reference being

- for a baseline's checkpoints: the best MSi among them;
- for a fine-tune's checkpoints, for the weights of an arm and for the
  shipped model: the MSi of the baseline they started from.

A collapsed model (MSi near 0) cannot pass, and the budget is the paper's own
claim: sparsity buys 1S "at a cost of ≤ 1 dB MSi" (Table 1). If no candidate
passes, the one with the best MSi is taken and marked as below the floor.
All candidates stay in the results, so the whole MSi-1S frontier is shown,
not only what the rule picked.
"""

import math

# The study's default MSi budget (dB): Table 1's "at a cost of <= 1 dB MSi".
DEFAULT_MSI_TOLERANCE_DB = 1.0


def floor(reference_msi, tolerance_db):
  """The lowest MSi (dB) a candidate may have: `reference_msi - tolerance_db`."""
  return reference_msi - tolerance_db


def _value(metrics, key):
  value = metrics.get(key)
  return value if value is not None and math.isfinite(value) else None


def select(candidates, msi_floor, key=lambda c: c):
  """The best candidate by TRF among those with MSi >= `msi_floor`.

  Args:
    candidates: a sequence of anything; `key(c)` gives its metrics dict with
      "MSi" and "TRF" in dB (None or missing counts as failing).
    msi_floor: dB.
    key: from a candidate to its metrics.

  Returns:
    `(candidate, meets_floor)`: the highest-TRF candidate with MSi >= floor
    (the earliest among equals), or, if none has, the highest-MSi candidate
    and False. `(None, False)` for no candidates.
  """
  best, best_msi = None, None
  passing = []
  for candidate in candidates:
    metrics = key(candidate)
    msi, trf = _value(metrics, "MSi"), _value(metrics, "TRF")
    if msi is not None and (best_msi is None or msi > _value(key(best_msi), "MSi")):
      best_msi = candidate
    if msi is not None and trf is not None and msi >= msi_floor:
      passing.append((trf, candidate))
  for trf, candidate in passing:
    if best is None or trf > _value(key(best), "TRF"):
      best = candidate
  if best is not None:
    return best, True
  return best_msi, False


def best_msi(candidates, key=lambda c: c):
  """The highest MSi (dB) among the candidates, or None."""
  values = [_value(key(c), "MSi") for c in candidates]
  values = [v for v in values if v is not None]
  return max(values) if values else None
