"""The 2-D ResNet BasicBlock (He et al., "Deep Residual Learning", CVPR 2016).

Acts on `[B, H, W, C]` images; in the classifier H is time (feature frames)
and W the filterbank channels.
"""

import keras

from sound_separation import gin_utils

BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


def batch_norm(name, dtype=None):
  return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name,
                                         dtype=dtype)


@gin_utils.register_keras
class BasicBlock(keras.layers.Layer):
  """`relu(BN(conv3x3(relu(BN(conv3x3_s(x))))) + shortcut(x))`.

  `[B, H, W, C_in]` -> `[B, ceil(H/s), ceil(W/s), channels]`. Both 3×3
  convolutions have no bias ('same' padding; the first has stride s). The
  shortcut is the identity, or a 1×1 convolution with stride s followed by
  BatchNorm when the stride or the channel count changes (ResNet's option B).
  Parameters: `9·C_in·C + 9·C² + 2·4C` (+ `C_in·C + 4C` with a projection),
  counting BatchNorm's moving mean and variance.

  Args:
    channels: output channels C.
    stride: s, of the first convolution and the shortcut.
    project: use the projection shortcut (needed when the stride is not 1
      or the input has other than `channels` channels).
  """

  def __init__(self, channels, stride=1, project=False, **kwargs):
    super().__init__(**kwargs)
    self.channels = channels
    self.stride = stride
    self.project = bool(project)
    self.conv1 = keras.layers.Conv2D(channels, 3, strides=stride, padding="same",
                                     use_bias=False, name="conv1", dtype=self.dtype_policy)
    self.bn1 = batch_norm("bn1", self.dtype_policy)
    self.conv2 = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False,
                                     name="conv2", dtype=self.dtype_policy)
    self.bn2 = batch_norm("bn2", self.dtype_policy)
    if self.project:
      self.shortcut_conv = keras.layers.Conv2D(channels, 1, strides=stride, use_bias=False,
                                               name="shortcut_conv", dtype=self.dtype_policy)
      self.shortcut_bn = batch_norm("shortcut_bn", self.dtype_policy)

  def build(self, input_shape):
    if not self.project and (self.stride != 1 or input_shape[-1] != self.channels):
      raise ValueError(f"BasicBlock({self.channels}, stride={self.stride}) on "
                       f"{input_shape[-1]} channels needs project=True.")
    inner = tuple(input_shape[:-1]) + (self.channels,)
    self.conv1.build(input_shape)
    self.bn1.build(inner)
    self.conv2.build(inner)
    self.bn2.build(inner)
    if self.project:
      self.shortcut_conv.build(input_shape)
      self.shortcut_bn.build(inner)

  def call(self, inputs, training=None):
    x = keras.activations.relu(self.bn1(self.conv1(inputs), training=training))
    x = self.bn2(self.conv2(x), training=training)
    shortcut = inputs
    if self.project:
      shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training)
    return keras.activations.relu(x + shortcut)

  def compute_output_shape(self, input_shape):
    def down(size):
      return None if size is None else -(-size // self.stride)
    return (input_shape[0], down(input_shape[1]), down(input_shape[2]), self.channels)

  def get_config(self):
    return {**super().get_config(), "channels": self.channels, "stride": self.stride,
            "project": self.project}
