"""Loss terms as objects: a planted term trains untouched, Table 1's files compute as before."""

import json
import math
import pathlib
import subprocess
import sys

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from sound_separation import gin_utils
from sound_separation.layers import TDCNPlusPlus
from sound_separation.models import SeparationModel
from sound_separation.training import loss_terms
from sound_separation.training import MixITTrainer

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = 1600


@gin_utils.register_keras
class OutputEnergy(loss_terms.LossTerm):
  """A regulariser the library does not have: the outputs' mean square, per MoM."""

  name = "output_energy"

  def per_example(self, step):
    if step.separated is None:
      return None
    return tf.reduce_mean(tf.square(step.separated), axis=[1, 2])


def _mixtures(seed=0):
  return np.random.default_rng(seed).standard_normal([4, SAMPLES]).astype(np.float32)


def test_a_planted_term_bound_in_gin_enters_the_total():
  gin.clear_config()
  try:
    gin_utils.parse_gin(["models/tiny.gin"], [
        "sound_separation.MixITTrainer.loss_terms = [@sound_separation.MixIT(), "
        "@sound_separation.OutputEnergy()]",
        "sound_separation.OutputEnergy.weight = 0.5"])
    trainer = MixITTrainer()
  finally:
    gin.clear_config()
  mixtures = _mixtures()
  terms = {k: float(v) for k, v in trainer.compute_losses(mixtures).items()}
  assert set(terms) == {"mixit", "output_energy", "total"}
  separated = trainer.separator(mixtures[0::2] + mixtures[1::2]).numpy()  # consecutive MoMs
  assert terms["output_energy"] == pytest.approx(float(np.mean(separated ** 2)), rel=1e-5)
  assert terms["total"] == pytest.approx(terms["mixit"] + 0.5 * terms["output_energy"],
                                         rel=1e-6)


def test_a_planted_term_trains_and_is_logged():
  keras.utils.set_random_seed(0)
  separator = SeparationModel(num_sources=2, num_basis=16, tdcn=TDCNPlusPlus(
      bottleneck=8, conv_channels=8, num_dilations=2, num_repeats=1))
  trainer = MixITTrainer(separator, loss_terms=[OutputEnergy()])
  trainer.compile(optimizer=keras.optimizers.Adam(3e-2))
  data = tf.data.Dataset.from_tensors({"mixtures": _mixtures()}).repeat(30)
  before = float(trainer.compute_losses(_mixtures())["output_energy"])
  history = trainer.fit(data, verbose=0, shuffle=False)
  assert set(history.history) == {"loss", "output_energy", "skipped_steps"}
  after = float(trainer.compute_losses(_mixtures())["output_energy"])
  # Mixture consistency keeps the outputs summing to the MoM: the least energy
  # is that of the MoM split evenly, ||x||^2 / M; training moves towards it.
  mom = _mixtures()[0::2] + _mixtures()[1::2]
  floor = float(np.mean(mom ** 2)) / 2 ** 2  # every output x / M: mean square mean(x^2) / M^2
  assert after < before and after - floor < 0.5 * (before - floor), (before, after, floor)


def test_a_zero_weight_term_is_logged_but_does_not_train():
  keras.utils.set_random_seed(0)
  separator = SeparationModel(num_sources=2, num_basis=16, tdcn=TDCNPlusPlus(
      bottleneck=8, conv_channels=8, num_dilations=2, num_repeats=1))
  gradients = []
  for terms in ([loss_terms.MixIT()], [loss_terms.MixIT(), loss_terms.Covariance(0.0)]):
    trainer = MixITTrainer(separator, loss_terms=terms)
    with tf.GradientTape() as tape:
      values = trainer.compute_losses(_mixtures(), training=True)
    gradients.append(tape.gradient(values["total"], separator.trainable_variables))
  assert float(values["covariance"]) > 0
  for a, b in zip(*gradients):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_terms_check_each_other():
  with pytest.raises(ValueError, match="weight"):
    loss_terms.Covariance(weight=float("nan"))
  with pytest.raises(ValueError, match="aggregation"):
    loss_terms.Classification(aggregation="and")
  with pytest.raises(ValueError, match="distinct names"):
    loss_terms.check_terms([loss_terms.Sparsity(kind="l1"), loss_terms.Sparsity()], False)
  assert repr(loss_terms.Sparsity(2)) == "Sparsity(weight=2.0, kind='l1_l2')"

  class Total(OutputEnergy):
    name = "total"

  with pytest.raises(ValueError, match=r"names \['total'\] are taken"):
    loss_terms.check_terms([loss_terms.MixIT(), Total()], False)


def test_table1_files_give_the_loss_terms_they_gave_as_trainer_flags(tmp_path):
  # tests/data/table1_loss_terms.json was written by this tool with the
  # trainer whose losses were flags (sparsity=, sparsity_weight=, ...).
  out = tmp_path / "terms.json"
  subprocess.run([sys.executable, str(ROOT / "tools" / "record_loss_terms.py"), str(out)],
                 check=True, capture_output=True, cwd=tmp_path)
  now = json.loads(out.read_text())
  before = json.loads((ROOT / "tests" / "data" / "table1_loss_terms.json").read_text())
  assert sorted(now) == sorted(before)
  for name, phases in before.items():
    for phase, old in phases.items():
      new = now[name][phase]
      assert set(new) <= set(old), (name, phase, sorted(new), sorted(old))
      for term, value in new.items():
        assert math.isclose(value, old[term], rel_tol=1e-5, abs_tol=1e-6), (
            name, phase, term, value, old[term])
      # What the flags logged without training on it: absent parts (0) and
      # the covariance diagnostic, which the total shows had weight 0.
      for term in set(old) - set(new):
        assert old[term] == 0 or term == "covariance", (name, phase, term, old[term])
