"""MixIT training as a Keras model: the total loss, train and test steps.

`MixITTrainer` wraps a separator (a `SeparationModel`) and trains it with the
objective of docs/losses.md#total-loss:

  `L = L_MixIT + λ_sp·L_sp + λ_cov·L_cov + λ_cls·L_cls + λ_cos·L_cos
  (+ λ_sup·L_PIT)`,

the PIT term on supervised examples; the classification terms (docs/losses.md#classification-losses)
only with a sound-event classifier (`SoundClassifier`, docs/architecture.md#classifier), frozen or
trained jointly.

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

from sound_separation import gin_utils
from sound_separation.data import batches
from sound_separation.layers.tdcn import TDCNPlusPlus
from sound_separation.losses import classification
from sound_separation.losses import covariance
from sound_separation.losses import mixture_invariant
from sound_separation.losses import permutation_invariant
from sound_separation.losses import snr
from sound_separation.losses import sparsity as sparsity_lib
from sound_separation.models.classifier import SoundClassifier
from sound_separation.models.separation_model import SeparationModel
from sound_separation.training import training_model

MIXTURES = batches.MIXTURES
SUPERVISED_MIXTURES = batches.SUPERVISED_MIXTURES
SUPERVISED_SOURCES = batches.SUPERVISED_SOURCES
LABELS = batches.LABELS

SPARSITY_LOSSES = (None, "l1", "l1_l2")
PAIRINGS = batches.PAIRINGS
# Names of the loss terms in `compute_losses` and of the logged metrics.
TERMS = ("mixit", "sparsity", "covariance", "pit")
# Added to TERMS when the trainer has a classifier.
CLASSIFIER_TERMS = ("classification", "cosine")
AGGREGATIONS = ("or", "xor")


def _signal_loss_config(signal_loss):
  if isinstance(signal_loss, str):
    return signal_loss
  for name, cls in snr.LOSSES.items():
    if type(signal_loss) is cls:
      return {"name": name, "config": signal_loss.get_config()}
  raise ValueError(f"signal_loss={signal_loss!r} cannot be serialized; pass "
                   f"one of the names {sorted(snr.LOSSES)} or an instance of "
                   f"their classes.")


def _mean(values):
  return tf.reduce_mean(tf.cast(values, tf.float32))


@gin_utils.register_keras
class MixITTrainer(training_model.TrainingModel):
  """Trains a separator with MixIT, sparsity, covariance and optional PIT.

  `call(waveforms)` is the separator's: `[B, T]` -> float32 `[B, M, T]`.
  `compute_losses(batch)` gives the loss terms (module docstring for the
  batch); `fit`, `evaluate`, `train_on_batch` use `train_step` and
  `test_step`, which log every term (metrics `loss`, `mixit`, `sparsity`,
  `covariance`, `pit`, and with a classifier `classification`, `cosine`;
  `loss` is the total).

  With a classifier, each MoM's M outputs `[B/2, M, T]` go through it as
  `[B/2·M, T']` (T' = `classifier_crop_samples` or T) to posteriors
  `p = sigmoid(logits)` `[B/2, M, K]`, scored by
  `losses.classification.classification_loss` (soft OR / soft XOR
  cross-entropy against the MoM's weak labels, from the logits) and
  `cosine_similarity_loss` (of the posteriors). A frozen classifier
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
    mixit_solver: 'exact_gram', 'efficient' or 'exhaustive' (`mixture_invariant.mixit`).
    signal_loss: loss between a reference and an estimate, used by MixIT and
      PIT: a name from `snr.LOSSES` or an instance of those classes.
    sparsity: None, 'l1' (`l1_sparsity`, with the MoM as the mixture) or
      'l1_l2' (`l1_l2_sparsity`), on the MoMs' outputs. With None the
      `sparsity` term is 0.
    sparsity_weight: λ_sp.
    covariance_weight: λ_cov. The covariance of the MoMs' outputs is always
      computed and logged; it enters the total through this weight.
    supervised_weight: λ_sup, the weight of the PIT loss of supervised
      examples.
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
      one (gin: `MixITTrainer.classifier = @load_classifier()`).
    classification_aggregation: 'or' or 'xor' (docs/losses.md#classification-losses).
    classification_weight: λ_cls. Batches need `labels` in training when
      it is > 0; without labels (e.g. FUSS validation) the term is 0.
    cosine_weight: λ_cos.
    joint_classifier: train the classifier with the separator (see above).
    classifier_crop_samples: None, or the classifier sees only this many
      samples of each output: in training a window at a random offset (one
      per step, shared by the batch), otherwise the first ones. Must not
      exceed the clip length.
  """

  def __init__(self, separator=None, mixit_solver="exact_gram",
               signal_loss="thresholded_log_mse", sparsity=None,
               sparsity_weight=0.0, covariance_weight=0.0,
               supervised_weight=1.0, pairing="consecutive", recompute=False,
               classifier=None, classification_aggregation="or",
               classification_weight=0.0, cosine_weight=0.0, joint_classifier=False,
               classifier_crop_samples=None, **kwargs):
    super().__init__(**kwargs)
    if separator is None:
      separator = SeparationModel(dtype=self.dtype_policy)
    elif isinstance(separator, dict):
      separator = keras.saving.deserialize_keras_object(separator)
    if not isinstance(separator, keras.layers.Layer):
      raise TypeError(f"separator must be a Keras model such as a "
                      f"SeparationModel (or its config), got {separator!r}.")
    if mixit_solver not in mixture_invariant.SOLVERS:
      raise ValueError(f"mixit_solver must be one of {mixture_invariant.SOLVERS}, got "
                       f"{mixit_solver!r}.")
    if sparsity not in SPARSITY_LOSSES:
      raise ValueError(f"sparsity must be one of {SPARSITY_LOSSES}, got "
                       f"{sparsity!r}.")
    if pairing not in PAIRINGS:
      raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}.")
    for name, value in (("sparsity_weight", sparsity_weight),
                        ("covariance_weight", covariance_weight),
                        ("supervised_weight", supervised_weight),
                        ("classification_weight", classification_weight),
                        ("cosine_weight", cosine_weight)):
      if not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    if isinstance(signal_loss, dict):  # As written by `get_config`.
      if signal_loss.get("name") not in snr.LOSSES:
        raise ValueError(f"signal_loss config names no loss of "
                         f"{sorted(snr.LOSSES)}: {signal_loss!r}.")
      signal_loss = snr.LOSSES[signal_loss["name"]](**signal_loss["config"])
    self._signal_loss_fn = snr.get_signal_loss(signal_loss)
    _signal_loss_config(signal_loss)  # Fail now rather than at save time.

    self.separator = separator
    self.mixit_solver = mixit_solver
    self.signal_loss = signal_loss
    self.sparsity = sparsity
    self.sparsity_weight = float(sparsity_weight)
    self.covariance_weight = float(covariance_weight)
    self.supervised_weight = float(supervised_weight)
    self.pairing = pairing
    self.recompute = bool(recompute)
    if self.recompute:
      tdcn = getattr(separator, "tdcn", None)
      if not isinstance(tdcn, TDCNPlusPlus):
        raise ValueError(f"recompute=True recomputes the TDCN++ blocks of the separator "
                         f"(separator.tdcn); {separator!r} has none.")
      tdcn.recompute = True
    self._init_classifier(classifier, classification_aggregation, classification_weight,
                          cosine_weight, joint_classifier, classifier_crop_samples)
    # A SeparationModel builds for any batch and length; building it here
    # means Keras never has to trace `call` on a dict batch to build it.
    if not separator.built:
      separator.build((None, None))
    self.built = True
    self.terms = TERMS + (CLASSIFIER_TERMS if self.classifier is not None else ())
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.term_trackers = {term: keras.metrics.Mean(name=term)
                          for term in self.terms}

  def _init_classifier(self, classifier, aggregation, classification_weight, cosine_weight,
                       joint, crop_samples):
    if isinstance(classifier, dict):
      classifier = keras.saving.deserialize_keras_object(classifier)
    if classifier is not None and not isinstance(classifier, SoundClassifier):
      raise TypeError(f"classifier must be a SoundClassifier (or its config), got "
                      f"{classifier!r}.")
    if aggregation not in AGGREGATIONS:
      raise ValueError(f"classification_aggregation must be one of {AGGREGATIONS}, got "
                       f"{aggregation!r}.")
    if crop_samples is not None and (isinstance(crop_samples, bool)
                                     or not isinstance(crop_samples, int) or crop_samples < 1):
      raise ValueError(f"classifier_crop_samples must be None or a positive integer, got "
                       f"{crop_samples!r}.")
    if classifier is None and (classification_weight or cosine_weight):
      raise ValueError("classification_weight and cosine_weight need a classifier "
                       "(MixITTrainer.classifier).")
    self.classification_aggregation = aggregation
    self.classification_weight = float(classification_weight)
    self.cosine_weight = float(cosine_weight)
    self.joint_classifier = bool(joint)
    self.classifier_crop_samples = crop_samples
    if classifier is not None:
      classifier.trainable = self.joint_classifier
      if self.recompute:
        classifier.recompute = True
      if not classifier.built:
        classifier.build((None, None))
    self.classifier = classifier

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
    return ([self.loss_tracker] + [self.term_trackers[t] for t in self.terms]
            + [self.skipped_tracker])

  def _separate(self, waveforms, training):
    separated = self(waveforms, training=training)
    if separated.shape.rank != 3:
      raise ValueError(f"The separator must return [batch, sources, samples], "
                       f"got shape {separated.shape}.")
    return separated

  def compute_losses(self, batch, training=False):
    """The loss terms of one batch (of one replica), each a float32 scalar.

    Args:
      batch: a dict with `mixtures` `[B, T]` (B even) and/or
        `supervised_mixtures` `[Bs, T']` with `supervised_sources`
        `[Bs, S, T']`; or a bare `[B, T]` tensor of mixtures.
      training: passed to the separator.

    Returns:
      `{'mixit', 'sparsity', 'covariance', 'pit', 'total'}` (and with a
      classifier `'classification', 'cosine'`): the means over the batch's
      MoMs (all but `pit`) and supervised examples (`pit`) of the
      per-example losses, 0 for an absent part, and `total = mixit +
      λ_sp·sparsity + λ_cov·covariance + λ_cls·classification +
      λ_cos·cosine + λ_sup·pit`.
    """
    batch = self._as_dict(batch)
    terms = {term: tf.zeros([], tf.float32) for term in self.terms}

    if MIXTURES in batch:
      labels = batch.get(LABELS) if self.classifier is not None else None
      if (labels is None and training and self.classifier is not None
          and self.classification_weight > 0):
        raise ValueError(f"classification_weight > 0 needs weak labels: the batch has no "
                         f"'{LABELS}' (give training_dataset a vocabulary).")
      moms = batches.form_moms(batch[MIXTURES], labels=labels, pairing=self.pairing,
                               seed=self._step_seed(0))
      separated = self._separate(moms["mom"], training)  # [B/2, M, T]
      mixit_loss, _ = mixture_invariant.mixit(moms["references"], separated,
                                  solver=self.mixit_solver,
                                  loss_fn=self._signal_loss_fn)
      terms["mixit"] = _mean(mixit_loss)
      if self.sparsity == "l1":
        terms["sparsity"] = _mean(sparsity_lib.l1_sparsity(separated,
                                                           moms["mom"]))
      elif self.sparsity == "l1_l2":
        terms["sparsity"] = _mean(sparsity_lib.l1_l2_sparsity(separated))
      terms["covariance"] = _mean(covariance.covariance_loss(separated))
      if self.classifier is not None:
        logits = self.classify_outputs(separated, training)
        if labels is not None:
          terms["classification"] = _mean(classification.classification_loss(
              logits, moms["labels"], aggregation=self.classification_aggregation,
              from_logits=True))
        terms["cosine"] = _mean(classification.cosine_similarity_loss(tf.sigmoid(logits)))

    if SUPERVISED_MIXTURES in batch:
      mixture = batch[SUPERVISED_MIXTURES]
      separated = self._separate(mixture, training)  # [Bs, M, T']
      pit_loss, _ = permutation_invariant.pit(batch[SUPERVISED_SOURCES], separated,
                            mixture=mixture, loss_fn=self._signal_loss_fn)
      terms["pit"] = _mean(pit_loss)

    terms["total"] = (terms["mixit"]
                      + self.sparsity_weight * terms["sparsity"]
                      + self.covariance_weight * terms["covariance"]
                      + self.supervised_weight * terms["pit"])
    if self.classifier is not None:
      terms["total"] += (self.classification_weight * terms["classification"]
                         + self.cosine_weight * terms["cosine"])
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
    for term in self.terms:
      self.term_trackers[term].update_state(terms[term])
    return self.metric_results()

  def get_config(self):
    return {**super().get_config(),
            "separator": keras.saving.serialize_keras_object(self.separator),
            "mixit_solver": self.mixit_solver,
            "signal_loss": _signal_loss_config(self.signal_loss),
            "sparsity": self.sparsity,
            "sparsity_weight": self.sparsity_weight,
            "covariance_weight": self.covariance_weight,
            "supervised_weight": self.supervised_weight,
            "pairing": self.pairing, "recompute": self.recompute,
            "classifier": (None if self.classifier is None
                           else keras.saving.serialize_keras_object(self.classifier)),
            "classification_aggregation": self.classification_aggregation,
            "classification_weight": self.classification_weight,
            "cosine_weight": self.cosine_weight,
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
