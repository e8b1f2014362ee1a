"""Trains a tiny `MixITTrainer` for a few steps, on one device or distributed.

Run by `tests/test_trainer.py` in subprocesses, so that the logical CPU
devices and the multi-worker runtime are set up before TensorFlow starts and
stay out of the pytest process.

  python distributed_equivalence.py mirrored OUT_DIR [sgd|adam]
      Splits the CPU into 2 logical devices, trains (a) with the default
      strategy (one device) and (b) under `MirroredStrategy` on the 2 logical
      CPUs, from the same initial weights on the same global batch. Writes
      OUT_DIR/mirrored.json (max abs difference of the final weights, size of
      the update, per-step losses) and the single-device weights to
      OUT_DIR/single.npz.
  python distributed_equivalence.py mirrored-nan OUT_DIR
      As `mirrored` with SGD, but the second step's batch has a NaN in one
      mixture of the second replica's share: every replica must skip that
      step. Also trains one device on the first and third batches only.
      Writes OUT_DIR/mirrored_nan.json.
  python distributed_equivalence.py worker OUT_DIR [sgd|adam]
      One worker of a `MultiWorkerMirroredStrategy` (TF_CONFIG in the
      environment); the chief writes its final weights to
      OUT_DIR/multi_worker.npz.

The global batch has 8 single mixtures (4 MoMs) and 8 supervised examples,
so with 2 replicas each gets 2 MoMs and 4 supervised examples. Every loss
term has a non-zero weight. XLA is off in both runs (Keras disables it under
`MirroredStrategy` on CPU, and XLA's rounding differs from TensorFlow's).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

GLOBAL_BATCH = 8
SAMPLES = 1600  # 0.1 s at 16 kHz
NUM_SOURCES = 4
NUM_REFERENCES = 3  # supervised sources per example
STEPS = 3


def make_trainer():
  """The tiny trainer with fixed initial weights (same in every process)."""
  from sound_separation.layers.tdcn import TDCNPlusPlus
  from sound_separation.models import SeparationModel
  from sound_separation.training import MixITTrainer
  from sound_separation.training import loss_terms

  tdcn = TDCNPlusPlus(bottleneck=8, conv_channels=12, num_dilations=2,
                      num_repeats=1, name="tdcn")
  separator = SeparationModel(num_sources=NUM_SOURCES, num_basis=16, tdcn=tdcn)
  trainer = MixITTrainer(separator, loss_terms=[
      loss_terms.MixIT(), loss_terms.Sparsity(0.1), loss_terms.Covariance(0.1),
      loss_terms.PIT(0.5)])
  # Initial weights from NumPy rather than Keras' seeded initializers: the
  # same numbers whatever the strategy and the order variables are made in.
  rng = np.random.default_rng(0)
  for v in separator.trainable_variables:
    v.assign(rng.uniform(-0.3, 0.3, v.shape).astype(np.float32))
  return trainer


def make_batch():
  """The global batch, identical in every process."""
  rng = np.random.default_rng(1)
  sources = rng.standard_normal(
      (GLOBAL_BATCH, NUM_REFERENCES, SAMPLES)).astype(np.float32)
  sources[:, -1, :] *= 0.0  # A silent reference, as in FUSS.
  return {
      "mixtures": rng.standard_normal((GLOBAL_BATCH, SAMPLES)).astype(
          np.float32),
      "supervised_mixtures": sources.sum(axis=1),
      "supervised_sources": sources,
  }


def make_optimizer(name):
  import keras
  if name == "sgd":
    return keras.optimizers.SGD(learning_rate=0.01)
  if name == "adam":
    return keras.optimizers.Adam(learning_rate=1e-3)
  raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}.")


def train(strategy=None, optimizer="sgd", nan_step=None, omit_step=None, skipped=None):
  """Trains STEPS steps on the global batch; returns (weights, losses).

  With `strategy`, the trainer is made and compiled in its scope, and
  `fit` splits each global batch of 8 between the replicas.
  The losses are the running means of the total loss after each step.
  `nan_step`: that step's batch has a NaN in mixture 5 (the second replica's
  share); `omit_step`: that step's batch is left out; `skipped`: a list that
  receives the `skipped_steps` metric after each step.
  """
  import keras
  import tensorflow as tf

  batches = []
  for step in range(STEPS):
    batch = make_batch()
    if step == nan_step:
      batch["mixtures"][5, :10] = np.nan
    if step != omit_step:
      batches.append(batch)
  dataset = tf.data.Dataset.from_tensor_slices(
      {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}).batch(
          GLOBAL_BATCH, drop_remainder=True)
  scope = strategy.scope() if strategy is not None else _null_scope()
  with scope:
    trainer = make_trainer()
    trainer.compile(optimizer=make_optimizer(optimizer), jit_compile=False)
  losses = []

  def on_batch_end(batch, logs):
    losses.append(float(logs["loss"]))
    if skipped is not None:
      skipped.append(float(logs["skipped_steps"]))
  record = keras.callbacks.LambdaCallback(on_train_batch_end=on_batch_end)
  # `fit` splits each global batch between the replicas (`train_on_batch`
  # would give every replica the whole batch).
  trainer.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[record])
  weights = [np.array(v.numpy()) for v in trainer.separator.trainable_variables]
  return weights, losses


class _null_scope:

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False


def max_abs_diff(weights_a, weights_b):
  return max(float(np.max(np.abs(a - b))) for a, b in zip(weights_a, weights_b))


def _two_logical_cpus():
  """Splits the CPU into 2 logical devices (before TensorFlow uses it); their names."""
  import tensorflow as tf

  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  return [d.name for d in tf.config.list_logical_devices("CPU")]


def run_mirrored(out_dir, optimizer):
  import tensorflow as tf

  devices = _two_logical_cpus()
  single, single_losses = train(None, optimizer)
  strategy = tf.distribute.MirroredStrategy(devices)
  mirrored, mirrored_losses = train(strategy, optimizer)
  initial = [v.numpy() for v in make_trainer().separator.trainable_variables]
  np.savez(os.path.join(out_dir, "single.npz"), *single,
           losses=np.array(single_losses))
  result = {
      "num_replicas": strategy.num_replicas_in_sync,
      "max_abs_weight_diff": max_abs_diff(single, mirrored),
      "max_abs_update": max_abs_diff(single, initial),
      "single_losses": single_losses,
      "mirrored_losses": mirrored_losses,
  }
  with open(os.path.join(out_dir, "mirrored.json"), "w") as f:
    json.dump(result, f)


def run_mirrored_nan(out_dir):
  import tensorflow as tf

  devices = _two_logical_cpus()
  single_skipped, mirrored_skipped = [], []
  single, _ = train(None, "sgd", nan_step=1, skipped=single_skipped)
  strategy = tf.distribute.MirroredStrategy(devices)
  mirrored, _ = train(strategy, "sgd", nan_step=1, skipped=mirrored_skipped)
  without, _ = train(None, "sgd", omit_step=1)
  result = {
      "finite": bool(all(np.all(np.isfinite(w)) for w in mirrored)),
      "mirrored_vs_single": max_abs_diff(single, mirrored),
      "single_vs_without_the_batch": max_abs_diff(single, without),
      "single_skipped": single_skipped,
      "mirrored_skipped": mirrored_skipped,
  }
  with open(os.path.join(out_dir, "mirrored_nan.json"), "w") as f:
    json.dump(result, f)


def run_worker(out_dir, optimizer):
  import tensorflow as tf

  strategy = tf.distribute.MultiWorkerMirroredStrategy()
  weights, losses = train(strategy, optimizer)
  task = json.loads(os.environ["TF_CONFIG"])["task"]
  if task["index"] == 0:
    np.savez(os.path.join(out_dir, "multi_worker.npz"), *weights,
             losses=np.array(losses),
             num_replicas=strategy.num_replicas_in_sync)


def load_weights(path):
  """(weights, losses) from a file written by `run_mirrored`/`run_worker`."""
  with np.load(path) as data:
    names = sorted((k for k in data.files if k.startswith("arr_")),
                   key=lambda k: int(k[4:]))
    return [data[k] for k in names], list(data["losses"])


def main(argv):
  if len(argv) not in (3, 4) or argv[1] not in ("mirrored", "mirrored-nan", "worker"):
    raise SystemExit(__doc__)
  optimizer = argv[3] if len(argv) == 4 else "sgd"
  if argv[1] == "mirrored-nan":
    run_mirrored_nan(argv[2])
  elif argv[1] == "mirrored":
    run_mirrored(argv[2], optimizer)
  else:
    run_worker(argv[2], optimizer)


if __name__ == "__main__":
  main(sys.argv)
