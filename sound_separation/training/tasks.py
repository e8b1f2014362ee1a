"""What the one training loop trains: the separator and the classifier as tasks.

`loop.run_task(model_dir, task, schedule)` is the only training loop; a task
tells it what differs between what it trains:

- `build_trainer(dtype)` and `optimizer()`: the training model and its
  optimizer (made under the strategy's scope at the run's precision);
- `describe(model_dir, trainer)`: the model folder's description
  (`separator.json`, `classifier.json`);
- `training_data(run)`: the input, which starts after the batches a resumed
  run already trained on, seeded by the run's seed, one pipeline per host
  where the strategy needs it (`run.input_data`);
- `validation_data()`: a dataset Keras validates on at each checkpoint
  (`val_*` logs), or None; `validators(run)`: callbacks that add `val_*`
  logs of their own at each checkpoint (before the progress line);
  `evaluators(run, summaries, stream)`: callbacks after the summaries (the
  separator's MSi/1S/TRF evaluation, which keeps the best checkpoint);
- `audio_source(run, train_ds, validation_ds)`: where audio summaries come
  from, or None; `after_training(stream)`: a closing line.

Everything else (argument checks, seeding, the lock, resume, checkpoints,
progress, summaries, the non-finite guard, the time limit) is the loop's.
"""

import os

import keras

from sound_separation import checks
from sound_separation import run_folder
from sound_separation.data import datasets
from sound_separation.data import pipelines
from sound_separation.data import lists
from sound_separation.models import folders
from sound_separation.training import callbacks as callbacks_lib
from sound_separation.training import run as run_lib
from sound_separation.training.classifier_trainer import ClassifierTrainer
from sound_separation.training.optimizer import default_optimizer
from sound_separation.training.trainer import MixITTrainer


class Task:
  """The defaults of a task's hooks (module docstring); subclasses give the rest."""

  gin_name = None  # the gin-configurable entry point, for hints in errors
  sample_rate = 16000  # of the data, Hz (audio summaries)

  def build_trainer(self, dtype):
    raise NotImplementedError

  def optimizer(self):
    raise NotImplementedError

  def describe(self, model_dir, trainer):
    raise NotImplementedError

  def training_data(self, run):
    raise NotImplementedError

  def validation_data(self):
    return None

  def validators(self, run):
    del run
    return []

  def evaluators(self, run, summaries, stream):
    del run, summaries, stream
    return []

  def audio_source(self, run, train_ds, validation_ds):
    del run, train_ds, validation_ds
    return None

  def after_training(self, stream):
    del stream


class SeparationTask(Task):
  """Trains a `MixITTrainer` (gin configures it) on `training_dataset()` batches.

  Args:
    sample_rate: of the data, Hz (`separator.json`, audio summaries).
    num_audio_examples: separations written as TensorBoard audio at each
      checkpoint (0 for none).
    validation: validate on `validation_dataset()` before training (new
      runs) and at every checkpoint.
    evaluation_list, evaluation_task, evaluation_max_examples: a list the
      separator is evaluated on at every checkpoint (`SeparationEvaluation`,
      keeping the best by TRF), its task, its first examples only.
    train_data, validation_data: a dataset or a function returning one, in
      place of `training_dataset()` / `validation_dataset()`.
  """

  gin_name = "train"

  def __init__(self, sample_rate=16000, num_audio_examples=2, validation=False,
               evaluation_list=None, evaluation_task="fuss", evaluation_max_examples=None,
               train_data=None, validation_data=None):
    self.sample_rate = sample_rate
    self.num_audio_examples = num_audio_examples
    self.validation = validation
    self.evaluation_list = evaluation_list
    self.evaluation_task = evaluation_task
    self.evaluation_max_examples = evaluation_max_examples
    self.train_data = train_data
    self._validation_data = validation_data

  def build_trainer(self, dtype):
    return MixITTrainer(dtype=dtype)

  def optimizer(self):
    return default_optimizer()

  def describe(self, model_dir, trainer):
    folders.write_separator_config(model_dir, trainer.separator, self.sample_rate)

  def training_data(self, run):
    if self.train_data is not None:
      return run_lib.make_data(self.train_data, None)
    return run.input_data(lambda context: datasets.training_dataset(
        start_batch=run.step, default_seed=run.seed, input_context=context))

  def validation_data(self):
    if not self.validation and self._validation_data is None:
      return None
    return run_lib.make_data(self._validation_data, datasets.validation_dataset)

  def audio_source(self, run, train_ds, validation_ds):
    if not run.is_chief or not self.num_audio_examples:
      return None
    source = validation_ds
    if source is None:
      source = (datasets.training_dataset(default_seed=run.seed)
                if run.per_host else train_ds)
    return callbacks_lib.audio_examples(source, self.num_audio_examples)

  def evaluators(self, run, summaries, stream):
    if not self.evaluation_list:
      return []
    # On every worker: writing the best checkpoint takes part in collective
    # ops like any save, so all workers evaluate and decide alike, from the
    # chief's record of the best so far.
    return [callbacks_lib.SeparationEvaluation(
        self.evaluation_list, run.manager, summaries, self.sample_rate, self.evaluation_task,
        self.evaluation_max_examples, stream,
        record_dir=run_folder.best(run_folder.checkpoints(run.model_dir)))]


class ClassifierTask(Task):
  """Trains a `ClassifierTrainer` (gin sizes its `SoundClassifier`) on weakly labelled clips.

  Args:
    train_list: a clip list with weak labels (`lists.read_clip_list`).
    vocabulary: the class names, or a vocabulary file (one name per line);
      its size must be the classifier's `num_classes`.
    validation_list: None, or a labelled clip list scored at every checkpoint
      (mAP, mean AUC, per-class AP/AUC), read in order with crops at 0.
    batch_size: clips per training batch (global, over replicas).
    validation_batch_size: clips per validation batch (default batch_size;
      the last partial batch is dropped).
    clip_seconds: clip length (random crops of longer clips in training).
    sample_rate: Hz.
    learning_rate: Adam's, constant.
    train_data, validation_data: datasets (or functions returning one) of
      `{'mixtures', 'labels'}` batches in place of the lists; validation data
      must be finite.
  """

  gin_name = "train_classifier"

  def __init__(self, train_list=None, vocabulary=None, validation_list=None, batch_size=32,
               validation_batch_size=None, clip_seconds=10.0, sample_rate=16000,
               learning_rate=1e-4, train_data=None, validation_data=None):
    if train_data is None and (train_list is None or vocabulary is None):
      raise ValueError("train_classifier needs train_list and vocabulary (or train_data).")
    checks.integer("batch_size", batch_size)
    checks.integer("validation_batch_size", validation_batch_size, allow_none=True)
    self.class_names = None
    if vocabulary is not None:
      self.class_names = (lists.read_label_vocabulary(vocabulary)
                          if isinstance(vocabulary, (str, os.PathLike)) else list(vocabulary))
    self.train_list = train_list
    self.validation_list = validation_list
    self.batch_size = batch_size
    self.validation_batch_size = validation_batch_size or batch_size
    self.clip_seconds = clip_seconds
    self.sample_rate = sample_rate
    self.learning_rate = learning_rate
    self.train_data = train_data
    self._validation_data = validation_data
    self._validator = None

  def build_trainer(self, dtype):
    trainer = ClassifierTrainer(dtype=dtype)
    if self.class_names is not None and trainer.classifier.num_classes != len(self.class_names):
      raise ValueError(f"SoundClassifier.num_classes={trainer.classifier.num_classes} but the "
                       f"vocabulary has {len(self.class_names)} classes.")
    return trainer

  def optimizer(self):
    return keras.optimizers.Adam(self.learning_rate)

  def describe(self, model_dir, trainer):
    folders.write_classifier_config(model_dir, trainer.classifier, self.sample_rate,
                                    self.class_names)

  def training_data(self, run):
    if self.train_data is not None:
      return run_lib.make_data(self.train_data, None)

    def make_dataset(context):
      # A resumed run starts after the clips it trained on; each host reads its share.
      batch, per_step, shard = datasets.pipeline_share(self.batch_size, context)
      return pipelines.clip_dataset(
          self.train_list, batch, clip_seconds=self.clip_seconds, sample_rate=self.sample_rate,
          seed=run.seed, vocabulary=self.class_names, start_example=run.step * per_step,
          shard=shard)

    return run.input_data(make_dataset)

  def validators(self, run):
    if not run.is_chief or (self._validation_data is None and self.validation_list is None):
      return []
    dataset = run_lib.make_data(self._validation_data, lambda: pipelines.clip_dataset(
        self.validation_list, self.validation_batch_size, clip_seconds=self.clip_seconds,
        sample_rate=self.sample_rate, shuffle=False, repeat=False,
        vocabulary=self.class_names))
    self._validator = callbacks_lib.TaggingValidation(dataset, run.model_dir, self.class_names)
    return [self._validator]

  def after_training(self, stream):
    last = self._validator.last if self._validator is not None else None
    if last is not None:
      print(f"validation: mAP {last['map']:.4f}  mean AUC {last['mean_auc']:.4f}  over "
            f"{last['num_classes_scored']} classes, {last['num_clips']} clips", file=stream,
            flush=True)
