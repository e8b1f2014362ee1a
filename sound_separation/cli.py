"""The `sound-separation` command: `sound-separation <command> [--flags]`.

Commands:
  train   train (or resume) a run from gin files:
          sound-separation train --model_dir=runs/m8 \\
            --gin_file=papers/waspaa2021/yfcc100m_sparsity_m8 \\
            --gin_param="CLIP_LIST='data/yfcc/train_clip_list.txt'"
  demo    synthesise a small corpus and train a small model on it for a few
          minutes; no download needed.

`sound-separation <command> --help` lists a command's flags. Flags are
absl-style (`--name=value`; repeat multi-valued flags).
"""

import os
import sys
import traceback

from absl import flags

PROG = "sound-separation"


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
  return fv


def _run_train(fv, stream):
  from sound_separation import gin_utils  # pylint: disable=import-outside-toplevel
  from sound_separation.training import loop  # pylint: disable=import-outside-toplevel
  if not fv.model_dir:
    raise UsageError("--model_dir is required")
  if not fv.gin_file:
    raise UsageError("give at least one --gin_file (a model, losses and data), e.g. "
                     "--gin_file=papers/waspaa2021/yfcc100m_baseline_m4")
  params = list(fv.gin_param)
  if fv.strategy:
    params.append(f"sound_separation.get_strategy.name = '{fv.strategy}'")
  if fv.tpu is not None:
    if fv.strategy not in (None, "tpu"):
      raise UsageError(f"--tpu needs --strategy=tpu, got --strategy={fv.strategy}")
    params.append("sound_separation.get_strategy.name = 'tpu'")
    params.append(f"sound_separation.get_strategy.tpu = {fv.tpu!r}")
  gin_utils.parse_gin(fv.gin_file, params, finalize=True)
  result = loop.train(fv.model_dir, stream=stream)
  print(f"Done: {fv.model_dir} at step {result.step}.", file=stream, flush=True)


def _run_demo(fv, stream):
  from sound_separation import demo  # pylint: disable=import-outside-toplevel
  demo.run(fv.out_dir, minutes=fv.minutes, seed=fv.seed, num_train_clips=fv.num_train_clips,
           num_validation_clips=fv.num_validation_clips, gin_params=fv.gin_param,
           stream=stream)


COMMANDS = {
    "train": (_train_flags, _run_train, "train or resume a run from gin files"),
    "demo": (_demo_flags, _run_demo, "train a small model on a synthetic corpus"),
}


def _usage():
  lines = [f"usage: {PROG} <command> [--flags]", "", "commands:"]
  lines += [f"  {name:8s}{text}" for name, (_, _, text) in COMMANDS.items()]
  lines += ["", f"'{PROG} <command> --help' lists a command's flags."]
  return "\n".join(lines)


def main(argv=None, stream=None):
  """Runs the command line `argv` (default `sys.argv`); returns the exit status."""
  argv = list(sys.argv if argv is None else argv)
  stream = stream or sys.stdout
  args = argv[1:]
  if not args or args[0] in ("-h", "--help", "help"):
    print(_usage(), file=stream)
    return 0 if args else 2
  command, args = args[0], args[1:]
  if command not in COMMANDS:
    print(f"{PROG}: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
    return 2
  make_flags, run, _ = COMMANDS[command]
  fv = make_flags()
  if any(a in ("-h", "--help", "--helpfull") for a in args):
    print(f"usage: {PROG} {command} [--flags]\n\n{fv.get_help()}", file=stream)
    return 0
  # TensorFlow's C++ start-up chatter would bury the progress lines.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    rest = fv([f"{PROG} {command}"] + args)
    if len(rest) > 1:
      raise UsageError(f"unexpected arguments {rest[1:]}")
    from absl import logging  # pylint: disable=import-outside-toplevel
    logging.set_verbosity(logging.INFO)
    run(fv, stream)
  except (flags.Error, UsageError) as e:
    print(f"{PROG} {command}: error: {e}\n(see '{PROG} {command} --help')", file=sys.stderr)
    return 2
  except (ValueError, FileNotFoundError) as e:
    # Configuration errors (bad gin bindings, missing files) name their
    # cause, which a long traceback would bury; where it was raised is kept.
    frame = traceback.extract_tb(e.__traceback__)[-1]
    print(f"{PROG} {command}: error: {e}\n  ({type(e).__name__} raised at "
          f"{frame.filename}:{frame.lineno})", file=sys.stderr)
    return 1
  return 0


def console_main():
  sys.exit(main())
