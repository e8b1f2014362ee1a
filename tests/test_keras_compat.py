"""The TensorFlow/Keras internals `training/keras_compat.py` relies on, and its helpers."""

import keras
import numpy as np
import tensorflow as tf

from sound_separation.training import keras_compat


def test_the_private_hooks_exist():
  # If TensorFlow renames it, the conditional optimizer step cannot choose
  # its path: this must fail here, not silently elsewhere.
  assert callable(tf.__internal__.distribute.strategy_supports_no_merge_call)
  assert isinstance(keras_compat.no_merge_call(), bool)


def test_apply_if_applies_or_only_counts_the_step():
  variable = keras.Variable(np.ones(3, np.float32))
  optimizer = keras.optimizers.Adam(0.1)
  optimizer.build([variable])
  gradient = tf.constant([1.0, -1.0, 0.5])

  @tf.function
  def step(condition):
    keras_compat.apply_if(optimizer, condition, [gradient], [variable])

  step(tf.constant(True))
  after_one = variable.numpy().copy()
  slots = [v.numpy().copy() for v in optimizer.variables if "iteration" not in v.path]
  assert not np.allclose(after_one, 1.0)
  step(tf.constant(False))
  np.testing.assert_array_equal(variable.numpy(), after_one)
  for before, v in zip(slots, [v for v in optimizer.variables if "iteration" not in v.path]):
    np.testing.assert_array_equal(v.numpy(), before)
  assert int(optimizer.iterations.numpy()) == 2
