"""Tests of `evaluation.metrics` against closed forms and brute force in NumPy."""

import itertools
import warnings

import numpy as np
import pytest

from sound_separation.evaluation import metrics

T = 400
CAP = metrics.MAX_SI_SNR_DB
# SI-SNR's ε = 1e-8 on normalised powers moves values within ±30 dB by < 1e-4 dB.
TOL = 1e-4


def exact_si_snr(estimate, reference):
  """The formula of docs/metrics.md without regularisation, for non-silent signals."""
  alpha = estimate @ reference / (reference @ reference)
  target = alpha * reference
  return 10.0 * np.log10(target @ target / ((target - estimate) @ (target - estimate)))


def orthogonal_to(x, rng, energy):
  """A random signal orthogonal to every row of `x [K, T]`, with the given energy."""
  x = np.atleast_2d(x)
  n = rng.normal(size=x.shape[-1])
  q, _ = np.linalg.qr(x.T)
  n -= q @ (q.T @ n)
  return n * np.sqrt(energy / (n @ n))


@pytest.fixture(autouse=True)
def no_warnings():
  # Silent signals must not produce divide-by-zero or invalid-value warnings.
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    yield


# ----------------------------------------------------------------------------
# SI-SNR.


@pytest.mark.parametrize("scale,snr_db", [(1.0, 10.0), (0.3, -5.0), (-2.0, 25.0), (1e-3, 0.0)])
def test_si_snr_scaled_reference_plus_orthogonal_noise(rng, scale, snr_db):
  reference = rng.normal(size=T)
  # est = scale·s + n with n ⊥ s, so α = scale and SI-SNR = ‖scale·s‖²/‖n‖².
  noise_energy = scale**2 * (reference @ reference) / 10.0**(snr_db / 10.0)
  estimate = scale * reference + orthogonal_to(reference, rng, noise_energy)
  assert (metrics.si_snr(reference=reference, estimate=estimate)
          == pytest.approx(snr_db, abs=TOL))


def test_si_snr_is_not_zero_mean(rng):
  reference = rng.normal(size=T)
  reference -= reference.mean()
  offset = 0.1
  # A DC offset is orthogonal to a zero-mean reference, so it counts as noise
  # of energy offset²·T; a zero-mean SI-SNR would see a perfect estimate.
  expected = 10.0 * np.log10((reference @ reference) / (offset**2 * T))
  assert (metrics.si_snr(reference=reference, estimate=reference + offset)
          == pytest.approx(expected, abs=TOL))


def test_si_snr_matches_exact_formula_and_broadcasts(rng):
  est = rng.normal(size=(3, T))
  ref = rng.normal(size=(3, T)) + 0.5 * est
  got = metrics.si_snr(reference=ref, estimate=est)
  assert got.shape == (3,)
  np.testing.assert_allclose(got, [exact_si_snr(e, r) for e, r in zip(est, ref)], atol=TOL)
  assert metrics.si_snr(reference=ref[0], estimate=est).shape == (3,)


def test_si_snr_silent_and_perfect_are_finite_bounds(rng):
  x = rng.normal(size=T)
  zero = np.zeros(T)
  assert CAP == pytest.approx(80.0, abs=1e-6)
  assert metrics.si_snr(reference=x, estimate=x) == pytest.approx(CAP)
  assert metrics.si_snr(reference=x, estimate=-3.0 * x) == pytest.approx(CAP)
  assert metrics.si_snr(reference=x, estimate=zero) == pytest.approx(-CAP)
  assert metrics.si_snr(reference=zero, estimate=x) == pytest.approx(-CAP)
  assert metrics.si_snr(reference=zero, estimate=zero) == pytest.approx(-CAP)
  assert (metrics.si_snr(reference=x, estimate=orthogonal_to(x, rng, 1.0))
          == pytest.approx(-CAP))


def test_pairwise_si_snr_matches_elementwise(rng):
  est = rng.normal(size=(5, T))
  ref = rng.normal(size=(3, T))
  ref[1] = 0.0
  got = metrics.pairwise_si_snr(references=ref, estimates=est)
  assert got.shape == (3, 5)
  expected = [[metrics.si_snr(reference=r, estimate=e) for e in est] for r in ref]
  np.testing.assert_allclose(got, expected, atol=1e-9)


# ----------------------------------------------------------------------------
# Activity rules.


def test_active_references_threshold():
  refs = np.zeros((3, T))
  refs[0] = 1e-9           # RMS 1e-9 < 1e-8: silent
  refs[1] = 2e-8           # RMS 2e-8: active
  assert metrics.active_references(refs).tolist() == [False, True, False]


def test_active_outputs_within_20_db_of_quietest_active_reference(rng):
  refs = np.stack([rng.normal(size=T), 0.1 * rng.normal(size=T), np.zeros(T)])
  quietest = metrics.power(refs[1])
  unit = rng.normal(size=T)
  unit /= np.sqrt(metrics.power(unit))
  outputs = np.stack([unit * np.sqrt(quietest * 10**(-19 / 10)),
                      unit * np.sqrt(quietest * 10**(-21 / 10)),
                      np.zeros(T),
                      refs[0]])
  assert metrics.active_outputs(outputs, refs).tolist() == [True, False, False, True]
  assert not metrics.active_outputs(outputs, np.zeros((2, T))).any()


# ----------------------------------------------------------------------------
# Alignment.


def brute_force_alignment(estimates, references):
  """Best total exact SI-SNR over injective maps active refs -> outputs."""
  rows = [s for s in range(len(references)) if metrics.power(references[s]) > 1e-16]
  best = None
  for cols in itertools.permutations(range(len(estimates)), len(rows)):
    total = sum(exact_si_snr(estimates[c], references[r]) for r, c in zip(rows, cols))
    if best is None or total > best[0]:
      best = (total, dict(zip(rows, cols)))
  return best


@pytest.mark.parametrize("num_outputs,num_refs", [(1, 1), (3, 3), (4, 2), (6, 4), (8, 3)])
def test_align_matches_brute_force(rng, num_outputs, num_refs):
  for _ in range(3):
    refs = rng.normal(size=(num_refs, T))
    # Outputs are noisy mixes of the references so SI-SNRs are spread out.
    mixing = rng.normal(size=(num_outputs, num_refs)) ** 3
    est = mixing @ refs + 0.3 * rng.normal(size=(num_outputs, T))
    index, scores = metrics.align(est, refs)
    total, mapping = brute_force_alignment(est, refs)
    assert scores.sum() == pytest.approx(total, abs=1e-3)
    assert index.tolist() == [mapping[s] for s in range(num_refs)]
    assert len(set(index.tolist())) == num_refs


def test_align_skips_silent_references(rng):
  refs = rng.normal(size=(3, T))
  refs[1] = 0.0
  est = np.concatenate([refs[[2, 0]], rng.normal(size=(2, T))])
  index, scores = metrics.align(est, refs)
  assert index.tolist() == [1, -1, 0]
  assert np.isnan(scores[1])
  np.testing.assert_allclose(scores[[0, 2]], CAP)


def test_align_needs_an_output_per_active_reference(rng):
  with pytest.raises(ValueError, match="3 active references but only 2 outputs"):
    metrics.align(rng.normal(size=(2, T)), rng.normal(size=(3, T)))
  with pytest.raises(ValueError, match="differ in length"):
    metrics.align(rng.normal(size=(2, T)), rng.normal(size=(1, T + 1)))


# ----------------------------------------------------------------------------
# Per-example scores.


def test_oracle_with_silent_outputs_and_a_silent_reference(rng):
  refs = rng.normal(size=(3, T))
  refs[2] = 0.0
  mixture = refs.sum(axis=0)
  est = np.zeros((8, T))
  est[5], est[2] = refs[0], -0.5 * refs[1]
  r = metrics.score_example(mixture, refs, est)
  assert r["num_active_refs"] == 2
  assert r["num_active_outputs"] == 2
  assert (r["under_separation"], r["over_separation"]) == (0, 0)
  assert r["output_index"] == [5, 2, None]
  assert r["pair_active"] == [True, True, False]
  mix_scores = [exact_si_snr(mixture, refs[s]) for s in (0, 1)]
  np.testing.assert_allclose(r["si_snr"][:2], CAP)
  np.testing.assert_allclose(r["si_snr_mixture"][:2], mix_scores, atol=TOL)
  np.testing.assert_allclose(r["si_snri"][:2], CAP - np.array(mix_scores), atol=TOL)
  assert r["si_snr"][2] is None and r["si_snri"][2] is None
  assert r["MSi"] == pytest.approx(CAP - np.mean(mix_scores), abs=TOL)
  assert r["1S"] is None
  assert r["reference_power_db"][2] is None


def test_mixture_in_one_output_under_separates_with_zero_msi(rng):
  refs = rng.normal(size=(2, T)) * [[1.0], [0.5]]
  mixture = refs.sum(axis=0)
  est = np.zeros((4, T))
  est[0] = mixture
  r = metrics.score_example(mixture, refs, est)
  assert r["num_active_outputs"] == 1
  assert (r["under_separation"], r["over_separation"]) == (1, 0)
  # The louder reference gets the mixture; the other's output is silent,
  # so that pair is inactive and left out, as in the original.
  assert r["output_index"][0] == 0
  assert r["pair_active"] == [True, False]
  assert r["MSi"] == pytest.approx(0.0, abs=1e-12)


def test_extra_active_output_over_separates(rng):
  refs = rng.normal(size=(2, T))
  est = np.concatenate([refs, 0.3 * rng.normal(size=(1, T)), np.zeros((1, T))])
  r = metrics.score_example(refs.sum(0), refs, est)
  assert r["num_active_outputs"] == 3
  assert (r["under_separation"], r["over_separation"]) == (0, 1)


def test_quiet_matched_output_is_an_inactive_pair(rng):
  refs = rng.normal(size=(2, T))
  mixture = refs.sum(0)
  # Output 1 is reference 1 at −26 dB: perfect SI-SNR, but inactive.
  est = np.stack([refs[0], 0.05 * refs[1], np.zeros(T)])
  r = metrics.score_example(mixture, refs, est)
  assert r["pair_active"] == [True, False]
  assert r["MSi"] == pytest.approx(CAP - exact_si_snr(mixture, refs[0]), abs=TOL)
  assert (r["under_separation"], r["over_separation"]) == (1, 0)


def test_single_source_example_1s(rng):
  source = rng.normal(size=T)
  est = np.stack([orthogonal_to(source, rng, 50.0) for _ in range(4)])
  # Output 2: 0.5·s plus orthogonal noise at 12 dB below it.
  est[2] = 0.5 * source + orthogonal_to(source, rng, 0.25 * (source @ source) / 10**1.2)
  r = metrics.score_example(source, source[np.newaxis], est)
  assert r["num_active_refs"] == 1
  assert r["output_index"] == [2]
  assert r["1S"] == pytest.approx(12.0, abs=TOL)
  assert r["MSi"] is None
  # All four outputs are active: over-separation.
  assert (r["under_separation"], r["over_separation"]) == (0, 1)


def test_single_source_with_silent_padding_reference(rng):
  refs = np.stack([rng.normal(size=T), np.zeros(T)])
  est = np.stack([np.zeros(T), refs[0]])
  r = metrics.score_example(refs[0], refs, est)
  assert r["num_active_refs"] == 1
  assert r["1S"] == pytest.approx(CAP)
  assert (r["under_separation"], r["over_separation"]) == (0, 0)


def test_all_silent_example_has_no_scores():
  refs = np.zeros((2, T))
  r = metrics.score_example(np.zeros(T), refs, np.ones((3, T)))
  assert r["num_active_refs"] == 0
  assert r["MSi"] is None and r["1S"] is None and r["under_separation"] is None
  assert r["si_snr"] == [None, None]


def test_score_speech_1s_from_the_solo_pass(rng):
  refs = rng.normal(size=(2, T))
  mixture = refs.sum(0)
  est = refs[::-1].copy()
  # Solo pass: output 1 is 2·s1 plus orthogonal noise 20 dB below it.
  noise = orthogonal_to(refs[0], rng, 4.0 * (refs[0] @ refs[0]) / 10**2.0)
  solo = np.stack([np.zeros(T), 2.0 * refs[0] + noise])
  r = metrics.score_speech(mixture, refs, est, solo)
  assert r["kind"] == "speech"
  assert r["output_index"] == [1, 0]
  assert r["MSi"] == pytest.approx(CAP - np.mean([exact_si_snr(mixture, x) for x in refs]), abs=TOL)
  assert r["1S"] == pytest.approx(20.0, abs=TOL)
  assert r["1S_output"] == 1
  assert metrics.score_speech(mixture, refs, est)["1S"] is None


def test_score_enhancement(rng):
  speech, noise = rng.normal(size=(2, T))
  noisy = speech + noise
  # The best output for speech has SI-SNR 15 dB; the noise output is ignored.
  est = np.stack([noise, speech + orthogonal_to(speech, rng, (speech @ speech) / 10**1.5)])
  clean = np.stack([3.0 * speech, np.zeros(T)])
  r = metrics.score_enhancement(noisy, speech, est, clean)
  assert r["S+N_output"] == 1
  assert r["S+N_si_snr"] == pytest.approx(15.0, abs=TOL)
  assert r["S+N"] == pytest.approx(15.0 - exact_si_snr(noisy, speech), abs=TOL)
  assert r["S-only"] == pytest.approx(CAP)
  assert r["S-only_output"] == 0
  silent = metrics.score_enhancement(noise, np.zeros(T), est, clean)
  assert silent["num_active_refs"] == 0 and silent["S+N"] is None


# ----------------------------------------------------------------------------
# Mixtures of mixtures.


def brute_force_mom(estimates, mixtures):
  """Best assignment by an explicit loop over 2^M binary mixing matrices."""
  best = None
  for bits in itertools.product((0, 1), repeat=len(estimates)):
    bits = np.array(bits)
    remixes = [estimates[bits == k].sum(axis=0) for k in (0, 1)]
    total = sum(metrics.si_snr(reference=mixtures[k], estimate=remixes[k]) for k in (0, 1))
    if best is None or total > best[0] + 1e-9:
      best = (total, bits, remixes)
  return best


@pytest.mark.parametrize("num_outputs", [1, 2, 4, 7])
def test_mom_remix_matches_explicit_loop(rng, num_outputs):
  for _ in range(2):
    mixtures = rng.normal(size=(2, T))
    est = rng.normal(size=(num_outputs, 2)) @ mixtures + 0.5 * rng.normal(size=(num_outputs, T))
    assignment, remixes = metrics.mom_remix(est, mixtures)
    total, bits, brute_remixes = brute_force_mom(est, mixtures)
    got_total = sum(metrics.si_snr(reference=mixtures[k], estimate=remixes[k]) for k in (0, 1))
    assert got_total == pytest.approx(total, abs=1e-6)
    assert assignment.tolist() == bits.tolist()
    np.testing.assert_allclose(remixes, brute_remixes, atol=1e-12)


def test_mom_remix_blocks_cover_all_assignments(rng, monkeypatch):
  # With blocks of 4 codes, the best code 0b1100 = 12 lies in the last block.
  monkeypatch.setattr(metrics, "_MOM_BLOCK", 4)
  mixtures = rng.normal(size=(2, T))
  est = 0.5 * mixtures[[0, 0, 1, 1]]
  assignment, remixes = metrics.mom_remix(est, mixtures)
  assert assignment.tolist() == [0, 0, 1, 1]
  np.testing.assert_allclose(remixes, mixtures, atol=1e-12)


def test_score_mom(rng):
  mixtures = rng.normal(size=(2, T))
  mom = mixtures.sum(0)
  part = rng.normal(size=T)
  est = np.stack([mixtures[0] - part, mixtures[1], part, np.zeros(T)])
  r = metrics.score_mom(mom, mixtures, est)
  assert r["assignment"][:3] == [0, 1, 0]
  np.testing.assert_allclose(r["si_snr"], CAP)
  mom_scores = [exact_si_snr(mom, m) for m in mixtures]
  np.testing.assert_allclose(r["si_snr_mom"], mom_scores, atol=TOL)
  assert r["MoMi"] == pytest.approx(CAP - np.mean(mom_scores), abs=TOL)

  # Random outputs: MoMi from the brute-force remix.
  est = rng.normal(size=(5, T)) + 0.3 * mixtures[rng.integers(0, 2, size=5)]
  r = metrics.score_mom(mom, mixtures, est)
  _, bits, remixes = brute_force_mom(est, mixtures)
  assert r["assignment"] == bits.tolist()
  expected = np.mean([exact_si_snr(remixes[k], mixtures[k]) - exact_si_snr(mom, mixtures[k])
                      for k in (0, 1)])
  assert r["MoMi"] == pytest.approx(expected, abs=TOL)


# ----------------------------------------------------------------------------
# Summary.


def planted(n, si_snri=(), active=None, one_s=None, under=0, over=0, kind="fuss"):
  """A record with the fields `summarize` reads."""
  si_snri = list(si_snri)
  return {"kind": kind, "num_active_refs": n, "si_snri": si_snri,
          "pair_active": [True] * len(si_snri) if active is None else active,
          "1S": one_s, "under_separation": under if n else None,
          "over_separation": over if n else None}


def test_summarize_trf_with_planted_source_counts():
  records = [
      planted(1, [None], one_s=20.0, over=1),
      planted(1, [None], one_s=30.0),
      planted(1, [None], [False], one_s=None, under=1),  # inactive pair: no 1S
      planted(2, [10.0, 14.0]),
      planted(3, [5.0, 7.0, 100.0], [True, True, False], under=1),
      planted(2, [0.0, 4.0], over=1),
      planted(0, [None, None], [False, False]),           # silent: skipped
  ]
  s = metrics.summarize(records)
  assert s["num_examples"] == 7
  assert s["num_silent_examples"] == 1
  assert s["1S"] == pytest.approx(25.0)
  # MSi pools active pairs over 2–3 source examples.
  assert s["MSi"] == pytest.approx((10 + 14 + 5 + 7 + 0 + 4) / 6)
  by_n = s["per_source_count"]
  assert set(by_n) == {"1", "2", "3"}
  assert [by_n[n]["count"] for n in "123"] == [3, 2, 1]
  np.testing.assert_allclose([by_n[n]["p"] for n in "123"], [0.5, 1 / 3, 1 / 6])
  assert by_n["1"]["1S"] == pytest.approx(25.0) and by_n["1"]["MSi"] is None
  assert by_n["2"]["MSi"] == pytest.approx(7.0) and by_n["2"]["num_active_pairs"] == 4
  assert by_n["3"]["MSi"] == pytest.approx(6.0) and by_n["3"]["num_active_pairs"] == 2
  assert s["TRF"] == pytest.approx(0.5 * 25 + 7.0 / 3 + 6.0 / 6)
  assert (s["under_separation"], s["equal_separation"], s["over_separation"]) == (2, 2, 2)
  assert s["MoMi"] is None and s["S+N"] is None and s["S-only"] is None


def test_summarize_trf_needs_every_term():
  # No 1S score for the 1-source examples: TRF is not defined.
  s = metrics.summarize([planted(1, [None], [False]), planted(2, [3.0, 5.0])])
  assert s["TRF"] is None and s["MSi"] == pytest.approx(4.0)
  # Only multi-source examples: TRF = MSi.
  s = metrics.summarize([planted(2, [3.0, 5.0]), planted(3, [1.0, 2.0, 3.0])])
  assert s["TRF"] == pytest.approx(0.5 * 4.0 + 0.5 * 2.0)
  assert s["1S"] is None


def test_summarize_other_tasks(rng):
  speech = [planted(2, [8.0, 12.0], one_s=30.0, kind="speech")]
  s = metrics.summarize(speech)
  assert (s["MSi"], s["1S"], s["TRF"]) == (10.0, 30.0, None)
  moms = [{"kind": "mom", "num_active_refs": 2, "si_snri": [4.0, 6.0]},
          {"kind": "mom", "num_active_refs": 1, "si_snri": [None, 11.0]}]
  s = metrics.summarize(moms)
  assert s["MoMi"] == pytest.approx(7.0)
  assert s["MSi"] is None and s["under_separation"] is None and s["per_source_count"] == {}
  enh = [{"kind": "enhancement", "num_active_refs": 1, "S+N": 9.0, "S-only": 30.0},
         {"kind": "enhancement", "num_active_refs": 1, "S+N": 11.0, "S-only": None}]
  s = metrics.summarize(enh)
  assert (s["S+N"], s["S-only"], s["MSi"], s["TRF"]) == (10.0, 30.0, None, None)


def test_summarize_real_records_end_to_end(rng):
  """score_example -> summarize, against hand-computed values."""
  records, pairs, one_s = [], [], []
  for n in (1, 1, 2, 3):
    refs = rng.normal(size=(n, T))
    mixture = refs.sum(0)
    est = np.concatenate([refs[::-1], np.zeros((4 - n, T))])
    if n == 1:
      est[1] = 0.5 * refs[0] + orthogonal_to(refs[0], rng, 0.25 * (refs[0] @ refs[0]) / 10.0)
      est[0] = 0.0
      one_s.append(10.0)
    else:
      pairs.append([CAP - exact_si_snr(mixture, r) for r in refs])
    records.append(metrics.score_example(mixture, refs, est))
  s = metrics.summarize(records)
  assert s["1S"] == pytest.approx(10.0, abs=TOL)
  assert s["MSi"] == pytest.approx(np.mean(pairs[0] + pairs[1]), abs=TOL)
  expected_trf = 0.5 * 10.0 + 0.25 * np.mean(pairs[0]) + 0.25 * np.mean(pairs[1])
  assert s["TRF"] == pytest.approx(expected_trf, abs=TOL)
  assert (s["under_separation"], s["equal_separation"], s["over_separation"]) == (0, 4, 0)


def test_si_snr_takes_its_arguments_by_name_only():
  # SI-SNR is not symmetric; a positional call in the estimate-first order
  # this function once had must fail, not swap silently.
  x = np.ones(8)
  with pytest.raises(TypeError):
    metrics.si_snr(x, x)  # pylint: disable=too-many-function-args
  with pytest.raises(TypeError):
    metrics.pairwise_si_snr(x[None], x[None])  # pylint: disable=too-many-function-args
