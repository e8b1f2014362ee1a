"""Batch assembly: the keys of a training batch, mixtures of mixtures (docs/losses.md).

MixIT trains on mixtures of mixtures (MoMs): `form_moms` turns a batch of B
single mixtures into B/2 MoMs, their two reference mixtures and the union of
their weak labels, inside the training step (plain TensorFlow, XLA-ready).
`supervised_moms` pairs FUSS examples with all their sources for the
supervised "MoMs" baseline.
"""

import tensorflow as tf

# Keys of the batches `MixITTrainer` trains on (`datasets.training_dataset`).
MIXTURES = "mixtures"
SOURCES = "sources"
LABELS = "labels"
SUPERVISED_MIXTURES = "supervised_mixtures"
SUPERVISED_SOURCES = "supervised_sources"

PAIRINGS = ("consecutive", "random")


def union_labels(labels_1, labels_2):
  """Weak labels of a MoM: the union (max) of the two mixtures' labels.

  Args:
    labels_1: weak labels of the first mixture `[B, K]` (bool, int or float).
    labels_2: weak labels of the second mixture `[B, K]`.

  Returns:
    `[B, K]` float32 (for soft labels, the larger of the two).
  """
  return tf.maximum(tf.cast(labels_1, tf.float32),
                    tf.cast(labels_2, tf.float32))


def _pairing_keys(batch, seed):
  """Uniform float32 `[batch]` sort keys: stateless when a seed is given."""
  if seed is None:
    return tf.random.uniform([batch])
  seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
  if seed.shape.rank == 0:
    seed = tf.stack([seed, tf.constant(0, tf.int64)])
  elif seed.shape != [2]:
    raise ValueError(f"seed must be an integer or a shape-[2] integer tensor, "
                     f"got shape {seed.shape}")
  # Philox on every device (the default algorithm depends on the device).
  # XLA's kernel still draws other numbers than TensorFlow's for one seed.
  return tf.random.stateless_uniform([batch], seed, alg="philox")


def form_moms(mixtures, labels=None, pairing="consecutive", seed=None):
  """Pairs a batch of single mixtures into mixtures of mixtures (MoMs).

  Pair i is mixtures `(2i, 2i + 1)` of the batch ('consecutive', as the
  original code), or of a uniformly random permutation of it ('random').
  Shuffled datasets already pair random clips, so 'random' matters only for
  ordered data. Plain TensorFlow; it compiles with XLA (static shapes). The
  batch size may be known only at run time (Keras' per-replica batches under
  MultiWorkerMirroredStrategy lose it): then evenness is checked at run time.

  Args:
    mixtures: `[B, T]` single mixtures, B even.
    labels: optional `[B, K]` weak labels (any numeric type).
    pairing: 'consecutive' or 'random'.
    seed: for 'random': None (stateful `tf.random`, a new permutation each
      call), or an integer / scalar integer tensor / shape-[2] integer tensor
      for stateless ops: the same seed gives the same permutation, so in a
      training step pass one that changes with the step (e.g. `[seed, step]`).
      XLA-compiled and uncompiled code give different (each deterministic)
      permutations for one seed: their random kernels differ.

  Returns:
    dict with 'mom' `[B/2, T]` (the sum of each pair), 'references'
    `[B/2, 2, T]` (the pair, in order) in the dtype of `mixtures`, and with
    labels 'labels' float32 `[B/2, K]`, the union (max) of the pair's labels.
  """
  mixtures = tf.convert_to_tensor(mixtures)
  if mixtures.shape.rank != 2:
    raise ValueError(f"mixtures must be [B, T], got shape {mixtures.shape}")
  batch = mixtures.shape[0]
  if batch is None:
    batch = tf.shape(mixtures)[0]
    with tf.control_dependencies([tf.debugging.assert_equal(
        batch % 2, 0, message="form_moms needs an even batch of mixtures")]):
      mixtures = tf.identity(mixtures)
  elif batch % 2:
    raise ValueError(f"form_moms needs an even batch of mixtures to pair, got {batch}")
  if pairing not in PAIRINGS:
    raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
  if labels is not None:
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank != 2 or labels.shape[0] != mixtures.shape[0]:
      raise ValueError(f"labels must be [B, K] like mixtures {mixtures.shape}, "
                       f"got shape {labels.shape}")

  if pairing == "random":
    order = tf.argsort(_pairing_keys(batch, seed), stable=True)
    mixtures = tf.gather(mixtures, order)
    if labels is not None:
      labels = tf.gather(labels, order)

  references = tf.reshape(mixtures, [-1, 2, tf.shape(mixtures)[1]])
  moms = {"mom": references[:, 0] + references[:, 1], "references": references}
  if labels is not None:
    pairs = tf.reshape(labels, [-1, 2, tf.shape(labels)[1]])
    moms["labels"] = union_labels(pairs[:, 0], pairs[:, 1])
  return moms


def supervised_moms(batch):
  """Pairs consecutive FUSS examples into supervised MoMs with all their sources.

  The supervised "MoMs" baseline of Table 1 trains with PIT on mixtures of
  two FUSS mixtures (2–8 sources). Example pairs `(2i, 2i + 1)` are summed
  and their source rows concatenated, the first example's rows first.

  Args:
    batch: `{'mixtures': [B, T], 'sources': [B, S, T]}`, B even and static.

  Returns:
    `{'mixtures': [B/2, T], 'sources': [B/2, 2S, T]}` (other keys dropped).
  """
  mixtures, sources = batch[MIXTURES], batch[SOURCES]
  size = mixtures.shape[0]
  if size is None or size % 2:
    raise ValueError(f"supervised MoMs need a static, even batch of FUSS examples, got {size}")
  num_sources, length = sources.shape[1], sources.shape[2]
  return {MIXTURES: mixtures[0::2] + mixtures[1::2],
          SOURCES: tf.reshape(sources, [size // 2, 2 * num_sources, length])}

