"""One writer per run folder: a lock file naming its holder (host, process, command).

Two `train` processes on one folder (a second terminal, a scheduler that
restarts a job still running) would interleave their checkpoints. So a run
takes `<model_dir>/LOCK` before it touches the folder (`run_folder_lock`):
created exclusively (`O_CREAT | O_EXCL`), it holds JSON with the holder's
host name, process id, start time and command line. A second process
refuses at once, naming the holder. A lock whose holder was a process of
this host that no longer exists (killed, crashed) is taken over with a
warning. The lock is removed when the process exits.

Limits (docs/robustness.md#one-writer-per-run-folder): a holder on another
host cannot be checked for life, so its lock is never taken over (delete
the file by hand once that job is gone); on a remote filesystem (`gs://`)
exclusive creation is not atomic, so no lock is taken there and a warning
says so.
"""

import atexit
import datetime
import json
import os
import socket
import sys

from sound_separation import filesystem
from sound_separation import run_folder

class FolderBusyError(RuntimeError):
  """Another live process holds the folder's lock (the message names it)."""


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process: alive
    return True
  return True


class FileLock:
  """An exclusive lock file holding its holder's host, pid, start time and command.

  Args:
    path: the lock file.
    what: what is locked, for messages (e.g. 'run folder runs/m4').
  """

  def __init__(self, path, what=None):
    self.path = os.fspath(path)
    self.what = what or self.path
    self.held = False

  def holder(self):
    """The holder's record (dict; empty if unreadable), or None when there is no lock."""
    try:
      text = filesystem.read_text(self.path)
    except FileNotFoundError:
      return None
    except OSError:
      return {}
    if text.strip().isdigit():  # a pid-only lock of an older version
      return {"pid": int(text)}
    try:
      record = json.loads(text)
    except json.JSONDecodeError:  # being written
      return {}
    return record if isinstance(record, dict) else {}

  def describe(self, record):
    if not record:
      return "another process (its lock file holds no record yet)"
    return (f"process {record.get('pid', '?')} on {record.get('host', 'this host')}"
            + (f" since {record['started']}" if record.get("started") else "")
            + (f" ({record['command']})" if record.get("command") else ""))

  def _stale(self, record):
    """True if the holder was a process of this host that is gone."""
    pid = record.get("pid")
    return (bool(record) and record.get("host", socket.gethostname()) == socket.gethostname()
            and isinstance(pid, int) and pid != os.getpid() and not _alive(pid))

  def try_acquire(self, stream=None):
    """Takes the lock: True if this process holds it now, False if a live process does."""
    stream = stream if stream is not None else sys.stderr
    if self.held:
      return True
    if filesystem.is_remote(self.path):
      print(f"warning: no lock on {self.what}: exclusive files are not atomic on remote "
            f"filesystems; make sure one process writes it", file=stream, flush=True)
      return True
    filesystem.makedirs(os.path.dirname(self.path) or ".")
    record = {"host": socket.gethostname(), "pid": os.getpid(),
              "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "command": " ".join(sys.argv)[:300]}
    for _ in range(3):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = self.holder()
        if holder is None:
          continue  # released meanwhile
        if holder.get("pid") == os.getpid() and holder.get("host") in (None,
                                                                        socket.gethostname()):
          self.held = True  # this process took it before (e.g. a second run in one process)
          return True
        if not self._stale(holder):
          return False
        print(f"warning: taking over the lock of {self.what} left by {self.describe(holder)}, "
              f"which is no longer running", file=stream, flush=True)
        try:
          os.remove(self.path)
        except FileNotFoundError:
          pass
        continue
      with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f)
      self.held = True
      atexit.register(self.release)
      return True
    return False

  def acquire(self, stream=None):
    """Takes the lock or raises FolderBusyError naming the holder."""
    if not self.try_acquire(stream):
      holder = self.holder()
      raise FolderBusyError(
          f"{self.what} is in use by {self.describe(holder)}. Wait for it to finish or stop "
          f"it; if it runs on another machine and is gone, delete {self.path}.")
    return self

  def release(self):
    if self.held:
      self.held = False
      try:
        holder = self.holder()
        if holder is not None and holder.get("pid") == os.getpid():
          os.remove(self.path)
      except OSError:
        pass

  def release_if_mine(self):
    """Removes the lock file if this process holds it (whichever object took it)."""
    holder = self.holder()
    if holder and holder.get("pid") == os.getpid() and holder.get("host") in (
        None, socket.gethostname()):
      self.held = True
      self.release()

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def run_folder_lock(model_dir):
  """The lock of a run folder: `<model_dir>/LOCK`."""
  return FileLock(run_folder.lock_file(model_dir), f"run folder {model_dir}")
