"""The round's counts as the report writes them (`report.status_lines`) and the README blocks
they go into (`report.write_readme_blocks`), on a planted grid."""

import types

from sound_separation.study import grid
from sound_separation.study import report


def _spec(name, m, seed, init_model=None):
  return grid.RunSpec(name, m, "x", 0.0, 0 if init_model else 10, None, (), seed, init_model)


def test_status_counts_finished_trained_and_seeded_runs_from_the_results():
  specs = [_spec("m4/baseline", 4, 1, init_model="/b"), _spec("m4/a_w1", 4, 1),
           _spec("m4/a_w1_s2", 4, 2), _spec("m4/a_w1_s3", 4, 3), _spec("m8/baseline", 8, 1),
           _spec("m8/b_w2", 8, 1)]
  compute = {"train_seconds": 1800.0, "evaluation_seconds": 360.0}
  results = {"m4/baseline": {}, "m4/a_w1": {"compute": compute},
             "m4/a_w1_s2": {"compute": compute, "protocol": {"post_hoc": True}},
             "m8/baseline": {"compute": compute}}
  study = types.SimpleNamespace(num_sources=[4, 8], blind=True)
  lines = report.status_lines(study, specs, results)
  # 4 of 6 finished; m4/baseline is a model folder, so 3 trained.
  assert lines[0] == ("In progress: 4 of the grid's 6 runs finished (M = 4: 3, M = 8: 1); "
                      "3 trained here, 1 given as model folders and evaluated as they are.")
  assert lines[1] == ("Rows with several seeds: `m4/a_w1` (seeds 1, 2); every other row "
                      "has one.")
  assert lines[2] == ("Compute: 1.5 h of training and 0.3 h of evaluation (wall time summed "
                      "over 3 runs).")
  assert lines[3].endswith("post hoc runs: `m4/a_w1_s2`.")


def test_readme_blocks_replace_only_what_lies_between_their_markers(tmp_path):
  readme = tmp_path / "README.md"
  begin = "<!-- generated:status (by the study command; do not edit) -->"
  readme.write_text(f"# Round\n\nTyped 1.\n{begin}\nold line\n<!-- /generated:status -->\n"
                    "Typed 2.\n")
  assert report.write_readme_blocks(str(readme), {"status": ["new a", "new b"],
                                                  "verdicts": ["unmarked"]}) == ["status"]
  assert readme.read_text() == (f"# Round\n\nTyped 1.\n{begin}\nnew a\nnew b\n"
                                "<!-- /generated:status -->\nTyped 2.\n")
  untouched = tmp_path / "OTHER.md"
  untouched.write_text("no markers\n")
  assert report.write_readme_blocks(str(untouched), {"status": ["x"]}) == []
  assert untouched.read_text() == "no markers\n"
  assert report.write_readme_blocks(str(tmp_path / "missing.md"), {"status": ["x"]}) == []


def test_each_finished_run_refreshes_the_status_from_every_result_file(tmp_path):
  """A round spans sessions: the counts follow the result files, another process's too."""
  import json  # pylint: disable=import-outside-toplevel
  from sound_separation.study import runner  # pylint: disable=import-outside-toplevel
  specs = [_spec("m4/a_w1", 4, 1), _spec("m4/a_w1_s2", 4, 2), _spec("m4/b_w2", 4, 1)]
  begin = "<!-- generated:status (by the study command; do not edit) -->"
  (tmp_path / "README.md").write_text(f"# Round\n{begin}\nPlanned; nothing has run.\n"
                                      "<!-- /generated:status -->\n")
  # Two runs finished, one of them by a process this one never heard from.
  for name in ("m4/a_w1", "m4/b_w2"):
    path = tmp_path / "runs" / (name + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({}))
  study = types.SimpleNamespace(num_sources=[4], blind=False)
  runner._refresh_status(study, specs, str(tmp_path))  # pylint: disable=protected-access
  text = (tmp_path / "README.md").read_text()
  assert "nothing has run" not in text
  assert "In progress: 2 of the grid's 3 runs finished (M = 4: 2); 2 trained here" in text
