"""Fail early, with an install hint, when TensorFlow is missing or unsupported.

TensorFlow is not in `install_requires` because the CPU-only wheel
(`tensorflow-cpu`) and the full wheel (`tensorflow`) are different
distributions that overwrite each other; the user picks one through the
`cpu`, `gpu` or `tf` extra (see README).

The check reads the installed distribution's metadata instead of importing
TensorFlow: importing it costs seconds and, before the command line has set
TensorFlow's log level, prints its start-up lines, and `sound-separation
--help` needs none of it. A TensorFlow that no distribution's metadata
describes (a source build) is checked when it is imported, by version.
"""

import importlib.metadata
import importlib.util
import os

SUPPORTED = ((2, 17), (2, 22))  # [low, high)

_HINT = ("Install the library with one of its TensorFlow extras, e.g. "
         "`pip install -e '.[cpu]'` (CPU-only wheel) or `pip install -e '.[gpu]'` "
         "(full wheel with CUDA libraries).")
# Distributions that install the `tensorflow` package, most common first.
_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-intel", "tensorflow-macos",
                  "tensorflow-aarch64", "tf-nightly", "tf-nightly-cpu")


def _parse(version):
  parts = version.split(".")
  return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)


def installed_version():
  """The installed TensorFlow's version string from package metadata, or None if unknown."""
  for name in _DISTRIBUTIONS:
    try:
      return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      continue
  return None


def check_version(version):
  """Raises ImportError (with the install hint) unless `version` is supported."""
  low, high = SUPPORTED
  if not low <= _parse(version) < high:
    raise ImportError(
        f"sound_separation supports TensorFlow >= {low[0]}.{low[1]}, "
        f"< {high[0]}.{high[1]}; found {version}. {_HINT}")


def check_tensorflow():
  """Checks the Keras backend and TensorFlow's presence and version without importing it."""
  # Keras 3 reads this before its first import; anything else than TensorFlow
  # would silently run our tf ops on tensors of another backend.
  backend = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
  if backend != "tensorflow":
    raise ImportError(
        f"sound_separation needs the TensorFlow backend of Keras 3, but "
        f"KERAS_BACKEND={backend!r}. Unset it or set it to 'tensorflow'.")
  if importlib.util.find_spec("tensorflow") is None:
    raise ImportError(f"sound_separation needs TensorFlow. {_HINT}")
  version = installed_version()
  if version is not None:
    check_version(version)
