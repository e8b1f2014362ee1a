"""`adapt`: fine-tune a separator on a user's own unlabeled recordings (docs/adapt.md).

`adapt(model, audio, out_dir, minutes=... | steps=...)`:

1. resolves the starting model (the shipped one, a published model's name,
   a run folder or an import-tf1 folder; not a SavedModel or LiteRT folder,
   which hold no trainable weights) and its sample rate;
2. cuts the recordings into clips and holds out whole recordings as
   mixtures of mixtures (`recordings.prepare`);
3. times a few training steps on this machine and prints the estimate;
4. fine-tunes with MixIT and L1/L2 sparsity (`gin/adapt/finetune.gin`;
   MixIT alone when `sparsity_weight` is 0) in a child process
   (`training.child_runs`), resumable with the same call, until the budget;
5. scores every kept checkpoint and the starting model on the held-out
   MoMs (MoMi) and picks the best checkpoint;
6. writes the adapted model folder (`<out_dir>/model`, usable by
   `separate`, `evaluate`, `export`), its `MODEL_CARD.md`, `report.json`
   and a before/after listening page (`<out_dir>/listen/index.html`).

Layout of `out_dir`: `adapt.json` (the request; a different request in the
same folder is refused), `data/` (clips and lists), `train/` (the training
run), `selection/step-<N>.json` (held-out scores per checkpoint), `model/`,
`report.json`, `listen/`.
"""

import math
import os
import sys
import typing

import numpy as np

from sound_separation import filesystem
from sound_separation import pretrained
from sound_separation import run_folder
from sound_separation.adaptation import recordings as recordings_lib
from sound_separation.data import audio
from sound_separation.evaluation import evaluator
from sound_separation.evaluation import listening
from sound_separation.evaluation import metrics as metrics_lib
from sound_separation.inference import separator as separator_lib
from sound_separation.models import folders
from sound_separation.pretrained import registry
from sound_separation.study import arms
from sound_separation.study import intervals
from sound_separation.training import child_runs
from sound_separation.training import progress

RECIPE = "adapt/finetune"
STATE_FILE = run_folder.ADAPTATION_FILE
REPORT_FILE = "report.json"
# Steps timed before the run starts (the first PROBE_WARMUP are not counted).
PROBE_STEPS = 30
PROBE_WARMUP = 10
# About this many checkpoints are scored over a run.
NUM_CHECKPOINTS = 12
DEFAULT_MINUTES = 20.0
# The L1/L2 sparsity weight by default: the evidence's pick (results/adapt/,
# plan amendment 2: two-speaker MSi 3.93 dB against MixIT alone's 1.47).
DEFAULT_SPARSITY_WEIGHT = 5.0
LISTENING_EXAMPLES = 6


class AdaptError(ValueError):
  """A request `adapt` refuses: an untrainable model, a folder holding another adaptation."""


class AdaptResult(typing.NamedTuple):
  model_dir: str  # the adapted model folder.
  report: dict  # report.json.


def starting_model(model):
  """`(folder, name)` of the model to fine-tune (module doc, step 1).

  Raises:
    AdaptError: a SavedModel, a LiteRT folder, or a folder with no separator.
  """
  name = "the shipped model" if model in (None, "", "default") else str(model)
  folder = pretrained.default_model_dir() if model in (None, "", "default") else os.fspath(
      registry.resolve(model))
  if not filesystem.isdir(folder):
    raise AdaptError(f"--model {name!r}: no such folder or published model name (see "
                     f"'sound-separation models')")
  if separator_lib.is_saved_model(folder):
    raise AdaptError(f"--model {folder}: a SavedModel holds no trainable separator; give the "
                     f"run folder it was exported from")
  if not filesystem.exists(run_folder.separator_file(folder)):
    from sound_separation.inference import litert  # pylint: disable=import-outside-toplevel
    what = ("a LiteRT model folder (inference only)" if litert.is_litert_model(folder)
            else f"not a model folder (no {run_folder.SEPARATOR_FILE})")
    raise AdaptError(f"--model {folder}: {what}; adapt fine-tunes a training run's folder, an "
                     f"import-tf1 folder, a published model's name or the shipped model")
  if folders.newest_intact(run_folder.checkpoints(folder)) is None:
    raise AdaptError(f"--model {folder}: no intact checkpoint in "
                     f"{run_folder.checkpoints(folder)}")
  return folder, name


def _request(model, folder, audio, arm, sparsity_weight, seed):
  # The shipped model and a published one by name, not by where this
  # installation keeps them: a re-run from another checkout is the same request.
  shipped = model in (None, "", "default")
  named = not shipped and registry.is_name(model) and not os.path.exists(model)
  return {"model": "default" if shipped else model if named else os.path.abspath(folder),
          "audio": [os.path.abspath(os.fspath(p)) for p in audio],
          "arm": arm, "sparsity_weight": float(sparsity_weight), "seed": int(seed)}


def _claim_folder(out_dir, request):
  """Records the request in `adapt.json`, or refuses a folder holding another one."""
  path = filesystem.join(out_dir, STATE_FILE)
  if filesystem.exists(path):
    state = run_folder.read_json(path)
    differ = [k for k in request if state.get("request", {}).get(k) != request[k]]
    if differ:
      raise AdaptError(
          f"--out_dir {out_dir} already holds another adaptation ({path}: its "
          f"{', '.join(differ)} differ: {', '.join(repr(state['request'].get(k)) for k in differ)}"
          f"); choose another --out_dir, or delete it to start over")
    return state
  if filesystem.isdir(out_dir) and filesystem.listdir(out_dir):
    raise AdaptError(f"--out_dir {out_dir} is not empty and holds no adaptation ({STATE_FILE}); "
                     f"choose a new or empty folder")
  state = {"request": request}
  filesystem.makedirs(out_dir)
  run_folder.write_json(path, state)
  return state


def _save_state(out_dir, state):
  run_folder.write_json(filesystem.join(out_dir, STATE_FILE), state)


def _train_params(model_folder, sample_rate, data, arm, sparsity_weight, seed):
  bindings, _ = folders.separator_gin_bindings(model_folder)
  return bindings + arms.get(arm).bindings(sparsity_weight) + [
      f"sound_separation.training_dataset.unsupervised_list = {data['train_clip_list']!r}",
      f"sound_separation.training_dataset.sample_rate = {sample_rate}",
      f"sound_separation.train.sample_rate = {sample_rate}",
      f"sound_separation.train.init_checkpoint = {os.path.abspath(model_folder)!r}",
      f"sound_separation.train.seed = {int(seed)}",
  ]


def _schedule(steps, minutes, seconds_per_step):
  """`(num_steps, steps_per_checkpoint)` for the budget."""
  expected = steps if steps is not None else max(1, int(minutes * 60 / seconds_per_step))
  every = max(10, int(round(expected / NUM_CHECKPOINTS / 10.0)) * 10)
  if steps is not None:
    return steps, every
  # A time budget stops the run; the step count only bounds it, at twice the
  # steps the timing expects (what the progress lines count towards).
  return every * -(-2 * expected // every), every


def _score(model, prefix, mom_list, cache):
  """Held-out MoM records of one checkpoint, cached in `cache`."""
  if filesystem.exists(cache):
    return run_folder.read_json(cache)["records"]
  records, _ = evaluator.score_examples(model.load(prefix), mom_list, "mom", model.sample_rate)
  run_folder.write_json(cache, {"prefix": prefix, "records": records})
  return records


def _momi(records):
  return metrics_lib.summarize(records).get("MoMi")


def _check_budget(minutes, steps):
  if minutes is not None and steps is not None:
    raise AdaptError("give --minutes or --steps, not both")
  if steps is not None and (not isinstance(steps, int) or steps < 1):
    raise AdaptError(f"--steps must be a positive integer, got {steps!r}")
  if minutes is not None and not (isinstance(minutes, (int, float)) and math.isfinite(minutes)
                                  and minutes > 0):
    raise AdaptError(f"--minutes must be a positive number, got {minutes!r}")
  return (DEFAULT_MINUTES if minutes is None and steps is None else minutes), steps


def adapt(model=None, audio=(), out_dir=None, minutes=None, steps=None, sparsity_weight=None,
          seed=0, stream=None, python=sys.executable, env=None):
  """Fine-tunes `model` on the recordings `audio` (module doc); resumable.

  Args:
    model: None or 'default' (the shipped model), a published model's name,
      or a model folder (training run, import-tf1 output).
    audio: audio files and folders (searched recursively): any length,
      rate, channel count and format the library reads.
    out_dir: the adaptation's folder (new, empty, or this adaptation's).
    minutes: training budget in minutes of the training process's wall time
      (default 20 when `steps` is not given)...
    steps: ...or in optimizer steps.
    sparsity_weight: the weight of the L1/L2 sparsity term beside MixIT;
      None: `DEFAULT_SPARSITY_WEIGHT`, the evidence's pick (docs/adapt.md
      says why); 0: MixIT alone.
    seed: the run's seed (initial data order, crops, MoM pairing) and the
      held-out split's.
    stream: where the report and progress go (default stdout).
    python, env: the training child's interpreter and environment.

  Returns:
    `AdaptResult(model_dir, report)`.

  Raises:
    AdaptError: a bad request (the message names the argument or folder).
    FileError / NotEnoughAudioError: from reading the recordings.
    RuntimeError: the training child failed (its log is named); calling
      again resumes.
  """
  stream = stream or sys.stdout
  minutes, steps = _check_budget(minutes, steps)
  if not out_dir:
    raise AdaptError("--out_dir is required")
  if not audio:
    raise AdaptError("give at least one recording or folder of recordings (--audio)")
  if sparsity_weight is None:
    sparsity_weight = DEFAULT_SPARSITY_WEIGHT
  if not (isinstance(sparsity_weight, (int, float)) and sparsity_weight >= 0):
    raise AdaptError(f"--sparsity_weight must be a number >= 0, got {sparsity_weight!r}")
  arm = "l1_l2" if sparsity_weight > 0 else "mixit"
  folder, name = starting_model(model)
  _, sample_rate = folders.separator_gin_bindings(folder)
  out_dir = os.fspath(out_dir)
  state = _claim_folder(out_dir, _request(model, folder, audio, arm, sparsity_weight, seed))

  recipe = (f"MixIT + L1/L2 sparsity at weight {sparsity_weight:g}" if arm != "mixit"
            else "MixIT alone")
  print(f"Adapting {name} ({folder}, {sample_rate} Hz) into {out_dir} with {recipe}.",
        file=stream, flush=True)
  data = recordings_lib.prepare(audio, filesystem.join(out_dir, "data"), sample_rate, seed=seed,
                                stream=stream)
  print(f"Recordings: {data['files']} files, {data['hours']:.2f} h, {data['clips']} clips of "
        f"{recordings_lib.CLIP_SECONDS:g} s ({data['silent_clips']} silent clips dropped); "
        f"training on {data['train']['recordings']} recordings ({data['train']['clips']} clips), "
        f"holding out {data['heldout']['recordings']} ({data['heldout']['moms']} mixtures of "
        f"mixtures).", file=stream, flush=True)
  for path, reason in data["skipped"]:
    print(f"  skipped {path}: {reason}", file=stream, flush=True)

  params = _train_params(folder, sample_rate, data, arm, sparsity_weight, seed)
  if "seconds_per_step" not in state:
    print(f"Timing {PROBE_STEPS} training steps on this machine...", file=stream, flush=True)
    state["seconds_per_step"] = child_runs.time_steps(
        filesystem.join(out_dir, "probe"), [RECIPE], params, PROBE_STEPS, PROBE_WARMUP,
        python=python, env=env)
    _save_state(out_dir, state)
  seconds_per_step = state["seconds_per_step"]
  num_steps, every = _schedule(steps, minutes, seconds_per_step)
  train_dir = filesystem.join(out_dir, "train")
  done_step = max((s for s, _ in child_runs.kept_checkpoints(train_dir)), default=0)
  spent = child_runs.train_time(train_dir)["seconds"]
  if steps is not None:
    remaining = max(0, steps - done_step) * seconds_per_step
    print(f"Estimate: {seconds_per_step:.3f} s/step here, so {steps} steps take "
          f"{progress.duration(steps * seconds_per_step)} of training"
          + (f" ({progress.duration(remaining)} left)" if done_step else "") + ".",
          file=stream, flush=True)
    trained = done_step >= steps
  else:
    remaining = minutes * 60 - spent
    print(f"Estimate: {seconds_per_step:.3f} s/step here, so {minutes:g} min train about "
          f"{int(minutes * 60 / seconds_per_step)} steps"
          + (f" ({progress.duration(max(remaining, 0))} left)" if spent else "") + ".",
          file=stream, flush=True)
    trained = remaining < 15
    params.append(f"sound_separation.train.time_limit_seconds = {max(remaining, 1.0)!r}")
  params += [f"sound_separation.train.num_steps = {num_steps}",
             f"sound_separation.train.steps_per_checkpoint = {every}",
             f"sound_separation.train.keep_checkpoint_every_steps = {every}"]
  if not trained:
    child_runs.train(train_dir, [RECIPE], params, "adapt", stream, python=python, env=env)
  else:
    print("Training is done (the budget is spent); selecting and writing.", file=stream,
          flush=True)
  report = _select_and_write(out_dir, folder, name, data, state, stream)
  return AdaptResult(run_folder.model_subfolder(out_dir), report)


def _select_and_write(out_dir, start_folder, start_name, data, state, stream):
  """Scores the checkpoints on the held-out MoMs, writes the model, card, report and page."""
  train_dir = filesystem.join(out_dir, "train")
  model = child_runs.CheckpointSeparator(train_dir)
  start_prefix = folders.newest_intact(run_folder.checkpoints(start_folder))
  mom_list = data["heldout_mom_list"]
  # Step 0 is the starting model (a fine-tune writes no checkpoint at step 0).
  before = _score(model, start_prefix, mom_list, run_folder.selection_cache(out_dir, 0))
  history = [{"step": 0, "prefix": start_prefix, "MoMi": _momi(before)}]
  print(f"Held-out MoMi of the starting model: {history[0]['MoMi']:.2f} dB", file=stream,
        flush=True)
  scored = {0: before}
  for step, prefix in child_runs.kept_checkpoints(train_dir):
    records = _score(model, prefix, mom_list, run_folder.selection_cache(out_dir, step))
    scored[step] = records
    history.append({"step": step, "prefix": prefix, "MoMi": _momi(records)})
    print(f"  step {step}: held-out MoMi {history[-1]['MoMi']:.2f} dB", file=stream, flush=True)
  best = max(history, key=lambda h: (h["MoMi"] if h["MoMi"] is not None else -math.inf,
                                     -h["step"]))
  after = scored[best["step"]]
  delta = intervals.paired_bootstrap([after], [before], "MoMi")

  model_dir = run_folder.model_subfolder(out_dir)
  if filesystem.exists(model_dir):
    filesystem.rmtree(model_dir)
  model.load(best["prefix"])
  folders.save_separator(model.separator, model_dir, model.sample_rate, step=best["step"])
  spent = child_runs.train_time(train_dir)
  report = {
      "started_from": {"name": start_name, "folder": start_folder, "checkpoint": start_prefix},
      "request": state["request"],
      "data": {k: data[k] for k in ("files", "hours", "clips", "silent_clips", "train",
                                    "heldout", "skipped")},
      "training": {"steps": max(h["step"] for h in history),
                   "wall_seconds": round(spent["seconds"], 1),
                   "cpu_seconds": round(spent.get("cpu_seconds", 0.0), 1),
                   "seconds_per_step": state["seconds_per_step"]},
      "selection": {"rule": "highest held-out MoMi (ties: the earlier step; step 0 is the "
                            "starting model)",
                    "history": [{"step": h["step"], "MoMi": h["MoMi"]} for h in history],
                    "selected_step": best["step"]},
      "heldout_momi": {"before": history[0]["MoMi"], "after": best["MoMi"],
                       "delta": delta["delta"], "low": delta["low"], "high": delta["high"],
                       "num_moms": len(before)},
  }
  run_folder.write_json(filesystem.join(out_dir, REPORT_FILE), report)
  filesystem.write_text(filesystem.join(model_dir, run_folder.MODEL_CARD), model_card(report))
  page = _listening_page(out_dir, model, start_prefix, best["prefix"], data, report)
  m = report["heldout_momi"]
  interval = ("" if m["low"] is None else f" [{m['low']:+.2f}, {m['high']:+.2f}]")
  print(f"Selected step {best['step']}: held-out MoMi {m['before']:.2f} -> {m['after']:.2f} dB "
        f"({m['delta']:+.2f}{interval}, 95 % paired bootstrap over {m['num_moms']} held-out "
        f"mixtures of mixtures).", file=stream, flush=True)
  if best["step"] == 0:
    print("No checkpoint beat the starting model on the held-out recordings: the adapted "
          "folder holds the starting model's weights.", file=stream, flush=True)
  print(f"Adapted model: {model_dir} (card: {run_folder.MODEL_CARD}); listen: {page}", file=stream,
        flush=True)
  return report


def model_card(report):
  """The adapted folder's MODEL_CARD.md, from `report`."""
  d, t, m = report["data"], report["training"], report["heldout_momi"]
  interval = ("no interval" if m["low"] is None
              else f"95 % interval [{m['low']:+.2f}, {m['high']:+.2f}]")
  return "\n".join([
      "# Model card: an adapted separator (`sound-separation adapt`)",
      "",
      f"- **Adapted from**: {report['started_from']['name']} "
      f"(`{report['started_from']['checkpoint']}`).",
      f"- **On**: {d['files']} recordings, {d['hours']:.2f} h ({d['train']['recordings']} "
      f"recordings, {d['train']['hours']:.2f} h trained on; {d['heldout']['recordings']} "
      f"held out, never trained on); {len(d['skipped'])} files skipped.",
      "- **Recipe**: MixIT on mixtures of mixtures of the recordings' clips"
      + (f" with L1/L2 sparsity at weight {report['request']['sparsity_weight']:g}"
         if report["request"]["arm"] != "mixit" else " alone")
      + f" (`gin/adapt/finetune.gin`), seed {report['request']['seed']}.",
      f"- **For how long**: {t['steps']} steps, {t['wall_seconds'] / 60:.1f} min of training "
      f"wall time ({t['cpu_seconds'] / 60:.1f} CPU-minutes).",
      f"- **Checkpoint**: step {report['selection']['selected_step']}, the highest held-out "
      f"MoMi of {len(report['selection']['history'])} scored (step 0 is the starting model).",
      f"- **Held-out MoMi** ({m['num_moms']} mixtures of two held-out clips): before "
      f"{m['before']:.2f} dB, after {m['after']:.2f} dB, difference {m['delta']:+.2f} dB "
      f"({interval}, paired bootstrap over the mixtures).",
      "",
      "MoMi says how well the outputs can be regrouped into the two recordings of each",
      "held-out mixture of mixtures. It needs no references, but it cannot see whether the",
      "sources *within* one recording were separated (merging them costs nothing), nor",
      "whether a whole recording was split across outputs: listen to the page beside this",
      "folder (`listen/index.html`) before trusting it (docs/adapt.md).",
      "",
  ])


def _listening_page(out_dir, model, start_prefix, adapted_prefix, data, report):
  """Held-out clips through the starting and the adapted model, side by side."""
  page_dir = filesystem.join(out_dir, "listen")
  if filesystem.exists(page_dir):
    filesystem.rmtree(page_dir)
  by_recording = {}
  for path in data["heldout_clips"]:
    by_recording.setdefault(os.path.dirname(path), []).append(path)
  chosen = [paths[len(paths) // 2] for paths in by_recording.values()][:LISTENING_EXAMPLES]
  m = report["heldout_momi"]
  page = listening.ListeningPage(
      "Adaptation: before and after, on held-out recordings",
      intro=(f"Starting model: {report['started_from']['name']}. Adapted: step "
             f"{report['selection']['selected_step']} of {report['training']['steps']}. "
             f"Held-out MoMi {m['before']:.2f} → {m['after']:.2f} dB. Each clip comes from a "
             f"recording that was never trained on."))
  for path in chosen:
    waveform = audio.read_audio(path, model.sample_rate)
    columns = []
    for heading, prefix in (("starting model", start_prefix), ("adapted", adapted_prefix)):
      outputs = model.load(prefix).separate(waveform)
      active = listening.outputs_activity(outputs, waveform)
      columns.append((heading, [listening.Track(f"output {j}", None, o, model.sample_rate,
                                                active=active[j])
                                for j, o in enumerate(outputs)]))
    page.add(os.path.relpath(path, filesystem.join(out_dir, "data")),
             [listening.Track("recording (input)", path, waveform, model.sample_rate)],
             columns=columns)
  return page.write(page_dir)
