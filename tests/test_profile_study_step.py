"""tools/profile_study_step.py's arguments, read as the user reads them."""

import pathlib
import subprocess
import sys

TOOL = pathlib.Path(__file__).resolve().parents[1] / "tools" / "profile_study_step.py"


def test_only_the_semantic_configurations_ask_for_a_classifier(tmp_path):
  done = subprocess.run([sys.executable, str(TOOL), "--data", str(tmp_path), "--configs",
                         "sparsity", "semantic-frozen", "semantic"],
                        capture_output=True, text=True, timeout=120, check=False)
  assert done.returncode == 2
  assert "error: --classifier is needed by semantic-frozen, semantic" in done.stderr
