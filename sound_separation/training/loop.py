"""The training loop: one `run_task` for every run, and its two gin entry points.

`run_task(model_dir, task, schedule)` trains what a task (`tasks`) says,
the separator or the classifier, on one schedule (`run.Schedule`): it checks
the schedule, starts the run (`run.Run.start`: strategy, lock, seed, model
under the strategy's scope, restore or initialise, `config.gin` and the
model's description), builds the task's data, validates a new run once if the task
validates with Keras, and fits one fit epoch per checkpoint interval
(`Run.fit`) with the callbacks every run has (`Run.callbacks`). It writes

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
the `run.Schedule` arguments by name.

A resumed run continues exactly where the killed one was: the input streams
skip the batches already trained on (their shuffles and crops are seeded by
the run's seed), and the trainer's random choices (MoM pairing) are seeded
by the step, so with deterministic ops the resumed run reaches the
uninterrupted run's weights (docs/training.md).
"""

import dataclasses
import inspect
import time

from absl import logging

from sound_separation import gin_utils
from sound_separation.training import keras_compat
from sound_separation.training import run as run_lib
from sound_separation.training import tasks


def _takes_schedule(fn):
  """Gives `fn(..., **schedule)` the signature with `Schedule`'s fields as keyword arguments.

  gin reads the signature when a binding is parsed, so a misspelt schedule
  binding (`train.num_stepz`) is an error naming it at parse time, and
  `help(train)` lists every argument.
  """
  signature = inspect.signature(fn)
  own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
  fields = [inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default)
            for field in dataclasses.fields(run_lib.Schedule)]
  fn.__signature__ = signature.replace(parameters=own + fields)
  return fn


def run_task(model_dir, task, schedule, stream=None):
  """Trains (or resumes training) `task` in `model_dir` on `schedule`; see the module doc.

  Args:
    model_dir: the run's folder.
    task: a `tasks.Task` (`SeparationTask`, `ClassifierTask`).
    schedule: a `run.Schedule`.
    stream: where progress lines go (default stdout).

  Returns:
    A `run.TrainResult`.
  """
  schedule.check(task.gin_name)
  # Whatever ends the run (done, stopped, an error), leaving the block frees its folder.
  with run_lib.Run.start(model_dir, task.build_trainer, task.optimizer, schedule,
                         describe=task.describe, stream=stream) as run:
    return _train(run, task)


def _train(run, task):
  """`run_task` on a started run."""
  done = run.already_done()
  if done is not None:
    return done
  trainer = run.trainer

  train_ds = task.training_data(run)
  validation_ds = task.validation_data()
  run_callbacks, stopper, summaries = run.callbacks(
      validators=task.validators(run), audio=task.audio_source(run, train_ds, validation_ds),
      sample_rate=task.sample_rate)
  run_callbacks += task.evaluators(run, summaries, run.stream)

  initial_validation = {}
  if validation_ds is not None and run.step == 0:
    initial_validation = {k: keras_compat.scalar(v) for k, v in
                          trainer.evaluate(validation_ds, verbose=0, return_dict=True).items()}
    run.report("validation", step=0, metrics=initial_validation)
    if summaries is not None:
      summaries.set_model(trainer)
      summaries.write_validation(initial_validation, step=0)

  start = time.monotonic()
  step, metrics, validation = run.fit(train_ds, run_callbacks, stopper, validation_ds)
  task.after_training(run.stream)
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
    **schedule: `run.Schedule`'s arguments (`num_steps`, `steps_per_checkpoint`,
      `seed`, ...).

  Returns:
    A `run.TrainResult`.
  """
  schedule = run_lib.Schedule.of("train", schedule)
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
    **schedule: `run.Schedule`'s arguments.

  Returns:
    A `run.TrainResult` whose `trainer` is the `ClassifierTrainer` and
    whose `validation` holds `loss`, `map` and `mean_auc`.
  """
  schedule = run_lib.Schedule.of("train_classifier", schedule)
  task = tasks.ClassifierTask(
      train_list=train_list, vocabulary=vocabulary, validation_list=validation_list,
      batch_size=batch_size, validation_batch_size=validation_batch_size,
      clip_seconds=clip_seconds, sample_rate=sample_rate, learning_rate=learning_rate,
      train_data=train_data, validation_data=validation_data)
  return run_task(model_dir, task, schedule, stream)
