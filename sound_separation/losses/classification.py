"""Classification losses on the outputs' class posteriors (docs/losses.md#classification-losses, eqs. 8-9).

These act on posteriors (or logits) that a K-class sound-event classifier has
already produced for each of the M outputs; running the classifier is not
done here. Shapes: posteriors `[B, M, K]` (any leading shape for the
aggregations), weak labels `[B, K]`; losses return `[B]` in float32, in nats
for the cross-entropy.

Products over outputs are taken in log space, `Π_m (1 − p_mk) =
exp(Σ_m log1p(−p_mk))`, which keeps `1 − Π` accurate when every p is small
(`expm1` instead of a difference of numbers near 1) and stays finite for any
M and K.
"""

import tensorflow as tf

from sound_separation.losses.sparsity import safe_sqrt

EPS = 1e-8
BCE_EPS = 1e-7

# Posteriors are clipped to at most 1 − PROB_CLIP before `log1p(−p)`, so a
# posterior of exactly 1 gives log(1.2e-7) ≈ −15.9 (1 − 1e-7 rounds to
# 1 − 2⁻²³ in float32) instead of −inf, whose gradient would be NaN. The
# bias is at most 1.2e-7 on OR and 2.4e-7 on XOR (two posteriors of 1 give
# 2·2⁻²³ instead of 0). The clip zeroes the gradient that
# flows through `1 − p` at p = 1 exactly; a sigmoid only outputs exactly 1 in
# float32 when saturated, where its own gradient p(1 − p) is 0 anyway.
PROB_CLIP = 1e-7


def _log1m_probs(probs):
  """`log(1 − p)` for posteriors `p ∈ [0, 1]`, finite at p = 1 (see PROB_CLIP)."""
  return tf.math.log1p(-tf.clip_by_value(probs, 0.0, 1.0 - PROB_CLIP))


def _sum_of_others(x, axis=-2):
  """`Σ_{m'≠m} x_m'` along `axis`, as two exclusive cumulative sums.

  This is the log-space form of leave-one-out products from both sides. It
  never subtracts `x_m` from the total: that difference loses all precision
  when `x_m` (e.g. log(1.2e-7) for p = 1) dominates the total, and would be
  −inf − (−inf) if the logs were not clipped.
  """
  return (tf.math.cumsum(x, axis=axis, exclusive=True)
          + tf.math.cumsum(x, axis=axis, exclusive=True, reverse=True))


def _or_from_log1m(log1m):
  # 1 − exp(s) as −expm1(s): exact for s near 0, where p are all small.
  return -tf.math.expm1(tf.reduce_sum(log1m, axis=-2))


def soft_or(probs):
  """Soft OR over outputs, `1 − Π_m (1 − p_mk)`: `[B, M, K]` -> `[B, K]`.

  The probability that at least one output contains class k, for outputs
  independently active with probability p_mk. Posteriors of exactly 1 are
  clipped to `1 − PROB_CLIP` inside the product (see there).
  """
  return _or_from_log1m(_log1m_probs(tf.cast(probs, tf.float32)))


def soft_xor(probs):
  """Soft exclusive OR, `Σ_m p_mk Π_{m'≠m} (1 − p_m'k)`: `[B, M, K]` -> `[B, K]`.

  The probability that exactly one output contains class k. The leave-one-out
  products are `exp` of exclusive sums of `log(1 − p)` (no division by
  `1 − p_mk`). The factor `p_mk` is used unclipped, so one posterior of 1 with
  the others 0 gives exactly 1 (its gradient is exact as well); two
  posteriors of 1 give 2.4e-7 instead of 0 (see PROB_CLIP).
  """
  probs = tf.cast(probs, tf.float32)
  others = tf.exp(_sum_of_others(_log1m_probs(probs)))
  return tf.reduce_sum(probs * others, axis=-2)


def soft_or_from_logits(logits):
  """`soft_or(sigmoid(logits))` without clipping: `[B, M, K]` -> `[B, K]`.

  Uses `log(1 − sigmoid(z)) = −softplus(z)`, finite with finite gradients for
  every finite logit.
  """
  logits = tf.cast(logits, tf.float32)
  return _or_from_log1m(-tf.math.softplus(logits))


def soft_xor_from_logits(logits):
  """`soft_xor(sigmoid(logits))` without clipping: `[B, M, K]` -> `[B, K]`.

  Each term `p_m Π_{m'≠m}(1 − p_m')` is `exp(log p_m + Σ_{m'≠m} log(1 − p_m'))`
  with `log p = −softplus(−z)`, `log(1 − p) = −softplus(z)`; every exponent
  is <= 0, so nothing overflows.
  """
  logits = tf.cast(logits, tf.float32)
  log_p = -tf.math.softplus(-logits)
  others = _sum_of_others(-tf.math.softplus(logits))
  return tf.reduce_sum(tf.exp(log_p + others), axis=-2)


def _bce(log_p, log_1mp, labels):
  """`−(1/K) Σ_k [y_k log p_k + (1 − y_k) log(1 − p_k)]` from the two logs: `[B, K]` -> `[B]`.

  The one binary cross-entropy of the package; its callers differ only in
  how they form `log p` and `log(1 − p)` stably.
  """
  y = tf.cast(labels, tf.float32)
  return -tf.reduce_mean(y * log_p + (1.0 - y) * log_1mp, axis=-1)


def multilabel_bce(logits, labels):
  """Sigmoid cross-entropy of `[B, K]` logits against labels -> `[B]`, nats averaged over classes.

  The classifier's training loss. `log p = −softplus(−z)` and
  `log(1 − p) = −softplus(z)` are exact for every finite logit, so no
  clipping is needed.
  """
  z = tf.cast(logits, tf.float32)
  return _bce(-tf.math.softplus(-z), -tf.math.softplus(z), labels)


def weak_label_bce(aggregate, labels, eps=BCE_EPS):
  """Binary cross-entropy of aggregated posteriors against weak labels.

  `−(1/K) Σ_k [y_k log g_k + (1 − y_k) log(1 − g_k)]`, with g clipped to
  `[eps, 1 − eps]` so it is finite at g ∈ {0, 1} (at most −log(eps) ≈ 16.1
  nats per class for eps = 1e-7; the clip zeroes the gradient at g exactly 0
  or 1). The upper clip is applied to `1 − g` (`max(1 − g, eps)`) rather
  than to g: `1 − 1e-7` rounds to `1 − 1.2e-7` in float32, which would make
  the two clips unequal (15.9 vs 16.1 nats). `1 − g` is exact for g >= 0.5
  and off by < 6e-8 nats below, where it is far from the clip. Labels may be
  soft (in [0, 1]) and of any dtype.

  Args:
    aggregate: g, aggregated posteriors `[B, K]` in [0, 1].
    labels: y, weak labels `[B, K]`.
    eps: clipping margin for g.

  Returns:
    `[B]` float32, nats averaged over classes.
  """
  g = tf.cast(aggregate, tf.float32)
  return _bce(tf.math.log(tf.maximum(g, eps)), tf.math.log(tf.maximum(1.0 - g, eps)), labels)


def _or_bce(probs, labels, from_logits, eps):
  """`weak_label_bce(soft_or(probs), labels)` computed from `log(1 − OR)`.

  `log(1 − OR) = Σ_m log(1 − p_m)` is known exactly in log space; rebuilding
  it as `log(1 − g)` from g = OR near 1 (a confident false positive, the
  costly case) would lose precision to float32 rounding of g (relative error
  ~6e-8 / (1 − g)). The clipping matches `weak_label_bce`.
  """
  if from_logits:
    log1m = -tf.math.softplus(tf.cast(probs, tf.float32))
  else:
    log1m = _log1m_probs(tf.cast(probs, tf.float32))
  log_none = tf.reduce_sum(log1m, axis=-2)                     # log(1 − OR)
  return _bce(tf.math.log(tf.maximum(-tf.math.expm1(log_none), eps)),
              tf.maximum(log_none, tf.math.log(eps)), labels)


def _xor_bce(probs, labels, from_logits, eps):
  aggregate_fn = soft_xor_from_logits if from_logits else soft_xor
  return weak_label_bce(aggregate_fn(probs), labels, eps=eps)


_AGGREGATIONS = {"or": _or_bce, "xor": _xor_bce}


# The Classification loss term passes these (its aggregation, logits).
def classification_loss(probs, labels, aggregation="or", from_logits=False,
                        eps=BCE_EPS):
  """`weak_label_bce(g(probs), labels)` with g the soft OR or soft XOR.

  For OR the `1 − g` term is taken in log space, `log(1 − OR) = Σ_m log(1 −
  p_m)`, instead of from the rounded aggregate (same value in exact
  arithmetic, more accurate when OR is near 1).

  Args:
    probs: per-output posteriors `[B, M, K]` in [0, 1], or logits when
      `from_logits` (then the logit forms of the aggregations are used, which
      need no clipping of posteriors).
    labels: weak labels of the MoM `[B, K]` (`data.batches.union_labels`).
    aggregation: "or" (the MoM contains class k) or "xor" (exactly one output
      contains class k).
    from_logits: whether `probs` holds logits.
    eps: clipping margin of the cross-entropy.

  Returns:
    `[B]` float32, nats averaged over classes.

  Raises:
    ValueError: for an unknown `aggregation`.
  """
  if aggregation not in _AGGREGATIONS:
    raise ValueError(f"Unknown aggregation {aggregation!r}; expected one of "
                     f"{sorted(_AGGREGATIONS)}.")
  return _AGGREGATIONS[aggregation](probs, labels, from_logits, eps)


def cosine_similarity_loss(probs, eps=EPS):
  """Mean pairwise cosine similarity of the outputs' posterior vectors.

  `L = (2 / (M(M − 1))) Σ_{m<m'} ⟨p_m, p_m'⟩ / (‖p_m‖‖p_m'‖ + ε)`, in [0, 1]
  for non-negative posteriors: 0 when outputs predict disjoint classes, ~1
  when they predict the same ones. Norms use `safe_sqrt`, so an all-zero
  posterior vector (which makes its terms 0) has finite gradients; near such
  a vector the loss is steep (gradient up to `‖p_m'‖/ε`), as the cosine of a
  vanishing vector is ill-defined. With M = 1 there are no pairs and the loss
  is defined as 0.

  Args:
    probs: per-output posteriors `[B, M, K]`.
    eps: added to the product of norms.

  Returns:
    `[B]` float32, dimensionless.
  """
  probs = tf.cast(probs, tf.float32)
  gram = tf.linalg.matmul(probs, probs, transpose_b=True)       # [B, M, M]
  norms = safe_sqrt(tf.linalg.diag_part(gram))                  # [B, M]
  cosine = gram / (norms[..., :, tf.newaxis] * norms[..., tf.newaxis, :] + eps)
  num_outputs = tf.shape(probs)[-2]
  off_diagonal = 1.0 - tf.eye(num_outputs, dtype=tf.float32)
  # Σ over ordered pairs m≠m' is twice Σ_{m<m'}, hence 1/(M(M − 1)).
  num_pairs = tf.cast(tf.maximum(num_outputs * (num_outputs - 1), 1),
                      tf.float32)
  return tf.reduce_sum(cosine * off_diagonal, axis=[-2, -1]) / num_pairs
