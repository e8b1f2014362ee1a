"""The training loop: one `run_task` for every run, and its two gin entry points.

`run_task(model_dir, task, schedule)` trains what a task (`tasks`) says,
the separator or the classifier, on one schedule (`Schedule`): it checks the
schedule, starts the run (`run.start`: strategy, lock, seed, model under the
strategy's scope, restore or initialise, `config.gin` and the model's
description), builds the task's data, validates a new run once if the task
validates with Keras, and fits one fit epoch per checkpoint interval
(`run.fit`) with the callbacks every run has (`run.callbacks`). It writes

- `<model_dir>/checkpoints/ckpt-<step>`: the training state (see
  `checkpoints`), the last `max_checkpoints_to_keep` of them, and in
  `checkpoints/kept/` those at multiples of `keep_checkpoint_every_steps`;
- `<model_dir>/summaries/{train,validation}`: TensorBoard scalars of every
  logged metric (and audio of a few separations);
- `<model_dir>/config.gin`, `<model_dir>/progress.jsonl`, and the model's
  description (`separator.json` or `classifier.json`), which rebuilds it
  without gin (`models.folders`).

`train(model_dir, ...)` (gin: `sound_separation.train.*`) runs a
`tasks.SeparationTask`, `train_classifier(model_dir, ...)` (gin:
`sound_separation.train_classifier.*`) a `tasks.ClassifierTask`; both take
the `Schedule` arguments by name.

A resumed run continues exactly where the killed one was: the input streams
skip the batches already trained on (their shuffles and crops are seeded by
the run's seed), and the trainer's random choices (MoM pairing) are seeded
by the step, so with deterministic ops the resumed run reaches the
uninterrupted run's weights (docs/training.md).
"""

import dataclasses
import inspect
import sys
import time
import typing

from absl import logging

from sound_separation import gin_utils
from sound_separation.training import keras_compat
from sound_separation.training import run as run_lib
from sound_separation.training import tasks


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
    precision: 'float32', 'mixed_bfloat16' or 'mixed_float16' (`run.start`).
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
      run's folder (`run.folder_seed`), so a resumed run sees the order it
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
    """ValueError naming the first bad argument (`run.check_schedule`); `gin_name` for hints."""
    run_lib.check_schedule(self.num_steps, self.steps_per_checkpoint, gin_name=gin_name,
                           steps_per_execution=self.steps_per_execution,
                           keep_checkpoint_every_steps=self.keep_checkpoint_every_steps,
                           time_limit_seconds=self.time_limit_seconds)


def _takes_schedule(fn):
  """Gives `fn(..., **schedule)` the signature with `Schedule`'s fields as keyword arguments.

  gin reads the signature when a binding is parsed, so a misspelt schedule
  binding (`train.num_stepz`) is an error naming it at parse time, and
  `help(train)` lists every argument.
  """
  signature = inspect.signature(fn)
  own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
  fields = [inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default)
            for field in dataclasses.fields(Schedule)]
  fn.__signature__ = signature.replace(parameters=own + fields)
  return fn


def run_task(model_dir, task, schedule, stream=None):
  """Trains (or resumes training) `task` in `model_dir` on `schedule`; see the module doc.

  Args:
    model_dir: the run's folder.
    task: a `tasks.Task` (`SeparationTask`, `ClassifierTask`).
    schedule: a `Schedule`.
    stream: where progress lines go (default stdout).

  Returns:
    A `run.TrainResult`.
  """
  schedule.check(task.gin_name)
  stream = stream or sys.stdout
  run = run_lib.start(model_dir, task.build_trainer, task.optimizer,
                      max_checkpoints_to_keep=schedule.max_checkpoints_to_keep,
                      init_checkpoint=schedule.init_checkpoint, precision=schedule.precision,
                      jit_compile=schedule.jit_compile,
                      steps_per_execution=schedule.steps_per_execution,
                      describe=task.describe, seed=schedule.seed, stream=stream)
  try:
    return _train(run, task, schedule, stream)
  finally:  # whatever ends the run (done, stopped, an error) frees its folder
    run_lib.finish(run)


def _train(run, task, schedule, stream):
  """`run_task` on a started run."""
  done = run_lib.already_done(run, schedule.num_steps, stream)
  if done is not None:
    return done
  trainer = run.trainer

  train_ds = task.training_data(run)
  validation_ds = task.validation_data()
  run_callbacks, stopper, summaries = run_lib.callbacks(
      run, schedule.num_steps, stream=stream, log_every=schedule.log_every,
      summary_every=schedule.summary_every, time_limit_seconds=schedule.time_limit_seconds,
      max_consecutive_nonfinite=schedule.max_consecutive_nonfinite,
      keep_checkpoint_every_steps=schedule.keep_checkpoint_every_steps,
      max_checkpoints_to_keep=schedule.max_checkpoints_to_keep,
      validators=task.validators(run), audio=task.audio_source(run, train_ds, validation_ds),
      sample_rate=task.sample_rate)
  run_callbacks += task.evaluators(run, summaries, stream)

  initial_validation = {}
  if validation_ds is not None and run.step == 0:
    initial_validation = {k: keras_compat.scalar(v) for k, v in
                          trainer.evaluate(validation_ds, verbose=0, return_dict=True).items()}
    run_lib.report(run, stream, "validation", step=0, metrics=initial_validation)
    if summaries is not None:
      summaries.set_model(trainer)
      summaries.write_validation(initial_validation, step=0)

  start = time.monotonic()
  step, metrics, validation = run_lib.fit(
      run, train_ds, schedule.num_steps, schedule.steps_per_checkpoint, run_callbacks, stopper,
      stream, validation_ds)
  task.after_training(stream)
  logging.info("Trained to step %d in %.1f s.", step, time.monotonic() - start)
  return run_lib.TrainResult(trainer, step, stopper.stopped_on_time, metrics, validation,
                             initial_validation)


@gin_utils.configurable
@_takes_schedule
def train(model_dir, sample_rate=16000, num_audio_examples=2, validation=False,
          evaluation_list=None, evaluation_task="fuss", evaluation_max_examples=None,
          train_data=None, validation_data=None, stream=None, **schedule):
  """Trains (or resumes training) a separator with MixIT; see the module doc.

  The trainer (`MixITTrainer`: its loss terms and classifier), its
  separator, the optimizer (`default_optimizer`), the strategy
  (`get_strategy`) and the data (`training_dataset`, `validation_dataset`)
  take their settings from gin.

  Args:
    model_dir: the run's folder.
    sample_rate, num_audio_examples, validation, evaluation_list,
      evaluation_task, evaluation_max_examples, train_data,
      validation_data: the task's (`tasks.SeparationTask`).
    stream: where progress lines go (default stdout).
    **schedule: `Schedule`'s arguments (`num_steps`, `steps_per_checkpoint`,
      `seed`, ...).

  Returns:
    A `run.TrainResult`.
  """
  schedule = Schedule.of("train", schedule)
  task = tasks.SeparationTask(
      sample_rate=sample_rate, num_audio_examples=num_audio_examples, validation=validation,
      evaluation_list=evaluation_list, evaluation_task=evaluation_task,
      evaluation_max_examples=evaluation_max_examples, train_data=train_data,
      validation_data=validation_data)
  return run_task(model_dir, task, schedule, stream)


@gin_utils.configurable
@_takes_schedule
def train_classifier(model_dir, train_list=None, vocabulary=None, validation_list=None,
                     batch_size=32, validation_batch_size=None, clip_seconds=10.0,
                     sample_rate=16000, learning_rate=1e-4, train_data=None,
                     validation_data=None, stream=None, **schedule):
  """Trains (or resumes training) a sound-event classifier; see the module doc.

  The classifier's architecture comes from gin bindings of `SoundClassifier`
  (`num_classes` must equal the vocabulary's size), the strategy from
  `get_strategy`. The run writes `classifier.json` (which
  `folders.load_classifier` reads: the separation trainer's pretrained
  classifier) and, with a validation list, `validation_tagging.json` (the
  last validation's mAP, mean AUC and per-class AP and AUC).

  Args:
    model_dir: the run's folder.
    train_list, vocabulary, validation_list, batch_size,
      validation_batch_size, clip_seconds, sample_rate, learning_rate,
      train_data, validation_data: the task's (`tasks.ClassifierTask`).
    stream: where progress lines go (default stdout).
    **schedule: `Schedule`'s arguments.

  Returns:
    A `run.TrainResult` whose `trainer` is the `ClassifierTrainer` and
    whose `validation` holds `loss`, `map` and `mean_auc`.
  """
  schedule = Schedule.of("train_classifier", schedule)
  task = tasks.ClassifierTask(
      train_list=train_list, vocabulary=vocabulary, validation_list=validation_list,
      batch_size=batch_size, validation_batch_size=validation_batch_size,
      clip_seconds=clip_seconds, sample_rate=sample_rate, learning_rate=learning_rate,
      train_data=train_data, validation_data=validation_data)
  return run_task(model_dir, task, schedule, stream)
