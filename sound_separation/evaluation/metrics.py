"""Separation metrics of the paper's Table 1 (docs/metrics.md), in NumPy float64.

Signals are waveforms `[..., T]` in full-scale units; scores are in dB.

- `si_snr`: scale-invariant SNR, as the original FUSS evaluation computes it.
- `active_references`, `active_outputs`: the original's activity rules.
- `align`: Hungarian matching of active references to distinct outputs.
- `score_example`, `score_speech`, `score_enhancement`, `score_mom`: one
  example -> a plain dict record (JSON/CSV friendly).
- `summarize`: records -> MSi, 1S, TRF, MoMi, S+N, S-only and breakdowns.

The activity rules and the under/over-separation indicators follow the
original `models/dcase2020_fuss_baseline/evaluate_lib.py`
(`_weights_for_nonzero_refs`, `_weights_for_active_seps`, `compute_metrics`).
"""

import numpy as np
import scipy.optimize

# SI-SNR's regulariser on normalised powers, as the original's
# `signal_to_noise_ratio_gain_invariant` (epsilon=1e-8): it bounds SI-SNR to
# ±MAX_SI_SNR_DB and keeps silent signals finite.
EPS = 1e-8
MAX_SI_SNR_DB = 10.0 * np.log10((1.0 + EPS) / EPS)  # 80.0000000434 dB

# The original normalises by sqrt(max(‖x‖², 1e-16)), so energies below this
# floor scale the cosine down instead of dividing by ~0.
ENERGY_FLOOR = 1e-16

# A reference is active if its RMS exceeds 1e-8 (power, the mean square,
# above 1e-16): `_weights_for_nonzero_refs`.
ACTIVE_REFERENCE_POWER = 1e-16

# An output is active if its power exceeds the quietest active reference's
# power minus 20 dB (a factor 0.01): `_weights_for_active_seps`.
ACTIVE_OUTPUT_DB = 20.0

# Exhaustive MoM remixing enumerates 2^M assignments in blocks of this many.
_MOM_BLOCK = 1 << 14


def _float64(x, name, ndim=None):
  x = np.asarray(x, dtype=np.float64)
  if ndim is not None and x.ndim != ndim:
    raise ValueError(f"{name} must have {ndim} dimension(s), got shape {x.shape}")
  return x


def power(x):
  """Mean square over time: `[..., T]` -> `[...]` (full-scale units², float64)."""
  x = np.asarray(x, dtype=np.float64)
  return np.mean(x * x, axis=-1)


def power_db(x):
  """`10·log10(power(x))` in dB re full scale; None for an all-zero signal."""
  p = float(power(x))
  return float(10.0 * np.log10(p)) if p > 0 else None


def si_snr_from_stats(est_energy, cross, ref_energy):
  """SI-SNR in dB from `‖ŝ‖²`, `⟨ŝ, s⟩` and `‖s‖²` (broadcasting arrays).

  `cos = ⟨ŝ, s⟩ / (√max(‖ŝ‖², f) · √max(‖s‖², f))`, `f = ENERGY_FLOOR`, and
  `SI-SNR = 10·log10((cos² + ε) / (1 − cos² + ε))`, `ε = EPS`. For signals
  above the floor, `cos²/(1 − cos²) = ‖αs‖² / ‖αs − ŝ‖²` with
  `α = ⟨ŝ, s⟩/‖s‖²` (docs/metrics.md#si-snr-and-its-improvement); ε caps it at ±MAX_SI_SNR_DB.
  In float64, `1 − cos²` loses nothing that matters next to ε.
  """
  est_energy = np.maximum(np.asarray(est_energy, np.float64), ENERGY_FLOOR)
  ref_energy = np.maximum(np.asarray(ref_energy, np.float64), ENERGY_FLOOR)
  cos2 = np.square(cross) / (est_energy * ref_energy)
  cos2 = np.clip(cos2, 0.0, 1.0)  # Cauchy–Schwarz, up to rounding
  return 10.0 * np.log10((cos2 + EPS) / (1.0 - cos2 + EPS))


def si_snr(*, reference, estimate):
  """Scale-invariant SNR of `estimate` against `reference`, in dB.

  Reference first, as everywhere in the package (`losses.si_snr(reference,
  estimate)`); the arguments are keyword-only, so that a call written for the
  estimate-first order this function once had fails instead of swapping them.

  `SI-SNR(ŝ, s) = 10·log10(‖αs‖² / ‖αs − ŝ‖²)`, `α = ⟨ŝ, s⟩ / ‖s‖²`, with
  the signals used as given: NOT zero-mean, as in the original FUSS
  evaluation (`evaluate_lib.compute_metrics` calls
  `metrics.signal_to_noise_ratio_gain_invariant` on the raw waveforms). A DC
  offset in the estimate therefore counts as error.

  Regularised like the original (see `si_snr_from_stats`), so the result is
  always finite and in `[−80, +80]` dB: an exact copy (any non-zero scale,
  either sign) scores +80 dB; a silent (all-zero) estimate or reference
  scores −80 dB, and so does an estimate orthogonal to the reference. No
  warnings are raised.

  Args:
    reference: `[..., T]`.
    estimate: `[..., T]`, broadcasting with `reference`.

  Returns:
    float64 `[...]` in dB (a NumPy scalar for 1-D inputs).
  """
  estimate = np.asarray(estimate, np.float64)
  reference = np.asarray(reference, np.float64)
  return si_snr_from_stats(np.sum(estimate * estimate, axis=-1),
                           np.sum(estimate * reference, axis=-1),
                           np.sum(reference * reference, axis=-1))


def pairwise_si_snr(*, references, estimates):
  """SI-SNR of every output against every reference (keyword-only, as `si_snr`).

  Args:
    references: `[S, T]`.
    estimates: `[M, T]`.

  Returns:
    float64 `[S, M]` in dB; entry `[s, m]` is
    `si_snr(reference=references[s], estimate=estimates[m])`.
  """
  estimates = _float64(estimates, "estimates", 2)
  references = _float64(references, "references", 2)
  return si_snr_from_stats(np.sum(estimates * estimates, axis=-1)[np.newaxis, :],
                           references @ estimates.T,
                           np.sum(references * references, axis=-1)[:, np.newaxis])


def active_references(references):
  """Which references are not silent: power > ACTIVE_REFERENCE_POWER.

  Args:
    references: `[S, T]`.

  Returns:
    bool `[S]`.
  """
  return power(_float64(references, "references", 2)) > ACTIVE_REFERENCE_POWER


def active_outputs(estimates, references):
  """Which outputs are within ACTIVE_OUTPUT_DB of the quietest active reference.

  An output is active if its power exceeds the smallest power among the
  active references divided by 10^(ACTIVE_OUTPUT_DB/10) = 100.

  Args:
    estimates: `[M, T]`.
    references: `[S, T]`.

  Returns:
    bool `[M]`; all False when no reference is active.
  """
  estimates = _float64(estimates, "estimates", 2)
  references = _float64(references, "references", 2)
  ref_power = power(references)[active_references(references)]
  if ref_power.size == 0:
    return np.zeros(estimates.shape[0], bool)
  threshold = ref_power.min() * 10.0 ** (-ACTIVE_OUTPUT_DB / 10.0)
  return power(estimates) > threshold


def _check_pair(estimates, references):
  estimates = _float64(estimates, "estimates", 2)
  references = _float64(references, "references", 2)
  if estimates.shape[1] != references.shape[1]:
    raise ValueError(f"estimates [M, T] = {estimates.shape} and references [S, T] = "
                     f"{references.shape} differ in length T")
  if estimates.shape[0] < 1:
    raise ValueError("estimates must have at least one output (M >= 1)")
  return estimates, references


def align(estimates, references):
  """Matches each active reference to a distinct output, maximising total SI-SNR.

  `scipy.optimize.linear_sum_assignment` on the `[S_active, M]` SI-SNR
  matrix. Silent references are left out (in the original they are zero
  padding, whose −80 dB scores do not change the optimum); unmatched
  outputs are ignored.

  Args:
    estimates: `[M, T]` model outputs.
    references: `[S, T]` reference sources.

  Returns:
    `(output_index, scores)`: int `[S]`, the output matched to each
    reference, −1 for silent references; float64 `[S]`, its SI-SNR in dB,
    NaN for silent references.

  Raises:
    ValueError: shapes disagree, or fewer outputs than active references.
  """
  estimates, references = _check_pair(estimates, references)
  active = active_references(references)
  rows = np.flatnonzero(active)
  if rows.size > estimates.shape[0]:
    raise ValueError(f"{rows.size} active references but only {estimates.shape[0]} "
                     "outputs; each reference needs a distinct output")
  output_index = np.full(references.shape[0], -1, dtype=np.int64)
  scores = np.full(references.shape[0], np.nan)
  if rows.size:
    matrix = pairwise_si_snr(references=references[rows], estimates=estimates)
    row_ix, col_ix = scipy.optimize.linear_sum_assignment(matrix, maximize=True)
    output_index[rows[row_ix]] = col_ix
    scores[rows[row_ix]] = matrix[row_ix, col_ix]
  return output_index, scores


def _mean_or_none(values):
  values = [v for v in values if v is not None]
  return float(np.mean(values)) if values else None


def _opt(x):
  """Python float, or None for NaN (JSON has no NaN)."""
  return None if x is None or np.isnan(x) else float(x)


def score_example(mixture, references, estimates, kind="fuss"):
  """Scores one separated mixture with reference sources (FUSS, Libri2Mix).

  Every active reference is aligned to a distinct output (`align`). A
  reference–output pair is active when the reference is active and the
  matched output is active (`active_outputs`); only active pairs enter MSi
  and 1S, as in the original (`weights_active_pairs`).

  Args:
    mixture: `[T]`, the separator's input (the sum of the references).
    references: `[S, T]`.
    estimates: `[M, T]` outputs for `mixture`, `M ≥` active references.
    kind: the record's "kind" field.

  Returns:
    dict with:
      kind: `kind`.
      num_references: S. num_outputs: M.
      num_active_refs: number of active references.
      num_active_outputs: active outputs among all M.
      under_separation, over_separation: 1 if num_active_outputs is below /
        above num_active_refs, else 0; None without active references.
      MSi: this example's mean SI-SNRi over its active pairs (None unless
        ≥ 2 active references and ≥ 1 active pair).
      1S: with exactly one active reference, the SI-SNR of its matched
        (best) output if that pair is active, else None. For FUSS the
        mixture then equals that reference, so this is the SI-SNR against
        the input.
      reference_power_db: `[S]` (None for all-zero references).
      output_index: `[S]` matched output, None for silent references.
      si_snr, si_snr_mixture, si_snri: `[S]` dB (output vs reference,
        mixture vs reference, their difference), None for silent references.
      pair_active: `[S]` bool.
  """
  mixture = _float64(mixture, "mixture", 1)
  estimates, references = _check_pair(estimates, references)
  if mixture.shape[0] != references.shape[1]:
    raise ValueError(f"mixture has {mixture.shape[0]} samples, references "
                     f"{references.shape[1]}")
  stats = ExampleStats(references.shape[0], estimates.shape[0])
  stats.add(mixture, references, estimates)
  return stats.score(kind)


class ExampleStats:
  """What `score_example` needs of a long example, summed block by block (float64).

  Every number of a FUSS example's record is a function of sums over time:
  the energies of the references, the outputs and the mixture, and the inner
  products of each reference with each output and with the mixture
  (SI-SNR, power and activity all come from them). So an example of any
  length is scored by `add`ing consecutive aligned blocks and calling
  `score`, without holding its signals.

  Args:
    num_references: S.
    num_outputs: M.
  """

  def __init__(self, num_references, num_outputs):
    self.num_samples = 0
    self.reference_energy = np.zeros(num_references)
    self.output_energy = np.zeros(num_outputs)
    self.cross = np.zeros((num_references, num_outputs))  # ⟨r_s, ŝ_m⟩
    self.mixture_energy = 0.0
    self.mixture_cross = np.zeros(num_references)  # ⟨x, r_s⟩

  def add(self, mixture, references, estimates):
    """Adds aligned blocks: mixture `[n]`, references `[S, n]`, estimates `[M, n]`."""
    mixture = np.asarray(mixture, np.float64)
    references = np.asarray(references, np.float64)
    estimates = np.asarray(estimates, np.float64)
    self.num_samples += mixture.shape[0]
    self.reference_energy += np.sum(references * references, axis=-1)
    self.output_energy += np.sum(estimates * estimates, axis=-1)
    self.cross += references @ estimates.T
    self.mixture_energy += float(mixture @ mixture)
    self.mixture_cross += references @ mixture

  def score(self, kind="fuss"):
    """The `score_example` record of everything added."""
    num_references, num_outputs = self.cross.shape
    length = max(self.num_samples, 1)
    ref_power = self.reference_energy / length
    ref_active = ref_power > ACTIVE_REFERENCE_POWER
    if ref_active.any():
      threshold = ref_power[ref_active].min() * 10.0 ** (-ACTIVE_OUTPUT_DB / 10.0)
      out_active = self.output_energy / length > threshold
    else:
      out_active = np.zeros(num_outputs, bool)
    rows = np.flatnonzero(ref_active)
    if rows.size > num_outputs:
      raise ValueError(f"{rows.size} active references but only {num_outputs} "
                       "outputs; each reference needs a distinct output")
    output_index = np.full(num_references, -1, dtype=np.int64)
    scores = np.full(num_references, np.nan)
    if rows.size:
      matrix = si_snr_from_stats(self.output_energy[np.newaxis, :], self.cross[rows],
                                 self.reference_energy[rows][:, np.newaxis])
      row_ix, col_ix = scipy.optimize.linear_sum_assignment(matrix, maximize=True)
      output_index[rows[row_ix]] = col_ix
      scores[rows[row_ix]] = matrix[row_ix, col_ix]
    mix_scores = np.where(ref_active, si_snr_from_stats(
        self.mixture_energy, self.mixture_cross, self.reference_energy), np.nan)
    pair_active = ref_active & out_active[np.maximum(output_index, 0)]
    improvements = scores - mix_scores
    num_active_refs = int(ref_active.sum())
    num_active_outputs = int(out_active.sum())
    record = {
        "kind": kind,
        "num_references": int(num_references),
        "num_outputs": int(num_outputs),
        "num_active_refs": num_active_refs,
        "num_active_outputs": num_active_outputs,
        "under_separation": None,
        "over_separation": None,
        "MSi": None,
        "1S": None,
    }
    if num_active_refs:
      record["under_separation"] = int(num_active_outputs < num_active_refs)
      record["over_separation"] = int(num_active_outputs > num_active_refs)
    if num_active_refs >= 2:
      record["MSi"] = _mean_or_none([float(v) for v in improvements[pair_active]])
    elif num_active_refs == 1 and pair_active.any():
      record["1S"] = float(scores[pair_active][0])
    record.update({
        "reference_power_db": [float(10.0 * np.log10(p)) if p > 0 else None
                               for p in ref_power],
        "output_index": [int(i) if i >= 0 else None for i in output_index],
        "si_snr": [_opt(v) for v in scores],
        "si_snr_mixture": [_opt(v) for v in mix_scores],
        "si_snri": [_opt(v) for v in improvements],
        "pair_active": [bool(v) for v in pair_active],
    })
    return record


def score_speech(mixture, references, estimates, solo_estimates=None):
  """Scores a speech separation example (Libri2Mix style, docs/metrics.md).

  MSi as `score_example`. Libri2Mix has no single-speaker mixtures, so its
  1S (Table 1) comes from a second pass: `solo_estimates` are the outputs
  for the first speaker alone as input, and "1S" is the SI-SNR of its best
  output against it (under FUSS's pair-activity rule: None if that output is
  more than 20 dB below the speaker).

  Args:
    mixture: `[T]`. references: `[S, T]`, usually S = 2 speakers.
    estimates: `[M, T]` outputs for `mixture`.
    solo_estimates: `[M, T]` outputs for `references[0]`, or None.

  Returns:
    the `score_example` dict with kind "speech"; "1S" from the solo pass
    (None without it) and "1S_output" its matched output.
  """
  record = score_example(mixture, references, estimates, kind="speech")
  record["1S"] = None
  record["1S_output"] = None
  if solo_estimates is not None:
    solo = np.asarray(references, np.float64)[:1]
    solo_record = score_example(solo[0], solo, solo_estimates, kind="speech")
    record["1S"] = solo_record["1S"]
    record["1S_output"] = solo_record["output_index"][0]
  return record


def _best_output(estimates, reference):
  """`(index, SI-SNR dB)` of the output with the highest SI-SNR against `reference [T]`."""
  scores = pairwise_si_snr(references=reference[np.newaxis], estimates=estimates)[0]
  index = int(np.argmax(scores))
  return index, float(scores[index])


def score_enhancement(noisy, speech, estimates, clean_estimates=None):
  """Scores a speech enhancement example (Table 1's S+N and S-only).

  Only the speech reference is scored; the non-speech reference is ignored
  (paper §3), so the best output is simply the one with the highest SI-SNR
  against the speech. Every example counts (no activity exclusion).

  Args:
    noisy: `[T]`, speech plus noise: the input of the S+N pass.
    speech: `[T]`, the clean speech: reference of both passes and the input
      of the S-only pass.
    estimates: `[M, T]` outputs for `noisy`.
    clean_estimates: `[M, T]` outputs for `speech`, or None.

  Returns:
    dict with kind "enhancement", num_references (1), num_active_refs
    (whether the speech is active), "S+N" (SI-SNRi of the best output over
    the noisy input, dB), "S+N_si_snr", "S+N_output", "S-only" (SI-SNR of
    the best output for clean input, dB; SI-SNRi is undefined there as the
    input is perfect), "S-only_output". Scores are None for silent speech.
  """
  noisy = _float64(noisy, "noisy", 1)
  speech = _float64(speech, "speech", 1)
  estimates, _ = _check_pair(estimates, speech[np.newaxis])
  active = bool(active_references(speech[np.newaxis])[0])
  record = {"kind": "enhancement", "num_references": 1, "num_active_refs": int(active),
            "S+N": None, "S+N_si_snr": None, "S+N_output": None,
            "S-only": None, "S-only_output": None}
  if not active:
    return record
  index, score = _best_output(estimates, speech)
  record["S+N_output"] = index
  record["S+N_si_snr"] = score
  record["S+N"] = score - float(si_snr(reference=speech, estimate=noisy))
  if clean_estimates is not None:
    clean_estimates, _ = _check_pair(clean_estimates, speech[np.newaxis])
    record["S-only_output"], record["S-only"] = _best_output(clean_estimates, speech)
  return record


def _binary_assignments(num_outputs, start, stop):
  """Rows `start..stop-1` of all 2^M binary vectors: float64 `[n, M]`, bit m of the row index."""
  codes = np.arange(start, stop, dtype=np.int64)[:, np.newaxis]
  return ((codes >> np.arange(num_outputs)) & 1).astype(np.float64)


def mom_remix(estimates, mixtures):
  """The optimal binary mixing of M outputs into 2 reference mixtures (MixIT).

  Each output goes to exactly one mixture; over all 2^M assignments the one
  maximising `SI-SNR(remix_1, mix_1) + SI-SNR(remix_2, mix_2)` is chosen.
  Scores come from the Gram matrix of the outputs, so each assignment costs
  O(M²), not O(T); ties keep the lowest assignment code.

  Args:
    estimates: `[M, T]`.
    mixtures: `[2, T]`.

  Returns:
    `(assignment, remixes)`: int `[M]` with values 0/1 (the mixture each
    output goes to); float64 `[2, T]`.
  """
  estimates, mixtures = _check_pair(estimates, mixtures)
  if mixtures.shape[0] != 2:
    raise ValueError(f"mixtures must be [2, T], got shape {mixtures.shape}")
  num_outputs = estimates.shape[0]
  gram = estimates @ estimates.T                  # [M, M]
  cross = mixtures @ estimates.T                  # [2, M]
  mix_energy = np.sum(mixtures * mixtures, axis=-1)
  best_code, best_score = 0, -np.inf
  total = 1 << num_outputs
  for start in range(0, total, _MOM_BLOCK):
    # Bit m set means output m goes to mixture 2.
    to_second = _binary_assignments(num_outputs, start, min(total, start + _MOM_BLOCK))
    scores = 0.0
    for k, mask in enumerate((1.0 - to_second, to_second)):
      energy = np.sum((mask @ gram) * mask, axis=-1)
      scores = scores + si_snr_from_stats(energy, mask @ cross[k], mix_energy[k])
    i = int(np.argmax(scores))
    if scores[i] > best_score:
      best_code, best_score = start + i, scores[i]
  assignment = (best_code >> np.arange(num_outputs)) & 1
  remixes = np.stack([estimates[assignment == k].sum(axis=0) for k in (0, 1)])
  return assignment.astype(np.int64), remixes


def score_mom(mom, mixtures, estimates):
  """Scores a mixture of mixtures (Table 1's MoMi).

  The outputs are remixed with the optimal binary mixing matrix
  (`mom_remix`); each active reference mixture scores the SI-SNR of its
  remix minus the SI-SNR of the MoM itself against it.

  Args:
    mom: `[T]`, the separator's input (mixture 1 + mixture 2).
    mixtures: `[2, T]`, the reference mixtures.
    estimates: `[M, T]` outputs for `mom`.

  Returns:
    dict with kind "mom", num_references (2), num_outputs, num_active_refs,
    "MoMi" (mean SI-SNRi over the active mixtures, None if none), and per
    mixture `[2]` lists "si_snr", "si_snr_mom", "si_snri" (None for a silent
    mixture), plus "assignment" `[M]` (0 or 1: the mixture of each output).
  """
  mom = _float64(mom, "mom", 1)
  estimates, mixtures = _check_pair(estimates, mixtures)
  if mom.shape[0] != mixtures.shape[1]:
    raise ValueError(f"mom has {mom.shape[0]} samples, mixtures {mixtures.shape[1]}")
  assignment, remixes = mom_remix(estimates, mixtures)
  active = active_references(mixtures)
  scores = np.where(active, si_snr(reference=mixtures, estimate=remixes), np.nan)
  mom_scores = np.where(active, si_snr(reference=mixtures, estimate=mom[np.newaxis]), np.nan)
  improvements = scores - mom_scores
  return {
      "kind": "mom",
      "num_references": 2,
      "num_outputs": int(estimates.shape[0]),
      "num_active_refs": int(active.sum()),
      "MoMi": _mean_or_none([float(v) for v in improvements[active]]),
      "si_snr": [_opt(v) for v in scores],
      "si_snr_mom": [_opt(v) for v in mom_scores],
      "si_snri": [_opt(v) for v in improvements],
      "assignment": [int(a) for a in assignment],
  }


# ----------------------------------------------------------------------------
# Aggregation.

SEPARATION_KINDS = ("fuss", "speech")


def _active_pair_values(record, key):
  return [v for v, a in zip(record[key], record["pair_active"]) if a]


def summarize(records):
  """Aggregates example records into the paper's metrics.

  - MSi: over separation records ("fuss", "speech") with ≥ 2 active
    references, the mean SI-SNRi over all their active pairs (pooled over
    pairs, as the original pools them across source counts).
  - 1S: mean of the records' "1S" values that are not None.
  - TRF: `p_1·1S + Σ_{n≥2} p_n·MSi_n`, p_n the share of "fuss" records with
    n active references among those with ≥ 1, MSi_n the MSi of n-source
    records. None unless every record is "fuss" and every needed term exists.
  - MoMi: mean SI-SNRi over the active reference mixtures of "mom" records.
  - S+N, S-only: means over "enhancement" records.
  Records without an active reference are counted in num_silent_examples
  and otherwise skipped (the original skips all-zero examples).

  Args:
    records: dicts from the `score_*` functions.

  Returns:
    dict: "MSi", "1S", "TRF", "MoMi", "S+N", "S-only" (float dB or None);
    "num_examples", "num_silent_examples"; "per_source_count": {str(n):
    {"count", "p", "num_active_pairs", "MSi" (n ≥ 2), "1S" (n = 1)}} for
    separation records; "under_separation", "equal_separation",
    "over_separation": counts over separation records with an active
    reference (None without separation records).
  """
  records = list(records)
  separation = [r for r in records if r["kind"] in SEPARATION_KINDS]
  scored_separation = [r for r in separation if r["num_active_refs"] > 0]
  moms = [r for r in records if r["kind"] == "mom"]
  enhancement = [r for r in records if r["kind"] == "enhancement"]

  per_count = {}
  for n in sorted({r["num_active_refs"] for r in scored_separation}):
    group = [r for r in scored_separation if r["num_active_refs"] == n]
    pairs = [v for r in group for v in _active_pair_values(r, "si_snri")]
    per_count[str(n)] = {
        "count": len(group),
        "p": len(group) / len(scored_separation),
        "num_active_pairs": len(pairs),
        "MSi": _mean_or_none(pairs) if n >= 2 else None,
        "1S": _mean_or_none([r["1S"] for r in group]) if n == 1 else None,
    }

  multi = [r for r in scored_separation if r["num_active_refs"] >= 2]
  summary = {
      "MSi": _mean_or_none([v for r in multi for v in _active_pair_values(r, "si_snri")]),
      "1S": _mean_or_none([r["1S"] for r in separation]),
      "TRF": None,
      "MoMi": _mean_or_none([v for r in moms for v in r["si_snri"]]),
      "S+N": _mean_or_none([r["S+N"] for r in enhancement]),
      "S-only": _mean_or_none([r["S-only"] for r in enhancement]),
      "num_examples": len(records),
      "num_silent_examples": sum(r["num_active_refs"] == 0 for r in records),
      "per_source_count": per_count,
      "under_separation": None,
      "equal_separation": None,
      "over_separation": None,
  }
  if separation:
    under = sum(r["under_separation"] for r in scored_separation)
    over = sum(r["over_separation"] for r in scored_separation)
    summary.update(under_separation=under, over_separation=over,
                   equal_separation=len(scored_separation) - under - over)
  summary["TRF"] = _total_reconstruction_fidelity(records, per_count)
  return summary


def _total_reconstruction_fidelity(records, per_count):
  if not per_count or any(r["kind"] != "fuss" for r in records):
    return None
  total = 0.0
  for n, group in per_count.items():
    score = group["1S"] if n == "1" else group["MSi"]
    if score is None:
      return None
    total += group["p"] * score
  return total
