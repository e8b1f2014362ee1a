#!/usr/bin/env python
"""The lists of the small-scale WASPAA 2021 study, made from a development corpus.

The study (`sound-separation study`, `results/waspaa2021_small/`) trains on the
corpus's in-the-wild clips and needs three held-out lists that share no
source file with them:

- `selection_list.txt`: the even-numbered half of `fuss_like/validation`
  (100 mixtures), on which checkpoints and loss weights are selected;
- `test_list.txt`: the odd-numbered half plus `--num_extra` further FUSS-style
  mixtures made from the corpus's *validation* split with another seed (the
  corpus's own `make_mixtures.py --mode fuss --split validation`);
- `test_mom_list.txt`: mixtures of pairs of test mixtures, for MoMi.

The training clips (`wild/train`) draw on the corpus's train split, so
mixtures of that split are never used for testing.

Usage:
  python tools/prepare_study_data.py --corpus DEV --corpus_tools DEV_TOOLS \
      [--out_dir DEV/study] [--num_extra 300] [--seed 203]

`DEV` is the folder `make_dev_corpus.sh` wrote; `DEV_TOOLS` the folder of its
scripts (it holds `make_mixtures.py`). Re-running rewrites the same lists and
reuses the extra mixtures when they are there.
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from sound_separation.corpus import mom_sets  # noqa: E402  pylint: disable=wrong-import-position
from sound_separation.data import lists  # noqa: E402  pylint: disable=wrong-import-position


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--corpus", required=True, help="the development corpus folder")
  parser.add_argument("--corpus_tools", required=True,
                      help="the folder of the corpus's scripts (make_mixtures.py)")
  parser.add_argument("--out_dir", default=None, help="default: CORPUS/study")
  parser.add_argument("--num_extra", type=int, default=300)
  parser.add_argument("--seed", type=int, default=203)
  parser.add_argument("--corpus_python", default=None,
                      help="the Python that runs make_mixtures.py (it needs g722); default: "
                           "CORPUS/venv/bin/python where make_dev_corpus.sh made one, else this one")
  args = parser.parse_args(argv)
  corpus = os.path.abspath(args.corpus)
  out_dir = os.path.abspath(args.out_dir or os.path.join(corpus, "study"))
  validation = lists.read_fuss_list(
      os.path.join(corpus, "fuss_like", "validation_example_list.txt"))
  for required in ("manifest.csv", os.path.join("data", "x")):
    if not os.path.exists(os.path.join(corpus, required)):
      raise SystemExit(f"{os.path.join(corpus, required)} is missing: is {corpus} a corpus "
                       f"folder written by make_dev_corpus.sh?")

  extra_dir = os.path.join(out_dir, "extra")
  extra_list = os.path.join(extra_dir, "validation_example_list.txt")
  if not os.path.exists(extra_list):
    python = args.corpus_python or os.path.join(corpus, "venv", "bin", "python")
    if not os.path.exists(python):
      python = sys.executable
    subprocess.run([python, os.path.join(args.corpus_tools, "make_mixtures.py"),
                    os.path.join(corpus, "manifest.csv"), os.path.join(corpus, "data", "x"),
                    extra_dir, "--mode", "fuss", "--split", "validation",
                    "--n", str(args.num_extra), "--seed", str(args.seed)], check=True)
  extra = lists.read_fuss_list(extra_list)
  if len(extra) != args.num_extra:
    raise SystemExit(f"{extra_list} holds {len(extra)} mixtures, not --num_extra="
                     f"{args.num_extra}; delete {extra_dir} to remake it")

  selection = validation[0::2]
  test = validation[1::2] + extra
  lists.write_fuss_list(os.path.join(out_dir, "selection_list.txt"), selection)
  test_list = lists.write_fuss_list(os.path.join(out_dir, "test_list.txt"), test)
  mom_sets.write_mom_set([m for m, _ in test], os.path.join(out_dir, "mom"), "test", seed=0)
  print(f"{out_dir}: selection_list.txt ({len(selection)} mixtures), test_list.txt "
        f"({len(test)}: {len(validation) - len(selection)} + {len(extra)} extra), "
        f"mom/test_mom_list.txt; test list {test_list}")


if __name__ == "__main__":
  main()
