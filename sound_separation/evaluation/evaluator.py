"""Evaluates a separator on a list of examples (docs/metrics.md, docs/formats.md#input-pipeline).

`evaluate` reads a FUSS-format list one example at a time, separates its
input with a user-given function, scores it (`metrics`) and reports the
paper's metrics: a `summary.json`, a per-example `examples.csv` and a table.

Tasks and their list lines (tab-separated, relative to the list's folder):

- "fuss": mixture, then its 1–4 sources. MSi, 1S, TRF.
- "speech": mixture, speaker 1, speaker 2 (Libri2Mix), optionally a third
  file, the noise (the development corpus's noisy two-speaker list): part
  of the mixture, not a source to score. MSi over the two speakers, and 1S
  from a second pass with speaker 1 alone as input.
- "enhancement": noisy mixture, speech, noise. S+N (noisy input) and S-only
  (a second pass with the speech alone as input).
- "mom": mixture of mixtures, mixture 1, mixture 2. MoMi.
"""

import contextlib
import csv
import io
import itertools
import json
import logging
import os
import sys

import numpy as np

from sound_separation import checks
from sound_separation import filesystem
from sound_separation import protocol
from sound_separation.data import audio
from sound_separation.data import examples
from sound_separation.data import formats
from sound_separation.evaluation import listening
from sound_separation.evaluation import metrics

_LOG = logging.getLogger(__name__)

TASKS = ("fuss", "speech", "enhancement", "mom")
# The rate a plain function [T] -> [M, T] is evaluated at unless told: FUSS's.
DEFAULT_SAMPLE_RATE = 16000

# Numbers of sources each task's list lines may have (None: FUSS's 1–4).
_NUM_SOURCES = {"fuss": None, "speech": (2, 3), "enhancement": (2,), "mom": (2,)}
_SOURCE_NAMES = {"speech": "speaker 1, speaker 2[, noise]", "enhancement": "speech, noise",
                 "mom": "mixture 1, mixture 2"}

# The summary's metrics, in dB (None where a task has none).
METRICS = ("MSi", "1S", "TRF", "MoMi", "S+N", "S-only")

SUMMARY_FILE = "summary.json"
EXAMPLES_FILE = "examples.csv"


def _check_args(task, max_examples):
  if task not in TASKS:
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")
  checks.integer("max_examples", max_examples, allow_none=True)


def _check_num_sources(task, list_path, number, example):
  """ExampleError unless `example` has as many sources as `task` scores."""
  expected = _NUM_SOURCES[task]
  if expected is not None and example.num_sources not in expected:
    what = "source file(s)" if example.source_paths is not None else "source(s)"
    raise examples.ExampleError(
        example.name, f"example {number} of list '{list_path}' has {example.num_sources} "
        f"{what}; task {task!r} needs {' or '.join(map(str, expected))} "
        f"({_SOURCE_NAMES[task]})")


def _score_fuss_streaming(separator, list_path, number, mixture_path, source_paths,
                          sample_rate):
  """`score_example`'s record of a FUSS example read, separated and scored in blocks.

  The mixture and its sources are read in ranges (`audio.FileSource`, the
  same samples `audio.read_audio` gives), separated by `separator.stream`
  and summed into `metrics.ExampleStats` block by block, so memory holds a
  few chunks whatever the example's length.
  """
  with contextlib.ExitStack() as stack:
    mixture = stack.enter_context(audio.FileSource(mixture_path, sample_rate))
    sources = [stack.enter_context(audio.FileSource(path, sample_rate)) for path in source_paths]
    for path, source in zip(source_paths, sources):
      if source.num_samples != mixture.num_samples:
        raise examples.ExampleError(
            path, f"has {source.num_samples} samples at {sample_rate} Hz but its mixture "
            f"'{mixture_path}' has {mixture.num_samples} (example {number} of list "
            f"'{list_path}')")
    stats, covered = None, 0
    for start, block in separator.stream(mixture.read, mixture.num_samples):
      block = np.asarray(block)
      stop = start + (block.shape[-1] if block.ndim == 2 else 0)
      if block.ndim != 2 or block.shape[0] < 1 or start != covered:
        raise ValueError(
            f"the separator's stream gave a block of shape {block.shape} at sample {start} for "
            f"'{mixture_path}'; expected consecutive [M, n] blocks (M >= 1) from sample "
            f"{covered}")
      if not np.all(np.isfinite(block)):
        raise ValueError(f"the separator returned non-finite samples for the mixture of "
                         f"'{mixture_path}'")
      if stats is None:
        stats = metrics.ExampleStats(len(sources), block.shape[0])
      stats.add(mixture.read(start, stop), np.stack([s.read(start, stop) for s in sources]),
                block)
      covered = stop
    if covered != mixture.num_samples:
      raise ValueError(f"the separator's stream covered {covered} of the {mixture.num_samples} "
                       f"samples of '{mixture_path}'")
  try:
    return stats.score("fuss")
  except ValueError as e:
    raise ValueError(f"cannot score example {number} ('{mixture_path}'): {e}") from e


def _separate(separate, waveform, mixture_path, what):
  """Calls `separate(waveform [T])` and checks it returns finite `[M, T]`."""
  estimates = np.asarray(separate(waveform))
  num_samples = waveform.shape[0]
  if estimates.ndim != 2 or estimates.shape[0] < 1 or estimates.shape[1] != num_samples:
    raise ValueError(
        f"the separator returned shape {estimates.shape} for the {what} of "
        f"'{mixture_path}' ({num_samples} samples); expected [M, {num_samples}], M >= 1")
  if not np.all(np.isfinite(estimates)):
    raise ValueError(f"the separator returned non-finite samples for the {what} of "
                     f"'{mixture_path}'")
  return estimates


def _score(task, separate, mixture, sources, mixture_path, number):
  estimates = _separate(separate, mixture, mixture_path, "mixture")
  second = None
  if task == "speech":
    second = _separate(separate, sources[0], mixture_path, "first speaker")
  elif task == "enhancement":
    second = _separate(separate, sources[0], mixture_path, "clean speech")
  try:
    if task == "fuss":
      return metrics.score_example(mixture, sources, estimates)
    if task == "speech":  # a third file is the noise: in the mixture, not scored
      return metrics.score_speech(mixture, sources[:2], estimates, second)
    if task == "enhancement":
      return metrics.score_enhancement(mixture, sources[0], estimates, second)
    return metrics.score_mom(mixture, sources, estimates)
  except ValueError as e:
    # e.g. fewer outputs than active references.
    raise ValueError(f"cannot score example {number} ('{mixture_path}'): {e}") from e


def _flatten(record):
  """One CSV row: list fields become `name_1 .. name_n` (1-based) columns."""
  row = {}
  for key, value in record.items():
    if isinstance(value, (list, tuple)):
      for i, item in enumerate(value, start=1):
        row[f"{key}_{i}"] = item
    else:
      row[key] = value
  return row


def write_examples_csv(path, rows):
  """Writes dict rows to CSV; columns in order of first appearance, None as empty."""
  columns = []
  for row in rows:
    columns.extend(k for k in row if k not in columns)
  buffer = io.StringIO(newline="")
  writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
  writer.writeheader()
  for row in rows:
    writer.writerow({k: "" if v is None else v for k, v in row.items()})
  filesystem.write_text(path, buffer.getvalue())


def count_examples(list_path):
  """How many examples a list with sources (`formats.detect`) holds."""
  return formats.detect(list_path, has_sources=True).count(list_path)


def separated_inputs(list_path, task="fuss", max_examples=None):
  """The audio files `evaluate` separates, in order, or None for a records corpus.

  Each example's mixture, and for "speech" and "enhancement" also its first
  source (the second pass); e.g. to count the chunks of a job from their
  headers.
  """
  _check_args(task, max_examples)
  listed = formats.detect(list_path, has_sources=True).files(list_path)
  if listed is None:
    return None
  listed = listed[:max_examples]
  paths = []
  for mixture_path, source_paths in listed:
    paths.append(mixture_path)
    if task in ("speech", "enhancement") and source_paths:
      paths.append(source_paths[0])
  return paths


def _separator_and_rate(separator, sample_rate=None):
  """`(separator, rate)`: `separator` under the protocol, and the rate examples are read at.

  A separator (`protocol`) is evaluated at its own rate; a plain function
  `[T] -> [M, T]` at `sample_rate`, by default FUSS's `DEFAULT_SAMPLE_RATE`.
  """
  if sample_rate is None and not protocol.is_separator(separator):
    sample_rate = DEFAULT_SAMPLE_RATE
  if sample_rate is not None:
    sample_rate = audio.check_sample_rate(sample_rate)
  separator = protocol.as_separator(separator, sample_rate)
  return separator, separator.sample_rate


def score_examples(separator, list_path, task="fuss", sample_rate=None, max_examples=None):
  """Separates and scores every example of a list, one at a time.

  Args: as `evaluate`.

  Returns:
    `(records, rows)`: the `metrics.score_*` record of each example (what
    `metrics.summarize` aggregates; e.g. for bootstrap intervals), and the
    same as flat CSV rows ("index", "mixture" path, the record's fields).

  Raises: as `evaluate`.
  """
  _check_args(task, max_examples)
  separator, sample_rate = _separator_and_rate(separator, sample_rate)
  list_path = os.fspath(list_path)
  if not filesystem.is_remote(list_path):
    list_path = os.path.abspath(list_path)
  data_format = formats.detect(list_path, has_sources=True)
  total = data_format.count(list_path)
  items = data_format.examples(list_path, sample_rate)
  if max_examples is not None:
    items = itertools.islice(items, max_examples)
    total = min(total, max_examples)

  streams = task == "fuss" and callable(getattr(separator, "stream", None))
  records, rows = [], []
  for number, example in enumerate(items, start=1):
    _check_num_sources(task, list_path, number, example)
    if streams and example.source_paths is not None:
      record = _score_fuss_streaming(separator, list_path, number, example.name,
                                     example.source_paths, sample_rate)
    else:
      mixture, sources = example.read()
      record = _score(task, separator.separate, mixture, sources, example.name, number)
    records.append(record)
    rows.append({"index": number, "mixture": example.name, **_flatten(record)})
    if number % 100 == 0:
      _LOG.info("evaluated %d/%d examples", number, total)
  return records, rows


def evaluate(separator, list_path, task="fuss", sample_rate=None, out_dir=None,
             max_examples=None, stream=None):
  """Separates and scores every example of a list; returns the summary.

  Args:
    separator: a separator (`protocol`: `load_model`'s, a `KerasSeparator`,
      a `ChunkedSeparation`, ...), or a plain function `f(waveform float32
      [T]) -> [M, T]` (NumPy or anything `np.asarray` takes). Outputs are in
      full-scale units. It separates once per example, twice for "speech"
      and "enhancement" (also the first source alone). If it has
      `stream(read, num_samples)` yielding consecutive `(start, [M, n])`
      output blocks (as `inference.chunked.ChunkedSeparation` does), the
      "fuss" examples of a list are read, separated and scored block by
      block, so an example of any length takes bounded memory; the other
      tasks' examples (short by construction) and records are read whole.
    list_path: a FUSS-format list (see the module docstring), or the index
      of FUSS records (`data.records`; audio at `sample_rate`).
    task: one of TASKS.
    sample_rate: Hz; audio at other rates is resampled on reading. None: the
      separator's own rate (`DEFAULT_SAMPLE_RATE` for a plain function); a
      separator at another rate is refused.
    out_dir: if given, created and filled with `summary.json` (the
      `metrics.summarize` dict plus "task", "list_path", "sample_rate") and
      `examples.csv` (one row per example: "index", "mixture" path, then the
      record's fields, list fields split into `_1.._S` columns).
    max_examples: score only the first this many examples (None: all).
    stream: text stream for the table (`format_table`); None is stdout.

  Returns:
    the summary dict written to `summary.json`.

  Raises:
    ValueError: a bad argument, a malformed list (naming file and line), or
      separator output that is not finite `[M, T]` (naming the example).
    audio.AudioReadError, examples.ExampleError: an unreadable file, a line
      with the wrong number of files for `task`, or a source whose length
      differs from its mixture's (naming the file).
  """
  separator, sample_rate = _separator_and_rate(separator, sample_rate)
  records, rows = score_examples(separator, list_path, task, sample_rate, max_examples)
  summary = metrics.summarize(records)
  list_path = os.fspath(list_path)
  if not filesystem.is_remote(list_path):
    list_path = os.path.abspath(list_path)
  summary.update(task=task, list_path=list_path, sample_rate=sample_rate)
  if out_dir is not None:
    filesystem.makedirs(out_dir)
    filesystem.write_text(filesystem.join(out_dir, SUMMARY_FILE),
                          json.dumps(summary, indent=2) + "\n")
    write_examples_csv(filesystem.join(out_dir, EXAMPLES_FILE), rows)
  print(format_table(summary), file=sys.stdout if stream is None else stream)
  return summary


_REFERENCE_NAMES = {"fuss": "source", "speech": "speaker", "enhancement": "reference",
                    "mom": "mixture"}


def sample_indices(total, sample_size):
  """`sample_size` example numbers (1-based) spread evenly over `total`, first and last in."""
  if total <= sample_size:
    return list(range(1, total + 1))
  return sorted({int(round(x)) for x in np.linspace(1, total, sample_size)})


def write_listening_page(separator, list_path, out_dir, task="fuss", sample_rate=None,
                         sample_size=8, title=None, intro=""):
  """`<out_dir>/index.html`: a sample of a list's examples, outputs beside references.

  Each sampled example shows its mixture, its references and the separator's
  outputs (players, spectrograms, levels), each output marked active or
  silent as the evaluator decides (`metrics.active_outputs`) and labelled
  with the reference it was matched to and that pair's SI-SNRi; the
  example's scores (MSi, 1S, MoMi) above. The page says how many of the
  list's examples it shows.

  Args:
    separator, list_path, task, sample_rate: as in `evaluate`.
    out_dir: the page's folder (outputs are written into `<out_dir>/report/`).
    sample_size: at most this many examples, spread over the list
      (`sample_indices`).
    title, intro: the page's heading and first paragraph.

  Returns:
    the page's path.
  """
  _check_args(task, None)
  separator, sample_rate = _separator_and_rate(separator, sample_rate)
  list_path = os.fspath(list_path)
  data_format = formats.detect(list_path, has_sources=True)
  total = data_format.count(list_path)
  chosen = sample_indices(total, sample_size)
  shown = (f"{len(chosen)} of the list's {total} examples, spread evenly over it"
           if len(chosen) < total else f"all {total} examples of the list")
  page = listening.ListeningPage(title or f"Evaluation: {os.path.basename(list_path)}",
                                 (intro + " " if intro else "") + f"Shown: {shown}.")
  assets = filesystem.join(out_dir, listening.ASSET_FOLDER)
  filesystem.makedirs(assets)
  reference_name = _REFERENCE_NAMES[task]
  wanted = set(chosen)
  for number, example in enumerate(data_format.examples(list_path, sample_rate), start=1):
    if number not in wanted:
      continue
    _check_num_sources(task, list_path, number, example)
    mixture_path = example.name
    source_paths = example.source_paths or [example.name] * example.num_sources
    mixture, sources = example.read()
    estimates = _separate(separator.separate, mixture, mixture_path, "mixture")
    record = _score(task, lambda _, e=estimates: e, mixture, sources, mixture_path, number)
    active = metrics.active_outputs(estimates, sources)
    # A single-source mixture equals its source, so its improvement is
    # meaningless; show the SI-SNR (its 1S) there, the SI-SNRi elsewhere.
    single = record.get("num_active_refs") == 1
    values = record.get("si_snr" if single else "si_snri") or []
    matched = {}
    for ref, (out, value) in enumerate(zip(record.get("output_index") or [], values)):
      if out is not None:
        matched[out] = (ref, value)
    tracks = [listening.Track("mixture", mixture_path, mixture, sample_rate)]
    tracks += [listening.Track(f"{reference_name} {j + 1}", path, source, sample_rate)
               for j, (path, source) in enumerate(zip(source_paths, sources))]
    for j, estimate in enumerate(estimates):
      output_path = filesystem.join(assets, f"example{number:05d}_output{j}.wav")
      audio.write_audio(output_path, estimate, sample_rate, subtype="PCM_16")
      note = ""
      if j in matched and matched[j][1] is not None:
        note = (f"↔ {reference_name} {matched[j][0] + 1}: SI-SNR{'' if single else 'i'} "
                f"{matched[j][1]:.1f} dB")
      tracks.append(listening.Track(f"output {j + 1}", output_path, estimate, sample_rate,
                                    active=bool(active[j]), note=note))
    scores = {name: f"{record[name]:.2f} dB" for name in ("MSi", "1S", "MoMi")
              if record.get(name) is not None}
    if record.get("num_active_outputs") is not None:
      scores["active outputs / references"] = (f"{record['num_active_outputs']} / "
                                               f"{record['num_active_refs']}")
    page.add(f"Example {number}: {filesystem.basename(mixture_path)}", tracks, scores)
  return page.write(out_dir)


def _db(value, width=8):
  return f"{'n/a':>{width}}" if value is None else f"{value:{width}.2f}"


def format_table(summary):
  """A plain-text table of a summary dict (from `summarize` or `evaluate`)."""
  head = []
  if summary.get("task"):
    head.append(f"task {summary['task']}")
  head.append(f"{summary['num_examples']} examples")
  if summary.get("num_silent_examples"):
    head.append(f"{summary['num_silent_examples']} without active reference (skipped)")
  lines = ["Evaluation: " + ", ".join(head)]
  if summary.get("list_path"):
    lines.append(f"List: {summary['list_path']}")

  names = ["MSi", "1S", "TRF", "MoMi"]
  if summary.get("task") == "enhancement" or summary.get("S+N") is not None:
    names += ["S+N", "S-only"]
  lines.append(f"{'metric':<8}{'dB':>8}")
  lines.extend(f"{name:<8}{_db(summary.get(name))}" for name in names)

  per_count = summary.get("per_source_count") or {}
  if per_count:
    lines.append("")
    lines.append(f"{'sources':>7}{'examples':>10}{'share':>8}{'pairs':>7}{'MSi':>8}{'1S':>8}")
    for n, group in sorted(per_count.items(), key=lambda item: int(item[0])):
      lines.append(f"{n:>7}{group['count']:>10}{group['p']:>8.3f}"
                   f"{group['num_active_pairs']:>7}{_db(group['MSi'])}{_db(group['1S'])}")

  if summary.get("under_separation") is not None:
    counts = [summary[f"{k}_separation"] for k in ("under", "equal", "over")]
    total = sum(counts)
    parts = [f"{k} {c} ({100.0 * c / total:.1f}%)" if total else f"{k} {c}"
             for k, c in zip(("under", "equal", "over"), counts)]
    lines.append("")
    lines.append("Separation (active outputs vs active references): " + ", ".join(parts))
  return "\n".join(lines)
