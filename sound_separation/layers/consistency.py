"""Mixture consistency projection (Wisdom et al., ICASSP 2019; paper ref. [11]).

`ŝ_j ← ŝ_j + w_j·(x − Σ_k ŝ_k)` with `Σ_j w_j = 1`, so the outputs sum exactly
to the mixture `x`.
"""

import keras
import tensorflow as tf

from sound_separation import gin_utils

WEIGHTINGS = ("predicted", "uniform", "magsq")


@gin_utils.register_keras
class MixtureConsistency(keras.layers.Layer):
  """Projects separated sources so that they sum to the mixture.

  Call with `mixture [B, T]`, `separated [B, M, T]` and, for the predicted
  weighting, `features [B, F, C]` (the separator's last activations);
  returns `[B, M, T]`.

  Weightings `w [B, M]`:
  - `predicted`: `softmax_M(Dense(M, no bias)(mean_F features))`; the Dense is
    the sub-layer `mix_weights` (the original's default);
  - `uniform`: `1/M`;
  - `magsq`: `w_j ∝ mean_t ŝ_j² + 1e-8`.
  """

  def __init__(self, weighting="predicted", num_sources=None, **kwargs):
    super().__init__(**kwargs)
    if weighting not in WEIGHTINGS:
      raise ValueError(f"Unknown mixture consistency weighting {weighting!r}; "
                       f"expected one of {WEIGHTINGS}.")
    if weighting == "predicted" and not num_sources:
      raise ValueError("MixtureConsistency(weighting='predicted') needs "
                       "num_sources, the size of its weight layer.")
    self.weighting = weighting
    self.num_sources = num_sources
    self.mix_weights = (keras.layers.Dense(num_sources, use_bias=False,
                                           name="mix_weights", dtype=self.dtype_policy)
                        if weighting == "predicted" else None)

  def build(self, mixture_shape, separated_shape=None, features_shape=None):
    if self.mix_weights is not None:
      if features_shape is None:
        raise ValueError("The predicted weighting needs the features' shape "
                         "[B, F, C] to build.")
      self.mix_weights.build((features_shape[0], features_shape[-1]))

  def weights_for(self, separated, features=None):
    """Mixture weights `[B, M, 1]` for `separated [B, M, T]`."""
    if self.weighting == "predicted":
      if features is None:
        raise ValueError("MixtureConsistency(weighting='predicted') must be "
                         "called with features [B, F, C].")
      logits = self.mix_weights(tf.reduce_mean(features, axis=1))
      # In float32: weights that do not sum to 1 break the projection, and a
      # bfloat16 softmax is off by up to 1%.
      weights = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
    elif self.weighting == "uniform":
      num = tf.cast(tf.shape(separated)[1], separated.dtype)
      weights = tf.ones_like(separated[:, :, 0]) / num
    else:
      power = tf.reduce_mean(tf.square(tf.cast(separated, tf.float32)),
                             axis=-1) + 1e-8
      weights = power / tf.reduce_sum(power, axis=1, keepdims=True)
    return tf.cast(weights, separated.dtype)[:, :, tf.newaxis]

  def call(self, mixture, separated, features=None):
    residual = mixture - tf.reduce_sum(separated, axis=1)
    return separated + self.weights_for(separated, features) * residual[:, tf.newaxis]

  def compute_output_shape(self, mixture_shape, separated_shape,
                           features_shape=None):
    return separated_shape

  def get_config(self):
    return {**super().get_config(), "weighting": self.weighting,
            "num_sources": self.num_sources}
