"""Checkpoints: periodic saves with retention, resume, and fine-tuning init.

A run's checkpoints live in `<model_dir>/checkpoints/` and hold the whole
training state as `tf.train.Checkpoint(model=trainer, optimizer=optimizer)`:
weights, optimizer slots and the step counter (`optimizer.iterations`).
TensorFlow writes each checkpoint to temporary files and renames them into
place, so a process killed while saving leaves the previous one intact.
"""

import json
import os

import gin
import keras
import tensorflow as tf
from absl import logging


def checkpoint_dir(model_dir):
  return os.path.join(model_dir, "checkpoints")


def make_manager(trainer, model_dir, max_to_keep=5):
  """CheckpointManager of a trainer and its (built) optimizer."""
  checkpoint = tf.train.Checkpoint(model=trainer, optimizer=trainer.optimizer)
  return tf.train.CheckpointManager(checkpoint, checkpoint_dir(model_dir),
                                    max_to_keep=max_to_keep)


def restore_or_initialize(manager, trainer, init_checkpoint=None, resume_dir=None):
  """Resumes from the run's latest checkpoint, else initialises for fine-tuning.

  Args:
    manager: from `make_manager`; the optimizer must already be built.
    trainer: the training model; its separator is `trainer.separator`.
    init_checkpoint: used only when the run has no checkpoint yet: a
      checkpoint prefix, or a model_dir / checkpoint folder (its latest is
      taken), of another run. Only the separator's weights are read from it
      (the paper fine-tunes every loss from a MixIT-only baseline); the
      optimizer and step start fresh.
    resume_dir: the checkpoint folder to resume from, if not the manager's
      own: a MultiWorkerMirrored worker that is not the chief saves to a
      scratch folder but must resume from the chief's checkpoints, or its
      replicas would start from other weights than the chief's.

  Returns:
    The step training resumes from (0 for a new or fine-tuned run).
  """
  latest = (manager.latest_checkpoint if resume_dir is None
            else tf.train.latest_checkpoint(resume_dir))
  if latest:
    manager.checkpoint.restore(latest).assert_existing_objects_matched()
    step = int(trainer.optimizer.iterations.numpy())
    logging.info("Resumed from %s at step %d.", latest, step)
    return step
  if init_checkpoint:
    path = restore_separator(trainer.separator, init_checkpoint)
    logging.info("Initialised the separator from %s.", path)
  return 0


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


def _resolve(path):
  for folder in (path, checkpoint_dir(path)):
    if tf.io.gfile.isdir(folder):
      latest = tf.train.latest_checkpoint(folder)
      if latest:
        return latest
  if tf.io.gfile.exists(path + ".index"):
    return path
  raise FileNotFoundError(
      f"checkpoint {path!r} is neither a checkpoint prefix nor a folder "
      f"holding checkpoints.")


SEPARATOR_FILE = "separator.json"


def write_separator_config(model_dir, separator, sample_rate):
  """Writes `<model_dir>/separator.json`: what rebuilds the separator without gin.

  The file holds `{"sample_rate": Hz, "model": <Keras config>}`; the Keras
  config deserialises with `keras.saving.deserialize_keras_object` once this
  library is imported (its classes are registered).
  """
  os.makedirs(model_dir, exist_ok=True)
  with open(os.path.join(model_dir, SEPARATOR_FILE), "w", encoding="utf-8") as f:
    json.dump({"sample_rate": int(sample_rate),
               "model": keras.saving.serialize_keras_object(separator)}, f, indent=1)


def save_separator(separator, model_dir, sample_rate, step=0):
  """Writes a separator as a model folder that `load_separator` reads.

  The folder has the layout of a training run's (`separator.json`,
  `checkpoints/ckpt-<step>` holding `model=Checkpoint(separator=...)`), so
  it also serves as another run's `init_checkpoint` for fine-tuning.

  Returns:
    The checkpoint prefix written.
  """
  write_separator_config(model_dir, separator, sample_rate)
  checkpoint = tf.train.Checkpoint(model=tf.train.Checkpoint(separator=separator))
  manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir(model_dir), max_to_keep=None)
  return manager.save(checkpoint_number=step)


def load_separator(model_dir, checkpoint=None):
  """Rebuilds a run's separator and loads its weights.

  Args:
    model_dir: a training run's folder, or one written by `save_separator`
      (`sound-separation import-tf1` writes one).
    checkpoint: a checkpoint prefix to read instead of the folder's latest.

  Returns:
    (separator, sample_rate, checkpoint prefix read).
  """
  config = _read_description(
      os.path.join(model_dir, SEPARATOR_FILE), "separator",
      "--model_dir must be a training run's folder (or one written by import-tf1)")
  model_config, sample_rate = config["model"], config["sample_rate"]
  import sound_separation.models  # pylint: disable=import-outside-toplevel,unused-import
  separator = keras.saving.deserialize_keras_object(model_config)
  separator(tf.zeros([1, 2 * separator.window_size]))  # creates the variables
  read = restore_separator(separator, checkpoint or model_dir)
  return separator, sample_rate, read


def kept_checkpoint_dir(manager):
  """Where `CheckpointSaver` writes the checkpoints retention must not delete."""
  return os.path.join(manager.directory, "kept")


class CheckpointSaver(keras.callbacks.Callback):
  """Saves the training state at the end of every epoch (`steps_per_epoch`).

  `fit` also ends an epoch when a callback stops training, so the stopping
  step is saved too. A step that already has a checkpoint is not saved again.

  Args:
    manager: from `make_manager`; it deletes all but its newest checkpoints.
    keep_every_steps: None, or also write every checkpoint whose step is a
      multiple of this to `<checkpoints>/kept/ckpt-<step>`, which retention
      never deletes (e.g. the 1M-step baseline the paper fine-tunes from).
  """

  def __init__(self, manager, keep_every_steps=None):
    super().__init__()
    if keep_every_steps is not None and not (isinstance(keep_every_steps, int)
                                             and keep_every_steps > 0):
      raise ValueError(f"keep_every_steps must be None or a positive integer, got "
                       f"{keep_every_steps!r}.")
    self.manager = manager
    self.keep_every_steps = keep_every_steps

  def on_epoch_end(self, epoch, logs=None):
    step = int(self.model.optimizer.iterations.numpy())
    latest = self.manager.latest_checkpoint
    if latest and latest.endswith(f"-{step}"):
      return
    path = self.manager.save(checkpoint_number=step)
    logging.info("Saved %s.", path)
    if self.keep_every_steps and step % self.keep_every_steps == 0:
      kept = self.manager.checkpoint.write(
          os.path.join(kept_checkpoint_dir(self.manager), f"ckpt-{step}"))
      logging.info("Kept %s.", kept)


CLASSIFIER_FILE = "classifier.json"


def write_classifier_config(model_dir, classifier, sample_rate, class_names=None):
  """Writes `<model_dir>/classifier.json`: what rebuilds the classifier without gin.

  The file holds `{"sample_rate": Hz, "class_names": [K names] or null,
  "model": <Keras config>}`.
  """
  os.makedirs(model_dir, exist_ok=True)
  if class_names is not None and len(class_names) != classifier.num_classes:
    raise ValueError(f"{len(class_names)} class names for a classifier of "
                     f"{classifier.num_classes} classes.")
  with open(os.path.join(model_dir, CLASSIFIER_FILE), "w", encoding="utf-8") as f:
    json.dump({"sample_rate": int(sample_rate),
               "class_names": None if class_names is None else list(class_names),
               "model": keras.saving.serialize_keras_object(classifier)}, f, indent=1)


def read_classifier_config(model_dir):
  """`(keras config, sample_rate, class_names or None)` of a classifier run."""
  config = _read_description(
      os.path.join(model_dir, CLASSIFIER_FILE), "classifier",
      "a classifier folder is a run of 'sound-separation train-classifier'")
  return config["model"], config["sample_rate"], config.get("class_names")


def _read_description(path, what, hint):
  """The JSON of a model folder's `separator.json` / `classifier.json`, checked.

  Returns the dict, with "model" (a Keras config) and "sample_rate" (int).
  """
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"{path} not found: {hint}.")
  with tf.io.gfile.GFile(path) as f:
    try:
      config = json.load(f)
      config["sample_rate"] = int(config["sample_rate"])
      if not isinstance(config["model"], dict):
        raise TypeError(f"'model' is {type(config['model']).__name__}, not a Keras config")
    except (ValueError, KeyError, TypeError) as e:
      raise ValueError(f"{path} is not a {what} description ({e!r}).") from None
  return config


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
  import sound_separation.models  # pylint: disable=import-outside-toplevel,unused-import
  config, _, _ = read_classifier_config(model_dir)
  classifier = keras.saving.deserialize_keras_object(config)
  if not classifier.built:
    classifier.build((None, None))
  path = restore_submodel(classifier, "classifier", checkpoint or model_dir)
  logging.info("Loaded the classifier from %s.", path)
  return classifier
