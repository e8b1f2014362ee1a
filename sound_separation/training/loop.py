"""The training loop: one gin-configured function for every run.

`train(model_dir)` builds the strategy, the `MixITTrainer` and its optimizer
from gin bindings, resumes from the run's latest checkpoint (or initialises
the separator from a baseline run for fine-tuning), and trains with
`keras.Model.fit`: one fit epoch is one checkpoint interval. It writes

- `<model_dir>/checkpoints/ckpt-<step>`: the training state (see
  `checkpoints`), the last `max_checkpoints_to_keep` of them, and in
  `checkpoints/kept/` those at multiples of `keep_checkpoint_every_steps`;
- `<model_dir>/summaries/{train,validation}`: TensorBoard scalars of every
  loss term and audio of a few separations;
- `<model_dir>/config.gin`: the gin configuration the run started with, and
  `<model_dir>/separator.json`: the separator's Keras config and sample rate,
  which rebuild it without gin (`folders.load_separator`).

A resumed run continues from the checkpoint's step with fresh input
iterators: the data order after a restart differs from the killed run's.
"""

import math
import os
import sys
import time

import gin
import keras
import tensorflow as tf
from absl import logging

from sound_separation import gin_utils
from sound_separation.data import datasets
from sound_separation.models import folders
from sound_separation.training import callbacks as callbacks_lib
from sound_separation.training import checkpoints
from sound_separation.training import strategies
from sound_separation.training.trainer import default_optimizer
from sound_separation.training.trainer import MixITTrainer

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


class TrainResult:
  """What `train` returns.

  Attributes:
    trainer: the `MixITTrainer`, with its trained separator `trainer.separator`.
    step: the optimizer step training ended at.
    stopped_on_time: True if `time_limit_seconds` ended the run early.
    metrics: the training metrics of the last checkpoint interval
      `{name: float}` (means over its steps; empty if no step ran).
    validation: the last validation metrics `{name: float}` (empty without
      validation data), e.g. `{'loss': ..., 'mixit': ...}`.
    initial_validation: the validation metrics before the first step of a
      new run (empty when resuming or without validation data).
  """

  def __init__(self, trainer, step, stopped_on_time, metrics, validation, initial_validation):
    self.trainer = trainer
    self.step = step
    self.stopped_on_time = stopped_on_time
    self.metrics = metrics
    self.validation = validation
    self.initial_validation = initial_validation


def fit_intervals(trainer, train_ds, step, num_steps, steps_per_checkpoint, run_callbacks,
                  stopper, time_limit_seconds, stream, validation_ds=None):
  """`trainer.fit` from `step` to `num_steps`, one fit epoch per checkpoint interval.

  Returns:
    (the step reached, the last training logs, the last validation logs
    without their `val_` prefix).
  """
  initial_epoch = step // steps_per_checkpoint
  epochs = initial_epoch + math.ceil((num_steps - step) / steps_per_checkpoint)
  history = trainer.fit(train_ds, epochs=epochs, initial_epoch=initial_epoch,
                        steps_per_epoch=steps_per_checkpoint, validation_data=validation_ds,
                        callbacks=run_callbacks, shuffle=False, verbose=0)
  step = int(trainer.optimizer.iterations.numpy())
  last = {k: callbacks_lib.scalar(v[-1]) for k, v in history.history.items() if v}
  metrics = {k: v for k, v in last.items() if not k.startswith("val_")}
  validation = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
  if stopper.stopped_on_time:
    print(f"Stopped at step {step}: the time limit of {time_limit_seconds:g} s was reached.",
          file=stream, flush=True)
  return step, metrics, validation


def _worker_model_dir(strategy, model_dir):
  """The folder this worker writes to: `model_dir` on the chief.

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
  return os.path.join(model_dir, f".{task_type}_{task_id}"), False


def _write_run_config(model_dir, trainer, step, sample_rate):
  os.makedirs(model_dir, exist_ok=True)
  config = gin.config_str()
  path = os.path.join(model_dir, "config.gin")
  if step and os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      if f.read() != config:
        path = os.path.join(model_dir, f"config-resumed-at-{step}.gin")
        logging.warning("The gin configuration differs from the one the run started "
                        "with; writing it to %s.", path)
  with open(path, "w", encoding="utf-8") as f:
    f.write(config)
  folders.write_separator_config(model_dir, trainer.separator, sample_rate)


def _make_data(data, builder):
  if data is None:
    return builder()
  return data() if callable(data) else data


@gin_utils.configurable
def train(model_dir, num_steps=None, steps_per_checkpoint=1000, max_checkpoints_to_keep=5,
          keep_checkpoint_every_steps=None, init_checkpoint=None, precision="float32",
          jit_compile=False, steps_per_execution=1,
          log_every=100, summary_every=100, num_audio_examples=2, sample_rate=16000,
          validation=False, evaluation_list=None, evaluation_task="fuss",
          evaluation_max_examples=None, time_limit_seconds=None, max_consecutive_nonfinite=20,
          train_data=None, validation_data=None, stream=None):
  """Trains (or resumes training) a separator with MixIT; see the module doc.

  The trainer (`MixITTrainer`: losses and weights), its separator, the
  optimizer (`default_optimizer`), the strategy (`get_strategy`) and the data
  (`training_dataset`, `validation_dataset`) take their settings from gin.

  Args:
    model_dir: the run's folder.
    num_steps: the optimizer step to train to (total, not additional).
    steps_per_checkpoint: steps between checkpoints (and validations, audio
      summaries).
    max_checkpoints_to_keep: retention.
    keep_checkpoint_every_steps: None, or also keep (never delete) the
      checkpoints at multiples of this step, in `checkpoints/kept/`; it
      should be a multiple of `steps_per_checkpoint`.
    init_checkpoint: for a new run: a baseline run's folder or checkpoint
      prefix to initialise the separator from (fine-tuning); ignored when the
      run already has a checkpoint.
    precision: 'float32', 'mixed_bfloat16' or 'mixed_float16' (the Keras
      global dtype policy while building; restored afterwards).
    jit_compile: compile the train step with XLA (TPUs always do). On CPU
      plain TensorFlow is faster, and Keras turns XLA off under
      MirroredStrategy on CPU.
    steps_per_execution: train steps per `tf.function` call (TPUs: larger
      values cut host overhead; callbacks then see every k-th step). It must
      divide `steps_per_checkpoint`; a run whose `num_steps` is not a
      multiple of it ends at the next multiple.
    log_every: steps between progress lines.
    summary_every: steps between TensorBoard scalar records.
    num_audio_examples: separations written as TensorBoard audio at each
      checkpoint (0 for none).
    sample_rate: of the data, Hz, for the audio summaries.
    validation: evaluate `validation_dataset()` before training (new runs)
      and at every checkpoint.
    evaluation_list: None, or a FUSS-format list on which the separator is
      evaluated at every checkpoint (MSi, 1S, TRF to TensorBoard); the best
      checkpoint by TRF is kept in `checkpoints/best/` (`best.json` says
      which), as the paper selects checkpoints (`SeparationEvaluation`).
    evaluation_task: the list's task ('fuss', 'speech', 'enhancement', 'mom').
    evaluation_max_examples: evaluate only the list's first examples.
    time_limit_seconds: stop (and checkpoint) after this much training time.
    max_consecutive_nonfinite: a step whose loss or gradients are not finite
      changes nothing and is skipped (`skipped_steps` in the logs and
      TensorBoard); after this many in a row the run stops with
      `callbacks.NonFiniteError` (None: never).
    train_data, validation_data: a dataset or a function returning one, in
      place of `training_dataset()` / `validation_dataset()`.
    stream: where progress lines go (default stdout).

  Returns:
    A `TrainResult`.
  """
  if num_steps is None or isinstance(num_steps, bool) or not isinstance(num_steps, int) \
      or num_steps < 1:
    raise ValueError(f"num_steps must be a positive integer (gin: train.num_steps), got "
                     f"{num_steps!r}.")
  if isinstance(steps_per_checkpoint, bool) or not isinstance(steps_per_checkpoint, int) \
      or steps_per_checkpoint < 1:
    raise ValueError(f"steps_per_checkpoint must be a positive integer, got "
                     f"{steps_per_checkpoint!r}.")
  if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) \
      or steps_per_execution < 1 or steps_per_checkpoint % steps_per_execution:
    raise ValueError(f"steps_per_execution={steps_per_execution!r} must be a positive divisor "
                     f"of steps_per_checkpoint={steps_per_checkpoint} (Keras runs whole "
                     f"executions, so checkpoints would fall between them).")
  if keep_checkpoint_every_steps is not None and (
      not isinstance(keep_checkpoint_every_steps, int)
      or keep_checkpoint_every_steps % steps_per_checkpoint):
    raise ValueError(f"keep_checkpoint_every_steps={keep_checkpoint_every_steps!r} must be a "
                     f"multiple of steps_per_checkpoint={steps_per_checkpoint} (checkpoints "
                     f"are written only every steps_per_checkpoint steps).")
  if precision not in PRECISIONS:
    raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
  if time_limit_seconds is not None and not time_limit_seconds > 0:
    raise ValueError(f"time_limit_seconds must be positive, got {time_limit_seconds!r}.")
  stream = stream or sys.stdout

  strategy = strategies.get_strategy()
  write_dir, is_chief = _worker_model_dir(strategy, model_dir)
  previous_policy = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy(precision)
  try:
    with strategy.scope():
      trainer = MixITTrainer()
      trainer.compile(optimizer=default_optimizer(), jit_compile=jit_compile,
                      steps_per_execution=steps_per_execution)
      trainer.optimizer.build(trainer.trainable_variables)
      manager = checkpoints.make_manager(trainer, write_dir, max_checkpoints_to_keep)
      step = checkpoints.restore_or_initialize(
          manager, trainer, init_checkpoint,
          resume_dir=folders.checkpoint_dir(model_dir))
  finally:
    keras.mixed_precision.set_global_policy(previous_policy)
  if is_chief:
    _write_run_config(model_dir, trainer, step, sample_rate)
  if step >= num_steps:
    print(f"{model_dir} is already at step {step} >= num_steps={num_steps}.", file=stream,
          flush=True)
    return TrainResult(trainer, step, False, {}, {}, {})

  train_ds = _make_data(train_data, datasets.training_dataset)
  validation_ds = None
  if validation or validation_data is not None:
    validation_ds = _make_data(validation_data, datasets.validation_dataset)

  stopper = callbacks_lib.StopAtStep(num_steps, time_limit_seconds)
  run_callbacks = [stopper, callbacks_lib.NonFiniteGuard(max_consecutive_nonfinite, stream),
                   checkpoints.CheckpointSaver(manager, keep_checkpoint_every_steps),
                   callbacks_lib.ProgressLogger(num_steps, log_every, stream, time_limit_seconds)]
  summaries = None
  if is_chief:
    audio = None
    if num_audio_examples:
      audio = callbacks_lib.audio_examples(
          train_ds if validation_ds is None else validation_ds, num_audio_examples)
    summaries = callbacks_lib.TensorBoardSummaries(
        os.path.join(model_dir, "summaries"), summary_every, audio, sample_rate)
    run_callbacks.append(summaries)
  if evaluation_list:
    # On every worker: writing the best checkpoint takes part in collective
    # ops like any save, so all workers evaluate and decide alike, from the
    # chief's record of the best so far.
    run_callbacks.append(callbacks_lib.SeparationEvaluation(
        evaluation_list, manager, summaries, sample_rate, evaluation_task,
        evaluation_max_examples, stream,
        record_dir=os.path.join(folders.checkpoint_dir(model_dir), "best")))

  initial_validation = {}
  if validation_ds is not None and step == 0:
    initial_validation = {k: callbacks_lib.scalar(v) for k, v in
                          trainer.evaluate(validation_ds, verbose=0, return_dict=True).items()}
    print(f"step 0 validation  {callbacks_lib.format_metrics(initial_validation)}",
          file=stream, flush=True)
    if summaries is not None:
      summaries.set_model(trainer)
      summaries.write_validation(initial_validation, step=0)

  start = time.monotonic()
  step, metrics, validation_logs = fit_intervals(
      trainer, train_ds, step, num_steps, steps_per_checkpoint, run_callbacks, stopper,
      time_limit_seconds, stream, validation_ds)
  logging.info("Trained to step %d in %.1f s.", step, time.monotonic() - start)
  if not is_chief:
    tf.io.gfile.rmtree(write_dir)
  return TrainResult(trainer, step, stopper.stopped_on_time, metrics, validation_logs,
                     initial_validation)
