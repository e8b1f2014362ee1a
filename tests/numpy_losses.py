"""Independent NumPy (float64) formulas of docs/losses.md#thresholded-snr and a MixIT brute force."""

import itertools

import numpy as np

EPS = 1e-8


def energy(x):
  return np.sum(np.asarray(x, np.float64) ** 2, axis=-1)


def thresholded_log_mse(y, yhat, max_snr_db=30.0):
  tau = 10 ** (-max_snr_db / 10)
  return 10 * np.log10(energy(y - yhat) + tau * energy(y) + EPS)


def negative_thresholded_snr(y, yhat, max_snr_db=30.0):
  return thresholded_log_mse(y, yhat, max_snr_db) - 10 * np.log10(energy(y) + EPS)


def negative_si_snr(y, yhat, zero_mean=False):
  y, yhat = np.asarray(y, np.float64), np.asarray(yhat, np.float64)
  if zero_mean:
    y = y - y.mean(-1, keepdims=True)
    yhat = yhat - yhat.mean(-1, keepdims=True)
  alpha = np.sum(y * yhat, -1) / (energy(y) + EPS)
  target = alpha[..., None] * y
  return -10 * np.log10((energy(target) + EPS) / (energy(target - yhat) + EPS))


def all_mixing_matrices(num_refs, num_outputs):
  """Every binary [N, M] matrix with one 1 per column, as [N^M, N, M]."""
  mats = []
  for assignment in itertools.product(range(num_refs), repeat=num_outputs):
    a = np.zeros((num_refs, num_outputs))
    a[list(assignment), np.arange(num_outputs)] = 1
    mats.append(a)
  return np.stack(mats)


def mixit_brute_force(x, s, loss=thresholded_log_mse):
  """Exact MixIT by enumeration: x [B, N, T], s [B, M, T] -> (loss [B], A [B, N, M])."""
  mats = all_mixing_matrices(x.shape[1], s.shape[1])
  remix = np.einsum("knm,bmt->bknt", mats, np.asarray(s, np.float64))
  losses = loss(np.asarray(x, np.float64)[:, None], remix).mean(-1)  # [B, K]
  best = np.argmin(losses, axis=1)
  return losses[np.arange(len(best)), best], mats[best], losses
