"""Model folders: a separator or classifier on disk, without gin.

A model folder is what `sound-separation train` writes (a run's `model_dir`),
what `import-tf1` and `save_separator` write, and what `load_model`,
`evaluate`, `export` and `separate` read:

- `separator.json`: `{"sample_rate": Hz, "model": <Keras config>}` (or
  `classifier.json`, with "class_names", for a classifier run);
- `checkpoints/ckpt-<step>`: TensorFlow checkpoints whose object graph holds
  `model=<trainer>` with the trainer's `separator` (or `classifier`); a
  training run's also hold the optimizer, which readers here ignore.

`load_keras_separator` gives the Keras model; its inference functions are
`models.serving`'s.
`newest_intact` finds a folder's newest checkpoint that reads back whole
(every tensor, with TensorFlow's checksums), so that a checkpoint damaged by
a full disk or an interrupted copy is named and skipped instead of stopping
training or inference (docs/robustness.md#damaged-checkpoints).
See docs/formats.md.
"""

import json
import re
import sys

import gin
import keras
import tensorflow as tf

from sound_separation import filesystem
from sound_separation import run_folder
from absl import logging

# The library's Keras classes must be registered before configs deserialise.
from sound_separation.models import classifier as _classifier  # noqa: F401  pylint: disable=unused-import
from sound_separation.models import separation_model as _separation_model  # noqa: F401  pylint: disable=unused-import


def restore_separator(separator, checkpoint):
  """Loads a training checkpoint's separator weights into `separator`.

  Checkpoints hold `model=trainer` and are matched by object graph, not by
  the variables' key names (TensorFlow keys each variable by its shortest
  path, which is through the optimizer). Only the separator is read: the
  other run's optimizer and loss settings are ignored.

  Args:
    separator: a built separator with the checkpoint's architecture.
    checkpoint: a checkpoint prefix, or a run's model_dir / checkpoint
      folder (its latest checkpoint is taken).

  Returns:
    The checkpoint prefix read.
  """
  return restore_submodel(separator, "separator", checkpoint)


def restore_submodel(model, attribute, checkpoint):
  """Loads `trainer.<attribute>` of a training checkpoint into `model`.

  As `restore_separator`, for any part of a trainer (`'separator'` of a
  `MixITTrainer`, `'classifier'` of a `ClassifierTrainer` or of a
  `MixITTrainer` with a classifier); the checkpoint's other objects are
  ignored.

  Returns:
    The checkpoint prefix read.
  """
  path = _resolve(checkpoint)
  source = tf.train.Checkpoint(model=tf.train.Checkpoint(**{attribute: model}))
  source.read(path).assert_existing_objects_matched().expect_partial()
  return path


DAMAGED_FOLDER = "damaged"
_CKPT_STEP = re.compile(r"-(\d+)$")


class DamagedCheckpointError(RuntimeError):
  """Every checkpoint of a folder is damaged (the message names each file and why)."""


def checkpoint_files(prefix):
  """The files of one checkpoint: `<prefix>.index` and its data shards."""
  folder = filesystem.dirname(prefix)
  name = filesystem.basename(prefix)
  return sorted(filesystem.join(folder, f) for f in filesystem.listdir(folder)
                if f == name + ".index" or f.startswith(name + ".data-"))


def checkpoint_problem(prefix):
  """None if every tensor of the checkpoint reads back; else what is wrong, in words.

  Reading a tensor checks its length and CRC32C against the index, so a
  truncated data file ("Read less bytes than requested") and a flipped bit
  ("Checksum does not match") are both found.
  """
  if not filesystem.exists(prefix + ".index"):
    return f"{prefix}.index is missing"
  try:
    # Not tf.train.load_checkpoint: it takes a prefix for a folder on ram://.
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except (tf.errors.OpError, ValueError, IndexError, RuntimeError, OSError) as e:
    message = " ".join(str(getattr(e, "message", e)).split())
    return f"{type(e).__name__}: {message[:300]}"
  return None


def _candidates(folder):
  """Checkpoint prefixes of a folder, newest first (state file and `*.index` files)."""
  found = set()
  state = tf.train.get_checkpoint_state(folder)
  if state is not None:
    # Checkpoints live in the folder itself; the state file may hold paths
    # relative to another working directory, or of the folder before a move.
    for path in list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path]:
      if path:
        found.add(filesystem.join(folder, filesystem.basename(path)))
  for name in filesystem.listdir(folder):
    if name.endswith(".index"):
      found.add(filesystem.join(folder, name[:-len(".index")]))
  step = lambda p: int(_CKPT_STEP.search(p).group(1)) if _CKPT_STEP.search(p) else -1
  return sorted(found, key=lambda p: (step(p), p), reverse=True)


def newest_intact(folder, move_damaged=False, stream=None):
  """The newest checkpoint of `folder` that reads back whole, or None if it has none.

  Damaged newer checkpoints are named in a warning on `stream` (stderr by
  default). With `move_damaged` (a run resuming in its own folder), their
  files are moved to `<folder>/damaged/` — kept, not deleted — and the
  folder's `checkpoint` state file is rewritten to list the intact ones, so
  that TensorFlow's checkpoint manager resumes from the intact one.

  Raises:
    DamagedCheckpointError: the folder has checkpoints and all are damaged.
  """
  stream = stream if stream is not None else sys.stderr
  if not filesystem.isdir(folder):
    return None
  candidates = _candidates(folder)
  damaged = []
  for prefix in candidates:
    problem = checkpoint_problem(prefix)
    if problem is None:
      break
    damaged.append((prefix, problem))
  else:
    prefix = None
  for bad, problem in damaged:
    files = checkpoint_files(bad) or [bad + ".index"]
    where = ""
    if move_damaged:
      aside = filesystem.join(folder, DAMAGED_FOLDER)
      filesystem.makedirs(aside)
      for path in files:
        filesystem.rename(path, filesystem.join(aside, filesystem.basename(path)),
                          overwrite=True)
      where = f"; moved to {aside}/"
    print(f"warning: checkpoint {bad} is damaged ({problem}); files: "
          f"{', '.join(filesystem.basename(f) for f in files)}{where}", file=stream, flush=True)
  if damaged and prefix is None:
    raise DamagedCheckpointError(
        f"every checkpoint in {folder} is damaged: " + "; ".join(
            f"{filesystem.basename(p)} ({problem})" for p, problem in damaged)
        + ". Restore the folder from a copy, or start the run in a new folder.")
  if damaged:
    print(f"warning: using the newest intact checkpoint instead: {prefix}", file=stream,
          flush=True)
    if move_damaged:
      intact = [p for p in candidates if p not in dict(damaged)]
      tf.compat.v1.train.update_checkpoint_state(folder, prefix,
                                                 all_model_checkpoint_paths=list(reversed(intact)))
  return prefix


def _resolve(path):
  # A prefix first: on ram:// a prefix also reads as a folder.
  if filesystem.exists(path + ".index"):
    return path
  for folder in (path, run_folder.checkpoints(path)):
    if filesystem.isdir(folder):
      latest = newest_intact(folder)
      if latest:
        return latest
  raise FileNotFoundError(
      f"checkpoint {path!r} is neither a checkpoint prefix nor a folder "
      f"holding checkpoints.")


def write_separator_config(model_dir, separator, sample_rate):
  """Writes `<model_dir>/separator.json`: what rebuilds the separator without gin.

  The file holds `{"sample_rate": Hz, "model": <Keras config>}`; the Keras
  config deserialises with `keras.saving.deserialize_keras_object` once this
  library is imported (its classes are registered).
  """
  filesystem.makedirs(model_dir)
  filesystem.write_text(run_folder.separator_file(model_dir), json.dumps(
      {"sample_rate": int(sample_rate),
       "model": keras.saving.serialize_keras_object(separator)}, indent=1))


def save_separator(separator, model_dir, sample_rate, step=0):
  """Writes a separator as a model folder that `load_keras_separator` reads.

  The folder has the layout of a training run's (`separator.json`,
  `checkpoints/ckpt-<step>` holding `model=Checkpoint(separator=...)`), so
  it also serves as another run's `init_checkpoint` for fine-tuning.

  Returns:
    The checkpoint prefix written.
  """
  write_separator_config(model_dir, separator, sample_rate)
  checkpoint = tf.train.Checkpoint(model=tf.train.Checkpoint(separator=separator))
  manager = tf.train.CheckpointManager(checkpoint, run_folder.checkpoints(model_dir), max_to_keep=None)
  return manager.save(checkpoint_number=step)


# The classes a separator description may name (`check_separator_description`):
# a model folder is shared and downloaded, so its description is untrusted
# input, and Keras would import whatever module it names.
_ALLOWED_CLASSES = {
    ("sound_separation.models.separation_model", "SeparationModel"),
    ("sound_separation.layers.tdcn", "TDCNPlusPlus"),
    ("keras", "DTypePolicy"),
    ("keras", "FloatDTypePolicy"),
}


def _described_classes(value, where="model"):
  """`[(where, module, class_name)]` of every object a Keras config names."""
  found = []
  if isinstance(value, dict):
    if "class_name" in value:
      found.append((where, value.get("module"), value.get("class_name")))
    for key, item in value.items():
      found += _described_classes(item, f"{where}.{key}")
  elif isinstance(value, list):
    for i, item in enumerate(value):
      found += _described_classes(item, f"{where}[{i}]")
  return found


def _object_shapes(prefix, paths):
  """`{path: shape or None}` of variables at object paths (e.g. 'encoder/dense/_kernel')
  below a checkpoint's `model/separator`, read from its object graph: no tensor is
  loaded and no model built."""
  from tensorflow.core.protobuf import trackable_object_graph_pb2  # pylint: disable=import-outside-toplevel
  # The prefix itself (`load_checkpoint` would take a ram:// prefix for a folder).
  reader = tf.compat.v1.train.NewCheckpointReader(prefix)
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
  shapes = reader.get_variable_to_shape_map()

  def find(names):
    node = 0
    for name in names:
      node = next((c.node_id for c in graph.nodes[node].children if c.local_name == name), None)
      if node is None:
        return None
    keys = [a.checkpoint_key for a in graph.nodes[node].attributes]
    return shapes.get(keys[0]) if keys else None

  return {path: find(["model", "separator"] + path.split("/")) for path in paths}


def check_separator_description(path, config, checkpoint):
  """Refuses a separator description that this library would not have written.

  Checked before anything is built: every object it names must be one of
  this library's separator classes (`_ALLOWED_CLASSES`), its sizes positive
  integers, and the sizes must agree with the checkpoint's variable shapes
  (read from the checkpoint's object graph, nothing allocated).

  Raises:
    ValueError: one line naming `path` and the field.
  """
  for where, module, name in _described_classes(config["model"]):
    if (module, name) not in _ALLOWED_CLASSES:
      raise ValueError(f"{path}: {where} names {module}.{name}, which is not one of this "
                       f"library's separator classes; refusing to load it")
  model = config["model"].get("config", {})
  tdcn = model.get("tdcn", {}).get("config", {})
  sizes = {f"model.config.{k}": model.get(k) for k in ("num_sources", "num_basis",
                                                       "window_size", "hop_size")}
  sizes.update({f"model.config.tdcn.config.{k}": tdcn.get(k) for k in (
      "bottleneck", "conv_channels", "kernel_size", "num_dilations", "num_repeats")})
  for field, value in sizes.items():
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"{path}: {field} must be a positive integer, got {value!r}")
  blocks = tdcn["num_dilations"] * tdcn["num_repeats"]
  expected = {
      "encoder/dense/_kernel": ("model.config.window_size, num_basis",
                                [model["window_size"], model["num_basis"]]),
      "mask_dense/_kernel": ("model.config.tdcn.config.bottleneck, num_basis x num_sources",
                             [tdcn["bottleneck"], model["num_basis"] * model["num_sources"]]),
      "tdcn/conv_block_0/dense1/dense/_kernel": (
          "model.config.tdcn.config.bottleneck, conv_channels",
          [tdcn["bottleneck"], tdcn["conv_channels"]]),
      "tdcn/conv_block_0/timeconv/depthwise_kernel": (
          "model.config.tdcn.config.kernel_size, conv_channels",
          [tdcn["kernel_size"], tdcn["conv_channels"]]),
      f"tdcn/conv_block_{blocks - 1}/dense1/dense/_kernel": (
          "model.config.tdcn.config.num_dilations x num_repeats",
          [tdcn["bottleneck"], tdcn["conv_channels"]]),
  }
  found = _object_shapes(checkpoint, list(expected) + [f"tdcn/conv_block_{blocks}/dense1/dense/_kernel"])
  for variable, (fields, shape) in expected.items():
    if found[variable] != shape:
      raise ValueError(f"{path}: {fields} say {variable} is {shape}, but {checkpoint} holds "
                       f"{found[variable]}; the description does not fit its checkpoint")
  if found[f"tdcn/conv_block_{blocks}/dense1/dense/_kernel"] is not None:
    raise ValueError(f"{path}: model.config.tdcn.config.num_dilations x num_repeats say "
                     f"{blocks} blocks, but {checkpoint} holds more")


def load_keras_separator(model_dir, checkpoint=None):
  """Rebuilds a run's separator and loads its weights.

  Args:
    model_dir: a training run's folder, or one written by `save_separator`
      (`sound-separation import-tf1` writes one).
    checkpoint: a checkpoint prefix to read instead of the folder's latest.

  Returns:
    (separator, sample_rate, checkpoint prefix read).
  """
  config = _read_description(
      run_folder.separator_file(model_dir), "separator",
      "a model folder is a training run's folder, or one written by import-tf1 or adapt")
  model_config, sample_rate = config["model"], config["sample_rate"]
  prefix = _resolve(checkpoint or model_dir)
  check_separator_description(run_folder.separator_file(model_dir), config, prefix)
  separator = keras.saving.deserialize_keras_object(model_config)
  separator(tf.zeros([1, 2 * separator.window_size]))  # creates the variables
  read = restore_separator(separator, prefix)
  return separator, sample_rate, read


# The `SeparationModel` and `TDCNPlusPlus` arguments a separator's description
# fixes; `separator_gin_bindings` turns them into bindings.
_MODEL_ARGUMENTS = ("num_sources", "num_basis", "window_size", "hop_size", "mixture_consistency")
_TDCN_ARGUMENTS = ("bottleneck", "conv_channels", "kernel_size", "num_dilations", "num_repeats",
                   "skip_residuals")


def separator_gin_bindings(model_dir):
  """Gin bindings that build a model folder's separator architecture, and its sample rate.

  A run that fine-tunes a folder (`train.init_checkpoint`) must build the
  same architecture; these bindings, applied after a recipe's model file,
  make it so whatever that file says.

  Returns:
    `(bindings, sample_rate)`.
  """
  config = _read_description(
      run_folder.separator_file(model_dir), "separator",
      "a model folder to fine-tune must be a training run's folder (or one written by "
      "import-tf1)")
  check_separator_description(run_folder.separator_file(model_dir), config,
                              _resolve(model_dir))
  model = config["model"].get("config", {})
  tdcn = model.get("tdcn", {}).get("config", {})
  bindings = [f"sound_separation.SeparationModel.{k} = {model[k]!r}" for k in _MODEL_ARGUMENTS
              if k in model]
  bindings += [f"sound_separation.TDCNPlusPlus.{k} = {tdcn[k]!r}" for k in _TDCN_ARGUMENTS
               if k in tdcn]
  return bindings, config["sample_rate"]


def write_classifier_config(model_dir, classifier, sample_rate, class_names=None):
  """Writes `<model_dir>/classifier.json`: what rebuilds the classifier without gin.

  The file holds `{"sample_rate": Hz, "class_names": [K names] or null,
  "model": <Keras config>}`.
  """
  filesystem.makedirs(model_dir)
  if class_names is not None and len(class_names) != classifier.num_classes:
    raise ValueError(f"{len(class_names)} class names for a classifier of "
                     f"{classifier.num_classes} classes.")
  filesystem.write_text(run_folder.classifier_file(model_dir), json.dumps(
      {"sample_rate": int(sample_rate),
       "class_names": None if class_names is None else list(class_names),
       "model": keras.saving.serialize_keras_object(classifier)}, indent=1))


def read_classifier_config(model_dir):
  """`(keras config, sample_rate, class_names or None)` of a classifier run."""
  config = _read_description(
      run_folder.classifier_file(model_dir), "classifier",
      "a classifier folder is a run of 'sound-separation train-classifier'")
  return config["model"], config["sample_rate"], config.get("class_names")


def _read_description(path, what, hint):
  """The JSON of a model folder's `separator.json` / `classifier.json`, checked.

  Returns the dict, with "model" (a Keras config) and "sample_rate" (int).
  """
  if not filesystem.exists(path):
    raise FileNotFoundError(f"{path} not found: {hint}.")
  with filesystem.open_file(path) as f:
    try:
      config = json.load(f)
      config["sample_rate"] = int(config["sample_rate"])
      if not isinstance(config["model"], dict):
        raise TypeError(f"'model' is {type(config['model']).__name__}, not a Keras config")
    except (ValueError, KeyError, TypeError) as e:
      raise ValueError(f"{path} is not a {what} description ({e!r}).") from None
  return config


def save_classifier(classifier, model_dir, sample_rate, class_names=None, step=0):
  """Writes a classifier's weights alone (no optimizer) as a folder `load_classifier` reads.

  Returns:
    The checkpoint prefix written.
  """
  write_classifier_config(model_dir, classifier, sample_rate, class_names)
  checkpoint = tf.train.Checkpoint(model=tf.train.Checkpoint(classifier=classifier))
  manager = tf.train.CheckpointManager(checkpoint, run_folder.checkpoints(model_dir), max_to_keep=None)
  return manager.save(checkpoint_number=step)


@gin.configurable(module="sound_separation")
def load_classifier(model_dir, checkpoint=None):
  """Rebuilds a pretrained classifier from its run folder and loads its weights.

  For gin: `MixITTrainer.classifier = @load_classifier()` with
  `load_classifier.model_dir = %CLASSIFIER_DIR` starts the semantic losses
  from a pretrained classifier (a `train-classifier` run). Resuming the
  separation run then restores its own (possibly jointly trained) copy.

  Args:
    model_dir: a classifier run's folder (`classifier.json`, `checkpoints/`).
    checkpoint: a checkpoint prefix to read instead of the folder's latest.

  Returns:
    The `SoundClassifier`, built, with the checkpoint's weights.
  """
  config, _, _ = read_classifier_config(model_dir)
  classifier = keras.saving.deserialize_keras_object(config)
  if not classifier.built:
    classifier.build((None, None))
  path = restore_submodel(classifier, "classifier", checkpoint or model_dir)
  logging.info("Loaded the classifier from %s.", path)
  return classifier

