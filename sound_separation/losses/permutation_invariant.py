"""Permutation invariant training (docs/losses.md#pit) and an exact in-graph assignment.

`pit` matches S references to M ≥ S separated outputs one-to-one so that the
summed per-pair loss is minimal, and returns the loss of that matching. The
matching is found by `linear_assignment`, an exact solver written in
TensorFlow ops only, so it runs inside `tf.function` and compiles with XLA
(`jit_compile=True`) on static shapes, as in a TPU `train_step`.
"""

import functools

import numpy as np
import tensorflow as tf

from sound_separation.losses import snr

# Largest number of columns `linear_assignment` accepts: its work and constant
# tables grow like C·2^(C−1).
MAX_COLUMNS = 16

# RMS (over time) at or below which a reference counts as silent (inactive);
# the original FUSS code's rule.
ZERO_REF_RMS = 1e-8

# Non-finite and huge costs are clipped to ±_BIG. A power of two keeps k·_BIG
# exact for every k, and 16·_BIG = 2^124 stays below the float32 maximum
# (~2^128), so DP sums of up to 16 entries never overflow to inf, and
# inf − inf = NaN can never reach an argmin.
_BIG = 2.0 ** 120


@functools.lru_cache(maxsize=None)
def _subset_dp_tables(num_cols, num_rows):
  """NumPy index tables of the subset DP, built once per `(C, R)` at trace time.

  Layer t (1 ≤ t ≤ R) holds the column subsets (bitmasks) with exactly t bits
  set, in increasing order. For mask number n of layer t, with set bits
  j_0 < … < j_{t−1}:
    cols[t][n, k] = j_k, the column given to row t−1 in that option;
    prev[t][n, k] = index within layer t−1 of `mask ^ (1 << j_k)`.

  Returns:
    `(cols, prev)`, lists indexed by t (entry 0 is unused), each an int32
    array `[C choose t, t]`.
  """
  masks = np.arange(1 << num_cols, dtype=np.int64)
  bits = ((masks[:, None] >> np.arange(num_cols)) & 1).astype(bool)  # [2^C, C]
  popcount = bits.sum(axis=1)
  # Position of each mask within its layer: masks are enumerated in increasing
  # order, so the rank is a running count per popcount.
  rank = np.zeros(1 << num_cols, dtype=np.int64)
  for t in range(num_cols + 1):
    in_layer = popcount == t
    rank[in_layer] = np.arange(in_layer.sum())
  cols, prev = [None], [None]
  for t in range(1, num_rows + 1):
    layer = masks[popcount == t]
    # Each row of bits[layer] has exactly t ones; nonzero lists them row by
    # row in increasing column order.
    col = np.nonzero(bits[layer])[1].reshape(len(layer), t)
    pred_mask = layer[:, None] ^ (np.int64(1) << col)
    cols.append(col.astype(np.int32))
    prev.append(rank[pred_mask].astype(np.int32))
  return cols, prev


def linear_assignment(cost):
  """Exact minimum-cost one-to-one assignment of rows to columns, in TF ops.

  For each example, finds distinct columns `col[r]` minimising
  `Σ_r cost[r, col[r]]` over all injective maps rows → columns. Dynamic
  programming over subsets of columns: `D_t(mask)`, the least cost of giving
  rows 0..t−1 exactly the columns in `mask` (|mask| = t), is
  `min_{j ∈ mask} D_{t−1}(mask \\ {j}) + cost[t−1, j]`. Each layer is one
  gather of constant index tables, one add and one argmin, so the graph has
  O(R) ops whatever C; the work is Σ_{t≤R} t·(C choose t) ≤ C·2^(C−1)
  gathers per example (524,288 at R = C = 16, a few MB at batch 8). The
  assignment is then read back through the stored argmins.

  Ties are broken deterministically (by the order of the stored argmins; which
  optimum is returned may differ between CPU and XLA kernels, but is the same
  on every run of the same graph).

  Non-finite costs: NaN and +inf (and finite costs above 2^120) are treated as
  the very large cost 2^120, −inf (and costs below −2^120) as −2^120. A NaN or
  +inf pair is thus used only when no assignment avoids it (and then as few
  of them as possible), a −inf pair is preferred; once such a pair is in an
  assignment the finite costs no longer separate the candidates (they are far
  below the float precision of 2^120). The result is always a valid
  assignment with distinct columns, never an error.

  Args:
    cost: float `[B, R, C]`, with static R ≤ C ≤ 16 (B may be dynamic).
      float32 and float64 are kept; other dtypes are computed in float32.

  Returns:
    int32 `[B, R]`: the column assigned to each row.

  Raises:
    ValueError: if the rank is not 3, R or C is not static, R > C or C > 16.
  """
  cost = tf.convert_to_tensor(cost)
  if cost.dtype not in (tf.float32, tf.float64):
    cost = tf.cast(cost, tf.float32)
  if cost.shape.rank != 3:
    raise ValueError(f"cost must be [B, R, C], got shape {cost.shape}.")
  num_rows, num_cols = cost.shape[1], cost.shape[2]
  if num_rows is None or num_cols is None:
    raise ValueError(f"cost needs static R and C, got shape {cost.shape}.")
  if num_rows > num_cols:
    raise ValueError(f"cost [B, R, C] needs R <= C, got shape {cost.shape}.")
  if num_cols > MAX_COLUMNS:
    raise ValueError(f"cost has C = {num_cols} columns; at most "
                     f"{MAX_COLUMNS} are supported (shape {cost.shape}).")
  batch = tf.shape(cost)[0]
  if num_rows == 0:
    return tf.zeros([batch, 0], tf.int32)

  big = tf.constant(_BIG, cost.dtype)
  cost = tf.where(tf.math.is_nan(cost), big, tf.clip_by_value(cost, -big, big))

  cols, prev = _subset_dp_tables(num_cols, num_rows)
  # Layer 1: the masks {j} for j = 0..C−1 in order, so D_1 is row 0 itself.
  best = cost[:, 0, :]  # [B, C choose 1]
  choices = [None, None]  # choices[t]: argmin k per mask of layer t, [B, n_t]
  for t in range(2, num_rows + 1):
    candidates = (tf.gather(best, prev[t], axis=1)
                  + tf.gather(cost[:, t - 1, :], cols[t], axis=1))  # [B,n_t,t]
    choices.append(tf.argmin(candidates, axis=-1, output_type=tf.int32))
    best = tf.reduce_min(candidates, axis=-1)  # [B, n_t]

  # Backtrack from the best full mask: row t−1 took column cols[t][n, k*].
  node = tf.argmin(best, axis=-1, output_type=tf.int32)  # [B]
  assigned = [None] * num_rows
  for t in range(num_rows, 1, -1):
    k = tf.gather(choices[t], node[:, tf.newaxis], batch_dims=1)[:, 0]
    at = tf.stack([node, k], axis=-1)
    assigned[t - 1] = tf.gather_nd(cols[t], at)
    node = tf.gather_nd(prev[t], at)
  assigned[0] = node  # layer-1 mask n is the single column n
  return tf.stack(assigned, axis=1)


def _zero_ref_loss(est_energy, mix_energy, zero_ref_max_snr_db):
  """`10·log10(‖ŷ‖² + τ0·‖x‖² + ε)`: loss of an output paired with silence.

  Args:
    est_energy: `[B, M]` output energies ‖ŷ‖².
    mix_energy: `[B]` mixture energies ‖x‖².
    zero_ref_max_snr_db: sets τ0 = 10^(−zero_ref_max_snr_db/10).

  Returns:
    `[B, M]` in dB.
  """
  tau0 = 10.0 ** (-float(zero_ref_max_snr_db) / 10.0)
  return 10.0 * snr.log10(est_energy + tau0 * mix_energy[:, tf.newaxis]
                          + snr.EPS)


# The PIT loss term passes these (the batch's mixture, its signal_loss).
def pit(reference, estimate, mixture=None, loss_fn="thresholded_log_mse",
        zero_ref_max_snr_db=20.0, zero_ref_weight=1.0):
  """Permutation invariant loss with silent references (docs/losses.md#pit).

  References whose RMS over time is ≤ 1e-8 are silent ("zero"). Every output
  that is not matched to an active reference (those matched to zero slots and,
  when S < M, the M − S unmatched ones) is paired with an all-zero reference
  and scored with the mixture as the threshold reference, as in the original
  supervised FUSS model:
    `Z(ŷ) = 10·log10(‖ŷ‖² + τ0·‖x‖² + ε)`, τ0 = 10^(−zero_ref_max_snr_db/10),
  ε = 1e-8. Active references use `loss_fn` (default: the thresholded log-MSE
  at 30 dB, docs/losses.md#thresholded-snr). With π the one-to-one matching of references to
  outputs, A the active references and U the outputs not matched to one,
    `loss = (1/S)·(Σ_{i∈A} L(s_i, ŝ_π(i)) + zero_ref_weight·Σ_{m∈U} Z(ŝ_m))`,
  minimised over π. The (1/S) normalisation is the library's (docs/losses.md#pit); for S = M it equals
  the original's per-example weight 1/num_reference_slots. For S < M the
  M − S extra outputs add to the sum but not to the normaliser, so the loss of
  S references and M outputs is the loss of M zero-padded references times M/S.

  The matching minimises exactly that weighted total: the references are
  padded with zero slots up to M, the `[B, M, M]` pairwise loss matrix is
  built from inner products (`loss_fn.from_stats`, one matmul for the cross
  terms, on `loss_fn.prepare`d signals) and solved exactly by
  `linear_assignment`, all under stop_gradient. The returned loss is then
  recomputed on the waveforms of the chosen pairs only (`loss_fn(reference,
  estimate)` for active pairs, which avoids the cancellation of inner
  products), so the gradient flows through the chosen pairs' losses alone.
  Everything is computed in float32; it compiles with XLA on static S and M.

  Args:
    reference: `[B, S, T]` reference sources.
    estimate: `[B, M, T]` separated outputs, M ≥ S, M ≤ 16.
    mixture: `[B, T]` input mixture, the threshold reference of zero slots;
      defaults to the sum of the references over S.
    loss_fn: loss of active pairs: a name from `snr.LOSSES` or a
      `snr.SignalLoss` (it needs `from_stats`).
    zero_ref_max_snr_db: the SNR cap of zero-reference pairs (20 dB in FUSS).
    zero_ref_weight: weight of the zero-reference terms, in the matching cost
      and in the loss alike.

  Returns:
    `(loss, perm)`: float32 `[B]` and int32 `[B, S]`, `perm[b, i]` the index
    of the output matched to reference i. For a zero reference, `perm[b, i]`
    is one of the outputs not matched to an active reference (which one is
    arbitrary but deterministic: all zero slots score alike).

  Raises:
    ValueError: if S > M, S = 0, the ranks are wrong, S or M is not static,
      or `loss_fn` has no `from_stats`.
  """
  reference = tf.cast(reference, tf.float32)
  estimate = tf.cast(estimate, tf.float32)
  if reference.shape.rank != 3 or estimate.shape.rank != 3:
    raise ValueError(f"pit expects reference [B, S, T] and estimate [B, M, T], "
                     f"got shapes {reference.shape} and {estimate.shape}.")
  num_refs, num_outs = reference.shape[1], estimate.shape[1]
  if num_refs is None or num_outs is None:
    raise ValueError(f"pit needs static S and M, got reference "
                     f"{reference.shape} and estimate {estimate.shape}.")
  if num_refs > num_outs:
    raise ValueError(f"pit needs S <= M (at most as many references as "
                     f"outputs), got reference shape {reference.shape} (S = "
                     f"{num_refs}) and estimate shape {estimate.shape} "
                     f"(M = {num_outs}).")
  if num_refs == 0:
    raise ValueError(f"pit needs at least one reference, got reference shape "
                     f"{reference.shape}.")
  loss_fn = snr.get_signal_loss(loss_fn)
  if not hasattr(loss_fn, "from_stats"):
    raise ValueError(f"pit scores all pairs from inner products and needs a "
                     f"loss with `from_stats` (a snr.SignalLoss), got "
                     f"{loss_fn!r}.")
  if mixture is None:
    mixture = tf.reduce_sum(reference, axis=1)
  mixture = tf.cast(mixture, tf.float32)

  rms = tf.sqrt(tf.reduce_mean(tf.square(reference), axis=-1))
  active = rms > ZERO_REF_RMS  # [B, S]
  mix_energy = snr.energy(mixture)  # [B]
  # Z of every output, from waveforms: this is also the differentiated value.
  zero_loss = _zero_ref_loss(snr.energy(estimate), mix_energy,
                             zero_ref_max_snr_db)  # [B, M]
  weight = tf.constant(zero_ref_weight, tf.float32)

  # Pairwise cost [B, M, M]: rows are the S references then M − S zero slots.
  ref_p = tf.stop_gradient(loss_fn.prepare(reference))
  est_p = tf.stop_gradient(loss_fn.prepare(estimate))
  cross = tf.matmul(ref_p, est_p, transpose_b=True)  # [B, S, M]
  pair = loss_fn.from_stats(snr.energy(ref_p)[:, :, tf.newaxis], cross,
                            snr.energy(est_p)[:, tf.newaxis, :])
  silent_row = weight * tf.stop_gradient(zero_loss)[:, tf.newaxis, :]
  ref_rows = tf.where(active[:, :, tf.newaxis], pair, silent_row)
  pad_rows = tf.tile(silent_row, [1, num_outs - num_refs, 1])
  cost = tf.concat([ref_rows, pad_rows], axis=1)
  perm = tf.stop_gradient(linear_assignment(cost)[:, :num_refs])  # [B, S]

  chosen = tf.gather(estimate, perm, batch_dims=1)  # [B, S, T]
  active_f = tf.cast(active, tf.float32)
  # Silent references (as zeros) give finite values for the built-in losses;
  # tf.where keeps them out of the value and the gradient.
  active_loss = tf.where(active, loss_fn(reference, chosen), 0.0)
  to_active = tf.reduce_sum(
      active_f[:, :, tf.newaxis] * tf.one_hot(perm, num_outs), axis=1)  # [B,M]
  silent_loss = tf.reduce_sum((1.0 - to_active) * zero_loss, axis=-1)
  loss = (tf.reduce_sum(active_loss, axis=-1) + weight * silent_loss) / num_refs
  return loss, perm
