"""Training runs driven from another program: a child process, its clock, its checkpoints.

The study (`study.runner`) and adaptation (`adaptation`) train with
`sound-separation train` in a child process, so that the driver keeps no
TensorFlow state of the run, a crash of the run is an exit status, and the
same command resumes a killed run. They share:

- `train(run_dir, gin_files, params, name, stream)`: runs the child, its
  output appended to `<run_dir>/train.log`, its progress events
  (`progress.jsonl`) echoed to `stream` as `[name] <line>`;
- `TrainClock` / `train_time`: the run's training wall time, written as it
  goes (`<run_dir>/train_time.json`), so a killed invocation still counts;
- `time_steps(probe_dir, ...)`: seconds per step of a recipe on this
  machine, from a short throwaway run (a budget in time becomes steps);
- `kept_checkpoints(run_dir)`: every checkpoint a run kept, by step;
- `CheckpointSeparator(run_dir)`: the run's separator (the separator
  protocol) with its weights switched between checkpoints, for selection.
"""

import glob
import io
import os
import re
import subprocess
import sys
import time

import numpy as np

from sound_separation import filesystem
from sound_separation import protocol
from sound_separation import run_folder
from sound_separation.models import folders
from sound_separation.models import serving
from sound_separation.training import progress

_CKPT = re.compile(r"ckpt-(\d+)\.index$")


def train(run_dir, gin_files, params, name, stream, python=sys.executable, env=None):
  """Trains (or resumes, or finds finished) one run in a child process.

  Args:
    run_dir: the run's folder.
    gin_files: `--gin_file` values.
    params: `--gin_param` bindings.
    name: what the echoed lines and errors call the run.
    stream: where its progress lines go.
    python: the interpreter of the child.
    env: the child's environment (None: this process's).

  Returns:
    the CPU seconds the child used (user + system); `train_time` keeps the
    run's total across invocations, killed ones included.

  Raises:
    RuntimeError: the child failed (naming the run and its log).
  """
  os.makedirs(run_dir, exist_ok=True)
  command = [python, "-m", "sound_separation", "train", f"--model_dir={run_dir}"]
  command += [f"--gin_file={f}" for f in gin_files] + [f"--gin_param={p}" for p in params]
  log_path = run_folder.train_log(run_dir)
  clock = TrainClock(run_dir)
  with filesystem.open_file(log_path, "a") as log:
    log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
    log.flush()
    events = progress.ProgressFile(run_dir)
    events.read_new()  # what earlier attempts reported is not news

    def echo():
      for event in events.read_new():
        print(f"[{name}] {progress.format_event(event)}", file=stream, flush=True)

    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, bufsize=1, env=env)
    for line in child.stdout:
      log.write(line)
      echo()
      clock.tick(cpu_seconds=_cpu_seconds(child.pid))
    _, code, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(code)
    echo()
  clock.tick(force=True, cpu_seconds=usage.ru_utime + usage.ru_stime)
  if child.returncode:
    cause = _last_error(log_path)
    raise RuntimeError(f"training run {name} failed (exit status {child.returncode})"
                       + (f": {cause}" if cause else "") + f"; see {log_path}")
  return usage.ru_utime + usage.ru_stime


def time_steps(probe_dir, gin_files, params, num_steps=30, warmup=10, python=sys.executable,
               env=None):
  """Wall seconds per training step of a recipe here, from a throwaway run in `probe_dir`.

  Trains `num_steps` steps in a child process (as `train` does), takes the
  mean time of the steps after `warmup` (tracing and first batches left out,
  `progress.seconds_per_step_after`) and deletes `probe_dir`. A process pinned
  to one core with one thread spends about as much CPU as wall time, so the
  result also prices a step in CPU seconds there.
  """
  if filesystem.exists(probe_dir):
    filesystem.rmtree(probe_dir)
  train(probe_dir, gin_files, list(params) + [
      f"sound_separation.train.num_steps = {num_steps}",
      f"sound_separation.train.steps_per_checkpoint = {num_steps}",
      "sound_separation.train.log_every = 5"], "timing", io.StringIO(), python=python, env=env)
  events = progress.ProgressFile(probe_dir).read_new()
  seconds = progress.seconds_per_step_after(events, warmup)
  filesystem.rmtree(probe_dir)
  return seconds


def _cpu_seconds(pid):
  """User + system CPU seconds of a running process so far (Linux `/proc`; None elsewhere)."""
  try:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
      fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
  except (OSError, ValueError, IndexError):
    return None


def _last_error(log_path):
  """The child's own error line (`sound-separation train: error: ...`), if its log has one."""
  try:
    lines = filesystem.read_text(log_path).splitlines()
  except OSError:
    return None
  found = [line.split(": error: ", 1)[1] for line in lines if ": error: " in line]
  return found[-1].strip() if found else None


class TrainClock:
  """A run's training wall time (and CPU time) in `<run_dir>/train_time.json`, kept as it goes.

  One invocation adds its elapsed time to what earlier invocations recorded,
  and writes the sum at least every `every_seconds` while it runs (`tick`),
  so an invocation that is killed (a session's end, a crash) still counts up
  to its last write instead of vanishing from the run's compute. Given the
  training process's CPU seconds so far, the CPU total is kept alike
  (`"cpu_seconds"`).
  """

  def __init__(self, run_dir, every_seconds=30.0):
    self.path = run_folder.train_time_file(run_dir)
    self.every_seconds = every_seconds
    self.base = train_time(run_dir)
    self.start = self.written = time.monotonic()
    self.cpu = 0.0
    self.tick(force=True)

  def tick(self, force=False, cpu_seconds=None):
    """Writes the running totals if `every_seconds` have passed (or `force`)."""
    if cpu_seconds is not None:
      self.cpu = cpu_seconds
    now = time.monotonic()
    if force or now - self.written >= self.every_seconds:
      run_folder.write_json(self.path, {
          "seconds": self.base["seconds"] + now - self.start,
          "cpu_seconds": self.base.get("cpu_seconds", 0.0) + self.cpu,
          "invocations": self.base["invocations"] + 1})
      self.written = now


def train_time(run_dir):
  """`{"seconds", "invocations"}` of a run's training so far (zeros if none)."""
  path = run_folder.train_time_file(run_dir)
  return run_folder.read_json(path) if os.path.exists(path) else {"seconds": 0.0,
                                                                   "invocations": 0}


def kept_checkpoints(run_dir, averaged=False):
  """`[(step, prefix)]` of a run's checkpoints (kept and latest), by step.

  With `averaged`, those of its averaged separators instead
  (`checkpoints.AveragedSaver`; none unless the run averaged its weights).
  """
  found = {}
  checkpoints = run_folder.checkpoints(run_dir)
  folders_ = ((run_folder.averaged(checkpoints),) if averaged
              else (run_folder.kept(checkpoints), checkpoints))
  for folder in folders_:
    for index in glob.glob(os.path.join(folder, "ckpt-*.index")):
      match = _CKPT.search(index)
      if match:
        found.setdefault(int(match.group(1)), index[:-len(".index")])
  return sorted(found.items())


class CheckpointSeparator(serving.KerasSeparator):
  """One run's separator (`serving.KerasSeparator`), its weights switched between checkpoints.

  Selection and test lists hold many inputs of one length (10 s clips):
  `separate` sends a length met a second time through the fixed-length
  function, compiled by XLA once (`serving.fixed_length_function`; about
  half the any-length graph's time a call), which reads the weights of
  whichever checkpoint is loaded.
  """

  def __init__(self, run_dir):
    separator, sample_rate, _ = folders.load_keras_separator(run_dir)
    super().__init__(separator, sample_rate, run_dir)
    self.prefix = None
    self._seen = set()

  def load(self, prefix):
    """Restores the checkpoint `prefix` (a run's, or a model folder's) unless it is loaded."""
    if prefix != self.prefix:
      folders.restore_separator(self.separator, prefix)
      self.prefix = prefix
      self.description = prefix
    return self

  def separate(self, waveform):
    waveform = protocol.check_waveform(waveform)
    length = waveform.shape[0]
    if length not in self._seen:
      self._seen.add(length)
      return self(waveform[np.newaxis])[0]
    return self.fixed_length(length)(waveform[np.newaxis])[0]
