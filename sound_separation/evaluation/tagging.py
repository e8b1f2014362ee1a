"""Multi-label tagging metrics (average precision and ROC AUC per class), and a classifier's.

The classifier's validation metrics (docs/architecture.md#classifier), as AudioSet tagging reports
them: mAP, the mean over classes of the average precision, and the mean over
classes of the area under the ROC curve. Ties in the scores are handled as
one threshold (the definitions of scikit-learn's `average_precision_score`
and `roc_auc_score`). Shapes: labels and scores `[N, K]` (N clips, K
classes); labels are binary (anything > 0.5 is positive). The metrics are
NumPy; `evaluate_tagging` runs a classifier over a labelled dataset and
scores it (the classifier's validation, `training.callbacks.TaggingValidation`).
"""

import numpy as np
import scipy.special
import tensorflow as tf

from sound_separation.data import batches


def average_precision(labels, scores):
  """Average precision of one class: `Σ_n (R_n − R_{n−1}) P_n` over thresholds.

  Thresholds are the distinct scores, from the highest; `P_n` and `R_n` are
  the precision and recall of predicting "positive" for scores >= the n-th
  threshold. Equivalently, the mean over positives of the precision at that
  positive's score.

  Args:
    labels: `[N]` binary.
    scores: `[N]` real.

  Returns:
    float in [0, 1], or NaN when there is no positive.
  """
  labels = np.asarray(labels) > 0.5
  scores = np.asarray(scores, np.float64)
  num_positive = labels.sum()
  if num_positive == 0:
    return float("nan")
  order = np.argsort(-scores, kind="stable")
  scores, labels = scores[order], labels[order]
  # The last index of each run of equal scores closes a threshold.
  last = np.r_[np.flatnonzero(np.diff(scores) != 0), scores.size - 1]
  true_positives = np.cumsum(labels)[last]
  predicted = last + 1
  recall = true_positives / num_positive
  precision = true_positives / predicted
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(labels, scores):
  """Area under the ROC curve of one class (ties count one half).

  The probability that a random positive scores above a random negative
  (Mann–Whitney U / (P·N)), from the ranks of the scores with ties averaged.

  Args:
    labels: `[N]` binary.
    scores: `[N]` real.

  Returns:
    float in [0, 1], or NaN without both a positive and a negative.
  """
  labels = np.asarray(labels) > 0.5
  scores = np.asarray(scores, np.float64)
  num_positive = int(labels.sum())
  num_negative = labels.size - num_positive
  if num_positive == 0 or num_negative == 0:
    return float("nan")
  order = np.argsort(scores, kind="stable")
  sorted_scores = scores[order]
  ranks = np.empty(scores.size, np.float64)
  # Average 1-based rank of every run of ties.
  starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores) != 0) + 1]
  ends = np.r_[starts[1:], scores.size]
  for start, end in zip(starts, ends):
    ranks[order[start:end]] = 0.5 * (start + 1 + end)
  u = ranks[labels].sum() - num_positive * (num_positive + 1) / 2
  return float(u / (num_positive * num_negative))


def d_prime(auc):
  """Sensitivity index d' = √2·Φ⁻¹(AUC) (AudioSet's convention); NaN for NaN."""
  auc = float(auc)
  if not np.isfinite(auc):
    return float("nan")
  auc = min(max(auc, 1e-12), 1.0 - 1e-12)
  return float(np.sqrt(2.0) * scipy.special.ndtri(auc))


def tagging_metrics(labels, scores, class_names=None):
  """mAP and mean AUC over the classes of a labelled set.

  Classes with no positive (AP) or without both a positive and a negative
  (AUC) have NaN entries and are left out of the means.

  Args:
    labels: `[N, K]` binary.
    scores: `[N, K]` real (posteriors or logits: only their order counts).
    class_names: optional K names for `per_class`.

  Returns:
    `{'map': float, 'mean_auc': float, 'd_prime': d' of the mean AUC,
    'num_classes_scored': int,
    'average_precision': [K] array, 'auc': [K] array,
    'per_class': {name: {'ap': ..., 'auc': ..., 'positives': int}}}`
    (`per_class` only with `class_names`). The means are NaN if no class
    could be scored.
  """
  labels = np.asarray(labels)
  scores = np.asarray(scores)
  if labels.shape != scores.shape or labels.ndim != 2:
    raise ValueError(f"labels and scores must both be [N, K], got {labels.shape} and "
                     f"{scores.shape}.")
  num_classes = labels.shape[1]
  ap = np.array([average_precision(labels[:, k], scores[:, k]) for k in range(num_classes)])
  auc = np.array([roc_auc(labels[:, k], scores[:, k]) for k in range(num_classes)])
  result = {
      "map": float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan"),
      "mean_auc": float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan"),
      "d_prime": d_prime(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan"),
      "num_classes_scored": int(np.isfinite(ap).sum()),
      "average_precision": ap, "auc": auc}
  if class_names is not None:
    if len(class_names) != num_classes:
      raise ValueError(f"{len(class_names)} class names for {num_classes} classes.")
    positives = (labels > 0.5).sum(axis=0)
    result["per_class"] = {name: {"ap": float(ap[k]), "auc": float(auc[k]),
                                  "positives": int(positives[k])}
                           for k, name in enumerate(class_names)}
  return result


def predict_tagging(classifier, dataset):
  """Posteriors and labels of a finite labelled dataset, in inference mode.

  Returns:
    `(labels [N, K], posteriors [N, K])` float32 NumPy arrays.
  """
  predict = tf.function(lambda x: tf.sigmoid(classifier(x, training=False)))
  labels, posteriors = [], []
  for batch in dataset:
    labels.append(batch[batches.LABELS].numpy())
    posteriors.append(predict(batch[batches.MIXTURES]).numpy())
  if not labels:
    raise ValueError("the tagging dataset is empty.")
  return np.concatenate(labels), np.concatenate(posteriors)


def evaluate_tagging(classifier, dataset, class_names=None):
  """`tagging_metrics` of the classifier on a labelled dataset, plus `loss`.

  `loss` is the mean multi-label BCE (nats per class) of the posteriors.
  """
  labels, posteriors = predict_tagging(classifier, dataset)
  result = tagging_metrics(labels, posteriors, class_names)
  p = np.clip(posteriors.astype(np.float64), 1e-7, 1 - 1e-7)
  result["loss"] = float(-np.mean(labels * np.log(p) + (1 - labels) * np.log1p(-p)))
  result["num_clips"] = int(labels.shape[0])
  return result
