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
import hashlib
import json
import os
import re

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


# The committed record of a round's independence check (`write_record`):
# `<results>/independence/<name>_origins.txt` (one source file a line,
# sorted) per list, and `<results>/independence/independence.json`.
RECORD_FOLDER = "independence"
RECORD_FILE = "independence.json"


def _sha256(path):
  return hashlib.sha256(filesystem.read_bytes(path)).hexdigest()


def _origins_name(name):
  return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") + "_origins.txt"


def write_record(results_dir, named_lists):
  """Checks the lists' independence and writes a record that `recheck` can verify.

  Args:
    results_dir: the round's results folder (committed).
    named_lists: `{name: (list file, set of its source files)}`, e.g. the
      test list with `origins(labels_table(test_list))`.

  Returns:
    the record: per list its file's sha256 and its origins file's, the
    number of source files, and `"disjoint": true`.

  Raises:
    OverlapError: the lists share source files (nothing is written).
  """
  counts = check_disjoint({name: files for name, (_, files) in named_lists.items()})
  folder = os.path.join(results_dir, RECORD_FOLDER)
  filesystem.makedirs(folder)
  record = {"disjoint": True, "lists": {},
            "checked": "origin columns of the lists' labels tables "
                       "(sound_separation.study.independence)"}
  for name, (list_path, files) in named_lists.items():
    origins_path = os.path.join(folder, _origins_name(name))
    filesystem.write_text(origins_path, "".join(f"{f}\n" for f in sorted(files)))
    record["lists"][name] = {"list": os.path.basename(list_path),
                             "list_sha256": _sha256(list_path),
                             "origins": os.path.basename(origins_path),
                             "origins_sha256": _sha256(origins_path),
                             "source_files": counts[name]}
  filesystem.write_text(os.path.join(folder, RECORD_FILE),
                        json.dumps(record, indent=1, sort_keys=True) + "\n")
  return record


def recheck(results_dir, list_paths=None):
  """Verifies a round's committed independence record from its files alone.

  Each origins file must hash to what the record says and the sets must be
  pairwise disjoint; given `list_paths` (`{name: list file}`, e.g. the lists
  rebuilt from the corpus), each list must also hash to its recorded value.

  Returns:
    `{name: number of source files}`.

  Raises:
    FileNotFoundError: no record; ValueError: a file that does not match its
    hash (naming it); OverlapError: shared source files.
  """
  folder = os.path.join(results_dir, RECORD_FOLDER)
  path = os.path.join(folder, RECORD_FILE)
  if not filesystem.exists(path):
    raise FileNotFoundError(f"{path}: no independence record in {results_dir}")
  record = json.loads(filesystem.read_text(path))
  sets = {}
  for name, entry in record["lists"].items():
    origins_path = os.path.join(folder, entry["origins"])
    if _sha256(origins_path) != entry["origins_sha256"]:
      raise ValueError(f"{origins_path} does not match the sha256 recorded in {path}")
    sets[name] = set(filesystem.read_text(origins_path).splitlines())
    given = (list_paths or {}).get(name)
    if given is not None and _sha256(given) != entry["list_sha256"]:
      raise ValueError(f"{given} is not the list the record checked ({name}: sha256 "
                       f"{entry['list_sha256'][:12]}...)")
  return check_disjoint(sets)
