import keras
import numpy as np
import pytest
import tensorflow as tf

from sound_separation import run_folder
from sound_separation.models import folders
from sound_separation.training import checkpoints
from sound_separation.training import strategies
from test_trainer import tiny_trainer


def _built_trainer(seed):
  trainer = tiny_trainer()
  rng = np.random.default_rng(seed)
  for v in trainer.trainable_variables:
    v.assign(rng.uniform(-0.3, 0.3, v.shape).astype(np.float32))
  trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
  trainer.optimizer.build(trainer.trainable_variables)
  return trainer


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  return {"mixtures": rng.standard_normal((4, 1600)).astype(np.float32)}


def test_resume_restores_weights_optimizer_and_step(tmp_path):
  trainer = _built_trainer(0)
  for _ in range(3):
    trainer.train_on_batch(_batch())
  manager = checkpoints.make_manager(trainer, str(tmp_path), max_to_keep=2)
  for _ in range(3):
    manager.save(checkpoint_number=int(trainer.optimizer.iterations.numpy()))
    trainer.train_on_batch(_batch())
  assert len(manager.checkpoints) == 2  # retention
  # The latest checkpoint holds step 5: restore it into a fresh trainer.
  fresh = _built_trainer(1)
  restored = checkpoints.restore_or_initialize(
      checkpoints.make_manager(fresh, str(tmp_path)), fresh)
  assert restored == (5, str(tmp_path / "checkpoints" / "ckpt-5"), None)
  reference = _built_trainer(0)
  for _ in range(5):
    reference.train_on_batch(_batch())
  for mine, theirs in zip(fresh.weights, reference.weights):
    np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-6,
                               err_msg=mine.path)


def test_worker_resumes_from_the_chiefs_checkpoints_not_its_scratch_folder(tmp_path):
  chief = _built_trainer(4)
  chief.train_on_batch(_batch())
  chief_manager = checkpoints.make_manager(chief, str(tmp_path / "run"))
  chief_manager.save(checkpoint_number=1)
  worker = _built_trainer(5)  # other weights, as a fresh worker would have
  scratch = checkpoints.make_manager(worker, str(tmp_path / "run" / ".worker_1"))
  restored = checkpoints.restore_or_initialize(
      scratch, worker, resume_dir=run_folder.checkpoints(str(tmp_path / "run")))
  assert restored.step == 1 and restored.checkpoint.startswith(str(tmp_path / "run"))
  for mine, theirs in zip(worker.weights, chief.weights):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=mine.path)


def test_init_checkpoint_reads_only_the_separator(tmp_path):
  source = _built_trainer(2)
  for _ in range(2):
    source.train_on_batch(_batch())
  checkpoints.make_manager(source, str(tmp_path / "baseline")).save()
  target = _built_trainer(3)
  restored = checkpoints.restore_or_initialize(
      checkpoints.make_manager(target, str(tmp_path / "finetune")), target,
      init_checkpoint=str(tmp_path / "baseline"))
  assert restored.step == 0 and restored.checkpoint is None
  assert restored.initialised_from == str(tmp_path / "baseline" / "checkpoints" / "ckpt-1")
  assert int(target.optimizer.iterations.numpy()) == 0
  for mine, theirs in zip(target.separator.weights, source.separator.weights):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_init_checkpoint_errors_name_the_path(tmp_path):
  target = _built_trainer(4)
  with pytest.raises(FileNotFoundError, match="nowhere"):
    checkpoints.restore_or_initialize(
        checkpoints.make_manager(target, str(tmp_path / "run")), target,
        init_checkpoint=str(tmp_path / "nowhere"))


def test_strategy_selection(monkeypatch):
  assert strategies.get_strategy("default") is tf.distribute.get_strategy()
  with pytest.raises(ValueError, match="Unknown strategy 'gpu'"):
    strategies.get_strategy("gpu")
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="TF_CONFIG"):
    strategies.get_strategy("multi_worker")
  monkeypatch.setenv("TF_CONFIG", "{not json")
  with pytest.raises(ValueError, match="not valid JSON"):
    strategies.get_strategy("multi_worker")
  with pytest.raises(ValueError, match="--tpu"):
    strategies.get_strategy("tpu")


def test_checkpoint_saver_saves_at_each_epoch_end(tmp_path):
  trainer = _built_trainer(5)
  manager = checkpoints.make_manager(trainer, str(tmp_path), max_to_keep=5)
  data = tf.data.Dataset.from_tensors(_batch()).repeat()
  trainer.fit(data, epochs=2, steps_per_epoch=2, verbose=0, shuffle=False,
              callbacks=[checkpoints.CheckpointSaver(manager)])
  assert [int(p.rsplit("-", 1)[1]) for p in manager.checkpoints] == [2, 4]


def test_separator_folder_round_trip_and_training_checkpoint_load(tmp_path):
  # A training run's checkpoint (trainer + optimizer) and a folder written by
  # save_separator both load into a separator rebuilt from separator.json
  # alone, with the trained weights (the saved trainer's outputs).
  trainer = _built_trainer(6)
  trainer.train_on_batch(_batch())
  run = str(tmp_path / "run")
  checkpoints.make_manager(trainer, run).save(checkpoint_number=1)
  folders.write_separator_config(run, trainer.separator, 8000)
  x = np.random.default_rng(7).standard_normal((2, 900)).astype(np.float32)
  expected = trainer.separator(x).numpy()
  loaded, rate, path = folders.load_keras_separator(run)
  assert rate == 8000 and path.endswith("ckpt-1")
  np.testing.assert_allclose(loaded(x).numpy(), expected, atol=1e-6)
  assert loaded is not trainer.separator

  exported = str(tmp_path / "folder")
  folders.save_separator(loaded, exported, 8000, step=3)
  again, rate, path = folders.load_keras_separator(exported)
  assert rate == 8000 and path.endswith("ckpt-3")
  np.testing.assert_allclose(again(x).numpy(), expected, atol=1e-6)
  # The folder is also a fine-tuning init for a fresh trainer.
  fresh = _built_trainer(8)
  folders.restore_separator(fresh.separator, exported)
  np.testing.assert_allclose(fresh.separator(x).numpy(), expected, atol=1e-6)


def test_load_separator_errors_name_the_folder(tmp_path):
  with pytest.raises(FileNotFoundError, match="separator.json"):
    folders.load_keras_separator(str(tmp_path))
  (tmp_path / "separator.json").write_text("{\"model\": 1}")
  with pytest.raises(ValueError, match="not a separator description"):
    folders.load_keras_separator(str(tmp_path))
