import json
import os
import subprocess
import sys

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

import distributed_equivalence as dist
from conftest import assert_finite
from conftest import run_local_workers
from sound_separation.layers.tdcn import TDCNBlock
from sound_separation.layers.tdcn import TDCNPlusPlus
from sound_separation.losses import covariance_loss
from sound_separation.losses import l1_l2_sparsity
from sound_separation.losses import l1_sparsity
from sound_separation.losses.mixture_invariant import mixit
from sound_separation.losses.permutation_invariant import pit
from sound_separation.models import SeparationModel
from sound_separation.training import default_optimizer
from sound_separation.training import MixITTrainer
from sound_separation.training import trainer as trainer_lib
from sound_separation.training.loss_terms import Covariance
from sound_separation.training.loss_terms import MixIT
from sound_separation.training.loss_terms import PIT
from sound_separation.training.loss_terms import Sparsity

SAMPLES = 1600  # 0.1 s at 16 kHz
METRICS = {"loss", "mixit", "sparsity", "covariance", "pit"}
TRAIN_METRICS = METRICS | {"skipped_steps"}
SCRIPT = os.path.join(os.path.dirname(__file__), "distributed_equivalence.py")


def tiny_separator(num_sources=4):
  tdcn = TDCNPlusPlus(bottleneck=8, conv_channels=12, num_dilations=2,
                      num_repeats=1, name="tdcn")
  return SeparationModel(num_sources=num_sources, num_basis=16, tdcn=tdcn)


def sparse_terms(kind="l1_l2"):
  return [MixIT(), Sparsity(0.1, kind=kind), Covariance(0.1), PIT()]


def tiny_trainer(**kwargs):
  return MixITTrainer(tiny_separator(), **kwargs)


def make_batch(mixtures=4, supervised=2, sources=3, seed=0):
  rng = np.random.default_rng(seed)
  batch = {"mixtures": rng.standard_normal((mixtures, SAMPLES)).astype(
      np.float32)}
  if supervised:
    refs = rng.standard_normal((supervised, sources, SAMPLES)).astype(
        np.float32)
    refs[0, -1] = 0.0  # A silent reference.
    batch["supervised_sources"] = refs
    batch["supervised_mixtures"] = refs.sum(axis=1)
  return batch


def _max_diff(a, b):
  return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


@pytest.mark.parametrize("sparsity", ["l1", "l1_l2"])
def test_total_loss_equals_the_losses_applied_by_hand(sparsity):
  trainer = tiny_trainer(loss_terms=[MixIT(solver="exact_gram"), Sparsity(0.3, kind=sparsity),
                                     Covariance(0.2), PIT(0.5)])
  batch = make_batch()
  terms = {k: v.numpy() for k, v in trainer.compute_losses(batch).items()}
  assert all(v.dtype == np.float32 and v.shape == () for v in terms.values())

  # MoMs by hand: mixtures (0, 1) and (2, 3).
  x = batch["mixtures"]
  references = np.stack([x[0:2], x[2:4]])  # [2, 2, T]
  mom = references.sum(axis=1)
  separated = trainer.separator(mom)
  mixit_loss = np.mean(mixit(references, separated, solver="exact_gram")[0])
  if sparsity == "l1":
    sparsity_loss = np.mean(l1_sparsity(separated, mom))
  else:
    sparsity_loss = np.mean(l1_l2_sparsity(separated))
  cov = np.mean(covariance_loss(separated))
  supervised = trainer.separator(batch["supervised_mixtures"])
  pit_loss = np.mean(pit(batch["supervised_sources"], supervised,
                         mixture=batch["supervised_mixtures"])[0])
  total = mixit_loss + 0.3 * sparsity_loss + 0.2 * cov + 0.5 * pit_loss

  expected = {"mixit": mixit_loss, "sparsity": sparsity_loss,
              "covariance": cov, "pit": pit_loss, "total": total}
  for name, value in expected.items():
    np.testing.assert_allclose(terms[name], value, rtol=1e-5, err_msg=name)
  assert min(abs(float(v)) for v in expected.values()) > 1e-3  # all active


def test_absent_parts_give_zero_terms():
  trainer = tiny_trainer(loss_terms=[MixIT(), Covariance(1.0), PIT()])
  batch = make_batch(supervised=0)
  terms = trainer.compute_losses(batch["mixtures"])  # a bare tensor
  assert set(terms) == {"mixit", "covariance", "pit", "total"}
  assert float(terms["pit"]) == 0.0
  np.testing.assert_allclose(terms["total"],
                             terms["mixit"] + terms["covariance"], rtol=1e-6)
  sup = make_batch()
  del sup["mixtures"]
  terms = trainer.compute_losses(sup)
  assert float(terms["mixit"]) == 0.0 and float(terms["covariance"]) == 0.0
  np.testing.assert_allclose(terms["total"], terms["pit"], rtol=1e-6)


def test_pairing_is_passed_to_form_moms(monkeypatch):
  calls = []
  form_moms = trainer_lib.batches.form_moms

  def spy(mixtures, **kwargs):
    calls.append(kwargs)
    return form_moms(mixtures, **kwargs)

  monkeypatch.setattr(trainer_lib.batches, "form_moms", spy)
  trainer = tiny_trainer(pairing="random")
  trainer.compute_losses(make_batch(supervised=0))
  assert [c["pairing"] for c in calls] == ["random"]


def test_fit_runs_and_reports_every_metric():
  trainer = tiny_trainer(loss_terms=sparse_terms())
  # default_optimizer(); XLA is tested on its own below.
  trainer.compile(jit_compile=False)
  before = [v.numpy() for v in trainer.trainable_variables]
  data = tf.data.Dataset.from_tensors(make_batch()).repeat(3)
  history = trainer.fit(data, epochs=1, verbose=0, shuffle=False)
  assert set(history.history) == TRAIN_METRICS
  assert_finite(*[np.array(v) for v in history.history.values()])
  assert trainer.optimizer.iterations.numpy() == 3
  assert _max_diff(before, [v.numpy() for v in trainer.trainable_variables]) > 0
  trainer.run_eagerly = True  # Tracing test_step too would cost seconds.
  logs = trainer.evaluate(data, verbose=0, return_dict=True)
  assert set(logs) == METRICS and all(np.isfinite(v) for v in logs.values())
  trainer.reset_metrics()
  assert all(float(m.count) == 0 for m in trainer.metrics if m is not trainer.skipped_tracker)
  assert float(trainer.skipped_tracker.result()) == 0


def test_default_optimizer_halves_every_decay_steps():
  optimizer = default_optimizer()
  assert isinstance(optimizer, keras.optimizers.Adam)
  schedule = keras.optimizers.schedules.deserialize(
      optimizer.get_config()["learning_rate"])
  assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
  rates = [float(schedule(step)) for step in (0, 1_999_999, 2_000_000,
                                              4_000_000)]
  np.testing.assert_allclose(rates, [1e-4, 1e-4, 5e-5, 2.5e-5], rtol=1e-6)
  assert default_optimizer(clipnorm=1.0).clipnorm == 1.0


def test_gin_configures_trainer_separator_and_optimizer():
  gin.clear_config()
  try:
    gin.parse_config_file(os.path.join(os.path.dirname(__file__), "..", "gin",
                                       "models", "tiny.gin"))
    gin.parse_config("""
        sound_separation.SeparationModel.num_sources = 2
        sound_separation.MixITTrainer.loss_terms = [@sound_separation.MixIT(),
                                                    @sound_separation.Sparsity()]
        sound_separation.Sparsity.kind = 'l1'
        sound_separation.Sparsity.weight = 0.2
        sound_separation.MixIT.solver = 'efficient'
        sound_separation.default_optimizer.learning_rate = 3e-4
    """)
    trainer = MixITTrainer()
    assert trainer.separator.num_sources == 2
    assert trainer.separator.num_basis == 32  # from tiny.gin
    mixit_term, sparsity_term = trainer.loss_terms
    assert (sparsity_term.kind, sparsity_term.weight, mixit_term.solver) == ("l1", 0.2,
                                                                             "efficient")
    trainer.compile()
    schedule = keras.optimizers.schedules.deserialize(
        trainer.optimizer.get_config()["learning_rate"])
    assert float(schedule(0)) == pytest.approx(3e-4)
  finally:
    gin.clear_config()


@pytest.mark.slow
def test_train_step_compiles_with_xla():
  trainer = tiny_trainer(loss_terms=sparse_terms("l1"))
  trainer.compile(optimizer=keras.optimizers.SGD(1e-3), jit_compile=True)
  assert trainer.jit_compile
  logs = trainer.train_on_batch(make_batch(), return_dict=True)
  assert set(logs) == TRAIN_METRICS
  assert_finite(*[np.array(v) for v in logs.values()])


def test_mixed_bfloat16_train_step():
  keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    trainer = tiny_trainer(loss_terms=sparse_terms())
    assert trainer.separator.tdcn.compute_dtype == "bfloat16"
    x = make_batch(supervised=0)["mixtures"]
    out = trainer(x)
    assert out.dtype == tf.float32
    # The trainer must not round the input before the separator sees it.
    assert np.abs(out.numpy().sum(1) - x).max() / np.abs(x).max() <= 1e-5
    terms = trainer.compute_losses(make_batch(), training=True)
    assert all(v.dtype == tf.float32 for v in terms.values())
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    logs = trainer.train_on_batch(make_batch(), return_dict=True)
    assert set(logs) == TRAIN_METRICS
    assert_finite(*[np.array(v) for v in logs.values()])
    assert all(v.dtype == "float32" for v in trainer.trainable_variables)
  finally:
    keras.mixed_precision.set_global_policy("float32")


def test_recompute_gives_the_same_gradients():
  plain = tiny_trainer(loss_terms=sparse_terms("l1"))
  remat = tiny_trainer(loss_terms=sparse_terms("l1"), recompute=True)
  remat.set_weights(plain.get_weights())
  assert remat.separator.tdcn.recompute and not plain.separator.tdcn.recompute
  batch = make_batch(supervised=0)

  def gradients(trainer):
    # Eagerly: tracing two tf.functions would cost seconds, and recompute_grad
    # takes the same path (a custom gradient that reruns the block) either way.
    with tf.GradientTape() as tape:
      total = trainer.compute_losses(batch, training=True)["total"]
    grads = tape.gradient(total, trainer.trainable_variables)
    assert all(g is not None for g in grads)
    return total.numpy(), [g.numpy() for g in grads]

  plain_total, plain_grads = gradients(plain)
  remat_total, remat_grads = gradients(remat)
  assert plain_total == remat_total
  assert _max_diff(plain_grads, remat_grads) <= 1e-5
  assert max(float(np.abs(g).max()) for g in plain_grads) > 1e-3


def test_recompute_runs_each_block_again_in_the_backward_pass(monkeypatch):
  calls = []
  call = TDCNBlock.call
  monkeypatch.setattr(TDCNBlock, "call", lambda self, x: calls.append(self.name) or call(self, x))
  batch = make_batch(supervised=0)
  counts = {}
  for recompute in (False, True):
    trainer = tiny_trainer(recompute=recompute)
    del calls[:]
    with tf.GradientTape() as tape:
      total = trainer.compute_losses(batch, training=True)["total"]
    forward = len(calls)
    tape.gradient(total, trainer.trainable_variables)
    counts[recompute] = (forward, len(calls) - forward)
  num_blocks = len(trainer.separator.tdcn.blocks)
  assert counts[False][1] == 0 and counts[False][0] >= num_blocks
  # Every block call of the forward pass runs once more for its gradient.
  assert counts[True] == (counts[False][0], counts[False][0])


def test_config_and_keras_round_trip(tmp_path):
  trainer = tiny_trainer(loss_terms=[MixIT(solver="efficient",
                                           signal_loss="negative_thresholded_snr",
                                           diag_load=1e-3),
                                     Sparsity(0.25, kind="l1"), Covariance(0.5),
                                     PIT(2.0, signal_loss="negative_thresholded_snr",
                                         zero_ref_weight=0.5)],
                         pairing="random")
  config = json.loads(json.dumps(trainer.get_config()))  # as a .keras file holds it
  clone = MixITTrainer.from_config(config)
  assert [(type(t), t.get_config()) for t in clone.loss_terms] == [
      (MixIT, {"weight": 1.0, "solver": "efficient", "signal_loss": "negative_thresholded_snr",
               "diag_load": 1e-3}),
      (Sparsity, {"weight": 0.25, "kind": "l1"}), (Covariance, {"weight": 0.5}),
      (PIT, {"weight": 2.0, "signal_loss": "negative_thresholded_snr",
             "zero_ref_max_snr_db": 20.0, "zero_ref_weight": 0.5})]
  assert (clone.pairing, clone.recompute) == ("random", False)
  assert clone.separator.num_sources == 4
  assert clone.separator.tdcn.conv_channels == 12
  trainer.compile(optimizer=keras.optimizers.SGD(0.01))
  path = str(tmp_path / "trainer.keras")
  trainer.save(path)
  loaded = keras.saving.load_model(path)
  assert isinstance(loaded, MixITTrainer)
  assert isinstance(loaded.optimizer, keras.optimizers.SGD)
  x = make_batch(supervised=0)["mixtures"]
  np.testing.assert_array_equal(loaded(x).numpy(), trainer(x).numpy())


def test_bad_arguments():
  with pytest.raises(ValueError, match="MixIT.solver"):
    MixIT(solver="greedy")
  with pytest.raises(ValueError, match="Sparsity.kind"):
    Sparsity(kind="l2")
  with pytest.raises(ValueError, match="pairing"):
    tiny_trainer(pairing="adjacent")
  with pytest.raises(ValueError, match="Sparsity.weight"):
    Sparsity(-1.0)
  with pytest.raises(ValueError, match="signal loss"):
    MixIT(signal_loss="mse")
  with pytest.raises(ValueError, match="distinct names"):
    tiny_trainer(loss_terms=[MixIT(), MixIT(solver="efficient")])
  with pytest.raises(ValueError, match="non-empty"):
    tiny_trainer(loss_terms=[])
  with pytest.raises(TypeError, match="LossTerm"):
    tiny_trainer(loss_terms=["mixit"])
  # The flags of the trainer before the losses were terms say where they went.
  with pytest.raises(ValueError, match=r"no longer takes \['sparsity', 'sparsity_weight'\].*"
                                       r"sparsity -> sound_separation.Sparsity.kind"):
    tiny_trainer(sparsity="l1_l2", sparsity_weight=0.1)
  with pytest.raises(TypeError, match="separator"):
    MixITTrainer(separator="tdcn")
  with pytest.raises(ValueError, match="recompute"):
    MixITTrainer(keras.Sequential([keras.layers.Dense(2)]), recompute=True)
  trainer = tiny_trainer()
  with pytest.raises(ValueError, match="even batch"):
    trainer.compute_losses(make_batch(mixtures=3, supervised=0))
  batch = make_batch()
  del batch["supervised_sources"]
  with pytest.raises(ValueError, match="supervised_sources"):
    trainer.compute_losses(batch)
  with pytest.raises(ValueError, match="'mixtures' or"):
    trainer.compute_losses({"labels": np.zeros((2, 3), np.float32)})


def _run(args, **kwargs):
  result = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True,
                          text=True, timeout=300, **kwargs)
  assert result.returncode == 0, result.stderr[-4000:]


@pytest.fixture(scope="module")
def mirrored_run(tmp_path_factory):
  """Runs the single-device and MirroredStrategy trainings once (subprocess)."""
  out = tmp_path_factory.mktemp("mirrored")
  _run(["mirrored", str(out)])
  with open(out / "mirrored.json") as f:
    return json.load(f), dist.load_weights(out / "single.npz")


@pytest.mark.slow
def test_mirrored_strategy_matches_one_device(mirrored_run):
  result, _ = mirrored_run
  assert result["num_replicas"] == 2
  # The 3 steps must move the weights for the comparison to mean anything.
  assert result["max_abs_update"] > 1e-3
  assert result["max_abs_weight_diff"] <= 1e-5, result
  np.testing.assert_allclose(result["mirrored_losses"],
                             result["single_losses"], rtol=1e-6)


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_matches_one_device(mirrored_run,
                                                           tmp_path):
  _, (single, single_losses) = mirrored_run
  results = run_local_workers([sys.executable, SCRIPT, "worker", str(tmp_path)], timeout=300)
  assert [r[0] for r in results] == [0, 0], results[0][2][-4000:]
  weights, losses = dist.load_weights(tmp_path / "multi_worker.npz")
  with np.load(tmp_path / "multi_worker.npz") as data:
    assert int(data["num_replicas"]) == 2
  assert _max_diff(single, weights) <= 1e-5
  np.testing.assert_allclose(losses, single_losses, rtol=1e-6)


# ---------------------------------------------------------------------------
# Guarded steps: a non-finite loss or gradient changes nothing.


def _state(trainer):
  return ([v.numpy().copy() for v in trainer.trainable_variables],
          [v.numpy().copy() for v in trainer.optimizer.variables
           if "iteration" not in v.name])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_nan_batch_changes_no_weight_and_no_optimizer_slot(jit_compile):
  trainer = tiny_trainer(loss_terms=sparse_terms())
  trainer.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
  good = make_batch()
  trainer.train_on_batch(good)  # creates and moves the Adam slots
  weights, slots = _state(trainer)
  bad = {k: np.array(v) for k, v in good.items()}
  bad["mixtures"][1, 7] = np.nan
  logs = trainer.train_on_batch(bad, return_dict=True)
  assert logs["skipped_steps"] == 1.0
  after_weights, after_slots = _state(trainer)
  for a, b in zip(weights + slots, after_weights + after_slots):
    np.testing.assert_array_equal(a, b)
  assert int(trainer.optimizer.iterations.numpy()) == 2  # steps count batches
  logs = trainer.train_on_batch(good, return_dict=True)
  assert logs["skipped_steps"] == 0.0
  assert _max_diff(weights, _state(trainer)[0]) > 0


@pytest.mark.slow
def test_mirrored_replicas_skip_a_step_that_is_nan_on_one_of_them(tmp_path):
  _run(["mirrored-nan", str(tmp_path)])
  with open(tmp_path / "mirrored_nan.json") as f:
    result = json.load(f)
  assert result["finite"]
  assert result["single_skipped"] == [0.0, 1.0, 1.0]  # the Sum over the epoch
  assert result["mirrored_skipped"] == [0.0, 1.0, 1.0]
  # SGD has no slots: skipping step 2 is training on batches 1 and 3 alone.
  assert result["single_vs_without_the_batch"] <= 1e-6
  assert result["mirrored_vs_single"] <= 1e-5


def test_mixed_float16_scales_the_loss_and_matches_float32():
  """GPU precision, checked on CPU: the step goes through Keras' LossScaleOptimizer, every
  value is finite, and the float16 model's losses are float32's within 0.1 dB."""
  batch = make_batch(supervised=0)
  reference = tiny_trainer(loss_terms=sparse_terms())
  reference(batch["mixtures"])
  weights = [v.numpy() for v in reference.separator.weights]
  expected = {k: float(v) for k, v in reference.compute_losses(batch, training=False).items()}
  keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    trainer = tiny_trainer(loss_terms=sparse_terms())
    trainer(batch["mixtures"])
    for variable, value in zip(trainer.separator.weights, weights):
      variable.assign(value)
    assert trainer.separator.tdcn.compute_dtype == "float16"
    got = {k: float(v) for k, v in trainer.compute_losses(batch, training=False).items()}
    for name in ("mixit", "sparsity"):
      assert got[name] == pytest.approx(expected[name], abs=0.1), name
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    before = [v.numpy() for v in trainer.trainable_variables]
    scale = float(trainer.optimizer.scale_loss(tf.constant(1.0)))
    for _ in range(8):
      logs = trainer.train_on_batch(batch, return_dict=True)
      assert_finite(*[np.array(v) for v in logs.values()])
      changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before,
                                                                  trainer.trainable_variables)]
      if any(changed):
        assert logs["skipped_steps"] == 0
        break
      # Gradients that overflow float16 at this scale: the step is skipped, nothing moves,
      # and the optimizer halves its scale (weights seeded elsewhere may start there).
      assert logs["skipped_steps"] == 1
      assert float(trainer.optimizer.scale_loss(tf.constant(1.0))) == scale / 2
      scale /= 2
    assert all(changed) and all(v.dtype == "float32" for v in trainer.trainable_variables)
  finally:
    keras.mixed_precision.set_global_policy("float32")
