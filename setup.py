"""Build hook: the wheel carries the top-level `gin/` folder inside the package.

The gin configurations live at the repository's top level (`gin/`, arranged
by what they configure); a built wheel puts a copy at `sound_separation/gin/`,
where `gin_utils.gin_search_path` finds it through `importlib.resources`. An
editable install reads the checkout's `gin/` directly. Everything else is in
setup.cfg.
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithGin(build_py):
  """`build_py`, then `gin/**/*.gin` copied into the built package's `gin/`."""

  def run(self):
    super().run()
    if getattr(self, "editable_mode", False):
      return  # an editable install reads the checkout's gin/ (gin_utils.gin_search_path)
    target = os.path.join(self.build_lib, "sound_separation", "gin")
    for folder, _, names in os.walk(os.path.join(HERE, "gin")):
      for name in names:
        if name.endswith(".gin"):
          relative = os.path.relpath(os.path.join(folder, name), os.path.join(HERE, "gin"))
          os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
          shutil.copyfile(os.path.join(folder, name), os.path.join(target, relative))


setup(cmdclass={"build_py": BuildWithGin})
