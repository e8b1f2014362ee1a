"""A learned waveform front end for the sound-event classifier (docs/architecture.md#classifier).

After Sainath et al., "Learning the speech front-end with raw waveform CLDNNs"
(Interspeech 2015), the front end the paper's classifier uses (its ref. [20]):
a bank of learned FIR filters convolved with the raw waveform, max-pooled
over time within each hop, then log-compressed. At 16 kHz the defaults are
filters of 400 taps (25 ms) evaluated every 20 samples (1.25 ms), the
maximum of |output| over the 8 evaluations of each 160-sample hop (10 ms),
and `log(max² + eps)`.
"""

import keras
import tensorflow as tf

from sound_separation import gin_utils


def num_feature_frames(num_samples, hop_size):
  """Feature frames of a `num_samples` waveform: `ceil(T / hop)` (at least 1)."""
  if isinstance(num_samples, int):
    return max(1, -(-num_samples // hop_size))
  return tf.maximum(1, -(-num_samples // hop_size))


@gin_utils.register_keras
class WaveformFilterbank(keras.layers.Layer):
  """Learned filterbank features: `[B, T]` waveform -> `[B, N, num_filters]`.

  1. The waveform is zero-padded by `(window_size − hop_size) // 2` samples
     at the start and at the end to the length that gives exactly
     `N = ceil(T / hop_size)` frames, so frame n covers about samples
     `[n·hop − (window − hop)/2, (n + 1)·hop + (window − hop)/2)`.
  2. Conv1D with `num_filters` filters of `window_size` taps, no bias,
     stride `conv_stride` (valid).
  3. `max |·|` over each hop's `hop_size / conv_stride` consecutive
     outputs (non-overlapping): one value per filter and frame.
  4. `log(x² + eps)` (natural log of power; `log(eps)` ≈ −13.8 for silence,
     with finite gradients: the square's gradient vanishes at 0).

  Args:
    num_filters: learned filters, the feature dimension.
    window_size: filter length in samples (400 = 25 ms at 16 kHz).
    hop_size: samples per feature frame (160 = 10 ms at 16 kHz).
    conv_stride: samples between filter evaluations; must divide `hop_size`.
    eps: added to the pooled power before the log.
  """

  def __init__(self, num_filters=64, window_size=400, hop_size=160, conv_stride=20,
               eps=1e-6, **kwargs):
    super().__init__(**kwargs)
    if hop_size % conv_stride:
      raise ValueError(f"conv_stride={conv_stride} must divide hop_size={hop_size}.")
    if window_size < hop_size:
      raise ValueError(f"window_size={window_size} must be >= hop_size={hop_size}.")
    self.num_filters = num_filters
    self.window_size = window_size
    self.hop_size = hop_size
    self.conv_stride = conv_stride
    self.eps = float(eps)
    self.pool_size = hop_size // conv_stride
    self.filters = keras.layers.Conv1D(num_filters, window_size, strides=conv_stride,
                                       padding="valid", use_bias=False, name="filters",
                                           dtype=self.dtype_policy)

  def build(self, input_shape):
    self.filters.build(tuple(input_shape[:-1]) + (None, 1))

  def call(self, waveforms):
    waveforms = tf.cast(waveforms, self.compute_dtype)
    num_samples = tf.shape(waveforms)[-1]
    frames = num_feature_frames(num_samples, self.hop_size)
    # Conv outputs needed: pool_size per frame; input length for that many.
    needed = (frames * self.pool_size - 1) * self.conv_stride + self.window_size
    start = (self.window_size - self.hop_size) // 2
    padded = tf.pad(waveforms, [[0, 0], [start, needed - start - num_samples]])
    outputs = self.filters(padded[..., tf.newaxis])  # [B, frames·pool, F]
    outputs = tf.reshape(outputs, [tf.shape(outputs)[0], frames, self.pool_size,
                                   self.num_filters])
    pooled = tf.reduce_max(tf.abs(outputs), axis=2)  # [B, N, F]
    return tf.math.log(tf.square(pooled) + tf.cast(self.eps, pooled.dtype))

  def compute_output_shape(self, input_shape):
    samples = input_shape[-1]
    frames = None if samples is None else num_feature_frames(samples, self.hop_size)
    return (input_shape[0], frames, self.num_filters)

  def get_config(self):
    return {**super().get_config(), "num_filters": self.num_filters,
            "window_size": self.window_size, "hop_size": self.hop_size,
            "conv_stride": self.conv_stride, "eps": self.eps}
