"""MixIT training as a Keras model: the total loss, train and test steps.

`MixITTrainer` wraps a separator (a `SeparationModel`) and trains it on the
weighted sum of its loss terms (`loss_terms.LossTerm`, docs/losses.md#total-loss),
by default MixIT on unsupervised examples and PIT on supervised ones; the
paper's total

  `L = L_MixIT + λ_sp·L_sp + λ_cov·L_cov + λ_cls·L_cls + λ_cos·L_cos
  (+ λ_sup·L_PIT)`

is `loss_terms=[MixIT(), Sparsity(λ_sp), Covariance(λ_cov),
Classification(λ_cls), CosineSimilarity(λ_cos), PIT(λ_sup)]`, the
classification terms with a sound-event classifier (`SoundClassifier`,
docs/architecture.md#classifier), frozen or trained jointly.

Batches are dicts of float32 tensors (a bare `[B, T]` tensor means
`{'mixtures': ...}`):

- `mixtures` `[B, T]`: single mixtures, B even (batch with
  `drop_remainder=True`: XLA needs a static B). Pairs of them form B/2
  mixtures of mixtures (MoMs, `data.batches.form_moms`), the separator's
  inputs; the two mixtures are the MoM's MixIT references (docs/losses.md#mixit).
- `supervised_mixtures` `[Bs, T']` and `supervised_sources` `[Bs, S, T']`
  (optional, together): mixtures with known sources, scored by PIT against
  the sources (docs/losses.md#pit), e.g. the supervised FUSS baseline of Table 1.

- `labels` `[B, K]` (with a classifier): the mixtures' multi-hot weak
  labels; a MoM's labels are the union of its two mixtures' labels.

Either part may be absent; its terms are then 0. Any other key is ignored
(and `labels` without a classifier). `data.datasets.training_dataset`
yields this format (`labels` given a `vocabulary`).

Under a `tf.distribute` strategy each replica gets its share of the global
batch; Keras sums the replicas' gradients, so each replica differentiates
its mean loss divided by the number of replicas and the step is that of the
global mean. MoMs are formed within a replica (keep B per replica even).
"""

import keras
import tensorflow as tf

from sound_separation import checks
from sound_separation import gin_utils
from sound_separation.data import batches
from sound_separation.layers.tdcn import TDCNPlusPlus
from sound_separation.models.classifier import SoundClassifier
from sound_separation.models.separation_model import SeparationModel
from sound_separation.training import loss_terms as terms_lib
from sound_separation.training import training_model

MIXTURES = batches.MIXTURES
SUPERVISED_MIXTURES = batches.SUPERVISED_MIXTURES
SUPERVISED_SOURCES = batches.SUPERVISED_SOURCES
LABELS = batches.LABELS
PAIRINGS = batches.PAIRINGS


@gin_utils.register_keras
class MixITTrainer(training_model.TrainingModel):
  """Trains a separator on a weighted sum of loss terms (MixIT, sparsity, ...).

  `call(waveforms)` is the separator's: `[B, T]` -> float32 `[B, M, T]`.
  `compute_losses(batch)` gives the loss terms (module docstring for the
  batch); `fit`, `evaluate`, `train_on_batch` use `train_step` and
  `test_step`, which log `loss` (the total) and every term under its name
  (`mixit`, `sparsity`, `covariance`, `pit`, `classification`, `cosine`).

  With a classifier, each MoM's M outputs `[B/2, M, T]` go through it once
  a step as `[B/2·M, T']` (T' = `classifier_crop_samples` or T) to logits
  `[B/2, M, K]`, which the classification terms share (`Classification`:
  soft OR / soft XOR cross-entropy against the MoM's weak labels;
  `CosineSimilarity` of the posteriors). A frozen classifier
  (`joint_classifier=False`, the default) is not trainable: no weight of it
  changes in a step, BatchNorm uses its moving averages, and the gradient
  flows through it to the separator only. A joint one is trained by the same
  optimizer on the same total loss (the paper does so with the cosine loss),
  BatchNorm in training mode.

  `compile()` without an optimizer uses `default_optimizer()` (Adam, 1e-4,
  halved every 2M steps).

  Args:
    separator: the model to train, `[B, T]` -> `[B, M, T]` (or its config
      dict); default `SeparationModel()`, which gin bindings configure.
    loss_terms: the `loss_terms.LossTerm` objects whose weighted sum is
      minimised, with distinct names (or their configs); default
      `[MixIT(), PIT()]`. Gin: `MixITTrainer.loss_terms = [@MixIT(), ...]`.
    pairing: 'consecutive' or 'random' pairing of the single mixtures into
      MoMs (`form_moms`; 'random' draws a new permutation of the replica's
      batch every step, seeded by the step so a resumed run draws alike).
    recompute: if True, each TDCN++ block of the separator recomputes its
      activations in the backward pass (`tf.recompute_grad`) instead of
      keeping them: less memory, one more forward pass of the blocks, the
      same gradients. It sets `separator.tdcn.recompute` (the layer's own
      argument, bindable in gin as `TDCNPlusPlus.recompute`), so the
      separator passed in recomputes wherever it is used afterwards. It also
      turns on the classifier's per-block recomputation.
    classifier: None, a `SoundClassifier` `[B, T] -> [B, K]` logits (or its
      config dict), e.g. `models.folders.load_classifier(dir)`, a pretrained
      one (gin: `MixITTrainer.classifier = @load_classifier()`). Needed by,
      and only with, the classification terms.
    joint_classifier: train the classifier with the separator (see above).
    classifier_crop_samples: None, or the classifier sees only this many
      samples of each output: in training a window at a random offset (one
      per step, shared by the batch), otherwise the first ones. Must not
      exceed the clip length.
  """

  def __init__(self, separator=None, loss_terms=None, pairing="consecutive", recompute=False,
               classifier=None, joint_classifier=False, classifier_crop_samples=None,
               **kwargs):
    terms_lib.check_no_retired_arguments(kwargs)
    super().__init__(**kwargs)
    if separator is None:
      separator = SeparationModel(dtype=self.dtype_policy)
    elif isinstance(separator, dict):
      separator = keras.saving.deserialize_keras_object(separator)
    if not isinstance(separator, keras.layers.Layer):
      raise TypeError(f"separator must be a Keras model such as a "
                      f"SeparationModel (or its config), got {separator!r}.")
    if pairing not in PAIRINGS:
      raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}.")
    if isinstance(classifier, dict):
      classifier = keras.saving.deserialize_keras_object(classifier)
    if classifier is not None and not isinstance(classifier, SoundClassifier):
      raise TypeError(f"classifier must be a SoundClassifier (or its config), got "
                      f"{classifier!r}.")
    checks.integer("classifier_crop_samples", classifier_crop_samples, allow_none=True)
    self.loss_terms = terms_lib.check_terms(
        terms_lib.default_terms() if loss_terms is None else terms_lib.deserialize(loss_terms),
        has_classifier=classifier is not None)

    self.separator = separator
    self.pairing = pairing
    self.recompute = bool(recompute)
    if self.recompute:
      tdcn = getattr(separator, "tdcn", None)
      if not isinstance(tdcn, TDCNPlusPlus):
        raise ValueError(f"recompute=True recomputes the TDCN++ blocks of the separator "
                         f"(separator.tdcn); {separator!r} has none.")
      tdcn.recompute = True
    self.joint_classifier = bool(joint_classifier)
    self.classifier_crop_samples = classifier_crop_samples
    if classifier is not None:
      classifier.trainable = self.joint_classifier
      if self.recompute:
        classifier.recompute = True
      if not classifier.built:
        classifier.build((None, None))
    self.classifier = classifier
    # A SeparationModel builds for any batch and length; building it here
    # means Keras never has to trace `call` on a dict batch to build it.
    if not separator.built:
      separator.build((None, None))
    self.built = True
    self.loss_tracker = keras.metrics.Mean(name="loss")
    # Metrics in a list would escape Keras's tracking, as layers do; `metrics` lists them.
    for term in self.loss_terms:
      setattr(self, f"_{term.name}_tracker", keras.metrics.Mean(name=term.name))

  @property
  def terms(self):
    """The logged terms' names, in the order of `loss_terms`."""
    return tuple(term.name for term in self.loss_terms)

  def call(self, waveforms, training=None):
    return self.separator(waveforms, training=training)

  def compile_from_config(self, config):
    # Keras skips compiling a loaded model whose `compile` is overridden;
    # this one only adds a default, so the saved arguments apply as they are.
    config = keras.saving.deserialize_keras_object(config)
    self.compile(**config)
    if self.optimizer is not None and self.built:
      # Creates the optimizer's variables, which the saved ones are loaded into.
      self.optimizer.build(self.trainable_variables)

  @property
  def metrics(self):
    return ([self.loss_tracker] + [getattr(self, f"_{name}_tracker") for name in self.terms]
            + [self.skipped_tracker])

  def _separate(self, waveforms, training):
    separated = self(waveforms, training=training)
    if separated.shape.rank != 3:
      raise ValueError(f"The separator must return [batch, sources, samples], "
                       f"got shape {separated.shape}.")
    return separated

  def step_view(self, batch, training=False):
    """The `loss_terms.Step` of one batch: MoMs formed, everything separated once."""
    batch = self._as_dict(batch)
    parts = {}
    if MIXTURES in batch:
      labels = batch.get(LABELS) if self.classifier is not None else None
      if labels is None and training and any(
          term.needs_labels and term.weight > 0 for term in self.loss_terms):
        raise ValueError(f"a classification term with weight > 0 needs weak labels: the batch "
                         f"has no '{LABELS}' (give training_dataset a vocabulary).")
      moms = batches.form_moms(batch[MIXTURES], labels=labels, pairing=self.pairing,
                               seed=self._step_seed(0))
      parts.update(mom=moms["mom"], references=moms["references"],
                   separated=self._separate(moms["mom"], training),  # [B/2, M, T]
                   labels=moms.get("labels"))
    if SUPERVISED_MIXTURES in batch:
      mixture = batch[SUPERVISED_MIXTURES]
      parts.update(supervised_mixtures=mixture, supervised_sources=batch[SUPERVISED_SOURCES],
                   supervised_separated=self._separate(mixture, training))  # [Bs, M, T']
    classify = self.classify_outputs if self.classifier is not None else None
    return terms_lib.Step(training=training, classify=classify, **parts)

  def compute_losses(self, batch, training=False):
    """The loss terms of one batch (of one replica), each a float32 scalar.

    Args:
      batch: a dict with `mixtures` `[B, T]` (B even) and/or
        `supervised_mixtures` `[Bs, T']` with `supervised_sources`
        `[Bs, S, T']`; or a bare `[B, T]` tensor of mixtures.
      training: passed to the separator.

    Returns:
      `{name: value}` for every term of `loss_terms` (the mean of its
      per-example values, 0 when its part of the batch is absent) and
      `total` = Σ weight · value, in the order of `loss_terms`.
    """
    step = self.step_view(batch, training)
    terms = {}
    total = tf.zeros([], tf.float32)
    for term in self.loss_terms:
      values = term.per_example(step)
      value = (tf.zeros([], tf.float32) if values is None
               else tf.reduce_mean(tf.cast(values, tf.float32)))
      terms[term.name] = value
      if term.weight:
        total += term.weight * value
    terms["total"] = total
    return terms

  def classify_outputs(self, separated, training=False):
    """The classifier's logits of every output: `[B, M, T]` -> float32 `[B, M, K]`.

    The outputs go through the classifier as one batch `[B·M, T']`, cropped
    to `classifier_crop_samples` (a random window in training, the start
    otherwise). BatchNorm is in training mode only for a joint classifier
    in training.
    """
    shape = tf.shape(separated)
    num_outputs = separated.shape[1]
    length = separated.shape[2]
    crop = self.classifier_crop_samples
    if crop is not None:
      if length is not None and crop > length:
        raise ValueError(f"classifier_crop_samples={crop} exceeds the clip length {length}.")
      if training:
        offset = tf.random.stateless_uniform([], self._step_seed(1), 0, shape[2] - crop + 1,
                                             dtype=tf.int32)
      else:
        offset = 0
      # tf.slice with a constant size: a dynamic slice that XLA compiles.
      separated = tf.slice(separated, tf.stack([0, 0, offset]), [-1, -1, crop])
      length = crop
    flat = tf.reshape(separated, [-1, length if length is not None else shape[2]])
    logits = self.classifier(flat, training=bool(training) and self.joint_classifier)
    return tf.reshape(tf.cast(logits, tf.float32), [shape[0], num_outputs,
                                                    self.classifier.num_classes])

  @staticmethod
  def _as_dict(data):
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    if not isinstance(x, dict):
      x = {MIXTURES: x}
    has_mix = SUPERVISED_MIXTURES in x
    has_src = SUPERVISED_SOURCES in x
    if has_mix != has_src:
      given, missing = ((SUPERVISED_MIXTURES, SUPERVISED_SOURCES) if has_mix
                        else (SUPERVISED_SOURCES, SUPERVISED_MIXTURES))
      raise ValueError(f"batch has '{given}' but not '{missing}'; supervised "
                       f"examples need both.")
    if MIXTURES not in x and not has_mix:
      raise ValueError(f"batch must have '{MIXTURES}' or "
                       f"'{SUPERVISED_MIXTURES}', got keys {sorted(x)}.")
    return x

  def _step_seed(self, stream):
    """`[stream, step]`: random choices of a step that a resumed run makes again alike."""
    optimizer = getattr(self, "optimizer", None)  # none before `compile`
    step = optimizer.iterations if optimizer is not None else tf.constant(0, tf.int64)
    return tf.stack([tf.constant(stream, tf.int64), tf.cast(step, tf.int64)])

  def step_losses(self, batch, training):
    terms = self.compute_losses(batch, training=training)
    return terms["total"], terms

  def record(self, terms):
    self.loss_tracker.update_state(terms["total"])
    for name in self.terms:
      getattr(self, f"_{name}_tracker").update_state(terms[name])
    return self.metric_results()

  def get_config(self):
    return {**super().get_config(),
            "separator": keras.saving.serialize_keras_object(self.separator),
            "loss_terms": terms_lib.serialize(self.loss_terms),
            "pairing": self.pairing, "recompute": self.recompute,
            "classifier": (None if self.classifier is None
                           else keras.saving.serialize_keras_object(self.classifier)),
            "joint_classifier": self.joint_classifier,
            "classifier_crop_samples": self.classifier_crop_samples}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    separator = config.pop("separator", None)
    if isinstance(separator, dict):
      separator = keras.saving.deserialize_keras_object(separator)
    classifier = config.pop("classifier", None)
    if isinstance(classifier, dict):
      classifier = keras.saving.deserialize_keras_object(classifier)
    return cls(separator=separator, classifier=classifier, **config)
