"""List files: the text files that name a corpus's audio (docs/formats.md).

Plain Python and NumPy, no TensorFlow, so that evaluation, corpus builders
and scripts can read and write lists without building input pipelines.

- Clip lists (clips in the wild, YFCC100m / AudioSet style): one clip a line,
  optionally followed by tab-separated weak labels (class names of a
  vocabulary file). `read_clip_list`, `write_clip_list`.
- FUSS lists: a mixture and its 1–4 sources a line, tab-separated.
  `read_fuss_list`, `write_fuss_list`.
- Label vocabularies: one class name a line, in index order.

Relative entries resolve against the list's own folder; blank lines and
lines starting with '#' are skipped.
"""

import os

import numpy as np

from sound_separation import filesystem

MAX_FUSS_SOURCES = 4


def _list_lines(path):
  """Yields `(line_number, fields)` of a tab-separated list, 1-based numbers.

  Blank lines and lines whose first non-blank character is '#' are skipped.
  Fields are stripped of surrounding whitespace (so CRLF files parse).
  """
  try:
    lines = filesystem.read_text(path).splitlines()
  except (OSError, UnicodeDecodeError) as e:
    raise ValueError(f"cannot read list file '{path}': {e}") from e
  for number, line in enumerate(lines, start=1):
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
      continue
    yield number, [field.strip() for field in line.split("\t")]


def _resolve(list_path, entry):
  return filesystem.resolve(list_path, entry)


def read_label_vocabulary(path):
  """Class names, one per line, in index order (blank and '#' lines skipped).

  Names may not contain commas or tabs (they separate labels in clip lists)
  and may not repeat.

  Returns:
    list of K class names; class k is the k-th name.
  """
  path = os.fspath(path)
  names = []
  seen = {}
  for number, fields in _list_lines(path):
    name = "\t".join(fields)
    if len(fields) != 1 or "," in name:
      raise ValueError(
          f"{path}:{number}: class name {name!r} contains a tab or a comma, "
          "which separate labels in clip lists")
    if name in seen:
      raise ValueError(f"{path}:{number}: class name {name!r} repeats line {seen[name]}")
    seen[name] = number
    names.append(name)
  if not names:
    raise ValueError(f"label vocabulary '{path}' has no class names")
  return names


def as_vocabulary(vocabulary):
  """A list of class names from a list of names or a vocabulary file path."""
  if isinstance(vocabulary, (str, os.PathLike)):
    return read_label_vocabulary(vocabulary)
  names = list(vocabulary)
  if not names or len(set(names)) != len(names):
    raise ValueError(f"vocabulary must hold distinct class names, got {names!r}")
  bad = [n for n in names if not isinstance(n, str) or not n or "," in n or "\t" in n]
  if bad:
    raise ValueError(f"vocabulary names must be non-empty strings without commas or tabs, "
                     f"got {bad[0]!r}")
  return names


def parse_clip_list(path, vocabulary):
  """`(paths, label_indices or None)`; label_indices[i] is an int array."""
  path = os.fspath(path)
  index = None if vocabulary is None else {name: k for k, name in enumerate(vocabulary)}
  paths, label_indices = [], []
  for number, fields in _list_lines(path):
    if len(fields) > 2 or not fields[0]:
      raise ValueError(
          f"{path}:{number}: expected '<path>[<TAB><label>,<label>...]', got "
          f"{len(fields)} tab-separated fields with path {fields[0]!r}")
    names = []
    if len(fields) == 2 and fields[1]:
      names = [name.strip() for name in fields[1].split(",")]
      if not all(names):
        raise ValueError(f"{path}:{number}: empty label in {fields[1]!r}")
    if index is not None:
      if not names:
        # An all-zero target would teach "no class present"; an unlabelled
        # clip belongs in a list read without a vocabulary.
        raise ValueError(f"{path}:{number}: clip {fields[0]!r} has no labels, "
                         "but a vocabulary was given")
      unknown = [name for name in names if name not in index]
      if unknown:
        raise ValueError(f"{path}:{number}: unknown label {unknown[0]!r} "
                         f"(not in the vocabulary of {len(index)} classes)")
      label_indices.append(np.array(sorted({index[n] for n in names}), np.int64))
    paths.append(_resolve(path, fields[0]))
  if not paths:
    raise ValueError(f"clip list '{path}' has no clips")
  return paths, (label_indices if index is not None else None)


def multi_hot(indices, num_classes):
  row = np.zeros([num_classes], np.float32)
  row[indices] = 1.0
  return row


def read_clip_list(path, vocabulary=None):
  """Parses a clip list: `<path>[<TAB><label>,<label>...]` per line.

  Relative paths are relative to the list's folder; blank lines and '#'
  comment lines are skipped. Labels are read only when a vocabulary is given;
  then every clip needs at least one label, all in the vocabulary.

  Args:
    path: the list file.
    vocabulary: None, a list of K class names, or the path of a vocabulary
      file (see `read_label_vocabulary`).

  Returns:
    `(paths, labels)`: a list of N file paths, and float32 multi-hot `[N, K]`
    (None without a vocabulary).

  Raises:
    ValueError: naming the list file and line, for a malformed line, a clip
      without labels or an unknown label (with a vocabulary).
  """
  if vocabulary is not None:
    vocabulary = as_vocabulary(vocabulary)
  paths, label_indices = parse_clip_list(path, vocabulary)
  if label_indices is None:
    return paths, None
  labels = np.stack([multi_hot(ix, len(vocabulary)) for ix in label_indices])
  return paths, labels


def read_fuss_list(path):
  """Parses a FUSS example list (docs/formats.md#input-pipeline).

  Each line: the mixture file, then its 1–4 source files, tab-separated and
  relative to the list's folder. Blank lines and '#' comment lines are
  skipped.

  Returns:
    list of `(mixture_path, [source_paths])`.

  Raises:
    ValueError: naming the list file and line, for a line without 2–5
      non-empty fields.
  """
  path = os.fspath(path)
  examples = []
  for number, fields in _list_lines(path):
    if not 2 <= len(fields) <= MAX_FUSS_SOURCES + 1 or not all(fields):
      raise ValueError(
          f"{path}:{number}: expected a mixture and 1-{MAX_FUSS_SOURCES} sources, "
          f"tab-separated and non-empty, got {len(fields)} fields: {fields!r}")
    examples.append((_resolve(path, fields[0]), [_resolve(path, f) for f in fields[1:]]))
  if not examples:
    raise ValueError(f"FUSS list '{path}' has no examples")
  return examples


def _list_entry(list_dir, path):
  """How a list names `path`: relative to `list_dir` when inside it, else absolute.

  Relative entries use '/' and keep the corpus movable as a whole folder.
  Entries the readers would misparse (tabs, line breaks, surrounding spaces,
  a leading '#') are refused.
  """
  path = os.fspath(path)
  absolute = path if filesystem.is_remote(path) else os.path.abspath(path)
  if filesystem.is_remote(path) != filesystem.is_remote(list_dir):
    relative = os.pardir
  else:
    relative = filesystem.relative(absolute, list_dir)
  if relative == os.pardir or relative.startswith(os.pardir + os.sep) \
      or relative.startswith("../"):
    entry = absolute
  else:
    entry = relative.replace(os.sep, "/")
  if (any(c in entry for c in "\t\n\r") or entry != entry.strip() or entry.startswith("#")):
    raise ValueError(f"cannot list file '{path}': list entries may not contain tabs or line "
                     "breaks, start with '#' or have surrounding spaces")
  return entry


def _write_lines(path, lines, what):
  """Writes `lines` to `path` (LF endings) through a renamed temporary file.

  A run that fails midway leaves no list naming files it never wrote.
  """
  path = os.fspath(path)
  if not lines:
    raise ValueError(f"{what} '{path}' would be empty (the readers refuse empty lists)")
  filesystem.makedirs(filesystem.dirname(path))
  filesystem.write_text(path, "".join(line + "\n" for line in lines))
  return path


def check_label(label, where):
  """Returns `label`; ValueError naming `where` unless a clip list can hold it.

  Labels are separated by commas in clip lists: a label is a non-empty string
  without commas, tabs, line breaks or surrounding spaces.
  """
  if (not isinstance(label, str) or not label or label != label.strip()
      or any(c in label for c in ",\t\n\r")):
    raise ValueError(f"{where}: label {label!r} is empty, has surrounding spaces or contains "
                     "a comma, tab or line break (clip lists separate labels by commas)")
  return label


def write_label_vocabulary(path, names):
  """Writes class names, one a line, for `read_label_vocabulary`.

  Args:
    path: the file to write (its folder is created if missing).
    names: K distinct names without commas or tabs, in class-index order.

  Returns:
    `path`.
  """
  names = as_vocabulary(names)
  bad = [n for n in names if n != n.strip() or n.startswith("#") or "\n" in n or "\r" in n]
  if bad:
    raise ValueError(f"class name {bad[0]!r} would not read back: no surrounding spaces, "
                     "line breaks or leading '#'")
  return _write_lines(path, names, "label vocabulary")


def write_clip_list(path, clips, vocabulary=None):
  """Writes a clip list for `read_clip_list`: `<file>[<TAB><label>,<label>...]`.

  Args:
    path: the list to write (its folder is created if missing).
    clips: `(file, labels)` pairs: `file` a path (absolute or relative to the
      working directory; listed relative to the list's folder when inside it,
      else absolute), `labels` None or a sequence of class names.
    vocabulary: None, or the class names every label must belong to; the
      labels of a clip are then written once each, in vocabulary order.

  Returns:
    `path`.
  """
  path = os.fspath(path)
  list_dir = filesystem.dirname(path)
  index = None if vocabulary is None else {n: k for k, n in enumerate(as_vocabulary(vocabulary))}
  lines = []
  for file, labels in clips:
    labels = [check_label(label, f"clip '{file}'") for label in labels or ()]
    if index is not None:
      unknown = [n for n in labels if n not in index]
      if unknown:
        raise ValueError(f"label {unknown[0]!r} of '{file}' is not in the vocabulary")
      labels = sorted(set(labels), key=index.get)
    entry = _list_entry(list_dir, file)
    lines.append(f"{entry}\t{','.join(labels)}" if labels else entry)
  return _write_lines(path, lines, "clip list")


def write_fuss_list(path, examples):
  """Writes a FUSS example list for `read_fuss_list` (docs/formats.md#input-pipeline).

  Args:
    path: the list to write (its folder is created if missing).
    examples: `(mixture_file, [source_files])` pairs with 1–4 sources; paths
      are listed as in `write_clip_list`.

  Returns:
    `path`.
  """
  path = os.fspath(path)
  list_dir = filesystem.dirname(path)
  lines = []
  for mixture, sources in examples:
    sources = list(sources)
    if not 1 <= len(sources) <= MAX_FUSS_SOURCES:
      raise ValueError(f"example '{mixture}' has {len(sources)} sources; a FUSS list line "
                       f"holds 1-{MAX_FUSS_SOURCES}")
    lines.append("\t".join(_list_entry(list_dir, p) for p in [mixture] + sources))
  return _write_lines(path, lines, "FUSS list")

