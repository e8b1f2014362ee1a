"""A separator's inference functions: the one primitive inference, training and the study share.

A Keras separator (`SeparationModel`) runs for inference through one of:

- `serving_function(separator)`: a concrete function `[B, T] -> [B, M, T]`
  float32 for any B and T, traced once with the TDCN++ blocks' middles as
  plain TensorFlow ops (with XLA every new length would compile anew);
- `fixed_length_function(separator, L)`: the same for `[B, L]` only, the
  blocks' middles compiled by XLA for that length (1.6-2x the speed here,
  docs/benchmarks.md; `separate` runs its full chunks through it);
- `KerasSeparator(separator, sample_rate)`: both behind the separator
  protocol (`sound_separation.protocol`), the form the evaluator, the
  training callback, the study and `load_model` use.

All follow the separator's variables: restoring another checkpoint into it
changes what they compute, without tracing again (the study scores many
checkpoints of a run this way). `inference_call(separator, xla)` is the call
they trace, which the exports (`inference.export`) trace too.
"""

import numpy as np
import tensorflow as tf

from sound_separation import protocol
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


class KerasSeparator(protocol.Separator):
  """A Keras separator (`SeparationModel`) under the separator protocol.

  `self(waveforms [B, T]) -> [B, M, T]` runs `serving_function` (traced on
  first use, any B and T); `fixed_length(L)` the XLA-compiled
  `fixed_length_function` for `[B, L]` (compiled on its first call). Both
  read the separator's variables as they are at each call.

  Args:
    separator: a built `SeparationModel` (or any Keras layer mapping
      `[B, T]` to `[B, M, T]` with a `num_sources` attribute).
    sample_rate: Hz.
    description: where it came from, for reports.
  """

  def __init__(self, separator, sample_rate, description="a Keras separator"):
    self.separator = separator
    self.sample_rate = int(sample_rate)
    self.num_sources = int(separator.num_sources)
    self.description = description
    self._any_length = None
    self._fixed = {}

  def __call__(self, waveforms):
    if self._any_length is None:
      self._any_length = serving_function(self.separator)
    waveforms = protocol.check_waveforms(waveforms)
    return self._any_length(tf.constant(waveforms)).numpy()

  def has_fixed_length(self, length):
    return True

  def fixed_length(self, length):
    length = int(length)
    if length not in self._fixed:
      function = fixed_length_function(self.separator, length)
      self._fixed[length] = lambda waveforms: function(
          tf.constant(protocol.check_waveforms(waveforms, length))).numpy()
    return self._fixed[length]


# The largest M whose chunk matching runs in the graph: the exact assignment
# by dynamic programming over subsets holds 2^M values (`assignment_solver`).
MAX_MATCHED_SOURCES = 20


def assignment_solver(num_sources):
  """`solve(cost [M, M]) -> p [M]` int32: the permutation minimising `sum_i cost[i, p[i]]`.

  The exact minimum-cost assignment (what `scipy.optimize.linear_sum_assignment`
  finds) as graph ops, so that a SavedModel needs no Python: dynamic
  programming over subsets, `best[S] = min_{j in S} best[S - {j}] + cost[|S| - 1, j]`,
  one popcount level at a time (2^M values, M levels), then the choices traced
  back from the full set.
  """
  m = int(num_sources)
  if not 1 <= m <= MAX_MATCHED_SOURCES:
    raise ValueError(f"in-graph matching handles 1 to {MAX_MATCHED_SOURCES} outputs, got {m}")
  counts = np.array([bin(mask).count("1") for mask in range(1 << m)])
  levels = [np.flatnonzero(counts == k).astype(np.int32) for k in range(m + 1)]
  bits = np.left_shift(1, np.arange(m)).astype(np.int32)

  def solve(cost):
    cost = tf.convert_to_tensor(cost, tf.float32)
    best = tf.tensor_scatter_nd_update(tf.fill([1 << m], np.float32(np.inf)), [[0]], [0.0])
    choice = tf.zeros([1 << m], tf.int32)
    for k in range(1, m + 1):
      masks = tf.constant(levels[k])[:, tf.newaxis]  # [L, 1]
      has = tf.bitwise.bitwise_and(masks, bits) > 0  # [L, M]
      previous = tf.gather(best, tf.bitwise.bitwise_xor(masks, bits))  # [L, M]
      candidates = tf.where(has, previous + cost[k - 1][tf.newaxis, :], np.float32(np.inf))
      best = tf.tensor_scatter_nd_update(best, masks, tf.reduce_min(candidates, axis=1))
      choice = tf.tensor_scatter_nd_update(
          choice, masks, tf.argmin(candidates, axis=1, output_type=tf.int32))
    mask = tf.constant((1 << m) - 1, tf.int32)
    columns = []
    for _ in range(m):  # rows m-1, ..., 0
      column = tf.gather(choice, mask)
      columns.append(column)
      mask = tf.bitwise.bitwise_xor(mask, tf.bitwise.left_shift(1, column))
    return tf.stack(columns[::-1])

  return solve


def chunked_function(separator, chunk, overlap):
  """`f(waveforms [B, T]) -> [B, M, T]`: `separate`'s chunked separation as one graph.

  The same computation as `inference.streaming.stitch` (docs/formats.md#separated-outputs):
  chunks of `chunk` samples starting every `chunk - overlap` samples, the
  last one aligned to the end; each chunk's outputs matched to the outputs so
  far on their overlap (least squared difference over permutations, solved
  exactly: `assignment_solver`) and cross-faded linearly. Every chunk goes
  through one program compiled for `[1, chunk]` (the TDCN++ middles by XLA),
  so inputs of any length run without compiling again; an input shorter
  than a chunk runs whole through the plain graph (padding it would change
  its outputs).
  """
  chunk, overlap = int(chunk), int(overlap)
  if not 0 < overlap < chunk:
    raise ValueError(f"need chunk > overlap > 0 samples, got {chunk}, {overlap}")
  num_sources = separator.num_sources
  plain = inference_call(separator, False)
  compiled = inference_call(separator, True)
  solve = assignment_solver(num_sources)
  hop = chunk - overlap

  def one(waveform):
    length = tf.shape(waveform)[0]
    starts = tf.concat([tf.range(0, length - chunk, hop), [length - chunk]], axis=0)

    def piece(i):
      return compiled(tf.reshape(waveform[starts[i]:starts[i] + chunk], [1, chunk]))[0]

    def step(i, out):
      start, end = starts[i], starts[i - 1] + chunk
      current = piece(i)
      held, head = out[:, start:end], current[:, :end - start]
      cost = (tf.reduce_sum(held ** 2, 1)[:, tf.newaxis] + tf.reduce_sum(head ** 2, 1)
              - 2.0 * tf.matmul(held, head, transpose_b=True))
      current = tf.gather(current, solve(cost))
      fade = (tf.cast(tf.range(end - start), tf.float32) + 0.5) / tf.cast(end - start,
                                                                          tf.float32)
      blended = held * (1.0 - fade) + current[:, :end - start] * fade
      return i + 1, tf.concat([out[:, :start], blended, current[:, end - start:]], axis=1)

    _, out = tf.while_loop(
        lambda i, out: i < tf.shape(starts)[0], step, (tf.constant(1), piece(0)),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([num_sources, None])))
    return out

  def call(waveforms):
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    return tf.cond(
        tf.shape(waveforms)[1] < chunk, lambda: plain(waveforms),
        lambda: tf.map_fn(one, waveforms, fn_output_signature=tf.TensorSpec(
            [num_sources, None], tf.float32)))

  return call
