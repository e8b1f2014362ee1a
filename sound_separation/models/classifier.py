"""The sound-event classifier of the semantic losses (docs/architecture.md#classifier, paper section 3).

A ResNet-18 on a learned waveform front end: `WaveformFilterbank` features
(25 ms filters, 10 ms hop, log compression) seen as a one-channel image
`[frames, filters, 1]`, a ResNet stem, four stages of two `BasicBlock`s
(64, 128, 256, 512 channels; the first block of stages 2–4 halves both
axes), global average pooling over time and filters, and a Dense layer to
K logits. `sigmoid(logits)` are the multi-label posteriors `p ∈ [0, 1]^K`.
"""

import keras
import tensorflow as tf

from sound_separation import gin_utils
from sound_separation.layers.frontend import WaveformFilterbank
from sound_separation.layers.resnet import BasicBlock
from sound_separation.layers.resnet import batch_norm


@gin_utils.register_keras
class SoundClassifier(keras.Model):
  """Waveforms `[B, T]` -> float32 logits `[B, num_classes]`, for any T >= 1.

  With the defaults (K = 527, 64 filters) it is the paper's ResNet-18:
  11.48M parameters (docs/architecture.md#classifier counts them).
  BatchNorm uses batch statistics when called with `training=True` and the
  classifier is trainable, its moving averages otherwise (frozen use).

  Args:
    num_classes: K.
    num_filters, window_size, hop_size, conv_stride, log_eps: the front end
      (`WaveformFilterbank`), samples at the data's rate.
    widths: channels of the ResNet stages (one block type, `BasicBlock`).
    blocks_per_stage: BasicBlocks per stage (2 for ResNet-18).
    stem_kernel, stem_stride: the stem convolution (7×7, stride 2), then
      BatchNorm and ReLU.
    stem_pool: 3×3 max pooling with stride 2 after the stem (as ResNet).
    recompute: recompute each block's activations in the backward pass
      (`tf.recompute_grad`) instead of keeping them: less memory, one more
      forward pass. With BatchNorm in training mode the recomputation updates
      the moving averages a second time (momentum 0.99 then acts like
      0.99² per step); frozen (inference) use is unaffected.
  """

  def __init__(self, num_classes=527, num_filters=64, window_size=400, hop_size=160,
               conv_stride=20, log_eps=1e-6, widths=(64, 128, 256, 512), blocks_per_stage=2,
               stem_kernel=7, stem_stride=2, stem_pool=True, recompute=False, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = int(num_classes)
    self.widths = tuple(int(w) for w in widths)
    self.blocks_per_stage = int(blocks_per_stage)
    self.stem_kernel = int(stem_kernel)
    self.stem_stride = int(stem_stride)
    self.stem_pool = bool(stem_pool)
    self.recompute = bool(recompute)
    if not self.widths or self.blocks_per_stage < 1 or self.num_classes < 1:
      raise ValueError(f"need at least one stage, block and class; got widths={widths}, "
                       f"blocks_per_stage={blocks_per_stage}, num_classes={num_classes}.")
    self.frontend = WaveformFilterbank(num_filters, window_size, hop_size, conv_stride,
                                       log_eps, name="frontend", dtype=self.dtype_policy)
    self.stem_conv = keras.layers.Conv2D(self.widths[0], self.stem_kernel,
                                         strides=self.stem_stride, padding="same",
                                         use_bias=False, name="stem_conv", dtype=self.dtype_policy)
    self.stem_bn = batch_norm("stem_bn", self.dtype_policy)
    # One attribute per block (tf.train.Checkpoint skips layers in lists).
    channels = self.widths[0]
    for s, width in enumerate(self.widths):
      for b in range(self.blocks_per_stage):
        stride = 2 if s > 0 and b == 0 else 1
        setattr(self, f"block_{s}_{b}", BasicBlock(
            width, stride, project=stride != 1 or channels != width, name=f"block_{s}_{b}",
            dtype=self.dtype_policy))
        channels = width
    self.head = keras.layers.Dense(self.num_classes, name="logits", dtype=self.dtype_policy)

  @property
  def blocks(self):
    """The BasicBlocks in order."""
    return [getattr(self, f"block_{s}_{b}") for s in range(len(self.widths))
            for b in range(self.blocks_per_stage)]

  def build(self, input_shape):
    batch = input_shape[0]
    self.frontend.build(input_shape)
    image = (batch, None, self.frontend.num_filters, 1)
    self.stem_conv.build(image)
    shape = (batch, None, None, self.widths[0])
    self.stem_bn.build(shape)
    for block in self.blocks:
      block.build(shape)
      shape = (batch, None, None, block.channels)
    self.head.build((batch, self.widths[-1]))

  def features(self, waveforms):
    """The front end's log filterbank features `[B, N, num_filters]`."""
    return self.frontend(waveforms)

  def call(self, waveforms, training=None):
    x = self.frontend(waveforms)[..., tf.newaxis]  # [B, N, F, 1]
    x = keras.activations.relu(self.stem_bn(self.stem_conv(x), training=training))
    if self.stem_pool:
      x = tf.nn.max_pool2d(x, 3, 2, "SAME")
    for block in self.blocks:
      if self.recompute and not isinstance(x, keras.KerasTensor):
        x = tf.recompute_grad(lambda t, block=block: block(t, training=training))(x)
      else:
        x = block(x, training=training)
    pooled = tf.reduce_mean(x, axis=[1, 2])  # [B, C]
    return tf.cast(self.head(pooled), tf.float32)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.num_classes)

  def get_config(self):
    frontend = self.frontend
    return {**super().get_config(), "num_classes": self.num_classes,
            "num_filters": frontend.num_filters, "window_size": frontend.window_size,
            "hop_size": frontend.hop_size, "conv_stride": frontend.conv_stride,
            "log_eps": frontend.eps, "widths": list(self.widths),
            "blocks_per_stage": self.blocks_per_stage, "stem_kernel": self.stem_kernel,
            "stem_stride": self.stem_stride, "stem_pool": self.stem_pool,
            "recompute": self.recompute}
