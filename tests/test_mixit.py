import numpy as np
import pytest
import tensorflow as tf

import numpy_losses as ref
from conftest import assert_finite, value_and_grads
from sound_separation.losses import mixture_invariant
from sound_separation.losses import snr

LOSSES = {
    "thresholded_log_mse": ref.thresholded_log_mse,
    "negative_thresholded_snr": ref.negative_thresholded_snr,
    "negative_si_snr": ref.negative_si_snr,
}


def planted(rng, batch, num_refs, num_outputs, samples, noise=0.0,
            silent_outputs=0):
  """Estimates = random sources at random levels; references = their planted remix."""
  sources = rng.standard_normal((batch, num_outputs, samples))
  sources *= rng.uniform(0.05, 2.0, (batch, num_outputs, 1))
  if silent_outputs:
    sources[:, :silent_outputs] = 0.0
  assign = rng.integers(0, num_refs, (batch, num_outputs))
  mix = np.zeros((batch, num_refs, num_outputs))
  for b in range(batch):
    mix[b, assign[b], np.arange(num_outputs)] = 1
  refs = np.einsum("bnm,bmt->bnt", mix, sources)
  refs += noise * rng.standard_normal(refs.shape)
  return refs.astype(np.float32), sources.astype(np.float32), mix


def random_case(rng, batch, num_refs, num_outputs, samples):
  refs = rng.standard_normal((batch, num_refs, samples))
  est = rng.standard_normal((batch, num_outputs, samples))
  est *= rng.uniform(0.1, 1.0, (batch, num_outputs, 1))
  return refs.astype(np.float32), est.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("solver", ["exhaustive", "exact_gram"])
@pytest.mark.parametrize("num_refs,num_outputs", [(2, 3), (2, 5), (3, 4)])
def test_enumerating_solvers_match_brute_force(solver, loss_name, seed, num_refs,
                                              num_outputs):
  rng = np.random.default_rng(seed)
  if seed == 0:
    x, s = random_case(rng, 3, num_refs, num_outputs, 64)
  else:
    x, s, _ = planted(rng, 3, num_refs, num_outputs, 64, noise=0.3)
  expected_loss, expected_mix, _ = ref.mixit_brute_force(x, s, LOSSES[loss_name])
  # A tiny chunk bound exercises the loop over chunks.
  loss, mix = mixture_invariant.mixit(x, s, solver=solver, loss_fn=loss_name,
                          max_chunk_elements=3 * num_refs * 64 * 4)
  np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-4, atol=1e-3)
  np.testing.assert_array_equal(mix.numpy(), expected_mix)


@pytest.mark.parametrize("num_outputs", [4, 8])
def test_exact_gram_picks_the_exhaustive_matrix(num_outputs):
  rng = np.random.default_rng(num_outputs)
  cases = []
  # 240 cases: planted with noise at several levels, and unstructured ones.
  for noise in (0.1, 0.5, 1.0):
    x, s, _ = planted(rng, 60, 2, num_outputs, 128, noise=noise)
    cases.append((x, s))
  cases.append(random_case(rng, 60, 2, num_outputs, 128))
  x = np.concatenate([c[0] for c in cases])
  s = np.concatenate([c[1] for c in cases])
  _, exhaustive = mixture_invariant.mixit(x, s, solver="exhaustive")
  _, gram = mixture_invariant.mixit(x, s, solver="exact_gram")
  _, expected, all_losses = ref.mixit_brute_force(x, s)
  # The cases hold no float32 ties (the gap would allow an either-way pick).
  sorted_losses = np.sort(all_losses, axis=1)
  assert np.min(sorted_losses[:, 1] - sorted_losses[:, 0]) > 1e-4
  np.testing.assert_array_equal(exhaustive.numpy(), expected)
  np.testing.assert_array_equal(gram.numpy(), exhaustive.numpy())


def test_exact_gram_matches_brute_force_at_m12():
  rng = np.random.default_rng(12)
  x, s, _ = planted(rng, 4, 2, 12, 48, noise=0.7)
  expected_loss, expected_mix, _ = ref.mixit_brute_force(x, s)
  loss, mix = mixture_invariant.mixit(x, s, solver="exact_gram")
  np.testing.assert_array_equal(mix.numpy(), expected_mix)
  np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-4)


@pytest.mark.parametrize("num_outputs", [4, 8, 16])
def test_efficient_recovers_planted_assignment(num_outputs):
  rng = np.random.default_rng(num_outputs)
  x, s, mix = planted(rng, 16, 2, num_outputs, 400)
  loss, found = mixture_invariant.mixit(x, s, solver="efficient")
  np.testing.assert_array_equal(found.numpy(), mix)
  # A perfect remix scores the 30 dB clamp: 10·log10(τ‖x‖²).
  np.testing.assert_allclose(loss.numpy(), ref.thresholded_log_mse(x, x).mean(1),
                             atol=1e-2)


def test_efficient_sends_silent_outputs_to_reference_zero():
  rng = np.random.default_rng(5)
  x, s, mix = planted(rng, 8, 2, 6, 200, silent_outputs=2)
  _, found = mixture_invariant.mixit(x, s, solver="efficient")
  found = found.numpy()
  np.testing.assert_array_equal(found[:, :, 2:], mix[:, :, 2:])
  np.testing.assert_array_equal(found[:, 0, :2], 1.0)


def test_efficient_handles_collinear_outputs():
  rng = np.random.default_rng(6)
  x, s, _ = planted(rng, 4, 2, 4, 200)
  s[:, 1] = 2.0 * s[:, 0]  # Singular Gram matrix.
  loss, found = mixture_invariant.mixit(x, s, solver="efficient")
  assert_finite(loss.numpy(), found.numpy())
  np.testing.assert_array_equal(found.numpy().sum(1), 1.0)


@pytest.mark.parametrize("solver", mixture_invariant.SOLVERS)
def test_gradient_is_that_of_the_chosen_assignment(solver):
  rng = np.random.default_rng(7)
  x, s, _ = planted(rng, 2, 2, 3, 12, noise=0.5)
  (_, mix), (_, grad) = value_and_grads(
      lambda a, b: mixture_invariant.mixit(a, b, solver=solver), x, s)

  def fixed_assignment_loss(est):  # sum over the batch, as value_and_grads
    remix = np.einsum("bnm,bmt->bnt", mix, est)
    return ref.thresholded_log_mse(x, remix).mean(-1).sum()

  numeric = np.zeros(s.shape)
  step = 1e-4
  for idx in np.ndindex(s.shape):
    plus, minus = s.astype(np.float64), s.astype(np.float64)
    plus[idx] += step
    minus[idx] -= step
    numeric[idx] = (fixed_assignment_loss(plus)
                    - fixed_assignment_loss(minus)) / (2 * step)
  np.testing.assert_allclose(grad, numeric, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("solver", mixture_invariant.SOLVERS)
@pytest.mark.parametrize("case", ["zero_refs", "zero_outputs", "all_zero", "m16"])
def test_finite_and_xla_compilable(solver, case):
  rng = np.random.default_rng(8)
  num_outputs = 16 if case == "m16" else 4
  samples = 8 if solver == "exhaustive" and case == "m16" else 64
  x, s = random_case(rng, 2, 2, num_outputs, samples)
  if case in ("zero_refs", "all_zero"):
    x[:] = 0.0
  if case in ("zero_outputs", "all_zero"):
    s[:] = 0.0
  for jit in (False, True):
    (loss, mix), grads = value_and_grads(
        lambda a, b: mixture_invariant.mixit(a, b, solver=solver), x, s, jit_compile=jit)
    assert_finite(loss, *grads)
    np.testing.assert_array_equal(mix.sum(1), 1.0)


def test_bfloat16_inputs():
  rng = np.random.default_rng(9)
  x, s, mix = planted(rng, 2, 2, 4, 100)
  loss, found = mixture_invariant.mixit(tf.cast(x, tf.bfloat16), tf.cast(s, tf.bfloat16))
  assert loss.dtype == tf.float32
  np.testing.assert_array_equal(found.numpy(), mix)


def test_errors_are_explicit():
  x = np.zeros((1, 2, 10), np.float32)
  s = np.zeros((1, 3, 10), np.float32)
  with pytest.raises(ValueError, match="Unknown MixIT solver 'fast'"):
    mixture_invariant.mixit(x, s, solver="fast")
  with pytest.raises(TypeError, match="exact_gram"):
    mixture_invariant.mixit(x, s, solver="exact_gram", loss_fn=lambda a, b: tf.reduce_sum(a - b, -1))
  with pytest.raises(ValueError, match="differ in length"):
    mixture_invariant.mixit(x, np.zeros((1, 3, 11), np.float32))
  with pytest.raises(ValueError, match=r"\[B, N, T\]"):
    mixture_invariant.mixit(x[0], s)
  with pytest.raises(ValueError, match="solver='efficient'"):
    mixture_invariant.mixit(np.zeros((1, 3, 4), np.float32), np.zeros((1, 16, 4), np.float32),
                solver="exact_gram")


def test_exhaustive_accepts_any_waveform_loss():
  rng = np.random.default_rng(10)
  x, s, mix = planted(rng, 2, 2, 4, 50, noise=0.1)
  l1 = lambda a, b: tf.reduce_sum(tf.abs(a - b), -1)
  _, found = mixture_invariant.mixit(x, s, solver="exhaustive", loss_fn=l1)
  expected = ref.mixit_brute_force(x, s, lambda a, b: np.abs(a - b).sum(-1))[1]
  np.testing.assert_array_equal(found.numpy(), expected)
