"""Lazy package exports: a name is imported from its module on first use.

A package's `__init__` lists what it exports and from which submodule;
nothing is imported until a name is used, so that importing one light
module of a package (e.g. `data.audio` for `separate` with LiteRT) does not
import TensorFlow through its siblings.

    __getattr__, __dir__, __all__ = lazy.exports(__name__, {
        "read_audio": "audio", ...})
"""

import importlib


def exports(package, names):
  """`(__getattr__, __dir__, __all__)` for `package` exporting `{name: submodule}`."""

  def __getattr__(name):  # pylint: disable=invalid-name
    if name not in names:
      raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

  def __dir__():  # pylint: disable=invalid-name
    return sorted(set(names) | set(vars(importlib.import_module(package))))

  return __getattr__, __dir__, sorted(names)
