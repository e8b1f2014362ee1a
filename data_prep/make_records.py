#!/usr/bin/env python3
"""Turns a clip list or a FUSS list into sharded TFRecords for fast training input.

The recipe form of `sound-separation prepare records` (the same arguments and
output; `--help` lists them). Its code is `sound_separation/prepare.py`.
"""

import sys

from sound_separation import prepare


def main(argv=None):
  return prepare.run("records", argv, prog="make_records.py")


if __name__ == "__main__":
  sys.exit(main())
