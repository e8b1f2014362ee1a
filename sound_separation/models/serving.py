"""A separator's inference functions: the one primitive inference, training and the study share.

A Keras separator (`SeparationModel`) runs for inference through one of:

- `serving_function(separator)`: a concrete function `[B, T] -> [B, M, T]`
  float32 for any B and T, traced once with the TDCN++ blocks' middles as
  plain TensorFlow ops (with XLA every new length would compile anew);
- `fixed_length_function(separator, L)`: the same for `[B, L]` only, the
  blocks' middles compiled by XLA for that length (1.6-2x the speed here,
  docs/benchmarks.md; `separate` runs its full chunks through it);
- `waveform_function(separator)`: NumPy `[T] -> [M, T]` through the serving
  function, the form the evaluator takes (`evaluation.evaluator`).

All follow the separator's variables: restoring another checkpoint into it
changes what they compute, without tracing again (the study scores many
checkpoints of a run this way). `inference_call(separator, xla)` is the call
they trace, which the exports (`inference.export`) trace too.
"""

import numpy as np
import tensorflow as tf

from sound_separation.layers import fused_block


def inference_call(separator, xla):
  """`f(waveforms) -> separator(waveforms, training=False)`, the middles XLA-compiled or not.

  The choice is made inside the call, so it holds whenever the function is
  traced (Keras' export archive traces its endpoints again when it writes
  them, outside any context set around it).
  """
  def call(waveforms):
    with fused_block.xla_middles(xla):
      return separator(waveforms, training=False)
  return call


def serving_function(separator):
  """The any-length concrete function `[None, None] -> [None, M, None]` float32."""
  return tf.function(inference_call(separator, False), input_signature=[
      tf.TensorSpec([None, None], tf.float32)]).get_concrete_function()


def fixed_length_function(separator, length):
  """The concrete function for `[None, length]` inputs, the TDCN++ middles compiled by XLA.

  XLA compiles at the first call for each batch size.
  """
  return tf.function(inference_call(separator, True), input_signature=[
      tf.TensorSpec([None, int(length)], tf.float32)]).get_concrete_function()


def waveform_function(separator):
  """NumPy float32 `[T] -> [M, T]` through `serving_function` (traced once, here)."""
  function = serving_function(separator)

  def separate(waveform):
    return function(tf.constant(np.asarray(waveform, np.float32)[np.newaxis]))[0].numpy()
  return separate
