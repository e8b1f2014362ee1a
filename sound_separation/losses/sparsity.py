"""Sparsity losses on the separated outputs (docs/losses.md#sparsity, paper eqs. 4-6).

Both losses score how many of the M outputs carry energy, from the per-output
RMS `r_m = sqrt((1/T) Σ_t ŝ_m(t)²)` (in waveform units, e.g. full scale = 1):

- `l1_sparsity`:    `‖r‖₁ / (√M · RMS(x̄) + ε)`
- `l1_l2_sparsity`: `‖r‖₁ / (√M · ‖r‖₂ + ε)`

They are normalised to be comparable across M and levels: M equally loud,
mutually uncorrelated outputs score 1 (for L1 when x̄ is their sum), a single
active output scores 1/√M. Values are per example, `[B]`, in float32; the
trainer averages them over the batch.
"""

import math

import tensorflow as tf


EPS = 1e-8

# Added under every square root of a mean square or squared norm. sqrt has an
# infinite derivative at 0, so without it a silent output (or a silent MoM)
# turns the chain rule into 0·inf = NaN. 1e-30 is a normal float32 (the
# smallest is ~1.2e-38), so XLA's flush-to-zero keeps it, and
# 0.5/sqrt(1e-30) = 5e14 is finite. Its bias is nil in practice: for any
# mean square above ~1.7e-23 (an RMS of ~4e-12, -228 dBFS), 1e-30 is below
# half an ulp and `x + 1e-30 == x` exactly in float32; below that the RMS is
# off by at most sqrt(1e-30) = 1e-15 in absolute terms.
SQRT_FLOOR = 1e-30


def safe_sqrt(x):
  """`sqrt(x + SQRT_FLOOR)`: sqrt with finite gradients at `x = 0` (`x >= 0`)."""
  return tf.sqrt(x + SQRT_FLOOR)


def _mean_square(x):
  """Mean over time of `x²`: `[..., T]` -> `[...]`, power in waveform units²."""
  return tf.reduce_mean(tf.square(x), axis=-1)


def _sqrt_num_outputs(estimate):
  m = estimate.shape[-2]
  if m is not None:
    return math.sqrt(m)
  return tf.sqrt(tf.cast(tf.shape(estimate)[-2], tf.float32))


def l1_sparsity(estimate, mixture, eps=EPS):
  """L1 sparsity normalised by the mixture level, `‖r‖₁ / (√M·RMS(x̄) + ε)`.

  With mixture consistency the outputs sum to x̄, so this loss cannot be
  lowered by shrinking all outputs; it is lowered by moving energy into fewer
  outputs. It is 1 for M equally loud outputs that are uncorrelated with each
  other and sum to x̄, and 1/√M for one output equal to x̄ and the rest silent.
  A silent MoM with silent outputs gives ~0 (numerator <= M·1e-15, see
  `SQRT_FLOOR`) with finite gradients.

  Args:
    estimate: separated sources `[B, M, T]`, any float dtype.
    mixture: the mixture of mixtures x̄ `[B, T]`, same units as `estimate`.
    eps: added to the denominator, in waveform (RMS) units.

  Returns:
    `[B]` float32, dimensionless.
  """
  estimate = tf.cast(estimate, tf.float32)
  mixture = tf.cast(mixture, tf.float32)
  rms = safe_sqrt(_mean_square(estimate))                        # [B, M]
  mixture_rms = safe_sqrt(_mean_square(mixture))                 # [B]
  return (tf.reduce_sum(rms, axis=-1)
          / (_sqrt_num_outputs(estimate) * mixture_rms + eps))


def l1_l2_sparsity(estimate, eps=EPS):
  """Scale-invariant L1/L2 sparsity of the output RMS, `‖r‖₁ / (√M·‖r‖₂ + ε)`.

  Ranges from 1/√M (one active output) to 1 (all M outputs equally loud),
  whatever the overall level (up to `eps`), so it does not reward merging
  independent sources over correlated ones. All-silent outputs give ~0
  (numerator and `√M·‖r‖₂` both ~M·1e-15, far below `eps`) with finite
  gradients.

  Args:
    estimate: separated sources `[B, M, T]`, any float dtype.
    eps: added to the denominator, in waveform (RMS) units.

  Returns:
    `[B]` float32, dimensionless.
  """
  estimate = tf.cast(estimate, tf.float32)
  mean_square = _mean_square(estimate)                           # [B, M]
  l1 = tf.reduce_sum(safe_sqrt(mean_square), axis=-1)
  # ‖r‖₂ from the mean squares directly: sqrt(Σ r_m²) would square the
  # already-floored RMS and add nothing but rounding.
  l2 = safe_sqrt(tf.reduce_sum(mean_square, axis=-1))
  return l1 / (_sqrt_num_outputs(estimate) * l2 + eps)
