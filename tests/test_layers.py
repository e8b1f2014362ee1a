import numpy as np
import pytest
import tensorflow as tf

import numpy_model as ref
from sound_separation import layers


def _randomize(layer, seed=0):
  rng = np.random.default_rng(seed)
  for v in layer.weights:
    v.assign(rng.uniform(-0.5, 0.5, v.shape).astype(np.float32))


@pytest.mark.parametrize("samples", [1, 19, 20, 21, 40, 41, 59, 60, 61, 333])
def test_encoder_frames_like_the_original(samples):
  enc = layers.LearnedEncoder(num_basis=6)
  x = np.random.default_rng(samples).standard_normal((2, samples)).astype(np.float32)
  out = enc(x).numpy()
  kernel = enc.weights[0].numpy()
  expected = np.maximum(ref.frames(x, 40, 20) @ kernel, 0)
  assert out.shape == (2, 1 + max(0, -(-(samples - 40) // 20)), 6)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
  assert enc.compute_output_shape((2, samples)) == out.shape


def test_decoder_overlap_adds_and_crops():
  dec = layers.LearnedDecoder()
  coeffs = np.random.default_rng(1).standard_normal((2, 3, 7, 5)).astype(np.float32)
  full = dec(coeffs).numpy()
  expected = ref.overlap_add(coeffs @ dec.weights[0].numpy(), 20)
  assert full.shape == (2, 3, 40 + 6 * 20)
  np.testing.assert_allclose(full, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dec(coeffs, num_samples=150).numpy(),
                             expected[..., :150], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel_size,dilation", [(3, 1), (3, 2), (3, 8), (4, 3),
                                                  (1, 1), (5, 16)])
def test_depthwise_time_conv_is_same_padded_dilated_conv(kernel_size, dilation):
  conv = layers.DepthwiseTimeConv(kernel_size, dilation)
  x = np.random.default_rng(2).standard_normal((2, 11, 4)).astype(np.float32)
  conv.build(x.shape)
  _randomize(conv)
  expected = ref.depthwise_same(x.astype(np.float64), conv.depthwise_kernel.numpy(),
                                conv.bias.numpy(), dilation)
  np.testing.assert_allclose(conv(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_depthwise_time_conv_matches_tensorflow_depthwise_conv():
  conv = layers.DepthwiseTimeConv(3, 4)
  x = np.random.default_rng(3).standard_normal((2, 30, 5)).astype(np.float32)
  conv.build(x.shape)
  _randomize(conv)
  kernel = conv.depthwise_kernel.numpy()[:, None, :, None]  # [K, 1, C, 1]
  expected = tf.nn.depthwise_conv2d(x[:, :, None, :], kernel, [1, 1, 1, 1], "SAME",
                                    dilations=[4, 1])[:, :, 0] + conv.bias
  np.testing.assert_allclose(conv(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_depthwise_kernel_init_uses_the_original_fans():
  conv = layers.DepthwiseTimeConv(3, 1)
  conv.build((1, 5, 512))
  limit = np.sqrt(6.0 / (3 * 513))
  kernel = conv.depthwise_kernel.numpy()
  assert np.abs(kernel).max() <= limit
  assert np.abs(kernel).max() > 0.9 * limit


def test_instance_norm_normalizes_over_time_only():
  norm = layers.TimeInstanceNorm()
  x = np.random.default_rng(4).standard_normal((2, 9, 3)).astype(np.float32) * 5 + 2
  norm.build(x.shape)
  norm.gamma.assign([1.5])
  norm.beta.assign([-0.25])
  expected = ref.instance_norm(x.astype(np.float64), 1.5, -0.25)
  np.testing.assert_allclose(norm(x).numpy(), expected, rtol=1e-5, atol=1e-5)
  assert [w.shape for w in norm.weights] == [(1,), (1,)]


def test_scalar_prelu_and_scale():
  x = np.linspace(-2, 2, 9, dtype=np.float32)[None, None]
  prelu = layers.ScalarPReLU()
  np.testing.assert_allclose(prelu(x).numpy(), ref.prelu(x, 0.1), rtol=1e-6)
  scale = layers.ScalarScale(0.9 ** 3)
  np.testing.assert_allclose(scale(x).numpy(), x * 0.729, rtol=1e-6)


@pytest.mark.parametrize("skip_residuals", [False, True])
def test_tdcn_matches_numpy_reference(skip_residuals):
  net = layers.TDCNPlusPlus(bottleneck=8, conv_channels=12, num_dilations=3,
                            num_repeats=3, skip_residuals=skip_residuals,
                            name="tdcn")
  x = np.random.default_rng(5).standard_normal((2, 13, 6)).astype(np.float32)
  net.build(x.shape)
  _randomize(net, seed=6)
  weights = {v.path: v.numpy().astype(np.float64) for v in net.weights}
  skips = ([(0, 3), (0, 6), (3, 6)] if skip_residuals else [])
  expected = ref.tdcn(weights, x.astype(np.float64), 3, 3, skips)
  np.testing.assert_allclose(net(x).numpy(), expected, rtol=1e-4, atol=1e-4)
  assert len(net.blocks) == 9
  assert [b.dilation for b in net.blocks] == [1, 2, 4] * 3


@pytest.mark.parametrize("kernel_size,dilation", [(3, 1), (3, 4), (4, 3), (1, 1),
                                                  (3, 16)])
@pytest.mark.parametrize("in_function", [False, True])
def test_block_gradients_equal_those_of_the_layer_sequence(kernel_size, dilation,
                                                           in_function):
  # TDCNBlock.call has a hand-written gradient (XLA-compiled in a
  # tf.function, plain ops eagerly); layerwise_call is the same block built
  # from its sub-layers and differentiated by TensorFlow. Dilation 16 > 13
  # frames leaves only the centre tap.
  block = layers.TDCNBlock(bottleneck=8, conv_channels=12, kernel_size=kernel_size,
                           dilation=dilation)
  x = tf.constant(np.random.default_rng(8).standard_normal((2, 13, 8)), tf.float32)
  block.build(x.shape)
  _randomize(block, seed=9)

  def value_and_grads(fn):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = fn(x)
      loss = tf.reduce_sum(y * tf.cos(y))  # A non-uniform output gradient.
    return y, tape.gradient(loss, [x] + block.trainable_variables)

  fused = tf.function(value_and_grads) if in_function else value_and_grads
  y, grads = fused(block)
  y_ref, grads_ref = value_and_grads(block.layerwise_call)
  np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-5, atol=1e-5)
  names = ["input"] + [v.path for v in block.trainable_variables]
  for name, g, g_ref in zip(names, grads, grads_ref):
    scale = np.abs(g_ref.numpy()).max()
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-4,
                               atol=1e-4 * scale + 1e-6, err_msg=name)


def test_tdcn_initial_values_follow_the_original():
  net = layers.TDCNPlusPlus(bottleneck=4, conv_channels=6, num_dilations=2,
                            num_repeats=2)
  net.build((1, 5, 3))
  scales = {v.path.split("/", 1)[1]: float(v.numpy()[0]) for v in net.weights
            if v.path.endswith("dense2/dense_scale/scale_layer")}
  for b in range(4):
    assert scales[f"conv_block_{b}/dense2/dense_scale/scale_layer"] == pytest.approx(0.9 ** b)
  alphas = [v.numpy()[0] for v in net.weights if v.path.endswith("prelu/prelu")]
  np.testing.assert_allclose(alphas, 0.1)
  biases = [v.numpy() for v in net.weights if v.path.endswith("bias")]
  assert all(np.all(b == 0) for b in biases)


@pytest.mark.parametrize("weighting", ["predicted", "uniform", "magsq"])
def test_mixture_consistency_sums_to_mixture(weighting):
  rng = np.random.default_rng(7)
  mixture = rng.standard_normal((3, 500)).astype(np.float32)
  separated = rng.standard_normal((3, 4, 500)).astype(np.float32) * [[[0.1], [1], [3], [0]]]
  separated = separated.astype(np.float32)
  features = rng.standard_normal((3, 20, 8)).astype(np.float32)
  layer = layers.MixtureConsistency(weighting, num_sources=4)
  out = layer(mixture, separated, features).numpy()
  rel = np.abs(out.sum(1) - mixture).max() / np.abs(mixture).max()
  assert rel <= 1e-5
  if weighting == "uniform":
    expected_w = np.full((3, 4), 0.25)
  elif weighting == "magsq":
    power = (separated.astype(np.float64) ** 2).mean(-1) + 1e-8
    expected_w = power / power.sum(-1, keepdims=True)
  else:
    z = features.mean(1) @ layer.mix_weights.kernel.numpy()
    expected_w = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
  expected = separated + expected_w[..., None] * (mixture - separated.sum(1))[:, None]
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_mixture_consistency_errors():
  with pytest.raises(ValueError, match="Unknown mixture consistency weighting 'l2'"):
    layers.MixtureConsistency("l2")
  with pytest.raises(ValueError, match="needs num_sources"):
    layers.MixtureConsistency("predicted")
  layer = layers.MixtureConsistency("predicted", num_sources=2)
  with pytest.raises(ValueError, match="features"):
    layer(np.zeros((1, 5), np.float32), np.zeros((1, 2, 5), np.float32))
