"""What `import sound_separation as ss` offers: few names, each loaded on first use."""

import importlib
import importlib.util
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "sound_separation"
SUBPACKAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def test_importing_the_package_or_a_light_module_loads_no_tensorflow():
  code = ("import sys, sound_separation, sound_separation.data.audio, "
          "sound_separation.inference.litert, sound_separation.evaluation.metrics; "
          "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, check=True).stdout
  assert out.strip() == "[]"


def test_the_root_names_are_what_their_modules_define():
  import sound_separation as ss  # pylint: disable=import-outside-toplevel
  from sound_separation.inference import separate  # pylint: disable=import-outside-toplevel
  from sound_separation.losses import mixture_invariant  # pylint: disable=import-outside-toplevel
  assert ss.separate_waveform is separate.separate_waveform
  assert ss.mixit is mixture_invariant.mixit
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
