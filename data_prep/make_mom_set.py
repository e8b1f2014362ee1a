#!/usr/bin/env python3
r"""Builds a mixture-of-mixtures (MoM) evaluation set from single mixtures.

Example:
  python data_prep/make_mom_set.py --clip_list clips/test_clip_list.txt \
      --out_dir mom_test/ --split test --seed 0

Pairs the list's mixtures deterministically (each used at most once) and
writes <out_dir>/<split>/mom<i>/mom.wav = mixture1.wav + mixture2.wav (exact
16-bit sum), <split>_mom_list.txt (a FUSS list: mom, mixture1, mixture2; the
evaluator's "mom" task reads it) and <split>_mom_origins.txt (the input
files of each MoM). See sound_separation/corpus/mom_sets.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cli  # noqa: E402  pylint: disable=wrong-import-position

PROG = "make_mom_set.py"


def parser():
  p = _cli.parser(PROG, __doc__)
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--clip_list", type=_cli.existing_file,
                      help="a clip list (<clip>[<TAB>labels] per line)")
  source.add_argument("--fuss_list", type=_cli.existing_file,
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
  return p


def main(argv=None):
  args = parser().parse_args(argv)

  def work():
    from sound_separation.corpus import mom_sets  # pylint: disable=import-outside-toplevel
    list_path, list_format = ((args.clip_list, "clips") if args.clip_list
                              else (args.fuss_list, "fuss"))
    paths = mom_sets.read_mixture_paths(list_path, list_format)
    files = mom_sets.write_mom_set(paths, args.out_dir, args.split, pairing=args.pairing,
                              seed=args.seed, num_moms=args.num_moms,
                              clip_seconds=args.clip_seconds, sample_rate=args.sample_rate)
    print(f"{files.count} MoMs from {len(paths)} mixtures; wrote {files.mom_list}, "
          f"{files.origins}")

  return _cli.run(PROG, work)


if __name__ == "__main__":
  sys.exit(main())
