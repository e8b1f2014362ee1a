"""Where this library relies on TensorFlow/Keras internals.

Each function names the private API it uses, why, and the versions it was
checked with (TF 2.17-2.21, Keras 3.x). `tests/test_keras_compat.py` fails
loudly when one of these hooks disappears. (Two older hooks still live in
`training/trainer.py`: the `_maybe_symbolic_build` override and
`_in_multi_worker_mode`; they are to move here.)
"""

import tensorflow as tf


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
