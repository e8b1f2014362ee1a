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


def test_keras_still_calls_the_symbolic_build_hook_from_fit():
  # `PrebuiltModel` overrides `_maybe_symbolic_build`; if Keras renames or
  # stops calling it, the override silently does nothing: this must fail.
  calls = []

  class Counting(keras_compat.PrebuiltModel):

    def __init__(self):
      super().__init__()
      self.dense = keras.layers.Dense(1)
      self.dense.build((None, 2))
      self.built = True

    def call(self, x):
      return self.dense(x)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
      calls.append(True)
      super()._maybe_symbolic_build(iterator, data_batch)

  assert hasattr(keras.Model, "_maybe_symbolic_build")
  model = Counting()
  model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
  x = np.ones((4, 2), np.float32)
  model.fit(x, np.zeros((4, 1), np.float32), epochs=1, verbose=0)
  assert calls and model.optimizer.built


def test_the_multi_worker_test_exists_and_is_false_on_one_worker():
  # The multi-worker run itself is tested in tests/test_trainer.py (two
  # worker processes); here, the private method it reads must exist.
  strategy = tf.distribute.get_strategy()
  mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
  for s in (strategy, mirrored):
    # pylint: disable-next=protected-access
    assert callable(s.extended._in_multi_worker_mode)
    assert keras_compat.is_multi_worker(s) is False


def test_step_results_and_scalar():
  results = {"loss": tf.constant(2.5), "mixit": tf.constant(1.0)}
  assert keras_compat.step_results(results) is results  # one worker: unchanged
  assert keras_compat.scalar(tf.constant(2.5)) == 2.5
  assert keras_compat.scalar(np.float32([2.5])) == 2.5  # the multi-worker shape


def test_frozen_replaces_variables_by_their_values():
  weights = tf.Variable([[1.0, -2.0], [0.5, 3.0]])
  function = tf.function(lambda x: tf.matmul(x, weights),
                         input_signature=[tf.TensorSpec([None, 2], tf.float32)])
  frozen = keras_compat.frozen(function.get_concrete_function())
  ops = {op.type for op in frozen.graph.get_operations()}
  assert not ops & {"VarHandleOp", "ReadVariableOp", "ResourceGather"}, ops
  assert not frozen.variables
  x = tf.constant([[1.0, 2.0]])
  first = lambda out: out[0] if isinstance(out, (list, tuple)) else out
  np.testing.assert_allclose(first(frozen(x)).numpy(), [[2.0, 4.0]])
  weights.assign(tf.zeros([2, 2]))  # the frozen copy keeps the values it was given
  np.testing.assert_allclose(first(frozen(x)).numpy(), [[2.0, 4.0]])
  np.testing.assert_allclose(function(x).numpy(), [[0.0, 0.0]])


def test_moving_average_is_the_optimizers_average_of_that_variable():
  """Keras' private EMA storage (`keras_compat.moving_average`) is still where it was."""
  import keras  # pylint: disable=import-outside-toplevel
  first = keras.Variable(np.array([1.0, 2.0], np.float32))
  second = keras.Variable(np.array([[3.0]], np.float32))
  optimizer = keras.optimizers.SGD(0.5, use_ema=True, ema_momentum=0.9)
  optimizer.build([first, second])
  optimizer.apply([np.array([1.0, 1.0], np.float32), np.array([[2.0]], np.float32)],
                  [first, second])
  # After the first step the average is the weight itself.
  np.testing.assert_allclose(keras_compat.moving_average(optimizer, second).numpy(), [[2.0]])
  np.testing.assert_allclose(keras_compat.moving_average(optimizer, first).numpy(), [0.5, 1.5])
