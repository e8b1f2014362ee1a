"""A study's loss arms: each an object naming its loss terms, defined once (docs/study.md).

An `Arm` is a fine-tune's training loss: MixIT plus the terms it names, each
with its fixed arguments and where its weight comes from — the weight being
swept (`SWEPT`), a setting of the study (`Study.covariance_weight`, ...), or
a number. `arm.bindings(weight, study)` spells its gin bindings; the grid
(`grid.Study.runs`), `adapt`'s recipe, the step profiler
(`tools/profile_study_step.py`) and the report's titles all read them from
here, and the terms' order is theirs (`LossTerm.order`).

A loss term declares its own one-term arms (`LossTerm.arms`, e.g.
`Sparsity.arms = {"l1": ..., "l1_l2": ...}`), so a new sparsity-style loss
becomes an arm where its term is defined; the arms that combine terms or
change the solver are defined below. `all_arms()` gathers both, in that
order.
"""

import dataclasses
import typing

from sound_separation.training import loss_terms

SWEPT = "swept"
_P = "sound_separation."


@dataclasses.dataclass(frozen=True)
class Term:
  """One loss term of an arm.

  Attributes:
    name: the term's class name (`LossTerm` subclass, registered in gin).
    args: its fixed arguments, `{argument: value}`.
    weight: `SWEPT` (the arm's swept weight), the name of a `Study` field
      holding it, or a number; None leaves the term's own weight.
  """
  name: str
  args: typing.Tuple[typing.Tuple[str, typing.Any], ...] = ()
  weight: typing.Any = None


@dataclasses.dataclass(frozen=True)
class Arm:
  """A fine-tune's loss: MixIT plus `terms`.

  Attributes:
    name: as in study files and run names (`<arm>_w<weight>`).
    title: the report's wording (Table 1's).
    terms: the terms besides MixIT (`Term`).
    mixit_args: arguments of the MixIT term (e.g. the efficient solver).
    classifier: None (no classifier), "frozen" or "joint": the arm needs
      the study's pretrained classifier (`Study.classifier_dir`) and weak
      labels (`Study.label_vocabulary`), trained jointly or not.
  """
  name: str
  title: str
  terms: typing.Tuple[Term, ...] = ()
  mixit_args: typing.Tuple[typing.Tuple[str, typing.Any], ...] = ()
  classifier: typing.Optional[str] = None

  @property
  def semantic(self):
    return self.classifier is not None

  def bindings(self, weight, study=None):
    """The gin bindings of this arm at `weight` (a `grid.Study`, or None without semantic arms)."""
    classes = loss_terms.registered_terms()
    names = ["MixIT"] + [term.name for term in self.terms]
    for name in names:
      if name not in classes:
        raise ValueError(f"arm {self.name!r}: no loss term {name!r} (registered: "
                         f"{sorted(classes)})")
    ordered = sorted(names, key=lambda n: classes[n].order)
    lines = [f"{_P}MixITTrainer.loss_terms = [{', '.join(f'@{_P}{n}()' for n in ordered)}]"]
    lines += [f"{_P}MixIT.{k} = {v!r}" for k, v in self.mixit_args]
    for term in self.terms:
      lines += [f"{_P}{term.name}.{k} = {v!r}" for k, v in term.args]
      if term.weight is not None:
        value = (weight if term.weight == SWEPT
                 else getattr(study, term.weight) if isinstance(term.weight, str)
                 else term.weight)
        lines.append(f"{_P}{term.name}.weight = {float(value)!r}")
    if self.classifier:
      if study is None or not study.classifier_dir or not study.label_vocabulary:
        raise ValueError("the semantic arms need Study.classifier_dir (a train-classifier run) "
                         "and Study.label_vocabulary (its class names; the training list must "
                         "carry weak labels)")
      lines += [f"{_P}load_classifier.model_dir = {study.classifier_dir!r}",
                f"{_P}MixITTrainer.classifier = @{_P}load_classifier()",
                f"{_P}MixITTrainer.joint_classifier = {self.classifier == 'joint'!r}",
                f"{_P}training_dataset.vocabulary = {study.label_vocabulary!r}"]
    return lines


def _swept(name, **args):
  return Term(name, tuple(sorted(args.items())), SWEPT)


_EFFICIENT = (("solver", "efficient"),)

# The arms that combine terms or change MixIT itself.
COMBINED = (
    Arm("mixit", "MixIT continued (control)"),
    Arm("l1_l2+covariance", "L1/L2 sparsity + covariance",
        (_swept("Sparsity", kind="l1_l2"), Term("Covariance", (), "covariance_weight"))),
    Arm("mixit_efficient", "MixIT continued, efficient solver", mixit_args=_EFFICIENT),
    Arm("l1_l2_efficient", "L1/L2 sparsity, efficient solver",
        (_swept("Sparsity", kind="l1_l2"),), mixit_args=_EFFICIENT),
    Arm("soft_or", "Soft-OR classification (frozen classifier)",
        (_swept("Classification", aggregation="or"),), classifier="frozen"),
    Arm("soft_xor", "Soft-XOR classification (frozen classifier)",
        (_swept("Classification", aggregation="xor"),), classifier="frozen"),
    Arm("cosine", "Cosine similarity (joint classifier)",
        (_swept("CosineSimilarity"),), classifier="joint"),
    Arm("soft_or+cosine+l1_l2", "Soft-OR + cosine + L1/L2 sparsity (joint classifier)",
        (_swept("Classification", aggregation="or"),
         Term("CosineSimilarity", (), "cosine_weight"),
         Term("Sparsity", (("kind", "l1_l2"),), "sparsity_weight")), classifier="joint"),
)
# How the report names the baseline, which is not an arm.
BASELINE_TITLE = "Baseline (MixIT)"


def all_arms():
  """`{name: Arm}`: every term's own arms (`LossTerm.arms`), then the combined ones."""
  arms = {}
  for cls in sorted(loss_terms.registered_terms().values(), key=lambda c: c.order):
    for name, (arm_title, args) in cls.arms.items():
      if cls.needs_classifier:  # frozen or joint is the arm's choice: define it in COMBINED
        raise ValueError(f"{cls.__name__}.arms: a term that needs a classifier has its arms "
                         f"defined in study/arms.py (COMBINED)")
      if name in arms:
        raise ValueError(f"arm {name!r} is defined twice")
      arms[name] = Arm(name, arm_title, (_swept(cls.__name__, **args),))
  for arm in COMBINED:
    if arm.name in arms:
      raise ValueError(f"arm {arm.name!r} is defined twice")
    arms[arm.name] = arm
  return arms


def get(name):
  """The arm `name`; ValueError listing the arms if there is none."""
  arms = all_arms()
  if name not in arms:
    raise ValueError(f"unknown arm {name!r}; the arms are {sorted(arms)}")
  return arms[name]


def semantic_names():
  """The names of the arms that need the classifier."""
  return tuple(name for name, arm in all_arms().items() if arm.semantic)


def title(name):
  """The report's title of arm `name` (or of the baseline)."""
  return BASELINE_TITLE if name == "baseline" else get(name).title
