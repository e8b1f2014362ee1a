"""Learned analysis/synthesis transforms (Conv-TasNet style), as the original.

At 16 kHz the default window of 40 samples is 2.5 ms and the hop of 20
samples 1.25 ms. There is no analysis or synthesis window.
"""

import keras
import tensorflow as tf

from sound_separation import gin_utils


def num_frames(num_samples, window_size, hop_size):
  """Frames of a signal of `num_samples`: `F = 1 + ceil(max(T − W, 0) / H)`.

  Equal to the original's `1 + ceil((T − W) / H)` for `T > W − H`; the
  original yields no frame at all for shorter signals, here they get one.
  Works on Python ints and on scalar tensors.
  """
  if isinstance(num_samples, int):
    return 1 - (-max(num_samples - window_size, 0) // hop_size)
  return 1 - (-tf.maximum(num_samples - window_size, 0) // hop_size)


@gin_utils.register_keras
class LearnedEncoder(keras.layers.Layer):
  """Frames the waveform and maps each frame to nonnegative coefficients.

  `[..., T]` -> `[..., F, num_basis]`, `F = num_frames(T, window_size,
  hop_size)`; the end is padded with zeros. Each frame goes through a
  Dense(num_basis, ReLU, no bias) layer named `dense`.
  """

  def __init__(self, num_basis=256, window_size=40, hop_size=20, **kwargs):
    super().__init__(**kwargs)
    self.num_basis = num_basis
    self.window_size = window_size
    self.hop_size = hop_size
    self.dense = keras.layers.Dense(num_basis, activation="relu",
                                    use_bias=False, name="dense", dtype=self.dtype_policy)

  def build(self, input_shape):
    self.dense.build(tuple(input_shape[:-1]) + (None, self.window_size))

  def call(self, waveforms):
    frames = tf.signal.frame(waveforms, self.window_size, self.hop_size,
                             pad_end=True)
    count = num_frames(tf.shape(waveforms)[-1], self.window_size,
                       self.hop_size)
    return self.dense(frames[..., :count, :])

  def compute_output_shape(self, input_shape):
    samples = input_shape[-1]
    frames = (None if samples is None else
              num_frames(samples, self.window_size, self.hop_size))
    return tuple(input_shape[:-1]) + (frames, self.num_basis)

  def get_config(self):
    return {**super().get_config(), "num_basis": self.num_basis,
            "window_size": self.window_size, "hop_size": self.hop_size}


@gin_utils.register_keras
class LearnedDecoder(keras.layers.Layer):
  """Maps coefficients back to frames and overlap-adds them.

  `[..., F, num_basis]` -> `[..., T]`: a Dense(window_size, no bias) layer named
  `dense` per frame, overlap-add with `hop_size`, then the result (of length
  `window_size + (F − 1)·hop_size`) is cropped to `num_samples` if given.
  """

  def __init__(self, window_size=40, hop_size=20, **kwargs):
    super().__init__(**kwargs)
    self.window_size = window_size
    self.hop_size = hop_size
    self.dense = keras.layers.Dense(window_size, use_bias=False, name="dense",
                                    dtype=self.dtype_policy)

  def build(self, input_shape):
    self.dense.build(input_shape)

  def call(self, coefficients, num_samples=None):
    return self.overlap_add(self.dense(coefficients), num_samples)

  def overlap_add(self, frames, num_samples=None):
    """`[..., F, window_size]` decoded frames -> `[..., T]` (the second half of `call`)."""
    waveforms = tf.signal.overlap_and_add(frames, self.hop_size)
    if num_samples is not None:
      waveforms = waveforms[..., :num_samples]
    return waveforms

  def get_config(self):
    return {**super().get_config(), "window_size": self.window_size,
            "hop_size": self.hop_size}
