"""Sparsity, covariance and classification losses against NumPy references."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_finite, value_and_grads
from sound_separation.data import batches
from sound_separation.losses import classification
from sound_separation.losses import covariance
from sound_separation.losses import sparsity

SEEDS = [0, 1, 2]


# ----------------------------------------------------------------- references
# Written from the formulas of docs/losses.md with loops, in float64.

def np_rms(x):
  return math.sqrt(sum(v * v for v in x) / len(x))


def np_l1_sparsity(estimate, mixture, eps=1e-8):
  out = []
  for est, mix in zip(estimate, mixture):
    r = [np_rms(s) for s in est]
    out.append(sum(r) / (math.sqrt(len(r)) * np_rms(mix) + eps))
  return np.array(out)


def np_l1_l2_sparsity(estimate, eps=1e-8):
  out = []
  for est in estimate:
    r = [np_rms(s) for s in est]
    l2 = math.sqrt(sum(v * v for v in r))
    out.append(sum(r) / (math.sqrt(len(r)) * l2 + eps))
  return np.array(out)


def np_covariance(estimate, eps=1e-8):
  out = []
  for est in estimate:
    m, t = est.shape
    c = [s - s.mean() for s in est]
    cov = [[float(np.dot(c[i], c[j])) / t for j in range(m)] for i in range(m)]
    num = sum(abs(cov[i][j]) for i in range(m) for j in range(m) if i != j)
    out.append(num / ((m - 1) * sum(cov[i][i] for i in range(m)) + eps))
  return np.array(out)


def np_soft_or(probs):
  b, m, k = probs.shape
  out = np.zeros((b, k))
  for i, c in itertools.product(range(b), range(k)):
    prod = 1.0
    for j in range(m):
      prod *= 1.0 - probs[i, j, c]
    out[i, c] = 1.0 - prod
  return out


def np_soft_xor(probs):
  b, m, k = probs.shape
  out = np.zeros((b, k))
  for i, c in itertools.product(range(b), range(k)):
    for j in range(m):
      term = probs[i, j, c]
      for jj in range(m):
        if jj != j:
          term *= 1.0 - probs[i, jj, c]
      out[i, c] += term
  return out


def np_soft_or_grad(probs):
  """∂OR_k/∂p_mk = Π_{m'≠m}(1 − p_m'k)."""
  b, m, k = probs.shape
  grad = np.ones_like(probs)
  for i, j, c in itertools.product(range(b), range(m), range(k)):
    for jj in range(m):
      if jj != j:
        grad[i, j, c] *= 1.0 - probs[i, jj, c]
  return grad


def np_soft_xor_grad(probs):
  """∂XOR_k/∂p_mk = Π_{m'≠m}(1 − p_m') − Σ_{j≠m} p_j Π_{m'∉{j,m}}(1 − p_m')."""
  b, m, k = probs.shape
  grad = np_soft_or_grad(probs)
  for i, a, c in itertools.product(range(b), range(m), range(k)):
    for j in range(m):
      if j == a:
        continue
      term = probs[i, j, c]
      for jj in range(m):
        if jj not in (j, a):
          term *= 1.0 - probs[i, jj, c]
      grad[i, a, c] -= term
  return grad


def np_bce(aggregate, labels, eps=1e-7):
  b, k = aggregate.shape
  out = np.zeros(b)
  for i in range(b):
    total = 0.0
    for c in range(k):
      g = min(max(aggregate[i, c], eps), 1.0 - eps)
      y = labels[i, c]
      total += y * math.log(g) + (1.0 - y) * math.log(1.0 - g)
    out[i] = -total / k
  return out


def np_cosine(probs, eps=1e-8):
  out = []
  for p in probs:
    m = len(p)
    total = 0.0
    for i in range(m):
      for j in range(i + 1, m):
        total += np.dot(p[i], p[j]) / (
            np.linalg.norm(p[i]) * np.linalg.norm(p[j]) + eps)
    out.append(2.0 * total / (m * (m - 1)) if m > 1 else 0.0)
  return np.array(out)


def sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def random_probs(rng, shape, exact=False):
  """Posteriors in (0, 1), optionally with exact 0s and 1s sprinkled in."""
  p = rng.uniform(0.0, 1.0, shape)
  if exact:
    p[rng.uniform(size=shape) < 0.15] = 0.0
    p[rng.uniform(size=shape) < 0.15] = 1.0
  return p.astype(np.float32)


def sinusoids(num, t=256, amplitude=1.0):
  """`num` sinusoids at 1..num cycles over exactly `t` samples: orthogonal,
  zero mean, each with power amplitude²/2."""
  n = np.arange(t)
  return np.stack([amplitude * np.sin(2 * np.pi * (f + 1) * n / t + 0.3 * f)
                   for f in range(num)]).astype(np.float32)


def run(fn, *args):
  return fn(*[tf.constant(a) for a in args]).numpy()


# ------------------------------------------------------------------- sparsity

@pytest.mark.parametrize("seed", SEEDS)
def test_sparsity_matches_numpy(seed):
  rng = np.random.default_rng(seed)
  estimate = rng.normal(size=(3, 4, 50)) * rng.uniform(0.01, 2.0, (3, 4, 1))
  estimate[0, 1] = 0.0  # a silent output among active ones
  estimate = estimate.astype(np.float32)
  mixture = (estimate.sum(1) + 0.1 * rng.normal(size=(3, 50))).astype(np.float32)
  l1 = run(sparsity.l1_sparsity, estimate, mixture)
  l1_l2 = run(sparsity.l1_l2_sparsity, estimate)
  assert l1.shape == l1_l2.shape == (3,)
  assert l1.dtype == l1_l2.dtype == np.float32
  np.testing.assert_allclose(l1, np_l1_sparsity(estimate.astype(np.float64),
                                                mixture.astype(np.float64)),
                             rtol=1e-5)
  np.testing.assert_allclose(l1_l2,
                             np_l1_l2_sparsity(estimate.astype(np.float64)),
                             rtol=1e-5)


@pytest.mark.parametrize("num_outputs", [2, 4, 8])
@pytest.mark.parametrize("amplitude", [1.0, 1e-3])
def test_sparsity_closed_form(num_outputs, amplitude):
  # Equally loud orthogonal outputs summing to the mixture score 1; one active
  # output equal to the mixture scores 1/√M, whatever the level.
  spread = sinusoids(num_outputs, amplitude=amplitude)
  single = np.zeros_like(spread)
  single[0] = spread[0]
  estimate = np.stack([spread, single])
  mixture = estimate.sum(1)
  expected = [1.0, 1.0 / math.sqrt(num_outputs)]
  np.testing.assert_allclose(run(sparsity.l1_sparsity, estimate, mixture),
                             expected, rtol=1e-4)
  np.testing.assert_allclose(run(sparsity.l1_l2_sparsity, estimate),
                             expected, rtol=1e-4)


def test_safe_sqrt_is_exact_for_audible_levels():
  # The floor vanishes in float32 rounding for any mean square >= ~1.7e-23.
  x = tf.constant([1e-22, 1e-12, 1e-4, 1.0, 3e4], tf.float32)
  np.testing.assert_array_equal(sparsity.safe_sqrt(x).numpy(),
                                tf.sqrt(x).numpy())


# ----------------------------------------------------------------- covariance

@pytest.mark.parametrize("seed", SEEDS)
def test_covariance_matches_numpy(seed):
  rng = np.random.default_rng(seed)
  base = rng.normal(size=(3, 1, 60))
  # Correlated outputs with DC offsets, so centring and |·| both matter.
  estimate = (rng.normal(size=(3, 1, 1)) * base + rng.normal(size=(3, 5, 60))
              * rng.uniform(0.1, 1.0, (3, 5, 1)) + rng.normal(size=(3, 5, 1)))
  estimate = estimate.astype(np.float32)
  loss = run(covariance.covariance_loss, estimate)
  assert loss.shape == (3,) and loss.dtype == np.float32
  np.testing.assert_allclose(loss, np_covariance(estimate.astype(np.float64)),
                             rtol=1e-5)
  assert np.all((loss >= 0.0) & (loss <= 1.0))


def test_covariance_closed_form():
  offsets = np.arange(4, dtype=np.float32)[:, None]
  orthogonal = sinusoids(4) + offsets  # DC is removed by the centring
  copies = (np.array([1.0, -1.0, -1.0, 1.0], np.float32)[:, None]
            * 0.7 * sinusoids(1) + offsets)
  loss = run(covariance.covariance_loss, np.stack([orthogonal, copies]))
  np.testing.assert_allclose(loss, [0.0, 1.0], atol=1e-5)


def test_covariance_unequal_copies():
  # Copies scaled by a: (‖a‖₁² − ‖a‖₂²) / ((M − 1)‖a‖₂²), as documented.
  a = np.array([1.0, -2.0, 0.5], np.float32)
  loss = run(covariance.covariance_loss, (a[:, None] * sinusoids(1))[None])
  l1, l2sq = np.abs(a).sum(), (a ** 2).sum()
  np.testing.assert_allclose(loss, [(l1 ** 2 - l2sq) / (2 * l2sq)], rtol=1e-5)


def test_covariance_single_output_is_zero():
  estimate = np.random.default_rng(0).normal(size=(2, 1, 32)).astype(np.float32)
  loss, grads = value_and_grads(covariance.covariance_loss, estimate)
  np.testing.assert_array_equal(loss, [0.0, 0.0])
  assert_finite(*grads)


# ------------------------------------------------------- soft OR / soft XOR

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exact", [False, True])
def test_soft_or_xor_match_numpy(seed, exact):
  rng = np.random.default_rng(seed)
  probs = random_probs(rng, (3, 4, 7), exact=exact)
  p64 = probs.astype(np.float64)
  got_or, got_xor = run(classification.soft_or, probs), run(
      classification.soft_xor, probs)
  assert got_or.shape == got_xor.shape == (3, 7)
  # Posteriors of exactly 1 are clipped to 1 − 1.2e-7 (PROB_CLIP).
  np.testing.assert_allclose(got_or, np_soft_or(p64), atol=1e-6)
  np.testing.assert_allclose(got_xor, np_soft_xor(p64), atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_soft_or_xor_gradients_match_numpy(seed):
  rng = np.random.default_rng(seed)
  probs = rng.uniform(0.01, 0.99, (2, 4, 5)).astype(np.float32)
  p64 = probs.astype(np.float64)
  _, (grad_or,) = value_and_grads(classification.soft_or, probs)
  _, (grad_xor,) = value_and_grads(classification.soft_xor, probs)
  np.testing.assert_allclose(grad_or, np_soft_or_grad(p64), atol=1e-5)
  np.testing.assert_allclose(grad_xor, np_soft_xor_grad(p64), atol=1e-5)


def test_soft_or_xor_hand_computed():
  # Columns (classes), outputs along the rows.
  probs = np.array([[[0.5, 1.0, 1.0, 0.0, 0.2, 1e-6],
                     [0.5, 0.0, 1.0, 0.0, 0.5, 1e-6],
                     [0.0, 0.0, 0.0, 0.0, 0.0, 1e-6]]], np.float32)
  expected_or = [0.75, 1.0, 1.0, 0.0, 0.6, 3e-6]
  expected_xor = [0.5, 1.0, 0.0, 0.0, 0.5, 3e-6]
  got_or = run(classification.soft_or, probs)[0]
  got_xor = run(classification.soft_xor, probs)[0]
  np.testing.assert_allclose(got_or, expected_or, atol=3e-7)
  np.testing.assert_allclose(got_xor, expected_xor, atol=3e-7)
  # Small posteriors stay accurate in relative terms (expm1, log1p).
  np.testing.assert_allclose(got_or[-1], 1 - (1 - 1e-6) ** 3, rtol=1e-5)
  assert got_xor[1] == 1.0  # one output certain, the others silent: exact


@pytest.mark.parametrize("seed", SEEDS)
def test_logit_forms_match_numpy(seed):
  rng = np.random.default_rng(seed)
  logits = (rng.normal(size=(3, 4, 6)) * 8.0).astype(np.float32)
  p64 = sigmoid(logits.astype(np.float64))
  np.testing.assert_allclose(run(classification.soft_or_from_logits, logits),
                             np_soft_or(p64), atol=1e-6)
  np.testing.assert_allclose(run(classification.soft_xor_from_logits, logits),
                             np_soft_xor(p64), atol=1e-6)


# ------------------------------------------------- cross-entropy and its use

@pytest.mark.parametrize("seed", SEEDS)
def test_weak_label_bce_matches_numpy(seed):
  rng = np.random.default_rng(seed)
  aggregate = rng.uniform(size=(3, 9)).astype(np.float32)
  aggregate[0, :2] = [0.0, 1.0]
  aggregate[1, :2] = [1.0, 0.0]
  labels = (rng.uniform(size=(3, 9)) < 0.5).astype(np.float32)
  labels[:2, :2] = [[1.0, 0.0], [0.0, 1.0]]  # the clipped worst cases
  got = run(classification.weak_label_bce, aggregate, labels)
  assert got.shape == (3,) and got.dtype == np.float32
  np.testing.assert_allclose(
      got, np_bce(aggregate.astype(np.float64), labels.astype(np.float64)),
      rtol=1e-5)


@pytest.mark.parametrize("aggregation", ["or", "xor"])
def test_classification_loss_composition(aggregation):
  rng = np.random.default_rng(3)
  logits = (rng.normal(size=(2, 3, 8)) * 3.0).astype(np.float32)
  probs = tf.sigmoid(logits).numpy()
  labels = (rng.uniform(size=(2, 8)) < 0.4).astype(np.float32)
  np_agg = {"or": np_soft_or, "xor": np_soft_xor}[aggregation]
  expected = np_bce(np_agg(probs.astype(np.float64)), labels)
  got = classification.classification_loss(probs, labels, aggregation).numpy()
  got_logits = classification.classification_loss(
      logits, labels, aggregation, from_logits=True).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # The logit form is compared with the exact sigmoid, not with the rounded
  # float32 posteriors (1 − p has relative error ~6e-8/(1 − p) in those).
  expected_logits = np_bce(np_agg(sigmoid(logits.astype(np.float64))), labels)
  np.testing.assert_allclose(got_logits, expected_logits, rtol=1e-5)


def test_classification_loss_rejects_unknown_aggregation():
  probs, labels = np.zeros((1, 2, 3), np.float32), np.zeros((1, 3), np.float32)
  with pytest.raises(ValueError, match="'and'"):
    classification.classification_loss(probs, labels, aggregation="and")


def test_union_labels():
  a = np.array([[1, 0, 0, 1]], np.int32)
  b = np.array([[False, False, True, True]])
  got = batches.union_labels(a, b)
  assert got.dtype == tf.float32
  np.testing.assert_array_equal(got.numpy(), [[1.0, 0.0, 1.0, 1.0]])
  np.testing.assert_array_equal(
      batches.union_labels([[0.2, 0.9]], [[0.5, 0.1]]).numpy(),
      np.float32([[0.5, 0.9]]))


# -------------------------------------------------------------------- cosine

@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_matches_numpy(seed):
  rng = np.random.default_rng(seed)
  probs = random_probs(rng, (3, 5, 11), exact=True)
  probs[1, 2] = 0.0  # an all-zero posterior vector
  got = run(classification.cosine_similarity_loss, probs)
  assert got.shape == (3,) and got.dtype == np.float32
  np.testing.assert_allclose(got, np_cosine(probs.astype(np.float64)),
                             rtol=1e-5)


def test_cosine_closed_form():
  disjoint = np.eye(4, 6, dtype=np.float32)
  identical = np.tile(np.float32([[0.0, 0.3, 0.9, 0.1, 0.0, 0.5]]), (4, 1))
  got = run(classification.cosine_similarity_loss,
            np.stack([disjoint, identical]))
  np.testing.assert_allclose(got, [0.0, 1.0], atol=1e-6)
  single = run(classification.cosine_similarity_loss, identical[None, :1])
  np.testing.assert_array_equal(single, [0.0])


# ------------------------------------------------------------------ numerics

def _silent(m=16, t=128):
  return np.zeros((2, m, t), np.float32), np.zeros((2, t), np.float32)


def _saturated(m=16, k=527):
  """Posteriors at exactly 0 and 1 (one example all zero, one with several 1s
  per class), M = 16 outputs, K = 527 classes."""
  rng = np.random.default_rng(0)
  probs = random_probs(rng, (3, m, k), exact=True)
  probs[0] = 0.0
  probs[1] = (rng.uniform(size=(m, k)) < 0.5).astype(np.float32)
  return probs


def _labels(k=527):
  return (np.random.default_rng(1).uniform(size=(3, k)) < 0.5).astype(
      np.float32)


NUMERIC_CASES = {
    "l1_sparsity": lambda: (sparsity.l1_sparsity, _silent()),
    "l1_l2_sparsity": lambda: (sparsity.l1_l2_sparsity, _silent()[:1]),
    "covariance": lambda: (covariance.covariance_loss, _silent()[:1]),
    "soft_or": lambda: (classification.soft_or, (_saturated(),)),
    "soft_xor": lambda: (classification.soft_xor, (_saturated(),)),
    "soft_or_logits": lambda: (classification.soft_or_from_logits,
                               (np.float32(80.0) * (2 * _saturated() - 1),)),
    "soft_xor_logits": lambda: (classification.soft_xor_from_logits,
                                (np.float32(80.0) * (2 * _saturated() - 1),)),
    "bce": lambda: (classification.weak_label_bce,
                    (_saturated()[:, 0], _labels())),
    "cls_or": lambda: (
        lambda p, y: classification.classification_loss(p, y, "or"),
        (_saturated(), _labels())),
    "cls_xor": lambda: (
        lambda p, y: classification.classification_loss(p, y, "xor"),
        (_saturated(), _labels())),
    "cosine": lambda: (classification.cosine_similarity_loss, (_saturated(),)),
}


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("case", sorted(NUMERIC_CASES))
def test_finite_values_and_gradients(case, jit_compile):
  fn, inputs = NUMERIC_CASES[case]()
  out, grads = value_and_grads(fn, *inputs, jit_compile=jit_compile)
  assert out.dtype == np.float32
  assert_finite(out, *grads)
  assert all(g is not None for g in grads[:1])


def test_silent_inputs_give_zero_losses_and_gradients():
  estimate, mixture = _silent(m=4, t=32)
  for fn, inputs in [(sparsity.l1_sparsity, (estimate, mixture)),
                     (sparsity.l1_l2_sparsity, (estimate,)),
                     (covariance.covariance_loss, (estimate,)),
                     (classification.cosine_similarity_loss, (estimate,))]:
    out, grads = value_and_grads(fn, *inputs)
    np.testing.assert_allclose(out, 0.0, atol=1e-5)
    for g in grads:
      np.testing.assert_array_equal(g, 0.0)


# ---------------------------------------------------------- reduced precision

def _precision_cases(rng):
  estimate = rng.normal(size=(2, 3, 40)).astype(np.float32)
  mixture = estimate.sum(1)
  probs = rng.uniform(0.05, 0.95, (2, 3, 6)).astype(np.float32)
  labels = (rng.uniform(size=(2, 6)) < 0.5).astype(np.float32)
  return [
      (sparsity.l1_sparsity, (estimate, mixture)),
      (sparsity.l1_l2_sparsity, (estimate,)),
      (covariance.covariance_loss, (estimate,)),
      (classification.soft_or, (probs,)),
      (classification.soft_xor, (probs,)),
      (classification.weak_label_bce, (probs[:, 0], labels)),
      (lambda p, y: classification.classification_loss(p, y, "xor"),
       (probs, labels)),
      (classification.cosine_similarity_loss, (probs,)),
  ]


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_inputs_give_float32(dtype):
  rng = np.random.default_rng(0)
  for fn, inputs in _precision_cases(rng):
    low = [tf.cast(x, dtype) for x in inputs]
    got = fn(*low)
    assert got.dtype == tf.float32, fn
    # Exactly the float32 computation on the rounded inputs...
    rounded = [tf.cast(x, tf.float32) for x in low]
    np.testing.assert_allclose(got.numpy(), fn(*rounded).numpy(), rtol=1e-6)
    # ...and close to the float32 result on the original inputs.
    np.testing.assert_allclose(got.numpy(), fn(*inputs).numpy(), rtol=3e-2,
                               atol=1e-3)


def test_multilabel_bce_matches_numpy_and_stays_finite_at_large_logits():
  logits = np.float32([[-60.0, -3.0, 0.0, 2.5, 60.0], [1.0, -1.0, 0.5, -0.5, 0.0]])
  labels = np.float32([[1, 0, 1, 1, 0], [0, 1, 0.25, 1, 1]])
  z, y = logits.astype(np.float64), labels.astype(np.float64)
  # log(1 + e^x) computed without overflow in float64.
  softplus = lambda x: np.logaddexp(0.0, x)  # noqa: E731
  want = np.mean(y * softplus(-z) + (1 - y) * softplus(z), axis=-1)
  got, grads = value_and_grads(classification.multilabel_bce, logits, labels)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # d/dz of the class mean: (sigmoid(z) − y) / K.
  np.testing.assert_allclose(grads[0], (1 / (1 + np.exp(-z)) - y) / z.shape[1], atol=1e-7)
  assert_finite(*grads)


def test_every_loss_is_a_callable_of_the_losses_package():
  from sound_separation import losses  # pylint: disable=import-outside-toplevel
  for name in ("mixit", "pit", "l1_sparsity", "l1_l2_sparsity", "covariance_loss",
               "classification_loss", "weak_label_bce", "multilabel_bce", "si_snr",
               "negative_thresholded_snr", "thresholded_log_mse", "cosine_similarity_loss"):
    assert callable(getattr(losses, name)) and not isinstance(getattr(losses, name),
                                                               type(losses)), name
