"""Registering Keras 3 classes with gin and with Keras serialization at once."""

import importlib.resources
import inspect
import logging
import os
import pathlib

import gin
import keras


def register_keras(cls):
  """Make a Keras layer or model class gin-configurable and serializable.

  gin-config 0.5 wraps `__init__` in a `(*args, **kwargs)` function. Keras 3's
  `Operation.__new__` reads the constructor's argument names with
  `inspect.getfullargspec` and fails with an IndexError on that wrapper, so the
  real signature is put back on the wrapper. The class is also registered
  under the `sound_separation` package for `.keras` round trips (it still
  needs its own `get_config`).

  Args:
    cls: a `keras.layers.Layer` (or `keras.Model`) subclass.

  Returns:
    The same class, registered.
  """
  signature = inspect.signature(cls.__init__)
  cls = gin.configurable(cls, module="sound_separation")
  cls.__init__.__signature__ = signature
  return keras.saving.register_keras_serializable(package="sound_separation")(cls)


def configurable(fn_or_cls=None, *, denylist=None):
  """`gin.configurable` in this library's gin module (`sound_separation.X`).

  Use as `@configurable` or `@configurable(denylist=[...])`. A function
  whose caller always passes some arguments (`fuss_dataset`'s caller passes
  `max_sources`, for instance) denies them: a gin binding of one would be silently
  overridden, so gin refuses it with an error naming the argument instead.
  """
  if fn_or_cls is None:
    return lambda f: gin.configurable(f, module="sound_separation", denylist=denylist)
  return gin.configurable(fn_or_cls, module="sound_separation", denylist=denylist)


def is_bound(name):
  """Whether the parsed configuration binds `name` ('sound_separation.train.num_steps')."""
  try:
    gin.query_parameter(name)
    return True
  except ValueError:
    return False


_SEARCH_PATHS_ADDED = set()


def gin_search_path():
  """Folders holding this library's gin files, in search order.

  An installed wheel's `sound_separation/gin/` (package data, found through
  `importlib.resources`), or, in a source checkout or an editable install,
  the checkout's top-level `gin/` (the package sits beside it, with the
  checkout's `setup.cfg`).
  """
  packaged = importlib.resources.files("sound_separation") / "gin"
  if isinstance(packaged, pathlib.Path) and packaged.is_dir():
    return [str(packaged)]
  checkout = pathlib.Path(__file__).resolve().parents[1]
  if (checkout / "setup.cfg").is_file() and (checkout / "gin").is_dir():
    return [str(checkout / "gin")]
  return []


def resolve_gin_file(name):
  """The path of a gin file given as a path, or relative to `gin_search_path()`.

  `name` may omit the `.gin` suffix, e.g. 'papers/waspaa2021/yfcc100m_sparsity_m8'.

  Raises:
    FileNotFoundError: naming every place looked in.
  """
  names = [name] if name.endswith(".gin") else [name, name + ".gin"]
  tried = []
  for root in [""] + gin_search_path():
    for candidate in names:
      path = os.path.join(root, candidate)
      tried.append(path)
      if os.path.isfile(path):
        return path
  raise FileNotFoundError(f"gin file {name!r} not found; looked for: {', '.join(tried)}")


def parse_gin(files=(), params=(), finalize=False):
  """Parses gin files (resolved by `resolve_gin_file`) and then bindings.

  The library's gin folders are on gin's search path, so files can
  `include 'models/tdcnpp_m8.gin'`. Later files and bindings override
  earlier ones.

  Args:
    files: gin file paths or names.
    params: gin bindings, applied after the files.
    finalize: lock the configuration afterwards (as a command line should;
      a locked configuration cannot be parsed into again in this process).
  """
  for root in gin_search_path():
    if root not in _SEARCH_PATHS_ADDED:
      gin.add_config_file_search_path(root)
      _SEARCH_PATHS_ADDED.add(root)
  files = [resolve_gin_file(f) for f in files]
  # gin tries each include in the working directory first and logs an ERROR
  # for every miss there, before finding it on the search path.
  root_logger = logging.getLogger()
  root_logger.addFilter(_drop_gin_misses)
  try:
    gin.parse_config_files_and_bindings(files, list(params), finalize_config=finalize)
  finally:
    root_logger.removeFilter(_drop_gin_misses)


def _drop_gin_misses(record):
  return not record.getMessage().startswith("Path not found:")
