"""Error bars and test independence of a study: bootstrap, seed intervals, verdicts, disjointness."""

import math

import numpy as np
import pytest

from sound_separation.evaluation import metrics
from sound_separation.study import independence
from sound_separation.study import intervals


def _fuss_record(rng, num_refs, msi=None, one_source=None, outputs=None):
  """A record shaped like `metrics.score_example`'s, with planted scores."""
  record = {"kind": "fuss", "num_references": 4, "num_outputs": 4,
            "num_active_refs": num_refs, "num_active_outputs": outputs or num_refs,
            "under_separation": int((outputs or num_refs) < num_refs) if num_refs else None,
            "over_separation": int((outputs or num_refs) > num_refs) if num_refs else None,
            "MSi": None, "1S": None}
  if num_refs >= 2:
    values = list(msi + rng.normal(0.0, 1.0, size=num_refs))
    active = [True] * num_refs
    if num_refs >= 3:  # one inactive pair: it must not count
      values[-1], active[-1] = 99.0, False
    record["si_snri"] = values + [None] * (4 - num_refs)
    record["pair_active"] = active + [False] * (4 - num_refs)
    record["MSi"] = float(np.mean([v for v, a in zip(values, active) if a]))
  else:
    record["si_snri"] = [None] * 4
    record["pair_active"] = [num_refs == 1] + [False] * 3
    if num_refs == 1:
      record["si_snri"][0] = 0.0
      record["1S"] = one_source
  return record


def _planted(rng, num, msi, one_source, shift=0.0, noise=None):
  """`num` records with 0-4 active references; `noise[i]` perturbs example i (shared)."""
  noise = np.zeros(num) if noise is None else noise
  records = []
  for i in range(num):
    refs = i % 5  # includes silent examples
    records.append(_fuss_record(rng, refs, msi=msi + noise[i] + shift,
                                one_source=one_source + noise[i] + shift))
  return records


def test_vectorised_metrics_equal_summarize_on_resamples():
  rng = np.random.default_rng(0)
  records = _planted(rng, 60, msi=5.0, one_source=12.0)
  records[3]["num_active_outputs"] = 1  # an under-separated 3-source example
  records[3]["under_separation"] = 1
  scores = intervals.Scores(records)
  draws = rng.integers(0, len(records), size=(25, len(records)))
  for name in ("MSi", "1S", "TRF", "over_separation", "under_separation"):
    vectorised = scores.metric(name, draws)
    for r, draw in enumerate(draws):
      summary = metrics.summarize([records[i] for i in draw])
      if name.endswith("_separation"):
        scored = sum(records[i]["num_active_refs"] > 0 for i in draw)
        expected = summary[name] / scored
      else:
        expected = summary[name]
      if expected is None:
        assert np.isnan(vectorised[r]), (name, r)
      else:
        assert vectorised[r] == pytest.approx(expected, abs=1e-9), (name, r)


def test_mom_metric_equals_summarize():
  rng = np.random.default_rng(1)
  records = [{"kind": "mom", "num_active_refs": 2, "si_snri": list(rng.normal(3.0, 2.0, size=2))}
             for _ in range(30)]
  draw = rng.integers(0, 30, size=(1, 30))
  expected = metrics.summarize([records[i] for i in draw[0]])["MoMi"]
  assert intervals.Scores(records).metric("MoMi", draw)[0] == pytest.approx(expected)


def test_paired_bootstrap_finds_a_planted_effect_and_not_a_null_one():
  rng = np.random.default_rng(2)
  # Per-example difficulty shared by both rows (what pairing removes),
  # much larger than the planted effect.
  difficulty = rng.normal(0.0, 6.0, size=200)
  control = _planted(np.random.default_rng(3), 200, 5.0, 12.0, noise=difficulty)
  better = _planted(np.random.default_rng(4), 200, 5.0, 12.0, shift=1.5, noise=difficulty)
  same = _planted(np.random.default_rng(5), 200, 5.0, 12.0, noise=difficulty)
  found = intervals.paired_bootstrap([better], [control], "MSi", num_resamples=1000)
  assert found["low"] > 0.5 and found["high"] < 2.5
  assert found["delta"] == pytest.approx(
      metrics.summarize(better)["MSi"] - metrics.summarize(control)["MSi"])
  null = intervals.paired_bootstrap([same], [control], "MSi", num_resamples=1000)
  assert null["low"] < 0 < null["high"]
  # Unpaired noise of this size would hide the effect: the pairing matters.
  assert found["high"] - found["low"] < 2.0


def test_bootstrap_over_seeds_widens_with_seed_spread():
  rng = np.random.default_rng(6)
  difficulty = rng.normal(0.0, 3.0, size=100)
  control = [_planted(np.random.default_rng(10 + s), 100, 5.0, 12.0, noise=difficulty)
             for s in range(3)]
  tight = [_planted(np.random.default_rng(20 + s), 100, 5.0, 12.0, shift=1.0, noise=difficulty)
           for s in range(3)]
  spread = [_planted(np.random.default_rng(30 + s), 100, 5.0, 12.0, shift=1.0 + 3.0 * (s - 1),
                     noise=difficulty) for s in range(3)]
  narrow = intervals.paired_bootstrap(tight, control, "MSi", num_resamples=800)
  wide = intervals.paired_bootstrap(spread, control, "MSi", num_resamples=800)
  assert narrow["seeds_a"] == 3 and narrow["low"] > 0
  assert (wide["high"] - wide["low"]) > 2 * (narrow["high"] - narrow["low"])


def test_bootstrap_refuses_rows_on_different_lists():
  rng = np.random.default_rng(7)
  with pytest.raises(ValueError, match="same test list"):
    intervals.paired_bootstrap([_planted(rng, 10, 5, 10)], [_planted(rng, 12, 5, 10)], "MSi")


def test_seed_interval_is_the_student_t_interval():
  mean, low, high = intervals.seed_interval([1.0, 2.0, 3.0])
  # t_{0.975,2} = 4.303, sd = 1, n = 3.
  assert mean == 2.0
  assert high - mean == pytest.approx(4.303 / np.sqrt(3), rel=1e-4)
  assert low == pytest.approx(2.0 - 4.303 / np.sqrt(3), rel=1e-4)
  assert intervals.seed_interval([4.0]) == (4.0, None, None)
  assert intervals.seed_interval([None]) == (None, None, None)


@pytest.mark.parametrize("low,high,expected", [
    (11.0, 20.0, "reproduced"),      # above 0, inside the paper's range
    (2.0, 12.0, "reproduced"),       # above 0, overlaps it
    (1.0, 6.0, "direction only"),    # above 0 but below the paper's 10-17
    (18.0, 25.0, "direction only"),  # above the paper's range
    (-6.0, -1.0, "not reproduced"),  # the other way
    (-3.0, 5.0, "not reproduced"),   # holds 0 and excludes the whole range
    (-3.0, 12.0, "inconclusive"),    # holds 0 and part of the range
    (None, None, "not tested"),
])
def test_verdicts_by_the_stated_criterion(low, high, expected):
  assert intervals.verdict(low, high, 10.0, 17.0) == expected


@pytest.mark.parametrize("low,high,expected", [
    (-0.3, 0.4, "reproduced"), (0.6, 2.0, "not reproduced"), (-0.2, 0.9, "inconclusive"),
    (None, None, "not tested")])
def test_equivalence_verdicts(low, high, expected):
  assert intervals.equivalence_verdict(low, high, 0.5) == expected


# ---------------------------------------------------------------------------
# Test independence, on planted labels tables.


def _labels(path, rows):
  lines = ["example\tsource\tmixture\tgroup\tlabel\tspeaker\torigin\tonset_s\toffset_s\tlevel_db"]
  lines += [f"{example}\t{source}\t\tsfx\tanimal\t\t{origin}\t0\t10\t-20"
            for example, source, origin in rows]
  path.write_text("\n".join(lines) + "\n")
  return path


def test_disjointness_check_on_planted_lists(tmp_path):
  selection = _labels(tmp_path / "validation_labels.tsv", [
      ("validation/example00000", "background0", "pkg/a.wav"),
      ("validation/example00000", "foreground0", "pkg/b.wav|pkg/c.wav"),
      ("validation/example00001", "background0", "pkg/d.wav")])
  clean_test = _labels(tmp_path / "test_labels.tsv", [
      ("test/example00000", "background0", "pkg/e.wav"),
      ("test/example00001", "foreground0", "pkg/f.wav|pkg/g.wav")])
  leaky_test = _labels(tmp_path / "leaky_labels.tsv", [
      ("test/example00000", "background0", "pkg/e.wav|pkg/c.wav")])
  chosen = independence.origins(selection, ["validation/example00000"])
  assert chosen == {"pkg/a.wav", "pkg/b.wav", "pkg/c.wav"}  # `|`-joined origins split
  assert independence.check_disjoint(
      {"test": independence.origins(clean_test), "selection": chosen}) == \
      {"test": 3, "selection": 3}
  with pytest.raises(independence.OverlapError, match="share 1 source file.*pkg/c.wav"):
    independence.check_disjoint({"test": independence.origins(leaky_test),
                                 "selection": chosen})
  # Only the selected examples count: example00001's file is free for testing.
  assert "pkg/d.wav" not in chosen
  with pytest.raises(ValueError, match="no rows"):
    independence.origins(selection, ["validation/example00009"])
  assert independence.labels_table("/d/test_example_list.txt") == "/d/test_labels.tsv"
  with pytest.raises(ValueError, match="cannot tell"):
    independence.labels_table("/d/list.txt")


# ---------------------------------------------------------------------------
# Claims: verdicts from planted rows.


def _result(name, arm, weight, records, seed=1, selection_msi=5.0):
  summary = metrics.summarize(records)
  return {"run": {"name": name, "num_sources": 4, "arm": arm, "weight": weight, "seed": seed},
          "selected": {"selection": {"MSi": selection_msi, "1S": summary["1S"],
                                     "TRF": summary["TRF"]}, "meets_floor": True, "step": 1},
          "test": {"fuss": {**summary, "num_examples": len(records)}}, "checkpoints": []}


def test_claims_find_a_planted_sparsity_gain_and_an_untested_claim():
  from sound_separation.study import claims  # pylint: disable=import-outside-toplevel
  from sound_separation.study import grid  # pylint: disable=import-outside-toplevel
  difficulty = np.random.default_rng(8).normal(0.0, 3.0, size=200)
  planted = {
      "m4/baseline": ("baseline", 0.0, 0.0, 0.0, 5.0),
      "m4/mixit_w0": ("mixit", 0.0, 0.0, 0.0, 5.0),
      # L1/L2: +12 dB of 1S for 0.3 dB of MSi; the selection list agrees.
      "m4/l1_l2_w5": ("l1_l2", 5.0, -0.3, 12.0, 4.7),
      # Collapsed: huge 1S, MSi far below the floor: the rule must not pick it.
      "m4/l1_l2_w30": ("l1_l2", 30.0, -5.0, 40.0, 0.5),
  }
  results, scores = {}, {}
  for i, (name, (arm, weight, msi_shift, one_shift, sel)) in enumerate(planted.items()):
    records = []
    rng = np.random.default_rng(100 + i)
    for j in range(200):
      refs = j % 5
      records.append(_fuss_record(rng, refs, msi=5.0 + msi_shift + difficulty[j],
                                  one_source=10.0 + one_shift + difficulty[j]))
    results[name] = _result(name, arm, weight, records, selection_msi=sel)
    scores[name] = records
  specs = [grid.RunSpec(name, 4, arm, weight, 1, None, ())
           for name, (arm, weight, *_rest) in planted.items()]
  study = type("S", (), {"num_sources": [4], "msi_tolerance_db": 1.0, "sparsity_weight": 5.0})
  rows = claims.gather(specs, results, lambda name, task: scores.get(name) if task == "fuss"
                       else None)
  verdicts = claims.judge(study, rows)
  by_what = {v["what"]: v for v in verdicts}
  gain = by_what["M = 4: Δ1S, L1/L2 (5, chosen) − control"]
  # One seed a row and no replicated row: no seed level, so no verdict.
  assert gain["verdict"] == "one seed: not judged" and 10.5 < gain["delta"] < 13.5
  assert gain["low"] is None and gain["seed_level"] == "none"
  assert by_what["M = 4: ΔMSi, L1/L2 (5, chosen) − control"]["verdict"] == \
      "one seed: not judged"
  # No efficient or semantic runs, one M: those claims are not tested.
  assert {v["verdict"] for v in verdicts if v["claim"] in (3, 4)} == {"not tested"}
  assert not [v for v in verdicts if v["claim"] == 2]
  table = "\n".join(claims.row_table(rows))
  assert "m4/l1_l2_w5" in table and "| 1 |" in table  # one seed: no interval


def test_runs_picked_at_their_last_checkpoint_are_listed_with_their_trend():
  from sound_separation.study import grid  # pylint: disable=import-outside-toplevel
  from sound_separation.study import report  # pylint: disable=import-outside-toplevel

  def run(name, trf, selected):
    spec = grid.RunSpec(name, 4, "l1_l2", 4.0, 2000, "m4/baseline", ())
    checkpoints = [{"step": 250 * (i + 1), "selection": {"TRF": v}} for i, v in enumerate(trf)]
    return spec, {"checkpoints": checkpoints, "selected": {"step": selected}}

  planted = [run("m4/rising", [5.0, 5.5, 6.0, 6.5, 7.0], 1250),
             run("m4/flat", [5.0, 5.94, 4.99, 5.97], 1000),
             run("m4/earlier", [5.0, 6.0, 5.5], 500),
             run("m4/passed_over", [5.0, 7.0, 6.63], 750)]
  specs = [spec for spec, _ in planted]
  results = {spec.name: result for spec, result in planted}
  lines = report.last_checkpoint_picks(specs, results)
  assert lines == [
      "- m4/rising: picked at its last checkpoint (step 1250); selection TRF at steps "
      "500, 750, 1000, 1250: 5.50, 6.00, 6.50, 7.00 dB, 0.50 dB above the best earlier "
      "checkpoint.",
      "- m4/flat: picked at its last checkpoint (step 1000); selection TRF at steps "
      "250, 500, 750, 1000: 5.00, 5.94, 4.99, 5.97 dB, 0.03 dB above the best earlier "
      "checkpoint.",
      "- m4/passed_over: picked at its last checkpoint (step 750); selection TRF at steps "
      "250, 500, 750: 5.00, 7.00, 6.63 dB, 0.37 dB below the best earlier checkpoint, "
      "which the rule passed over for its MSi."]


def test_pooled_sd_is_the_pooled_sample_standard_deviation():
  a, b = [1.0, 2.0, 4.0], [10.0, 10.5]
  expected = math.sqrt((2 * np.var(a, ddof=1) + 1 * np.var(b, ddof=1)) / 3)
  assert intervals.pooled_sd([a, b, [7.0], [None, 3.0]]) == pytest.approx(expected)
  assert intervals.pooled_sd([[1.0], [2.0]]) is None


def _selection_result(name, arm, weight, msi, trf, seed=1):
  return {"run": {"name": name, "num_sources": 4, "arm": arm, "weight": weight, "seed": seed},
          "selected": {"selection": {"MSi": msi, "1S": 0.0, "TRF": trf}, "meets_floor": True,
                       "step": 1},
          "test": {"fuss": {}}, "checkpoints": []}


def planted_selection_rows(planted, edit=lambda results: None):
  """`(claims rows, results)` of `[(name, arm, weight, selection MSi, TRF, seed)]`;
  `edit(results)` may change the results first."""
  from sound_separation.study import claims  # pylint: disable=import-outside-toplevel
  from sound_separation.study import grid  # pylint: disable=import-outside-toplevel
  results = {name: _selection_result(name, arm, w, msi, trf, seed)
             for name, arm, w, msi, trf, seed in planted}
  edit(results)
  specs = [grid.RunSpec(name, 4, arm, w, seed, None, ()) for name, arm, w, *_, seed in planted]
  return claims.gather(specs, results, lambda name, task: None), results


def test_the_shipped_run_clears_its_floor_by_the_measured_seed_noise():
  from sound_separation.study import claims  # pylint: disable=import-outside-toplevel
  # Baseline selection MSi 5.0 -> floor 4.0. The control's seeds spread
  # selection MSi by sd 0.3 -> margin 0.6, raised floor 4.6.
  planted = [
      ("m4/baseline", "baseline", 0.0, 5.0, 5.0, 1),
      ("m4/mixit_w0", "mixit", 0.0, 5.3, 5.5, 1),
      ("m4/mixit_w0_s2", "mixit", 0.0, 5.6, 5.6, 2),
      ("m4/mixit_w0_s3", "mixit", 0.0, 5.9, 5.7, 3),
      # Inside the plain floor by 0.2 dB with the best TRF: not shipped.
      ("m4/l1_l2_w9", "l1_l2", 9.0, 4.2, 9.0, 1),
      # Clears the raised floor on the mean of its seeds (4.75); seed 2 does
      # not clear it alone (4.5) even though its TRF is higher.
      ("m4/l1_l2_w8", "l1_l2", 8.0, 5.0, 7.0, 1),
      ("m4/l1_l2_w8_s2", "l1_l2", 8.0, 4.5, 8.0, 2),
  ]
  rows, _ = planted_selection_rows(planted)
  study = type("S", (), {"num_sources": [4], "msi_tolerance_db": 1.0})
  seeded = [[5.3, 5.6, 5.9], [5.0, 4.5]]
  noise = math.sqrt((2 * np.var(seeded[0], ddof=1) + np.var(seeded[1], ddof=1)) / 3)
  shipping = claims.ship(study, rows)
  assert shipping["noise_db"] == pytest.approx(noise) and shipping["noise_rows"] == 2
  assert shipping["margin_db"] == pytest.approx(2 * noise)
  assert shipping["floors"]["4"] == pytest.approx(4.0 + 2 * noise)
  assert (shipping["row"], shipping["run"]) == ("m4/l1_l2_w8", "m4/l1_l2_w8")
  # Without the margin the rule would have shipped weight 9, 0.2 dB inside.
  from sound_separation.evaluation import selection  # pylint: disable=import-outside-toplevel
  plain, _ = selection.select(list(rows.values()), 4.0, key=lambda r: r.selection())
  assert plain.name == "m4/l1_l2_w9"


def test_a_share_interval_stays_within_0_and_100_percent():
  from sound_separation.study import claims  # pylint: disable=import-outside-toplevel
  # Two seeds over-separating 10 % and 90 % of 100 mixtures: the Student-t
  # interval of the mean (50 ± 12.706 * 40 / sqrt(2)) crosses both bounds.
  results = [{"run": {"num_sources": 4, "arm": "l1_l2", "weight": 8.0, "seed": s},
              "test": {"fuss": {"over_separation": n, "num_examples": 100}}}
             for s, n in ((1, 10), (2, 90))]
  row = claims.Row("m4/l1_l2_w8", results, {})
  assert row.test("over_separation") == (50.0, 0.0, 100.0)
  mean, low, high = intervals.seed_interval([10.0, 90.0])
  assert low < 0 and high > 100 and mean == 50.0  # the metric itself is not clipped


def _seeded_rows(control_seeds, sparse_seeds, one_shift=12.0, test_sd=0.8, noise_row=False):
  """Control and L1/L2 rows with the given seeds. A row's seeds move its test 1S by
  -test_sd, 0, +test_sd (planted, the same examples), so a replicated row's seed sd
  is test_sd; a one-seed row is not moved. `noise_row`: also a 3-seed L1/L2 row at
  weight 30, far below the floor, that only measures the seed spread."""
  from sound_separation.study import claims  # pylint: disable=import-outside-toplevel
  from sound_separation.study import grid  # pylint: disable=import-outside-toplevel
  difficulty = np.random.default_rng(8).normal(0.0, 3.0, size=100)
  plan = [("m4/mixit_w0", "mixit", 0.0, 0.0, control_seeds, 5.0),
          ("m4/l1_l2_w5", "l1_l2", 5.0, one_shift, sparse_seeds, 5.0)]
  if noise_row:
    plan.append(("m4/l1_l2_w30", "l1_l2", 30.0, 0.0, [1, 2, 3], 0.5))
  results, scores, specs = {}, {}, []
  for row, arm, weight, shift, seeds, selection_msi in plan:
    offsets = [-test_sd, 0.0, test_sd] if len(seeds) > 1 else [0.0]
    for k, seed in enumerate(seeds):
      name = row if seed == 1 else f"{row}_s{seed}"
      rng = np.random.default_rng(200 + 10 * seed + len(row))
      records = [_fuss_record(rng, j % 3, msi=5.0 + difficulty[j],
                              one_source=10.0 + shift + offsets[k] + difficulty[j])
                 for j in range(100)]
      results[name] = _result(name, arm, weight, records, seed=seed,
                              selection_msi=selection_msi)
      scores[name] = records
      specs.append(grid.RunSpec(name, 4, arm, weight, 1, None, (), seed=seed))
  return claims.gather(specs, results, lambda name, task: scores.get(name)
                       if task == "fuss" else None)


def test_a_one_seed_comparison_is_widened_by_the_pooled_seed_sd():
  from sound_separation.study import claims  # pylint: disable=import-outside-toplevel
  rows = _seeded_rows([1, 2, 3], [1])
  sds = claims.seed_sds(rows)
  one_sd, count = sds["1S"]
  # The control's three seeds: 1S means moved by exactly -0.8, 0, +0.8 dB
  # (the same examples), so their sample sd is 0.8.
  assert count == 1 and one_sd == pytest.approx(0.8, abs=0.05)
  plain = claims.compare(rows["m4/l1_l2_w5"], rows["m4/mixit_w0"], "1S")
  assert plain["seed_level"] == "none" and plain["low"] is None
  widened = claims.compare(rows["m4/l1_l2_w5"], rows["m4/mixit_w0"], "1S", seed_sd=sds["1S"])
  assert widened["seed_level"] == "pooled" and widened["seed_sd_rows"] == 1
  boot = intervals.paired_bootstrap(rows["m4/l1_l2_w5"].scores["fuss"],
                                    rows["m4/mixit_w0"].scores["fuss"], "1S",
                                    num_resamples=claims.NUM_RESAMPLES)
  extra = 1.96 * one_sd
  assert widened["low"] == pytest.approx(boot["delta"] - math.hypot(boot["delta"] - boot["low"],
                                                                     extra))
  assert widened["high"] == pytest.approx(boot["delta"] + math.hypot(boot["high"] - boot["delta"],
                                                                      extra))
  study = type("S", (), {"num_sources": [4], "msi_tolerance_db": 1.0, "sparsity_weight": 5.0})
  verdict = {v["what"]: v for v in claims.judge(study, rows)}[
      "M = 4: Δ1S, L1/L2 (5, chosen) − control"]
  assert verdict["verdict"] == "reproduced" and verdict["seed_level"] == "pooled"
  assert "widened by the seed SD 0.8" in "\n".join(claims.verdict_lines([verdict]))


def test_replicated_rows_on_both_sides_use_the_two_level_bootstrap():
  from sound_separation.study import claims  # pylint: disable=import-outside-toplevel
  rows = _seeded_rows([1, 2, 3], [1, 2, 3])
  sds = claims.seed_sds(rows)
  assert sds["1S"][1] == 2
  both = claims.compare(rows["m4/l1_l2_w5"], rows["m4/mixit_w0"], "1S", seed_sd=sds["1S"])
  boot = intervals.paired_bootstrap(rows["m4/l1_l2_w5"].scores["fuss"],
                                    rows["m4/mixit_w0"].scores["fuss"], "1S",
                                    num_resamples=claims.NUM_RESAMPLES)
  assert both["seed_level"] == "bootstrap"
  assert (both["low"], both["high"]) == (boot["low"], boot["high"])


def test_a_gain_within_seed_noise_is_inconclusive_once_widened():
  from sound_separation.study import claims  # pylint: disable=import-outside-toplevel
  # A 1S gain of 1.5 dB, one seed against one seed, with a seed spread of
  # 2 dB measured on another row: the examples alone would exclude zero;
  # with the seed level it is not established.
  rows = _seeded_rows([1], [1], one_shift=1.5, test_sd=2.0, noise_row=True)
  sds = claims.seed_sds(rows)
  assert sds["1S"] == (pytest.approx(2.0, abs=0.1), 1)
  boot = intervals.paired_bootstrap(rows["m4/l1_l2_w5"].scores["fuss"],
                                    rows["m4/mixit_w0"].scores["fuss"], "1S",
                                    num_resamples=claims.NUM_RESAMPLES)
  assert boot["low"] > 0
  widened = claims.compare(rows["m4/l1_l2_w5"], rows["m4/mixit_w0"], "1S", seed_sd=sds["1S"])
  # Two one-seed sides: (1.96 · sd)² counted twice.
  assert widened["low"] == pytest.approx(
      boot["delta"] - math.hypot(boot["delta"] - boot["low"], 1.96 * sds["1S"][0] * math.sqrt(2)))
  assert widened["low"] < 0 < widened["high"]
  study = type("S", (), {"num_sources": [4], "msi_tolerance_db": 1.0, "sparsity_weight": 5.0})
  verdict = {v["what"]: v for v in claims.judge(study, rows)}[
      "M = 4: Δ1S, L1/L2 (5, chosen) − control"]
  assert verdict["verdict"] == "not reproduced"  # holds zero, excludes +10 to +17
  assert verdict["low"] == pytest.approx(widened["low"])


def test_the_independence_record_is_rechecked_from_its_files(tmp_path):
  import json  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  lists_dir = tmp_path / "lists"
  lists_dir.mkdir()
  for name in ("test", "selection"):
    (lists_dir / f"{name}.txt").write_text(f"{name} list\n")
  record = independence.write_record(str(tmp_path / "results"), {
      "test": (str(lists_dir / "test.txt"), {"pkg/a b.wav", "pkg/c.wav"}),
      "selection": (str(lists_dir / "selection.txt"), {"pkg/d.wav"})})
  assert record["lists"]["test"]["source_files"] == 2
  assert independence.recheck(str(tmp_path / "results"),
                              {"test": str(lists_dir / "test.txt")}) == \
      {"test": 2, "selection": 1}
  checked = subprocess.run([sys.executable, "-m", "sound_separation", "study",
                            "--check_independence", f"--results_dir={tmp_path / 'results'}"],
                           capture_output=True, text=True)
  assert checked.returncode == 0 and "test (2 source files)" in checked.stdout
  # Another list than the one checked; a tampered origins file; an overlap.
  (lists_dir / "test.txt").write_text("another test list\n")
  with pytest.raises(ValueError, match="is not the list the record checked"):
    independence.recheck(str(tmp_path / "results"), {"test": str(lists_dir / "test.txt")})
  origins = tmp_path / "results" / "independence" / "selection_origins.txt"
  origins.write_text("pkg/c.wav\n")
  checked = subprocess.run([sys.executable, "-m", "sound_separation", "study",
                            "--check_independence", f"--results_dir={tmp_path / 'results'}"],
                           capture_output=True, text=True)
  assert checked.returncode == 1 and "Traceback" not in checked.stderr
  assert f"{origins} does not match the sha256 recorded" in checked.stderr
  entry = json.loads((tmp_path / "results" / "independence" / "independence.json").read_text())
  entry["lists"]["selection"]["origins_sha256"] = independence._sha256(str(origins))  # pylint: disable=protected-access
  (tmp_path / "results" / "independence" / "independence.json").write_text(json.dumps(entry))
  with pytest.raises(independence.OverlapError, match="share 1 source file.*pkg/c.wav"):
    independence.recheck(str(tmp_path / "results"))
  with pytest.raises(independence.OverlapError):
    independence.write_record(str(tmp_path / "other"), {
        "test": (str(lists_dir / "test.txt"), {"x.wav"}),
        "selection": (str(lists_dir / "selection.txt"), {"x.wav"})})
  assert not (tmp_path / "other").exists()
