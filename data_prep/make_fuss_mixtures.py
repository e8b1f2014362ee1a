#!/usr/bin/env python3
"""Builds FUSS-style mixtures (1 background + 0-3 foregrounds) from labelled clips.

The recipe form of `sound-separation prepare fuss-mixtures` (the same arguments and
output; `--help` lists them). Its code is `sound_separation/prepare.py`.
"""

import sys

from sound_separation import prepare


def main(argv=None):
  return prepare.run("fuss-mixtures", argv, prog="make_fuss_mixtures.py")


if __name__ == "__main__":
  sys.exit(main())
