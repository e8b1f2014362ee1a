"""Study arms as objects (sound_separation/study/arms.py): defined once, a new one in one place."""

import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

from sound_separation import gin_utils
from sound_separation.study import arms
from sound_separation.training import loss_terms

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_docs_table_lists_every_arm_with_its_title():
  text = (ROOT / "docs" / "study.md").read_text()
  section = text.split("## The arms", 1)[1].split("\n## ", 1)[0]
  rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", section, flags=re.M)
  assert [(name, title.strip()) for name, title in rows] == [
      (name, arm.title) for name, arm in arms.all_arms().items()]


def test_terms_are_bound_in_the_order_of_the_papers_total():
  study = type("Study", (), {"classifier_dir": "/c", "label_vocabulary": "/l",
                             "cosine_weight": 3.0, "sparsity_weight": 5.0})()
  lines = arms.get("soft_or+cosine+l1_l2").bindings(2.0, study)
  assert lines[0] == ("sound_separation.MixITTrainer.loss_terms = [@sound_separation.MixIT(), "
                      "@sound_separation.Sparsity(), @sound_separation.Classification(), "
                      "@sound_separation.CosineSimilarity()]")
  assert "sound_separation.Classification.weight = 2.0" in lines
  assert "sound_separation.CosineSimilarity.weight = 3.0" in lines
  assert "sound_separation.Sparsity.weight = 5.0" in lines
  with pytest.raises(ValueError, match="need Study.classifier_dir"):
    arms.get("soft_or").bindings(1.0)
  with pytest.raises(ValueError, match="unknown arm 'l3'; the arms are"):
    arms.get("l3")


@pytest.fixture
def planted_term():
  """A loss term defined here, as a contributor would in `training/loss_terms.py`."""

  @gin_utils.register_keras
  class PlantedLevel(loss_terms.LossTerm):  # pylint: disable=unused-variable
    """Each MoM's `scale` (a stand-in for a new regulariser)."""

    name = "planted_level"
    order = 25  # after sparsity, before covariance
    arms = {"planted": ("Planted level", {"scale": 2.5})}

    def __init__(self, weight=1.0, scale=1.0):
      super().__init__(weight)
      self.scale = float(scale)

    def per_example(self, step):
      if step.separated is None:
        return None
      return tf.fill(tf.shape(step.separated)[:1], self.scale)

    def get_config(self):
      return {**super().get_config(), "scale": self.scale}

  yield PlantedLevel
  loss_terms._REGISTERED.pop("PlantedLevel")  # pylint: disable=protected-access


def test_a_term_defined_elsewhere_is_an_arm_that_trains(planted_term, tmp_path):
  import gin  # pylint: disable=import-outside-toplevel
  from test_study import _study, _terms_of  # pylint: disable=import-outside-toplevel
  from test_trainer import make_batch, tiny_trainer  # pylint: disable=import-outside-toplevel
  assert arms.title("planted") == "Planted level"
  spec = _study(tmp_path, arms={"planted": [0.5]}).runs()[1]
  assert spec.name == "m2/planted_w0.5"
  terms = _terms_of(spec)
  assert [type(t).__name__ for t in terms] == ["MixIT", "PlantedLevel"]
  assert (terms[1].weight, terms[1].scale) == (0.5, 2.5)
  # The trainer logs it and adds weight x term to the total.
  trainer = tiny_trainer(loss_terms=list(terms))
  batch = make_batch(supervised=0)
  trainer(batch["mixtures"])
  losses = {k: float(v) for k, v in trainer.compute_losses(batch, training=False).items()}
  assert losses["planted_level"] == pytest.approx(2.5)
  assert losses["total"] == pytest.approx(losses["mixit"] + 0.5 * 2.5, rel=1e-6)
  assert np.isfinite(losses["total"])
  gin.clear_config()
