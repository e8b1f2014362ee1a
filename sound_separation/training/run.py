"""The run setup of the training loop (`loop.run_task`), whatever task it trains.

A run is a folder and a training model. `start` builds the strategy, this
worker's write folder, the model and its optimizer under the strategy's
scope at the run's precision, the checkpoint manager, and restores the
latest checkpoint (or initialises from a baseline for fine-tuning); the
chief writes `config.gin` and the model's description. `callbacks` gives
the callbacks every run has; `fit` trains one fit epoch per checkpoint
interval to `num_steps`; `finish` removes a non-chief worker's scratch
folder and says what the run reached (`TrainResult`).
"""

import math
import os
import sys
import typing
import zlib

import gin
import keras
import tensorflow as tf
from absl import logging

from sound_separation import checks
from sound_separation import filesystem
from sound_separation import run_folder
from sound_separation.models import folders
from sound_separation.training import callbacks as callbacks_lib
from sound_separation.training import checkpoints
from sound_separation.training import keras_compat
from sound_separation.training import locks
from sound_separation.training import progress
from sound_separation.training import strategies

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


class TrainResult(typing.NamedTuple):
  """What a training loop returns.

  Attributes:
    trainer: the training model (`MixITTrainer` with its trained separator
      `trainer.separator`, or `ClassifierTrainer`).
    step: the optimizer step training ended at.
    stopped_on_time: True if `time_limit_seconds` ended the run early.
    metrics: the training metrics of the last checkpoint interval
      `{name: float}` (means over its steps; empty if no step ran).
    validation: the last validation metrics `{name: float}` (empty without
      validation data), e.g. `{'loss': ..., 'mixit': ...}`.
    initial_validation: the validation metrics before the first step of a
      new run (empty when resuming or without validation data).
  """
  trainer: keras.Model
  step: int
  stopped_on_time: bool
  metrics: dict
  validation: dict
  initial_validation: dict


class Run(typing.NamedTuple):
  """A started run (`start`).

  Attributes:
    model_dir: the run's folder.
    write_dir: where this worker writes checkpoints (`model_dir` on the chief).
    is_chief: whether this worker writes the run's files.
    trainer: the training model, built, compiled, restored.
    manager: its `tf.train.CheckpointManager`.
    step: the step it was restored at (0 for a new run).
    strategy: the `tf.distribute` strategy it runs under.
    seed: the run's seed (`start`).
  """
  model_dir: str
  write_dir: str
  is_chief: bool
  trainer: keras.Model
  manager: tf.train.CheckpointManager
  step: int
  strategy: tf.distribute.Strategy
  seed: int


def check_schedule(num_steps, steps_per_checkpoint, *, gin_name, steps_per_execution=1,
                   keep_checkpoint_every_steps=None, time_limit_seconds=None):
  """The checks every training loop makes of its schedule (one place for both loops).

  Args:
    num_steps, steps_per_checkpoint, steps_per_execution,
      keep_checkpoint_every_steps, time_limit_seconds: the loop's arguments.
    gin_name: the loop's gin name ('train', 'train_classifier'), for the
      num_steps hint.

  Raises:
    ValueError: naming the argument and what it must be.
  """
  checks.integer("num_steps", num_steps, hint=f" (gin: {gin_name}.num_steps)")
  checks.integer("steps_per_checkpoint", steps_per_checkpoint)
  if (isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int)
      or steps_per_execution < 1 or steps_per_checkpoint % steps_per_execution):
    raise ValueError(f"steps_per_execution={steps_per_execution!r} must be a positive divisor "
                     f"of steps_per_checkpoint={steps_per_checkpoint} (Keras runs whole "
                     f"executions, so checkpoints would fall between them).")
  if keep_checkpoint_every_steps is not None and (
      not isinstance(keep_checkpoint_every_steps, int)
      or keep_checkpoint_every_steps % steps_per_checkpoint):
    raise ValueError(f"keep_checkpoint_every_steps={keep_checkpoint_every_steps!r} must be a "
                     f"multiple of steps_per_checkpoint={steps_per_checkpoint} (checkpoints "
                     f"are written only every steps_per_checkpoint steps).")
  if time_limit_seconds is not None and not time_limit_seconds > 0:
    raise ValueError(f"time_limit_seconds must be positive, got {time_limit_seconds!r}.")


def worker_model_dir(strategy, model_dir):
  """`(folder this worker writes to, is_chief)`: `model_dir` on the chief.

  Every MultiWorkerMirrored worker must take part in saving a checkpoint
  (the save runs collective ops), but only the chief's copy is the run's; the
  others write to a folder of their own that is deleted at the end, and all
  resume from the chief's checkpoints (`model_dir` must be on storage every
  worker reads, as TensorFlow's multi-worker training requires).
  """
  resolver = getattr(strategy, "cluster_resolver", None)
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
    return model_dir, True
  task_type, task_id = resolver.task_type, resolver.task_id
  cluster = resolver.cluster_spec().as_dict()
  is_chief = task_type in (None, "chief") or (
      task_type == "worker" and task_id == 0 and "chief" not in cluster)
  if is_chief:
    return model_dir, True
  return filesystem.join(model_dir, f".{task_type}_{task_id}"), False


def folder_seed(model_dir):
  """A seed that is the run folder's own: the same on every worker and after a resume."""
  return zlib.crc32(os.fspath(model_dir).rstrip("/").encode()) & 0x7FFFFFFF


def write_run_config(model_dir, step):
  """Writes the gin configuration to `config.gin`, or beside it when a resume changed it."""
  filesystem.makedirs(model_dir)
  config = gin.config_str()
  path = run_folder.config_file(model_dir)
  if step and filesystem.exists(path) and filesystem.read_text(path) != config:
    path = run_folder.config_file(model_dir, resumed_at=step)
    logging.warning("The gin configuration differs from the one the run started "
                    "with; writing it to %s.", path)
  filesystem.write_text(path, config)


def start(model_dir, build_trainer, optimizer, *, max_checkpoints_to_keep=5,
          init_checkpoint=None, precision="float32", jit_compile=False,
          steps_per_execution=1, describe=None, seed=None, stream=None):
  """Builds, compiles and restores a run's training model; returns a `Run`.

  Args:
    model_dir: the run's folder.
    build_trainer: `(dtype) -> training model`, called under the strategy's
      scope with `precision` as `dtype`: the model passes its dtype policy on
      to every sub-layer it makes (the global policy is left alone).
    optimizer: `() -> keras optimizer`.
    max_checkpoints_to_keep: checkpoint retention.
    init_checkpoint: for a new run: a run folder or checkpoint prefix whose
      separator initialises this one (`checkpoints.restore_or_initialize`).
    precision: one of `PRECISIONS`.
    jit_compile, steps_per_execution: as `keras.Model.compile` takes them.
    describe: `(model_dir, trainer) -> None`, run on the chief: writes the
      model's description (`separator.json`, `classifier.json`).
    seed: seeds Python's, NumPy's and TensorFlow's generators before the
      model is made (its initial weights); default `folder_seed(model_dir)`.
    stream: where the resume (or fine-tuning) is said (default stdout); the
      chief also records it in the progress file.
  """
  if precision not in PRECISIONS:
    raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
  strategy = strategies.get_strategy()
  write_dir, is_chief = worker_model_dir(strategy, model_dir)
  if is_chief:  # one writer per run folder: a second process refuses, naming the holder
    locks.run_folder_lock(model_dir).acquire()
  try:
    return _start_locked(model_dir, build_trainer, optimizer, strategy, write_dir, is_chief,
                         max_checkpoints_to_keep, init_checkpoint, precision, jit_compile,
                         steps_per_execution, describe, seed, stream)
  except BaseException:
    # A configuration error (a bad binding, a missing baseline) leaves no lock behind.
    if is_chief:
      locks.run_folder_lock(model_dir).release_if_mine()
    raise


def _start_locked(model_dir, build_trainer, optimizer, strategy, write_dir, is_chief,
                  max_checkpoints_to_keep, init_checkpoint, precision, jit_compile,
                  steps_per_execution, describe, seed, stream):
  """`start` once the run folder is this process's."""
  seed = folder_seed(model_dir) if seed is None else int(seed)
  keras.utils.set_random_seed(seed)
  with strategy.scope():
    trainer = build_trainer(precision)
    # Keras wraps the optimizer in a LossScaleOptimizer for a mixed_float16 model.
    trainer.compile(optimizer=optimizer(), jit_compile=jit_compile,
                    steps_per_execution=steps_per_execution)
    trainer.optimizer.build(trainer.trainable_variables)
    if is_chief:  # a damaged newest checkpoint is named, moved aside, and skipped
      folders.newest_intact(run_folder.checkpoints(model_dir), move_damaged=True)
    manager = checkpoints.make_manager(trainer, write_dir, max_checkpoints_to_keep)
    restored = checkpoints.restore_or_initialize(
        manager, trainer, init_checkpoint, resume_dir=run_folder.checkpoints(model_dir))
  step = restored.step
  if is_chief:
    write_run_config(model_dir, step)
    if describe is not None:
      describe(model_dir, trainer)
  progress_file = progress.ProgressFile(model_dir) if is_chief else None
  if restored.checkpoint:
    progress.report(stream or sys.stdout, progress_file, "resumed", step=step,
                    checkpoint=restored.checkpoint)
  elif restored.initialised_from:
    progress.report(stream or sys.stdout, progress_file, "initialised", step=0,
                    checkpoint=restored.initialised_from)
  return Run(model_dir, write_dir, is_chief, trainer, manager, step, strategy, seed)


def progress_file(run):
  """The run's `progress.ProgressFile` on the chief; None on other workers."""
  return progress.ProgressFile(run.model_dir) if run.is_chief else None


def report(run, stream, event, **fields):
  """`progress.report` for a run: printed, and on the chief appended to its progress file."""
  progress.report(stream, progress_file(run), event, **fields)


def per_host(strategy):
  """Whether each host must build its own input pipeline (multi-worker, TPU)."""
  return keras_compat.is_multi_worker(strategy) or isinstance(
      strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))


def input_data(run, make_dataset):
  """The training input: `make_dataset(input_context)`, one pipeline per host where needed.

  Under a multi-worker or TPU strategy each host builds its own pipeline
  with its `tf.distribute.InputContext` (`strategy.distribute_datasets_from_function`)
  and reads only its share; elsewhere `make_dataset(None)` is the one
  pipeline and Keras splits its batches over the local replicas.
  """
  if per_host(run.strategy):
    return run.strategy.distribute_datasets_from_function(make_dataset)
  return make_dataset(None)


def already_done(run, num_steps, stream):
  """A `TrainResult` when the run is already at `num_steps` (said on `stream`), else None."""
  if run.step < num_steps:
    return None
  report(run, stream, "already_done", step=run.step, num_steps=num_steps,
         model_dir=os.fspath(run.model_dir))
  return TrainResult(run.trainer, run.step, False, {}, {}, {})


def callbacks(run, num_steps, *, stream, log_every, summary_every, time_limit_seconds=None,
              max_consecutive_nonfinite=20, keep_checkpoint_every_steps=None,
              max_checkpoints_to_keep=5, validators=(), audio=None, sample_rate=16000):
  """The callbacks of every run, in order; returns `(callbacks, stopper, summaries)`.

  Stop at `num_steps` (or the time limit), the non-finite guard, the
  checkpoint saver (and, for an optimizer that averages the weights, the
  averaged separators' saver), then `validators` (which add `val_*` logs at each
  checkpoint), the progress line and, on the chief, TensorBoard summaries
  (`summaries`, else None) with `audio` examples.
  """
  stopper = callbacks_lib.StopAtStep(num_steps, time_limit_seconds)
  run_callbacks = [stopper, callbacks_lib.NonFiniteGuard(max_consecutive_nonfinite, stream),
                   checkpoints.CheckpointSaver(run.manager, keep_checkpoint_every_steps),
                   *([checkpoints.AveragedSaver(run.manager, run.trainer.separator,
                                                keep_checkpoint_every_steps,
                                                max_checkpoints_to_keep)]
                     if getattr(run.trainer.optimizer, "use_ema", False) else []),
                   *validators,
                   callbacks_lib.ProgressLogger(num_steps, log_every, stream, time_limit_seconds,
                                                progress_file(run))]
  summaries = None
  if run.is_chief:
    summaries = callbacks_lib.TensorBoardSummaries(
        run_folder.summaries(run.model_dir), summary_every, audio, sample_rate)
    run_callbacks.append(summaries)
  return run_callbacks, stopper, summaries


def fit(run, train_ds, num_steps, steps_per_checkpoint, run_callbacks, stopper, stream,
        validation_ds=None):
  """`trainer.fit` from the run's step to `num_steps`, one fit epoch per checkpoint interval.

  Returns:
    `(the step reached, the last training logs, the last validation logs
    without their `val_` prefix)`.
  """
  trainer = run.trainer
  initial_epoch = run.step // steps_per_checkpoint
  epochs = initial_epoch + math.ceil((num_steps - run.step) / steps_per_checkpoint)
  history = trainer.fit(train_ds, epochs=epochs, initial_epoch=initial_epoch,
                        steps_per_epoch=steps_per_checkpoint, validation_data=validation_ds,
                        callbacks=run_callbacks, shuffle=False, verbose=0)
  step = int(trainer.optimizer.iterations.numpy())
  last = {k: keras_compat.scalar(v[-1]) for k, v in history.history.items() if v}
  metrics = {k: v for k, v in last.items() if not k.startswith("val_")}
  validation = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
  if stopper.stopped_on_time:
    report(run, stream, "stopped", step=step, time_limit_seconds=stopper.time_limit_seconds)
  return step, metrics, validation


def finish(run):
  """Releases the run folder's lock (chief); removes a non-chief worker's scratch folder."""
  if run.is_chief:
    locks.run_folder_lock(run.model_dir).release_if_mine()
  else:
    filesystem.rmtree(run.write_dir)


def make_data(data, builder):
  """`data` (a dataset or a function returning one), or `builder()` when None."""
  if data is None:
    return builder()
  return data() if callable(data) else data
