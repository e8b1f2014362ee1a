"""Both training loops check their schedule alike (`training.run.Schedule.check`), before any work."""

import pytest

from sound_separation.training import loop

LOOPS = {"train": loop.train, "train_classifier": loop.train_classifier}


@pytest.mark.parametrize("name", sorted(LOOPS))
@pytest.mark.parametrize("arguments, message", [
    (dict(num_steps=None), r"num_steps must be a positive integer \(gin: {name}\.num_steps\)"),
    (dict(num_steps=0), r"num_steps must be a positive integer"),
    (dict(num_steps=True), r"num_steps must be a positive integer"),
    (dict(num_steps=10, steps_per_checkpoint=0), r"steps_per_checkpoint must be a positive"),
    (dict(num_steps=10, steps_per_checkpoint=2.5), r"steps_per_checkpoint must be a positive"),
    (dict(num_steps=10, time_limit_seconds=0), r"time_limit_seconds must be positive"),
])
def test_a_bad_schedule_is_refused_before_the_run_folder_exists(tmp_path, name, arguments,
                                                                 message):
  with pytest.raises(ValueError, match=message.format(name=name)):
    LOOPS[name](str(tmp_path / "run"), **arguments)
  assert not (tmp_path / "run").exists()


def test_the_separator_loop_checks_its_executions_and_kept_checkpoints(tmp_path):
  with pytest.raises(ValueError, match="steps_per_execution=3 must be a positive divisor"):
    loop.train(str(tmp_path / "run"), num_steps=10, steps_per_checkpoint=4,
               steps_per_execution=3)
  with pytest.raises(ValueError, match="keep_checkpoint_every_steps=6 must be a multiple"):
    loop.train(str(tmp_path / "run"), num_steps=10, steps_per_checkpoint=4,
               keep_checkpoint_every_steps=6)


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_an_argument_neither_the_task_nor_the_schedule_takes_is_named(tmp_path, name):
  with pytest.raises(TypeError, match=rf"{name}\(\) got unknown arguments \['num_step'\]"):
    LOOPS[name](str(tmp_path / "run"), num_step=10)
  assert not (tmp_path / "run").exists()
