"""What `import sound_separation as ss` offers: few names, each loaded on first use."""

import importlib
import importlib.util
import pathlib
import pkgutil
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "sound_separation"
SUBPACKAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def test_importing_the_package_or_a_light_module_loads_no_tensorflow():
  code = ("import sys, sound_separation, sound_separation.data.audio, "
          "sound_separation.inference.litert, sound_separation.evaluation.metrics, "
          "sound_separation.protocol; "
          "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, check=True).stdout
  assert out.strip() == "[]"


def test_the_root_names_are_what_their_modules_define():
  import sound_separation as ss  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import chunked  # pylint: disable=import-outside-toplevel
  from sound_separation.losses import mixture_invariant  # pylint: disable=import-outside-toplevel
  assert ss.separate_waveform is chunked.separate_waveform
  assert ss.mixit is mixture_invariant.mixit
  # Importing a subpackage binds its name on the root package: one named like a
  # root function (`adapt`) would replace that function for everyone after.
  for module in pkgutil.iter_modules(ss.__path__):
    if module.ispkg:
      importlib.import_module(f"sound_separation.{module.name}")
  for name in ss.__all__:
    assert callable(getattr(ss, name)), name
  assert set(ss.__all__) <= set(dir(ss))
  with pytest.raises(AttributeError, match="no attribute 'separate_wave'"):
    ss.separate_wave  # pylint: disable=pointless-statement


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_subpackage_declares_what_it_exports(name):
  module = importlib.import_module(f"sound_separation.{name}")
  assert isinstance(module.__all__, list) and module.__all__, name
  for exported in module.__all__:
    # A name, or (for `corpus`) one of its modules.
    assert (hasattr(module, exported)
            or importlib.util.find_spec(f"sound_separation.{name}.{exported}")), exported


def test_no_module_script_or_tool_edits_sys_path():
  # The package is installed (`make env`); the scripts and tools import it as users do.
  repo = PACKAGE.parent
  offenders = [str(p.relative_to(repo)) for folder in ("sound_separation", "tools")
               for p in (repo / folder).rglob("*.py")
               if "sys.path.insert" in p.read_text() or "sys.path.append" in p.read_text()]
  assert offenders == []


def test_prepare_runs_from_the_command_line(tmp_path, capsys):
  from sound_separation import cli  # pylint: disable=import-outside-toplevel
  from sound_separation.corpus import synthetic  # pylint: disable=import-outside-toplevel
  clips = synthetic.write_corpus(tmp_path / "data", "test", 6, clip_seconds=1.0, seed=2)
  args = ["--clip_list", str(clips.clip_list), "--split", "test", "--seed", "3",
          "--clip_seconds", "1.0"]
  assert cli.main(["prog", "prepare", "mom-set", "--out_dir", str(tmp_path / "a")] + args) == 0
  listed = (tmp_path / "a" / "test_mom_list.txt").read_text().splitlines()
  assert len(listed) == 3  # six clips paired
  for line in listed:
    assert all((tmp_path / "a" / name).is_file() for name in line.split("\t"))
  # Bad input: one line naming the file, exit status 1; bad arguments: 2.
  missing = str(tmp_path / "none.txt")
  assert cli.main(["prog", "prepare", "mom-set", "--out_dir", "x", "--clip_list", missing]) == 2
  assert "no such file" in capsys.readouterr().err
  assert cli.main(["prog", "prepare", "bogus"]) == 2
