"""Pretraining the sound-event classifier: `train_classifier`, gin-configured.

`train_classifier(model_dir)` trains a `SoundClassifier` (gin bindings set
its size) on a clip list with weak labels (`<wav>\\t<label>,<label>` lines
and a vocabulary file, as `data_prep/` writes them), and writes, like the
separation loop (`loop.train`; both start, checkpoint, call back and fit
through `run`):

- `<model_dir>/checkpoints/ckpt-<step>`: the training state, retention,
  resume after a kill (`checkpoints.make_manager`, `restore_or_initialize`);
- `<model_dir>/classifier.json`: the classifier's Keras config, sample rate
  and class names, which `folders.load_classifier(model_dir)` rebuilds
  (the separation trainer's pretrained classifier);
- `<model_dir>/summaries/`: TensorBoard scalars (loss, validation mAP and
  mean AUC);
- `<model_dir>/validation_tagging.json`: the last validation's mAP, mean AUC
  and per-class AP and AUC (when a validation list is given).
"""

import json
import os
import sys
import time

import keras
from absl import logging

from sound_separation import filesystem
from sound_separation import run_folder
from sound_separation import gin_utils
from sound_separation.data import datasets
from sound_separation.data import lists
from sound_separation.models import folders
from sound_separation.training import run as run_lib
from sound_separation.training.classifier_trainer import ClassifierTrainer
from sound_separation.training.classifier_trainer import evaluate_tagging



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
    result = evaluate_tagging(self.model.classifier, self.dataset, self.class_names)
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


@gin_utils.configurable
def train_classifier(model_dir, train_list=None, vocabulary=None, validation_list=None,
                     num_steps=None, batch_size=32, validation_batch_size=None,
                     clip_seconds=10.0, sample_rate=16000, learning_rate=1e-4,
                     steps_per_checkpoint=1000, max_checkpoints_to_keep=5,
                     jit_compile=False, log_every=100, summary_every=100,
                     time_limit_seconds=None, seed=None, max_consecutive_nonfinite=20,
                     train_data=None, validation_data=None, stream=None):
  """Trains (or resumes training) a classifier; see the module docstring.

  The classifier's architecture comes from gin bindings of `SoundClassifier`
  (`num_classes` must equal the vocabulary's size), the strategy from
  `get_strategy`.

  Args:
    model_dir: the run's folder.
    train_list: a clip list with weak labels (`lists.read_clip_list`).
    vocabulary: the class names, a vocabulary file (one name per line).
    validation_list: None, or a labelled clip list scored at every checkpoint
      (mAP, mean AUC, per-class AP/AUC), read in order with crops at 0.
    num_steps: the optimizer step to train to (total, not additional).
    batch_size: clips per training batch (global, over replicas).
    validation_batch_size: clips per validation batch (default batch_size;
      the last partial batch is dropped).
    clip_seconds: clip length (random crops of longer clips in training).
    sample_rate: Hz.
    learning_rate: Adam's, constant.
    steps_per_checkpoint, max_checkpoints_to_keep, jit_compile, log_every,
      summary_every, time_limit_seconds, max_consecutive_nonfinite, stream: as
      in `loop.train`.
    seed: the run's seed: the initial weights and the training data's
      shuffle and crops (default: derived from `model_dir`, `run.start`).
    train_data, validation_data: datasets (or functions returning one) of
      `{'mixtures', 'labels'}` batches in place of the lists; validation data
      must be finite.

  Returns:
    A `run.TrainResult` whose `trainer` is the `ClassifierTrainer` and
    whose `validation` holds `loss`, `map` and `mean_auc`.
  """
  run_lib.check_schedule(num_steps, steps_per_checkpoint, gin_name="train_classifier",
                         time_limit_seconds=time_limit_seconds)
  if train_data is None and (train_list is None or vocabulary is None):
    raise ValueError("train_classifier needs train_list and vocabulary (or train_data).")
  stream = stream or sys.stdout
  class_names = None
  if vocabulary is not None:
    class_names = (lists.read_label_vocabulary(vocabulary)
                   if isinstance(vocabulary, (str, os.PathLike)) else list(vocabulary))

  def build_trainer(dtype):
    trainer = ClassifierTrainer(dtype=dtype)
    if class_names is not None and trainer.classifier.num_classes != len(class_names):
      raise ValueError(f"SoundClassifier.num_classes={trainer.classifier.num_classes} but the "
                       f"vocabulary has {len(class_names)} classes.")
    return trainer

  def describe(model_dir, trainer):
    folders.write_classifier_config(model_dir, trainer.classifier, sample_rate, class_names)

  run = run_lib.start(model_dir, build_trainer, lambda: keras.optimizers.Adam(learning_rate),
                      max_checkpoints_to_keep=max_checkpoints_to_keep, jit_compile=jit_compile,
                      describe=describe, seed=seed)
  done = run_lib.already_done(run, num_steps, stream)
  if done is not None:
    return done
  trainer, step = run.trainer, run.step

  train_ds = run_lib.make_data(train_data, lambda: datasets.clip_dataset(
      train_list, batch_size, clip_seconds=clip_seconds, sample_rate=sample_rate, seed=seed,
      vocabulary=class_names))
  validation_ds = None
  if validation_data is not None or validation_list is not None:
    validation_ds = run_lib.make_data(validation_data, lambda: datasets.clip_dataset(
        validation_list, validation_batch_size or batch_size, clip_seconds=clip_seconds,
        sample_rate=sample_rate, shuffle=False, repeat=False, vocabulary=class_names))

  validator = None
  if validation_ds is not None and run.is_chief:
    validator = TaggingValidation(validation_ds, model_dir, class_names)
  run_callbacks, stopper, _ = run_lib.callbacks(
      run, num_steps, stream=stream, log_every=log_every, summary_every=summary_every,
      time_limit_seconds=time_limit_seconds, max_consecutive_nonfinite=max_consecutive_nonfinite,
      validators=[validator] if validator is not None else [], sample_rate=sample_rate)

  start = time.monotonic()
  step, metrics, validation = run_lib.fit(run, train_ds, num_steps, steps_per_checkpoint,
                                          run_callbacks, stopper, stream)
  if validator is not None and validator.last is not None:
    print(f"validation: mAP {validator.last['map']:.4f}  mean AUC "
          f"{validator.last['mean_auc']:.4f}  over {validator.last['num_classes_scored']} "
          f"classes, {validator.last['num_clips']} clips", file=stream, flush=True)
  logging.info("Trained the classifier to step %d in %.1f s.", step, time.monotonic() - start)
  run_lib.finish(run)
  return run_lib.TrainResult(trainer, step, stopper.stopped_on_time, metrics, validation, {})
