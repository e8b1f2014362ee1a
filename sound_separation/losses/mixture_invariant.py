"""Mixture invariant training (MixIT) loss and its three mixing-matrix solvers.

`L_MixIT = min_A (1/N) Σ_n L(x_n, [A ŝ]_n)` over binary mixing matrices
`A ∈ 𝔹^{N×M}` whose every column has exactly one 1: each of the M outputs goes
to exactly one of the N reference mixtures (docs/losses.md#mixit, paper eq. 1).

A solver picks `A` without gradient; the loss is then computed on waveforms
with that `A`, so the gradient is the gradient of the chosen assignment's loss
(the gradient of the minimum). Solvers:

- `exhaustive`: scores all `N^M` assignments on waveforms, as the original
  code does. `O(N^M · N · T)`; chunked over assignments to bound memory.
- `efficient`: least squares `A_LS = x ŝᵀ (ŝ ŝᵀ + δI)⁻¹` by Cholesky, each column
  projected to a one-hot at its maximum (paper eq. 3). `O(M²T + M³)`; not
  always the exact minimiser.
- `exact_gram`: scores all `N^M` assignments from the Gram matrix `ŝ ŝᵀ` and
  the cross-correlations `x ŝᵀ`, computed once in `O(M²T)`; by splitting the
  outputs in two halves each assignment then costs `O(N·M/2)` and never
  touches waveforms. Picks the same `A` as `exhaustive` (up to floating-point
  ties) at a cost close to `efficient`.

Assignment `k ∈ [0, N^M)` sends output `m` to reference `(k // N^m) mod N`;
both enumerating solvers return the lowest such `k` among equal losses.
"""

import numpy as np
import tensorflow as tf

from sound_separation.losses import snr

SOLVERS = ("exhaustive", "efficient", "exact_gram")

# Elements of the largest intermediate tensor of one chunk of assignments
# (float32): 2^24 elements = 64 MiB.
DEFAULT_CHUNK_ELEMENTS = 2 ** 24
# N^M above this is refused by the enumerating solvers: 2^24 assignments at
# M = 24 would take minutes per step.
MAX_ASSIGNMENTS = 2 ** 24


def assignment_matrices(indices, num_refs, num_outputs):
  """Mixing matrices of the given assignment indices.

  Args:
    indices: int32 `[K]` assignment indices in `[0, N^M)`.
    num_refs: N.
    num_outputs: M.

  Returns:
    float32 `[K, N, M]`, one 1 per column: `A[k, n, m] = 1` iff
    `(indices[k] // N^m) mod N == n`.
  """
  powers = tf.constant(num_refs ** np.arange(num_outputs), tf.int32)
  digits = (indices[:, tf.newaxis] // powers) % num_refs  # [K, M]
  return tf.transpose(tf.one_hot(digits, num_refs, dtype=tf.float32), [0, 2, 1])


def _first_argmin(scores):
  """Lowest index of the minimum along the last axis; NaN counts as +inf.

  `tf.argmin` does not guarantee which index it returns on ties, and the
  solvers promise the lowest assignment index.
  """
  scores = tf.where(tf.math.is_nan(scores), tf.constant(np.inf, scores.dtype),
                    scores)
  best = tf.reduce_min(scores, axis=-1, keepdims=True)
  size = tf.shape(scores)[-1]
  positions = tf.broadcast_to(tf.range(size), tf.shape(scores))
  index = tf.reduce_min(tf.where(scores == best, positions, size), axis=-1)
  return tf.squeeze(best, -1), index


def _chunk_size(total, unit, num_refs, elements_per_assignment, max_elements):
  """Largest `unit·N^j` dividing `total` whose chunk stays under `max_elements`.

  `total` and `unit` are powers of N; at least `unit` is returned.
  """
  chunk = unit
  while (chunk * num_refs <= total
         and chunk * num_refs * elements_per_assignment <= max_elements):
    chunk *= num_refs
  return chunk


def _best_assignment(score_fn, num_refs, num_outputs, total, chunk):
  """Minimises a score over the assignments `[0, total)`, `chunk` at a time.

  Args:
    score_fn: maps a first index `start` (int32 scalar tensor) to the losses
      `[B, chunk]` of assignments `start, …, start + chunk − 1`.
    num_refs, num_outputs: N, M.
    total: N^M.
    chunk: assignments per evaluation; divides `total`.

  Returns:
    float32 `[B, N, M]` mixing matrix of the lowest-index minimiser.
  """
  num_chunks = total // chunk

  def evaluate(start):
    value, position = _first_argmin(score_fn(start))
    return value, start + position

  best_value, best_index = evaluate(tf.constant(0))
  if num_chunks > 1:
    def body(i, best_value, best_index):
      value, index = evaluate(i * chunk)
      better = value < best_value  # strict: earlier chunks win ties
      return (i + 1, tf.where(better, value, best_value),
              tf.where(better, index, best_index))

    _, best_value, best_index = tf.while_loop(
        lambda i, *_: i < num_chunks, body,
        (tf.constant(1), best_value, best_index),
        maximum_iterations=num_chunks - 1)
  return assignment_matrices(best_index, num_refs, num_outputs)


def _check_enumerable(num_refs, num_outputs, solver):
  if num_refs ** num_outputs > MAX_ASSIGNMENTS:
    raise ValueError(
        f"solver={solver!r} enumerates N^M = {num_refs}^{num_outputs} = "
        f"{num_refs ** num_outputs} assignments, more than {MAX_ASSIGNMENTS}; "
        f"use solver='efficient' for this many outputs.")


def solve_exhaustive(reference, estimate, loss_fn="thresholded_log_mse",
                     max_chunk_elements=DEFAULT_CHUNK_ELEMENTS):
  """Best mixing matrix by scoring every assignment on waveforms.

  Args:
    reference: `[B, N, T]` reference mixtures.
    estimate: `[B, M, T]` separated sources.
    loss_fn: signal loss (name, `snr.SignalLoss` or waveform callable).
    max_chunk_elements: bound on the `[B, chunk, N, T]` remixes held at once.

  Returns:
    float32 `[B, N, M]` one-hot-column mixing matrix (no gradient).
  """
  loss_fn = snr.get_signal_loss(loss_fn)
  reference, estimate = _stop_float32(reference, estimate)
  num_refs, num_outputs, samples = _sizes(reference, estimate)
  _check_enumerable(num_refs, num_outputs, "exhaustive")
  # An unknown length or batch only loosens the memory bound.
  per_assignment = num_refs * (samples or 16000) * (estimate.shape[0] or 1)
  total = num_refs ** num_outputs
  chunk = _chunk_size(total, 1, num_refs, per_assignment, max_chunk_elements)

  def score(start):  # -> [B, chunk]
    mix = assignment_matrices(start + tf.range(chunk), num_refs, num_outputs)
    remix = tf.einsum("cnm,bmt->bcnt", mix, estimate)
    return tf.reduce_mean(loss_fn(reference[:, tf.newaxis], remix), axis=-1)

  return _best_assignment(score, num_refs, num_outputs, total, chunk)


def solve_exact_gram(reference, estimate, loss_fn="thresholded_log_mse",
                     max_chunk_elements=DEFAULT_CHUNK_ELEMENTS):
  """Best mixing matrix over every assignment, scored from inner products.

  `‖x_n − Σ_m A_nm ŝ_m‖² = ‖x_n‖² − 2 Σ_m A_nm C_nm + Σ_{m,m'} A_nm A_nm' G_mm'`
  with `G = ŝ ŝᵀ` and `C = x ŝᵀ` computed once; the signal loss is evaluated
  with `loss_fn.from_stats`, so it must be an `snr.SignalLoss`.

  Args:
    reference: `[B, N, T]` reference mixtures.
    estimate: `[B, M, T]` separated sources.
    loss_fn: an `snr.SignalLoss` or its name.
    max_chunk_elements: bound on the `[B, chunk, N]` statistics held at once.

  Returns:
    float32 `[B, N, M]` one-hot-column mixing matrix (no gradient).
  """
  loss_fn = snr.get_signal_loss(loss_fn)
  if not isinstance(loss_fn, snr.SignalLoss):
    raise TypeError(
        f"solver='exact_gram' needs a loss that is a function of inner "
        f"products (an snr.SignalLoss), got {loss_fn!r}; use "
        f"solver='exhaustive' for an arbitrary waveform loss.")
  reference, estimate = _stop_float32(reference, estimate)
  num_refs, num_outputs, _ = _sizes(reference, estimate)
  _check_enumerable(num_refs, num_outputs, "exact_gram")
  reference, estimate = loss_fn.prepare(reference), loss_fn.prepare(estimate)
  gram = tf.matmul(estimate, estimate, transpose_b=True)  # [B, M, M]
  cross = tf.matmul(reference, estimate, transpose_b=True)  # [B, N, M]
  ref_energy = snr.energy(reference)[:, tf.newaxis, tf.newaxis]  # [B,1,1,N]

  # Meet in the middle: with the outputs split into a low half (the M_lo
  # least significant digits of the assignment index) and a high half, an
  # assignment is a pair (k_lo, k_hi) and, per reference n,
  #   ⟨x_n, A_n ŝ⟩ = C_lo(k_lo) + C_hi(k_hi),
  #   ‖A_n ŝ‖²   = Q_lo(k_lo) + Q_hi(k_hi) + 2·P(k_lo)·a_hi(k_hi).
  # Each half is enumerated once (N^(M/2) each); the pairs then cost one
  # M/2-long dot product per reference instead of an M×M quadratic form.
  num_lo = num_outputs - num_outputs // 2
  num_hi = num_outputs - num_lo
  size_lo = num_refs ** num_lo
  low = assignment_matrices(tf.range(size_lo), num_refs, num_lo)  # [K, N, Mlo]
  gram_lo, gram_x = gram[:, :num_lo, :num_lo], gram[:, :num_lo, num_lo:]
  q_lo = tf.einsum("knm,bml,knl->bkn", low, gram_lo, low)  # [B, K, N]
  c_lo = tf.einsum("knm,bnm->bkn", low, cross[:, :, :num_lo])  # [B, K, N]
  p_lo = tf.einsum("knm,bml->bknl", low, gram_x)  # [B, K, N, M_hi]

  total = num_refs ** num_outputs
  per_assignment = num_refs * (estimate.shape[0] or 1)
  chunk = _chunk_size(total, size_lo, num_refs, per_assignment,
                      max_chunk_elements)
  chunk_hi = chunk // size_lo

  def score(start):  # -> [B, chunk], index k = k_lo + size_lo·k_hi
    high = assignment_matrices(start // size_lo + tf.range(chunk_hi),
                               num_refs, num_hi)  # [J, N, M_hi]
    q_hi = tf.einsum("jnm,bml,jnl->bjn", high, gram[:, num_lo:, num_lo:], high)
    c_hi = tf.einsum("jnm,bnm->bjn", high, cross[:, :, num_lo:])
    pair = tf.einsum("bknl,jnl->bjkn", p_lo, high)  # [B, J, K, N]
    est_energy = q_lo[:, tf.newaxis] + q_hi[:, :, tf.newaxis] + 2.0 * pair
    mix_cross = c_lo[:, tf.newaxis] + c_hi[:, :, tf.newaxis]
    losses = loss_fn.from_stats(ref_energy, mix_cross, est_energy)
    return tf.reshape(tf.reduce_mean(losses, axis=-1), [-1, chunk])

  return _best_assignment(score, num_refs, num_outputs, total, chunk)


def solve_efficient(reference, estimate, diag_load=1e-4):
  """Least-squares mixing matrix projected to one-hot columns (paper eq. 3).

  `A_LS = C (G + δI)⁻¹` with `G = ŝ ŝᵀ`, `C = x ŝᵀ`, solved by Cholesky (TPUs
  have it; no pseudo-inverse). Silent or collinear outputs make `G` singular,
  so `δ = diag_load · tr(G) + 1e-12`: relative to the Gram's scale, above the
  float32 rounding of a Cholesky of an `M×M` matrix, and positive for silence.
  For mutually orthogonal outputs the load scales each column of `A_LS` by a
  positive factor and so never changes the projection. Each column's one-hot
  is at its maximum, ties to the lowest reference index (a silent output goes
  to reference 0).

  Args:
    reference: `[B, N, T]` reference mixtures.
    estimate: `[B, M, T]` separated sources.
    diag_load: relative diagonal load (dimensionless).

  Returns:
    float32 `[B, N, M]` one-hot-column mixing matrix (no gradient).
  """
  reference, estimate = _stop_float32(reference, estimate)
  num_refs, num_outputs, _ = _sizes(reference, estimate)
  gram = tf.matmul(estimate, estimate, transpose_b=True)  # [B, M, M]
  cross = tf.matmul(reference, estimate, transpose_b=True)  # [B, N, M]
  load = diag_load * tf.linalg.trace(gram) + 1e-12  # [B]
  chol = tf.linalg.cholesky(
      gram + load[:, tf.newaxis, tf.newaxis] * tf.eye(num_outputs))
  # (G + δI) A_LSᵀ = Cᵀ since G is symmetric.
  least_squares = tf.linalg.cholesky_solve(chol, tf.linalg.matrix_transpose(
      cross))  # [B, M, N]
  _, best_ref = _first_argmin(-least_squares)  # [B, M]
  return tf.transpose(tf.one_hot(best_ref, num_refs, dtype=tf.float32),
                      [0, 2, 1])


def _stop_float32(*tensors):
  return [tf.stop_gradient(tf.cast(t, tf.float32)) for t in tensors]


def _sizes(reference, estimate):
  """Static N, M and T (T may be None), with shape checks."""
  if reference.shape.rank != 3 or estimate.shape.rank != 3:
    raise ValueError(
        f"MixIT expects reference [B, N, T] and estimate [B, M, T]; got "
        f"shapes {reference.shape} and {estimate.shape}.")
  num_refs, num_outputs = reference.shape[1], estimate.shape[1]
  if num_refs is None or num_outputs is None:
    raise ValueError(
        f"MixIT needs static N and M (axis 1); got reference {reference.shape} "
        f"and estimate {estimate.shape}.")
  samples = reference.shape[2]
  if (samples is not None and estimate.shape[2] is not None
      and samples != estimate.shape[2]):
    raise ValueError(
        f"reference and estimate differ in length: {reference.shape} vs "
        f"{estimate.shape}.")
  return num_refs, num_outputs, samples or estimate.shape[2]


# The MixIT loss term passes these (its solver and signal_loss).
def mixit(reference, estimate, solver="exact_gram",
          loss_fn="thresholded_log_mse", diag_load=1e-4,
          max_chunk_elements=DEFAULT_CHUNK_ELEMENTS):
  """MixIT loss (paper eq. 1) with a choice of mixing-matrix solver.

  Args:
    reference: `[B, N, T]` reference mixtures `x_n` (N = 2 in MixIT).
    estimate: `[B, M, T]` separated sources `ŝ` from the model's input `Σ_n x_n`.
    solver: 'exhaustive', 'efficient' or 'exact_gram' (module docstring).
    loss_fn: signal loss, default the thresholded SNR loss at 30 dB
      (`snr.ThresholdedLogMSE`); a name, an `snr.SignalLoss`, or (exhaustive
      only) any `(reference [..., T], estimate [..., T]) -> [...]` callable.
    diag_load: relative diagonal load of the 'efficient' solver.
    max_chunk_elements: memory bound of the enumerating solvers.

  Returns:
    loss: float32 `[B]`, `(1/N) Σ_n L(x_n, [A ŝ]_n)` for the chosen `A`,
      differentiable with respect to `estimate` (and `reference`).
    mix_matrix: float32 `[B, N, M]`, the chosen `A` (no gradient).
  """
  loss_fn = snr.get_signal_loss(loss_fn)
  if solver == "exhaustive":
    mix = solve_exhaustive(reference, estimate, loss_fn, max_chunk_elements)
  elif solver == "exact_gram":
    mix = solve_exact_gram(reference, estimate, loss_fn, max_chunk_elements)
  elif solver == "efficient":
    mix = solve_efficient(reference, estimate, diag_load)
  else:
    raise ValueError(f"Unknown MixIT solver {solver!r}; expected one of "
                     f"{SOLVERS}.")
  remix = tf.matmul(mix, tf.cast(estimate, tf.float32))  # [B, N, T]
  loss = loss_fn(tf.cast(reference, tf.float32), remix)  # [B, N]
  return tf.reduce_mean(loss, axis=-1), mix
