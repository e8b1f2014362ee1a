"""A run's progress as JSON lines in its folder, and the same as text for people.

Training appends one JSON object per line to `<model_dir>/progress.jsonl`
(on the chief, for a local run folder: append is not a Cloud Storage
operation) as it goes. Programs that follow a run (the study) read these
events, not the wording of the printed lines. Every event has `"v": 1` (this
format's version), `"event"` and `"step"`:

| event | other fields | printed as |
|---|---|---|
| `resumed` | `checkpoint` | `Resumed from <checkpoint> at step <step>.` |
| `initialised` | `checkpoint` | `Initialised the separator from <checkpoint>.` (a fine-tune's start, step 0) |
| `step` | `num_steps`, `metrics` (name → float), `seconds_per_step`, `cpu_seconds_per_step`, `eta_seconds`, `eta_by` ("time_limit" when the time limit, not the step count, ends the run first) | `step 50/2000  loss 6.85  ...  0.627 s/step  ETA 20m18s`; under a time limit `step 50/≤2880  ...  ETA 18m38s (time limit)` |
| `validation` | `metrics` | `step 250 validation  loss ...` |
| `stopped` | `time_limit_seconds` | `Stopped at step ...: the time limit of ... s was reached.` |
| `already_done` | `num_steps` | `... is already at step ... >= num_steps=...` |

A `step` event's `seconds_per_step` is the mean wall time per step since the
previous `step` event (the first: since training began or resumed, tracing
included), and `cpu_seconds_per_step` the process's CPU time (all threads,
user + system) over the same steps: on a shared machine the CPU time a step
costs moves less than its wall time. `seconds_per_step_after` turns a run's
events into either after a warm-up.

A diverging run's metrics are not finite: they are written as Python's
`json` writes them (`NaN`, `Infinity`), which it reads back.

`format_event` gives the printed text of an event; `ProgressFile` writes
events and reads the ones added since its last read.
"""

import json
import math

from sound_separation import filesystem
from sound_separation import run_folder

VERSION = 1


def duration(seconds):
  """'1d02h', '3h05m', '4m07s' for a number of seconds ('?' if unknown)."""
  if seconds is None or not math.isfinite(seconds):
    return "?"
  seconds = int(round(max(seconds, 0)))
  days, seconds = divmod(seconds, 86400)
  hours, seconds = divmod(seconds, 3600)
  minutes, seconds = divmod(seconds, 60)
  if days:
    return f"{days}d{hours:02d}h"
  if hours:
    return f"{hours}h{minutes:02d}m"
  return f"{minutes}m{seconds:02d}s"


def format_metrics(metrics):
  """'name value' pairs, 4 significant digits, the total ('loss') first."""
  names = sorted(metrics, key=lambda name: (name != "loss", name))
  return "  ".join(f"{name} {float(metrics[name]):.4g}" for name in names)


def format_event(event):
  """The line a person reads for `event` (the table in the module docstring)."""
  kind, step = event["event"], event["step"]
  if kind == "resumed":
    return f"Resumed from {event['checkpoint']} at step {step}."
  if kind == "initialised":
    return f"Initialised the separator from {event['checkpoint']}."
  if kind == "step":
    speed = event["seconds_per_step"]
    # Under a time limit the step count only bounds the run: "at most".
    by_time = event.get("eta_by") == "time_limit"
    return (f"step {step}/{'≤' if by_time else ''}{event['num_steps']}  "
            f"{format_metrics(event['metrics'])}  "
            f"{'?' if speed is None else format(speed, '.3g')} s/step  "
            f"ETA {duration(event['eta_seconds'])}{' (time limit)' if by_time else ''}")
  if kind == "validation":
    return f"step {step} validation  {format_metrics(event['metrics'])}"
  if kind == "stopped":
    return (f"Stopped at step {step}: the time limit of {event['time_limit_seconds']:g} s "
            f"was reached.")
  if kind == "already_done":
    return (f"{event.get('model_dir', 'the run')} is already at step {step} >= "
            f"num_steps={event['num_steps']}.")
  raise ValueError(f"unknown progress event {kind!r}")


def seconds_per_step_after(events, warmup, field="seconds_per_step"):
  """The mean wall seconds per step over the steps after `warmup`, from `step` events.

  With `field="cpu_seconds_per_step"`, the mean CPU seconds per step instead.

  Each `step` event's `seconds_per_step` covers the steps since the previous
  one, so the time after the last event at or before step `warmup` is the sum
  of the later events' windows. Only the events of one uninterrupted training
  (no `resumed` among them) can be summed this way.

  Args:
    events: a run's events in order (`ProgressFile.read_new`).
    warmup: steps excluded from the mean (tracing, compilation, first batches).

  Returns:
    float seconds per step.

  Raises:
    ValueError: no `step` event at or before `warmup`, or none after it, or
      the events span a resumed run.
  """
  steps = [e for e in events if e["event"] == "step"]
  if any(e["event"] == "resumed" for e in events):
    raise ValueError("the events span a resumed run: windows before and after the restart "
                     "do not add up")
  start = max((e["step"] for e in steps if e["step"] <= warmup), default=None)
  later = [e for e in steps if start is not None and e["step"] > start]
  if not later:
    raise ValueError(f"need a step event at or before step {warmup} and one after it "
                     f"(events at steps {[e['step'] for e in steps]})")
  seconds, previous = 0.0, start
  for event in later:
    if event.get(field) is None:
      raise ValueError(f"the step event at {event['step']} has no {field}")
    seconds += (event["step"] - previous) * event[field]
    previous = event["step"]
  return seconds / (previous - start)


def report(stream, progress_file, event, **fields):
  """Prints `event`'s line on `stream` and, given a `ProgressFile`, appends the event to it."""
  print(format_event({"v": VERSION, "event": event, **fields}), file=stream, flush=True)
  if progress_file is not None:
    progress_file.write(event, **fields)


class ProgressFile:
  """`<model_dir>/progress.jsonl`: `write` events to it, `read_new` the ones added since.

  Writing is a no-op for a remote run folder (see the module docstring).
  """

  def __init__(self, model_dir):
    self.path = run_folder.progress_file(model_dir)
    self._offset = 0
    self._partial = b""

  def write(self, event, **fields):
    """Appends `{"v": 1, "event": event, **fields}` as one line."""
    if filesystem.is_remote(self.path):
      return
    record = {"v": VERSION, "event": event, **fields}
    with filesystem.open_file(self.path, "a") as f:
      f.write(json.dumps(record, default=float) + "\n")

  def read_new(self):
    """The complete events appended since the last call (none if there is no file yet)."""
    if not filesystem.exists(self.path):
      return []
    with filesystem.open_file(self.path, "rb") as f:
      f.seek(self._offset)
      data = f.read()
    self._offset += len(data)
    lines = (self._partial + data).split(b"\n")
    self._partial = lines.pop()  # an unfinished last line waits for the next read
    events = []
    for line in lines:
      if line.strip():
        event = json.loads(line)
        if event.get("v") != VERSION:
          raise ValueError(f"{self.path}: progress format version {event.get('v')!r}, this "
                           f"library reads version {VERSION}")
        events.append(event)
    return events
