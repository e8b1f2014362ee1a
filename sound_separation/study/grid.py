"""A study's grid: which runs it trains, from one gin-configured `Study`.

A study file (gin) binds `sound_separation.Study`: the training recipe (a gin
file every run includes), the numbers of outputs M, the step budgets, the
lists, and the loss arms with the weights to sweep. The grid it spells out,
for each M:

- `m<M>/baseline`: MixIT only, from scratch, `baseline_steps` steps;
- `m<M>/<arm>_w<weight>`: a fine-tune of the baseline's selected checkpoint
  for `finetune_steps` steps with one loss arm at one weight (`ARMS`):
  `mixit` (MixIT only: the control that separates the effect of the loss
  from the effect of training longer), `l1`, `l1_l2`, `covariance`,
  `l1_l2+covariance` (L1/L2 at the weight, covariance at
  `covariance_weight`).
"""

import dataclasses
import math
import os
import typing

from sound_separation import gin_utils

# Each arm's gin bindings for a weight `w` (and the study's covariance weight).
_TRAINER = "sound_separation.MixITTrainer"
ARMS = {
    "mixit": lambda w, cov: [],
    "l1": lambda w, cov: [f"{_TRAINER}.sparsity = 'l1'", f"{_TRAINER}.sparsity_weight = {w!r}"],
    "l1_l2": lambda w, cov: [f"{_TRAINER}.sparsity = 'l1_l2'",
                             f"{_TRAINER}.sparsity_weight = {w!r}"],
    "covariance": lambda w, cov: [f"{_TRAINER}.covariance_weight = {w!r}"],
    "l1_l2+covariance": lambda w, cov: [f"{_TRAINER}.sparsity = 'l1_l2'",
                                        f"{_TRAINER}.sparsity_weight = {w!r}",
                                        f"{_TRAINER}.covariance_weight = {cov!r}"],
}
# The study's lists (paths relative to `data_root`).
LISTS = ("train_list", "selection_list", "test_list", "mom_list", "speech_list",
         "enhancement_list")

# How the report names the arms (the paper's Table 1 wording).
ARM_TITLES = {"baseline": "Baseline (MixIT)", "mixit": "MixIT continued (control)",
              "l1": "L1 sparsity", "l1_l2": "L1/L2 sparsity", "covariance": "Covariance",
              "l1_l2+covariance": "L1/L2 sparsity + covariance"}


class RunSpec(typing.NamedTuple):
  """One training run of the grid.

  Attributes:
    name: `m<M>/baseline` or `m<M>/<arm>_w<weight>`; also its folder.
    num_sources: M.
    arm: 'baseline' or one of `ARMS`.
    weight: the arm's loss weight (0 for the baseline and the control).
    num_steps: the run's step budget.
    init_from: the baseline run's name for a fine-tune, else None.
    gin_params: the bindings the run adds to the recipe.
  """
  name: str
  num_sources: int
  arm: str
  weight: float
  num_steps: int
  init_from: typing.Optional[str]
  gin_params: typing.Tuple[str, ...]


def _positive_int(name, value):
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ValueError(f"Study.{name} must be a positive integer, got {value!r}")
  return value


def weight_name(weight):
  """`10.0 -> '10'`, `0.3 -> '0.3'`: weights as they appear in run names."""
  return f"{weight:g}"


@gin_utils.configurable
@dataclasses.dataclass
class Study:
  """The settings of a study (bound in a study file with gin).

  Attributes:
    name: a title for the report.
    recipe: the gin file every run includes (path or name under `gin/`).
    gin_params: bindings added to every run (e.g. the training list).
    num_sources: the values of M, one baseline each.
    baseline_steps, finetune_steps: step budgets.
    steps_per_checkpoint: checkpoints (all kept) every this many steps; each
      is evaluated on `selection_list`.
    arms: `{arm: [weights]}` of fine-tunes (keys from `ARMS`).
    arms_by_num_sources: `{M: {arm: [weights]}}`: replaces `arms` for the
      values of M it names (e.g. a smaller grid at the larger, slower M).
    covariance_weight: the covariance weight of the `l1_l2+covariance` arm.
    data_root: folder against which relative list paths resolve.
    train_list: the clip list every run trains on (MixIT on its MoMs).
    selection_list: FUSS list on which checkpoints, weights and the shipped
      model are selected (`selection.py`).
    test_list: FUSS list of the reported metrics.
    mom_list: optional MoM list (task 'mom': MoMi).
    speech_list: optional two-speaker list (task 'speech').
    enhancement_list: optional speech + noise list (task 'enhancement').
    msi_tolerance_db: the selection rule's MSi budget (`selection.py`).
  """
  name: str = "study"
  recipe: str = "studies/small_recipe"
  gin_params: typing.Sequence[str] = ()
  num_sources: typing.Sequence[int] = (4,)
  baseline_steps: int = 3000
  finetune_steps: int = 1000
  steps_per_checkpoint: int = 250
  arms: typing.Mapping[str, typing.Sequence[float]] = dataclasses.field(default_factory=dict)
  arms_by_num_sources: typing.Mapping[int, typing.Mapping[str, typing.Sequence[float]]] = \
      dataclasses.field(default_factory=dict)
  covariance_weight: float = 1.0
  data_root: str = ""
  train_list: typing.Optional[str] = None
  selection_list: typing.Optional[str] = None
  test_list: typing.Optional[str] = None
  mom_list: typing.Optional[str] = None
  speech_list: typing.Optional[str] = None
  enhancement_list: typing.Optional[str] = None
  msi_tolerance_db: float = 1.0

  def __post_init__(self):
    for name in ("baseline_steps", "finetune_steps", "steps_per_checkpoint"):
      _positive_int(name, getattr(self, name))
    for name in ("baseline_steps", "finetune_steps"):
      if getattr(self, name) % self.steps_per_checkpoint:
        raise ValueError(f"Study.{name}={getattr(self, name)} must be a multiple of "
                         f"steps_per_checkpoint={self.steps_per_checkpoint}")
    if not self.num_sources:
      raise ValueError("Study.num_sources is empty")
    for m in self.num_sources:
      _positive_int("num_sources", m)
    unknown_m = set(dict(self.arms_by_num_sources)) - set(self.num_sources)
    if unknown_m:
      raise ValueError(f"Study.arms_by_num_sources names M = {sorted(unknown_m)}, which is not "
                       f"in Study.num_sources = {list(self.num_sources)}")
    grids = [("Study.arms", self.arms)] + [
        (f"Study.arms_by_num_sources[{m}]", arms)
        for m, arms in dict(self.arms_by_num_sources).items()]
    for where, arms in grids:
      for arm, weights in dict(arms).items():
        if arm not in ARMS:
          raise ValueError(f"{where}: unknown arm {arm!r}; the arms are {sorted(ARMS)}")
        for w in weights:
          if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) \
              or w < 0:
            raise ValueError(f"{where}[{arm!r}]: weights must be finite numbers >= 0, "
                             f"got {w!r}")
    for name in LISTS:
      value = getattr(self, name)
      if not value:
        if name in ("train_list", "selection_list", "test_list"):
          raise ValueError(f"Study.{name} is required")
        continue
      path = os.path.join(os.path.expanduser(self.data_root), value)
      if not os.path.isfile(path):
        raise FileNotFoundError(f"Study.{name}: no such list {path!r}")
      setattr(self, name, os.path.abspath(path))
    if not self.msi_tolerance_db >= 0:
      raise ValueError(f"Study.msi_tolerance_db must be >= 0, got {self.msi_tolerance_db!r}")

  def arms_for(self, num_sources):
    """`{arm: [weights]}` of the fine-tunes at M = `num_sources`."""
    return dict(dict(self.arms_by_num_sources).get(num_sources, self.arms))

  def runs(self):
    """The grid: `[RunSpec]`, each M's baseline before its fine-tunes."""
    specs = []
    for m in self.num_sources:
      baseline = f"m{m}/baseline"
      common = (f"sound_separation.training_dataset.unsupervised_list = {self.train_list!r}",
                f"sound_separation.SeparationModel.num_sources = {m}",
                f"sound_separation.train.steps_per_checkpoint = {self.steps_per_checkpoint}",
                f"sound_separation.train.keep_checkpoint_every_steps = "
                f"{self.steps_per_checkpoint}")
      specs.append(RunSpec(baseline, m, "baseline", 0.0, self.baseline_steps, None,
                           common + (f"sound_separation.train.num_steps = "
                                     f"{self.baseline_steps}",)))
      for arm, weights in self.arms_for(m).items():
        for w in weights:
          w = float(w)
          specs.append(RunSpec(
              f"m{m}/{arm}_w{weight_name(w)}", m, arm, w, self.finetune_steps, baseline,
              common + (f"sound_separation.train.num_steps = {self.finetune_steps}",
                        *ARMS[arm](w, float(self.covariance_weight)))))
    return specs
