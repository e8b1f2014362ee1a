#!/usr/bin/env python
"""Puts a study's model into the package as the default model, with its card.

Copies the separator of one finished study run (its selected checkpoint)
into `sound_separation/pretrained/default/` (a model folder: separator
weights only, no optimizer) and writes `MODEL_CARD.md` from the run's result
JSON and the study's `results.json`: how it was chosen, the recipe (its
baseline and seed), its limitations, its metrics beside its baseline's, and
the licences of the Debian packages its training data draws from with the
terms the weights are released under. Then writes its LiteRT copy
(`litert/`, as `sound-separation export --format=litert`).

Usage:
  python tools/ship_model.py --results results/waspaa2021_round2 \
      [--run m4/l1_l2_w8] [--runs_dir STUDY_RUNS] [--corpus DEV] [--card_only]

`--card_only` rewrites the folder's card from the results and keeps its
weights (when the card's text changes, not the model). `--runs_dir` also
gives the card its CPU-hours (the run folders' `train_time.json`); without
it the card states wall time only.

`--run` defaults to the report's choice (`results.json`: "shipped"). A
baseline's separator is read from `<results>/baselines/m<M>/`; a fine-tune's
from `<runs_dir>/<run>/checkpoints/kept/ckpt-<step>`. `--corpus` finds the
run's training list there (else where the run read it) to count its clips
and their source files per package for the card.

A round that decided in writing which model ships (`shipping.json` in the
round's folder, by `tools/round3_production.py --decide_shipping`) is held
to it: another run from that round, or from its production folder, is
refused.
"""

import argparse
import collections
import json
import os
import re
import shutil


# The development corpus's packages and their licences, as its README lists
# them (from each package's copyright file).
LICENCES = {
    "asterisk-core-sounds-en-g722": "CC-BY-SA-3.0",
    "asterisk-core-sounds-es-g722": "CC-BY-SA-3.0",
    "asterisk-core-sounds-fr-g722": "CC-BY-SA-3.0",
    "fillets-ng-data-cs": "GPL-2",
    "tuxpaint-stamps-default": "GPL-2",
    "klettres-data": "GPL-2+",
    "hedgewars-data": "GPL-2; Data/Sounds GFDL-1.3; Droplet*.ogg CC-BY-SA-3.0",
    "sonic-pi-samples": "130 files CC0, the rest MIT / CC-BY-SA-4.0",
    "lincity-ng-data": "GPL-2+",
    "scorched3d-data": "GPL-2+; apoc mod CC-BY-SA-3",
    "btanks-data": "GPL-2 with the Battle Tanks exception; LGPL-2.1+ parts",
}


def _fmt(value):
  return "–" if value is None else f"{value:.2f}"


def _training_list(result, corpus):
  """`(name, path or None)`: the run's training clip list, as its bindings name it.

  `name` is the list relative to the corpus (e.g. `study3/train_clip_list.txt`);
  `path` is where it is on this machine (under `corpus` when given, else
  where the run read it), None when it is not there.
  """
  key = "sound_separation.training_dataset.unsupervised_list = "
  recorded = next((b[len(key):].strip().strip("'\"") for b in result["run"].get("gin_params", ())
                   if b.startswith(key)), None)
  if recorded is None:
    return None, None
  name = "/".join(recorded.replace(os.sep, "/").split("/")[-2:])
  for path in ([os.path.join(corpus, name)] if corpus else []) + [recorded]:
    if os.path.exists(path):
      return name, path
  return name, None


def _origins(train_list):
  """`(clips, {package: source files})` of a training clip list, or `(None, {})`.

  The clips' source files are the `origin` column of their split's labels
  table (`wild*/<split>_labels.tsv`, beside the clips' folder), each counted
  once.
  """
  from sound_separation.data import lists  # pylint: disable=import-outside-toplevel
  from sound_separation.study import independence  # pylint: disable=import-outside-toplevel
  if train_list is None:
    return None, {}
  clips, _ = lists.read_clip_list(train_list)
  folder = os.path.dirname(clips[0])
  labels = os.path.join(os.path.dirname(folder), os.path.basename(folder) + "_labels.tsv")
  if not os.path.exists(labels):
    return len(clips), {}
  return len(clips), collections.Counter(
      origin.split("/")[0] for origin in independence.origins(labels))


def _terms(result):
  """The run's loss terms, from its recorded gin bindings (what the card calls its recipe)."""
  run = result["run"]
  if run["arm"] in ("baseline", "mixit"):
    return "MixIT alone"
  return f"arm `{run['arm']}` at weight {run['weight']:g} beside MixIT (docs/losses.md)"


def _metric_rows(result, baseline):
  rows = []
  for label, res in (("this model", result), ("its baseline", baseline)):
    if res is None:
      continue
    t, s_ = res["test"], res["selected"]["selection"]
    rows.append(f"| {label} | {_fmt(s_.get('MSi'))} | {_fmt(s_.get('1S'))} | "
                f"{_fmt(s_.get('TRF'))} | {_fmt(t['fuss'].get('MSi'))} | "
                f"{_fmt(t['fuss'].get('1S'))} | {_fmt(t['fuss'].get('TRF'))} | "
                f"{_fmt(t.get('mom', {}).get('MoMi'))} | {_fmt(t.get('speech', {}).get('MSi'))} |")
  return "\n".join(rows)


def _per_count_rows(result, baseline):
  counts = result["test"]["fuss"]["per_source_count"]
  base = (baseline or {}).get("test", {}).get("fuss", {}).get("per_source_count", {})
  rows = []
  for n, g in sorted(counts.items()):
    b = base.get(n, {})
    metric = "1S" if n == "1" else "MSi"
    rows.append(f"| {n} | {g['count']} | {metric} | {_fmt(g[metric])} | {_fmt(b.get(metric))} |")
  return "\n".join(rows)


def _share(count, total):
  return f"{count} of {total} ({100.0 * count / total:.0f} %)"


def _stability(result):
  """A limitation line: selection MSi at the selected checkpoint and its neighbours."""
  history = sorted(result.get("checkpoints") or [], key=lambda c: c["step"])
  steps = [c["step"] for c in history]
  if result["selected"]["step"] not in steps or len(history) < 2:
    return ""
  at = steps.index(result["selected"]["step"])
  around = history[max(at - 1, 0):at + 2]
  values = ", ".join(_fmt(c["selection"]["MSi"]) for c in around)
  return ("- **Checkpoint noise**: its selection MSi at steps "
          f"{', '.join(str(c['step']) for c in around)} is {values} dB (the floor: "
          f"{_fmt(result.get('msi_floor'))} dB); the shipping margin covers the spread\n"
          "  between seeds measured on other rows, and one checkpoint's MSi moves\n"
          "  between the selection and test lists too: its test numbers (below) are\n"
          "  the ones to quote.\n")


def _choice_lines(result, report, baseline=None, decision=None, cpu_seconds=None,
                  results_dir="."):
  """'How it was chosen': its row's seeds, the round's protocol, the margin, the compute.

  `cpu_seconds`: the training's process CPU time (seconds) of the run and, when
  trained in the same study, its baseline (`_cpu_seconds`), or None.
  `results_dir`: the study's results folder (a production study's is inside
  its round's).
  """
  run = result["run"]
  row = re.sub(r"_s\d+$", "", run["name"])
  runs = report.get("runs") or {run["name"]: result}
  seeds = sorted(r["run"].get("seed") or 0 for n, r in runs.items()
                 if re.sub(r"_s\d+$", "", n) == row)
  # A production run has no seeded rows of its own: the spread is its round's.
  spread_source = (f"its round (`{os.path.dirname(results_dir)}/table.md`)"
                   if decision is not None and decision["ships"] == "production"
                   else "the study (`table.md`)")
  lines = [f"- **Seeds**: its row `{row}` was trained with {len(seeds)} seed"
           f"{'s' if len(seeds) != 1 else ''} ({', '.join(str(s) for s in seeds)})"
           + (f"; one seed is one draw, and its numbers move between seeds by the spread "
              f"{spread_source} measured on its seeded rows." if len(seeds) == 1 else ".")]
  record = report.get("protocol")
  if record:
    lines.append(f"- **Protocol**: blind; the round's grid was fixed in commit "
                 f"`{record['commit'][:10]}` before any of its test numbers "
                 f"(`protocol.json`), and this run was in it.")
  else:
    lines.append("- **Protocol**: not blind; the round fixed no grid before its test "
                 "numbers, so rows could be added after test results were read (its "
                 "`study.gin` says what was added when).")
  shipping = report.get("shipping") or {}
  floor = (shipping.get("floors") or {}).get(str(run["num_sources"]))
  selected = [r["selected"]["selection"]["MSi"] for n, r in runs.items()
              if re.sub(r"_s\d+$", "", n) == row and r["selected"]["selection"].get("MSi")
              is not None]
  if decision is not None and decision["ships"] == "production":
    # Held against the round's study: its raised floor, not the production
    # study's own (which has one seed, so no margin).
    own, floor, margin = (decision["production"]["selection"]["MSi"], decision["floor_db"],
                          decision["margin_db"] or 0.0)
    lines.append(f"- **Margin**: its selection MSi, {own:.2f} dB, clears the round's raised floor "
                 f"({floor:.2f} dB: the 1 dB floor {floor - margin:.2f} plus the {margin:.2f} dB "
                 f"margin) by {own - floor:.2f} dB.")
  elif floor is not None and shipping.get("margin_db") is not None and selected:
    # The shipping rule's floors are already raised by its margin.
    mean = sum(selected) / len(selected)
    lines.append(f"- **Margin**: its row's mean selection MSi, {mean:.2f} dB, clears the raised "
                 f"floor ({floor:.2f} dB: the 1 dB floor {floor - shipping['margin_db']:.2f} "
                 f"plus the {shipping['margin_db']:.2f} dB margin) by {mean - floor:.2f} dB.")
  compute = result.get("compute")
  if compute:
    base_compute = (baseline or {}).get("compute") or {}
    trained_here = (baseline is not None and not baseline["run"].get("init_model")
                    and base_compute.get("train_seconds"))
    lines.append(f"- **Compute**: {compute['train_seconds'] / 3600:.2f} h of training and "
                 f"{compute['evaluation_seconds'] / 3600:.2f} h of evaluation (wall time) for "
                 f"this run, "
                 + (f"and {base_compute['train_seconds'] / 3600:.2f} h of training and "
                    f"{base_compute['evaluation_seconds'] / 3600:.2f} h of evaluation for its "
                    f"baseline, trained in the same study." if trained_here else
                    "its baseline not included."))
    if cpu_seconds:
      lines.append(f"- **CPU-hours**: {sum(cpu_seconds) / 3600:.2f} of training (process CPU "
                   f"time, {' + '.join(f'{c / 3600:.2f}' for c in cpu_seconds)} for this run"
                   + (" and its baseline" if len(cpu_seconds) > 1 else "")
                   + ", from the run folders' `train_time.json`).")
  return "\n".join(lines) + "\n"


def _architecture(folder):
  """One phrase: the TDCN++'s size in a model folder's `separator.json`, and its parameters."""
  from sound_separation import run_folder  # pylint: disable=import-outside-toplevel
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel
  path = os.path.join(folder, run_folder.SEPARATOR_FILE)
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    tdcn = json.load(f)["model"]["config"]["tdcn"]["config"]
  separator, _, _ = folders.load_keras_separator(folder)
  repeats = tdcn["num_repeats"]
  return (f"bottleneck {tdcn['bottleneck']}, {tdcn['conv_channels']} channels, "
          f"{repeats} repeat{'s' if repeats != 1 else ''} of {tdcn['num_dilations']} dilated "
          f"blocks ({separator.count_params():,} parameters)")


def _ema(result):
  key = "sound_separation.default_optimizer.ema_momentum = "
  return next((float(b[len(key):]) for b in result["run"].get("gin_params", ())
               if b.startswith(key)), None)


def model_card(result, report, baseline, results_dir, training, architecture=None,
               decision=None, cpu_seconds=None):
  """The shipped model's card (Markdown) from its study result and the study's report.

  Args:
    result: the run's result JSON (`runs/<run>.json`).
    report: the study's `results.json` (its name, selection rule and shipping rule).
    baseline: the result of the baseline the run was fine-tuned from (or None).
    results_dir: the study's results folder, as the repository names it.
    training: `{"list": name or None, "clips": count or None, "origins": {package:
      source files in the training clips}}` (`_training_list`, `_origins`).
    architecture: the TDCN++'s size (`_architecture`), or None.
    decision: the round's shipping decision (`_decision`), or None.
    cpu_seconds: training CPU seconds of the run and its baseline (`_cpu_seconds`), or None.
  """
  run, fuss = result["run"], result["test"]["fuss"]
  total = fuss["num_examples"]
  speech = result["test"].get("speech", {})
  shipping = report.get("shipping") or {}
  origins = training.get("origins") or {}
  rows = [f"| {pkg} | {LICENCES.get(pkg, 'see its copyright file')} | "
          f"{origins.get(pkg, '–')} |" for pkg in sorted(LICENCES)]
  if decision is not None:
    why = decision["why"]
  elif shipping.get("margin_db") is not None and shipping.get("run") == run["name"]:
    why = (f"the study's pick: the highest selection TRF among the rows whose mean selection MSi "
           f"is at most {1.0 - shipping['margin_db']:.2f} dB below the baseline's (the 1 dB "
           f"budget less a margin of {shipping['margin_db']:.2f} dB, twice the seed-to-seed "
           f"spread of selection MSi measured over the study's seeded rows)"
           + ("" if shipping.get("complete", True) else
              "; chosen before the study finished, over the runs it had then"))
  else:
    why = "chosen by hand (not the study's pick)"
  if run["init_from"] is None and not run.get("init_model"):
    start = f"{run['num_steps']} MixIT steps from a random initialisation"
  else:
    origin = (baseline or {}).get("run", {}).get("init_model") or run.get("init_model")
    base_step = (baseline or {}).get("selected", {}).get("step")
    base_steps = (baseline or {}).get("run", {}).get("num_steps")
    if origin:
      lineage = (f" (step {base_step} of the first round's M = {run['num_sources']} baseline, "
                 f"`results/waspaa2021_small/baselines/m{run['num_sources']}`, itself 3000 "
                 f"MixIT steps from a random initialisation)")
    elif baseline is not None and base_steps:
      lineage = (f" (step {base_step} of {base_steps} MixIT steps from a random "
                 f"initialisation, trained in the same study)")
    else:
      lineage = ""
    start = f"fine-tuned for {run['num_steps']} steps from `{run['init_from']}`{lineage}"
  size = (f"the paper's TDCN++ separator at {architecture}" if architecture else
          "the paper's TDCN++ separator")
  clips = training.get("clips")
  data = (f"{clips} in-the-wild 10 s clips" if clips else "in-the-wild 10 s clips") + (
      f" (`{training['list']}` of the development corpus)" if training.get("list") else "")
  momentum = _ema(result)
  averaged = (f"; weights averaged over steps (momentum {momentum:g}), the average selected"
              if momentum is not None and result["selected"].get("averaged") else "")
  seed = run.get("seed")
  seed_text = ("seed not recorded (the first round derived it from the run folder)"
               if seed is None else f"seed {seed}")
  under, over = fuss["under_separation"], fuss["over_separation"]
  trade_off = ("- **Trade-off**: the sparsity term buys 1S (one source left whole) with\n"
               "  some MSi (separating several sources); the baseline row below shows the\n"
               "  cost.\n" if "l1" in run["arm"] and run["weight"] > 0 else "")
  stability = _stability(result)
  return f"""# Model card: the default separator of `sound_separation`

`sound_separation.inference.load_model()` (no path), `sound-separation separate`
without `--model` and `sound-separation evaluate` without `--model_dir` use it.
`litert/` is its LiteRT copy (`sound-separation export --format=litert`, the
same checkpoint's weights as constants), which those run when LiteRT is
installed (`pip install 'sound-separation[litert]'`), without TensorFlow.

- **What it is**: run `{run['name']}` of the study "{report.get('study', '?')}"
  (`{results_dir}/`): {size}, M = {run['num_sources']} outputs, 16 kHz
  mono, mixture consistency (the outputs sum to the input).
- **Why this one**: {why}.
- **Recipe**: unsupervised MixIT on mixtures of mixtures of {data}
  (random 4 s crops, 8 clips a step, Adam at 1e-3,
  `gin/studies/small_recipe.gin`); {_terms(result)}; {start}{averaged};
  {seed_text}; checkpoint {result['selected']['step']} selected by the rule
  above on the study's selection list (100 mixtures; docs/study.md). The
  study command in `{results_dir}/README.md` retrains it, and
  `tools/ship_model.py --results {results_dir} --runs_dir STUDY_RUNS` puts
  it here.
{_choice_lines(result, report, baseline, decision, cpu_seconds, results_dir)}- **Intended use**: a small general-purpose sound separator to try the
  library on real audio at once. It is far weaker than the paper's models
  (9M parameters trained for days on 1,600 h): expect coarse separations.
  For those, see `sound_separation.pretrained` (the paper's checkpoints).

## Limitations

- **Count of sources**: on the {total} test mixtures it leaves too few
  active outputs on {_share(under, total)} (under-separation: sources stay
  together) and too many on {_share(over, total)} (over-separation: one
  source split over outputs).
- **Speech**: it does not separate speakers: on
  {speech.get('num_examples', '–')} two-speaker mixtures its MSi is
  {_fmt(speech.get('MSi'))} dB (0 dB: no better than the mixture).
- **In-domain, synthetic test**: the test mixtures are FUSS-style mixtures
  made by the study from recordings of the same Debian packages as the
  training clips (recordings that no training clip or selection mixture
  uses), not field recordings; expect lower numbers on audio unlike
  game effects, music and spoken prompts.
{trade_off}{stability}
## Metrics (dB; {total} test mixtures)

| | selection MSi | selection 1S | selection TRF | test MSi | test 1S | test TRF | MoMi | two-speaker MSi |
|---|---|---|---|---|---|---|---|---|
{_metric_rows(result, baseline)}

By the number of sources in the test mixture (1S for one source, MSi for
more):

| sources | test mixtures | metric | this model | its baseline |
|---|---|---|---|---|
{_per_count_rows(result, baseline)}

## Training data and terms of use

The project's development corpus (its in-the-wild training clips, built by
the team's recipe from Debian 12 packages): clips mixed from game sound
effects and music, voice-acted dialogue, telephony prompts and spoken words
(train split by file hash).

| package | licence (from its copyright file) | source files in the training clips |
|---|---|---|
{chr(10).join(rows)}

Whether trained weights are a derived work of their training audio is not
settled. These weights are released on the cautious reading that they are
one of every package above: use and redistribute them under the conditions
those licences share — keep this card with them (it attributes the
packages), pass them on under the same share-alike terms (GPL-2 or later,
CC-BY-SA) with the same freedoms, and add no restrictions. The library's
code is under its own licence (`LICENSE`, Apache-2.0); the weights are not
covered by it. For weights without these conditions, train the same recipe
on audio under permissive licences.
"""


def _decision(results_dir, name):
  """The round's written shipping decision that covers `results_dir` (or None), held to.

  A round that trained a model for shipping beside its study decides between
  the two in `shipping.json` (in the round's folder, the production run's
  results beside it in a subfolder). Shipping any other run from either
  folder is refused: the decision was made on selection numbers, and a hand
  choice after reading test numbers would undo it.
  """
  from sound_separation.study import protocol  # pylint: disable=import-outside-toplevel
  here = os.path.abspath(results_dir)
  for root in (here, os.path.dirname(here)):
    path = os.path.join(root, protocol.SHIPPING_FILE)
    if not os.path.exists(path):
      continue
    if here not in (root, os.path.join(root, "production")):
      continue  # a sibling study's folder, which this decision is not about
    with open(path, encoding="utf-8") as f:
      decision = json.load(f)
    decided_dir = os.path.normpath(os.path.join(root, decision["results"]))
    if decided_dir != here or decision["run"] != name:
      raise SystemExit(f"{path} ships {decision['run']} from {decided_dir}, not {name} from "
                       f"{here}: ship that one (the decision reads selection numbers only)")
    return decision
  return None


def _cpu_seconds(runs_dir, result, baseline):
  """The training CPU seconds of the run and of its baseline when trained in the same study.

  Read from the run folders under `runs_dir` (`train_time.json`); None when
  `runs_dir` is not given or a folder does not record CPU time.
  """
  from sound_separation.training import child_runs  # pylint: disable=import-outside-toplevel
  if not runs_dir:
    return None
  names = [result["run"]["name"]]
  if baseline is not None and not baseline["run"].get("init_model"):
    names.append(baseline["run"]["name"])
  seconds = [child_runs.train_time(os.path.join(runs_dir, n)).get("cpu_seconds") for n in names]
  return None if any(not s for s in seconds) else seconds


def _write_card(args, result, report, target, decision):
  from sound_separation import pretrained  # pylint: disable=import-outside-toplevel
  baseline = None
  if result["run"]["init_from"] is not None:
    path = os.path.join(args.results, "runs", result["run"]["init_from"] + ".json")
    if os.path.exists(path):
      with open(path, encoding="utf-8") as f:
        baseline = json.load(f)
  name, path = _training_list(result, args.corpus)
  clips, origins = _origins(path)
  card = model_card(result, report, baseline, args.results.rstrip("/"),
                    {"list": name, "clips": clips, "origins": origins}, _architecture(target),
                    decision, _cpu_seconds(args.runs_dir, result, baseline))
  with open(os.path.join(target, pretrained.MODEL_CARD), "w", encoding="utf-8") as f:
    f.write(card)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--results", required=True)
  parser.add_argument("--run", default=None)
  parser.add_argument("--runs_dir", default=None)
  parser.add_argument("--corpus", default=None)
  parser.add_argument("--out", default=None,
                      help="the folder to write (default: the package's default model)")
  parser.add_argument("--card_only", action="store_true",
                      help="rewrite the folder's MODEL_CARD.md from the results; keep its weights")
  args = parser.parse_args(argv)
  from sound_separation import pretrained  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import export  # pylint: disable=import-outside-toplevel
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel

  report = {}
  if os.path.exists(os.path.join(args.results, "results.json")):
    with open(os.path.join(args.results, "results.json"), encoding="utf-8") as f:
      report = json.load(f)
  name = args.run or report.get("shipped")
  if not name:
    raise SystemExit("no --run given and results.json names no shipped run")
  with open(os.path.join(args.results, "runs", name + ".json"), encoding="utf-8") as f:
    result = json.load(f)
  if result.get("protocol", {}).get("post_hoc"):
    raise SystemExit(f"{name} joined the grid after the round's protocol was fixed (commit "
                     f"{result['protocol']['commit'][:10]}, {args.results}/protocol.json): a "
                     f"post-hoc run never ships; run it again in a new round")
  decision = _decision(args.results, name)
  run = result["run"]
  target = args.out or pretrained.DEFAULT_DIR
  if args.card_only:
    _write_card(args, result, report, target, decision)
    print(f"Rewrote {os.path.join(target, pretrained.MODEL_CARD)} for {name}")
    return
  if run["init_from"] is None:
    source, checkpoint = os.path.join(args.results, "baselines", f"m{run['num_sources']}"), None
    config_dir = source
  else:
    if not args.runs_dir:
      raise SystemExit(f"{name} is a fine-tune: give --runs_dir (the study's --out_dir)")
    config_dir = os.path.join(args.runs_dir, name)
    from sound_separation import run_folder  # pylint: disable=import-outside-toplevel
    checkpoints = run_folder.checkpoints(config_dir)
    folder = (run_folder.averaged(checkpoints) if result["selected"].get("averaged")
              else run_folder.kept(checkpoints))
    checkpoint = os.path.join(folder, f"ckpt-{result['selected']['step']}")
  separator, sample_rate, read = folders.load_keras_separator(config_dir, checkpoint)
  shutil.rmtree(target, ignore_errors=True)
  folders.save_separator(separator, target, sample_rate, step=result["selected"]["step"])
  _write_card(args, result, report, target, decision)
  # The LiteRT copy `separate` prefers when LiteRT is installed: the same
  # weights, written from the folder just saved.
  # Relative to the repository when run from it: `litert.json` records where
  # the copy came from, and a machine's absolute path means nothing elsewhere.
  source = os.path.relpath(target)
  source = target if source.startswith("..") else source
  export.export_litert(source, os.path.join(source, "litert"))
  size = sum(os.path.getsize(os.path.join(root, n)) for root, _, names in os.walk(target)
             for n in names)
  print(f"Shipped {name} ({read}) to {target}: {size / 1e6:.2f} MB")


if __name__ == "__main__":
  main()
