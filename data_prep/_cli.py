"""Shared by the data_prep scripts: argument types and error reporting.

The scripts import the library only after parsing their arguments: the
package imports TensorFlow (seconds), which `--help` and usage errors do not
need.
"""

import argparse
import os
import sys


def parser(prog, doc):
  """An ArgumentParser whose description is the script docstring's first paragraph
  and whose epilog (examples, formats) is the rest, kept as written."""
  return argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[1])


def existing_file(text):
  """An argparse type: a path that is an existing file."""
  if not os.path.isfile(text):
    raise argparse.ArgumentTypeError(f"no such file: '{text}'")
  return text


def existing_dir(text):
  """An argparse type: a path that is an existing folder."""
  if not os.path.isdir(text):
    raise argparse.ArgumentTypeError(f"no such folder: '{text}'")
  return text


def run(prog, work):
  """Runs `work()`; returns 0, or 1 after printing a one-line error for bad input.

  Errors about the input (ValueError, which includes the library's
  FileError naming the file, and OSError) are reported without a traceback;
  anything else is a bug and keeps its traceback.
  """
  try:
    work()
  except (ValueError, OSError) as e:
    print(f"{prog}: error: {e}", file=sys.stderr)
    return 1
  return 0


def report_skipped(prog, skipped, missing, what="rows"):
  """Prints how many rows an importer skipped for missing files, and the first few."""
  if skipped:
    shown = ", ".join(f"'{m}'" for m in missing[:3])
    more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
    print(f"{prog}: skipped {skipped} {what} with missing files: {shown}{more}",
          file=sys.stderr)
