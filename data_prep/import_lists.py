#!/usr/bin/env python3
"""Imports public dataset lists into this library's list formats.

The recipe form of `sound-separation prepare import-lists` (the same arguments and
output; `--help` lists them). Its code is `sound_separation/prepare.py`.
"""

import sys

from sound_separation import prepare


def main(argv=None):
  return prepare.run("import-lists", argv, prog="import_lists.py")


if __name__ == "__main__":
  sys.exit(main())
