"""One TDCN++ block as a single differentiable function with a hand-written gradient.

The block `x -> x + dense2(normact2(timeconv(normact1(dense1(x)))))` written
layer by layer and differentiated by TensorFlow costs, at the paper's size,
several times the step's matrix products: each elementwise operation is its
own pass over a `[B, F, 512]` tensor, the gradient of every slice of the
time convolution scatters into a zero tensor of the padded shape, and the
tape keeps a dozen such tensors alive per block for the backward pass.

Here the same arithmetic is arranged as:

- the two dense layers as matrix products with the learnable scalar folded
  into the kernel, `(x W) s = x (W s)` (one pass fewer over the activations
  each way);
- everything between the two products (PReLU, instance norm, the depthwise
  dilated convolution, PReLU, instance norm) as one function
  (`_middle_forward`), compiled with XLA inside a `tf.function` so that its
  elementwise work and its statistics take a few passes;
- a gradient that keeps only the block input, the first product `h` and
  the convolution output `c` (plus `[B, 1, C]` statistics) and recomputes
  the normalised activations from them, again in one XLA function
  (`_middle_backward`), with the instance-norm and convolution gradients in
  closed form.

The result equals the layer-by-layer block up to float rounding; a test
compares values and gradients.
"""

import contextlib
import threading

import tensorflow as tf

_override = threading.local()


@contextlib.contextmanager
def xla_middles(enabled):
  """Within the context, blocks traced on this thread use XLA or not, whatever the mode.

  By default the middles are XLA-compiled inside a `tf.function`, one
  program per input shape, compiled at first run. A graph that serves inputs
  of any length (a SavedModel, `separate` on files of many lengths) would
  compile again for every new length, and a graph converted to TFLite cannot
  hold XLA calls: trace those with `xla_middles(False)`.
  """
  previous = getattr(_override, "enabled", None)
  _override.enabled = bool(enabled)
  try:
    yield
  finally:
    _override.enabled = previous


def _prelu(x, alpha):
  # relu(x) − α·relu(−x), one select instead of four passes.
  return tf.where(x > 0, x, alpha * x)


def _norm_stats(y, epsilon):
  """Mean and 1/sqrt(var + ε) over frames (axis 1), `[B, 1, C]` each."""
  mean = tf.reduce_mean(y, axis=1, keepdims=True)
  # Centred second moment (not E[y²] − mean²): no cancellation when the mean
  # is large next to the spread, and XLA fuses the extra read into no write.
  variance = tf.reduce_mean(tf.math.squared_difference(y, mean), axis=1,
                            keepdims=True)
  return mean, tf.math.rsqrt(variance + epsilon)


def _shifted(x, dilation, kernel_size):
  """The K taps of a "same" dilated convolution: `x` shifted by `k·d − before`."""
  total = (kernel_size - 1) * dilation
  before = total // 2
  padded = tf.pad(x, [[0, 0], [before, total - before], [0, 0]])
  frames = tf.shape(x)[1]
  return [padded[:, k * dilation:k * dilation + frames]
          for k in range(kernel_size)]


def _depthwise(x, kernel, bias, dilation, kernel_size):
  taps = _shifted(x, dilation, kernel_size)
  out = bias + taps[0] * kernel[0]
  for k in range(1, len(taps)):
    out += taps[k] * kernel[k]
  return out


def _middle_forward(h, params, conv_size, epsilons, out_dtype):
  """h `[B, F, C]` -> (a2, c, stats): normact1, timeconv, normact2.

  `conv_size` is `(kernel_size, dilation)`, static: with `reduce_retracing`
  the traced shapes may be unknown, so the kernel's length is not read from
  its shape.
  """
  kernel_size, dilation = conv_size
  alpha1, gamma1, beta1, kernel, bias, alpha2, gamma2, beta2 = params
  y1 = _prelu(tf.cast(h, tf.float32), alpha1)
  mean1, rstd1 = _norm_stats(y1, epsilons[0])
  a1 = (y1 - mean1) * (gamma1 * rstd1) + beta1
  # The convolution output is kept for the gradient in the compute dtype, as
  # the layer-by-layer block rounds it; normact2 reads that rounded value so
  # that the gradient's recomputation sees exactly the forward's input.
  c = tf.cast(_depthwise(a1, kernel, bias, dilation, kernel_size), out_dtype)
  y2 = _prelu(tf.cast(c, tf.float32), alpha2)
  mean2, rstd2 = _norm_stats(y2, epsilons[1])
  a2 = (y2 - mean2) * (gamma2 * rstd2) + beta2
  return tf.cast(a2, out_dtype), c, (mean1, rstd1, mean2, rstd2)


def _normact_grad(x, mean, rstd, alpha, gamma, beta, grad):
  """Gradient of `instance_norm(prelu(x))` and its recomputed output.

  With `y = prelu(x)`, `x̂ = (y − mean)·rstd`, `out = γ·x̂ + β` and `g` the
  output gradient, the input gradient of the norm is
  `γ·rstd·(g − mean_F g − x̂·mean_F(g·x̂))` (the statistics' own gradients
  included), then the PReLU's slope.

  Returns:
    (out, dx, dalpha, dgamma, dbeta); the scalar gradients have shape [1].
  """
  positive = x > 0
  y = tf.where(positive, x, alpha * x)
  normalized = (y - mean) * rstd
  sum_g = tf.reduce_sum(grad, axis=1, keepdims=True)
  sum_gn = tf.reduce_sum(grad * normalized, axis=1, keepdims=True)
  frames = tf.cast(tf.shape(x)[1], tf.float32)
  dy = (gamma * rstd) * (grad - (sum_g + normalized * sum_gn) / frames)
  dx = tf.where(positive, dy, alpha * dy)
  dalpha = tf.reduce_sum(tf.where(positive, tf.zeros_like(x), dy * x))
  out = gamma * normalized + beta
  return (out, dx, tf.reshape(dalpha, [1]), tf.reshape(tf.reduce_sum(sum_gn), [1]),
          tf.reshape(tf.reduce_sum(sum_g), [1]))


def _middle_backward(h, c, stats, params, grad_a2, conv_size, out_dtype):
  """Gradients of `_middle_forward`, and its output a2 recomputed.

  Returns:
    (a2, dh, [dalpha1, dgamma1, dbeta1, dkernel, dbias, dalpha2, dgamma2,
    dbeta2]).
  """
  alpha1, gamma1, beta1, kernel, _, alpha2, gamma2, beta2 = params
  mean1, rstd1, mean2, rstd2 = stats
  kernel_size, dilation = conv_size
  a2, dc, dalpha2, dgamma2, dbeta2 = _normact_grad(
      tf.cast(c, tf.float32), mean2, rstd2, alpha2, gamma2, beta2,
      tf.cast(grad_a2, tf.float32))
  h = tf.cast(h, tf.float32)
  y1 = _prelu(h, alpha1)
  a1 = (y1 - mean1) * (gamma1 * rstd1) + beta1
  # c[t] = bias + Σ_k w_k·a1[t + k·d − before]: the kernel gradient pairs dc
  # with the same taps, and the input gradient is the convolution of dc
  # with the reversed kernel and mirrored padding.
  taps = _shifted(a1, dilation, kernel_size)
  dkernel = tf.stack([tf.reduce_sum(dc * tap, axis=[0, 1]) for tap in taps])
  dbias = tf.reduce_sum(dc, axis=[0, 1])
  total = (kernel_size - 1) * dilation
  before = total // 2
  padded = tf.pad(dc, [[0, 0], [total - before, before], [0, 0]])
  frames = tf.shape(dc)[1]
  da1 = padded[:, (kernel_size - 1) * dilation:
               (kernel_size - 1) * dilation + frames] * kernel[0]
  for k in range(1, kernel_size):
    start = (kernel_size - 1 - k) * dilation
    da1 += padded[:, start:start + frames] * kernel[k]
  _, dh, dalpha1, dgamma1, dbeta1 = _normact_grad(
      h, mean1, rstd1, alpha1, gamma1, beta1, da1)
  return (tf.cast(a2, out_dtype), tf.cast(dh, out_dtype),
          [dalpha1, dgamma1, dbeta1, dkernel, dbias, dalpha2, dgamma2, dbeta2])


# XLA fuses each of these into a handful of loops. One compiled program per
# dilation and input shape (retraced with unknown frames, compiled per
# concrete shape at run time); `reduce_retracing` keeps lengths from
# multiplying traces.
_middle_forward_xla = tf.function(_middle_forward, jit_compile=True,
                                  reduce_retracing=True)
_middle_backward_xla = tf.function(_middle_backward, jit_compile=True,
                                   reduce_retracing=True)


def _matmul(x, kernel):
  """`[B, F, Cin] @ [Cin, Cout]` as one 2-D product."""
  shape = tf.shape(x)
  out = tf.matmul(tf.reshape(x, [-1, kernel.shape[0]]), kernel)
  return tf.reshape(out, tf.concat([shape[:-1], [kernel.shape[-1]]], 0))


def _kernel_grad(x, grad):
  """`xᵀ·grad` summed over batch and frames: `[Cin, Cout]`."""
  return tf.matmul(tf.reshape(x, [-1, tf.shape(x)[-1]]),
                   tf.reshape(grad, [-1, tf.shape(grad)[-1]]), transpose_a=True)


def tdcn_block(x, weights, kernel_size, dilation, epsilons, use_xla=None):
  """The TDCN++ block on `x [B, F, bottleneck]`, differentiable in all inputs.

  Args:
    x: block input, in the compute dtype.
    weights: `(kernel1, scale1, alpha1, gamma1, beta1, depthwise_kernel,
      bias, alpha2, gamma2, beta2, kernel2, scale2)`: the dense kernels in the
      compute dtype, the rest float32 (`depthwise_kernel` `[K, C]`, `bias`
      `[C]`, scalars `[1]`).
    kernel_size, dilation: the convolution's (static).
    epsilons: the two instance norms' ε (static).
    use_xla: compile the elementwise middle and its gradient with XLA. By
      default as set by `xla_middles`, else only inside a `tf.function`:
      eagerly every new input shape would compile its own programs, which
      costs more than it saves on the short inputs of interactive use and
      tests.

  Returns:
    `[B, F, bottleneck]` in the dtype of `x`.
  """
  if use_xla is None:
    use_xla = getattr(_override, "enabled", None)
  if use_xla is None:
    use_xla = not tf.executing_eagerly()
  forward_middle = _middle_forward_xla if use_xla else _middle_forward
  backward_middle = _middle_backward_xla if use_xla else _middle_backward
  dtype = x.dtype

  @tf.custom_gradient
  def block(x, kernel1, scale1, alpha1, gamma1, beta1, depthwise_kernel, bias,
            alpha2, gamma2, beta2, kernel2, scale2):
    params = (alpha1, gamma1, beta1, depthwise_kernel, bias, alpha2, gamma2,
              beta2)
    w1 = kernel1 * tf.cast(scale1, dtype)
    w2 = kernel2 * tf.cast(scale2, dtype)
    h = _matmul(x, w1)
    conv_size = (kernel_size, dilation)
    a2, c, stats = forward_middle(h, params, conv_size, tuple(epsilons), dtype)
    out = x + _matmul(a2, w2)

    def grad(dout):
      dout = tf.cast(dout, dtype)
      da2 = _matmul(dout, tf.transpose(w2))
      a2, dh, dparams = backward_middle(h, c, stats, params, da2, conv_size,
                                        dtype)
      dw2 = _kernel_grad(a2, dout)
      dw1 = _kernel_grad(x, dh)
      dx = dout + _matmul(dh, tf.transpose(w1))
      # (x W) s: the kernel's gradient is s·xᵀg, the scalar's Σ W ⊙ xᵀg.
      return (dx, dw1 * tf.cast(scale1, dtype), _scalar_grad(dw1, kernel1),
              *dparams, dw2 * tf.cast(scale2, dtype),
              _scalar_grad(dw2, kernel2))

    return out, grad

  return block(x, *weights)


def _scalar_grad(kernel_grad, kernel):
  return tf.reshape(tf.reduce_sum(tf.cast(kernel_grad, tf.float32)
                                  * tf.cast(kernel, tf.float32)), [1])
