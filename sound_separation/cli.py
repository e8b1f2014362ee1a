"""The `sound-separation` command: `sound-separation <command> [--flags]`.

Commands:
  train   train (or resume) a run from gin files:
          sound-separation train --model_dir=runs/m8 \\
            --gin_file=papers/waspaa2021/yfcc100m_sparsity_m8 \\
            --gin_param="CLIP_LIST='data/yfcc/train_clip_list.txt'"
  train-classifier  pretrain the sound-event classifier of the semantic
          losses on clips with weak labels (same flags as train):
          sound-separation train-classifier --model_dir=runs/audioset_classifier \\
            --gin_file=classifier/audioset \\
            --gin_param="CLASSIFIER_TRAIN_LIST='data/audioset/train_clip_list.txt'"
  demo    synthesise a small corpus and train a small model on it for a few
          minutes; no download needed.
  evaluate  the paper's metrics of a model on a list:
          sound-separation evaluate --model=runs/m8 \\
            --data=fuss/validation_example_list.txt
  export  a run's separator as a SavedModel taking [batch, samples] of any
          length (and TFLite with --tflite).
  import-tf1  the original's TF1 checkpoints as a model folder:
          sound-separation import-tf1 --checkpoint=yfcc100m_mixit/model.ckpt-N \\
            --out_dir=models/yfcc_mixit_m8
  separate  separate audio files of any length, rate and channel count:
          sound-separation separate --model=runs/m8 --out_dir=out in.wav
  adapt   fine-tune a separator on your own unlabeled recordings:
          sound-separation adapt --audio=recordings/ --out_dir=runs/mine --minutes=20
  study   run (or resume, or re-report) a grid of baselines and loss-weight
          fine-tunes, with checkpoint selection, test metrics and Figure 1:
          sound-separation study --config=results/waspaa2021_small/study.gin \\
            --out_dir=/data/study_runs

`sound-separation <command> --help` lists a command's flags. Flags are
absl-style (`--name=value`; repeat multi-valued flags).

The command line is quiet: TensorFlow's, XLA's and absl's internal log lines
are hidden (set before TensorFlow loads; `--help` does not load it at all).
`--verbose` before or after the command, or `SOUND_SEPARATION_VERBOSE=1`,
shows them.
"""

import os
import re
import sys
import traceback

from absl import flags

from sound_separation import quiet

PROG = "sound-separation"
VERBOSE_ENV = "SOUND_SEPARATION_VERBOSE"


class UsageError(Exception):
  """A bad command line: printed with the command's usage, exit status 2."""


def _train_flags():
  fv = flags.FlagValues()
  flags.DEFINE_string("model_dir", None, "The run's folder: checkpoints, summaries, config. "
                      "An existing run resumes from its latest checkpoint.", flag_values=fv)
  flags.DEFINE_multi_string("gin_file", [], "Gin file, a path or a name under the library's "
                            "gin/ folder (e.g. papers/waspaa2021/yfcc100m_sparsity_m8); "
                            "repeatable, later files override earlier ones.", flag_values=fv)
  flags.DEFINE_multi_string("gin_param", [], "Gin binding applied after the files, e.g. "
                            "\"train.num_steps=1000\"; repeatable.", flag_values=fv)
  flags.DEFINE_enum("strategy", None, ["default", "mirrored", "multi_worker", "tpu"],
                    "Distribution strategy (overrides gin's get_strategy.name).", flag_values=fv)
  flags.DEFINE_string("tpu", None, "TPU address or name for --strategy=tpu.", flag_values=fv)
  return fv


def _demo_flags():
  fv = flags.FlagValues()
  flags.DEFINE_string("out_dir", "sound_separation_demo", "Folder for the synthetic corpus "
                      "and the model.", flag_values=fv)
  flags.DEFINE_float("minutes", 8.0, "Training time budget in minutes (synthesis and "
                     "validation come on top).", flag_values=fv)
  flags.DEFINE_integer("seed", 0, "Seed of the synthetic corpus.", flag_values=fv)
  flags.DEFINE_integer("num_train_clips", 600, "Synthetic training clips.", flag_values=fv)
  flags.DEFINE_integer("num_validation_clips", 64, "Synthetic validation clips.",
                       flag_values=fv)
  flags.DEFINE_multi_string("gin_param", [], "Extra gin binding, e.g. "
                            "\"train.num_steps=100\"; repeatable.", flag_values=fv)
  flags.DEFINE_string("train_list", None, "Your own clip list to train on instead of the "
                      "synthetic corpus (with --eval_list).", flag_values=fv)
  flags.DEFINE_string("eval_list", None, "Your own FUSS list to validate and evaluate on "
                      "(with --train_list, or alone with --pretrained).", flag_values=fv)
  flags.DEFINE_bool("pretrained", False, "Train nothing: evaluate the model that ships with "
                    "the library on --eval_list (or the synthetic mixtures) and separate "
                    "examples.", flag_values=fv)
  return fv


# Flags renamed so that a concept has one name across commands: {new: old}.
# The old spelling still works (its help says so).
OLDER_SPELLINGS = {"model": "model_dir", "out_dir": "out"}


def _string_flag(fv, name, what):
  """A string flag, and its older spelling (`OLDER_SPELLINGS`) if it has one."""
  flags.DEFINE_string(name, None, what, flag_values=fv)
  if name in OLDER_SPELLINGS:
    flags.DEFINE_string(OLDER_SPELLINGS[name], None, f"The older spelling of --{name} (still "
                        f"accepted).", flag_values=fv)


def _flag(fv, name):
  """The value of `--name`, given by its name or by its older spelling (not both, differing)."""
  value = fv[name].value
  old = OLDER_SPELLINGS.get(name)
  if old is None:
    return value
  old_value = fv[old].value
  if value and old_value and value != old_value:
    raise UsageError(f"--{old} is the older spelling of --{name}: give one of them")
  return value or old_value


def _model_flags(fv, what):
  """`--model`, and `--model_dir`, its older spelling, for the commands that read a model."""
  _string_flag(fv, "model", what)


def _model_flag(fv):
  """The model a reading command was given, by `--model` or by its old name `--model_dir`."""
  return _flag(fv, "model")


def _out_dir(fv, what):
  """`--out_dir` (or its older spelling `--out`), required."""
  out = _flag(fv, "out_dir")
  if not out:
    raise UsageError(f"--out_dir is required ({what})")
  return out


def _evaluate_flags():
  fv = flags.FlagValues()
  _model_flags(fv, "A model folder (training run or import-tf1 output), a published model's "
               "name, or an exported SavedModel...")
  flags.DEFINE_string("saved_model", None, "...or an exported SavedModel (neither: the "
                      "model that ships with the library).", flag_values=fv)
  flags.DEFINE_string("checkpoint", None, "With --model: a checkpoint prefix instead of "
                      "the latest (e.g. <model_dir>/checkpoints/best/ckpt-N).", flag_values=fv)
  flags.DEFINE_string("data", None, "A FUSS-format list: mixture then sources per line "
                      "(for --task=mom: MoM, mixture 1, mixture 2).", flag_values=fv)
  flags.DEFINE_enum("task", "fuss", ["fuss", "speech", "enhancement", "mom"], "What the "
                    "list holds and which metrics to report.", flag_values=fv)
  flags.DEFINE_string("out_dir", None, "Where summary.json and examples.csv go (default "
                      "<model>/eval/<list name>_<task>; with a SavedModel or the "
                      "shipped model, none: the table is printed).", flag_values=fv)
  flags.DEFINE_integer("max_examples", None, "Evaluate only the first examples.",
                       flag_values=fv)
  flags.DEFINE_bool("report", False, "Also write a listening page (index.html) in the output "
                    "folder (default: ./evaluation_report without one): a sample of the "
                    "list's examples with references, outputs, players, spectrograms and "
                    "scores.", flag_values=fv)
  flags.DEFINE_integer("report_examples", 8, "Examples on the listening page (spread over "
                       "the list).", flag_values=fv)
  return fv


def _run_evaluate(fv, stream):
  from sound_separation.evaluation import evaluator  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separator as separator_lib  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import chunked  # pylint: disable=import-outside-toplevel
  _require(fv, "data")
  model = _model_flag(fv)
  if model and fv.saved_model:
    given = "--model" if fv.model else "--model_dir"
    raise UsageError(f"give at most one of {given} and --saved_model (neither: the model "
                     f"that ships with the library)")
  if fv.saved_model and fv.checkpoint:
    raise UsageError("--checkpoint applies to --model, not to --saved_model")
  out_dir = fv.out_dir
  model_dir = _model_path(model)  # a published model's name: its cached folder
  if out_dir is None and model_dir and not separator_lib.is_saved_model(model_dir):
    name = os.path.splitext(os.path.basename(fv.data))[0]
    from sound_separation import run_folder  # pylint: disable=import-outside-toplevel
    out_dir = run_folder.evaluation(model_dir, f"{name}_{fv.task}")
  separator = separator_lib.load_model(model_dir or fv.saved_model or None, fv.checkpoint)
  print(f"Evaluating {separator.description} on {fv.data}", file=stream, flush=True)
  sized = chunked.for_list(separator, fv.data, fv.task, fv.max_examples)
  evaluator.evaluate(sized, fv.data, fv.task, out_dir=out_dir, max_examples=fv.max_examples,
                     stream=stream)
  if out_dir is not None:
    print(f"Wrote {out_dir}/{evaluator.SUMMARY_FILE} and {evaluator.EXAMPLES_FILE}.",
          file=stream, flush=True)
  if fv.report:
    page = evaluator.write_listening_page(
        sized, fv.data, out_dir or "evaluation_report", fv.task,
        sample_size=fv.report_examples, intro=f"Model: {separator.description}.")
    print(f"Listening page: {page}", file=stream, flush=True)


def _import_tf1_flags():
  fv = flags.FlagValues()
  flags.DEFINE_string("checkpoint", None, "The original's TF1 checkpoint: a prefix "
                      "(.../model.ckpt-3223090) or a folder (its latest).", flag_values=fv)
  _string_flag(fv, "out_dir", "The model folder to write (a --model for evaluate, export, "
               "separate, or a run's init_checkpoint).")
  flags.DEFINE_integer("sample_rate", 16000, "Hz the model was trained at (the bird "
                       "models: 22050).", flag_values=fv)
  flags.DEFINE_string("scope", None, "The model's outer variable scope, when the "
                      "checkpoint holds several models.", flag_values=fv)
  flags.DEFINE_integer("num_dilations", None, "Blocks per repeat, if not the original's 8 "
                       "(not stored in checkpoints without skip residuals).", flag_values=fv)
  flags.DEFINE_integer("hop_size", None, "Encoder hop in samples, if the window is not "
                       "2.5 ms.", flag_values=fv)
  flags.DEFINE_enum("mixture_consistency", "auto", ["auto", "predicted", "uniform", "magsq",
                                                    "none"],
                    "The consistency weighting, when the checkpoint cannot tell.",
                    flag_values=fv)
  return fv


def _run_import_tf1(fv, stream):
  from sound_separation.models import tf1_checkpoint  # pylint: disable=import-outside-toplevel
  _require(fv, "checkpoint")
  out = _out_dir(fv, "the model folder to write")
  consistency = None if fv.mixture_consistency == "none" else fv.mixture_consistency
  summary = tf1_checkpoint.import_tf1(fv.checkpoint, out, fv.sample_rate, fv.scope,
                                      fv.num_dilations, fv.hop_size, consistency)
  print(f"Imported {summary['checkpoint']}: {summary['num_sources']} outputs, "
        f"{summary['parameters']:,} parameters, {summary['variables_loaded']} variables "
        f"-> {summary['output']}", file=stream)
  for sentence in summary["assumed"]:
    print(f"  assumed: {sentence}", file=stream)
  print(f"Record: {os.path.join(out, 'tf1_import.json')}", file=stream, flush=True)


def _export_flags():
  fv = flags.FlagValues()
  _model_flags(fv, "A training run's folder (or one written by import-tf1), or a published "
               "model's name.")
  flags.DEFINE_string("checkpoint", None, "Checkpoint prefix to export instead of the "
                      "folder's latest.", flag_values=fv)
  _string_flag(fv, "out_dir", "The folder to write (new or empty).")
  flags.DEFINE_enum("format", "saved_model", ["saved_model", "litert"], "saved_model: a "
                    "TensorFlow SavedModel; litert: a LiteRT model folder, which separate "
                    "runs without TensorFlow (needs the [litert] extra to run).",
                    flag_values=fv)
  flags.DEFINE_bool("tflite", False, "With --format=saved_model: also write "
                    "<out_dir>/model.tflite.", flag_values=fv)
  return fv


def _separate_flags():
  fv = flags.FlagValues()
  flags.DEFINE_string("model", None, "A model folder (training run or import-tf1 output), "
                      "an exported SavedModel or LiteRT folder, or a published model's name "
                      "(default: the model that ships with the library).", flag_values=fv)
  flags.DEFINE_enum("runtime", "auto", ["auto", "litert", "tensorflow"], "auto: LiteRT for "
                    "a LiteRT folder, and for the shipped model when LiteRT is installed "
                    "(a fraction of TensorFlow's memory); TensorFlow otherwise.",
                    flag_values=fv)
  flags.DEFINE_string("checkpoint", None, "For a model folder: the checkpoint prefix to "
                      "use instead of its latest.", flag_values=fv)
  flags.DEFINE_string("out_dir", None, "Where the outputs go: one folder per input, "
                      "mirroring its path (a/ok.wav -> OUT/a/ok_wav/ok_source<j>.wav).",
                      flag_values=fv)
  flags.DEFINE_bool("overwrite", False, "Replace the outputs of inputs that have them "
                    "(otherwise they are skipped, so a re-run resumes).", flag_values=fv)
  flags.DEFINE_integer("num_sources", None, "Keep only this many outputs, the loudest.",
                       flag_values=fv)
  flags.DEFINE_float("chunk_seconds", 10.0, "Longer inputs are separated in chunks of "
                     "this length...", flag_values=fv)
  flags.DEFINE_float("overlap_seconds", 1.0, "...overlapping by at least this much, "
                     "matched and cross-faded.", flag_values=fv)
  flags.DEFINE_bool("report", False, "Also write OUT_DIR/index.html: every input and its "
                    "outputs with audio players, spectrograms and levels (opens from disk).",
                    flag_values=fv)
  return fv


def _model_path(value):
  """A model argument as given, or the cached folder of a published model's name."""
  from sound_separation.pretrained import registry  # pylint: disable=import-outside-toplevel
  return registry.resolve(value)


def _run_export(fv, stream):
  from sound_separation.inference import export  # pylint: disable=import-outside-toplevel
  model = _model_flag(fv)
  if not model:
    raise UsageError("--model is required (a training run's folder, an import-tf1 folder or "
                     "a published model's name)")
  out = _out_dir(fv, "the folder to write")
  if fv.format == "litert":
    if fv.tflite:
      raise UsageError("--tflite applies to --format=saved_model")
    info = export.export_litert(_model_path(model), out, checkpoint=fv.checkpoint)
    print(f"Exported {info['checkpoint']} ({info['num_sources']} outputs, "
          f"{info['sample_rate']} Hz) as a LiteRT model folder: {out}.", file=stream,
          flush=True)
    return
  result = export.export_saved_model(_model_path(model), out, checkpoint=fv.checkpoint,
                                     tflite=fv.tflite)
  print(f"Exported {result['checkpoint']} ({result['num_sources']} outputs, "
        f"{result['sample_rate']} Hz) to {result['saved_model']}"
        + (f" and {result['tflite']}" if result["tflite"] else "") + ".",
        file=stream, flush=True)


def _run_separate(fv, stream, paths):
  from sound_separation.inference import separator as separator_lib  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separate  # pylint: disable=import-outside-toplevel
  _require(fv, "out_dir")
  if not paths:
    raise UsageError("give at least one audio file or folder to separate")
  if separator_lib.litert_folder(fv.model, fv.checkpoint, fv.runtime) is None:
    _need_tensorflow()
  separator = separator_lib.load_model(fv.model, fv.checkpoint, fv.runtime)
  print(f"Model: {separator.description}", file=stream, flush=True)
  summary = separate.separate_files(separator, paths, fv.out_dir, fv.overwrite,
                                    fv.num_sources, fv.chunk_seconds, fv.overlap_seconds,
                                    stream, report=fv.report)
  return 1 if summary.failed else 0


def _study_flags():
  fv = flags.FlagValues()
  flags.DEFINE_string("config", None, "The study file (gin, binding sound_separation.Study), "
                      "e.g. results/waspaa2021_small/study.gin.", flag_values=fv)
  flags.DEFINE_string("out_dir", None, "Folder of the training runs (checkpoints, logs, "
                      "evaluation caches); large, keep it out of the repository.",
                      flag_values=fv)
  flags.DEFINE_string("results_dir", None, "Where per-run results, the baselines' separators, "
                      "table.md, results.json and figure1.png go (default: the study file's "
                      "folder).", flag_values=fv)
  flags.DEFINE_multi_string("gin_param", [], "Binding applied after the study file, e.g. "
                            "\"DEV='/data/devcorpus'\"; repeatable.", flag_values=fv)
  flags.DEFINE_string("only", None, "Train only the runs matching this pattern (e.g. "
                      "'m4/*'); the report covers every finished run.", flag_values=fv)
  flags.DEFINE_boolean("train_only", False, "Only train (or resume) the runs that can start; "
                       "select, test and report nothing (a later run without it does).",
                       flag_values=fv)
  flags.DEFINE_boolean("check_independence", False, "Train nothing: re-check the round's "
                       "committed independence record (RESULTS_DIR/independence/: the "
                       "lists' source files are pairwise disjoint and match their hashes).",
                       flag_values=fv)
  return fv


def _run_study(fv, stream):
  from sound_separation.study import runner  # pylint: disable=import-outside-toplevel
  if fv.check_independence:
    from sound_separation.study import independence  # pylint: disable=import-outside-toplevel
    if not (fv.results_dir or fv.config):
      raise UsageError("--check_independence needs --results_dir (or --config)")
    results_dir = fv.results_dir or os.path.dirname(os.path.abspath(fv.config))
    counts = independence.recheck(results_dir)
    print(f"Independent: {', '.join(f'{name} ({n} source files)' for name, n in counts.items())}"
          f" share no source file; every origins file matches its recorded hash "
          f"({os.path.join(results_dir, independence.RECORD_FOLDER)}).", file=stream)
    return
  _require(fv, "config", "out_dir")
  runner.run_study(fv.config, fv.out_dir, fv.results_dir, fv.gin_param, fv.only, stream,
                   train_only=fv.train_only)


def _require(fv, *names):
  missing = [f"--{n}" for n in names if getattr(fv, n) in (None, "")]
  if missing:
    raise UsageError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")


def _run_train(fv, stream):
  from sound_separation.training import loop  # pylint: disable=import-outside-toplevel
  _run_training(fv, stream, loop.train, "a model, losses and data",
                "papers/waspaa2021/yfcc100m_baseline_m4")


def _run_training(fv, stream, train_fn, what, example):
  """Parses the gin files and flags, then `train_fn(model_dir)` (train, train-classifier)."""
  from sound_separation import gin_utils  # pylint: disable=import-outside-toplevel
  _require(fv, "model_dir")
  if not fv.gin_file:
    raise UsageError(f"give at least one --gin_file ({what}), e.g. --gin_file={example}")
  gin_utils.parse_gin(fv.gin_file, _strategy_params(fv), finalize=True)
  result = train_fn(fv.model_dir, stream=stream)
  print(f"Done: {fv.model_dir} at step {result.step}.", file=stream, flush=True)


def _strategy_params(fv):
  """`--gin_param` bindings followed by those of `--strategy` and `--tpu`."""
  params = list(fv.gin_param)
  if fv.strategy:
    params.append(f"sound_separation.get_strategy.name = '{fv.strategy}'")
  if fv.tpu is not None:
    if fv.strategy not in (None, "tpu"):
      raise UsageError(f"--tpu needs --strategy=tpu, got --strategy={fv.strategy}")
    params.append("sound_separation.get_strategy.name = 'tpu'")
    params.append(f"sound_separation.get_strategy.tpu = {fv.tpu!r}")
  return params


def _run_train_classifier(fv, stream):
  from sound_separation.training import loop  # pylint: disable=import-outside-toplevel
  _run_training(fv, stream, loop.train_classifier, "the classifier and its data",
                "classifier/audioset")


def _run_demo(fv, stream):
  from sound_separation import demo  # pylint: disable=import-outside-toplevel
  demo.run(fv.out_dir, minutes=fv.minutes, seed=fv.seed, num_train_clips=fv.num_train_clips,
           num_validation_clips=fv.num_validation_clips, gin_params=fv.gin_param,
           train_list=fv.train_list, eval_list=fv.eval_list, pretrained=fv.pretrained,
           stream=stream)


def _adapt_flags():
  fv = flags.FlagValues()
  flags.DEFINE_string("model", None, "The model to start from: a published model's name, a "
                      "training run's or import-tf1 folder (default: the shipped model).",
                      flag_values=fv)
  flags.DEFINE_multi_string("audio", [], "A recording or a folder of recordings (searched "
                            "recursively; any length, rate, channels); repeatable.",
                            flag_values=fv)
  flags.DEFINE_string("out_dir", None, "The adaptation's folder: the adapted model "
                      "(OUT_DIR/model), its card, report and listening page. Running the same "
                      "command again resumes.", flag_values=fv)
  flags.DEFINE_float("minutes", None, "Training budget in minutes (default 20)...",
                     flag_values=fv)
  flags.DEFINE_integer("steps", None, "...or in training steps.", flag_values=fv)
  flags.DEFINE_float("sparsity_weight", None, "Weight of the L1/L2 sparsity term beside MixIT "
                     "(default: the weight the evidence in results/adapt/ chose; the run's "
                     "first line names it; docs/adapt.md); 0: MixIT alone.", flag_values=fv)
  flags.DEFINE_integer("seed", 0, "Seed of the held-out split and of training.",
                       flag_values=fv)
  return fv


def _run_adapt(fv, stream, paths):
  from sound_separation.adaptation import fine_tuning  # pylint: disable=import-outside-toplevel
  _require(fv, "out_dir")
  audio = list(fv.audio) + list(paths)
  if not audio:
    raise UsageError("give at least one recording or folder: --audio=DIR (or as arguments)")
  fine_tuning.adapt(fv.model, audio, fv.out_dir, minutes=fv.minutes, steps=fv.steps,
                    sparsity_weight=fv.sparsity_weight, seed=fv.seed, stream=stream)


def _models_flags():
  return flags.FlagValues()


def _run_models(fv, stream):
  del fv
  from sound_separation.pretrained import registry  # pylint: disable=import-outside-toplevel
  rows = registry.listing()
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  for row in rows:
    print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip(), file=stream)
  print(f"\nCache: {registry.cache_root()} (${registry.CACHE_ENV}). Use a name as "
        f"--model=NAME (separate, evaluate, export, adapt) or "
        f"load_model('NAME'); the first use downloads and converts it.", file=stream)


COMMANDS = {
    "train": (_train_flags, _run_train, "train or resume a run from gin files"),
    "train-classifier": (_train_flags, _run_train_classifier, "pretrain the sound-event "
                         "classifier on weakly labelled clips"),
    "demo": (_demo_flags, _run_demo, "train a small model on a synthetic corpus"),
    "evaluate": (_evaluate_flags, _run_evaluate, "MSi, 1S, TRF (or MoMi, speech metrics) "
                 "of a model on a list"),
    "import-tf1": (_import_tf1_flags, _run_import_tf1, "convert a published TF1 "
                   "checkpoint of the original into a model folder"),
    "export": (_export_flags, _run_export, "write a run's separator as a SavedModel "
               "(+ TFLite) or a LiteRT folder"),
    "separate": (_separate_flags, _run_separate, "separate audio files: separate "
                 "--model=DIR --out_dir=DIR in.wav ..."),
    "study": (_study_flags, _run_study, "run or resume a grid of baselines and loss-weight "
              "fine-tunes, and report Table 1 and Figure 1"),
    "adapt": (_adapt_flags, _run_adapt, "fine-tune a separator on your own unlabeled "
              "recordings: adapt --audio=DIR --out_dir=RUN [--minutes=N]"),
    "models": (_models_flags, _run_models, "list the published models (--model=NAME) and "
               "the shipped one"),
    # Subcommands with argparse of their own (`prepare.py`), dispatched in `main`.
    "prepare": (None, None, "build corpora and lists: prepare {fuss-mixtures,clips,mom-set,"
                "records,import-lists} ..."),
}

# Commands that take positional arguments (the rest are flags only).
POSITIONAL = {"separate", "adapt"}
# Commands that may run without TensorFlow (`separate` with LiteRT): they
# import it themselves when they need it (`_need_tensorflow`).
WITHOUT_TENSORFLOW = {"separate"}
_QUIET_TENSORFLOW = True


def _need_tensorflow():
  if _QUIET_TENSORFLOW:
    import_tensorflow_quietly()


def _usage():
  lines = [f"usage: {PROG} <command> [--flags]", "", "commands:"]
  width = max(len(name) for name in COMMANDS) + 2
  lines += [f"  {name:{width}s}{text}" for name, (_, _, text) in COMMANDS.items()]
  lines += ["", f"'{PROG} <command> --help' lists a command's flags; '--verbose' (or "
            f"{VERBOSE_ENV}=1) shows TensorFlow's log lines."]
  return "\n".join(lines)


def quiet_logs(verbose):
  """Hides TensorFlow's C++ (and XLA's) log lines below errors unless `verbose`.

  Must run before TensorFlow is imported: its C++ logging reads the level
  once, at load. The user's own `TF_CPP_MIN_LOG_LEVEL` wins.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")


# TensorFlow's C++ start-up notices (oneDNN, CPU features), written at
# import before its log level applies; their continuation lines follow them.
_STARTUP_NOTICE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)"
                             r"|[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\])")
_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\]")


def import_tensorflow_quietly():
  """Imports TensorFlow with its start-up notices filtered out of stderr.

  TensorFlow 2.18+ writes its info and warning notices at import through
  absl's C++ logging, which `TF_CPP_MIN_LOG_LEVEL` does not reach yet; they go
  straight to file descriptor 2 (`quiet.filtered`). Errors pass; if the
  import fails, everything it wrote is shown.
  """
  if "tensorflow" in sys.modules:
    return
  import importlib  # pylint: disable=import-outside-toplevel
  quiet.filtered(lambda: importlib.import_module("tensorflow"), _without_startup_notices)


def _without_startup_notices(lines):
  """`lines` less TensorFlow's start-up notices and their continuation lines."""
  kept, dropping = [], False
  for line in lines:
    if _STARTUP_NOTICE.match(line):
      dropping = True
      continue
    if dropping and not _LOG_LINE.match(line):
      continue  # a dropped notice's continuation
    dropping = False
    kept.append(line)
  return kept


def _set_python_logging(verbose):
  """absl's Python logging (TensorFlow's and our INFO lines) at INFO only when verbose."""
  from absl import logging  # pylint: disable=import-outside-toplevel
  logging.set_verbosity(logging.INFO if verbose else logging.WARNING)


def main(argv=None, stream=None):
  """Runs the command line `argv` (default `sys.argv`); returns the exit status."""
  argv = list(sys.argv if argv is None else argv)
  stream = stream or sys.stdout
  args = argv[1:]
  verbose = "--verbose" in args or os.environ.get(VERBOSE_ENV, "") not in ("", "0")
  args = [a for a in args if a != "--verbose"]
  if not args or args[0] in ("-h", "--help", "help"):
    print(_usage(), file=stream)
    return 0 if args else 2
  command, args = args[0], args[1:]
  if command not in COMMANDS:
    print(f"{PROG}: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
    return 2
  if command == "prepare":
    return _run_prepare(args, verbose)
  make_flags, run, _ = COMMANDS[command]
  fv = make_flags()
  if any(a in ("-h", "--help", "--helpfull") for a in args):
    print(f"usage: {PROG} {command} [--flags]\n\n{fv.get_help()}", file=stream)
    return 0
  # TensorFlow's C++ start-up chatter would bury the progress lines.
  quiet_logs(verbose)
  # TensorFlow's default CPU allocator hands large buffers back to the system
  # and faults them in again every step; BFC keeps them. Paper-size step
  # (tools/bench_train_step.py): 16.1 vs 20.2 CPU-s, 4.77 vs 5.32 GB. It only
  # takes effect if set before TensorFlow starts.
  os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
  try:
    rest = fv([f"{PROG} {command}"] + args)[1:]
    if rest and command not in POSITIONAL:
      raise UsageError(f"unexpected arguments {rest}")
    _set_python_logging(verbose)
    global _QUIET_TENSORFLOW  # pylint: disable=global-statement
    _QUIET_TENSORFLOW = not verbose
    if _QUIET_TENSORFLOW and command not in WITHOUT_TENSORFLOW:
      import_tensorflow_quietly()
    status = run(fv, stream, rest) if command in POSITIONAL else run(fv, stream)
  except (flags.Error, UsageError) as e:
    print(f"{PROG} {command}: error: {e}\n(see '{PROG} {command} --help')", file=sys.stderr)
    return 2
  except (ValueError, OSError, RuntimeError) as e:
    # Configuration errors (bad gin bindings, missing files) and I/O errors
    # (a full disk, a read-only folder: OSError names the file and the
    # cause) say what happened, which a long traceback would bury; where it
    # was raised is kept.
    return _report_error(command, e)
  except Exception as e:  # pylint: disable=broad-except
    if not _is_tensorflow_error(e):
      raise
    # TensorFlow's I/O errors (checkpoints, SavedModels) name the file and
    # the cause (e.g. "No space left on device") in their message.
    return _report_error(command, e)
  return status or 0


def _run_prepare(args, verbose):
  from sound_separation import prepare  # pylint: disable=import-outside-toplevel
  quiet_logs(verbose)
  _set_python_logging(verbose)
  try:
    return prepare.main(args, prog=f"{PROG} prepare",
                        before_work=None if verbose else import_tensorflow_quietly)
  except SystemExit as e:  # argparse's --help and usage errors
    return e.code if isinstance(e.code, int) else 2


def _report_error(command, e):
  frame = traceback.extract_tb(e.__traceback__)[-1]
  # TensorFlow's errors carry their text in `message` (str() adds the op's
  # context); for everything else `message` may be a class attribute (the
  # `FileError` template), so str() it is.
  text = e.message if _is_tensorflow_error(e) else str(e)
  message = " ".join(str(text).split())
  print(f"{PROG} {command}: error: {message}\n  ({type(e).__name__} raised at "
        f"{frame.filename}:{frame.lineno})", file=sys.stderr)
  return 1


def _is_tensorflow_error(e):
  tf = sys.modules.get("tensorflow")
  return tf is not None and isinstance(e, tf.errors.OpError)


def console_main():
  sys.exit(main())
