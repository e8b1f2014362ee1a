#!/usr/bin/env python3
r"""Cuts long recordings into fixed-length clips with their weak labels.

Example:
  python data_prep/make_clips.py --manifest recordings.csv --out_dir clips/ \
      --split train --tail drop --min_rms_dbfs -60

The manifest is a CSV with a header and the columns path,labels (labels
separated by ';', or by ',' in a quoted field; may be empty; paths relative
to the CSV). Any rate and channel count is read, downmixed and resampled.
Writes <out_dir>/<split>/<row>_<name>/clip<k>.wav (clip k starts at
k * clip_seconds), <split>_clip_list.txt and, if any recording has labels,
labels.txt. See sound_separation/corpus/clips.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cli  # noqa: E402  pylint: disable=wrong-import-position

PROG = "make_clips.py"


def parser():
  p = _cli.parser(PROG, __doc__)
  p.add_argument("--manifest", type=_cli.existing_file, required=True,
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
  return p


def main(argv=None):
  args = parser().parse_args(argv)

  def work():
    from sound_separation.corpus import clips  # pylint: disable=import-outside-toplevel
    recordings = clips.read_recording_manifest(args.manifest)
    report = clips.write_clips(
        recordings, args.out_dir, args.split, clip_seconds=args.clip_seconds,
        sample_rate=args.sample_rate, tail=args.tail, min_rms_dbfs=args.min_rms_dbfs,
        on_error=args.on_error)
    print(f"{report.clips} clips from {len(recordings) - len(report.failed)} recordings "
          f"({report.silent} near-silent skipped, {report.clipped} hard-limited); wrote "
          f"{report.clip_list}" + (f", {report.vocabulary}" if report.vocabulary else ""))
    _cli.report_skipped(PROG, len(report.failed), list(report.failed),
                        "unreadable recordings")

  return _cli.run(PROG, work)


if __name__ == "__main__":
  sys.exit(main())
