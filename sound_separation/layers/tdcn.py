"""TDCN++: the improved time-dilated convolutional network of the original.

Kavalerov et al., "Universal Sound Separation" (WASPAA 2019), as configured in
Google's `sound-separation` code: 4 repeats of 8 blocks with dilations
1, 2, …, 128, instance norm over time, scalar PReLUs and learnable scalar
scales. Layer and weight names follow the original's variable scopes so that
its checkpoints map one to one (docs/architecture.md#separation-model).

All layers act on `[B, F, C]` (batch, frames, channels).
"""

import keras
import tensorflow as tf

from sound_separation import gin_utils
from sound_separation.layers import fused_block


def _scalar(layer, name, value):
  # Shape [1], as the original checkpoints store these scalars.
  return layer.add_weight(name=name, shape=(1,),
                          initializer=keras.initializers.Constant(value))


@gin_utils.register_keras
class ScalarScale(keras.layers.Layer):
  """Multiplies its input by one learnable scalar (weight `scale_layer`)."""

  def __init__(self, initial_value=1.0, **kwargs):
    super().__init__(**kwargs)
    self.initial_value = float(initial_value)

  def build(self, input_shape):
    self.scale = _scalar(self, "scale_layer", self.initial_value)

  def call(self, inputs):
    return inputs * self.scale

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "initial_value": self.initial_value}


@gin_utils.register_keras
class ScalarPReLU(keras.layers.Layer):
  """`relu(x) − α·relu(−x)` with one learnable α for all channels (weight `prelu`)."""

  def __init__(self, alpha_initial_value=0.1, **kwargs):
    super().__init__(**kwargs)
    self.alpha_initial_value = float(alpha_initial_value)

  def build(self, input_shape):
    self.alpha = _scalar(self, "prelu", self.alpha_initial_value)

  def call(self, inputs):
    return tf.nn.relu(inputs) - self.alpha * tf.nn.relu(-inputs)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(),
            "alpha_initial_value": self.alpha_initial_value}


@gin_utils.register_keras
class TimeInstanceNorm(keras.layers.Layer):
  """Normalises `[B, F, C]` over frames only, per example and channel.

  `y = γ·(x − mean_F x) / sqrt(var_F x + ε) + β`, biased variance, scalar γ
  (init 1) and β (init 0), ε = 1e-3 (the Keras default the original used).
  Statistics are taken in float32 even under mixed precision.
  """

  def __init__(self, epsilon=1e-3, **kwargs):
    super().__init__(**kwargs)
    self.epsilon = float(epsilon)

  def build(self, input_shape):
    self.gamma = _scalar(self, "gamma", 1.0)
    self.beta = _scalar(self, "beta", 0.0)

  def call(self, inputs):
    x = tf.cast(inputs, tf.float32)
    mean, variance = tf.nn.moments(x, axes=[-2], keepdims=True)
    gamma = tf.cast(self.gamma, tf.float32)
    beta = tf.cast(self.beta, tf.float32)
    y = (x - mean) * (gamma * tf.math.rsqrt(variance + self.epsilon)) + beta
    return tf.cast(y, inputs.dtype)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "epsilon": self.epsilon}


@gin_utils.register_keras
class NormAct(keras.layers.Layer):
  """Scalar PReLU, then time instance norm (the original's `normact`)."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.prelu = ScalarPReLU(name="prelu", dtype=self.dtype_policy)
    self.instance_norm = TimeInstanceNorm(name="instance_norm", dtype=self.dtype_policy)

  def build(self, input_shape):
    self.prelu.build(input_shape)
    self.instance_norm.build(input_shape)

  def call(self, inputs):
    return self.instance_norm(self.prelu(inputs))

  def compute_output_shape(self, input_shape):
    return input_shape


@gin_utils.register_keras
class ScaledDense(keras.layers.Layer):
  """Dense layer (`dense`) times a learnable scalar (`dense_scale`)."""

  def __init__(self, units, use_bias=False, scale=1.0, **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.use_bias = use_bias
    self.initial_scale = float(scale)
    self.dense = keras.layers.Dense(units, use_bias=use_bias, name="dense", dtype=self.dtype_policy)
    self.dense_scale = ScalarScale(self.initial_scale, name="dense_scale", dtype=self.dtype_policy)

  def build(self, input_shape):
    self.dense.build(input_shape)
    self.dense_scale.build(tuple(input_shape[:-1]) + (self.units,))

  def call(self, inputs):
    return self.dense_scale(self.dense(inputs))

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.units,)

  def get_config(self):
    return {**super().get_config(), "units": self.units,
            "use_bias": self.use_bias, "scale": self.initial_scale}


@gin_utils.register_keras
class DepthwiseTimeConv(keras.layers.Layer):
  """Depthwise dilated convolution over frames, "same" zero padding, with bias.

  `[B, F, C]` -> `[B, F, C]`: `y[t, c] = b[c] + Σ_k w[k, c]·x[t + k·d − p, c]`
  with `p = ((K − 1)·d) // 2` zeros before (TensorFlow's SAME rule). The
  kernel has shape `[K, C]` (the original stores it as `[K, 1, C, 1]`). Written
  as K shifted multiply-adds rather than a depthwise convolution op: the same
  arithmetic, several times faster on CPU and plain elementwise work for XLA.
  """

  def __init__(self, kernel_size=3, dilation=1, **kwargs):
    super().__init__(**kwargs)
    self.kernel_size = kernel_size
    self.dilation = dilation

  def build(self, input_shape):
    channels = input_shape[-1]
    self.depthwise_kernel = self.add_weight(
        name="depthwise_kernel", shape=(self.kernel_size, channels),
        initializer=_DepthwiseGlorot())
    self.bias = self.add_weight(name="bias", shape=(channels,),
                                initializer="zeros")

  def call(self, inputs):
    total_pad = (self.kernel_size - 1) * self.dilation
    before = total_pad // 2
    padded = tf.pad(inputs, [[0, 0], [before, total_pad - before], [0, 0]])
    frames = tf.shape(inputs)[1]
    kernel = self.depthwise_kernel
    out = self.bias + padded[:, :frames] * kernel[0]
    for k in range(1, self.kernel_size):
      out += padded[:, k * self.dilation:k * self.dilation + frames] * kernel[k]
    return out

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "kernel_size": self.kernel_size,
            "dilation": self.dilation}


class _DepthwiseGlorot(keras.initializers.Initializer):
  """Glorot-uniform with the fans Keras gives a `[K, 1, C, 1]` depthwise kernel.

  Keras counts fan_in = K·C and fan_out = K for that shape, so the limit is
  `sqrt(6 / (K·(C + 1)))`, not the `sqrt(6 / (K + C))` of a `[K, C]` matrix.
  """

  def __call__(self, shape, dtype=None):
    kernel_size, channels = shape
    limit = (6.0 / (kernel_size * (channels + 1))) ** 0.5
    return keras.random.uniform(shape, -limit, limit, dtype=dtype)


@gin_utils.register_keras
class TDCNBlock(keras.layers.Layer):
  """One TDCN++ block, `[B, F, bottleneck]` -> same shape.

  dense1 (bottleneck→channels, no bias, scale init 1) → normact1 → timeconv
  (depthwise, dilated, with bias) → normact2 → dense2 (channels→bottleneck, no
  bias, scale init `output_scale`) → residual add of the block input.
  """

  def __init__(self, bottleneck=256, conv_channels=512, kernel_size=3,
               dilation=1, output_scale=1.0, **kwargs):
    super().__init__(**kwargs)
    self.bottleneck = bottleneck
    self.conv_channels = conv_channels
    self.kernel_size = kernel_size
    self.dilation = dilation
    self.output_scale = float(output_scale)
    self.dense1 = ScaledDense(conv_channels, scale=1.0, name="dense1", dtype=self.dtype_policy)
    self.normact1 = NormAct(name="normact1", dtype=self.dtype_policy)
    self.timeconv = DepthwiseTimeConv(kernel_size, dilation, name="timeconv",
                                      dtype=self.dtype_policy)
    self.normact2 = NormAct(name="normact2", dtype=self.dtype_policy)
    self.dense2 = ScaledDense(bottleneck, scale=output_scale, name="dense2",
                              dtype=self.dtype_policy)

  def build(self, input_shape):
    inner = tuple(input_shape[:-1]) + (self.conv_channels,)
    self.dense1.build(input_shape)
    for layer in (self.normact1, self.timeconv, self.normact2, self.dense2):
      layer.build(inner)

  def call(self, inputs):
    # The block as one function with a hand-written gradient (see
    # fused_block): the same arithmetic as `layerwise_call` in a fraction of
    # the time and memory of TensorFlow's gradient of the layer sequence.
    dtype = self.compute_dtype
    as_float = lambda v: tf.cast(v, tf.float32)
    weights = (
        tf.cast(self.dense1.dense.kernel, dtype),
        as_float(self.dense1.dense_scale.scale),
        as_float(self.normact1.prelu.alpha),
        as_float(self.normact1.instance_norm.gamma),
        as_float(self.normact1.instance_norm.beta),
        as_float(self.timeconv.depthwise_kernel),
        as_float(self.timeconv.bias),
        as_float(self.normact2.prelu.alpha),
        as_float(self.normact2.instance_norm.gamma),
        as_float(self.normact2.instance_norm.beta),
        tf.cast(self.dense2.dense.kernel, dtype),
        as_float(self.dense2.dense_scale.scale))
    return fused_block.tdcn_block(
        tf.cast(inputs, dtype), weights, self.kernel_size, self.dilation,
        (self.normact1.instance_norm.epsilon,
         self.normact2.instance_norm.epsilon))

  def layerwise_call(self, inputs):
    """The same block composed from its sub-layers, differentiated by TensorFlow.

    `call` computes this with a hand-written gradient (`fused_block`); this
    form is the readable definition and the tests' reference.
    """
    x = self.normact1(self.dense1(inputs))
    x = self.normact2(self.timeconv(x))
    return inputs + self.dense2(x)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "bottleneck": self.bottleneck,
            "conv_channels": self.conv_channels,
            "kernel_size": self.kernel_size, "dilation": self.dilation,
            "output_scale": self.output_scale}


def skip_connections(num_dilations, num_repeats):
  """The original's dense skips: from the input of block j·D to that of k·D, j < k."""
  return [(j * num_dilations, k * num_dilations)
          for k in range(num_repeats) for j in range(k)]


@gin_utils.register_keras
class TDCNPlusPlus(keras.layers.Layer):
  """TDCN++ stack, `[B, F, C_in]` -> `[B, F, bottleneck]`.

  initial_dense (C_in→bottleneck, with bias, scale init 1), then
  `num_repeats × num_dilations` blocks, block b with dilation
  `2^(b mod num_dilations)` and output scale initialised to `0.9^b`. With
  `skip_residuals`, the input of block j·D passes through its own scaled
  Dense (with bias) and is added to the input of block k·D for every j < k
  (the original's option; off by default, as in the paper's model).

  The defaults are the paper's: 256 bottleneck, 512 channels, kernel 3,
  8 dilations × 4 repeats.

  With `recompute`, each block keeps no activations for the backward pass
  and runs its forward again when gradients are taken (`tf.recompute_grad`):
  less memory for long clips, one more forward pass of the stack per step.
  Outputs and gradients are unchanged. The attribute may be set after
  construction (`MixITTrainer(recompute=True)` does).
  """

  MAX_CHAINS = 4

  def __init__(self, bottleneck=256, conv_channels=512, kernel_size=3,
               num_dilations=8, num_repeats=4, skip_residuals=False, recompute=False,
               **kwargs):
    super().__init__(**kwargs)
    self.recompute = bool(recompute)
    self.bottleneck = bottleneck
    self.conv_channels = conv_channels
    self.kernel_size = kernel_size
    self.num_dilations = num_dilations
    self.num_repeats = num_repeats
    self.skip_residuals = bool(skip_residuals)
    self.initial_dense = ScaledDense(bottleneck, use_bias=True, scale=1.0,
                                     name="initial_dense", dtype=self.dtype_policy)
    # One attribute per sub-layer, never a list or dict of layers:
    # tf.train.Checkpoint does not see layers inside Keras' tracked
    # collections and would silently skip their weights.
    self.num_blocks = num_dilations * num_repeats
    for b in range(self.num_blocks):
      setattr(self, f"conv_block_{b}", TDCNBlock(
          bottleneck, conv_channels, kernel_size,
          dilation=2 ** (b % num_dilations), output_scale=0.9 ** b,
          name=f"conv_block_{b}", dtype=self.dtype_policy))
    self.skip_pairs = (skip_connections(num_dilations, num_repeats)
                       if self.skip_residuals else [])
    for src, dst in self.skip_pairs:
      setattr(self, f"res_dense_{src}_to_{dst}", ScaledDense(
          bottleneck, use_bias=True, scale=1.0, name=f"res_dense_{src}_to_{dst}",
          dtype=self.dtype_policy))

  @property
  def blocks(self):
    """The TDCN blocks in order."""
    return [getattr(self, f"conv_block_{b}") for b in range(self.num_blocks)]

  @property
  def skips(self):
    """`{(from_block, to_block): ScaledDense}` of the skip-residual layers."""
    return {(src, dst): getattr(self, f"res_dense_{src}_to_{dst}")
            for src, dst in self.skip_pairs}

  def build(self, input_shape):
    self.initial_dense.build(input_shape)
    inner = tuple(input_shape[:-1]) + (self.bottleneck,)
    for layer in list(self.blocks) + list(self.skips.values()):
      layer.build(inner)

  def call(self, inputs):
    # Examples do not interact in the stack, so a batch of known size runs
    # as up to MAX_CHAINS independent chains that TensorFlow's executor can
    # schedule side by side. On CPU each block's XLA-compiled elementwise
    # part runs on one thread; one chain would leave the other cores idle
    # through it. (Splitting along the batch axis makes no copies.)
    batch = inputs.shape[0]
    chains = min(batch or 1, self.MAX_CHAINS)
    if chains == 1:
      return self._stack(inputs)
    sizes = [batch // chains + (i < batch % chains) for i in range(chains)]
    return tf.concat([self._stack(x) for x in tf.split(inputs, sizes)], 0)

  def _stack(self, inputs):
    x = self.initial_dense(inputs)
    block_inputs = []
    for b, block in enumerate(self.blocks):
      for (src, dst), dense in self.skips.items():
        if dst == b:
          x += dense(block_inputs[src])
      block_inputs.append(x)
      # Symbolic (shape-inference) calls have no gradients to save memory on.
      if self.recompute and not isinstance(x, keras.KerasTensor):
        x = tf.recompute_grad(lambda t, block=block: block(t))(x)
      else:
        x = block(x)
    return x

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.bottleneck,)

  def get_config(self):
    return {**super().get_config(), "bottleneck": self.bottleneck,
            "conv_channels": self.conv_channels,
            "kernel_size": self.kernel_size,
            "num_dilations": self.num_dilations,
            "num_repeats": self.num_repeats,
            "skip_residuals": self.skip_residuals, "recompute": self.recompute}
