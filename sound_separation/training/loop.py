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
  which rebuild it without gin (`folders.load_keras_separator`).

The run setup (strategy, checkpoints, callbacks, fit) is `run`, shared
with the classifier's loop. A resumed run continues exactly where the killed
one was: the input streams skip the batches already trained on (their
shuffles and crops are seeded: by `training_dataset.seed`, else by a seed
derived from the run folder), and the trainer's random choices (MoM pairing)
are seeded by the step, so with deterministic ops the resumed run reaches the
uninterrupted run's weights (docs/training.md).
"""

import sys
import time

from absl import logging

from sound_separation import run_folder
from sound_separation import gin_utils
from sound_separation.data import datasets
from sound_separation.models import folders
from sound_separation.training import callbacks as callbacks_lib
from sound_separation.training import keras_compat
from sound_separation.training import run as run_lib
from sound_separation.training.optimizer import default_optimizer
from sound_separation.training.trainer import MixITTrainer


@gin_utils.configurable
def train(model_dir, num_steps=None, steps_per_checkpoint=1000, max_checkpoints_to_keep=5,
          keep_checkpoint_every_steps=None, init_checkpoint=None, precision="float32",
          jit_compile=False, steps_per_execution=1,
          log_every=100, summary_every=100, num_audio_examples=2, sample_rate=16000,
          validation=False, evaluation_list=None, evaluation_task="fuss",
          evaluation_max_examples=None, time_limit_seconds=None, max_consecutive_nonfinite=20,
          seed=None, train_data=None, validation_data=None, stream=None):
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
    seed: the run's seed: the initial weights and (when
      `training_dataset.seed` is not bound) the input order and crops.
      Default: one derived from `model_dir`, so a resumed run sees the
      order it would have seen.
    init_checkpoint: for a new run: a baseline run's folder or checkpoint
      prefix to initialise the separator from (fine-tuning); ignored when the
      run already has a checkpoint.
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
    A `run.TrainResult`.
  """
  run_lib.check_schedule(num_steps, steps_per_checkpoint, gin_name="train",
                         steps_per_execution=steps_per_execution,
                         keep_checkpoint_every_steps=keep_checkpoint_every_steps,
                         time_limit_seconds=time_limit_seconds)
  stream = stream or sys.stdout

  def describe(model_dir, trainer):
    folders.write_separator_config(model_dir, trainer.separator, sample_rate)

  run = run_lib.start(model_dir, lambda dtype: MixITTrainer(dtype=dtype), default_optimizer,
                      max_checkpoints_to_keep=max_checkpoints_to_keep,
                      init_checkpoint=init_checkpoint, precision=precision,
                      jit_compile=jit_compile, steps_per_execution=steps_per_execution,
                      describe=describe, seed=seed)
  done = run_lib.already_done(run, num_steps, stream)
  if done is not None:
    return done
  trainer, step = run.trainer, run.step

  seed = run.seed
  if train_data is None:
    train_ds = run_lib.input_data(run, lambda context: datasets.training_dataset(
        start_batch=step, default_seed=seed, input_context=context))
  else:
    train_ds = run_lib.make_data(train_data, None)
  validation_ds = None
  if validation or validation_data is not None:
    validation_ds = run_lib.make_data(validation_data, datasets.validation_dataset)

  audio = None
  if run.is_chief and num_audio_examples:
    source = validation_ds
    if source is None:
      source = (datasets.training_dataset(default_seed=seed)
                if run_lib.per_host(run.strategy) else train_ds)
    audio = callbacks_lib.audio_examples(source, num_audio_examples)
  run_callbacks, stopper, summaries = run_lib.callbacks(
      run, num_steps, stream=stream, log_every=log_every, summary_every=summary_every,
      time_limit_seconds=time_limit_seconds, max_consecutive_nonfinite=max_consecutive_nonfinite,
      keep_checkpoint_every_steps=keep_checkpoint_every_steps, audio=audio,
      sample_rate=sample_rate)
  if evaluation_list:
    # On every worker: writing the best checkpoint takes part in collective
    # ops like any save, so all workers evaluate and decide alike, from the
    # chief's record of the best so far.
    run_callbacks.append(callbacks_lib.SeparationEvaluation(
        evaluation_list, run.manager, summaries, sample_rate, evaluation_task,
        evaluation_max_examples, stream,
        record_dir=run_folder.best(run_folder.checkpoints(model_dir))))

  initial_validation = {}
  if validation_ds is not None and step == 0:
    initial_validation = {k: keras_compat.scalar(v) for k, v in
                          trainer.evaluate(validation_ds, verbose=0, return_dict=True).items()}
    run_lib.report(run, stream, "validation", step=0, metrics=initial_validation)
    if summaries is not None:
      summaries.set_model(trainer)
      summaries.write_validation(initial_validation, step=0)

  start = time.monotonic()
  step, metrics, validation_logs = run_lib.fit(
      run, train_ds, num_steps, steps_per_checkpoint, run_callbacks, stopper, stream,
      validation_ds)
  logging.info("Trained to step %d in %.1f s.", step, time.monotonic() - start)
  run_lib.finish(run)
  return run_lib.TrainResult(trainer, step, stopper.stopped_on_time, metrics, validation_logs,
                             initial_validation)
