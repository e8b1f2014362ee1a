"""Training losses of the paper, each a plain function on tensors (docs/losses.md).

Shapes: references `[B, N, T]` or `[B, S, T]`, separated outputs `[B, M, T]`,
posteriors `[B, M, K]`; every loss returns per-example values `[B]` in float32.

Every loss is a callable here: `losses.mixit` and `losses.pit` (modules
`mixture_invariant` and `permutation_invariant`, with their solvers),
the signal losses (`snr`), `l1_sparsity` / `l1_l2_sparsity`,
`covariance_loss`, the classification losses.
"""

from sound_separation.losses.classification import classification_loss
from sound_separation.losses.classification import cosine_similarity_loss
from sound_separation.losses.classification import multilabel_bce
from sound_separation.losses.classification import soft_or
from sound_separation.losses.classification import soft_or_from_logits
from sound_separation.losses.classification import soft_xor
from sound_separation.losses.classification import soft_xor_from_logits
from sound_separation.losses.classification import weak_label_bce
from sound_separation.losses.covariance import covariance_loss
from sound_separation.losses.mixture_invariant import mixit
from sound_separation.losses.permutation_invariant import pit
from sound_separation.losses.snr import negative_thresholded_snr
from sound_separation.losses.snr import NegativeSISNR
from sound_separation.losses.snr import NegativeThresholdedSNR
from sound_separation.losses.snr import si_snr
from sound_separation.losses.snr import thresholded_log_mse
from sound_separation.losses.snr import ThresholdedLogMSE
from sound_separation.losses.sparsity import l1_l2_sparsity
from sound_separation.losses.sparsity import l1_sparsity

__all__ = [
    "classification_loss",
    "cosine_similarity_loss",
    "covariance_loss",
    "l1_l2_sparsity",
    "l1_sparsity",
    "mixit",
    "multilabel_bce",
    "negative_thresholded_snr",
    "NegativeSISNR",
    "NegativeThresholdedSNR",
    "pit",
    "si_snr",
    "soft_or",
    "soft_or_from_logits",
    "soft_xor",
    "soft_xor_from_logits",
    "thresholded_log_mse",
    "ThresholdedLogMSE",
    "weak_label_bce",
]
