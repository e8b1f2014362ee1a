"""The built wheel: installed outside the checkout, it finds its gin files and trains."""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

from sound_separation.corpus import synthetic

REPO = pathlib.Path(__file__).resolve().parent.parent
BUILD_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE")


def _run(command, **kwargs):
  result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False,
                          **kwargs)
  assert result.returncode == 0, (f"{' '.join(map(str, command))} failed:\n"
                                  f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
  return result.stdout


@pytest.mark.slow
def test_the_wheel_trains_from_a_gin_file_named_by_its_package_path(tmp_path):
  # Built from a copy, so that the build leaves nothing in the checkout.
  source = tmp_path / "source"
  source.mkdir()
  for name in BUILD_FILES:
    shutil.copy(REPO / name, source / name)
  ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
  shutil.copytree(REPO / "sound_separation", source / "sound_separation", ignore=ignore)
  shutil.copytree(REPO / "gin", source / "gin", ignore=ignore)
  # With this environment's setuptools when it has one (no download); Python 3.12's
  # virtualenvs have none, and pip then builds in isolation from the index.
  isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
        "-w", str(tmp_path / "dist"), str(source)])
  (wheel,) = (tmp_path / "dist").glob("sound_separation-*.whl")

  # A fresh virtualenv outside the checkout: the wheel installed into it, its
  # dependencies (TensorFlow, ...) seen from this environment's site-packages
  # through a .pth line. (A directory added that way has its own .pth files
  # ignored, so this environment's editable install of the checkout is not.)
  venv = tmp_path / "venv"
  _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
  python = venv / "bin" / "python"
  _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
        "--no-index", "-q", str(wheel)])
  site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
  pathlib.Path(site.strip(), "_dependencies.pth").write_text(
      sysconfig.get_paths()["purelib"] + "\n")

  where = _run([str(python), "-c", "import sound_separation, sound_separation.gin_utils as g; "
                "print(sound_separation.__file__); print(g.resolve_gin_file('demo'))"],
               cwd=tmp_path).split()
  assert all(path.startswith(str(venv)) for path in where), where
  assert where[1].endswith(os.path.join("sound_separation", "gin", "demo.gin"))

  data = tmp_path / "data"
  train = synthetic.write_corpus(data, "train", 4, clip_seconds=4.0, seed=1)
  held_out = synthetic.write_corpus(data, "validation", 2, clip_seconds=4.0, seed=1)
  out = _run([str(venv / "bin" / "sound-separation"), "train", f"--model_dir={tmp_path / 'run'}",
              "--gin_file=demo", "--gin_file=models/tiny",
              f"--gin_param=CLIP_LIST = '{train.clip_list}'",
              f"--gin_param=VALIDATION_CLIP_LIST = '{held_out.clip_list}'",
              "--gin_param=sound_separation.train.num_steps = 1",
              "--gin_param=sound_separation.training_dataset.batch_size = 2",
              "--gin_param=sound_separation.validation_dataset.batch_size = 2"],
             cwd=tmp_path)
  assert "step 1/1" in out or "Done" in out, out[-2000:]
  assert (tmp_path / "run" / "checkpoints").is_dir()
