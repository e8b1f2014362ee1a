#!/usr/bin/env python3
r"""Builds FUSS-style mixtures (1 background + 0-3 foregrounds) from labelled clips.

Example:
  python data_prep/make_fuss_mixtures.py --clips_root clips/ \
      --background_labels rain,traffic --out_dir fuss_like/ --split train \
      --num_mixtures 1000 --seed 0

Writes <out_dir>/<split>/example<i>/mixture.wav and source<j>_<label>.wav
(source 0 the background; 16-bit PCM, the mixture the exact sum of its
sources), <split>_example_list.txt, <split>_clip_list.txt (each mixture's
labels) and labels.txt. See sound_separation/corpus/mixing.py for the rules.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cli  # noqa: E402  pylint: disable=wrong-import-position

PROG = "make_fuss_mixtures.py"


def _labels(text):
  return [name.strip() for name in text.split(",") if name.strip()]


def parser():
  p = _cli.parser(PROG, __doc__)
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--clips_root", type=_cli.existing_dir,
                      help="a folder of label folders: <root>/<label>/*.wav|flac|ogg")
  source.add_argument("--manifest", type=_cli.existing_file,
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
  return p


def main(argv=None):
  args = parser().parse_args(argv)
  if args.manifest and (args.background_labels or args.background_min_seconds is not None):
    parser().error("--background_labels and --background_min_seconds go with --clips_root; "
                   "a manifest gives each clip's role")
  if args.clips_root and not (args.background_labels or args.background_min_seconds is not None):
    parser().error("with --clips_root, say which clips are backgrounds: --background_labels "
                   "and/or --background_min_seconds")

  def work():
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

  return _cli.run(PROG, work)


if __name__ == "__main__":
  sys.exit(main())
