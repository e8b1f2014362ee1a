"""`sound-separation prepare ...`: build the corpora and lists the library reads.

Each subcommand is a thin command line over `sound_separation.corpus` (the
logic, importable and tested there; docs/formats.md for what they write):

| subcommand | module | writes |
|---|---|---|
| `fuss-mixtures` | `corpus/mixing.py` | FUSS-style mixtures of labelled clips |
| `clips` | `corpus/clips.py` | fixed-length clips of long recordings, a clip list |
| `mom-set` | `corpus/mom_sets.py` | a mixture-of-mixtures evaluation set |
| `records` | `corpus/records.py` | sharded TFRecords of a list |
| `import-lists` | `corpus/public_lists.py` | YFCC100m, FUSS and LibriMix lists |

`run("clips", argv)` runs one command in-process (the tests do). The library is imported only after the arguments
parse, so `--help` and usage errors are instant. Bad input ends with exit
status 1 and one line naming the file (ValueError, the library's FileError,
OSError); bad arguments with status 2.
"""

import argparse
import os
import sys

DOCS = {    "fuss-mixtures": r"""Builds FUSS-style mixtures (1 background + 0-3 foregrounds) from labelled clips.

Example:
  sound-separation prepare fuss-mixtures --clips_root clips/ \
      --background_labels rain,traffic --out_dir fuss_like/ --split train \
      --num_mixtures 1000 --seed 0

Writes <out_dir>/<split>/example<i>/mixture.wav and source<j>_<label>.wav
(source 0 the background; 16-bit PCM, the mixture the exact sum of its
sources), <split>_example_list.txt, <split>_clip_list.txt (each mixture's
labels) and labels.txt. See sound_separation/corpus/mixing.py for the rules.
""",
    "clips": r"""Cuts long recordings into fixed-length clips with their weak labels.

Example:
  sound-separation prepare clips --manifest recordings.csv --out_dir clips/ \
      --split train --tail drop --min_rms_dbfs -60

The manifest is a CSV with a header and the columns path,labels (labels
separated by ';', or by ',' in a quoted field; may be empty; paths relative
to the CSV). Any rate and channel count is read, downmixed and resampled.
Writes <out_dir>/<split>/<row>_<name>/clip<k>.wav (clip k starts at
k * clip_seconds), <split>_clip_list.txt and, if any recording has labels,
labels.txt. See sound_separation/corpus/clips.py.
""",
    "mom-set": r"""Builds a mixture-of-mixtures (MoM) evaluation set from single mixtures.

Example:
  sound-separation prepare mom-set --clip_list clips/test_clip_list.txt \
      --out_dir mom_test/ --split test --seed 0

Pairs the list's mixtures deterministically (each used at most once) and
writes <out_dir>/<split>/mom<i>/mom.wav = mixture1.wav + mixture2.wav (exact
16-bit sum), <split>_mom_list.txt (a FUSS list: mom, mixture1, mixture2; the
evaluator's "mom" task reads it) and <split>_mom_origins.txt (the input
files of each MoM). See sound_separation/corpus/mom_sets.py.
""",
    "records": r"""Turns a clip list or a FUSS list into sharded TFRecords for fast training input.

Example:
  sound-separation prepare records --clip_list wild/train_example_list.txt \
      --vocabulary wild/labels.txt --out_prefix records/wild_train --sample_rate 16000
  sound-separation prepare records --fuss_list fuss/train_example_list.txt \
      --out_prefix gs://bucket/fuss/train --num_shards 64

Writes <out_prefix>-00000-of-NNNNN.tfrecord ... and <out_prefix>.index.json
(shard names and counts, sample rate, vocabulary): 16-bit PCM at the model's
rate, a clip (+ its label indices) or a FUSS example (mixture, then its
sources) per record, round-robin over the shards. Train on them with
`training_dataset.unsupervised_list = '<out_prefix>.index.json'` and
`unsupervised_format = 'records'`. Paths may be on any TensorFlow
filesystem (gs://, ...). See sound_separation/corpus/records.py.
""",
    "import-lists": r"""Imports public dataset lists into this library's list formats.

Subcommands:
  yfcc      YFCC100m MixIT clip CSV + local audio -> 10 s clips and a clip list
            (--mom: the test MoM CSV -> a MoM set)
  fuss      a FUSS <split>_example_list.txt -> checked, rewritten FUSS list
  librimix  a LibriMix metadata CSV -> a FUSS list for separation or enhancement

Examples:
  sound-separation prepare import-lists yfcc --csv yfcc100m_clip_lists/train.csv \
      --audio_dir yfcc_audio/ --out_dir yfcc/ --split train --on_missing skip
  sound-separation prepare import-lists fuss --list fuss/ssdata/eval_example_list.txt \
      --out_list fuss/ssdata/eval_example_list.checked.txt --check_audio
  sound-separation prepare import-lists librimix \
      --csv Libri2Mix/wav16k/min/metadata/mixture_test_mix_clean.csv \
      --out_list lists/libri2mix_test_separation.txt --task separation \
      --path_prefix /old/storage/=/data/

Missing files stop the run with an error naming the file (exit 1), or with
--on_missing skip are left out and counted. See
sound_separation/corpus/public_lists.py for the formats.
""",
}


# ----------------------------------------------------------------------------
# Argument types and reporting.

def existing_file(text):
  """An argparse type: a path that is an existing file."""
  if not os.path.isfile(text):
    raise argparse.ArgumentTypeError(f"no such file: '{text}'")
  return text


def existing_dir(text):
  """An argparse type: a path that is an existing folder."""
  if not os.path.isdir(text):
    raise argparse.ArgumentTypeError(f"no such folder: '{text}'")
  return text


def _labels(text):
  return [name.strip() for name in text.split(",") if name.strip()]


def _prefix(text):
  old, sep, new = text.partition("=")
  if not sep or not old:
    raise argparse.ArgumentTypeError(f"expected OLD=NEW, got '{text}'")
  return old, new


def _report_skipped(prog, skipped, missing, what="rows"):
  """Prints how many rows were skipped for missing files, and the first few."""
  if skipped:
    shown = ", ".join(f"'{m}'" for m in missing[:3])
    more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
    print(f"{prog}: skipped {skipped} {what} with missing files: {shown}{more}",
          file=sys.stderr)


# ----------------------------------------------------------------------------
# The subcommands: each adds its arguments to a parser, and does its work.

def _fuss_mixtures_args(p):
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--clips_root", type=existing_dir,
                      help="a folder of label folders: <root>/<label>/*.wav|flac|ogg")
  source.add_argument("--manifest", type=existing_file,
                      help="a CSV with a header and the columns path,label,role (role: "
                      "background or foreground; paths relative to the CSV)")
  p.add_argument("--background_labels", type=_labels, default=[],
                 help="with --clips_root: comma-separated labels whose clips are backgrounds")
  p.add_argument("--background_min_seconds", type=float, default=None,
                 help="with --clips_root: clips longer than this are backgrounds too (FUSS "
                 "used 10)")
  p.add_argument("--out_dir", required=True, help="the output folder (created if missing)")
  p.add_argument("--split", default="train", help="split name: folder and list prefix")
  p.add_argument("--num_mixtures", type=int, required=True)
  p.add_argument("--seed", type=int, default=0, help="same seed and inputs, same files")
  p.add_argument("--clip_seconds", type=float, default=10.0)
  p.add_argument("--sample_rate", type=int, default=16000)
  p.add_argument("--max_foreground", type=int, default=3, help="0-3")
  p.add_argument("--min_foreground", type=int, default=0)
  p.add_argument("--allow_same_label", action="store_true",
                 help="allow a label twice in a mixture (distinct clips still)")
  p.add_argument("--snr_db", type=float, nargs=2, default=[-5.0, 25.0], metavar=("LOW", "HIGH"),
                 help="foreground level re the background, uniform in dB")
  p.add_argument("--peak_dbfs", type=float, nargs=2, default=[-10.0, -1.0],
                 metavar=("LOW", "HIGH"), help="peak of the loudest of mixture and sources")


def _fuss_mixtures_check(args, p):
  if args.manifest and (args.background_labels or args.background_min_seconds is not None):
    p.error("--background_labels and --background_min_seconds go with --clips_root; "
            "a manifest gives each clip's role")
  if args.clips_root and not (args.background_labels or args.background_min_seconds is not None):
    p.error("with --clips_root, say which clips are backgrounds: --background_labels "
            "and/or --background_min_seconds")


def _fuss_mixtures(args, prog):
  del prog
  from sound_separation.corpus import mixing  # pylint: disable=import-outside-toplevel
  if args.manifest:
    clips = mixing.read_clip_manifest(args.manifest)
  else:
    clips = mixing.clips_from_folders(args.clips_root, args.background_labels,
                                      args.background_min_seconds)
  files = mixing.write_mixtures(
      clips, args.out_dir, args.split, args.num_mixtures, seed=args.seed,
      clip_seconds=args.clip_seconds, sample_rate=args.sample_rate,
      max_foreground=args.max_foreground, min_foreground=args.min_foreground,
      allow_same_label=args.allow_same_label, snr_db=args.snr_db, peak_dbfs=args.peak_dbfs)
  print(f"{args.num_mixtures} mixtures from {len(clips)} clips; wrote {files.fuss_list}, "
        f"{files.clip_list}, {files.vocabulary}")


def _clips_args(p):
  p.add_argument("--manifest", type=existing_file, required=True,
                 help="CSV with the columns path,labels")
  p.add_argument("--out_dir", required=True, help="the output folder (created if missing)")
  p.add_argument("--split", default="train", help="split name: folder and list prefix")
  p.add_argument("--clip_seconds", type=float, default=10.0)
  p.add_argument("--sample_rate", type=int, default=16000)
  p.add_argument("--tail", choices=("drop", "pad"), default="drop",
                 help="the last partial clip of a recording: drop it (default) or zero-pad it")
  p.add_argument("--min_rms_dbfs", type=float, default=None,
                 help="skip clips whose RMS is below this level (e.g. -60); default: keep all")
  p.add_argument("--on_error", choices=("raise", "skip"), default="raise",
                 help="an unreadable recording stops the run (raise) or is skipped and counted")


def _clips(args, prog):
  from sound_separation.corpus import clips  # pylint: disable=import-outside-toplevel
  recordings = clips.read_recording_manifest(args.manifest)
  report = clips.write_clips(
      recordings, args.out_dir, args.split, clip_seconds=args.clip_seconds,
      sample_rate=args.sample_rate, tail=args.tail, min_rms_dbfs=args.min_rms_dbfs,
      on_error=args.on_error)
  print(f"{report.clips} clips from {len(recordings) - len(report.failed)} recordings "
        f"({report.silent} near-silent skipped, {report.clipped} hard-limited); wrote "
        f"{report.clip_list}" + (f", {report.vocabulary}" if report.vocabulary else ""))
  _report_skipped(prog, len(report.failed), list(report.failed), "unreadable recordings")


def _mom_set_args(p):
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--clip_list", type=existing_file,
                      help="a clip list (<clip>[<TAB>labels] per line)")
  source.add_argument("--fuss_list", type=existing_file,
                      help="a FUSS list; its mixtures (first column) are paired")
  p.add_argument("--out_dir", required=True, help="the output folder (created if missing)")
  p.add_argument("--split", default="test", help="split name: folder and list prefix")
  p.add_argument("--pairing", choices=("random", "consecutive"), default="random",
                 help="random: pairs of a seeded permutation; consecutive: lines 1+2, 3+4, ...")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--num_moms", type=int, default=None, help="default: every pair")
  p.add_argument("--clip_seconds", type=float, default=10.0,
                 help="MoM length; longer mixtures are cut, shorter zero-padded")
  p.add_argument("--sample_rate", type=int, default=16000)


def _mom_set(args, prog):
  del prog
  from sound_separation.corpus import mom_sets  # pylint: disable=import-outside-toplevel
  list_path, list_format = ((args.clip_list, "clips") if args.clip_list
                            else (args.fuss_list, "fuss"))
  paths = mom_sets.read_mixture_paths(list_path, list_format)
  files = mom_sets.write_mom_set(paths, args.out_dir, args.split, pairing=args.pairing,
                                 seed=args.seed, num_moms=args.num_moms,
                                 clip_seconds=args.clip_seconds, sample_rate=args.sample_rate)
  print(f"{files.count} MoMs from {len(paths)} mixtures; wrote {files.mom_list}, "
        f"{files.origins}")


def _records_args(p):
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--clip_list", help="a clip list (<clip>[<TAB>labels] per line)")
  source.add_argument("--fuss_list", help="a FUSS list (mixture, then sources)")
  p.add_argument("--vocabulary", default=None,
                 help="with --clip_list: the class names file; labels are kept")
  p.add_argument("--out_prefix", required=True, help="path prefix of the shards and index")
  p.add_argument("--sample_rate", type=int, default=16000, help="the model's rate, Hz")
  p.add_argument("--num_shards", type=int, default=None,
                 help="default: one per --examples_per_shard examples")
  p.add_argument("--examples_per_shard", type=int, default=1000)


def _records(args, prog):
  del prog
  from sound_separation.corpus import records  # pylint: disable=import-outside-toplevel

  def progress(done, total):
    if done == total or done % 500 == 0:
      print(f"{done}/{total} examples", file=sys.stderr, flush=True)

  list_path, list_format = ((args.clip_list, "clips") if args.clip_list
                            else (args.fuss_list, "fuss"))
  files = records.write_records(list_path, args.out_prefix, list_format,
                                sample_rate=args.sample_rate, num_shards=args.num_shards,
                                examples_per_shard=args.examples_per_shard,
                                vocabulary=args.vocabulary, progress=progress)
  print(f"{files.count} examples in {len(files.shards)} shards; wrote {files.index}")


def _import_lists_args(p):
  commands = p.add_subparsers(dest="command", required=True, metavar="{yfcc,fuss,librimix}")
  missing = dict(choices=("raise", "skip"), default="raise",
                 help="a missing file stops the run (raise) or its row is skipped and counted")

  yfcc = commands.add_parser("yfcc", help="YFCC100m clip CSV -> clips and a clip list")
  yfcc.add_argument("--csv", type=existing_file, required=True,
                    help="rows: video path, input start, input end, output offset (seconds)")
  yfcc.add_argument("--audio_dir", type=existing_dir, required=True,
                    help="audio tracks as <dir>/<video path>.wav|flac|ogg or <dir>/<video "
                    "name>.wav|flac|ogg")
  yfcc.add_argument("--out_dir", required=True)
  yfcc.add_argument("--split", default="train")
  yfcc.add_argument("--mom", action="store_true",
                    help="the CSV is the test MoM CSV (two clips per row): write a MoM set")
  yfcc.add_argument("--clip_seconds", type=float, default=10.0)
  yfcc.add_argument("--sample_rate", type=int, default=16000)
  yfcc.add_argument("--on_missing", **missing)

  fuss = commands.add_parser("fuss", help="check and rewrite a FUSS example list")
  fuss.add_argument("--list", type=existing_file, required=True,
                    help="a FUSS <split>_example_list.txt")
  fuss.add_argument("--out_list", required=True,
                    help="the list to write (paths relative to its folder when inside it)")
  fuss.add_argument("--check_audio", action="store_true",
                    help="also read every example: equal lengths, mixture = sum of sources")
  fuss.add_argument("--sample_rate", type=int, default=16000)
  fuss.add_argument("--on_missing", **missing)

  libri = commands.add_parser("librimix", help="LibriMix metadata CSV -> FUSS list")
  libri.add_argument("--csv", type=existing_file, required=True,
                     help="columns mixture_path, source_1_path[, source_2_path][, noise_path]")
  libri.add_argument("--out_list", required=True)
  libri.add_argument("--task", choices=("separation", "enhancement"), default="separation",
                     help="separation: sources s1, s2 (+ noise if the CSV has it); "
                     "enhancement: speech (s1), noise, from a mix_single CSV")
  libri.add_argument("--path_prefix", type=_prefix, action="append", default=[],
                     metavar="OLD=NEW", help="rewrite paths starting with OLD (repeatable)")
  libri.add_argument("--on_missing", **missing)


def _import_lists(args, prog):
  from sound_separation.corpus import public_lists  # pylint: disable=import-outside-toplevel
  if args.command == "yfcc":
    importer = public_lists.import_yfcc_moms if args.mom else public_lists.import_yfcc_clips
    report = importer(args.csv, args.audio_dir, args.out_dir, args.split,
                      clip_seconds=args.clip_seconds, sample_rate=args.sample_rate,
                      on_missing=args.on_missing)
    what = "MoMs" if args.mom else "clips"
  elif args.command == "fuss":
    report = public_lists.normalise_fuss_list(
        args.list, args.out_list, on_missing=args.on_missing, check_audio=args.check_audio,
        sample_rate=args.sample_rate)
    what = "examples"
  else:
    report = public_lists.convert_librimix_csv(
        args.csv, args.out_list, task=args.task, path_prefixes=args.path_prefix,
        on_missing=args.on_missing)
    what = "examples"
  print(f"wrote {report.written} {what} to {report.list_path}")
  _report_skipped(prog, report.skipped, list(report.missing))


# name: (add its arguments, check them beyond argparse or None, do the work)
SUBCOMMANDS = {
    "fuss-mixtures": (_fuss_mixtures_args, _fuss_mixtures_check, _fuss_mixtures),
    "clips": (_clips_args, None, _clips),
    "mom-set": (_mom_set_args, None, _mom_set),
    "records": (_records_args, None, _records),
    "import-lists": (_import_lists_args, None, _import_lists),
}


def _add_subcommand(parser, name):
  add_args, _, _ = SUBCOMMANDS[name]
  add_args(parser)
  parser.set_defaults(subcommand=name)
  return parser


def _described(prog, name):
  doc = DOCS[name]
  return argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[1])


def _execute(parser, args, prog, before_work):
  _, check, work = SUBCOMMANDS[args.subcommand]
  if check is not None:
    check(args, parser)
  try:
    if before_work is not None:
      before_work()
    work(args, prog)
  except (ValueError, OSError) as e:
    # Bad input (the library's FileError names the file); anything else is a
    # bug and keeps its traceback.
    print(f"{prog}: error: {e}", file=sys.stderr)
    return 1
  return 0


def run(name, argv=None, prog=None, before_work=None):
  """One subcommand with its own parser, in-process; the exit status."""
  prog = prog or f"sound-separation prepare {name}"
  parser = _add_subcommand(_described(prog, name), name)
  return _execute(parser, parser.parse_args(argv), prog, before_work)


def main(argv=None, prog="sound-separation prepare", before_work=None):
  """`prepare <subcommand> [args]`; the exit status.

  Args:
    argv: the arguments after `prepare` (default `sys.argv[1:]`).
    prog: the name in usage and error lines.
    before_work: called after the arguments parse, before the work (the
      command line imports TensorFlow quietly there).
  """
  parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
  commands = parser.add_subparsers(dest="subcommand", required=True,
                                   metavar="{" + ",".join(SUBCOMMANDS) + "}")
  for name in SUBCOMMANDS:
    doc = DOCS[name]
    _add_subcommand(commands.add_parser(
        name, help=doc.split("\n\n")[0].replace("\n", " "), description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter),
                    name)
  args = parser.parse_args(argv)
  sub_prog = f"{prog} {args.subcommand}"
  return _execute(commands.choices[args.subcommand], args, sub_prog, before_work)
