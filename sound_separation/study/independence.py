"""Which recorded files a list's audio was made from, and a check that test audio is unseen.

A study's verdicts only mean something if no test mixture contains a
recording that the model trained on or that chose its checkpoint and weight.
Mixtures made by the development corpus's `make_mixtures.py` (and FUSS)
record, per source, the file(s) it was cut from: the `origin` column of
`<split>_labels.tsv` (several files joined by `|` for a looped ambience or a
chain of one speaker's utterances). `origins` reads that column;
`check_disjoint` proves that sets of lists share no file.
"""

import csv
import os

from sound_separation import filesystem


class OverlapError(ValueError):
  """Two lists that must be independent share source files."""


def labels_table(list_path):
  """The `<split>_labels.tsv` beside a `<split>_example_list.txt` (or a clip list)."""
  folder, name = os.path.split(os.fspath(list_path))
  for suffix in ("_example_list.txt", "_clip_list.txt"):
    if name.endswith(suffix):
      return os.path.join(folder, name[:-len(suffix)] + "_labels.tsv")
  raise ValueError(f"cannot tell the labels table of list {list_path!r}: expected a name "
                   f"ending in '_example_list.txt' or '_clip_list.txt'")


def origins(labels_path, examples=None):
  """The set of source files named in a labels table's `origin` column.

  Args:
    labels_path: a `<split>_labels.tsv` (tab-separated, with a header naming
      `example` and `origin` columns).
    examples: None (every row), or the example names (`<split>/exampleNNNNN`,
      as the table's `example` column writes them) whose rows count.

  Returns:
    set of str: each file as written (a path relative to the corpus's
    package folder), `|`-joined origins split.

  Raises:
    ValueError: the table has no `origin` column (naming the file), or a row
      of `examples` is missing from it.
  """
  text = filesystem.read_text(labels_path)
  reader = csv.DictReader(text.splitlines(), delimiter="\t")
  if not reader.fieldnames or "origin" not in reader.fieldnames \
      or "example" not in reader.fieldnames:
    raise ValueError(f"{labels_path}: expected a labels table with 'example' and 'origin' "
                     f"columns, got {reader.fieldnames}")
  wanted = None if examples is None else set(examples)
  found, seen = set(), set()
  for row in reader:
    if wanted is not None and row["example"] not in wanted:
      continue
    seen.add(row["example"])
    found.update(part for part in (row["origin"] or "").split("|") if part)
  if wanted is not None and wanted - seen:
    missing = sorted(wanted - seen)
    raise ValueError(f"{labels_path}: no rows for {len(missing)} example(s), e.g. {missing[0]!r}")
  return found


def check_disjoint(named_sets):
  """Raises unless the named sets of source files are pairwise disjoint.

  Args:
    named_sets: `{name: set of files}`, e.g. `{'test': ..., 'selection': ...,
      'train': ...}`.

  Returns:
    `{name: number of files}` (for the study's record of the check).

  Raises:
    OverlapError: naming the first two sets that share files, how many, and
      an example file.
  """
  names = list(named_sets)
  for i, first in enumerate(names):
    for second in names[i + 1:]:
      shared = set(named_sets[first]) & set(named_sets[second])
      if shared:
        raise OverlapError(f"{first!r} and {second!r} share {len(shared)} source file(s), "
                           f"e.g. {sorted(shared)[0]!r}")
  return {name: len(named_sets[name]) for name in names}
