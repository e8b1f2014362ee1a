"""Errors as the user reads them: each command run in a subprocess, its stderr read."""

import subprocess
import sys


def _run(*args):
  return subprocess.run([sys.executable, "-m", "sound_separation", *args], capture_output=True,
                        text=True, timeout=300)


def test_a_file_error_prints_the_file_and_the_reason(model_folder, tmp_path):
  """A list naming a missing file: the line names it (not the message's template)."""
  folder, _ = model_folder
  missing = tmp_path / "gone.wav"
  listed = tmp_path / "list.txt"
  listed.write_text(f"{missing}\t{missing}\n")
  result = _run("evaluate", f"--model_dir={folder}", f"--data={listed}",
                f"--out_dir={tmp_path / 'eval'}")
  assert result.returncode == 1
  first = result.stderr.strip().splitlines()[0]
  assert first.startswith("sound-separation evaluate: error: cannot read audio file")
  assert str(missing) in first and "{path}" not in first and "{reason}" not in first
  assert "Traceback" not in result.stderr


def test_evaluate_and_export_take_model_like_separate_and_model_dir_still(model_folder,
                                                                          tmp_path):
  from sound_separation import cli  # pylint: disable=import-outside-toplevel
  import io  # pylint: disable=import-outside-toplevel
  folder, _ = model_folder
  for flag in ("--model", "--model_dir"):
    out = tmp_path / flag.strip("-")
    assert cli.main(["prog", "export", f"{flag}={folder}", f"--out={out}"],
                    stream=io.StringIO()) == 0
    assert (out / "saved_model.pb").exists()
  assert cli.main(["prog", "export", f"--model={folder}", f"--model_dir={tmp_path}",
                   f"--out={tmp_path / 'x'}"]) == 2
  assert cli.main(["prog", "export", f"--out={tmp_path / 'y'}"]) == 2
