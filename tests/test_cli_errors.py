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


def test_one_flag_name_per_concept_and_the_older_spellings_still_work(model_folder, tmp_path):
  from sound_separation import cli  # pylint: disable=import-outside-toplevel
  import io  # pylint: disable=import-outside-toplevel
  folder, _ = model_folder
  # The names of today, then the older spellings (--model_dir, --out).
  for flag, out_flag in (("--model", "--out_dir"), ("--model_dir", "--out")):
    out = tmp_path / flag.strip("-")
    assert cli.main(["prog", "export", f"{flag}={folder}", f"{out_flag}={out}"],
                    stream=io.StringIO()) == 0
    assert (out / "saved_model.pb").exists()
  assert cli.main(["prog", "export", f"--model={folder}", f"--model_dir={tmp_path}",
                   f"--out_dir={tmp_path / 'x'}"]) == 2
  assert cli.main(["prog", "export", f"--model={folder}", f"--out={tmp_path / 'x'}",
                   f"--out_dir={tmp_path / 'z'}"]) == 2
  assert cli.main(["prog", "export", f"--out_dir={tmp_path / 'y'}"]) == 2
  assert cli.main(["prog", "export", f"--model={folder}"]) == 2  # no folder to write


def _first_error_line(result):
  assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
  return next(line for line in result.stderr.splitlines() if "error:" in line)


def test_every_command_names_the_missing_or_unreadable_file(tmp_path):
  """A missing list, a list naming a missing or an unreadable file, a missing model, missing
  recordings, a manifest naming an unreadable file: each command's line names the file."""
  bad = tmp_path / "bad.wav"
  bad.write_bytes(b"not a wav")
  missing = tmp_path / "missing.wav"
  (tmp_path / "unreadable.txt").write_text(f"{bad}\t{bad}\n")
  (tmp_path / "missing.txt").write_text(f"{missing}\t{missing}\n")
  (tmp_path / "manifest.csv").write_text(f"path,labels\n{bad},\n")
  cases = [
      (["evaluate", f"--data={tmp_path / 'nolist.txt'}"], tmp_path / "nolist.txt",
       "cannot read list file"),
      (["evaluate", f"--data={tmp_path / 'unreadable.txt'}", f"--out_dir={tmp_path / 'e'}"],
       bad, "cannot read audio file"),
      (["evaluate", f"--data={tmp_path / 'missing.txt'}", f"--out_dir={tmp_path / 'e'}"],
       missing, "no such file"),
      (["export", f"--model={tmp_path / 'nomodel'}", f"--out={tmp_path / 'x'}"],
       tmp_path / "nomodel", "separator.json not found"),
      (["adapt", f"--audio={tmp_path / 'nothing'}", f"--out_dir={tmp_path / 'a'}"],
       tmp_path / "nothing", "no such file or folder"),
      (["prepare", "clips", f"--manifest={tmp_path / 'manifest.csv'}",
        f"--out_dir={tmp_path / 'c'}"], bad, "cannot read audio file"),
  ]
  for args, named, reason in cases:
    line = _first_error_line(_run(*args))
    assert line.startswith(f"sound-separation {' '.join(a for a in args[:2] if not a.startswith('-'))}: error:"), line
    assert str(named) in line and reason in line, (args, line)


def test_a_missing_or_doubly_given_out_dir_is_a_usage_error_as_printed(model_folder, tmp_path):
  folder, _ = model_folder
  result = _run("export", f"--model={folder}")
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "sound-separation export: error: --out_dir is required" in result.stderr
  result = _run("import-tf1", f"--checkpoint={folder}", f"--out={tmp_path / 'a'}",
                f"--out_dir={tmp_path / 'b'}")
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "--out is the older spelling of --out_dir: give one of them" in result.stderr
