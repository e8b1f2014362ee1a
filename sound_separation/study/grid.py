"""A study's grid: which runs it trains, from one gin-configured `Study`.

A study file (gin) binds `sound_separation.Study`: the training recipe (a gin
file every run includes), the numbers of outputs M, the step budgets, the
lists, and the loss arms with the weights to sweep. The grid it spells out,
for each M:

- `m<M>/baseline`: MixIT only, from scratch, `baseline_steps` steps;
- `m<M>/<arm>_w<weight>`: a fine-tune of the baseline's selected checkpoint
  for `finetune_steps` steps with one loss arm at one weight (`arms.py`):
  `mixit` (MixIT only: the control that separates the effect of the loss
  from the effect of training longer), `l1`, `l1_l2`, `covariance`,
  `l1_l2+covariance` (L1/L2 at the weight, covariance at
  `covariance_weight`); `mixit_efficient` and `l1_l2_efficient`, the same
  trained with the efficient (least-squares) MixIT solver instead of the
  recipe's exact one (paper claim 2); and the semantic arms, which need a
  pretrained classifier (`classifier_dir`) and weakly labelled training clips
  (`label_vocabulary`): `soft_or` and `soft_xor` (classification loss at the
  weight, classifier frozen), `cosine` (cosine-similarity loss at the weight,
  classifier trained jointly, as the paper found necessary) and
  `soft_or+cosine+l1_l2` (the paper's best row: soft-OR at the weight, cosine
  at `cosine_weight`, L1/L2 at `sparsity_weight`, classifier joint);
- `..._s<seed>`: the same run again with another seed (`extra_seeds`).

Every run binds its seed (`train.seed`) when the study sets `seed`: seeds
are the study's parameters, written in the results, not derived from paths.
A baseline may also be given as a model folder (`baseline_models`): it is
then evaluated like a trained one, not trained again.
"""

import dataclasses
import math
import os
import re
import typing

from sound_separation import checks
from sound_separation import gin_utils
from sound_separation.evaluation import selection
from sound_separation.study import arms as arms_lib

# The study's lists (paths relative to `data_root`).
LISTS = ("train_list", "selection_list", "test_list", "mom_list", "speech_list",
         "enhancement_list")


class RunSpec(typing.NamedTuple):
  """One training run of the grid.

  Attributes:
    name: `m<M>/baseline` or `m<M>/<arm>_w<weight>`; also its folder.
    num_sources: M.
    arm: 'baseline' or an arm's name (`arms.all_arms`).
    weight: the arm's loss weight (0 for the baseline and the control).
    num_steps: the run's step budget.
    init_from: the baseline run's name for a fine-tune, else None.
    gin_params: the bindings the run adds to the recipe.
    seed: the run's seed (`train.seed`), or None: derived from its folder.
    init_model: for a baseline given as a model folder (not trained): its
      path; else None.
  """
  name: str
  num_sources: int
  arm: str
  weight: float
  num_steps: int
  init_from: typing.Optional[str]
  gin_params: typing.Tuple[str, ...]
  seed: typing.Optional[int] = None
  init_model: typing.Optional[str] = None

  @property
  def row(self):
    """The run's name without its seed suffix: the runs of one row differ only in seed."""
    return re.sub(r"_s\d+$", "", self.name)


def _positive_int(name, value):
  return checks.integer(f"Study.{name}", value)


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
    arms: `{arm: [weights]}` of fine-tunes (keys: `arms.all_arms()`).
    arms_by_num_sources: `{M: {arm: [weights]}}`: replaces `arms` for the
      values of M it names (e.g. a smaller grid at the larger, slower M).
    covariance_weight: the covariance weight of the `l1_l2+covariance` arm.
    data_root: folder against which relative list paths resolve.
    train_list: the clip list every run trains on (MixIT on its MoMs).
    selection_list: FUSS list on which checkpoints, weights and the shipped
      model are selected (`evaluation/selection.py`).
    test_list: FUSS list of the reported metrics.
    mom_list: optional MoM list (task 'mom': MoMi).
    speech_list: optional two-speaker list (task 'speech').
    enhancement_list: optional speech + noise list (task 'enhancement').
    msi_tolerance_db: the selection rule's MSi budget (`evaluation/selection.py`).
    seed: None (each run's seed derives from its folder, as in the first
      round), or the seed every run binds (`train.seed`).
    extra_seeds: `{run name: [seeds]}`: the named runs again with each of
      these seeds, as `<name>_s<seed>` (error bars for the key rows).
    baseline_models: `{M: model folder}`: use this separator as `m<M>/baseline`
      instead of training one (e.g. an earlier round's selected baseline),
      relative to `results_root`.
    results_root: folder against which relative `baseline_models` resolve
      (the study runner binds the study file's folder).
    classifier_dir, label_vocabulary: the pretrained classifier (a
      `train-classifier` run, or its weights alone: `folders.save_classifier`;
      relative to `results_root`) and its class-name file (relative to
      `data_root`), for the semantic arms.
    cosine_weight: the cosine weight of `soft_or+cosine+l1_l2`.
    sparsity_weight: the L1/L2 weight of `soft_or+cosine+l1_l2`.
    blind: the round is blind (`protocol.py`): its grid is fixed in a commit
      before the first test evaluation; later runs are post hoc and never ship.
    ema_momentum: None, or every run keeps a moving average of its weights at
      this momentum (`default_optimizer`, docs/training.md#averaged-weights),
      and checkpoints are selected and tested with the averaged weights.
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
  msi_tolerance_db: float = selection.DEFAULT_MSI_TOLERANCE_DB
  seed: typing.Optional[int] = None
  extra_seeds: typing.Mapping[str, typing.Sequence[int]] = dataclasses.field(default_factory=dict)
  baseline_models: typing.Mapping[int, str] = dataclasses.field(default_factory=dict)
  results_root: str = ""
  classifier_dir: typing.Optional[str] = None
  label_vocabulary: typing.Optional[str] = None
  cosine_weight: float = 1.0
  sparsity_weight: float = 0.0
  blind: bool = False
  ema_momentum: typing.Optional[float] = None

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
    known = arms_lib.all_arms()
    for where, arms in grids:
      for arm, weights in dict(arms).items():
        if arm not in known:
          raise ValueError(f"{where}: unknown arm {arm!r}; the arms are {sorted(known)}")
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
    if self.classifier_dir and not os.path.isabs(os.path.expanduser(self.classifier_dir)):
      self.classifier_dir = os.path.abspath(os.path.join(
          os.path.expanduser(self.results_root), self.classifier_dir))
    if self.label_vocabulary:
      path = os.path.join(os.path.expanduser(self.data_root), self.label_vocabulary)
      if not os.path.isfile(path):
        raise FileNotFoundError(f"Study.label_vocabulary: no such file {path!r}")
      self.label_vocabulary = os.path.abspath(path)
    if self.seed is not None:
      _positive_int("seed", self.seed)
    for name, seeds in dict(self.extra_seeds).items():
      for seed in seeds:
        _positive_int(f"extra_seeds[{name!r}]", seed)
    for m, folder in dict(self.baseline_models).items():
      if m not in self.num_sources:
        raise ValueError(f"Study.baseline_models names M = {m}, which is not in "
                         f"Study.num_sources = {list(self.num_sources)}")
      path = os.path.join(os.path.expanduser(self.results_root), folder)
      if not os.path.isdir(path):
        raise FileNotFoundError(f"Study.baseline_models[{m}]: no such model folder {path!r}")
    if not self.msi_tolerance_db >= 0:
      raise ValueError(f"Study.msi_tolerance_db must be >= 0, got {self.msi_tolerance_db!r}")

  def arms_for(self, num_sources):
    """`{arm: [weights]}` of the fine-tunes at M = `num_sources`."""
    return dict(dict(self.arms_by_num_sources).get(num_sources, self.arms))

  def runs(self):
    """The grid: `[RunSpec]`, each M's baseline before its fine-tunes, extra seeds last."""
    specs = []
    for m in self.num_sources:
      baseline = f"m{m}/baseline"
      common = (f"sound_separation.training_dataset.unsupervised_list = {self.train_list!r}",
                f"sound_separation.SeparationModel.num_sources = {m}",
                f"sound_separation.train.steps_per_checkpoint = {self.steps_per_checkpoint}",
                f"sound_separation.train.keep_checkpoint_every_steps = "
                f"{self.steps_per_checkpoint}")
      if self.ema_momentum is not None:
        common += (f"sound_separation.default_optimizer.ema_momentum = "
                   f"{float(self.ema_momentum)!r}",)
      init_model = dict(self.baseline_models).get(m)
      if init_model is not None:
        init_model = os.path.abspath(os.path.join(os.path.expanduser(self.results_root),
                                                  init_model))
      specs.append(RunSpec(baseline, m, "baseline", 0.0,
                           0 if init_model else self.baseline_steps, None,
                           common + (f"sound_separation.train.num_steps = "
                                     f"{self.baseline_steps}",),
                           seed=self.seed, init_model=init_model))
      for arm, weights in self.arms_for(m).items():
        for w in weights:
          w = float(w)
          specs.append(RunSpec(
              f"m{m}/{arm}_w{weight_name(w)}", m, arm, w, self.finetune_steps, baseline,
              common + (f"sound_separation.train.num_steps = {self.finetune_steps}",
                        *arms_lib.get(arm).bindings(w, self)), seed=self.seed))
    by_name = {spec.name: spec for spec in specs}
    for name, seeds in dict(self.extra_seeds).items():
      if name not in by_name:
        raise ValueError(f"Study.extra_seeds names {name!r}, which is not a run of the grid "
                         f"({', '.join(sorted(by_name))})")
      spec = by_name[name]
      if spec.init_model:
        raise ValueError(f"Study.extra_seeds names {name!r}, a baseline given as a model "
                         f"folder: it is not trained, so it has no seed to vary")
      for seed in seeds:
        if seed == self.seed:
          raise ValueError(f"Study.extra_seeds[{name!r}] repeats Study.seed = {seed}")
        specs.append(spec._replace(name=f"{name}_s{seed}", seed=seed))
    return specs
