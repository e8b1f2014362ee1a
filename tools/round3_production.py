#!/usr/bin/env python
"""Writes round 3's production study file (part 2) from part 1's pick and the scaling probe's.

Part 2 of results/waspaa2021_round3/README.md trains one model for shipping;
what it trains is decided by files, not by hand, so that the decision reads
selection numbers only and can be re-derived:

- the recipe (M, loss, weight): the run round 3's shipping rule picked,
  `results.json` `shipping` (part 1 must be complete) and that run's
  `runs/<name>.json`;
- the size: the probe's pick, `scaling/scaling.json` `chosen`, and its
  measured seconds per step (one core, one thread);
- the budget: `--cpu_hours` at that step time, split into a MixIT-only
  baseline (`--mixit_share` of the steps) and the recipe's fine-tune from it,
  each a multiple of `--steps_per_checkpoint`; averaged weights at
  `--ema_momentum`; one seed; the production training list; blind.

The output is a `sound_separation.Study` gin file (docs/study.md) for
`sound-separation study --config=OUT --out_dir=RUNS/production`; commit it
before starting, as for any blind round.

  python tools/round3_production.py [--results_dir results/waspaa2021_round3] \\
      [--out results/waspaa2021_round3/production/study.gin]

Once the production run has reported, `--decide_shipping` writes
`RESULTS_DIR/shipping.json`: which of the production run and part 1's pick
ships (`ship_decision`), which `tools/ship_model.py` then holds to.
"""

import argparse
import importlib
import json
import os
import re
import sys

from sound_separation import quiet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DecisionMissing(Exception):
  """A file part 2 is decided from is missing or not final (the message names it)."""


def _read(path, what):
  if not os.path.exists(path):
    raise DecisionMissing(f"{path} does not exist: {what}")
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def decide(results_dir, cpu_hours, mixit_share, steps_per_checkpoint):
  """The production run's recipe, size and steps, from the committed results.

  Returns:
    dict: num_sources, arm, weight, picked_run, size, size_bindings,
    seconds_per_step, baseline_steps, finetune_steps.
  """
  results_path = os.path.join(results_dir, "results.json")
  shipping = _read(results_path, "part 1 has not reported").get("shipping") or {}
  if not shipping.get("complete"):
    raise DecisionMissing(f"{results_path}: part 1 is not complete (its shipping pick is not "
                          f"final)")
  if not shipping.get("run"):
    raise DecisionMissing(f"{results_path}: no row cleared the shipping rule's floor, so there "
                          f"is no recipe to train")
  run = _read(os.path.join(results_dir, "runs", shipping["run"] + ".json"),
              f"the picked run {shipping['run']}'s result")["run"]
  probe_path = os.path.join(results_dir, "scaling", "scaling.json")
  probe = _read(probe_path, "the scaling probe has not reported")
  size = probe.get("chosen")
  if size is None:
    raise DecisionMissing(f"{probe_path}: the probe picked no size")
  seconds = float(probe["sizes"][size]["plan"]["seconds_per_step"])
  # The sizes live with the probe, whose module imports TensorFlow: its
  # start-up notices are dropped (quiet.py).
  scaling = quiet.filtered(lambda: importlib.import_module("sound_separation.study.scaling"),
                           lambda lines: [])
  total = cpu_hours * 3600.0 / seconds

  def steps(share):
    return max(1, int(round(total * share / steps_per_checkpoint))) * steps_per_checkpoint

  return {"num_sources": int(run["num_sources"]), "arm": run["arm"],
          "weight": float(run["weight"]), "picked_run": shipping["run"], "size": size,
          "size_bindings": scaling.size_bindings(size), "seconds_per_step": seconds,
          "baseline_steps": steps(mixit_share), "finetune_steps": steps(1.0 - mixit_share)}


def ship_decision(results_dir):
  """Which model ships: the production run or round 3's pick (README, part 2, step 6).

  The production run ships when its selected checkpoint has a higher
  selection TRF than round 3's pick and a selection MSi at or above round 3's
  raised floor at its M (`results.json` `shipping.floors`); otherwise round
  3's pick ships. Selection numbers only; a post-hoc production run never
  ships.

  Returns:
    dict: "ships" ("production" or "round3"), "results" (the shipped run's
    results folder, relative to `results_dir`), "run", "why" (one sentence
    for the card), "floor_db", "margin_db", and per contender its "run" and
    selection metrics.
  """
  results_path = os.path.join(results_dir, "results.json")
  shipping = _read(results_path, "part 1 has not reported").get("shipping") or {}
  if not shipping.get("complete") or not shipping.get("run"):
    raise DecisionMissing(f"{results_path}: part 1 has no final shipping pick")
  pick = _read(os.path.join(results_dir, "runs", shipping["run"] + ".json"),
               f"the picked run {shipping['run']}'s result")
  m = str(pick["run"]["num_sources"])
  floor = float(shipping["floors"][m])
  production_dir = os.path.join(results_dir, "production")
  production_path = os.path.join(production_dir, "results.json")
  production = _read(production_path, "the production run has not reported")
  runs = production.get("runs") or {}
  trained = [name for name in runs if not name.endswith("/baseline")]
  if len(trained) != 1:
    raise DecisionMissing(f"{production_path}: expected one run besides the baseline, found "
                          f"{len(trained)} ({', '.join(sorted(trained)) or 'none'})")
  candidate = runs[trained[0]]
  if "test" not in candidate:
    raise DecisionMissing(f"{production_path}: {trained[0]} has not finished (its selection is "
                          f"not final)")
  own, theirs = candidate["selected"]["selection"], pick["selected"]["selection"]
  post_hoc = bool(candidate.get("protocol", {}).get("post_hoc"))
  clears = own["MSi"] is not None and own["MSi"] >= floor
  better = own["TRF"] is not None and theirs["TRF"] is not None and own["TRF"] > theirs["TRF"]
  ships = "production" if clears and better and not post_hoc else "round3"
  comparison = (f"selection TRF {own['TRF']:.2f} dB against round 3's pick's "
                f"{theirs['TRF']:.2f} (`{shipping['run']}`); selection MSi {own['MSi']:.2f} dB "
                f"against round 3's raised floor at M = {m}, {floor:.2f} dB")
  if ships == "production":
    why = (f"the model trained for shipping (round 3, part 2) replaces round 3's pick: "
           f"{comparison}")
  elif post_hoc:
    why = (f"round 3's pick: the production run `{trained[0]}` joined its grid after its "
           f"protocol was fixed, so it cannot ship")
  else:
    why = (f"round 3's pick: the model trained for shipping did not beat it "
           f"({comparison}; it ships only with a higher TRF and an MSi at or above the floor)")
  return {"ships": ships, "results": "production" if ships == "production" else ".",
          "run": trained[0] if ships == "production" else shipping["run"], "why": why,
          "floor_db": floor, "margin_db": shipping.get("margin_db"),
          "production": {"run": trained[0], "selection": own, "post_hoc": post_hoc},
          "round3": {"run": shipping["run"], "selection": theirs}}


def study_file(decision, round3_text, classifier_dir, cpu_hours, steps_per_checkpoint,
               ema_momentum):
  """The gin text: round 3's study file as it is, then the production run's bindings.

  Later bindings override earlier ones, so the lists, classifier, loss
  weights and selection rule are round 3's own; `classifier_dir` is given
  again because it resolves against the production file's folder.
  """
  m = decision["num_sources"]
  size = "".join(f"    {b!r},\n" for b in decision["size_bindings"])
  return f"""# Round 3, part 2: the model trained for shipping (../README.md, "Part 2").
# Written by tools/round3_production.py from part 1's shipping pick
# ({decision['picked_run']}: M = {m}, {decision['arm']} at {decision['weight']:g}) and the
# scaling probe's size ({decision['size']}, {decision['seconds_per_step']:.3f} s a step on one
# core): {cpu_hours:g} CPU-hours, MixIT alone for {decision['baseline_steps']} steps, then the
# recipe for {decision['finetune_steps']}; averaged weights; one seed; blind.
# First round 3's study file as it is, then what differs.

{round3_text.rstrip()}

# ---- the production run ----
sound_separation.Study.name = 'WASPAA 2021, small scale, round 3: the model trained for shipping'
sound_separation.Study.train_list = 'study3/train_clip_list.txt'
sound_separation.Study.num_sources = [{m}]
sound_separation.Study.gin_params = [
{size}]
sound_separation.Study.baseline_models = {{}}
sound_separation.Study.baseline_steps = {decision['baseline_steps']}
sound_separation.Study.finetune_steps = {decision['finetune_steps']}
sound_separation.Study.steps_per_checkpoint = {steps_per_checkpoint}
sound_separation.Study.seed = 1
sound_separation.Study.arms = {{}}
sound_separation.Study.arms_by_num_sources = {{{m}: {{{decision['arm']!r}: [{decision['weight']!r}]}}}}
sound_separation.Study.extra_seeds = {{}}
sound_separation.Study.classifier_dir = {classifier_dir!r}
sound_separation.Study.ema_momentum = {ema_momentum!r}
sound_separation.Study.blind = True
"""


def _classifier_dir(round3_text, results_dir, out_dir):
  """Round 3's `classifier_dir`, re-expressed relative to the production file's folder."""
  match = re.search(r"^sound_separation\.Study\.classifier_dir\s*=\s*'([^']*)'", round3_text,
                    re.MULTILINE)
  if match is None:
    return None
  return os.path.relpath(os.path.join(os.path.abspath(results_dir), match.group(1)),
                         os.path.abspath(out_dir))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--results_dir", default=os.path.join(REPO, "results",
                                                            "waspaa2021_round3"))
  parser.add_argument("--out", default=None,
                      help="default: RESULTS_DIR/production/study.gin")
  parser.add_argument("--cpu_hours", type=float, default=8.0)
  parser.add_argument("--mixit_share", type=float, default=0.4)
  parser.add_argument("--steps_per_checkpoint", type=int, default=1000)
  parser.add_argument("--ema_momentum", type=float, default=0.999)
  parser.add_argument("--decide_shipping", action="store_true",
                      help="once the production run has reported: write RESULTS_DIR/"
                      "shipping.json, which model ships (README, part 2, step 6)")
  args = parser.parse_args(argv)
  if args.decide_shipping:
    try:
      decision = ship_decision(args.results_dir)
    except DecisionMissing as e:
      print(f"round3_production: {e}", file=sys.stderr)
      return 2
    protocol = quiet.filtered(
        lambda: importlib.import_module("sound_separation.study.protocol"), lambda lines: [])
    path = os.path.join(args.results_dir, protocol.SHIPPING_FILE)
    with open(path, "w", encoding="utf-8") as f:
      json.dump(decision, f, indent=1, sort_keys=True)
      f.write("\n")
    shipped_dir = os.path.normpath(os.path.join(args.results_dir, decision["results"]))
    print(f"Wrote {path}: {decision['ships']} ships ({decision['run']}): {decision['why']}.\n"
          f"Ship it: python tools/ship_model.py --results {shipped_dir} --run {decision['run']} "
          f"--runs_dir RUNS/{'production' if decision['ships'] == 'production' else 'study'}")
    return 0
  if not 0 < args.mixit_share < 1:
    parser.error(f"--mixit_share must lie strictly between 0 and 1, got {args.mixit_share}")
  try:
    decision = decide(args.results_dir, args.cpu_hours, args.mixit_share,
                      args.steps_per_checkpoint)
  except DecisionMissing as e:
    print(f"round3_production: {e}", file=sys.stderr)
    return 2
  out = args.out or os.path.join(args.results_dir, "production", "study.gin")
  out_dir = os.path.dirname(os.path.abspath(out))
  with open(os.path.join(args.results_dir, "study.gin"), encoding="utf-8") as f:
    round3_text = f.read()
  os.makedirs(out_dir, exist_ok=True)
  with open(out, "w", encoding="utf-8") as f:
    f.write(study_file(decision, round3_text, _classifier_dir(round3_text, args.results_dir,
                                                              out_dir),
                       args.cpu_hours, args.steps_per_checkpoint, args.ema_momentum))
  print(f"Wrote {out}: {decision['picked_run']} at size {decision['size']}, "
        f"{decision['baseline_steps']} + {decision['finetune_steps']} steps.")
  return 0


if __name__ == "__main__":
  sys.exit(main())
