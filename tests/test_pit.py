"""Tests of `linear_assignment` and `pit` against NumPy and SciPy references."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import linear_sum_assignment

from sound_separation.losses import permutation_invariant as pit_lib
from sound_separation.losses import snr
from conftest import assert_finite, value_and_grads

# One traced function per static shape is reused across seeds and tests, so
# the 16-column DP is traced only once per (R, jit) combination.
_solve = tf.function(pit_lib.linear_assignment)
_solve_xla = tf.function(pit_lib.linear_assignment, jit_compile=True)


def _brute_force_assignment_cost(cost):
  """Least total cost over injective rows → columns maps, `[R, C]` -> float."""
  num_rows, num_cols = cost.shape
  return min(cost[np.arange(num_rows), list(cols)].sum()
             for cols in itertools.permutations(range(num_cols), num_rows))


def _assigned_cost(cost, cols):
  return cost[np.arange(cost.shape[0]), cols].sum()


def _check_valid(cols, num_rows, num_cols):
  assert cols.shape == (num_rows,)
  assert cols.dtype == np.int32
  assert len(set(cols.tolist())) == num_rows
  assert np.all((cols >= 0) & (cols < num_cols))


@pytest.mark.parametrize("num_rows,num_cols", [(3, 3), (5, 5), (3, 5), (1, 4)])
def test_linear_assignment_matches_brute_force(num_rows, num_cols):
  for seed in range(3):
    rng = np.random.default_rng(seed)
    cost = rng.standard_normal((4, num_rows, num_cols))
    # Integer costs have many exact ties between optima: the optimum value
    # must still be found.
    cost[-1] = rng.integers(0, 3, (num_rows, num_cols))
    cols = _solve(tf.constant(cost, tf.float32)).numpy()
    for b in range(cost.shape[0]):
      _check_valid(cols[b], num_rows, num_cols)
      np.testing.assert_allclose(_assigned_cost(cost[b], cols[b]),
                                 _brute_force_assignment_cost(cost[b]),
                                 rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("num_rows", [16, 10])
@pytest.mark.parametrize("jit", [False, True])
def test_linear_assignment_matches_scipy_at_16_columns(num_rows, jit):
  solve = _solve_xla if jit else _solve
  for seed in range(3):
    rng = np.random.default_rng(100 + seed)
    cost = rng.uniform(-5.0, 5.0, (3, num_rows, 16))
    cols = solve(tf.constant(cost, tf.float32)).numpy()
    for b in range(cost.shape[0]):
      _check_valid(cols[b], num_rows, 16)
      rows, best = linear_sum_assignment(cost[b])
      np.testing.assert_allclose(_assigned_cost(cost[b], cols[b]),
                                 cost[b][rows, best].sum(), rtol=1e-5,
                                 atol=1e-4)


def test_linear_assignment_float64_and_ties_deterministic():
  cost = np.zeros((2, 4, 6))
  first = pit_lib.linear_assignment(tf.constant(cost)).numpy()
  second = pit_lib.linear_assignment(tf.constant(cost)).numpy()
  np.testing.assert_array_equal(first, second)
  for b in range(2):
    _check_valid(first[b], 4, 6)
  # float64 keeps its precision: a 1e-12 difference decides the optimum.
  cost = np.array([[[1.0, 1.0 + 1e-12], [1.0, 1.0 + 2e-12 + 1e-12]]])
  np.testing.assert_array_equal(
      pit_lib.linear_assignment(tf.constant(cost)).numpy(), [[1, 0]])


def test_linear_assignment_non_finite_costs():
  cost = np.array([
      # NaN and +inf are avoided when a finite assignment exists.
      [[np.nan, 1.0, 2.0], [0.0, np.inf, 5.0], [0.0, 3.0, np.inf]],
      # −inf is preferred; every row must take one NaN/inf: still distinct.
      [[-np.inf, np.nan, np.inf], [np.nan, np.inf, np.nan], [np.inf, 0.0, 1.0]],
  ], np.float32)
  for solve in (_solve, _solve_xla):
    cols = solve(tf.constant(cost)).numpy()
    np.testing.assert_array_equal(cols[0], [2, 0, 1])  # cost 5, the best
    for b in range(2):
      _check_valid(cols[b], 3, 3)
    assert cols[1, 0] == 0


def test_linear_assignment_rejects_bad_shapes():
  with pytest.raises(ValueError, match="R <= C"):
    pit_lib.linear_assignment(tf.zeros([1, 4, 3]))
  with pytest.raises(ValueError, match="at most 16"):
    pit_lib.linear_assignment(tf.zeros([1, 2, 17]))


# ---------------------------------------------------------------------------
# pit against a NumPy brute force written from the formulas of docs/losses.md#thresholded-snr, docs/losses.md#pit.

def _np_log_mse(y, y_hat, max_snr_db=30.0):
  tau = 10.0 ** (-max_snr_db / 10.0)
  return 10.0 * np.log10(np.sum((y - y_hat) ** 2) + tau * np.sum(y ** 2) + 1e-8)


def _np_zero_ref(y_hat, mixture, max_snr_db=20.0):
  tau0 = 10.0 ** (-max_snr_db / 10.0)
  return 10.0 * np.log10(np.sum(y_hat ** 2) + tau0 * np.sum(mixture ** 2)
                         + 1e-8)


def _np_pit(reference, estimate, mixture, zero_ref_weight=1.0):
  """Brute force over all injective maps references → outputs, per example.

  Returns `(loss [B], best [B] list of tuples)`; float64 throughout.
  """
  losses, perms = [], []
  num_refs, num_outs = reference.shape[1], estimate.shape[1]
  for ref, est, mix in zip(reference, estimate, mixture):
    active = np.sqrt(np.mean(ref ** 2, axis=-1)) > 1e-8
    best = None
    for perm in itertools.permutations(range(num_outs), num_refs):
      to_active = {perm[i] for i in range(num_refs) if active[i]}
      total = sum(_np_log_mse(ref[i], est[perm[i]])
                  for i in range(num_refs) if active[i])
      total += zero_ref_weight * sum(_np_zero_ref(est[m], mix)
                                     for m in range(num_outs)
                                     if m not in to_active)
      if best is None or total < best[0]:
        best = (total, perm)
    losses.append(best[0] / num_refs)
    perms.append(best[1])
  return np.array(losses), perms


def _random_case(rng, batch, num_refs, num_outs, num_samples=64,
                 zero_refs=()):
  reference = rng.standard_normal((batch, num_refs, num_samples))
  reference *= rng.uniform(0.1, 2.0, (batch, num_refs, 1))
  for i in zero_refs:
    reference[:, i] = 0.0
  # Outputs: noisy, rescaled references in random order plus noise-only ones,
  # so that the optimum is clear but not trivial.
  estimate = 0.7 * rng.standard_normal((batch, num_outs, num_samples))
  for b in range(batch):
    order = rng.permutation(num_outs)[:num_refs]
    estimate[b, order] += rng.uniform(0.5, 1.5) * reference[b]
  return reference, estimate


@pytest.mark.parametrize("num_refs,num_outs,zero_refs", [
    (3, 4, (1,)), (3, 3, ()), (3, 3, (0, 2)), (2, 5, ())])
def test_pit_matches_numpy_brute_force(num_refs, num_outs, zero_refs):
  for seed in range(3):
    rng = np.random.default_rng(seed)
    reference, estimate = _random_case(rng, 3, num_refs, num_outs,
                                       zero_refs=zero_refs)
    loss, perm = pit_lib.pit(tf.constant(reference, tf.float32),
                             tf.constant(estimate, tf.float32))
    want_loss, want_perm = _np_pit(reference, estimate,
                                   reference.sum(axis=1))
    np.testing.assert_allclose(loss.numpy(), want_loss, rtol=1e-4, atol=1e-4)
    perm = perm.numpy()
    assert perm.dtype == np.int32 and perm.shape == (3, num_refs)
    for b in range(3):
      assert len(set(perm[b].tolist())) == num_refs
      for i in range(num_refs):
        if i not in zero_refs:
          assert perm[b, i] == want_perm[b][i]


def test_pit_explicit_mixture_and_weight_match_numpy():
  rng = np.random.default_rng(7)
  reference, estimate = _random_case(rng, 2, 3, 4, zero_refs=(2,))
  mixture = reference.sum(axis=1) + 0.3 * rng.standard_normal((2, 64))
  loss, _ = pit_lib.pit(reference.astype(np.float32),
                        estimate.astype(np.float32),
                        mixture=mixture.astype(np.float32),
                        zero_ref_weight=0.5)
  want, _ = _np_pit(reference, estimate, mixture, zero_ref_weight=0.5)
  np.testing.assert_allclose(loss.numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("num_refs", [16, 11])
def test_pit_recovers_planted_permutation_at_16_outputs(num_refs):
  rng = np.random.default_rng(3)
  batch, num_outs = 2, 16
  reference = rng.standard_normal((batch, num_refs, 128))
  truth = np.stack([rng.permutation(num_outs)[:num_refs] for _ in range(batch)])
  estimate = 1e-3 * rng.standard_normal((batch, num_outs, 128))
  for b in range(batch):
    estimate[b, truth[b]] += reference[b]
  _, perm = pit_lib.pit(tf.constant(reference, tf.float32),
                        tf.constant(estimate, tf.float32))
  np.testing.assert_array_equal(perm.numpy(), truth)


@pytest.mark.parametrize("jit", [False, True])
def test_pit_finite_for_silence_at_16_outputs(jit):
  rng = np.random.default_rng(0)
  # One batch, one case per example (examples are independent): silent
  # references, silent outputs, both silent.
  reference = rng.standard_normal((3, 4, 32)).astype(np.float32)
  estimate = rng.standard_normal((3, 16, 32)).astype(np.float32)
  reference[0] = 0.0
  estimate[1] = 0.0
  reference[2] = 0.0
  estimate[2] = 0.0
  (loss, perm), grads = value_and_grads(pit_lib.pit, reference, estimate,
                                        jit_compile=jit)
  assert_finite(loss, *grads)
  assert loss.shape == (3,)
  for b in range(3):
    assert len(set(perm[b].tolist())) == 4
  # Both silent: every output scores 10·log10(ε) = −80 dB; 16 of them / S = 4.
  np.testing.assert_allclose(loss[2], 16 * -80.0 / 4, rtol=1e-5)


def test_pit_xla_matches_eager_and_casts_to_float32():
  rng = np.random.default_rng(1)
  reference, estimate = _random_case(rng, 2, 3, 5, zero_refs=(1,))
  want_loss, want_perm = pit_lib.pit(reference, estimate)  # float64 inputs
  assert want_loss.dtype == tf.float32
  loss, perm = tf.function(pit_lib.pit, jit_compile=True)(
      tf.constant(reference, tf.float32), tf.constant(estimate, tf.float32))
  np.testing.assert_allclose(loss.numpy(), want_loss.numpy(), rtol=1e-5)
  # The slot of the silent reference 1 may take any spare output.
  np.testing.assert_array_equal(perm.numpy()[:, [0, 2]],
                                want_perm.numpy()[:, [0, 2]])


def test_pit_gradient_flows_through_chosen_pairs_only():
  rng = np.random.default_rng(5)
  reference, estimate = _random_case(rng, 2, 3, 5, zero_refs=(2,))
  mixture = reference.sum(axis=1)
  _, best = _np_pit(reference, estimate, mixture)
  estimate = tf.constant(estimate, tf.float32)
  ref32 = tf.constant(reference, tf.float32)

  with tf.GradientTape() as tape:
    tape.watch(estimate)
    loss, _ = pit_lib.pit(ref32, estimate)
    total = tf.reduce_sum(loss)
  got = tape.gradient(total, estimate).numpy()

  # The same objective on the NumPy-chosen pairs, written directly with the
  # waveform losses: active pairs by ThresholdedLogMSE, every other output
  # scored against silence with the mixture as threshold reference.
  log_mse = snr.ThresholdedLogMSE(30.0)
  tau0 = 10.0 ** (-20.0 / 10.0)
  with tf.GradientTape() as tape:
    tape.watch(estimate)
    terms = []
    for b in range(2):
      used = set()
      for i in (0, 1):  # the active references
        terms.append(log_mse(ref32[b, i], estimate[b, best[b][i]]))
        used.add(best[b][i])
      for m in set(range(5)) - used:
        terms.append(10.0 * snr.log10(
            tf.reduce_sum(tf.square(estimate[b, m]))
            + tau0 * float(np.sum(mixture[b] ** 2)) + 1e-8))
    total = tf.add_n(terms) / 3.0
  want = tape.gradient(total, estimate).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_pit_rejects_more_references_than_outputs():
  with pytest.raises(ValueError, match=r"S <= M.*\(2, 4, 8\).*\(2, 3, 8\)"):
    pit_lib.pit(tf.zeros([2, 4, 8]), tf.zeros([2, 3, 8]))
