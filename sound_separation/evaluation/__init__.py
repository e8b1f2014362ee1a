"""Evaluation: the paper's separation metrics (docs/metrics.md).

- `sound_separation.evaluation.metrics`: SI-SNR, activity rules, Hungarian
  alignment, per-example scoring (FUSS, speech, enhancement, MoM) and
  `summarize` (MSi, 1S, TRF, MoMi, S+N, S-only). NumPy/SciPy only.
- `sound_separation.evaluation.evaluator`: `evaluate` a separation function
  on a list of wavs, writing `summary.json` and `examples.csv`;
  `format_table`.
"""

from sound_separation.evaluation.evaluator import TASKS
from sound_separation.evaluation.evaluator import evaluate
from sound_separation.evaluation.evaluator import format_table
from sound_separation.evaluation.metrics import active_outputs
from sound_separation.evaluation.metrics import active_references
from sound_separation.evaluation.metrics import align
from sound_separation.evaluation.metrics import mom_remix
from sound_separation.evaluation.metrics import pairwise_si_snr
from sound_separation.evaluation.metrics import score_enhancement
from sound_separation.evaluation.metrics import score_example
from sound_separation.evaluation.metrics import score_mom
from sound_separation.evaluation.metrics import score_speech
from sound_separation.evaluation.metrics import si_snr
from sound_separation.evaluation.metrics import summarize
