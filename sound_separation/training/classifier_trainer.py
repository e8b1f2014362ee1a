"""Pretraining the sound-event classifier: multi-label BCE on weakly labelled clips.

`ClassifierTrainer` wraps a `SoundClassifier` and trains it on batches
`{'mixtures': [B, T], 'labels': [B, K]}` (`data.pipelines.clip_dataset` with
a vocabulary) with the sigmoid cross-entropy averaged over classes and
clips, in nats. `evaluation.tagging.evaluate_tagging` scores a labelled
dataset with mAP and mean ROC AUC.

Under a `tf.distribute` strategy each replica divides its mean loss by the
number of replicas (Keras sums the replicas' gradients), as `MixITTrainer`.
"""

import keras
import tensorflow as tf

from sound_separation import gin_utils
from sound_separation.data import batches
from sound_separation.evaluation import tagging
from sound_separation.losses import classification
from sound_separation.models.classifier import SoundClassifier
from sound_separation.training import training_model


@gin_utils.register_keras
class ClassifierTrainer(training_model.TrainingModel):
  """Trains a classifier with multi-label BCE; metric `loss` (nats per class).

  `call(waveforms)` is the classifier's: `[B, T]` -> float32 logits `[B, K]`.
  `compile()` without an optimizer uses Adam at 1e-4 (`default_optimizer`,
  gin-configurable; `train_classifier` passes its own).

  Args:
    classifier: a `SoundClassifier` (or its config); default
      `SoundClassifier()`, which gin bindings configure.
  """

  def __init__(self, classifier=None, **kwargs):
    super().__init__(**kwargs)
    if classifier is None:
      classifier = SoundClassifier(dtype=self.dtype_policy)
    elif isinstance(classifier, dict):
      classifier = keras.saving.deserialize_keras_object(classifier)
    if not isinstance(classifier, SoundClassifier):
      raise TypeError(f"classifier must be a SoundClassifier (or its config), got "
                      f"{classifier!r}.")
    self.classifier = classifier
    if not classifier.built:
      classifier.build((None, None))
    self.built = True
    self.loss_tracker = keras.metrics.Mean(name="loss")

  def call(self, waveforms, training=None):
    return self.classifier(waveforms, training=training)

  @property
  def metrics(self):
    return [self.loss_tracker, self.skipped_tracker]

  def compute_loss_value(self, batch, training=False):
    """Mean multi-label BCE of one batch (float32 scalar, nats per class)."""
    x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
    if not isinstance(x, dict) or batches.LABELS not in x:
      raise ValueError(f"classifier batches are dicts with '{batches.MIXTURES}' and "
                       f"'{batches.LABELS}' (clip_dataset with a vocabulary).")
    logits = self(x[batches.MIXTURES], training=training)
    return tf.reduce_mean(classification.multilabel_bce(logits, x[batches.LABELS]))

  def step_losses(self, batch, training):
    loss = self.compute_loss_value(batch, training=training)
    return loss, loss

  def record(self, terms):
    self.loss_tracker.update_state(terms)
    return self.metric_results()

  def get_config(self):
    return {**super().get_config(),
            "classifier": keras.saving.serialize_keras_object(self.classifier)}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    return cls(classifier=config.pop("classifier", None), **config)
