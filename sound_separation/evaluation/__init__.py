"""Evaluation: the paper's separation metrics (docs/metrics.md).

- `sound_separation.evaluation.metrics`: SI-SNR, activity rules, Hungarian
  alignment, per-example scoring (FUSS, speech, enhancement, MoM) and
  `summarize` (MSi, 1S, TRF, MoMi, S+N, S-only). NumPy/SciPy only.
- `sound_separation.evaluation.evaluator`: `evaluate` a separation function
  on a list of wavs, writing `summary.json` and `examples.csv`;
  `format_table`.

Names are imported on first use (`sound_separation.lazy`).
"""

from sound_separation import lazy

__getattr__, __dir__, __all__ = lazy.exports(__name__, {
    "TASKS": "evaluator",
    "evaluate": "evaluator",
    "format_table": "evaluator",
    "active_outputs": "metrics",
    "active_references": "metrics",
    "align": "metrics",
    "mom_remix": "metrics",
    "pairwise_si_snr": "metrics",
    "score_enhancement": "metrics",
    "score_example": "metrics",
    "score_mom": "metrics",
    "score_speech": "metrics",
    "si_snr": "metrics",
    "summarize": "metrics",
})
