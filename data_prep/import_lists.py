#!/usr/bin/env python3
r"""Imports public dataset lists into this library's list formats.

Subcommands:
  yfcc      YFCC100m MixIT clip CSV + local audio -> 10 s clips and a clip list
            (--mom: the test MoM CSV -> a MoM set)
  fuss      a FUSS <split>_example_list.txt -> checked, rewritten FUSS list
  librimix  a LibriMix metadata CSV -> a FUSS list for separation or enhancement

Examples:
  python data_prep/import_lists.py yfcc --csv yfcc100m_clip_lists/train.csv \
      --audio_dir yfcc_audio/ --out_dir yfcc/ --split train --on_missing skip
  python data_prep/import_lists.py fuss --list fuss/ssdata/eval_example_list.txt \
      --out_list fuss/ssdata/eval_example_list.checked.txt --check_audio
  python data_prep/import_lists.py librimix \
      --csv Libri2Mix/wav16k/min/metadata/mixture_test_mix_clean.csv \
      --out_list lists/libri2mix_test_separation.txt --task separation \
      --path_prefix /old/storage/=/data/

Missing files stop the run with an error naming the file (exit 1), or with
--on_missing skip are left out and counted. See
sound_separation/corpus/public_lists.py for the formats.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cli  # noqa: E402  pylint: disable=wrong-import-position

PROG = "import_lists.py"


def _prefix(text):
  old, sep, new = text.partition("=")
  if not sep or not old:
    raise argparse.ArgumentTypeError(f"expected OLD=NEW, got '{text}'")
  return old, new


def parser():
  p = _cli.parser(PROG, __doc__)
  commands = p.add_subparsers(dest="command", required=True, metavar="{yfcc,fuss,librimix}")
  missing = dict(choices=("raise", "skip"), default="raise",
                 help="a missing file stops the run (raise) or its row is skipped and counted")

  yfcc = commands.add_parser("yfcc", help="YFCC100m clip CSV -> clips and a clip list")
  yfcc.add_argument("--csv", type=_cli.existing_file, required=True,
                    help="rows: video path, input start, input end, output offset (seconds)")
  yfcc.add_argument("--audio_dir", type=_cli.existing_dir, required=True,
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
  fuss.add_argument("--list", type=_cli.existing_file, required=True,
                    help="a FUSS <split>_example_list.txt")
  fuss.add_argument("--out_list", required=True,
                    help="the list to write (paths relative to its folder when inside it)")
  fuss.add_argument("--check_audio", action="store_true",
                    help="also read every example: equal lengths, mixture = sum of sources")
  fuss.add_argument("--sample_rate", type=int, default=16000)
  fuss.add_argument("--on_missing", **missing)

  libri = commands.add_parser("librimix", help="LibriMix metadata CSV -> FUSS list")
  libri.add_argument("--csv", type=_cli.existing_file, required=True,
                     help="columns mixture_path, source_1_path[, source_2_path][, noise_path]")
  libri.add_argument("--out_list", required=True)
  libri.add_argument("--task", choices=("separation", "enhancement"), default="separation",
                     help="separation: sources s1, s2 (+ noise if the CSV has it); "
                     "enhancement: speech (s1), noise, from a mix_single CSV")
  libri.add_argument("--path_prefix", type=_prefix, action="append", default=[],
                     metavar="OLD=NEW", help="rewrite paths starting with OLD (repeatable)")
  libri.add_argument("--on_missing", **missing)
  return p


def main(argv=None):
  args = parser().parse_args(argv)

  def work():
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
    _cli.report_skipped(PROG, report.skipped, list(report.missing))

  return _cli.run(PROG, work)


if __name__ == "__main__":
  sys.exit(main())
