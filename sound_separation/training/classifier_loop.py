"""Pretraining the sound-event classifier: `train_classifier`, gin-configured.

`train_classifier(model_dir)` trains a `SoundClassifier` (gin bindings set
its size) on a clip list with weak labels (`<wav>\\t<label>,<label>` lines
and a vocabulary file, as `data_prep/` writes them), and writes, like the
separation loop (`loop.train`, whose strategy, checkpoint and callback code
it uses):

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

import gin
import keras
import tensorflow as tf
from absl import logging

from sound_separation import gin_utils
from sound_separation.data import datasets
from sound_separation.models import folders
from sound_separation.training import callbacks as callbacks_lib
from sound_separation.training import checkpoints
from sound_separation.training import loop
from sound_separation.training import strategies
from sound_separation.training.classifier_trainer import ClassifierTrainer
from sound_separation.training.classifier_trainer import evaluate_tagging

VALIDATION_FILE = "validation_tagging.json"


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
    with open(os.path.join(self.model_dir, VALIDATION_FILE), "w", encoding="utf-8") as f:
      json.dump(summary, f, indent=1, allow_nan=True)
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
    train_list: a clip list with weak labels (`datasets.read_clip_list`).
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
    seed: the training data's shuffle and crop seed.
    train_data, validation_data: datasets (or functions returning one) of
      `{'mixtures', 'labels'}` batches in place of the lists; validation data
      must be finite.

  Returns:
    A `loop.TrainResult` whose `trainer` is the `ClassifierTrainer` and
    whose `validation` holds `loss`, `map` and `mean_auc`.
  """
  if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
    raise ValueError(f"num_steps must be a positive integer (gin: train_classifier.num_steps), "
                     f"got {num_steps!r}.")
  if train_data is None and (train_list is None or vocabulary is None):
    raise ValueError("train_classifier needs train_list and vocabulary (or train_data).")
  stream = stream or sys.stdout
  class_names = None
  if vocabulary is not None:
    class_names = (datasets.read_label_vocabulary(vocabulary)
                   if isinstance(vocabulary, (str, os.PathLike)) else list(vocabulary))

  strategy = strategies.get_strategy()
  write_dir, is_chief = loop._worker_model_dir(strategy, model_dir)  # pylint: disable=protected-access
  with strategy.scope():
    trainer = ClassifierTrainer()
    if class_names is not None and trainer.classifier.num_classes != len(class_names):
      raise ValueError(f"SoundClassifier.num_classes={trainer.classifier.num_classes} but the "
                       f"vocabulary has {len(class_names)} classes.")
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    trainer.optimizer.build(trainer.trainable_variables)
    manager = checkpoints.make_manager(trainer, write_dir, max_checkpoints_to_keep)
    step = checkpoints.restore_or_initialize(
        manager, trainer, resume_dir=folders.checkpoint_dir(model_dir))
  if is_chief:
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.gin"), "w", encoding="utf-8") as f:
      f.write(gin.config_str())
    folders.write_classifier_config(model_dir, trainer.classifier, sample_rate, class_names)
  if step >= num_steps:
    print(f"{model_dir} is already at step {step} >= num_steps={num_steps}.", file=stream,
          flush=True)
    return loop.TrainResult(trainer, step, False, {}, {}, {})

  if train_data is None:
    train_ds = datasets.clip_dataset(train_list, batch_size, clip_seconds=clip_seconds,
                                     sample_rate=sample_rate, seed=seed, vocabulary=class_names)
  else:
    train_ds = train_data() if callable(train_data) else train_data
  validation_ds = None
  if validation_data is not None:
    validation_ds = validation_data() if callable(validation_data) else validation_data
  elif validation_list is not None:
    validation_ds = datasets.clip_dataset(
        validation_list, validation_batch_size or batch_size, clip_seconds=clip_seconds,
        sample_rate=sample_rate, shuffle=False, repeat=False, vocabulary=class_names)

  stopper = callbacks_lib.StopAtStep(num_steps, time_limit_seconds)
  run_callbacks = [stopper, callbacks_lib.NonFiniteGuard(max_consecutive_nonfinite, stream),
                   checkpoints.CheckpointSaver(manager)]
  validator = None
  if validation_ds is not None and is_chief:
    validator = TaggingValidation(validation_ds, model_dir, class_names)
    run_callbacks.append(validator)
  run_callbacks.append(callbacks_lib.ProgressLogger(num_steps, log_every, stream,
                                                    time_limit_seconds))
  if is_chief:
    run_callbacks.append(callbacks_lib.TensorBoardSummaries(
        os.path.join(model_dir, "summaries"), summary_every))

  start = time.monotonic()
  step, metrics, validation = loop.fit_intervals(
      trainer, train_ds, step, num_steps, steps_per_checkpoint, run_callbacks, stopper,
      time_limit_seconds, stream)
  if validator is not None and validator.last is not None:
    print(f"validation: mAP {validator.last['map']:.4f}  mean AUC "
          f"{validator.last['mean_auc']:.4f}  over {validator.last['num_classes_scored']} "
          f"classes, {validator.last['num_clips']} clips", file=stream, flush=True)
  logging.info("Trained the classifier to step %d in %.1f s.", step, time.monotonic() - start)
  if not is_chief:
    tf.io.gfile.rmtree(write_dir)
  return loop.TrainResult(trainer, step, stopper.stopped_on_time, metrics, validation, {})
