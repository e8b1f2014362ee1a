"""`quiet.filtered`: what native code writes to descriptor 2, filtered, or all of it on failure."""

import os

import pytest

from sound_separation import quiet


def _drop_notices(lines):
  return [line for line in lines if not line.startswith("NOTICE")]


def test_kept_lines_come_back_and_dropped_ones_do_not(capfd):
  def call():
    os.write(2, b"NOTICE: created a delegate\nE: a real problem\nNOTICE: again\n")
    return 7
  assert quiet.filtered(call, _drop_notices) == 7
  assert capfd.readouterr().err.splitlines() == ["E: a real problem"]
  os.write(2, b"after\n")  # descriptor 2 is the terminal's again
  assert capfd.readouterr().err == "after\n"


def test_everything_comes_back_when_the_call_fails(capfd):
  def call():
    os.write(2, b"NOTICE: the explanation\n")
    raise RuntimeError("failed")
  with pytest.raises(RuntimeError, match="failed"):
    quiet.filtered(call, _drop_notices)
  assert capfd.readouterr().err.splitlines() == ["NOTICE: the explanation"]


def test_tensorflows_startup_notices_and_their_continuations_are_dropped():
  from sound_separation import cli  # pylint: disable=import-outside-toplevel
  lines = [
      "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
      "I0000 00:00:1796590052.010936    5489 port.cc:153] oneDNN custom operations are on.",
      "I0000 00:00:1796590052.059930    5489 cpu_feature_guard.cc:227] This TensorFlow binary",
      "To enable the following instructions: AVX2 AVX512F, in other operations, rebuild",
      "E0000 00:00:1796590052.1 5489 cuda.cc:1] a real error",
      "Traceback (most recent call last):",
  ]
  assert cli._without_startup_notices(lines) == lines[4:]  # pylint: disable=protected-access
