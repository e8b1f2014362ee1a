"""What every training model of the library shares: `TrainingModel`.

One guarded `train_step` (a step with a non-finite loss or gradient on any
replica changes nothing and is counted, docs/robustness.md), one
`test_step`, float32 inputs whatever the precision, the default optimizer,
metric results in the shape every strategy can reduce.
`trainer.MixITTrainer` and `classifier_trainer.ClassifierTrainer` are
subclasses.
"""

import keras
import tensorflow as tf

from sound_separation.training import keras_compat
from sound_separation.training import optimizer as optimizer_lib


def _all_finite(loss, gradients):
  """True iff the loss and every gradient are finite (a scalar bool)."""
  checks = [tf.reduce_all(tf.math.is_finite(tf.cast(loss, tf.float32)))]
  checks += [tf.reduce_all(tf.math.is_finite(g)) for g in gradients if g is not None]
  return tf.reduce_all(tf.stack(checks))


class TrainingModel(keras_compat.PrebuiltModel):
  """What this library's training models share (`MixITTrainer`, `ClassifierTrainer`).

  float32 inputs whatever the dtype policy, `default_optimizer()` when
  `compile` gets none, a model built in `__init__` (no symbolic trace by
  Keras: `keras_compat.PrebuiltModel`), metric results shaped for
  MultiWorkerMirroredStrategy (`keras_compat.step_results`), and the
  guarded optimizer step of both `train_step`s (`apply_if_finite`): a step
  whose loss or gradients are not finite on any replica changes no weight
  and no optimizer slot, and is counted in the `skipped_steps` metric.
  Subclasses give `metrics` (ending with `self.skipped_tracker`),
  `step_losses(batch, training)` and `record(terms)`; the one `train_step`
  and `test_step` here do the rest.
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    # Sum over a checkpoint interval (metrics reset at each fit epoch);
    # metrics are not part of the checkpoints.
    self.skipped_tracker = keras.metrics.Sum(name="skipped_steps")

  def apply_if_finite(self, tape, loss, scaled_loss):
    """Differentiates `scaled_loss` and applies the step unless anything is non-finite.

    Under a strategy the check is all-reduced, so every replica skips or
    applies alike. A skipped step still advances `optimizer.iterations`, so
    steps keep counting batches (checkpoint and summary cadence stay); with a
    `LossScaleOptimizer` (mixed_float16) the step goes to the optimizer,
    which skips it itself and lowers its loss scale.

    Args:
      tape: the `GradientTape` that recorded `scaled_loss`.
      loss: the replica's unscaled loss (checked for finiteness).
      scaled_loss: what is differentiated (divided by the replicas, scaled).

    Returns:
      The step's finite flag (scalar bool, the same on every replica).
    """
    variables = self.trainable_variables
    gradients = tape.gradient(scaled_loss, variables)
    finite = _all_finite(loss, gradients)
    context = tf.distribute.get_replica_context()
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if context is not None and num_replicas > 1:
      bad = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(~finite, tf.float32))
      finite = tf.equal(bad, 0.0)
    if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
      self.optimizer.apply(gradients, variables)
    else:
      keras_compat.apply_if(self.optimizer, finite, gradients, variables)
    # `finite` is the same on every replica, and Keras reports a replica's
    # metric values (not their sum), so each counts the whole step.
    self.skipped_tracker.update_state(tf.cast(~finite, tf.float32))
    return finite

  def step_losses(self, batch, training):
    """`(loss, terms)` of one replica's batch: the scalar to minimise and what `record` logs."""
    raise NotImplementedError

  def record(self, terms):
    """Updates the metrics with one batch's `terms`; returns `metric_results()`."""
    raise NotImplementedError

  def train_step(self, data):
    """One guarded optimizer step on the replica's batch; returns the metrics."""
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
      loss, terms = self.step_losses(data, training=True)
      # Keras sums the replicas' gradients: this makes the step that of the
      # mean loss over the global batch.
      scaled = loss / num_replicas
      # A LossScaleOptimizer (mixed_float16) scales here and unscales the
      # gradients in `apply`; other optimizers return the loss unchanged.
      if hasattr(self.optimizer, "scale_loss"):
        scaled = self.optimizer.scale_loss(scaled)
    self.apply_if_finite(tape, loss, scaled)
    return self.record(terms)

  def test_step(self, data):
    """The metrics of one batch, without an update."""
    _, terms = self.step_losses(data, training=False)
    results = self.record(terms)
    results.pop(self.skipped_tracker.name, None)
    return results

  @property
  def input_dtype(self):
    # Under mixed precision Keras would round the waveforms to the compute
    # dtype before `call`; the separator's outputs would then sum to the
    # rounded input, not to the MoM (the classifier's front end casts for
    # itself).
    return "float32"

  def compile(self, optimizer=None, **kwargs):
    """`keras.Model.compile`, the optimizer by default `default_optimizer()`."""
    if optimizer is None:
      optimizer = optimizer_lib.default_optimizer()
    super().compile(optimizer=optimizer, **kwargs)

  def metric_results(self):
    """`{name: result}` of `self.metrics`, as a step returns them."""
    return keras_compat.step_results({m.name: m.result() for m in self.metrics})

