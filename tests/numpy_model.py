"""A NumPy (float64) implementation of the separation model, written from its description in docs/architecture.md#separation-model.

`separate(weights, x, ...)` takes weights keyed by their path below the model
(e.g. 'tdcn/conv_block_0/dense1/dense/kernel') and returns `[B, M, T]`.
"""

import numpy as np


def weights_of(model):
  """Model weights by path, without the model's own name prefix."""
  return {v.path.split("/", 1)[1]: np.asarray(v.numpy(), np.float64)
          for v in model.weights}


def frames(x, window, hop):
  samples = x.shape[-1]
  count = 1 + int(np.ceil(max(samples - window, 0) / hop))
  padded = np.zeros(x.shape[:-1] + (window + (count - 1) * hop,))
  padded[..., :samples] = x
  return np.stack([padded[..., f * hop:f * hop + window] for f in range(count)],
                  axis=-2)


def overlap_add(frames_, hop):
  count, window = frames_.shape[-2:]
  out = np.zeros(frames_.shape[:-2] + (window + (count - 1) * hop,))
  for f in range(count):
    out[..., f * hop:f * hop + window] += frames_[..., f, :]
  return out


def prelu(x, alpha):
  return np.maximum(x, 0) - alpha * np.maximum(-x, 0)


def instance_norm(x, gamma, beta, eps=1e-3):  # x [B, F, C], stats over F
  mean = x.mean(axis=1, keepdims=True)
  var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
  return gamma * (x - mean) / np.sqrt(var + eps) + beta


def depthwise_same(x, kernel, bias, dilation):  # x [B, F, C], kernel [K, C]
  size = kernel.shape[0]
  before = (size - 1) * dilation // 2
  out = np.zeros_like(x) + bias
  for t in range(x.shape[1]):
    for k in range(size):
      src = t + k * dilation - before
      if 0 <= src < x.shape[1]:
        out[:, t] += kernel[k] * x[:, src]
  return out


def tdcn(w, x, num_dilations, num_repeats, skips=()):
  def scaled_dense(prefix, h):
    y = h @ w[prefix + "/dense/kernel"]
    if prefix + "/dense/bias" in w:
      y = y + w[prefix + "/dense/bias"]
    return y * w[prefix + "/dense_scale/scale_layer"]

  def normact(prefix, h):
    h = prelu(h, w[prefix + "/prelu/prelu"])
    return instance_norm(h, w[prefix + "/instance_norm/gamma"],
                         w[prefix + "/instance_norm/beta"])

  h = scaled_dense("tdcn/initial_dense", x)
  inputs = []
  for b in range(num_dilations * num_repeats):
    for src, dst in skips:
      if dst == b:
        h = h + scaled_dense(f"tdcn/res_dense_{src}_to_{dst}", inputs[src])
    inputs.append(h)
    p = f"tdcn/conv_block_{b}"
    y = normact(p + "/normact1", scaled_dense(p + "/dense1", h))
    y = depthwise_same(y, w[p + "/timeconv/depthwise_kernel"],
                       w[p + "/timeconv/bias"], 2 ** (b % num_dilations))
    y = normact(p + "/normact2", y)
    h = h + scaled_dense(p + "/dense2", y)
  return h


def separate(w, x, num_sources, num_dilations, num_repeats, skips=(),
             consistency="predicted", window=40, hop=20):
  x = np.asarray(x, np.float64)
  coeffs = np.maximum(frames(x, window, hop) @ w["conv_encoder/dense/kernel"], 0)
  feats = tdcn(w, coeffs, num_dilations, num_repeats, skips)
  basis = coeffs.shape[-1]
  logits = feats @ w["mask_dense/kernel"]  # [B, F, M·basis], (source, basis)
  logits = logits.reshape(logits.shape[:2] + (num_sources, basis))
  masks = 1 / (1 + np.exp(-logits.transpose(0, 2, 1, 3)))
  decoded = overlap_add((masks * coeffs[:, None]) @ w["conv_decoder/dense/kernel"],
                        hop)[..., :x.shape[-1]]
  if consistency is None:
    return decoded
  if consistency == "predicted":
    z = feats.mean(axis=1) @ w["mixture_consistency/mix_weights/kernel"]
    z = np.exp(z - z.max(-1, keepdims=True))
    weights = z / z.sum(-1, keepdims=True)
  elif consistency == "uniform":
    weights = np.full(decoded.shape[:2], 1.0 / num_sources)
  else:
    power = (decoded ** 2).mean(-1) + 1e-8
    weights = power / power.sum(-1, keepdims=True)
  return decoded + weights[..., None] * (x - decoded.sum(1))[:, None]
