"""The sound-event classifier, its pretraining, metrics and the semantic losses in the step.

References are independent of the code under test: the parameter count from
the ResNet formula, the front end from a NumPy loop, AP/AUC by brute force
over thresholds and pairs, MoM labels by NumPy max, and the in-step losses
from the standalone loss functions on posteriors computed outside the step.
"""

import io
import itertools

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from sound_separation import run_folder
from sound_separation.corpus import synthetic
from sound_separation.data import pipelines
from sound_separation.evaluation import tagging
from sound_separation.layers import TDCNPlusPlus
from sound_separation.layers import WaveformFilterbank
from sound_separation.losses import classification
from sound_separation.models import folders
from sound_separation.models import SeparationModel
from sound_separation.models import SoundClassifier
from sound_separation.training import loop
from sound_separation.training import MixITTrainer
from sound_separation.training.loss_terms import Classification
from sound_separation.training.loss_terms import CosineSimilarity
from sound_separation.training.loss_terms import MixIT

RATE = 16000
TINY = dict(num_filters=8, widths=(4, 8), blocks_per_stage=1)


def tiny_separator(num_sources=4):
  return SeparationModel(num_sources=num_sources, num_basis=32, tdcn=TDCNPlusPlus(
      bottleneck=16, conv_channels=32, num_dilations=4, num_repeats=1, name="tdcn"))


def tiny_classifier(num_classes=3, **kwargs):
  return SoundClassifier(num_classes=num_classes, **{**TINY, **kwargs})


def expected_parameters(num_classes, num_filters=64, window=400, widths=(64, 128, 256, 512),
                        blocks=2, stem_kernel=7):
  """ResNet parameter count by formula; BatchNorm counts γ, β, mean, variance."""
  bn = 4
  total = window * num_filters                           # filterbank, no bias
  total += stem_kernel ** 2 * widths[0] + bn * widths[0]  # stem conv + BN
  channels = widths[0]
  for s, width in enumerate(widths):
    for b in range(blocks):
      stride = 2 if s > 0 and b == 0 else 1
      total += 9 * channels * width + bn * width + 9 * width * width + bn * width
      if stride != 1 or channels != width:
        total += channels * width + bn * width        # 1x1 projection + BN
      channels = width
  return total + channels * num_classes + num_classes    # Dense head


# ----------------------------------------------------------------------------
# The model.


@pytest.mark.parametrize("num_classes", [527, 5])
def test_paper_classifier_parameter_count_and_shape(num_classes):
  model = SoundClassifier(num_classes=num_classes)
  model.build((None, None))
  assert model.count_params() == expected_parameters(num_classes)
  assert len(model.blocks) == 8  # ResNet-18: 4 stages of 2 BasicBlocks
  logits = model(tf.zeros([2, RATE // 4]))
  assert logits.shape == (2, num_classes) and logits.dtype == tf.float32
  assert np.all(np.isfinite(logits.numpy()))


def test_tiny_classifier_count_shapes_and_round_trip():
  model = tiny_classifier(num_classes=7)
  model.build((None, None))
  assert model.count_params() == expected_parameters(7, num_filters=8, widths=(4, 8), blocks=1)
  for samples in (1, 399, 4321):
    assert model(tf.random.normal([3, samples])).shape == (3, 7)
  clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
  if not clone.built:
    clone.build((None, None))
  clone.set_weights(model.get_weights())
  x = tf.random.normal([2, 2000])
  np.testing.assert_allclose(clone(x), model(x), rtol=1e-5, atol=1e-5)
  # Every weight is reachable by tf.train.Checkpoint (no layers hidden in lists).
  saved = {name for name, _ in tf.train.list_variables(
      tf.train.Checkpoint(m=model).write("/tmp/_cls_vars_" + str(id(model))))}
  assert sum("VARIABLE_VALUE" in n for n in saved) == len(model.weights)


def test_filterbank_matches_numpy():
  layer = WaveformFilterbank(num_filters=3, window_size=40, hop_size=16, conv_stride=4, eps=1e-6)
  x = np.random.default_rng(1).standard_normal([2, 100]).astype(np.float32)
  got = layer(x).numpy()
  kernel = layer.filters.kernel.numpy()[:, 0, :]  # [window, filters]
  frames = -(-100 // 16)
  start = (40 - 16) // 2
  padded = np.zeros([2, start + frames * 16 + 40], np.float32)
  padded[:, start:start + 100] = x
  want = np.zeros([2, frames, 3])
  for n in range(frames):
    outs = [padded[:, n * 16 + j * 4: n * 16 + j * 4 + 40] @ kernel for j in range(4)]
    want[:, n] = np.log(np.max(np.abs(np.stack(outs)), axis=0) ** 2 + 1e-6)
  assert got.shape == (2, frames, 3)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_classifier_compiles_with_xla_and_is_finite_on_silence():
  model = tiny_classifier()
  x = tf.zeros([4, 3000])
  step = tf.function(jit_compile=True)(lambda x: _loss_and_grads(model, x))
  loss, grads = step(x)
  assert np.isfinite(loss.numpy()) and all(np.all(np.isfinite(g.numpy())) for g in grads)


def _loss_and_grads(model, x):
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.sigmoid(model(x, training=True)))
  return loss, tape.gradient(loss, model.trainable_variables)


# ----------------------------------------------------------------------------
# mAP / AUC against brute force.


def _brute_ap(labels, scores):
  positives = [i for i in range(len(labels)) if labels[i]]
  precisions = []
  for i in positives:
    above = [j for j in range(len(labels)) if scores[j] >= scores[i]]
    precisions.append(sum(labels[j] for j in above) / len(above))
  return np.mean(precisions)


def _brute_auc(labels, scores):
  pairs = [(p, n) for p in range(len(labels)) if labels[p]
           for n in range(len(labels)) if not labels[n]]
  return np.mean([1.0 if scores[p] > scores[n] else 0.5 if scores[p] == scores[n] else 0.0
                  for p, n in pairs])


def test_tagging_metrics_match_brute_force():
  rng = np.random.default_rng(0)
  labels = rng.random([40, 6]) < 0.3
  labels[0, :] = True
  labels[1, :] = False
  scores = np.round(rng.random([40, 6]) + 0.4 * labels, 1)  # many ties
  labels[:, 5] = False  # a class with no positive: left out
  result = tagging.tagging_metrics(labels, scores, [f"c{k}" for k in range(6)])
  for k in range(5):
    assert result["average_precision"][k] == pytest.approx(_brute_ap(labels[:, k], scores[:, k]))
    assert result["auc"][k] == pytest.approx(_brute_auc(labels[:, k], scores[:, k]))
  assert np.isnan(result["average_precision"][5]) and np.isnan(result["auc"][5])
  assert result["map"] == pytest.approx(np.mean([_brute_ap(labels[:, k], scores[:, k])
                                                 for k in range(5)]))
  assert result["num_classes_scored"] == 5
  assert result["per_class"]["c2"]["positives"] == labels[:, 2].sum()
  # Hand-computed: ranking [+, -, +] has AP (1 + 2/3)/2 and AUC 1/2.
  assert tagging.average_precision([1, 0, 1], [3, 2, 1]) == pytest.approx(5 / 6)
  assert tagging.roc_auc([1, 0, 1], [3, 2, 1]) == pytest.approx(0.5)


# ----------------------------------------------------------------------------
# The classifier in the MixIT step.


def _batch(num_mixtures=4, samples=3000, num_classes=3, seed=0):
  rng = np.random.default_rng(seed)
  labels = np.zeros([num_mixtures, num_classes], np.float32)
  labels[np.arange(num_mixtures), rng.integers(0, num_classes, num_mixtures)] = 1
  return {"mixtures": tf.constant(0.1 * rng.standard_normal([num_mixtures, samples]),
                                  tf.float32),
          "labels": tf.constant(labels)}


@pytest.mark.parametrize("aggregation", ["or", "xor"])
def test_in_step_losses_equal_standalone_functions(aggregation):
  keras.utils.set_random_seed(0)
  trainer = MixITTrainer(tiny_separator(), classifier=tiny_classifier(), loss_terms=[
      MixIT(), Classification(0.7, aggregation=aggregation), CosineSimilarity(0.3)])
  batch = _batch()
  terms = trainer.compute_losses(batch, training=False)
  # Outside the step: the MoMs, the outputs, the posteriors, the MoM labels.
  mixtures, labels = batch["mixtures"].numpy(), batch["labels"].numpy()
  mom = mixtures[0::2] + mixtures[1::2]
  separated = trainer.separator(mom).numpy()                  # [2, M, T]
  logits = trainer.classifier(separated.reshape(-1, separated.shape[-1])).numpy()
  probs = tf.sigmoid(logits.reshape(2, 4, -1))
  mom_labels = np.maximum(labels[0::2], labels[1::2])
  want_cls = np.mean(classification.classification_loss(probs, mom_labels, aggregation))
  want_cos = np.mean(classification.cosine_similarity_loss(probs))
  assert float(terms["classification"]) == pytest.approx(want_cls, rel=1e-4)
  assert float(terms["cosine"]) == pytest.approx(want_cos, rel=1e-4)
  want_total = (terms["mixit"] + 0.7 * want_cls + 0.3 * want_cos)
  assert float(terms["total"]) == pytest.approx(float(want_total), rel=1e-5)


def _weights(model):
  return [v.numpy().copy() for v in model.weights]


def _changed(before, model):
  return [v.path for a, v in zip(before, model.weights) if not np.array_equal(a, v.numpy())]


@pytest.mark.parametrize("joint", [False, True], ids=["frozen", "joint"])
def test_frozen_classifier_is_unchanged_and_joint_one_trains(joint):
  keras.utils.set_random_seed(1)
  trainer = MixITTrainer(tiny_separator(), classifier=tiny_classifier(),
                         loss_terms=[MixIT(), Classification(), CosineSimilarity()],
                         joint_classifier=joint, classifier_crop_samples=2000)
  # Joint runs with XLA (jit_compile), frozen plain: both compile paths.
  trainer.compile(jit_compile=joint, run_eagerly=not joint)
  classifier_before, separator_before = _weights(trainer.classifier), _weights(trainer.separator)
  logs = trainer.train_on_batch(_batch(), return_dict=True)
  assert all(np.isfinite(v) for v in logs.values()) and logs["classification"] > 0
  changed = _changed(classifier_before, trainer.classifier)
  if joint:
    # Every weight moves: kernels by Adam, BatchNorm statistics by the batch.
    assert len(changed) == len(classifier_before)
  else:
    assert changed == []
    assert not any(v is w for v in trainer.trainable_variables for w in trainer.classifier.weights)
  assert len(_changed(separator_before, trainer.separator)) == len(separator_before)


def test_semantic_losses_finite_on_silence_and_config_round_trip():
  trainer = MixITTrainer(tiny_separator(), classifier=tiny_classifier(),
                         loss_terms=[MixIT(), Classification(aggregation="xor"),
                                     CosineSimilarity()],
                         joint_classifier=True, recompute=True)
  batch = {"mixtures": tf.zeros([4, 2000]), "labels": tf.ones([4, 3])}
  with tf.GradientTape() as tape:
    terms = trainer.compute_losses(batch, training=True)
  grads = tape.gradient(terms["total"], trainer.trainable_variables)
  assert all(np.isfinite(float(v)) for v in terms.values())
  assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
  assert trainer.classifier.recompute
  clone = MixITTrainer.from_config(trainer.get_config())
  assert clone.classifier.num_classes == 3 and clone.joint_classifier
  assert clone.loss_terms[1].aggregation == "xor"
  with pytest.raises(ValueError, match="weak labels"):
    trainer.compute_losses({"mixtures": tf.zeros([4, 2000])}, training=True)
  with pytest.raises(ValueError, match="need a classifier"):
    MixITTrainer(tiny_separator(), loss_terms=[MixIT(), CosineSimilarity()])
  with pytest.raises(ValueError, match="no loss term uses it"):
    MixITTrainer(tiny_separator(), classifier=tiny_classifier(), loss_terms=[MixIT()])


# ----------------------------------------------------------------------------
# End to end: pretrain on a separable toy label set, then drive a separation step.

TOY_CLASSES = ("harmonic", "chirp", "noise_bed")
TOY_SECONDS = 1.0


def _write_toy_list(folder, name, count, seed):
  rng = np.random.default_rng(seed)
  samples = int(TOY_SECONDS * RATE)
  lines = []
  for i in range(count):
    present = [c for c in TOY_CLASSES if rng.random() < 0.5] or [TOY_CLASSES[i % 3]]
    clip = sum(0.3 * getattr(synthetic, c)(rng, samples, RATE) for c in present)
    path = folder / f"{name}{i}.wav"
    soundfile.write(str(path), clip.astype(np.float32), RATE, subtype="FLOAT")
    lines.append(f"{path.name}\t{','.join(present)}")
  (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
  return folder / f"{name}.txt", lines


def test_pretrain_then_drive_a_separation_step(tmp_path):
  (tmp_path / "labels.txt").write_text("\n".join(TOY_CLASSES) + "\n")
  train_list, _ = _write_toy_list(tmp_path, "train", 96, seed=0)
  validation_list, lines = _write_toy_list(tmp_path, "validation", 48, seed=1)
  keras.utils.set_random_seed(0)
  model_dir = str(tmp_path / "classifier")
  common = dict(train_list=str(train_list), vocabulary=str(tmp_path / "labels.txt"),
                validation_list=str(validation_list), batch_size=16, clip_seconds=TOY_SECONDS,
                learning_rate=3e-3, steps_per_checkpoint=30, seed=0, log_every=30,
                stream=io.StringIO())
  tiny = dict(num_classes=3, num_filters=16, widths=(8, 16), blocks_per_stage=1)
  import gin  # pylint: disable=import-outside-toplevel
  gin.clear_config()
  try:
    for key, value in tiny.items():
      gin.bind_parameter(f"sound_separation.SoundClassifier.{key}", value)
    result = loop.train_classifier(model_dir, num_steps=60, **common)
    # Resume: the run continues from its checkpoint at step 60.
    resumed = loop.train_classifier(model_dir, num_steps=90, **common)
  finally:
    gin.clear_config()
  assert result.step == 60 and resumed.step == 90
  chance = np.mean([[c in line.split("\t")[1].split(",") for c in TOY_CLASSES]
                    for line in lines])  # mAP of random scores ≈ class prevalence
  assert resumed.validation["map"] > max(0.85, chance + 0.3), (resumed.validation, chance)
  # Over run seeds 0-4 the tiny classifier reaches a mean AUC of 0.76-0.96 (chance: 0.5).
  assert resumed.validation["mean_auc"] > 0.7, resumed.validation
  assert (tmp_path / "classifier" / run_folder.TAGGING_FILE).exists()

  # The pretrained classifier, frozen, in a MixIT step on labelled mixtures.
  classifier = folders.load_classifier(model_dir)
  np.testing.assert_array_equal(classifier.head.kernel.numpy(),
                                resumed.trainer.classifier.head.kernel.numpy())
  trainer = MixITTrainer(tiny_separator(), classifier=classifier,
                         loss_terms=[MixIT(), Classification()])
  trainer.compile(run_eagerly=True)
  dataset = pipelines.clip_dataset(str(train_list), 4, clip_seconds=TOY_SECONDS,
                                  vocabulary=list(TOY_CLASSES), seed=0)
  before = _weights(trainer.separator)
  logs = trainer.train_on_batch(next(iter(dataset)), return_dict=True)
  assert np.isfinite(logs["loss"]) and logs["classification"] > 0, logs
  assert _changed(before, trainer.separator)


def test_train_classifier_command(tmp_path):
  from sound_separation import cli  # pylint: disable=import-outside-toplevel
  import gin  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  lines = []
  for i in range(4):
    soundfile.write(str(tmp_path / f"c{i}.wav"), 0.1 * rng.standard_normal(2000), RATE)
    lines.append(f"c{i}.wav\t{'a' if i % 2 else 'a,b'}")
  (tmp_path / "clips.txt").write_text("\n".join(lines) + "\n")
  (tmp_path / "labels.txt").write_text("a\nb\n")
  out = io.StringIO()
  name = "sound_separation.train_classifier"
  args = ["sound-separation", "train-classifier", f"--model_dir={tmp_path / 'run'}",
          "--gin_file=classifier/tiny",
          "--gin_param=sound_separation.SoundClassifier.num_classes=2"]
  args += [f"--gin_param={b}" for b in (
      f"{name}.train_list='{tmp_path / 'clips.txt'}'",
      f"{name}.vocabulary='{tmp_path / 'labels.txt'}'",
      f"{name}.validation_list='{tmp_path / 'clips.txt'}'", f"{name}.batch_size=2",
      f"{name}.clip_seconds=0.125", f"{name}.num_steps=2", f"{name}.steps_per_checkpoint=2")]
  gin.clear_config()
  try:
    assert cli.main(args, stream=out) == 0, out.getvalue()
  finally:
    gin.clear_config()
  assert "Done" in out.getvalue() and "validation: mAP" in out.getvalue()
  _, rate, names = folders.read_classifier_config(str(tmp_path / "run"))
  assert rate == RATE and names == ["a", "b"]
  assert (tmp_path / "run" / "checkpoints" / "ckpt-2.index").exists()
  help_out = io.StringIO()
  assert cli.main(["sound-separation", "train-classifier", "--help"], stream=help_out) == 0
  assert "--gin_file" in help_out.getvalue()


def test_d_prime_is_the_normal_quantile_of_the_auc():
  from scipy.stats import norm  # pylint: disable=import-outside-toplevel
  from sound_separation.evaluation import tagging  # pylint: disable=import-outside-toplevel
  assert tagging.d_prime(0.5) == 0.0
  # AUC = Φ(d'/√2) for equal-variance Gaussian scores: d' = 1 at AUC = Φ(1/√2).
  assert abs(tagging.d_prime(norm.cdf(1 / np.sqrt(2))) - 1.0) < 1e-9
  assert tagging.d_prime(0.2) < 0
  result = tagging.tagging_metrics(np.array([[1, 0], [0, 1], [1, 1], [0, 0]]),
                                   np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.3]]))
  assert result["mean_auc"] == 1.0 and result["d_prime"] > 8


@pytest.mark.slow
def test_a_resumed_classifier_run_equals_the_uninterrupted_one(tmp_path):
  # The classifier trains in the separator's loop: its input resumes where the
  # checkpoint was (the seeded shuffle and crops), so 3 + 3 steps give the
  # weights of 6 straight. 12 clips of 0.25 s cropped to 0.125 s, 4 per batch:
  # step 4 starts a new epoch's shuffle.
  import os  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  lines = []
  for i in range(12):
    soundfile.write(str(tmp_path / f"c{i}.wav"), 0.1 * rng.standard_normal(RATE // 4), RATE)
    lines.append(f"c{i}.wav\t{'a' if i % 3 else 'a,b'}")
  (tmp_path / "clips.txt").write_text("\n".join(lines) + "\n")
  (tmp_path / "labels.txt").write_text("a\nb\n")
  name = "sound_separation.train_classifier"

  def train(run, num_steps):
    params = ["sound_separation.SoundClassifier.num_classes = 2",
              f"{name}.train_list = '{tmp_path / 'clips.txt'}'",
              f"{name}.vocabulary = '{tmp_path / 'labels.txt'}'", f"{name}.batch_size = 4",
              f"{name}.clip_seconds = 0.125", f"{name}.learning_rate = 0.01",
              f"{name}.seed = 5", f"{name}.num_steps = {num_steps}",
              f"{name}.steps_per_checkpoint = 3"]
    done = subprocess.run(
        [sys.executable, "-m", "sound_separation", "train-classifier",
         f"--model_dir={tmp_path / run}", "--gin_file=classifier/tiny"]
        + [f"--gin_param={p}" for p in params],
        env=dict(os.environ, TF_DETERMINISTIC_OPS="1", CUDA_VISIBLE_DEVICES=""),
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

  train("straight", 6)
  train("resumed", 3)
  train("resumed", 6)
  weights = {run: [v.numpy() for v in folders.load_classifier(str(tmp_path / run)).weights]
             for run in ("straight", "resumed")}
  start = [v.numpy() for v in folders.load_classifier(
      str(tmp_path / "resumed"), str(tmp_path / "resumed" / "checkpoints" / "ckpt-3")).weights]
  assert max(float(np.abs(a - b).max()) for a, b in zip(weights["straight"], start)) > 1e-4
  gap = max(float(np.abs(a - b).max()) for a, b in zip(weights["straight"], weights["resumed"]))
  assert gap == 0.0, f"the resumed classifier differs by {gap:g}"
