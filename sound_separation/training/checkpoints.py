"""Checkpoints: periodic saves with retention, resume, and fine-tuning init.

A run's checkpoints live in `<model_dir>/checkpoints/` and hold the whole
training state as `tf.train.Checkpoint(model=trainer, optimizer=optimizer)`:
weights, optimizer slots and the step counter (`optimizer.iterations`).
TensorFlow writes each checkpoint to temporary files and renames them into
place, so a process killed while saving leaves the previous one intact.
"""

import os
import typing

import keras
import tensorflow as tf
from absl import logging

from sound_separation import checks
from sound_separation import filesystem
from sound_separation import run_folder
from sound_separation.models import folders
from sound_separation.training import keras_compat


def make_manager(trainer, model_dir, max_to_keep=5):
  """CheckpointManager of a trainer and its (built) optimizer."""
  checkpoint = tf.train.Checkpoint(model=trainer, optimizer=trainer.optimizer)
  return tf.train.CheckpointManager(checkpoint, run_folder.checkpoints(model_dir),
                                    max_to_keep=max_to_keep)


class Restored(typing.NamedTuple):
  """What `restore_or_initialize` did.

  Attributes:
    step: the step training resumes from (0 for a new or fine-tuned run).
    checkpoint: the checkpoint the run resumed from, or None.
    initialised_from: the checkpoint the separator of a new run was read
      from (fine-tuning), or None.
  """
  step: int
  checkpoint: typing.Optional[str] = None
  initialised_from: typing.Optional[str] = None


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
    A `Restored` (the caller reports it: `run.Run.start`).
  """
  latest = (manager.latest_checkpoint if resume_dir is None
            else tf.train.latest_checkpoint(resume_dir))
  if latest:
    manager.checkpoint.restore(latest).assert_existing_objects_matched()
    return Restored(int(trainer.optimizer.iterations.numpy()), checkpoint=latest)
  if init_checkpoint:
    return Restored(0, initialised_from=folders.restore_separator(trainer.separator,
                                                                  init_checkpoint))
  return Restored(0)


def kept_checkpoint_dir(manager):
  """Where `CheckpointSaver` writes the checkpoints retention must not delete."""
  return run_folder.kept(manager.directory)


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
    checks.integer("keep_every_steps", keep_every_steps, allow_none=True)
    self.manager = manager
    self.keep_every_steps = keep_every_steps

  def _keep(self, step):
    """Writes the kept copy of `step` unless retention may delete none or it exists."""
    if not self.keep_every_steps or step % self.keep_every_steps:
      return
    prefix = os.path.join(kept_checkpoint_dir(self.manager), f"ckpt-{step}")
    if filesystem.exists(prefix + ".index"):
      return
    logging.info("Kept %s.", self.manager.checkpoint.write(prefix))

  def on_train_begin(self, logs=None):
    # A run killed between a save and its kept copy resumes from that save
    # with the weights it holds: the copy is written now, or never.
    step = int(self.model.optimizer.iterations.numpy())
    latest = self.manager.latest_checkpoint
    if step and latest and latest.endswith(f"-{step}"):
      self._keep(step)

  def on_epoch_end(self, epoch, logs=None):
    step = int(self.model.optimizer.iterations.numpy())
    latest = self.manager.latest_checkpoint
    if latest and latest.endswith(f"-{step}"):
      return
    path = self.manager.save(checkpoint_number=step)
    logging.info("Saved %s.", path)
    self._keep(step)


def averaged_checkpoint_dir(manager):
  """Where `AveragedSaver` writes the averaged separators."""
  return run_folder.averaged(manager.directory)


class AveragedSaver(keras.callbacks.Callback):
  """Writes the separator with the optimizer's averaged weights at every checkpoint.

  For a run whose optimizer keeps a moving average of the weights
  (`default_optimizer(ema_momentum=...)`), each checkpoint's step also gets
  `<checkpoints>/averaged/ckpt-<step>`: a separator-only checkpoint (as a
  model folder holds: `restore_separator` reads it) of the averages. The
  training state (`CheckpointSaver`) keeps the raw weights and the averages
  in the optimizer, so a resumed run continues both. Retention: the newest
  `max_to_keep`, and every one whose step is a multiple of
  `keep_every_steps`.

  Args:
    manager: the run's `make_manager`.
    separator: the trained separator (`trainer.separator`).
    keep_every_steps, max_to_keep: as the run's checkpoints.
  """

  def __init__(self, manager, separator, keep_every_steps=None, max_to_keep=5):
    super().__init__()
    self.manager = manager
    self.separator = separator
    self.keep_every_steps = keep_every_steps
    self.max_to_keep = max_to_keep
    self.checkpoint = tf.train.Checkpoint(model=tf.train.Checkpoint(separator=separator))

  def on_epoch_end(self, epoch, logs=None):
    optimizer = self.model.optimizer
    step = int(optimizer.iterations.numpy())
    folder = averaged_checkpoint_dir(self.manager)
    prefix = os.path.join(folder, f"ckpt-{step}")
    if step == 0 or filesystem.exists(prefix + ".index"):
      return
    variables = self.separator.trainable_variables
    averages = [keras_compat.moving_average(optimizer, v) for v in variables]
    raw = [v.numpy() for v in variables]
    try:
      for variable, average in zip(variables, averages):
        variable.assign(average)
      logging.info("Averaged weights: %s.", self.checkpoint.write(prefix))
    finally:
      for variable, value in zip(variables, raw):
        variable.assign(value)
    self._retain(folder)

  def _retain(self, folder):
    steps = sorted(int(name[len("ckpt-"):-len(".index")]) for name in filesystem.listdir(folder)
                   if name.startswith("ckpt-") and name.endswith(".index"))
    for step in steps[:-self.max_to_keep] if self.max_to_keep else []:
      if self.keep_every_steps and step % self.keep_every_steps == 0:
        continue
      for path in filesystem.glob(os.path.join(folder, f"ckpt-{step}.*")):
        filesystem.remove(path)
