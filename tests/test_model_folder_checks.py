"""A model folder is untrusted input: its description is checked before anything is built."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from sound_separation import run_folder
from sound_separation.models import folders


def _hostile(model_folder, tmp_path, edit):
  folder, _ = model_folder
  target = tmp_path / "model"
  shutil.copytree(folder, target)
  path = target / run_folder.SEPARATOR_FILE
  config = json.loads(path.read_text())
  edit(config["model"])
  path.write_text(json.dumps(config))
  return target


def _tdcn(model):
  return model["config"]["tdcn"]["config"]


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(module="os", class_name="system"),
     r"model names os\.system, which is not one of this library's separator classes"),
    (lambda m: m["config"]["tdcn"].update(module="subprocess", class_name="Popen"),
     r"model\.config\.tdcn names subprocess\.Popen"),
    (lambda m: m["config"].update(num_basis=10**9),
     r"model\.config\.window_size, num_basis say encoder/dense/_kernel is \[40, 1000000000\], "
     r"but .* holds \[40, 16\]"),
    (lambda m: _tdcn(m).update(num_repeats=2),
     r"model\.config\.tdcn\.config\.num_dilations x num_repeats say tdcn/conv_block_3/dense1/dense/_kernel is \[8, 12\], "
     r"but .* holds None"),
    (lambda m: _tdcn(m).update(num_dilations=1),
     r"model\.config\.tdcn\.config\.num_dilations x num_repeats say 1 blocks, but .* holds more"),
    (lambda m: _tdcn(m).update(conv_channels=24),
     r"model\.config\.tdcn\.config\.bottleneck, conv_channels say tdcn/conv_block_0/dense1/dense/_kernel is \[8, 24\], "
     r"but .* holds \[8, 12\]"),
    (lambda m: m["config"].update(num_sources="8"),
     r"model\.config\.num_sources must be a positive integer, got '8'"),
])
def test_a_description_that_does_not_fit_is_refused_naming_the_field(model_folder, tmp_path,
                                                                      edit, message):
  target = _hostile(model_folder, tmp_path, edit)
  with pytest.raises(ValueError, match=rf"{target / 'separator.json'}: {message}"):
    folders.load_keras_separator(str(target))


def test_the_command_refuses_a_hostile_folder_in_one_line(model_folder, tmp_path):
  """As the user reads it: one line, no traceback, nothing allocated (it returns at once)."""
  wav = tmp_path / "in.wav"
  soundfile.write(str(wav), np.zeros(8000, np.float32), 8000)
  for name, edit in (("system", lambda m: m.update(module="os", class_name="system")),
                     ("huge", lambda m: m["config"].update(num_basis=10**9))):
    target = _hostile(model_folder, tmp_path / name, edit)
    result = subprocess.run(
        [sys.executable, "-m", "sound_separation", "separate", f"--model={target}",
         "--runtime=tensorflow", f"--out_dir={tmp_path / 'out'}", str(wav)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"sound-separation separate: error: {target / 'separator.json'}:")
    assert "Traceback" not in result.stderr and len(lines) == 2  # the line, then where
  assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.wav"))
