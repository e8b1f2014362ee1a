"""Shared test helpers. Tests use tiny shapes: the suite must stay fast on 2 cores."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


def value_and_grads(fn, *inputs, jit_compile=False):
  """Runs `fn(*inputs)` in a `tf.function` and differentiates `sum(first output)`.

  Returns `(outputs, grads)` as NumPy, `grads` one per input (float inputs only).
  With `jit_compile=True` the function is compiled with XLA on static shapes,
  as inside a TPU `train_step`.
  """
  inputs = [tf.constant(x) for x in inputs]

  @tf.function(jit_compile=jit_compile, reduce_retracing=True)
  def run(*args):
    with tf.GradientTape() as tape:
      tape.watch(args)
      out = fn(*args)
      first = out[0] if isinstance(out, (tuple, list)) else out
      total = tf.reduce_sum(tf.cast(first, tf.float32))
    return out, tape.gradient(total, args)

  out, grads = run(*inputs)
  to_np = lambda t: None if t is None else t.numpy()
  return tf.nest.map_structure(to_np, out), [to_np(g) for g in grads]


def assert_finite(*arrays):
  for a in arrays:
    if a is not None:
      assert np.all(np.isfinite(a)), f"non-finite values: {a}"


@pytest.fixture
def rng():
  return np.random.default_rng(0)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
  """A tiny random-weight separator (M = 4) saved as a model folder at 8 kHz.

  Returns `(folder, separator)`.
  """
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel
  from test_trainer import tiny_separator  # pylint: disable=import-outside-toplevel
  separator = tiny_separator()
  separator(np.zeros((1, 400), np.float32))
  rng = np.random.default_rng(0)
  for v in separator.weights:
    v.assign(rng.uniform(-0.4, 0.4, v.shape).astype(np.float32))
  folder = str(tmp_path_factory.mktemp("model"))
  folders.save_separator(separator, folder, 8000)
  return folder, separator


def tiny_checkpoint_separator(prefix):
  """A `models/tiny.gin` separator with a training checkpoint's weights."""
  import gin  # pylint: disable=import-outside-toplevel
  from sound_separation import gin_utils  # pylint: disable=import-outside-toplevel
  from sound_separation.models import SeparationModel  # pylint: disable=import-outside-toplevel
  from sound_separation.models import folders  # pylint: disable=import-outside-toplevel
  with gin.unlock_config():
    gin.clear_config()
    gin_utils.parse_gin(["models/tiny"])
    separator = SeparationModel()
    separator.build((None, None))
    gin.clear_config()
  folders.restore_separator(separator, prefix)
  return separator


def run_local_workers(command, num_workers=2, cwd=None, timeout=600, capture_stdout=False,
                      env=None):
  """Runs `command` as `num_workers` MultiWorkerMirroredStrategy workers on loopback.

  Each process gets a TF_CONFIG naming its index in one cluster of free local
  ports. Returns `[(returncode, stdout or None, stderr)]` in worker order;
  every process is killed if one outlives `timeout`.
  """
  import json  # pylint: disable=import-outside-toplevel
  import os  # pylint: disable=import-outside-toplevel
  import socket  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel

  def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
      s.bind(("127.0.0.1", 0))
      return s.getsockname()[1]

  cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(num_workers)]}
  workers, results = [], []
  try:
    for index in range(num_workers):
      worker_env = dict(env if env is not None else os.environ, CUDA_VISIBLE_DEVICES="",
                        TF_CONFIG=json.dumps({"cluster": cluster,
                                              "task": {"type": "worker", "index": index}}))
      workers.append(subprocess.Popen(
          command, env=worker_env, cwd=cwd, text=True, stderr=subprocess.PIPE,
          stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL))
    for w in workers:
      out, err = w.communicate(timeout=timeout)
      results.append((w.returncode, out, err))
  finally:
    for w in workers:
      if w.poll() is None:
        w.kill()
        w.wait()
  return results
