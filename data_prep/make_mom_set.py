#!/usr/bin/env python3
"""Builds a mixture-of-mixtures (MoM) evaluation set from single mixtures.

The recipe form of `sound-separation prepare mom-set` (the same arguments and
output; `--help` lists them). Its code is `sound_separation/prepare.py`.
"""

import sys

from sound_separation import prepare


def main(argv=None):
  return prepare.run("mom-set", argv, prog="make_mom_set.py")


if __name__ == "__main__":
  sys.exit(main())
