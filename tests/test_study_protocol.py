"""A blind round (`study/protocol.py`): the grid fixed by a commit before any test number;
a run added later is post hoc, and nothing ships it."""

import json
import subprocess
import sys
import pathlib

import pytest

from sound_separation.study import claims
from sound_separation.study import protocol
from test_study_intervals import planted_selection_rows

REPO = pathlib.Path(__file__).resolve().parent.parent


def _git(folder, *args):
  return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                        text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
  _git(tmp_path, "init", "-q")
  _git(tmp_path, "config", "user.email", "t@example.com")
  _git(tmp_path, "config", "user.name", "t")
  return tmp_path


def test_the_protocol_needs_the_study_file_committed_as_it_is(repo):
  study = repo / "study.gin"
  study.write_text("sound_separation.Study.blind = True\n")
  with pytest.raises(protocol.ProtocolError, match="is not committed"):
    protocol.fix(str(repo), str(study), ["m4/baseline"])
  _git(repo, "add", "study.gin")
  _git(repo, "commit", "-qm", "round 3 grid")
  study.write_text("sound_separation.Study.blind = True\n# a weight added later\n")
  with pytest.raises(protocol.ProtocolError, match="uncommitted changes"):
    protocol.fix(str(repo), str(study), ["m4/baseline"])
  assert protocol.read(str(repo)) is None  # nothing fixed by a refusal
  _git(repo, "checkout", "study.gin")

  record = protocol.fix(str(repo), str(study), ["m4/l1_l2_w8", "m4/baseline"])
  assert record["commit"] == _git(repo, "rev-parse", "HEAD")
  assert record["runs"] == ["m4/baseline", "m4/l1_l2_w8"]
  assert json.loads((repo / protocol.PROTOCOL_FILE).read_text()) == record
  # Fixed once: a later grid (and a later commit) changes nothing.
  study.write_text("sound_separation.Study.blind = True\n# w12\n")
  _git(repo, "commit", "-qam", "w12 added")
  assert protocol.fix(str(repo), str(study), ["m4/baseline", "m4/l1_l2_w8",
                                              "m4/l1_l2_w12"]) == record
  assert protocol.is_post_hoc(record, "m4/l1_l2_w12")
  assert not protocol.is_post_hoc(record, "m4/l1_l2_w8")
  assert not protocol.is_post_hoc(None, "anything")  # not a blind round


def _planted_rows(post_hoc):
  planted = [
      ("m4/baseline", "baseline", 0.0, 5.0, 5.0, 1),
      ("m4/mixit_w0", "mixit", 0.0, 5.3, 5.5, 1),
      ("m4/l1_l2_w8", "l1_l2", 8.0, 4.8, 7.0, 1),
      # The best TRF within the floor, but added after the round's test results.
      ("m4/l1_l2_w12", "l1_l2", 12.0, 4.9, 9.0, 1),
  ]
  record = {"commit": "c0ffee" * 6 + "cafe", "runs": [n for n, *_ in planted[:3]]}

  def stamp(results):
    for name, result in results.items():
      if post_hoc:
        result["protocol"] = protocol.stamp(record, name)

  return planted_selection_rows(planted, stamp)


def test_a_post_hoc_run_is_never_the_shipped_pick():
  study = type("S", (), {"num_sources": [4], "msi_tolerance_db": 1.0})
  rows, _ = _planted_rows(post_hoc=False)
  assert claims.ship(study, rows)["run"] == "m4/l1_l2_w12"  # the rule's pick, were it blind
  rows, results = _planted_rows(post_hoc=True)
  assert results["m4/l1_l2_w12"]["protocol"]["post_hoc"]
  assert claims.ship(study, rows)["run"] == "m4/l1_l2_w8"


def test_ship_model_refuses_a_post_hoc_run(tmp_path):
  _, results = _planted_rows(post_hoc=True)
  (tmp_path / "runs" / "m4").mkdir(parents=True)
  for name, result in results.items():
    (tmp_path / "runs" / f"{name}.json").write_text(json.dumps(result))
  shipped = subprocess.run(
      [sys.executable, str(REPO / "tools" / "ship_model.py"), f"--results={tmp_path}",
       "--run=m4/l1_l2_w12", f"--out={tmp_path / 'out'}"], capture_output=True, text=True)
  assert shipped.returncode != 0
  assert "m4/l1_l2_w12 joined the grid after the round's protocol was fixed" in shipped.stderr
  assert "post-hoc run never ships" in shipped.stderr and "Traceback" not in shipped.stderr
  assert not (tmp_path / "out").exists()
