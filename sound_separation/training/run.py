"""The run setup of the training loop (`loop.run_task`), whatever task it trains.

A run is a folder, a training model and a `Schedule` (how long and how it
trains, checked before any work). `Run.start` builds the strategy, this
worker's write folder, the model and its optimizer under the strategy's
scope at the schedule's precision, the checkpoint manager, and restores the
latest checkpoint (or initialises from a baseline for fine-tuning); the
chief writes `config.gin` and the model's description. The `Run` is a
context manager: `callbacks` gives the callbacks every run has, `fit` trains
one fit epoch per checkpoint interval to `num_steps`, and leaving it
releases the folder (`finish`). What a run reached is a `TrainResult`.
"""

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Schedule:
  """How long and how a run trains: the arguments every task's run shares.

  Attributes:
    num_steps: the optimizer step to train to (total, not additional).
    steps_per_checkpoint: steps between checkpoints (and validations,
      evaluations, audio summaries).
    max_checkpoints_to_keep: retention.
    keep_checkpoint_every_steps: None, or also keep (never delete) the
      checkpoints at multiples of this step, in `checkpoints/kept/`; a
      multiple of `steps_per_checkpoint`.
    init_checkpoint: for a new run: a run's folder or checkpoint prefix to
      initialise the model from (fine-tuning); ignored when the run already
      has a checkpoint.
    precision: 'float32', 'mixed_bfloat16' or 'mixed_float16' (`Run.start`).
    jit_compile: compile the train step with XLA (TPUs always do). On CPU
      plain TensorFlow is faster, and Keras turns XLA off under
      MirroredStrategy on CPU.
    steps_per_execution: train steps per `tf.function` call (TPUs: larger
      values cut host overhead; callbacks then see every k-th step). It must
      divide `steps_per_checkpoint`; a run whose `num_steps` is not a
      multiple of it ends at the next multiple.
    log_every: steps between progress lines.
    summary_every: steps between TensorBoard scalar records.
    time_limit_seconds: stop (and checkpoint) after this much training time.
    max_consecutive_nonfinite: a step whose loss or gradients are not finite
      changes nothing and is skipped (`skipped_steps` in the logs); after
      this many in a row the run stops with `callbacks.NonFiniteError`
      (None: never).
    seed: the run's seed: the initial weights and the input's order and
      crops (unless the data binds its own). Default: one derived from the
      run's folder (`folder_seed`), so a resumed run sees the order it
      would have seen.
  """
  num_steps: typing.Optional[int] = None
  steps_per_checkpoint: int = 1000
  max_checkpoints_to_keep: int = 5
  keep_checkpoint_every_steps: typing.Optional[int] = None
  init_checkpoint: typing.Optional[str] = None
  precision: str = "float32"
  jit_compile: bool = False
  steps_per_execution: int = 1
  log_every: int = 100
  summary_every: int = 100
  time_limit_seconds: typing.Optional[float] = None
  max_consecutive_nonfinite: typing.Optional[int] = 20
  seed: typing.Optional[int] = None

  @classmethod
  def of(cls, caller, arguments):
    """The checked schedule of `caller`'s keyword `arguments` (errors name `caller`).

    Raises:
      TypeError: naming the arguments that are not the schedule's.
      ValueError: from `check`.
    """
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(arguments) - names)
    if unknown:
      raise TypeError(f"{caller}() got unknown arguments {unknown}; it takes the task's own "
                      f"and the schedule's ({', '.join(sorted(names))}).")
    schedule = cls(**arguments)
    schedule.check(caller)
    return schedule

  def check(self, gin_name):
    """The checks every training loop makes of its schedule, before any work.

    Args:
      gin_name: the loop's gin name ('train', 'train_classifier'), for the
        num_steps hint.

    Raises:
      ValueError: naming the first bad argument and what it must be.
    """
    checks.integer("num_steps", self.num_steps, hint=f" (gin: {gin_name}.num_steps)")
    checks.integer("steps_per_checkpoint", self.steps_per_checkpoint)
    every, execution = self.steps_per_checkpoint, self.steps_per_execution
    if (isinstance(execution, bool) or not isinstance(execution, int) or execution < 1
        or every % execution):
      raise ValueError(f"steps_per_execution={execution!r} must be a positive divisor of "
                       f"steps_per_checkpoint={every} (Keras runs whole executions, so "
                       f"checkpoints would fall between them).")
    keep = self.keep_checkpoint_every_steps
    if keep is not None and (not isinstance(keep, int) or keep % every):
      raise ValueError(f"keep_checkpoint_every_steps={keep!r} must be a multiple of "
                       f"steps_per_checkpoint={every} (checkpoints are written only every "
                       f"steps_per_checkpoint steps).")
    if self.time_limit_seconds is not None and not self.time_limit_seconds > 0:
      raise ValueError(f"time_limit_seconds must be positive, got {self.time_limit_seconds!r}.")


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


@dataclasses.dataclass
class Run:
  """A started run: its folder, training model, checkpoints and strategy.

  `Run.start` builds it (strategy, the folder's lock, seed, the model under
  the strategy's scope at the schedule's precision, restore or initialise,
  `config.gin` and the model's description); the run is a context manager
  whose exit releases the folder (`finish`), whatever ends the run. Between
  the two, `callbacks` gives the callbacks every run has and `fit` trains to
  the schedule's end, one fit epoch per checkpoint interval.

  Attributes:
    model_dir: the run's folder.
    schedule: its `Schedule`.
    write_dir: where this worker writes checkpoints (`model_dir` on the chief).
    is_chief: whether this worker writes the run's files.
    trainer: the training model, built, compiled, restored.
    manager: its `tf.train.CheckpointManager`.
    step: the step it was restored at (0 for a new run).
    strategy: the `tf.distribute` strategy it runs under.
    seed: the run's seed.
    stream: where its progress lines go.
  """

  model_dir: str
  schedule: Schedule
  write_dir: str
  is_chief: bool
  trainer: keras.Model
  manager: tf.train.CheckpointManager
  step: int
  strategy: tf.distribute.Strategy
  seed: int
  stream: typing.TextIO

  @classmethod
  def start(cls, model_dir, build_trainer, optimizer, schedule, *, describe=None, stream=None):
    """Builds, compiles and restores a run's training model; returns the `Run`.

    Args:
      model_dir: the run's folder.
      build_trainer: `(dtype) -> training model`, called under the strategy's
        scope with the schedule's `precision` as `dtype`: the model passes its
        dtype policy on to every sub-layer it makes (the global policy is left
        alone).
      optimizer: `() -> keras optimizer`.
      schedule: a `Schedule` (its retention, `init_checkpoint`, precision,
        compilation and seed are used here).
      describe: `(model_dir, trainer) -> None`, run on the chief: writes the
        model's description (`separator.json`, `classifier.json`).
      stream: where progress lines go (default stdout): the resume or the
        fine-tuning start is said here, and on the chief recorded in the
        progress file.
    """
    if schedule.precision not in PRECISIONS:
      raise ValueError(f"precision must be one of {PRECISIONS}, got {schedule.precision!r}.")
    strategy = strategies.get_strategy()
    write_dir, is_chief = worker_model_dir(strategy, model_dir)
    if is_chief:  # one writer per run folder: a second process refuses, naming the holder
      locks.run_folder_lock(model_dir).acquire()
    try:
      seed = folder_seed(model_dir) if schedule.seed is None else int(schedule.seed)
      keras.utils.set_random_seed(seed)
      with strategy.scope():
        trainer = build_trainer(schedule.precision)
        # Keras wraps the optimizer in a LossScaleOptimizer for a mixed_float16 model.
        trainer.compile(optimizer=optimizer(), jit_compile=schedule.jit_compile,
                        steps_per_execution=schedule.steps_per_execution)
        trainer.optimizer.build(trainer.trainable_variables)
        if is_chief:  # a damaged newest checkpoint is named, moved aside, and skipped
          folders.newest_intact(run_folder.checkpoints(model_dir), move_damaged=True)
        manager = checkpoints.make_manager(trainer, write_dir, schedule.max_checkpoints_to_keep)
        restored = checkpoints.restore_or_initialize(
            manager, trainer, schedule.init_checkpoint,
            resume_dir=run_folder.checkpoints(model_dir))
      run = cls(model_dir, schedule, write_dir, is_chief, trainer, manager, restored.step,
                strategy, seed, stream or sys.stdout)
      if is_chief:
        write_run_config(model_dir, run.step)
        if describe is not None:
          describe(model_dir, trainer)
      if restored.checkpoint:
        run.report("resumed", step=run.step, checkpoint=restored.checkpoint)
      elif restored.initialised_from:
        run.report("initialised", step=0, checkpoint=restored.initialised_from)
      return run
    except BaseException:
      # A configuration error (a bad binding, a missing baseline) leaves no lock behind.
      if is_chief:
        locks.run_folder_lock(model_dir).release_if_mine()
      raise

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.finish()

  @property
  def progress_file(self):
    """The run's `progress.ProgressFile` on the chief; None on other workers."""
    return progress.ProgressFile(self.model_dir) if self.is_chief else None

  def report(self, event, **fields):
    """`progress.report` for the run: printed, and on the chief appended to its progress file."""
    progress.report(self.stream, self.progress_file, event, **fields)

  @property
  def per_host(self):
    """Whether each host builds its own input pipeline (multi-worker, TPU)."""
    return per_host(self.strategy)

  def input_data(self, make_dataset):
    """The training input: `make_dataset(input_context)`, one pipeline per host where needed.

    Under a multi-worker or TPU strategy each host builds its own pipeline
    with its `tf.distribute.InputContext` (`strategy.distribute_datasets_from_function`)
    and reads only its share; elsewhere `make_dataset(None)` is the one
    pipeline and Keras splits its batches over the local replicas.
    """
    if self.per_host:
      return self.strategy.distribute_datasets_from_function(make_dataset)
    return make_dataset(None)

  def already_done(self):
    """A `TrainResult` when the run is already at `num_steps` (and says so), else None."""
    if self.step < self.schedule.num_steps:
      return None
    self.report("already_done", step=self.step, num_steps=self.schedule.num_steps,
                model_dir=os.fspath(self.model_dir))
    return TrainResult(self.trainer, self.step, False, {}, {}, {})

  def callbacks(self, *, validators=(), audio=None, sample_rate=16000):
    """The callbacks of every run, in order; returns `(callbacks, stopper, summaries)`.

    Stop at `num_steps` (or the time limit), the non-finite guard, the
    checkpoint saver (and, for an optimizer that averages the weights, the
    averaged separators' saver), then `validators` (which add `val_*` logs at
    each checkpoint), the progress line and, on the chief, TensorBoard
    summaries (`summaries`, else None) with `audio` examples.
    """
    schedule = self.schedule
    stopper = callbacks_lib.StopAtStep(schedule.num_steps, schedule.time_limit_seconds)
    keep = schedule.keep_checkpoint_every_steps
    averaged = []
    if getattr(self.trainer.optimizer, "use_ema", False):
      averaged = [checkpoints.AveragedSaver(self.manager, self.trainer.separator, keep,
                                            schedule.max_checkpoints_to_keep)]
    run_callbacks = [stopper,
                     callbacks_lib.NonFiniteGuard(schedule.max_consecutive_nonfinite,
                                                  self.stream),
                     checkpoints.CheckpointSaver(self.manager, keep), *averaged, *validators,
                     callbacks_lib.ProgressLogger(schedule.num_steps, schedule.log_every,
                                                  self.stream, schedule.time_limit_seconds,
                                                  self.progress_file)]
    summaries = None
    if self.is_chief:
      summaries = callbacks_lib.TensorBoardSummaries(
          run_folder.summaries(self.model_dir), schedule.summary_every, audio, sample_rate)
      run_callbacks.append(summaries)
    return run_callbacks, stopper, summaries

  def fit(self, train_ds, run_callbacks, stopper, validation_ds=None):
    """`trainer.fit` from the run's step to `num_steps`, one fit epoch per checkpoint interval.

    Returns:
      `(the step reached, the last training logs, the last validation logs
      without their `val_` prefix)`.
    """
    every = self.schedule.steps_per_checkpoint
    initial_epoch = self.step // every
    epochs = initial_epoch + math.ceil((self.schedule.num_steps - self.step) / every)
    history = self.trainer.fit(train_ds, epochs=epochs, initial_epoch=initial_epoch,
                               steps_per_epoch=every, validation_data=validation_ds,
                               callbacks=run_callbacks, shuffle=False, verbose=0)
    step = int(self.trainer.optimizer.iterations.numpy())
    last = {k: keras_compat.scalar(v[-1]) for k, v in history.history.items() if v}
    metrics = {k: v for k, v in last.items() if not k.startswith("val_")}
    validation = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
    if stopper.stopped_on_time:
      self.report("stopped", step=step, time_limit_seconds=stopper.time_limit_seconds)
    return step, metrics, validation

  def finish(self):
    """Releases the run folder's lock (chief); removes a non-chief worker's scratch folder."""
    if self.is_chief:
      locks.run_folder_lock(self.model_dir).release_if_mine()
    else:
      filesystem.rmtree(self.write_dir)


def per_host(strategy):
  """Whether each host must build its own input pipeline (multi-worker, TPU)."""
  return keras_compat.is_multi_worker(strategy) or isinstance(
      strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))


def make_data(data, builder):
  """`data` (a dataset or a function returning one), or `builder()` when None."""
  if data is None:
    return builder()
  return data() if callable(data) else data
