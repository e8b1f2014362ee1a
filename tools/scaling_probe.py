#!/usr/bin/env python
"""Trains separator sizes for the same CPU time and scores them on the selection list.

Round 3's scaling probe (results/waspaa2021_round3/README.md, part 2):
`sound_separation.study.scaling` says what it computes and how a size is
picked. Resumable: run the same command again; finished sizes only re-score
from their caches.

  taskset -c 0 env TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \\
    python tools/scaling_probe.py --data DEV --train_list study3/train_clip_list.txt \\
      --selection_list study2/selection_list.txt --runs_dir RUNS/scaling \\
      --out_dir results/waspaa2021_round3/scaling [--sizes S W D] [--cpu_hours 1] \\
      [--num_sources 8] [--seed 4]

Lists are relative to `--data` (the development corpus). Writes
`OUT_DIR/scaling.json` and `OUT_DIR/scaling.png`.
"""

import argparse
import os
import sys

import bench_common  # tools/, the scripts' own folder

from sound_separation.study import scaling


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  bench_common.add_training_arguments(parser)
  parser.add_argument("--out_dir", required=True, help="where scaling.json/.png go")
  parser.add_argument("--recipe", default="studies/small_recipe",
                      help="gin file every size trains with (default: studies/small_recipe)")
  parser.add_argument("--sizes", nargs="+", default=list(scaling.SIZES),
                      choices=list(scaling.SIZES))
  parser.add_argument("--cpu_hours", type=float, default=1.0, help="each size's budget")
  parser.add_argument("--num_sources", type=int, default=8)
  parser.add_argument("--seed", type=int, default=4)
  parser.add_argument("--gin_param", action="append", default=[],
                      help="further bindings for every size (repeatable)")
  args = parser.parse_args(argv)
  if not args.cpu_hours > 0:
    parser.error(f"--cpu_hours must be > 0, got {args.cpu_hours}")
  lists = bench_common.corpus_lists(parser, args)
  params = [f"sound_separation.training_dataset.unsupervised_list = {lists['train_list']!r}",
            f"sound_separation.SeparationModel.num_sources = {args.num_sources}",
            f"sound_separation.train.seed = {args.seed}"] + args.gin_param
  scaling.run_probe(args.recipe, params, lists["selection_list"],
                    os.path.abspath(args.runs_dir), os.path.abspath(args.out_dir),
                    sizes=args.sizes, cpu_hours=args.cpu_hours)
  return 0


if __name__ == "__main__":
  sys.exit(main())
