"""The training loss as a list of weighted terms (docs/losses.md#total-loss).

`MixITTrainer(loss_terms=[...])` minimises `Σ weight · term` over its terms.
A term is a `LossTerm`: a metric name, a weight, and `per_example(step)`,
the term's per-example values `[N]` for one replica's batch (a `Step`), or
None when the batch lacks the part it scores. The trainer averages each
term over its examples (0 when absent), logs it under its name, and adds
`weight ·` it to the total in the list's order. A weight of 0 keeps a term
as a logged diagnostic that does not train.

In gin the list is bound as objects, and each term class is configurable:

  sound_separation.MixITTrainer.loss_terms = [@sound_separation.MixIT(),
                                              @sound_separation.Sparsity()]
  sound_separation.Sparsity.kind = 'l1_l2'
  sound_separation.Sparsity.weight = 2.0

Adding a regulariser is a subclass of `LossTerm` (registered with
`gin_utils.register_keras`) and one gin line; the trainer does not change.
"""

import keras
import tensorflow as tf

from sound_separation import gin_utils
from sound_separation.losses import classification
from sound_separation.losses import covariance
from sound_separation.losses import mixture_invariant
from sound_separation.losses import permutation_invariant
from sound_separation.losses import snr
from sound_separation.losses import sparsity as sparsity_lib


class Step:
  """What the loss terms read of one replica's batch: the separations, once.

  Attributes (each None when the batch lacks the part):
    mom: `[B/2, T]` the mixtures of mixtures (docs/losses.md#mixtures-of-mixtures).
    references: `[B/2, 2, T]` the two mixtures of each MoM (MixIT's references).
    separated: `[B/2, M, T]` the separator's outputs for the MoMs.
    labels: `[B/2, K]` each MoM's weak labels (the union of its mixtures'),
      when the batch has labels and the trainer a classifier.
    supervised_mixtures: `[Bs, T']` supervised examples' mixtures.
    supervised_sources: `[Bs, S, T']` their sources.
    supervised_separated: `[Bs, M, T']` the separator's outputs for them.
    training: whether this is a training step.
  """

  def __init__(self, *, training, classify=None, mom=None, references=None, separated=None,
               labels=None, supervised_mixtures=None, supervised_sources=None,
               supervised_separated=None):
    self.training = training
    self.mom = mom
    self.references = references
    self.separated = separated
    self.labels = labels
    self.supervised_mixtures = supervised_mixtures
    self.supervised_sources = supervised_sources
    self.supervised_separated = supervised_separated
    self._classify = classify
    self._logits = None

  @property
  def logits(self):
    """The classifier's logits of every MoM output, float32 `[B/2, M, K]`, computed once.

    None without MoMs. Several terms share them: the classifier runs once a step.
    """
    if self.separated is None:
      return None
    if self._classify is None:
      raise ValueError("a classification term needs a classifier (MixITTrainer.classifier).")
    if self._logits is None:
      self._logits = self._classify(self.separated, self.training)
    return self._logits


def _weight(value, owner):
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
    raise ValueError(f"{owner}.weight must be a number >= 0, got {value!r}.")
  return float(value)


_REGISTERED = {}


def registered_terms():
  """`{class name: LossTerm subclass}` of every term class defined so far (with a `name`)."""
  return dict(_REGISTERED)


class LossTerm:
  """One weighted term of the training loss.

  Subclasses set `name` (the logged metric's, unique in a trainer) and give
  `per_example(step)`; those that need the trainer's classifier set
  `needs_classifier`; those that need the MoMs' weak labels in training set
  `needs_labels`. Subclasses with arguments of their own extend `get_config`.
  `order` places the term in the total (the paper's order: MixIT 10,
  sparsity 20, covariance 30, classification 40, cosine 50; PIT 15); `arms`
  are the study arms made of MixIT and this term alone at a swept weight,
  `{arm name: (title, {argument: value})}` (`study.arms`). Every subclass
  with a `name` is registered (`registered_terms`); register it with
  `gin_utils.register_keras` too, to bind it in gin.

  Args:
    weight: the term's λ in the total (>= 0; 0 logs it without training on it).
  """

  name = None
  needs_classifier = False
  needs_labels = False
  order = 100
  arms = {}

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    if cls.name is not None:
      _REGISTERED[cls.__name__] = cls

  def __init__(self, weight=1.0):
    self.weight = _weight(weight, type(self).__name__)

  def per_example(self, step):
    """The term of each example `[N]` (any float dtype), or None if the batch lacks its part."""
    raise NotImplementedError

  def get_config(self):
    return {"weight": self.weight}

  @classmethod
  def from_config(cls, config):
    return cls(**config)

  def __repr__(self):
    args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
    return f"{type(self).__name__}({args})"


def _signal_loss(signal_loss):
  """`(callable, config)` of a signal loss given by name, instance or its config dict."""
  if isinstance(signal_loss, dict):  # as `signal_loss_config` writes it
    if signal_loss.get("name") not in snr.LOSSES:
      raise ValueError(f"signal_loss config names no loss of {sorted(snr.LOSSES)}: "
                       f"{signal_loss!r}.")
    signal_loss = snr.LOSSES[signal_loss["name"]](**signal_loss["config"])
  function = snr.get_signal_loss(signal_loss)
  if isinstance(signal_loss, str):
    return function, signal_loss
  for name, cls in snr.LOSSES.items():
    if type(signal_loss) is cls:
      return function, {"name": name, "config": signal_loss.get_config()}
  raise ValueError(f"signal_loss={signal_loss!r} cannot be serialized; pass one of the names "
                   f"{sorted(snr.LOSSES)} or an instance of their classes.")


@gin_utils.register_keras
class MixIT(LossTerm):
  """MixIT of the MoMs' outputs against their two mixtures, dB (docs/losses.md#mixit).

  Args:
    weight: λ (1 in the paper's total).
    solver: 'exact_gram', 'efficient' or 'exhaustive' (`mixture_invariant.mixit`).
    signal_loss: a name of `snr.LOSSES` or an instance of their classes.
    diag_load: the Gram solvers' diagonal loading (`mixture_invariant.mixit`).
  """

  name = "mixit"
  order = 10

  def __init__(self, weight=1.0, solver="exact_gram", signal_loss="thresholded_log_mse",
               diag_load=1e-4):
    super().__init__(weight)
    if solver not in mixture_invariant.SOLVERS:
      raise ValueError(f"MixIT.solver must be one of {mixture_invariant.SOLVERS}, got "
                       f"{solver!r}.")
    self.solver = solver
    self._loss_fn, self.signal_loss = _signal_loss(signal_loss)
    self.diag_load = float(diag_load)

  def per_example(self, step):
    if step.separated is None:
      return None
    loss, _ = mixture_invariant.mixit(step.references, step.separated, solver=self.solver,
                                      loss_fn=self._loss_fn, diag_load=self.diag_load)
    return loss

  def get_config(self):
    return {**super().get_config(), "solver": self.solver, "signal_loss": self.signal_loss,
            "diag_load": self.diag_load}


@gin_utils.register_keras
class PIT(LossTerm):
  """PIT of the supervised examples' outputs against their sources, dB (docs/losses.md#pit).

  Args:
    weight: λ_sup.
    signal_loss: as `MixIT`'s.
    zero_ref_max_snr_db, zero_ref_weight: the silent references' loss
      (`permutation_invariant.pit`).
  """

  name = "pit"
  order = 15

  def __init__(self, weight=1.0, signal_loss="thresholded_log_mse", zero_ref_max_snr_db=20.0,
               zero_ref_weight=1.0):
    super().__init__(weight)
    self._loss_fn, self.signal_loss = _signal_loss(signal_loss)
    self.zero_ref_max_snr_db = float(zero_ref_max_snr_db)
    self.zero_ref_weight = float(zero_ref_weight)

  def per_example(self, step):
    if step.supervised_separated is None:
      return None
    loss, _ = permutation_invariant.pit(step.supervised_sources, step.supervised_separated,
                                        mixture=step.supervised_mixtures,
                                        loss_fn=self._loss_fn,
                                        zero_ref_max_snr_db=self.zero_ref_max_snr_db,
                                        zero_ref_weight=self.zero_ref_weight)
    return loss

  def get_config(self):
    return {**super().get_config(), "signal_loss": self.signal_loss,
            "zero_ref_max_snr_db": self.zero_ref_max_snr_db,
            "zero_ref_weight": self.zero_ref_weight}


SPARSITY_KINDS = ("l1", "l1_l2")


@gin_utils.register_keras
class Sparsity(LossTerm):
  """Sparsity of the MoMs' outputs' RMS, dimensionless (docs/losses.md#sparsity).

  Args:
    weight: λ_sp.
    kind: 'l1' (`l1_sparsity`, normalised by the MoM's RMS) or 'l1_l2'
      (`l1_l2_sparsity`, scale-invariant).
  """

  name = "sparsity"
  order = 20
  arms = {"l1": ("L1 sparsity", {"kind": "l1"}), "l1_l2": ("L1/L2 sparsity", {"kind": "l1_l2"})}

  def __init__(self, weight=1.0, kind="l1_l2"):
    super().__init__(weight)
    if kind not in SPARSITY_KINDS:
      raise ValueError(f"Sparsity.kind must be one of {SPARSITY_KINDS}, got {kind!r}.")
    self.kind = kind

  def per_example(self, step):
    if step.separated is None:
      return None
    if self.kind == "l1":
      return sparsity_lib.l1_sparsity(step.separated, step.mom)
    return sparsity_lib.l1_l2_sparsity(step.separated)

  def get_config(self):
    return {**super().get_config(), "kind": self.kind}


@gin_utils.register_keras
class Covariance(LossTerm):
  """Covariance between the MoMs' outputs, dimensionless (docs/losses.md#covariance)."""

  name = "covariance"
  order = 30
  arms = {"covariance": ("Covariance", {})}

  def per_example(self, step):
    if step.separated is None:
      return None
    return covariance.covariance_loss(step.separated)


AGGREGATIONS = ("or", "xor")


@gin_utils.register_keras
class Classification(LossTerm):
  """Soft-OR / soft-XOR cross-entropy of the outputs' classes against the MoM's weak labels.

  In nats (docs/losses.md#classification-losses), from the trainer's
  classifier's logits. Scored only when the batch has labels; a training
  batch without them is an error (give `training_dataset` a vocabulary).

  Args:
    weight: λ_cls.
    aggregation: 'or' or 'xor'.
  """

  name = "classification"
  order = 40
  needs_classifier = True
  needs_labels = True

  def __init__(self, weight=1.0, aggregation="or"):
    super().__init__(weight)
    if aggregation not in AGGREGATIONS:
      raise ValueError(f"Classification.aggregation must be one of {AGGREGATIONS}, got "
                       f"{aggregation!r}.")
    self.aggregation = aggregation

  def per_example(self, step):
    if step.separated is None or step.labels is None:
      return None
    return classification.classification_loss(step.logits, step.labels,
                                              aggregation=self.aggregation, from_logits=True)

  def get_config(self):
    return {**super().get_config(), "aggregation": self.aggregation}


@gin_utils.register_keras
class CosineSimilarity(LossTerm):
  """Mean pairwise cosine similarity of the outputs' class posteriors (docs/losses.md#classification-losses)."""

  name = "cosine"
  order = 50
  needs_classifier = True

  def per_example(self, step):
    if step.separated is None:
      return None
    return classification.cosine_similarity_loss(tf.sigmoid(step.logits))


# The total ('total' in `compute_losses`, the metric 'loss') and the step guard's count.
RESERVED_NAMES = ("loss", "total", "skipped_steps")


def default_terms():
  """`[MixIT(), PIT()]`: MixIT on unsupervised batches, PIT on supervised ones (λ = 1)."""
  return [MixIT(), PIT()]


def check_terms(terms, has_classifier):
  """The terms as a tuple, after checking them against each other and the trainer.

  Raises:
    TypeError: an element is not a `LossTerm`.
    ValueError: two terms share a name, a term needs a classifier the
      trainer lacks, or the trainer has a classifier no term uses.
  """
  terms = tuple(terms)
  for term in terms:
    if not isinstance(term, LossTerm):
      raise TypeError(f"loss_terms must be LossTerm objects (e.g. MixIT(), Sparsity()), got "
                      f"{term!r}.")
  names = [term.name for term in terms]
  if not terms or len(set(names)) != len(names) or None in names:
    raise ValueError(f"loss_terms must be a non-empty list of terms with distinct names, got "
                     f"{list(terms)!r}.")
  reserved = sorted(set(names) & set(RESERVED_NAMES))
  if reserved:
    raise ValueError(f"loss term names {reserved} are taken by the trainer's own metrics "
                     f"{RESERVED_NAMES}.")
  needs = [term for term in terms if term.needs_classifier]
  if needs and not has_classifier:
    raise ValueError(f"{needs!r} need a classifier (MixITTrainer.classifier).")
  if has_classifier and not needs:
    raise ValueError("MixITTrainer has a classifier but no loss term uses it (add "
                     "Classification() or CosineSimilarity() to loss_terms).")
  return terms


# The trainer's flag arguments before the losses were terms, and where each went.
RETIRED_TRAINER_ARGUMENTS = {
    "mixit_solver": "MixIT.solver",
    "signal_loss": "MixIT.signal_loss and PIT.signal_loss",
    "sparsity": "Sparsity.kind",
    "sparsity_weight": "Sparsity.weight",
    "covariance_weight": "Covariance.weight",
    "supervised_weight": "PIT.weight",
    "classification_aggregation": "Classification.aggregation",
    "classification_weight": "Classification.weight",
    "cosine_weight": "CosineSimilarity.weight",
}


def check_no_retired_arguments(arguments):
  """ValueError naming where each retired trainer argument in `arguments` went (old gin files).

  Args:
    arguments: the keyword arguments `MixITTrainer` did not take itself.
  """
  retired = sorted(set(arguments) & set(RETIRED_TRAINER_ARGUMENTS))
  if retired:
    moved = "; ".join(f"{name} -> sound_separation.{RETIRED_TRAINER_ARGUMENTS[name]}"
                      for name in retired)
    raise ValueError(f"MixITTrainer no longer takes {retired}: the losses are terms "
                     f"(docs/losses.md#total-loss). Bind the terms' arguments instead ({moved}) "
                     f"and list the terms, e.g. sound_separation.MixITTrainer.loss_terms = "
                     f"[@sound_separation.MixIT(), @sound_separation.Sparsity()].")


def serialize(terms):
  return [keras.saving.serialize_keras_object(term) for term in terms]


def deserialize(configs):
  return [config if isinstance(config, LossTerm)
          else keras.saving.deserialize_keras_object(config) for config in configs]
