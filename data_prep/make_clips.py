#!/usr/bin/env python3
"""Cuts long recordings into fixed-length clips with their weak labels.

The recipe form of `sound-separation prepare clips` (the same arguments and
output; `--help` lists them). Its code is `sound_separation/prepare.py`.
"""

import sys

from sound_separation import prepare


def main(argv=None):
  return prepare.run("clips", argv, prog="make_clips.py")


if __name__ == "__main__":
  sys.exit(main())
