"""Every place this library relies on TensorFlow/Keras internals.

Each hook names the private API it uses, why, and the versions it was
checked with (TF 2.17-2.21, Keras 3.x). `tests/test_keras_compat.py` fails
loudly when one of them disappears or stops being called:

- `PrebuiltModel._maybe_symbolic_build`: Keras' trainer hook that builds a
  model on a first batch, overridden;
- `is_multi_worker`: `strategy.extended._in_multi_worker_mode`;
- `step_results` / `scalar`: the `[1]`-shaped step results a multi-worker
  run needs (a TensorFlow bug, below);
- `no_merge_call` / `apply_if`: `tf.__internal__.distribute`'s
  no-merge-call test, for a conditional optimizer step;
- `frozen`: `convert_to_constants.convert_variables_to_constants_v2`, the
  variables of a concrete function as constants (the LiteRT export);
- `moving_average`: `BaseOptimizer._model_variables_moving_average` and
  `_get_variable_index`, the optimizer's average of one variable (the
  averaged checkpoints: Keras offers the averages only by overwriting the
  model's weights).
"""

import keras
import numpy as np
import tensorflow as tf


class PrebuiltModel(keras.Model):
  """A model whose layers are built in `__init__`: Keras' symbolic build is skipped.

  Keras' TensorFlow trainer (`TensorFlowTrainer._maybe_symbolic_build`,
  Keras 3.3-3.15, called by `fit`/`evaluate`/`predict`) traces the model on
  a first batch to build it, after all-reducing that batch over the
  replicas; under MultiWorkerMirroredStrategy that reduction fails for dict
  batches ("Attempt to convert a value ({'mixtures': PerReplica…}) … to a
  Tensor", Keras 3.15). Models built in `__init__` that use no compiled
  losses or metrics have only the optimizer left to build.
  """

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    del iterator, data_batch
    if self.optimizer is not None and not self.optimizer.built:
      with self.distribute_strategy.scope():
        self.optimizer.build(self.trainable_variables)


def is_multi_worker(strategy):
  """True under a MultiWorkerMirroredStrategy that really spans workers.

  The test Keras' trainer uses to choose its multi-worker reductions:
  `strategy.extended._in_multi_worker_mode()` (TF 2.x, private).
  """
  # pylint: disable-next=protected-access
  in_multi_worker_mode = strategy.extended._in_multi_worker_mode
  return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
          and in_multi_worker_mode())


def step_results(results):
  """A `train_step`'s `{name: scalar}` results in the shape Keras can reduce.

  Keras 3 reduces a step's outputs over the workers with
  `strategy.reduce('MEAN', value, axis=0)`, which fails on scalars ("Invalid
  reduction dimension 0 for input with 0 dimensions",
  tensorflow/tensorflow#72388). Under multi-worker the results (already the
  same on every replica) get a length-1 axis, whose mean is that value.
  """
  if is_multi_worker(tf.distribute.get_strategy()):
    return {name: value[tf.newaxis] for name, value in results.items()}
  return results


def scalar(value):
  """A logged step result as a Python float, `[1]`-shaped (`step_results`) or not."""
  return float(np.asarray(value, np.float64).reshape(-1)[0])


def no_merge_call():
  """True where the strategy lets a replica update variables without `merge_call`.

  `tf.__internal__.distribute.strategy_supports_no_merge_call` (TF >= 2.5;
  Keras' own `LossScaleOptimizer` makes the same test before a conditional
  optimizer step).
  """
  return tf.__internal__.distribute.strategy_supports_no_merge_call()


def apply_if(optimizer, condition, gradients, variables):
  """`optimizer.apply(gradients, variables)` if `condition`, else only count the step.

  `condition` must be the same on every replica. A Keras optimizer step may
  call `merge_call`, which TensorFlow forbids inside a `tf.cond` in a replica
  context; there the condition is decided in the cross-replica context
  instead, as Keras' `LossScaleOptimizer._tf_apply` does (Keras 3.3-3.15).
  The skipped branch advances `optimizer.iterations` only.
  """
  def skip():
    optimizer.iterations.assign_add(1)

  context = tf.distribute.get_replica_context()
  if context is None or no_merge_call():
    tf.cond(condition, lambda: optimizer.apply(gradients, variables), skip)
    return

  def cross_replica(distribution, condition, gradients):
    first = distribution.experimental_local_results(condition)[0]

    def apply():
      distribution.extended.call_for_each_replica(optimizer.apply, args=(gradients, variables))

    tf.cond(first, apply, skip)

  context.merge_call(cross_replica, args=(condition, gradients))


def frozen(concrete_function):
  """`concrete_function` with its variables replaced by constants of their values.

  TensorFlow's TFLite converter keeps variables as TFLite resource
  variables, which LiteRT's plain interpreter runs uninitialised (wrong
  outputs, no error); `inference.export.export_litert` converts the frozen
  function instead. TensorFlow's own freezing,
  `tensorflow.python.framework.convert_to_constants.convert_variables_to_constants_v2`
  (TF 2.2-2.21), is not in its public API.
  """
  from tensorflow.python.framework import convert_to_constants  # pylint: disable=import-outside-toplevel
  return convert_to_constants.convert_variables_to_constants_v2(concrete_function)


def moving_average(optimizer, variable):
  """The optimizer's moving average of `variable` (`use_ema`), or None if it keeps none.

  Keras 3.3-3.15 keep the averages in `_model_variables_moving_average`, in
  the order of the optimizer's trainable variables (`_get_variable_index`).
  """
  if not getattr(optimizer, "use_ema", False):
    return None
  return optimizer._model_variables_moving_average[  # pylint: disable=protected-access
      optimizer._get_variable_index(variable)]  # pylint: disable=protected-access
