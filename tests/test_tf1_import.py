"""Import of the original's TF1 checkpoints (sound_separation.models.tf1_checkpoint).

The tests write TF1 checkpoints themselves, in the original's variable names
and layouts (docs/architecture.md#separation-model; `models/train/network.py`: prelu and scale_layer of
shape [], instance-norm γ/β of shape [1], depthwise kernels [K, 1, C, 1]),
with a real TF1 Adam optimizer's slots and global_step beside them. Every
value is recorded twice as it is drawn: under its original name for the
checkpoint, and under the NumPy reference's key (tests/numpy_model.py) for
the expected output, so the importer's mapping table is checked against an
independent one.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import numpy_model as ref
from sound_separation import run_folder
from sound_separation.models import folders
from sound_separation.models import tf1_checkpoint

TF1CheckpointError = tf1_checkpoint.TF1CheckpointError

TINY = dict(num_basis=8, bottleneck=6, channels=10)


class Original:
  """Draws the original model's variables: `.original` by TF1 name, `.reference` by NumPy key."""

  def __init__(self, num_sources, num_dilations, num_repeats, skips=False,
               predicted=True, window=40, decoder_name="dense_1", seed=0,
               num_basis=8, bottleneck=6, channels=10, kernel_size=3):
    self.rng = np.random.default_rng(seed)
    self.original, self.reference = {}, {}
    self.skips = []
    uniform = lambda low, high, shape=(): self.rng.uniform(low, high, shape).astype(np.float32)
    kernel = lambda *shape: uniform(-0.5, 0.5, shape)

    def put(name, key, value, reference_value=None):
      self.original[name] = value
      self.reference[key] = value if reference_value is None else reference_value

    def scaled_dense(scope, key, rows, columns, bias):
      put(f"{scope}/dense/kernel", f"{key}/dense/kernel", kernel(rows, columns))
      if bias:
        put(f"{scope}/dense/bias", f"{key}/dense/bias", uniform(-0.1, 0.1, (columns,)))
      put(f"{scope}/dense_scale/scale_layer", f"{key}/dense_scale/scale_layer",
          uniform(0.5, 1.5))

    def normact(scope, key):
      put(f"{scope}/prelu/prelu", f"{key}/prelu/prelu", uniform(0.0, 0.3))
      put(f"{scope}/instance_norm/gamma", f"{key}/instance_norm/gamma",
          uniform(0.5, 1.5, (1,)))
      put(f"{scope}/instance_norm/beta", f"{key}/instance_norm/beta",
          uniform(-0.2, 0.2, (1,)))

    put("conv_encoder/dense/kernel", "conv_encoder/dense/kernel", kernel(window, num_basis))
    scaled_dense("initial_dense", "tdcn/initial_dense", num_basis, bottleneck, True)
    for b in range(num_dilations * num_repeats):
      if skips and b % num_dilations == 0:
        for src in range(0, b, num_dilations):
          self.skips.append((src, b))
          scaled_dense(f"improved_tdcn/res_dense_{src}_to_{b}",
                       f"tdcn/res_dense_{src}_to_{b}", bottleneck, bottleneck, True)
      scope, key = f"improved_tdcn/conv_block_{b}/tdcn_block", f"tdcn/conv_block_{b}"
      scaled_dense(f"{scope}/dense1", f"{key}/dense1", bottleneck, channels, False)
      normact(f"{scope}/normact1", f"{key}/normact1")
      depthwise = kernel(kernel_size, 1, channels, 1)
      put(f"{scope}/timeconv/separable_conv/depthwise_kernel",
          f"{key}/timeconv/depthwise_kernel", depthwise, depthwise[:, 0, :, 0])
      put(f"{scope}/timeconv/separable_conv/bias", f"{key}/timeconv/bias",
          uniform(-0.1, 0.1, (channels,)))
      normact(f"{scope}/normact2", f"{key}/normact2")
      scaled_dense(f"{scope}/dense2", f"{key}/dense2", channels, bottleneck, False)
    # The mask: flat index (mic·M + source)·num_basis + basis with mic = 1.
    put("dense/kernel", "mask_dense/kernel", kernel(bottleneck, num_basis * num_sources))
    put(f"conv_decoder/{decoder_name}/kernel", "conv_decoder/dense/kernel",
        kernel(num_basis, window))
    if predicted:
      put("mix_weights/dense/kernel", "mixture_consistency/mix_weights/kernel",
          kernel(bottleneck, num_sources))


def save_tf1(directory, variables, scopes=("",), global_step=1234, adam=True):
  """Writes `variables` as a TF1 checkpoint under each of `scopes`.

  With `adam`, also a TF1 Adam optimizer's variables (`<var>/Adam`,
  `<var>/Adam_1`, beta1_power, beta2_power), as training leaves them.

  Returns the checkpoint prefix (`<directory>/model.ckpt-<global_step>`).
  """
  with tf.Graph().as_default():
    created = []
    for scope in scopes:
      for name, value in variables.items():
        folder, leaf = (scope + name).rsplit("/", 1)
        with tf.compat.v1.variable_scope(folder):
          created.append(tf.compat.v1.get_variable(
              leaf, initializer=tf.constant(value)))
    step = tf.compat.v1.train.get_or_create_global_step()
    if adam:
      loss = tf.add_n([tf.reduce_sum(tf.square(v)) for v in created])
      tf.compat.v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=step)
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      session.run(step.assign(global_step))
      return tf.compat.v1.train.Saver().save(
          session, os.path.join(directory, "model.ckpt"), global_step=global_step)


def _input(samples=173):
  return np.random.default_rng(7).standard_normal((2, samples)).astype(np.float32)


def test_the_writer_uses_the_originals_layout(tmp_path):
  prefix = save_tf1(str(tmp_path), Original(3, 2, 2).original)
  shapes = dict(tf.train.list_variables(prefix))
  assert shapes["improved_tdcn/conv_block_3/tdcn_block/timeconv/separable_conv/"
                "depthwise_kernel"] == [3, 1, 10, 1]
  assert shapes["improved_tdcn/conv_block_0/tdcn_block/normact1/prelu/prelu"] == []
  assert shapes["initial_dense/dense_scale/scale_layer"] == []
  assert shapes["improved_tdcn/conv_block_0/tdcn_block/normact1/instance_norm/gamma"] == [1]
  assert shapes["dense/kernel"] == [6, 24]
  assert shapes["conv_decoder/dense_1/kernel"] == [8, 40]
  assert "conv_encoder/dense/kernel/Adam_1" in shapes
  assert "beta1_power" in shapes and "global_step" in shapes


# (M, dilations, repeats, skips, mix_weights present, outer scope, window,
#  sample rate, decoder Dense name, num_dilations argument)
CASES = {
    "predicted": (3, 2, 2, False, True, "", 40, 16000, "dense_1", 2),
    "skips-scope-bird-rate": (2, 2, 3, True, False, "tower/separator/", 55, 22050,
                              "dense", None),
}


@pytest.mark.parametrize("case", CASES)
def test_imported_model_matches_the_numpy_reference(tmp_path, case):
  (num_sources, dilations, repeats, skips, predicted, scope, window, rate,
   decoder, num_dilations) = CASES[case]
  weights = Original(num_sources, dilations, repeats, skips, predicted, window,
                     decoder)
  save_tf1(str(tmp_path / "tf1"), weights.original, scopes=(scope,))
  summary = tf1_checkpoint.import_tf1(
      str(tmp_path / "tf1"), str(tmp_path / "out"), sample_rate=rate,
      num_dilations=num_dilations)
  hop = round(0.00125 * rate)
  assert summary["scope"] == scope
  assert summary["global_step"] == 1234
  assert (summary["num_sources"], summary["num_basis"], summary["window_size"],
          summary["hop_size"], summary["bottleneck"], summary["conv_channels"],
          summary["kernel_size"], summary["num_dilations"], summary["num_repeats"],
          summary["skip_residuals"]) == (num_sources, 8, window, hop, 6, 10, 3,
                                         dilations, repeats, skips)
  consistency = "predicted" if predicted else "uniform"
  assert summary["mixture_consistency"] == consistency
  assert summary["variables_loaded"] == len(weights.original)
  # Everything else in the checkpoint is Adam's slots, beta powers and the step.
  assert summary["variables_not_read"] == 2 * len(weights.original) + 3
  assert any("uniform" in a for a in summary["assumed"]) != predicted
  with open(tmp_path / "out" / "tf1_import.json", encoding="utf-8") as f:
    assert json.load(f)["variables_loaded"] == summary["variables_loaded"]

  separator, sample_rate, _ = folders.load_keras_separator(str(tmp_path / "out"))
  assert sample_rate == rate
  assert separator.hop_size == hop
  x = _input()
  expected = ref.separate(weights.reference, x, num_sources, dilations, repeats,
                          weights.skips, consistency, window=window, hop=hop)
  np.testing.assert_allclose(separator(x).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_separator_from_tf1_and_the_folder_agree(tmp_path):
  weights = Original(3, 2, 2)
  prefix = save_tf1(str(tmp_path), weights.original)
  model, summary = tf1_checkpoint.separator_from_tf1(prefix, num_dilations=2)
  assert summary["checkpoint"] == prefix
  tf1_checkpoint.import_tf1(prefix, str(tmp_path / "out"), num_dilations=2)
  loaded, _, _ = folders.load_keras_separator(str(tmp_path / "out"))
  x = _input(90)
  np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
  # The folder also initialises another run's separator (fine-tuning).
  fresh = tf1_checkpoint.build_separator(dict(
      num_sources=3, num_basis=8, window_size=40, hop_size=20,
      mixture_consistency="predicted",
      tdcn=dict(bottleneck=6, conv_channels=10, kernel_size=3, num_dilations=2,
                num_repeats=2, skip_residuals=False)))
  folders.restore_separator(fresh, str(tmp_path / "out"))
  np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())


def _import_error(tmp_path, variables, **kwargs):
  prefix = save_tf1(str(tmp_path), variables, adam=False)
  with pytest.raises(TF1CheckpointError) as error:
    tf1_checkpoint.separator_from_tf1(prefix, **{"num_dilations": 2, **kwargs})
  return str(error.value)


def test_missing_variable_is_named(tmp_path):
  variables = Original(3, 2, 2).original
  del variables["improved_tdcn/conv_block_1/tdcn_block/normact2/prelu/prelu"]
  del variables["mix_weights/dense/kernel"]
  message = _import_error(tmp_path, variables, mixture_consistency="predicted")
  assert "missing" in message
  assert "improved_tdcn/conv_block_1/tdcn_block/normact2/prelu/prelu" in message
  assert "mix_weights/dense/kernel" in message


def test_wrong_shape_is_named(tmp_path):
  variables = Original(3, 2, 2).original
  name = "improved_tdcn/conv_block_2/tdcn_block/timeconv/separable_conv/depthwise_kernel"
  variables[name] = np.zeros((3, 1, 11, 1), np.float32)
  variables["dense/kernel"] = np.zeros((7, 24), np.float32)
  message = _import_error(tmp_path, variables)
  assert f"{name}: [3, 1, 11, 1], expected [3, 1, 10, 1]" in message
  assert "dense/kernel: [7, 24], expected [6, 24]" in message


def test_extra_variables_are_named(tmp_path):
  variables = Original(3, 2, 2).original
  variables["layer_norm_on_mag/gamma"] = np.ones((1,), np.float32)
  variables["improved_tdcn/conv_block_0/tdcn_block/dense1/dense/bias"] = np.zeros(
      (10,), np.float32)
  message = _import_error(tmp_path, variables)
  assert "extra" in message and "layer_norm_on_mag/gamma" in message
  assert "improved_tdcn/conv_block_0/tdcn_block/dense1/dense/bias" in message


def test_weights_of_another_consistency_are_extra(tmp_path):
  message = _import_error(tmp_path, Original(3, 2, 2).original,
                          mixture_consistency="uniform")
  assert "extra" in message and "mix_weights/dense/kernel" in message


def test_num_dilations_must_divide_the_blocks(tmp_path):
  # 4 blocks and no skip residuals to tell: the default of 8 does not fit.
  message = _import_error(tmp_path, Original(3, 2, 2).original, num_dilations=None)
  assert "pass num_dilations" in message


def test_two_models_need_a_scope(tmp_path):
  weights = Original(2, 2, 2, predicted=False)
  prefix = save_tf1(str(tmp_path), weights.original,
                    scopes=("model_iter_0/", "model_iter_1/"), adam=False)
  with pytest.raises(TF1CheckpointError, match="'model_iter_0/', 'model_iter_1/'"):
    tf1_checkpoint.separator_from_tf1(prefix, num_dilations=2)
  _, summary = tf1_checkpoint.separator_from_tf1(
      prefix, num_dilations=2, scope="model_iter_1")
  assert summary["scope"] == "model_iter_1/"
  assert summary["variables_loaded"] == len(weights.original)


def test_not_a_checkpoint(tmp_path):
  with pytest.raises(FileNotFoundError, match="nowhere"):
    tf1_checkpoint.import_tf1(str(tmp_path / "nowhere"), str(tmp_path / "out"))
  (tmp_path / "notes.txt").write_text("not a checkpoint")
  with pytest.raises(FileNotFoundError, match="neither"):
    tf1_checkpoint.import_tf1(str(tmp_path), str(tmp_path / "out"))
  (tmp_path / "broken.index").write_text("not a checkpoint")
  with pytest.raises(FileNotFoundError, match="not a readable checkpoint"):
    tf1_checkpoint.import_tf1(str(tmp_path / "broken"), str(tmp_path / "out"))


def test_tf2_checkpoint_is_refused(tmp_path):
  model = tf1_checkpoint.build_separator(dict(
      num_sources=2, num_basis=8, window_size=40, hop_size=20,
      mixture_consistency=None,
      tdcn=dict(bottleneck=6, conv_channels=10, kernel_size=3, num_dilations=1,
                num_repeats=1, skip_residuals=False)))
  folders.save_separator(model, str(tmp_path), 16000)
  with pytest.raises(TF1CheckpointError, match="TF2"):
    tf1_checkpoint.separator_from_tf1(run_folder.checkpoints(str(tmp_path)))


def test_stft_model_is_refused(tmp_path):
  variables = Original(3, 2, 2).original
  del variables["conv_encoder/dense/kernel"]
  variables["layer_norm_on_mag/gamma"] = np.ones((1,), np.float32)
  message = _import_error(tmp_path, variables)
  assert "learned-basis" in message


def test_import_tf1_command(tmp_path, capsys):
  from sound_separation import cli  # pylint: disable=import-outside-toplevel
  weights = Original(3, 2, 2)
  prefix = save_tf1(str(tmp_path / "tf1"), weights.original)
  out = tmp_path / "imported"
  assert cli.main(["prog", "import-tf1", f"--checkpoint={tmp_path / 'tf1'}", f"--out_dir={out}",
                   "--num_dilations=2", "--sample_rate=8000", "--hop_size=20"]) == 0
  printed = capsys.readouterr().out
  assert "3 outputs" in printed and str(out) in printed
  loaded, rate, _ = folders.load_keras_separator(str(out))
  model, _ = tf1_checkpoint.separator_from_tf1(prefix, num_dilations=2)
  x = _input(120)
  assert rate == 8000
  np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
  assert cli.main(["prog", "import-tf1", f"--out={out}"]) == 2
  assert "--checkpoint is required" in capsys.readouterr().err
  assert cli.main(["prog", "import-tf1", f"--checkpoint={tmp_path / 'nothing'}",
                   f"--out={tmp_path / 'x'}"]) == 1
  assert "nothing" in capsys.readouterr().err
