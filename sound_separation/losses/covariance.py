"""Covariance loss between separated outputs (docs/losses.md#covariance, paper eq. 7)."""

import tensorflow as tf


EPS = 1e-8


def covariance_loss(estimate, eps=EPS):
  """Normalised absolute covariance between outputs, in [0, 1].

  Each output is centred over time, `Σ = (1/T) ŝ_c ŝ_cᵀ` (M×M, in waveform
  units²) and

    `L = Σ_{m≠m'} |Σ_mm'| / ((M − 1)·tr(Σ) + ε)`.

  Since `|Σ_mm'| <= sqrt(Σ_mm Σ_m'm') <= (Σ_mm + Σ_m'm')/2`, summing over the
  M(M − 1) ordered pairs gives at most `(M − 1)·tr(Σ)`: L is 0 for mutually
  uncorrelated outputs and 1 exactly when every output is a copy of the same
  signal scaled by `±c` with one common magnitude c. Copies with unequal
  scales `a_m` score `(‖a‖₁² − ‖a‖₂²) / ((M − 1)‖a‖₂²) < 1`; e.g. one source
  split evenly over several outputs scores 1, an uneven split less.

  With M = 1 there are no pairs: the numerator is 0, `(M − 1)·tr(Σ) = 0`, and
  the loss is defined (and computed) as `0 / ε = 0`. Silent outputs also give
  0. `|·|` is `tf.abs`, whose gradient at 0 is 0, so exactly uncorrelated or
  silent outputs have finite gradients.

  Args:
    estimate: separated sources `[B, M, T]`, any float dtype.
    eps: added to the denominator, in waveform units².

  Returns:
    `[B]` float32, dimensionless.
  """
  estimate = tf.cast(estimate, tf.float32)
  centred = estimate - tf.reduce_mean(estimate, axis=-1, keepdims=True)
  num_samples = tf.cast(tf.shape(estimate)[-1], tf.float32)
  cov = tf.linalg.matmul(centred, centred, transpose_b=True) / num_samples
  num_outputs = tf.shape(estimate)[-2]
  # Masking the diagonal out, rather than subtracting the trace from the sum
  # of all |Σ|, keeps small covariances accurate next to large variances.
  off_diagonal = 1.0 - tf.eye(num_outputs, dtype=tf.float32)
  numerator = tf.reduce_sum(tf.abs(cov) * off_diagonal, axis=[-2, -1])
  trace = tf.linalg.trace(cov)
  return numerator / (tf.cast(num_outputs - 1, tf.float32) * trace + eps)
