import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

import numpy_model as ref
from conftest import assert_finite
from sound_separation import layers
from sound_separation.models import SeparationModel

TINY = dict(bottleneck=8, conv_channels=12, num_dilations=3, num_repeats=2)


def tiny_model(num_sources=3, consistency="predicted", skip_residuals=False):
  tdcn = layers.TDCNPlusPlus(**TINY, skip_residuals=skip_residuals, name="tdcn")
  model = SeparationModel(num_sources=num_sources, num_basis=10, tdcn=tdcn,
                          mixture_consistency=consistency)
  model.build((None, None))
  return model


def _randomize(model, seed=0):
  rng = np.random.default_rng(seed)
  for v in model.weights:
    v.assign(rng.uniform(-0.5, 0.5, v.shape).astype(np.float32))


@pytest.mark.parametrize("num_sources,params", [(4, 8_803_841), (8, 9_067_009)])
def test_paper_model_parameter_count(num_sources, params):
  model = SeparationModel(num_sources=num_sources)
  model.build((None, None))
  assert model.count_params() == params
  assert len(model.trainable_variables) == 391


@pytest.mark.parametrize("consistency", ["predicted", "uniform", "magsq", None])
@pytest.mark.parametrize("skip_residuals", [False, True])
def test_model_matches_numpy_reference(consistency, skip_residuals):
  model = tiny_model(consistency=consistency, skip_residuals=skip_residuals)
  _randomize(model)
  x = np.random.default_rng(1).standard_normal((2, 173)).astype(np.float32)
  skips = [(0, 3)] if skip_residuals else []
  expected = ref.separate(ref.weights_of(model), x, 3, 3, 2, skips, consistency)
  out = model(x).numpy()
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("samples", [1, 7, 40, 41, 1000, 16001])
def test_any_length_in_gives_same_length_out(samples):
  model = tiny_model()
  x = np.random.default_rng(samples).standard_normal((2, samples)).astype(np.float32)
  out = model(x).numpy()
  assert out.shape == (2, 3, samples)
  scale = max(np.abs(x).max(), 1e-6)
  assert np.abs(out.sum(1) - x).max() / scale <= 1e-5


def test_one_traced_function_serves_all_lengths():
  model = tiny_model()
  fn = tf.function(model, input_signature=[tf.TensorSpec([None, None])])
  for samples in (50, 333):
    x = np.random.default_rng(samples).standard_normal((1, samples)).astype(np.float32)
    # Graph and eager order float32 sums differently: a few 1e-6 on unit-scale outputs,
    # depending on the random weights.
    np.testing.assert_allclose(fn(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_keras_save_and_load_round_trip(tmp_path):
  model = tiny_model(num_sources=2, skip_residuals=True)
  _randomize(model, seed=3)
  x = np.random.default_rng(2).standard_normal((2, 300)).astype(np.float32)
  path = str(tmp_path / "model.keras")
  model.save(path)
  loaded = keras.saving.load_model(path)
  assert isinstance(loaded, SeparationModel)
  assert loaded.tdcn.skip_residuals and loaded.tdcn.conv_channels == 12
  np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_gin_binding_changes_layer_settings():
  gin.clear_config()
  try:
    gin.parse_config("""
        sound_separation.TDCNPlusPlus.num_repeats = 1
        sound_separation.TDCNPlusPlus.conv_channels = 16
        sound_separation.SeparationModel.num_sources = 5
    """)
    model = SeparationModel(num_basis=8)
    model.build((None, None))
    assert model.num_sources == 5
    assert len(model.tdcn.blocks) == 8
    assert model.tdcn.blocks[0].dense1.dense.kernel.shape == (256, 16)
    assert model(np.zeros((1, 100), np.float32)).shape == (1, 5, 100)
  finally:
    gin.clear_config()


def test_train_step_gradients_compile_with_xla():
  model = tiny_model()
  x = np.random.default_rng(4).standard_normal((2, 400)).astype(np.float32)

  @tf.function(jit_compile=True)
  def step(x):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(model(x)[:, 0]))
    return loss, tape.gradient(loss, model.trainable_variables)

  loss, grads = step(x)
  assert_finite(loss.numpy(), *[g.numpy() for g in grads])
  assert all(float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)
  np.testing.assert_allclose(step(x)[0].numpy(), loss.numpy(), rtol=1e-5)


def test_silent_input_gives_finite_outputs_and_gradients():
  model = tiny_model()
  x = np.zeros((2, 200), np.float32)
  with tf.GradientTape() as tape:
    out = model(x)
    loss = tf.reduce_sum(out)
  grads = tape.gradient(loss, model.trainable_variables)
  assert_finite(out.numpy(), *[g.numpy() for g in grads if g is not None])


def test_bad_arguments():
  with pytest.raises(TypeError, match="TDCNPlusPlus"):
    SeparationModel(tdcn="big")
  with pytest.raises(ValueError, match="weighting"):
    SeparationModel(mixture_consistency="sum")


def test_mixed_precision_outputs_sum_to_the_float32_input():
  keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    model = tiny_model()
    assert model.tdcn.compute_dtype == "bfloat16"
    x = np.random.default_rng(5).standard_normal((2, 500)).astype(np.float32)
    out = model(x)
    assert out.dtype == tf.float32
    assert np.abs(out.numpy().sum(1) - x).max() / np.abs(x).max() <= 1e-5
  finally:
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_the_model_dtype_reaches_every_sub_layer_without_the_global_policy(policy):
  # The TDCN++ stack is made unbuilt at the global policy (as gin makes it)
  # and handed to a model of another policy.
  tdcn = layers.TDCNPlusPlus(**TINY, name="tdcn")
  model = SeparationModel(num_sources=3, num_basis=10, tdcn=tdcn, dtype=policy)
  model.build((None, None))
  assert keras.config.dtype_policy().name == "float32"
  compute = policy.split("_")[1]
  pinned = {model.consistency.name, model.consistency.mix_weights.name}
  # pylint: disable-next=protected-access
  sub_layers = [l for l in model._flatten_layers(include_self=False)]
  assert len(sub_layers) > 20
  for layer in sub_layers:
    want = "float32" if layer.name in pinned else compute
    assert layer.compute_dtype == want, layer.path
    for weight in layer.weights:
      assert weight.dtype == "float32", weight.path
  x = np.random.default_rng(5).standard_normal((2, 500)).astype(np.float32)
  out = model(x)
  assert out.dtype == tf.float32
  assert np.abs(out.numpy().sum(1) - x).max() / np.abs(x).max() <= 1e-5


def test_tf_checkpoint_round_trip_restores_every_weight(tmp_path):
  # tf.train.Checkpoint ignores layers kept in Python lists or dicts; every
  # weight, block weights included, must be written and read back.
  model = tiny_model(skip_residuals=True)
  _randomize(model, seed=4)
  other = tiny_model(skip_residuals=True)
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
  assert len(tf.train.list_variables(path)) - 1 == len(model.weights)
  tf.train.Checkpoint(model=other).read(path).assert_consumed()
  for mine, theirs in zip(model.weights, other.weights):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=mine.path)
