"""Keras callbacks of a training run: progress, TensorBoard, stopping.

The step of every record is the optimizer's iteration count, so a resumed
run continues its curves where the killed one stopped.
"""

import io
import json
import math
import os
import sys
import time

import keras
import tensorflow as tf

from sound_separation import checks
from sound_separation import filesystem
from sound_separation import run_folder
from sound_separation.data import batches
from sound_separation.data import formats
from sound_separation.evaluation import selection
from sound_separation.evaluation import tagging
from sound_separation.models import serving
from sound_separation.training import keras_compat
from sound_separation.training import progress


def _step(model):
  return int(model.optimizer.iterations.numpy())


class ProgressLogger(keras.callbacks.Callback):
  """Reports every `every` steps: losses, speed and time left (`progress` events).

  Speed is the mean wall time per step since the previous report (the first
  report: since training began or resumed, tracing included), so a run that
  slows down or speeds up shows it at once. Time left is the remaining steps
  at that speed, or what remains of `time_limit_seconds` if that ends the run
  first. Each report is printed
  (`progress.format_event`) and, given `progress_file`, appended to it as a
  JSON line for programs that follow the run.

  `fit`'s own progress bar is per epoch (here: per checkpoint) and redraws a
  terminal line; these lines also read well in a log file.
  """

  def __init__(self, num_steps, every=100, stream=None, time_limit_seconds=None,
               progress_file=None):
    super().__init__()
    self.num_steps = num_steps
    self.time_limit_seconds = time_limit_seconds
    self.every = max(1, int(every))
    self.stream = stream or sys.stdout
    self.progress_file = progress_file
    self._start_time = None
    self._last_time = None
    self._last_cpu = None
    self._last_step = None

  def _report(self, event, **fields):
    progress.report(self.stream, self.progress_file, event, **fields)

  def on_train_begin(self, logs=None):
    self._start_time = self._last_time = time.monotonic()
    self._last_cpu = time.process_time()
    self._last_step = _step(self.model)

  def on_train_batch_end(self, batch, logs=None):
    step = _step(self.model)
    if step % self.every and step != self.num_steps:
      return
    now, cpu = time.monotonic(), time.process_time()
    done = step - self._last_step
    per_step = (now - self._last_time) / done if done else math.nan
    cpu_per_step = (cpu - self._last_cpu) / done if done else math.nan
    self._last_time, self._last_cpu, self._last_step = now, cpu, step
    left = (self.num_steps - step) * per_step
    by_time = False
    if self.time_limit_seconds is not None:
      time_left = self.time_limit_seconds - (now - self._start_time)
      by_time = not time_left >= left  # the time limit ends the run first (or left is NaN)
      left = time_left if by_time else left
    extra = {"eta_by": "time_limit"} if by_time else {}
    self._report("step", step=step, num_steps=self.num_steps, metrics=_floats(logs),
                 seconds_per_step=per_step if math.isfinite(per_step) else None,
                 cpu_seconds_per_step=cpu_per_step if math.isfinite(cpu_per_step) else None,
                 eta_seconds=left if math.isfinite(left) else None, **extra)

  def on_epoch_end(self, epoch, logs=None):
    validation = {k[4:]: v for k, v in (logs or {}).items() if k.startswith("val_")}
    if validation:
      self._report("validation", step=_step(self.model), metrics=_floats(validation))


def _floats(logs):
  return {k: keras_compat.scalar(v) for k, v in (logs or {}).items()}


class NonFiniteError(RuntimeError):
  """Training stopped after too many consecutive non-finite steps."""


class NonFiniteGuard(keras.callbacks.Callback):
  """Logs skipped (non-finite) steps and stops a run that keeps producing them.

  The training models skip a step whose loss or gradients are not finite
  (`TrainingModel.apply_if_finite`) and count it in the `skipped_steps`
  metric. This callback warns with the step of each skip and, after
  `max_consecutive` skips in a row, raises `NonFiniteError`: the weights (and
  the checkpoints written meanwhile) are those of the last finite step.

  Args:
    max_consecutive: skips in a row that end the run (None: never).
    stream: where the warnings go (default stdout).
  """

  def __init__(self, max_consecutive=20, stream=None):
    super().__init__()
    checks.integer("max_consecutive", max_consecutive, allow_none=True)
    self.max_consecutive = max_consecutive
    self.stream = stream or sys.stdout
    self.consecutive = 0
    self.total = 0
    self._seen = 0.0
    self._step = None

  def on_epoch_begin(self, epoch, logs=None):
    self._seen = 0.0  # the metric restarts with every fit epoch
    self._step = _step(self.model)

  def on_train_batch_end(self, batch, logs=None):
    value = keras_compat.scalar((logs or {}).get("skipped_steps", self._seen))
    step = _step(self.model)
    new = int(round(value - self._seen))
    steps = max(1, step - (self._step if self._step is not None else step - 1))
    self._seen, self._step = value, step
    if new <= 0:
      self.consecutive = 0
      return
    self.consecutive = self.consecutive + new if new == steps else new
    self.total += new
    print(f"step {step}: non-finite loss or gradients; {new} step(s) skipped, weights "
          f"unchanged ({self.consecutive} in a row, {self.total} in this run)",
          file=self.stream, flush=True)
    if self.max_consecutive is not None and self.consecutive >= self.max_consecutive:
      raise NonFiniteError(
          f"{self.consecutive} consecutive training steps had a non-finite loss or gradients "
          f"(up to step {step}); stopped with the weights of the last finite step. Look for "
          f"a diverging learning rate, a bad input file, or overflow under mixed precision; "
          f"the latest checkpoint holds the last finite weights.")


class StopAtStep(keras.callbacks.Callback):
  """Ends training at an optimizer step, or after a wall-clock budget.

  `fit` counts epochs; this makes a run end at `num_steps` whatever step it
  resumed from, and lets a demo stop on time (the epoch is then closed, so
  the checkpoint and validation of the stopping step still happen).
  """

  def __init__(self, num_steps, time_limit_seconds=None):
    super().__init__()
    self.num_steps = num_steps
    self.time_limit_seconds = time_limit_seconds
    self.stopped_on_time = False
    self._deadline = None

  def on_train_begin(self, logs=None):
    if self.time_limit_seconds is not None:
      self._deadline = time.monotonic() + self.time_limit_seconds

  def on_train_batch_end(self, batch, logs=None):
    if _step(self.model) >= self.num_steps:
      self.model.stop_training = True
    elif self._deadline is not None and time.monotonic() >= self._deadline:
      self.stopped_on_time = True
      self.model.stop_training = True


def audio_examples(dataset, num_examples):
  """Fixed inputs for audio summaries, from a dataset's first batch.

  Returns:
    `(inputs [E, T], references [E, R, T])` as NumPy arrays: MoMs of
    consecutive mixtures with their two mixtures, or (for supervised-only
    data) supervised mixtures with their sources.
  """
  batch = next(iter(dataset.take(1)))
  if batches.MIXTURES in batch:
    moms = batches.form_moms(batch[batches.MIXTURES])
    inputs, references = moms["mom"], moms["references"]
  else:
    inputs = batch[batches.SUPERVISED_MIXTURES]
    references = batch[batches.SUPERVISED_SOURCES]
  return inputs[:num_examples].numpy(), references[:num_examples].numpy()


class TensorBoardSummaries(keras.callbacks.Callback):
  """TensorBoard scalars of every loss term, and audio of a few separations.

  Writes to `<log_dir>/train` every `every` steps: each metric of the step's
  logs (running means since the last checkpoint) and the learning rate; and
  to `<log_dir>/validation` the validation metrics at each checkpoint. At
  each checkpoint it also separates `audio_inputs` and writes the inputs,
  their references and the separator's outputs as audio (clipped to ±1 by
  the wav encoding; levels are not normalised, so outputs compare).

  Args:
    log_dir: the run's summary folder.
    every: steps between scalar records.
    audio_inputs: None, or `(inputs [E, T], references [E, R, T])` from
      `audio_examples`.
    sample_rate: of the audio, Hz.
  """

  def __init__(self, log_dir, every=100, audio_inputs=None, sample_rate=16000):
    super().__init__()
    self.log_dir = log_dir
    self.every = max(1, int(every))
    self.audio_inputs = audio_inputs
    self.sample_rate = sample_rate
    self._writers = {}

  def _writer(self, name):
    if name not in self._writers:
      self._writers[name] = tf.summary.create_file_writer(f"{self.log_dir}/{name}")
    return self._writers[name]

  def _learning_rate(self):
    optimizer = self.model.optimizer
    rate = optimizer.learning_rate
    if callable(rate):  # a schedule
      rate = rate(optimizer.iterations)
    return keras_compat.scalar(rate)

  def on_train_batch_end(self, batch, logs=None):
    step = _step(self.model)
    if step % self.every:
      return
    with self._writer("train").as_default(step=step):
      for name, value in (logs or {}).items():
        tf.summary.scalar(name, keras_compat.scalar(value))
      tf.summary.scalar("learning_rate", self._learning_rate())

  def write_validation(self, logs, step=None):
    """Writes `logs` (with or without a `val_` prefix) at `step`."""
    step = _step(self.model) if step is None else step
    with self._writer("validation").as_default(step=step):
      for name, value in logs.items():
        tf.summary.scalar(name.removeprefix("val_"), keras_compat.scalar(value))

  def write_audio(self, step=None):
    if self.audio_inputs is None:
      return
    step = _step(self.model) if step is None else step
    inputs, references = self.audio_inputs
    outputs = self.model(inputs, training=False).numpy()
    limit = len(inputs)
    with self._writer("train").as_default(step=step):
      tf.summary.audio("input", inputs[..., None], self.sample_rate, max_outputs=limit)
      for r in range(references.shape[1]):
        tf.summary.audio(f"reference_{r}", references[:, r, :, None], self.sample_rate,
                         max_outputs=limit)
      for m in range(outputs.shape[1]):
        tf.summary.audio(f"output_{m}", outputs[:, m, :, None], self.sample_rate,
                         max_outputs=limit)

  def on_epoch_end(self, epoch, logs=None):
    validation = {k: v for k, v in (logs or {}).items() if k.startswith("val_")}
    if validation:
      self.write_validation(validation)
    self.write_audio()
    for writer in self._writers.values():
      writer.flush()

  def on_train_end(self, logs=None):
    for writer in self._writers.values():
      writer.close()
    self._writers = {}


class SeparationEvaluation(keras.callbacks.Callback):
  """At every checkpoint: the paper's metrics on a list; the best checkpoint by the study's rule.

  At each epoch end (one checkpoint interval; put this callback after the
  `CheckpointSaver`), it separates the examples of `list_path` with the
  current separator, writes MSi, 1S and TRF (or the task's metrics) to
  TensorBoard, and keeps the best checkpoint so far in `<checkpoints>/best/`
  with `best.json` (its step and metrics, the rule, and every evaluation so
  far), which a resumed run reads.

  Best means, for "fuss", the rule the study chooses checkpoints by
  (`evaluation.selection`, docs/study.md): the highest TRF among the
  checkpoints whose MSi is within `msi_tolerance_db` of the best MSi so far,
  because TRF alone prefers a model that copies single-source mixtures and
  separates nothing. It is applied as the checkpoints come: the new one
  replaces the kept one when the rule prefers it of the two (a checkpoint
  passed over earlier is gone; `best.json`'s `history` gives the rule's
  choice over all of them). The other tasks have one metric: MSi
  ("speech"), MoMi ("mom"), S+N ("enhancement"), the highest wins.

  Args:
    list_path: a FUSS-format list (`evaluation.evaluate`).
    manager: the run's `CheckpointManager`.
    summaries: the run's `TensorBoardSummaries`, or None.
    sample_rate: Hz.
    task: an `evaluation.TASKS` task.
    max_examples: evaluate the first this many examples (None: all).
    stream: where the metrics line goes.
    record_dir: where to read the best-so-far record when resuming, if not
      this manager's `best/` (a MultiWorkerMirrored worker that is not the
      chief reads the chief's, so that all workers choose alike).
    msi_tolerance_db: the rule's MSi budget, dB ("fuss"); the study's default.
  """

  SELECT_BY = {"fuss": "TRF", "speech": "MSi", "mom": "MoMi", "enhancement": "S+N"}

  def __init__(self, list_path, manager, summaries=None, sample_rate=16000, task="fuss",
               max_examples=None, stream=None, record_dir=None,
               msi_tolerance_db=selection.DEFAULT_MSI_TOLERANCE_DB):
    super().__init__()
    if task not in self.SELECT_BY:
      raise ValueError(f"task must be one of {sorted(self.SELECT_BY)}, got {task!r}")
    if not msi_tolerance_db >= 0:
      raise ValueError(f"msi_tolerance_db must be >= 0, got {msi_tolerance_db!r}")
    formats.detect(list_path, has_sources=True).count(list_path)  # a bad list fails now
    self.list_path = list_path
    self.manager = manager
    self.summaries = summaries
    self.sample_rate = sample_rate
    self.task = task
    self.max_examples = max_examples
    self.stream = stream or sys.stdout
    self.msi_tolerance_db = msi_tolerance_db
    self.best_dir = run_folder.best(manager.directory)
    self.best = self.read_best(record_dir or self.best_dir)
    self._keras_separator = None

  @staticmethod
  def read_best(best_dir):
    """The `best.json` record of a run's best checkpoint, or None."""
    path = run_folder.best_record(best_dir)
    if not filesystem.exists(path):
      return None
    return json.loads(filesystem.read_text(path))

  def _separator(self):
    if self._keras_separator is None:
      self._keras_separator = serving.KerasSeparator(self.model.separator, self.sample_rate,
                                                     "the separator in training")
    return self._keras_separator

  def _prefers_new(self, values, history):
    """Whether the rule prefers the new evaluation `values` to the kept best; and the floor."""
    key = self.SELECT_BY[self.task]
    if values.get(key) is None:
      return False, None
    if self.best is None:
      return True, None
    if key != "TRF":
      return values[key] > self.best["score"], None
    msi_floor = selection.floor(selection.best_msi(history, key=lambda h: h["metrics"]),
                                self.msi_tolerance_db)
    kept = {"step": self.best["step"], "metrics": self.best["metrics"]}
    new = {"step": None, "metrics": values}
    # Ties go to the earlier (kept) one, as `selection.select` does.
    chosen, _ = selection.select([kept, new], msi_floor, key=lambda c: c["metrics"])
    return chosen is new, msi_floor

  def on_epoch_end(self, epoch, logs=None):
    # pylint: disable-next=import-outside-toplevel
    from sound_separation.evaluation import evaluator
    step = _step(self.model)
    summary = evaluator.evaluate(self._separator(), self.list_path, self.task, self.sample_rate,
                                 max_examples=self.max_examples, stream=io.StringIO())
    key = self.SELECT_BY[self.task]
    values = {k: summary[k] for k in evaluator.METRICS if summary.get(k) is not None}
    print(f"step {step} evaluation  " + "  ".join(f"{k} {v:.2f} dB" for k, v in values.items()),
          file=self.stream, flush=True)
    if self.summaries is not None:
      self.summaries.write_validation(values, step=step)
    history = [h for h in (self.best or {}).get("history", []) if h["step"] != step]
    if self.best is not None and not any(h["step"] == self.best["step"] for h in history):
      # A record written before histories were kept: its best is an evaluation too.
      history.insert(0, {"step": self.best["step"], "metrics": self.best["metrics"]})
    history.append({"step": step, "metrics": values})
    prefers_new, msi_floor = self._prefers_new(values, history)
    if not prefers_new:
      if self.best is not None:  # the kept best stays; the record learns the evaluation
        self.best = {**self.best, "history": history, "msi_floor": msi_floor}
        run_folder.write_json(run_folder.best_record(self.best_dir), self.best)
      return
    old = filesystem.glob(filesystem.join(self.best_dir, "ckpt-*"))
    path = self.manager.checkpoint.write(os.path.join(self.best_dir, f"ckpt-{step}"))
    for name in old:
      if not name.startswith(path + "."):
        filesystem.remove(name)
    rule = (f"highest TRF with MSi within {self.msi_tolerance_db:g} dB of the best MSi so far "
            f"(evaluation/selection.py)" if key == "TRF" else f"highest {key}")
    self.best = {"step": step, "checkpoint": path, "select_by": key, "score": values[key],
                 "rule": rule, "msi_floor": msi_floor, "metrics": values,
                 "list_path": summary["list_path"], "history": history}
    run_folder.write_json(run_folder.best_record(self.best_dir), self.best)
    print(f"step {step} is the best so far ({rule}): {path}", file=self.stream, flush=True)


class TaggingValidation(keras.callbacks.Callback):
  """At every checkpoint: mAP, mean AUC and BCE of the classifier on a labelled set.

  Adds `val_loss`, `val_map` and `val_mean_auc` to the epoch's logs (so the
  progress line, TensorBoard and `fit`'s history get them; put it before
  those callbacks) and writes `<model_dir>/validation_tagging.json` with the
  per-class AP and AUC.
  """

  def __init__(self, dataset, model_dir, class_names=None):
    super().__init__()
    self.dataset = dataset
    self.model_dir = model_dir
    self.class_names = class_names
    self.last = None

  def evaluate(self):
    result = tagging.evaluate_tagging(self.model.classifier, self.dataset, self.class_names)
    self.last = result
    step = int(self.model.optimizer.iterations.numpy())
    summary = {"step": step, **{k: v for k, v in result.items()
                                if k not in ("average_precision", "auc")}}
    if self.class_names is None:
      summary["average_precision"] = [float(v) for v in result["average_precision"]]
      summary["auc"] = [float(v) for v in result["auc"]]
    filesystem.write_text(run_folder.tagging_file(self.model_dir),
                          json.dumps(summary, indent=1, allow_nan=True) + "\n")
    return {"val_loss": result["loss"], "val_map": result["map"],
            "val_mean_auc": result["mean_auc"]}

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      logs.update(self.evaluate())
