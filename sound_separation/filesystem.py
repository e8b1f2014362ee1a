"""Paths on any filesystem TensorFlow knows: local, `gs://`, `ram://`, ...

Local paths go through Python's own `open` and `os` (fastest, and what
libsndfile reads directly); a path with a scheme other than `file://` goes
through `tf.io.gfile`, so lists, audio, model folders and outputs can live
wherever TensorFlow can read and write (cloud storage for a TPU run, the
in-memory `ram://` filesystem in the tests). Every module of the package
that touches files does it through these functions.
"""

import builtins
import glob as _glob
import io
import os
import posixpath
import re
import shutil

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def _gfile():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.io.gfile


def is_remote(path):
  """True for a path with a URL scheme other than `file://` (read via `tf.io.gfile`)."""
  match = _SCHEME.match(os.fspath(path))
  return bool(match) and match.group(1).lower() != "file"


def _local(path):
  path = os.fspath(path)
  return path[len("file://"):] if path.lower().startswith("file://") else path


def open_file(path, mode="r", newline=None):
  """A file object: text modes read and write UTF-8; 'b' modes bytes.

  `newline` as `open` takes it, for local text files (csv wants '').
  """
  if is_remote(path):
    return _gfile().GFile(os.fspath(path), mode)
  if "b" in mode:
    return builtins.open(_local(path), mode)
  return builtins.open(_local(path), mode, encoding="utf-8", newline=newline)


def _read(path, mode):
  try:
    with open_file(path, mode) as f:
      return f.read()
  except OSError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # tf.errors.* of remote filesystems, as the OSErrors local reads raise.
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if isinstance(e, tf.errors.NotFoundError):
      raise FileNotFoundError(f"{path}: {e.message or 'no such file'}") from e
    if isinstance(e, tf.errors.OpError):
      raise OSError(f"{path}: {e.message}") from e
    raise


def read_bytes(path):
  """The file's bytes; OSError (FileNotFoundError) on any filesystem."""
  return _read(path, "rb")


def read_text(path):
  """The file's text (UTF-8); OSError (FileNotFoundError) on any filesystem."""
  return _read(path, "r")


def write_bytes(path, data):
  """Writes a whole file through a temporary name renamed over `path`.

  A reader never sees half a file, and an existing longer file cannot leave
  its tail behind (TensorFlow's `ram://` does not truncate on rewrite).
  """
  temporary = f"{os.fspath(path)}.partial-{os.getpid()}"
  with open_file(temporary, "wb") as f:
    f.write(data)
  rename(temporary, path, overwrite=True)


def write_failure_cause(path):
  """Why writing a file at `path` fails, in the system's words, or None if it cannot tell.

  Libraries that write through their own C code (libsndfile) report a full
  disk as "System error." So a small probe file is written beside `path`:
  its OSError names the cause ("No space left on device", "Read-only file
  system", "Permission denied"); a missing folder is named as such. When the
  probe succeeds (a nearly full disk, a transient error) the free space is
  reported instead. Local paths only (None for remote ones).
  """
  if is_remote(path):
    return None
  folder = os.path.dirname(os.path.abspath(_local(path)))
  if not os.path.isdir(folder):
    return f"No such folder: {folder}"
  probe = os.path.join(folder, f".write-probe-{os.getpid()}")
  try:
    with builtins.open(probe, "wb") as f:
      f.write(b"\0" * 65536)
      f.flush()
      os.fsync(f.fileno())
  except OSError as e:
    return e.strerror or str(e)
  finally:
    try:
      os.remove(probe)
    except OSError:
      pass
  free = shutil.disk_usage(folder).free
  return f"{free / 1e6:.1f} MB free on that filesystem" if free < 100e6 else None


def write_text(path, text):
  """`write_bytes` of UTF-8 text."""
  write_bytes(path, text.encode("utf-8"))


def readable(path):
  """What libsndfile can open: the local path itself, or the remote file's bytes (`BytesIO`)."""
  if is_remote(path):
    return io.BytesIO(read_bytes(path))
  return _local(path)


def join(base, *parts):
  base = os.fspath(base)
  if is_remote(base):
    return posixpath.join(base, *parts)
  return os.path.join(base, *parts)


def dirname(path):
  """The folder of `path` (absolute for local paths)."""
  path = os.fspath(path)
  if is_remote(path):
    return posixpath.dirname(path.rstrip("/"))
  return os.path.dirname(os.path.abspath(_local(path)))


def basename(path):
  path = os.fspath(path)
  return posixpath.basename(path.rstrip("/")) if is_remote(path) else os.path.basename(path)


def is_absolute(path):
  path = os.fspath(path)
  return is_remote(path) or os.path.isabs(_local(path))


def resolve(list_path, entry):
  """`entry` of a list file as a path: absolute entries (or URLs) as they are,
  relative ones against the list's folder, on the list's filesystem."""
  if is_absolute(entry):
    return entry
  return join(dirname(list_path), entry)


def relative(path, start):
  """`path` relative to the folder `start` (both on one filesystem)."""
  if is_remote(path) or is_remote(start):
    return posixpath.relpath(os.fspath(path), os.fspath(start))
  return os.path.relpath(_local(path), _local(start))


def exists(path):
  return _gfile().exists(os.fspath(path)) if is_remote(path) else os.path.exists(_local(path))


def isdir(path):
  return _gfile().isdir(os.fspath(path)) if is_remote(path) else os.path.isdir(_local(path))


def makedirs(path):
  if is_remote(path):
    _gfile().makedirs(os.fspath(path))
  else:
    os.makedirs(_local(path), exist_ok=True)


def listdir(path):
  if is_remote(path):
    return sorted(name.rstrip("/") for name in _gfile().listdir(os.fspath(path)))
  return sorted(os.listdir(_local(path)))


def glob(pattern):
  """Paths matching a glob pattern, sorted."""
  if is_remote(pattern):
    return sorted(_gfile().glob(os.fspath(pattern)))
  return sorted(_glob.glob(_local(pattern)))


def remove(path):
  """Removes a file."""
  if is_remote(path):
    _gfile().remove(os.fspath(path))
  else:
    os.remove(_local(path))


def rmtree(path):
  """Removes a folder and everything in it."""
  if is_remote(path):
    _gfile().rmtree(os.fspath(path))
  else:
    shutil.rmtree(_local(path))


def rename(source, target, overwrite=False):
  """Renames a file (atomically on local filesystems)."""
  if is_remote(source):
    _gfile().rename(os.fspath(source), os.fspath(target), overwrite=overwrite)
  elif overwrite:
    os.replace(_local(source), _local(target))
  else:
    if os.path.exists(_local(target)):
      raise FileExistsError(f"{target} exists")
    os.rename(_local(source), _local(target))


def walk(path):
  """`(folder, subfolders, files)` like `os.walk`; prune by editing `subfolders`."""
  if not is_remote(path):
    yield from os.walk(_local(path))
    return
  gfile = _gfile()
  pending = [os.fspath(path).rstrip("/")]
  while pending:
    folder = pending.pop(0)
    names = sorted(name.rstrip("/") for name in gfile.listdir(folder))
    subfolders = [n for n in names if gfile.isdir(posixpath.join(folder, n))]
    files = [n for n in names if n not in subfolders]
    yield folder, subfolders, files
    pending[:0] = [posixpath.join(folder, d) for d in subfolders]


def absolute(path):
  path = os.fspath(path)
  return path if is_remote(path) else os.path.abspath(_local(path))


def commonpath(paths):
  """The deepest folder holding every path; all local, or all on one remote filesystem."""
  paths = [absolute(p) for p in paths]
  remote = [p for p in paths if is_remote(p)]
  if not remote:
    return os.path.commonpath(paths)
  schemes = {_SCHEME.match(p).group(0) for p in remote}
  if len(remote) != len(paths) or len(schemes) != 1:
    raise ValueError(f"paths on different filesystems have no common folder: {paths}")
  scheme = schemes.pop()
  return scheme + posixpath.commonpath([p[len(scheme):] for p in paths])
