import io
import json
import pathlib

import gin
import numpy as np
import pytest
import soundfile

from sound_separation import gin_utils
from sound_separation.models import SeparationModel
from sound_separation.training import loop

GIN_DIR = pathlib.Path(__file__).resolve().parents[1] / "gin"
MODEL_FILES = sorted((GIN_DIR / "models").glob("*.gin"))


def test_gin_model_files_exist():
  assert {p.name for p in MODEL_FILES} >= {"tdcnpp_m4.gin", "tdcnpp_m8.gin",
                                           "tdcnpp_m16.gin", "tiny.gin"}


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_gin_model_file_builds_its_model(path):
  gin.clear_config()
  try:
    gin.parse_config_file(str(path))
    model = SeparationModel()
    model.build((None, None))
    if path.name.startswith("tdcnpp_m"):
      num_sources = int(path.stem.split("_m")[1])
      assert model.num_sources == num_sources
      expected = {4: 8_803_841, 8: 9_067_009}.get(num_sources)
      if expected:
        assert model.count_params() == expected
    elif path.name == "tiny.gin":
      assert model.count_params() == 9_841  # the tiny bindings took effect
    else:
      assert model.num_basis == gin.query_parameter("sound_separation.SeparationModel.num_basis")
      assert model.tdcn.conv_channels == gin.query_parameter(
          "sound_separation.TDCNPlusPlus.conv_channels")
    if not path.name.startswith("tdcnpp_m"):
      out = model(np.zeros((1, 321), np.float32))
      assert out.shape == (1, model.num_sources, 321)
  finally:
    gin.clear_config()


# ----------------------------------------------------------------------------
# Every gin file in the tree runs one tiny training step.

ALL_FILES = sorted(GIN_DIR.rglob("*.gin"))
RATE = 16000
CLIP_SECONDS = 0.1
T = int(RATE * CLIP_SECONDS)
TRAINER = "sound_separation.MixITTrainer"
OPTIONAL_TERMS = ("Sparsity", "Covariance", "Classification", "CosineSimilarity")
DATASET = "sound_separation.training_dataset"
VALIDATION = "sound_separation.validation_dataset"


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
  """8 FUSS examples of 2 sources at 16 kHz; the same mixtures as a clip list."""
  root = tmp_path_factory.mktemp("corpus")
  rng = np.random.default_rng(0)
  fuss, clips = [], []
  for i in range(8):
    sources = (0.1 * rng.standard_normal([2, T])).astype(np.float32)
    names = [f"ex{i}_s{j}.wav" for j in range(2)]
    for name, source in zip(names, sources):
      soundfile.write(str(root / name), source, RATE, subtype="FLOAT")
    soundfile.write(str(root / f"ex{i}.wav"), sources.sum(0), RATE, subtype="FLOAT")
    fuss.append("\t".join([f"ex{i}.wav"] + names))
    clips.append(f"ex{i}.wav\t{'a' if i % 2 else 'b'}")
  (root / "fuss.txt").write_text("\n".join(fuss) + "\n")
  (root / "clips.txt").write_text("\n".join(clips) + "\n")
  (root / "labels.txt").write_text("a\nb\n")
  return root


def _tiny_overrides(corpus):
  """Bindings that shrink any configuration to a tiny, fast one on `corpus`."""
  params = [
      f"CLIP_LIST = '{corpus / 'clips.txt'}'",
      f"FUSS_TRAIN_LIST = '{corpus / 'fuss.txt'}'",
      f"FUSS_VALIDATION_LIST = '{corpus / 'fuss.txt'}'",
      f"VALIDATION_CLIP_LIST = '{corpus / 'clips.txt'}'",
      f"LABEL_VOCABULARY = '{corpus / 'labels.txt'}'",
      f"SAMPLE_RATE = {RATE}",
      f"{DATASET}.clip_seconds = {CLIP_SECONDS}",
      f"{VALIDATION}.clip_seconds = {CLIP_SECONDS}",
      "sound_separation.get_strategy.name = 'default'",  # tpu.gin: no TPU here
  ]
  has_unsupervised = gin_utils.is_bound(f"{DATASET}.unsupervised_list")
  has_supervised = gin_utils.is_bound(f"{DATASET}.supervised_list")
  if not has_unsupervised and not has_supervised:
    # A file that configures no data (models/, losses/, optimization/).
    params.append(f"{DATASET}.unsupervised_list = %CLIP_LIST")
    has_unsupervised = True
  if has_unsupervised:
    params.append(f"{DATASET}.batch_size = 4")
  if has_supervised:
    params.append(f"{DATASET}.supervised_batch_size = 4")
  if gin_utils.is_bound(f"{VALIDATION}.unsupervised_list"):
    params.append(f"{VALIDATION}.batch_size = 2")
  if gin_utils.is_bound(f"{VALIDATION}.supervised_list"):
    params.append(f"{VALIDATION}.supervised_batch_size = 2")
  return params, has_unsupervised, has_supervised


def _num_sources_of(path):
  gin.clear_config()
  gin_utils.parse_gin([str(path)])
  return (gin.query_parameter("sound_separation.SeparationModel.num_sources")
          if gin_utils.is_bound("sound_separation.SeparationModel.num_sources") else 4)


@pytest.fixture(scope="module")
def baselines(tmp_path_factory, tiny_corpus):
  """Tiny one-step runs to fine-tune from, one per number of outputs."""
  runs = {}

  def get(num_sources):
    if num_sources not in runs:
      model_dir = tmp_path_factory.mktemp(f"baseline_m{num_sources}")
      gin.clear_config()
      gin_utils.parse_gin([str(GIN_DIR / "models" / "tiny.gin")], [
          f"sound_separation.SeparationModel.num_sources = {num_sources}",
          f"{DATASET}.unsupervised_list = '{tiny_corpus / 'clips.txt'}'",
          f"{DATASET}.batch_size = 4", f"{DATASET}.clip_seconds = {CLIP_SECONDS}"])
      loop.train(str(model_dir), num_steps=1, num_audio_examples=0, stream=io.StringIO())
      runs[num_sources] = str(model_dir)
    return runs[num_sources]

  return get


CLASSIFIER_FILES = ("classifier/",)
TINY_CLASSIFIER = str(GIN_DIR / "classifier" / "tiny.gin")


def _classifier_overrides(corpus, num_steps=1):
  """Bindings that make any classifier configuration a tiny one-step run on `corpus`."""
  name = "sound_separation.train_classifier"
  return ["NUM_CLASSES = 2", "sound_separation.SoundClassifier.num_classes = 2",
          f"{name}.train_list = '{corpus / 'clips.txt'}'",
          f"{name}.validation_list = '{corpus / 'clips.txt'}'",
          f"{name}.vocabulary = '{corpus / 'labels.txt'}'", f"{name}.sample_rate = {RATE}",
          f"{name}.clip_seconds = {CLIP_SECONDS}", f"{name}.batch_size = 4",
          f"{name}.num_steps = {num_steps}", f"{name}.steps_per_checkpoint = {num_steps}",
          "sound_separation.get_strategy.name = 'default'"]


@pytest.fixture(scope="module")
def tiny_classifier_run(tmp_path_factory, tiny_corpus):
  """A tiny pretrained classifier (2 classes) for the files with classification losses."""
  model_dir = tmp_path_factory.mktemp("classifier")
  gin.clear_config()
  try:
    gin_utils.parse_gin([TINY_CLASSIFIER], _classifier_overrides(tiny_corpus))
    loop.train_classifier(str(model_dir), stream=io.StringIO())
  finally:
    gin.clear_config()
  return str(model_dir)


def _run_classifier_file(path, corpus, tmp_path):
  gin.clear_config()
  try:
    gin_utils.parse_gin([str(path), TINY_CLASSIFIER], _classifier_overrides(corpus))
    result = loop.train_classifier(str(tmp_path / "run"), stream=io.StringIO())
  finally:
    gin.clear_config()
  assert result.step == 1 and np.isfinite(result.metrics["loss"])
  assert 0 <= result.validation["map"] <= 1
  assert (tmp_path / "run" / "classifier.json").exists()


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(GIN_DIR)))
def test_every_gin_file_runs_a_tiny_step(path, tiny_corpus, baselines, tiny_classifier_run,
                                         tmp_path):
  name = str(path.relative_to(GIN_DIR))
  if name.startswith(CLASSIFIER_FILES):
    # Classifier pretraining files run one tiny train_classifier step.
    _run_classifier_file(path, tiny_corpus, tmp_path)
    return
  try:
    init = None
    num_sources = _num_sources_of(path)
    if gin_utils.is_bound("sound_separation.train.init_checkpoint"):
      init = baselines(num_sources)
    gin.clear_config()
    gin_utils.parse_gin([str(path)])
    solver = (gin.query_parameter("sound_separation.MixIT.solver")
              if gin_utils.is_bound("sound_separation.MixIT.solver") else "exact_gram")
    terms = []
    if not gin_utils.is_bound(f"{TRAINER}.loss_terms"):
      # A file that configures terms without listing them (losses/): run its
      # terms beside the default MixIT and PIT.
      terms = ["MixIT"] + [name for name in OPTIONAL_TERMS
                           if gin_utils.is_bound(f"sound_separation.{name}.weight")] + ["PIT"]
    overrides, has_unsupervised, has_supervised = _tiny_overrides(tiny_corpus)
    if init:
      overrides.append(f"sound_separation.train.init_checkpoint = '{init}'")
    has_classifier = gin_utils.is_bound("sound_separation.load_classifier.model_dir")
    if has_classifier:
      # The tiny pretrained classifier (2 classes, as the corpus's labels.txt).
      overrides.append(f"sound_separation.load_classifier.model_dir = '{tiny_classifier_run}'")
    if (gin_utils.is_bound(f"{DATASET}.supervised_as_moms")
        and gin.query_parameter(f"{DATASET}.supervised_as_moms") and num_sources < 8):
      # A dataset file alone: PIT on MoMs of 2 x 4 sources needs M >= 8.
      num_sources = 8
      overrides.append(f"sound_separation.SeparationModel.num_sources = {num_sources}")
    # Validation and audio summaries are exercised by the dataset files (which
    # the paper files include); elsewhere they only add tracing time.
    validate = name.startswith("datasets/")
    # tpu.gin runs several steps per execution; checkpoints must fall on them.
    num_steps = 2 if name == "tpu.gin" else 1
    # The files that name a FUSS validation list evaluate on it at each
    # checkpoint; outside datasets/ that is the same code again.
    evaluates = gin_utils.is_bound("sound_separation.train.evaluation_list")
    evaluation = {"evaluation_max_examples": 2} if validate else {"evaluation_list": None}
    # The tiny model's sizes, keeping the file's number of outputs.
    if terms:
      overrides.append(f"{TRAINER}.loss_terms = [{', '.join(f'@sound_separation.{t}()' for t in terms)}]")
    gin_utils.parse_gin([str(path), str(GIN_DIR / "models" / "tiny.gin")], overrides)
    stream = io.StringIO()
    result = loop.train(str(tmp_path / "run"), num_steps=num_steps,
                             steps_per_checkpoint=num_steps,
                             steps_per_execution=num_steps,
                             keep_checkpoint_every_steps=None, validation=validate,
                             num_audio_examples=int(validate), log_every=1, summary_every=1,
                             stream=stream, **evaluation)
  finally:
    gin.clear_config()
  trainer = result.trainer
  assert result.step == num_steps, stream.getvalue()
  assert trainer.separator.num_sources == num_sources
  mixit_terms = [t for t in trainer.loss_terms if t.name == "mixit"]
  assert [t.solver for t in mixit_terms] in ([solver], [])
  assert np.isfinite(result.metrics["loss"]), result.metrics
  # The file's data reached the loss terms it feeds, and every term it lists has data.
  assert (result.metrics.get("mixit", 0) != 0) == has_unsupervised, (name, result.metrics)
  assert (result.metrics.get("pit", 0) != 0) == has_supervised, (name, result.metrics)
  if not terms:  # the file lists its terms: each has data
    assert all(result.metrics[t] != 0 for t in trainer.terms), (name, result.metrics)
  assert (trainer.classifier is not None) == has_classifier, name
  if has_classifier:
    assert result.metrics["classification"] > 0 and result.metrics["cosine"] > 0, result.metrics
  assert (tmp_path / "run" / "checkpoints" / f"ckpt-{num_steps}.index").exists()
  if init:  # said, and recorded for programs that follow the run
    assert f"Initialised the separator from {init}/checkpoints/ckpt-1." in stream.getvalue()
    events = [json.loads(line) for line in
              (tmp_path / "run" / "progress.jsonl").read_text().splitlines()]
    assert events[0] == {"v": 1, "event": "initialised", "step": 0,
                         "checkpoint": f"{init}/checkpoints/ckpt-1"}
  if validate:
    assert result.initial_validation and np.isfinite(result.validation["loss"])
    assert (f"step {num_steps} evaluation" in stream.getvalue()) == evaluates, name
  if name == "tpu.gin":
    assert trainer.jit_compile is True  # the step compiled with XLA
  if "bfloat16" in path.read_text() or name == "tpu.gin":
    assert trainer.separator.dtype_policy.name == "mixed_bfloat16"


@pytest.mark.parametrize("binding, argument", [
    # A loss's settings live on its term (`MixIT.solver`, `PIT.zero_ref_weight`, ...):
    # the loss functions are not configurable at all.
    ("sound_separation.mixit.solver = 'efficient'", "sound_separation.mixit"),
    ("sound_separation.pit.zero_ref_weight = 0.0", "sound_separation.pit"),
    ("sound_separation.l1_l2_sparsity.eps = 0.1", "sound_separation.l1_l2_sparsity"),
    ("sound_separation.classification_loss.aggregation = 'xor'",
     "sound_separation.classification_loss"),
    ("sound_separation.clip_dataset.clip_seconds = 3.0", "clip_seconds"),
    ("sound_separation.fuss_dataset.max_sources = 2", "max_sources"),
])
def test_arguments_the_trainer_passes_cannot_be_bound(binding, argument):
  # The trainer would override such a binding silently; gin refuses it instead.
  gin.clear_config()
  try:
    with pytest.raises(ValueError, match=argument):
      gin.parse_config(binding)
  finally:
    gin.clear_config()


def test_a_loss_setting_bound_on_its_term_is_honoured():
  from sound_separation.losses import pit  # pylint: disable=import-outside-toplevel
  from sound_separation.training import loss_terms  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  reference = np.zeros((1, 2, 800), np.float32)
  reference[0, 0] = rng.normal(size=800)
  estimate = rng.normal(size=(1, 2, 800)).astype(np.float32)
  mixture = reference.sum(axis=1)
  default = float(pit(reference, estimate, mixture=mixture)[0][0])
  explicit = float(pit(reference, estimate, mixture=mixture, zero_ref_weight=0.0)[0][0])
  gin.clear_config()
  try:
    gin.parse_config("sound_separation.PIT.zero_ref_weight = 0.0")
    term = loss_terms.PIT()
  finally:
    gin.clear_config()
  step = loss_terms.Step(training=False, supervised_sources=reference,
                         supervised_separated=estimate,
                         supervised_mixtures=mixture)
  bound = float(term.per_example(step)[0])
  assert bound == pytest.approx(explicit, abs=1e-6) and explicit != default
  # ... and is saved with the term.
  assert loss_terms.PIT.from_config(term.get_config()).zero_ref_weight == 0.0


@pytest.mark.parametrize("precision, compute", [("mixed_bfloat16", "bfloat16"),
                                                ("mixed_float16", "float16")])
def test_a_run_at_reduced_precision_leaves_the_global_policy_alone(tmp_path, precision,
                                                                   compute):
  import keras  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  lines = []
  for i in range(4):
    soundfile.write(str(tmp_path / f"c{i}.wav"), 0.1 * rng.standard_normal(1600), 16000,
                    subtype="FLOAT")
    lines.append(f"c{i}.wav")
  (tmp_path / "clips.txt").write_text("\n".join(lines) + "\n")
  gin.clear_config()
  try:
    gin_utils.parse_gin(["models/tiny"], [
        f"sound_separation.training_dataset.unsupervised_list = '{tmp_path / 'clips.txt'}'",
        "sound_separation.training_dataset.batch_size = 4",
        "sound_separation.training_dataset.clip_seconds = 0.05"])
    result = loop.train(str(tmp_path / "run"), num_steps=2, steps_per_checkpoint=2,
                        precision=precision, num_audio_examples=0, stream=io.StringIO())
  finally:
    gin.clear_config()
  assert keras.config.dtype_policy().name == "float32"
  assert result.trainer.separator.tdcn.conv_block_0.dense1.dense.compute_dtype == compute
  assert all(v.dtype == "float32" for v in result.trainer.trainable_variables)
  assert isinstance(result.trainer.optimizer, keras.optimizers.LossScaleOptimizer) == (
      precision == "mixed_float16")
  assert np.isfinite(result.metrics["loss"])
