"""A run's progress events: their printed wording, and the file programs read."""

import json

import pytest

from sound_separation import run_folder
from sound_separation.training import progress


@pytest.mark.parametrize("event, text", [
    ({"event": "step", "step": 50, "num_steps": 2000, "seconds_per_step": 0.6271,
      "eta_seconds": 1218.4, "metrics": {"mixit": 2.49, "loss": 6.8521, "pit": 0.0}},
     "step 50/2000  loss 6.852  mixit 2.49  pit 0  0.627 s/step  ETA 20m18s"),
    ({"event": "step", "step": 1, "num_steps": 9, "seconds_per_step": None,
      "eta_seconds": None, "metrics": {"loss": 1.0}}, "step 1/9  loss 1  ? s/step  ETA ?"),
    ({"event": "step", "step": 50, "num_steps": 2880, "seconds_per_step": 1.63,
      "eta_seconds": 1118.0, "metrics": {"loss": 9.732}, "eta_by": "time_limit"},
     "step 50/≤2880  loss 9.732  1.63 s/step  ETA 18m38s (time limit)"),
    ({"event": "validation", "step": 250, "metrics": {"loss": 3.25}},
     "step 250 validation  loss 3.25"),
    ({"event": "resumed", "step": 10, "checkpoint": "/r/checkpoints/ckpt-10"},
     "Resumed from /r/checkpoints/ckpt-10 at step 10."),
    ({"event": "stopped", "step": 7, "time_limit_seconds": 60.0},
     "Stopped at step 7: the time limit of 60 s was reached."),
    ({"event": "already_done", "step": 4, "num_steps": 4, "model_dir": "/r"},
     "/r is already at step 4 >= num_steps=4."),
])
def test_each_event_prints_as_the_line_people_read(event, text):
  assert progress.format_event({"v": 1, **event}) == text


def test_durations():
  assert [progress.duration(s) for s in (0, 59.6, 3725, 90061, float("nan"), None)] == [
      "0m00s", "1m00s", "1h02m", "1d01h", "?", "?"]


def test_a_reader_gets_each_complete_event_once(tmp_path):
  writer, reader = progress.ProgressFile(tmp_path), progress.ProgressFile(tmp_path)
  assert reader.read_new() == []  # no file yet
  writer.write("resumed", step=3, checkpoint="c")
  writer.write("step", step=4, num_steps=8, metrics={"loss": 1.5}, seconds_per_step=0.5,
               eta_seconds=2.0)
  first = reader.read_new()
  assert [(e["event"], e["step"], e["v"]) for e in first] == [("resumed", 3, 1), ("step", 4, 1)]
  assert reader.read_new() == []
  # Half a line (a writer caught mid-write) waits until it is complete.
  with open(tmp_path / run_folder.PROGRESS_FILE, "a", encoding="utf-8") as f:
    f.write('{"v": 1, "event": "validation", "st')
  assert reader.read_new() == []
  with open(tmp_path / run_folder.PROGRESS_FILE, "a", encoding="utf-8") as f:
    f.write('ep": 5, "metrics": {"loss": 2.0}}\n')
  assert reader.read_new() == [{"v": 1, "event": "validation", "step": 5,
                                "metrics": {"loss": 2.0}}]


def test_another_format_version_is_refused(tmp_path):
  (tmp_path / run_folder.PROGRESS_FILE).write_text(json.dumps({"v": 2, "event": "step"}) + "\n")
  with pytest.raises(ValueError, match="version 2"):
    progress.ProgressFile(tmp_path).read_new()


def test_non_finite_metrics_are_written_and_read_back(tmp_path):
  progress.ProgressFile(tmp_path).write("validation", step=3, metrics={"loss": float("nan")})
  (event,) = progress.ProgressFile(tmp_path).read_new()
  assert event["metrics"]["loss"] != event["metrics"]["loss"]  # NaN
  assert progress.format_event(event) == "step 3 validation  loss nan"


def _step_event(step, seconds_per_step):
  return {"v": 1, "event": "step", "step": step, "num_steps": 20, "metrics": {},
          "seconds_per_step": seconds_per_step, "eta_seconds": None}


def test_speed_after_the_warm_up_sums_the_windows_after_it():
  # Steps 1-5 took 2 s each (tracing), 6-10 0.5 s, 11-15 0.3 s, 16-20 0.4 s.
  events = [_step_event(5, 2.0), _step_event(10, 0.5), _step_event(15, 0.3),
            _step_event(20, 0.4)]
  assert progress.seconds_per_step_after(events, 10) == pytest.approx((5 * 0.3 + 5 * 0.4) / 10)
  assert progress.seconds_per_step_after(events, 5) == pytest.approx(0.4)
  # A warm-up between two events starts at the last event before it.
  assert progress.seconds_per_step_after(events, 12) == pytest.approx(0.35)
  with pytest.raises(ValueError, match="at or before step 3"):
    progress.seconds_per_step_after(events, 3)
  with pytest.raises(ValueError, match="resumed"):
    progress.seconds_per_step_after(
        [{"v": 1, "event": "resumed", "step": 5, "checkpoint": "c"}] + events, 5)


def test_the_progress_line_gives_the_speed_since_the_previous_line(monkeypatch):
  import io  # pylint: disable=import-outside-toplevel
  import types  # pylint: disable=import-outside-toplevel

  from sound_separation.training import callbacks  # pylint: disable=import-outside-toplevel

  clock = {"now": 100.0}
  monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock["now"])
  iterations = {"value": 0}
  model = types.SimpleNamespace(optimizer=types.SimpleNamespace(
      iterations=types.SimpleNamespace(numpy=lambda: iterations["value"])))
  stream = io.StringIO()
  logger = callbacks.ProgressLogger(num_steps=30, every=10, stream=stream)
  logger.set_model(model)
  logger.on_train_begin()
  # Ten slow steps (tracing: 2 s each), then ten at 0.25 s.
  for step, seconds in [(s, 2.0) for s in range(1, 11)] + [(s, 0.25) for s in range(11, 21)]:
    clock["now"] += seconds
    iterations["value"] = step
    logger.on_train_batch_end(step - 1, {"loss": 1.0})
  lines = stream.getvalue().splitlines()
  assert lines == ["step 10/30  loss 1  2 s/step  ETA 0m40s",
                   "step 20/30  loss 1  0.25 s/step  ETA 0m02s"]


def test_step_events_give_the_cpu_time_per_step_since_the_previous_event(monkeypatch, tmp_path):
  import io  # pylint: disable=import-outside-toplevel
  import types  # pylint: disable=import-outside-toplevel

  from sound_separation.training import callbacks  # pylint: disable=import-outside-toplevel

  clock = {"now": 100.0, "cpu": 7.0}
  monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock["now"])
  monkeypatch.setattr(callbacks.time, "process_time", lambda: clock["cpu"])
  iterations = {"value": 0}
  model = types.SimpleNamespace(optimizer=types.SimpleNamespace(
      iterations=types.SimpleNamespace(numpy=lambda: iterations["value"])))
  logger = callbacks.ProgressLogger(num_steps=20, every=10, stream=io.StringIO(),
                                    progress_file=progress.ProgressFile(tmp_path))
  logger.set_model(model)
  logger.on_train_begin()
  # Two threads busy: CPU time runs at twice the wall time, then at 1.5 times.
  for step in range(1, 21):
    rate = 2.0 if step <= 10 else 1.5
    clock["now"] += 0.5
    clock["cpu"] += rate * 0.5
    iterations["value"] = step
    logger.on_train_batch_end(step - 1, {"loss": 1.0})
  events = progress.ProgressFile(tmp_path).read_new()
  assert [e["cpu_seconds_per_step"] for e in events] == pytest.approx([1.0, 0.75])
  assert progress.seconds_per_step_after(events, 10, field="cpu_seconds_per_step") == \
      pytest.approx(0.75)
  assert progress.seconds_per_step_after(events, 10) == pytest.approx(0.5)
