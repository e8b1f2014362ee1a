"""`tools/bench_inference.py`'s TF1 path on a planted original-style graph, its ratio column,
and its usage errors as printed."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import tensorflow as tf

REPO = pathlib.Path(__file__).resolve().parents[1]
TOOL = str(REPO / "tools" / "bench_inference.py")


def _planted_tf1_model(folder):
  """A graph with the original's input and output names: M = 2 scaled copies of the input."""
  graph = tf.Graph()
  with graph.as_default():
    audio = tf.compat.v1.placeholder(tf.float32, [1, 1, None], name="input_audio/receiver_audio")
    gain = tf.compat.v1.get_variable("gain", initializer=np.float32([0.5, 2.0]))
    tf.identity(audio * gain[None, :, None], name="denoised_waveforms")
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session(graph=graph) as session:
      session.run(tf.compat.v1.global_variables_initializer())
      saver.save(session, str(folder / "model.ckpt"), global_step=7, write_meta_graph=False)
      saver.export_meta_graph(str(folder / "inference.meta"))


def test_the_tf1_graph_path_runs_the_planted_graph_beside_separate(tmp_path):
  model = tmp_path / "tf1"
  model.mkdir()
  _planted_tf1_model(model)
  out = tmp_path / "bench.json"
  done = subprocess.run([sys.executable, TOOL, "--smoke", "--paths", "separate", "tf1_graph",
                         "--seconds", "1", "--repeats", "2", "--tf1_model", str(model),
                         "--json", str(out)], capture_output=True, text=True, timeout=600,
                        check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  rows = {r["path"]: r for r in json.loads(out.read_text())["results"]}
  assert set(rows) == {"separate", "tf1_graph"}
  assert rows["tf1_graph"]["vs_separate"] == rows["tf1_graph"]["steady_s"] / rows[
      "separate"]["steady_s"]
  assert rows["separate"]["vs_separate"] == 1.0
  assert "| tf1_graph | 1 |" in done.stdout


def test_the_tf1_path_without_a_model_or_with_an_empty_one_is_named(tmp_path):
  done = subprocess.run([sys.executable, TOOL, "--smoke", "--paths", "tf1_graph"],
                        capture_output=True, text=True, timeout=300, check=False)
  assert done.returncode == 2
  assert "--paths tf1_graph needs --tf1_model DIR" in done.stderr
  done = subprocess.run([sys.executable, TOOL, "--smoke", "--paths", "tf1_graph", "--seconds",
                         "1", "--tf1_model", str(tmp_path)],
                        capture_output=True, text=True, timeout=600, check=False)
  assert done.returncode != 0
  assert "needs a *.meta graph and a model.ckpt-N checkpoint" in done.stdout + done.stderr
