"""The separation model: learned encoder, TDCN++ masks, decoder, consistency.

It composes the layers exactly as Google's original MixIT model (docs/architecture.md#separation-model), so
that its weights and outputs match the original's for the same parameters.
"""

import keras
import tensorflow as tf

from sound_separation import gin_utils
from sound_separation.layers import consistency
from sound_separation.layers.tdcn import TDCNPlusPlus
from sound_separation.layers import transforms


@gin_utils.register_keras
class SeparationModel(keras.Model):
  """Separates a mono waveform into `num_sources` waveforms that sum to it.

  `[B, T]` float -> float32 `[B, M, T]` for any T (≥ 1):

  1. `LearnedEncoder`: frames of `window_size` samples, hop `hop_size`,
     Dense(num_basis, ReLU) -> coefficients `[B, F, num_basis]`;
  2. `TDCNPlusPlus` on the coefficients -> `[B, F, bottleneck]`;
  3. `mask_dense`: Dense(num_basis·M, no bias), output index ordered
     (source, basis), sigmoid -> one mask per source, frame and basis;
  4. masked coefficients -> `LearnedDecoder` -> `[B, M, T]`;
  5. `MixtureConsistency` (unless `mixture_consistency` is None), in float32
     even under a mixed-precision policy, on the unrounded input.

  With the defaults (the paper's model) it has 9,067,009 parameters at
  M = 8 and 8,803,841 at M = 4.

  Args:
    num_sources: M, the number of outputs.
    num_basis: encoder coefficients per frame.
    window_size, hop_size: encoder/decoder frame length and hop, in samples.
    tdcn: a `TDCNPlusPlus` (or its config dict); default `TDCNPlusPlus()`,
      which gin bindings of `TDCNPlusPlus` configure.
    mixture_consistency: 'predicted', 'uniform', 'magsq' or None.
  """

  def __init__(self, num_sources=4, num_basis=256, window_size=40, hop_size=20,
               tdcn=None, mixture_consistency="predicted", **kwargs):
    super().__init__(**kwargs)
    self.num_sources = num_sources
    self.num_basis = num_basis
    self.window_size = window_size
    self.hop_size = hop_size
    if tdcn is None:
      tdcn = TDCNPlusPlus(name="tdcn", dtype=self.dtype_policy)
    elif isinstance(tdcn, dict):
      tdcn = keras.saving.deserialize_keras_object(tdcn)
    if not isinstance(tdcn, TDCNPlusPlus):
      raise TypeError(f"tdcn must be a TDCNPlusPlus or its config, got {tdcn!r}.")
    if tdcn.dtype_policy.name != self.dtype_policy.name:
      # The model's precision reaches every sub-layer through its dtype
      # policy; a stack made elsewhere (e.g. by gin) is remade at it.
      if tdcn.built:
        raise ValueError(f"tdcn has dtype policy {tdcn.dtype_policy.name!r} and is built; "
                         f"the model's is {self.dtype_policy.name!r}.")
      tdcn = TDCNPlusPlus.from_config({**tdcn.get_config(), "dtype": self.dtype_policy})
    self.tdcn = tdcn
    self.encoder = transforms.LearnedEncoder(num_basis, window_size, hop_size,
                                             name="conv_encoder", dtype=self.dtype_policy)
    self.mask_dense = keras.layers.Dense(num_basis * num_sources,
                                         use_bias=False, name="mask_dense", dtype=self.dtype_policy)
    self.decoder = transforms.LearnedDecoder(window_size, hop_size,
                                             name="conv_decoder", dtype=self.dtype_policy)
    self.mixture_consistency = mixture_consistency
    self.consistency = (
        consistency.MixtureConsistency(mixture_consistency, num_sources,
                                       name="mixture_consistency",
                                       dtype="float32")
        if mixture_consistency else None)

  @property
  def input_dtype(self):
    # Under mixed precision Keras would round the input to the compute dtype
    # before `call`; the consistency projection needs the exact input so that
    # the outputs sum to it, and the encoder casts for itself.
    return "float32"

  def build(self, input_shape):
    batch = input_shape[0]
    coefficients = (batch, None, self.num_basis)
    self.encoder.build(input_shape)
    if not self.tdcn.built:  # Deserialization builds it from its own config.
      self.tdcn.build(coefficients)
    features = (batch, None, self.tdcn.bottleneck)
    self.mask_dense.build(features)
    self.decoder.build((batch, self.num_sources, None, self.num_basis))
    if self.consistency is not None:
      self.consistency.build(input_shape, (batch, self.num_sources, None),
                             features)

  def call(self, waveforms, training=None):
    del training  # No dropout or batch norm: training and inference agree.
    waveforms = tf.cast(waveforms, tf.float32)
    coefficients = self.encoder(waveforms)  # [B, F, num_basis]
    features = self.tdcn(coefficients)  # [B, F, bottleneck]
    logits = self.mask_dense(features)  # [B, F, M·num_basis]
    shape = tf.shape(logits)
    masks = tf.sigmoid(tf.reshape(logits, [shape[0], shape[1],
                                           self.num_sources, self.num_basis]))
    # Frame-major [B, F, M, basis] through the decoder's per-frame Dense:
    # only its window-sized output is transposed to [B, M, F, window], not
    # the M·num_basis-wide masks (8× larger at the paper's sizes), forward
    # and backward.
    frames = self.decoder.dense(masks * coefficients[:, :, tf.newaxis])
    separated = self.decoder.overlap_add(tf.transpose(frames, [0, 2, 1, 3]),
                                         num_samples=tf.shape(waveforms)[-1])
    if self.consistency is not None:
      return self.consistency(waveforms, separated, features)
    return tf.cast(separated, tf.float32)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.num_sources, input_shape[-1])

  def get_config(self):
    return {**super().get_config(), "num_sources": self.num_sources,
            "num_basis": self.num_basis, "window_size": self.window_size,
            "hop_size": self.hop_size,
            "tdcn": keras.saving.serialize_keras_object(self.tdcn),
            "mixture_consistency": self.mixture_consistency}

