"""Published models by name, against a loopback server that speaks Cloud Storage's JSON API.

The server lists objects (`/storage/v1/b/<bucket>/o?prefix=...`, in two
pages) with `name`, `size`, `md5Hash` and a `mediaLink` on itself, serves
the bytes (with HTTP ranges), logs every request, and can misbehave on
demand (drop a connection half-way, lie about an MD5, list a hostile name).
It serves original-layout TF1 checkpoints written as the import tests write
them. No test touches the internet.
"""

import base64
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import urllib.parse

import numpy as np
import pytest
import soundfile

from sound_separation import cli
from sound_separation import run_folder
from sound_separation.data import audio
from sound_separation.models import folders
from sound_separation.models import tf1_checkpoint
from sound_separation.pretrained import download
from sound_separation.pretrained import registry

from test_tf1_import import Original  # pylint: disable=wrong-import-order
from test_tf1_import import save_tf1  # pylint: disable=wrong-import-order

BUCKET = "gresearch"
YFCC = registry.PUBLISHED["yfcc100m-mixit"]
BIRD = registry.PUBLISHED["bird-mixit-4"]


class Bucket:
  """Objects by name, the request log and the faults to inject."""

  def __init__(self):
    self.objects = {}
    self.log = []
    self.drop_first_download_after = None  # bytes
    self.wrong_md5 = set()
    self.extra_items = []

  def add_folder(self, prefix, folder):
    for name in sorted(os.listdir(folder)):
      with open(os.path.join(folder, name), "rb") as f:
        self.objects[f"{prefix}/{name}"] = f.read()


class _Handler(http.server.BaseHTTPRequestHandler):
  bucket = None

  def log_message(self, *args):  # quiet
    pass

  def do_GET(self):  # noqa: N802
    bucket = self.bucket
    parsed = urllib.parse.urlparse(self.path)
    bucket.log.append((parsed.path, self.headers.get("Range")))
    base = f"http://127.0.0.1:{self.server.server_port}"
    if parsed.path == f"/storage/v1/b/{BUCKET}/o":
      query = urllib.parse.parse_qs(parsed.query)
      prefix = query["prefix"][0]
      names = sorted(n for n in bucket.objects if n.startswith(prefix))
      items = [{"name": n, "size": str(len(bucket.objects[n])),
                "md5Hash": ("AAAAAAAAAAAAAAAAAAAAAA==" if n in bucket.wrong_md5 else
                            base64.b64encode(hashlib.md5(bucket.objects[n]).digest()).decode()),
                "mediaLink": f"{base}/download/{urllib.parse.quote(n, safe='')}"}
               for n in names] + bucket.extra_items
      half = len(items) // 2
      page = ({"items": items[:half], "nextPageToken": "page2"}
              if "pageToken" not in query else {"items": items[half:]})
      return self._send(200, json.dumps(page).encode(), "application/json")
    if parsed.path.startswith("/download/"):
      name = urllib.parse.unquote(parsed.path[len("/download/"):])
      data = bucket.objects.get(name)
      if data is None:
        return self._send(404, b"no such object", "text/plain")
      start = 0
      if self.headers.get("Range"):
        start = int(self.headers["Range"].split("=")[1].split("-")[0])
      body = data[start:]
      self.send_response(206 if start else 200)
      self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      if bucket.drop_first_download_after is not None and len(body) > 1000:
        cut, bucket.drop_first_download_after = bucket.drop_first_download_after, None
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.close_connection = True
        return None
      self.wfile.write(body)
      return None
    return self._send(404, b"?", "text/plain")

  def _send(self, code, body, kind):
    self.send_response(code)
    self.send_header("Content-Type", kind)
    self.send_header("Content-Length", str(len(body)))
    self.end_headers()
    self.wfile.write(body)


@pytest.fixture()
def server(tmp_path, monkeypatch):
  """A running loopback bucket holding two YFCC checkpoints (old, new) and a bird model."""
  bucket = Bucket()
  # The YFCC folder as published: checkpoints, a graph, events, no state file.
  yfcc = tmp_path / "published" / "yfcc"
  yfcc.mkdir(parents=True)
  save_tf1(str(yfcc), Original(8, 8, 1, seed=2).original, global_step=100)
  save_tf1(str(yfcc), Original(8, 8, 1, seed=1).original, global_step=200)
  os.remove(yfcc / "checkpoint")
  (yfcc / "graph.pbtxt").write_text("node {}\n")
  (yfcc / "events.out.tfevents.1.host").write_bytes(b"\x00" * 64)
  bucket.add_folder(YFCC.prefix, str(yfcc))
  bird = tmp_path / "published" / "bird4"
  bird.mkdir(parents=True)
  save_tf1(str(bird), Original(4, 8, 1, seed=3, window=55).original, global_step=3223090)
  bucket.add_folder(BIRD.prefix, str(bird))
  handler = type("Handler", (_Handler,), {"bucket": bucket})
  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  monkeypatch.setenv(download.BASE_URL_ENV, f"http://127.0.0.1:{httpd.server_port}")
  monkeypatch.setenv(registry.CACHE_ENV, str(tmp_path / "cache"))
  bucket.url = f"http://127.0.0.1:{httpd.server_port}"
  bucket.yfcc_folder = str(yfcc)
  yield bucket
  httpd.shutdown()
  httpd.server_close()


def _downloads(bucket):
  return sorted(urllib.parse.unquote(p[len("/download/"):]).rsplit("/", 1)[1]
                for p, _ in bucket.log if p.startswith("/download/"))


def test_newest_complete_checkpoint_needs_every_shard():
  names = ["model.ckpt-5.index", "model.ckpt-5.data-00000-of-00002",
           "model.ckpt-5.data-00001-of-00002", "model.ckpt-9.index",
           "model.ckpt-9.data-00000-of-00002",  # shard 1 of 2 missing
           "model.ckpt-10.data-00000-of-00001",  # no index
           "graph.pbtxt", "checkpoint"]
  assert tf1_checkpoint.newest_complete_checkpoint(names) == "model.ckpt-5"
  assert tf1_checkpoint.newest_complete_checkpoint(
      names + ["model.ckpt-9.data-00001-of-00002"]) == "model.ckpt-9"
  assert tf1_checkpoint.newest_complete_checkpoint(["x.index"]) is None


def test_a_named_model_separates_as_the_checkpoint_imported_by_hand(server, tmp_path):
  wav = tmp_path / "in.wav"
  soundfile.write(str(wav), (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(
      np.float32), 16000, subtype="FLOAT")
  status = cli.main(["prog", "separate", "--model=yfcc100m-mixit", f"--out_dir={tmp_path / 'a'}",
                     str(wav)], stream=io.StringIO())
  assert status == 0
  # Only the newest checkpoint's index and data were fetched: no graph, no events, no meta.
  assert _downloads(server) == ["model.ckpt-200.data-00000-of-00001", "model.ckpt-200.index"]
  # By hand: the same published folder through import-tf1.
  tf1_checkpoint.import_tf1(server.yfcc_folder, str(tmp_path / "by_hand"), sample_rate=16000)
  assert cli.main(["prog", "separate", f"--model={tmp_path / 'by_hand'}",
                   f"--out_dir={tmp_path / 'b'}", str(wav)], stream=io.StringIO()) == 0
  for j in range(8):
    named, _ = soundfile.read(str(tmp_path / "a" / "in_wav" / f"in_source{j}.wav"))
    by_hand, _ = soundfile.read(str(tmp_path / "b" / "in_wav" / f"in_source{j}.wav"))
    np.testing.assert_array_equal(named, by_hand)
  card = (tmp_path / "cache" / "yfcc100m-mixit" / run_folder.MODEL_CARD).read_text()
  assert "model.ckpt-200" in card and "Apache-2.0" in card and "hop" in card
  # A second use reads the cache and makes no request.
  requests = len(server.log)
  assert cli.main(["prog", "separate", "--model=yfcc100m-mixit", "--overwrite",
                   f"--out_dir={tmp_path / 'a'}", str(wav)], stream=io.StringIO()) == 0
  assert len(server.log) == requests
  out = io.StringIO()
  assert cli.main(["prog", "models"], stream=out) == 0
  rows = {line.split()[0]: line for line in out.getvalue().splitlines() if line.strip()}
  assert str(tmp_path / "cache" / "yfcc100m-mixit") in rows["yfcc100m-mixit"]
  assert rows["bird-mixit-4"].rstrip().endswith("no")


def test_offline_with_nothing_cached_says_what_to_do(server, monkeypatch):
  monkeypatch.setenv(download.BASE_URL_ENV, "http://127.0.0.1:9")  # nothing listens there
  with pytest.raises(registry.RegistryError) as error:
    registry.fetch("yfcc100m-mixit", stream=io.StringIO())
  message = str(error.value)
  assert "http://127.0.0.1:9/storage/v1/b/gresearch/o?prefix=" in message
  assert "gsutil -m cp -r gs://gresearch/sound_separation/yfcc100m_mixit_model_checkpoint" \
      in message
  assert "--model=" in message
  assert not registry.is_cached("yfcc100m-mixit")


def test_md5_mismatch_is_refused_and_nothing_cached(server):
  server.wrong_md5.add(f"{YFCC.prefix}/model.ckpt-200.index")
  with pytest.raises(registry.RegistryError, match="MD5"):
    registry.fetch("yfcc100m-mixit", stream=io.StringIO())
  assert not os.path.exists(registry.model_dir("yfcc100m-mixit"))


@pytest.mark.parametrize("hostile", ["../../evil", "/etc/evil", "sub/evil", "..", ".hidden"])
def test_hostile_object_names_are_refused(server, hostile):
  name = YFCC.prefix + "/" + hostile if not hostile.startswith("/") else YFCC.prefix + hostile
  server.extra_items.append({"name": name, "size": "3", "md5Hash": "x",
                             "mediaLink": server.url + "/download/x"})
  with pytest.raises(download.DownloadError, match="refusing|not under"):
    registry.fetch("yfcc100m-mixit", stream=io.StringIO())
  assert not os.path.exists(registry.model_dir("yfcc100m-mixit"))


def test_a_dropped_connection_resumes_with_a_range_request(server):
  server.drop_first_download_after = 700
  registry.fetch("yfcc100m-mixit", stream=io.StringIO())
  assert registry.is_cached("yfcc100m-mixit")
  assert any(r and r.startswith("bytes=700-") for _, r in server.log)


def test_a_killed_fetch_is_completed_by_the_next(server, tmp_path):
  # What a killed process leaves: half of a data file in the staging folder.
  staging = tmp_path / "cache" / ".yfcc100m-mixit.downloads"
  staging.mkdir(parents=True)
  name = "model.ckpt-200.data-00000-of-00001"
  data = server.objects[f"{YFCC.prefix}/{name}"]
  (staging / (name + ".partial")).write_bytes(data[:len(data) // 2])
  registry.fetch("yfcc100m-mixit", stream=io.StringIO())
  assert registry.is_cached("yfcc100m-mixit")
  assert (f"/download/{urllib.parse.quote(YFCC.prefix + '/' + name, safe='')}",
          f"bytes={len(data) // 2}-") in server.log


def test_a_half_written_cache_folder_is_redone(server):
  folder = registry.model_dir("yfcc100m-mixit")
  os.makedirs(os.path.join(folder, "checkpoints"))
  open(os.path.join(folder, "separator.json"), "w").close()  # no COMPLETE marker
  assert not registry.is_cached("yfcc100m-mixit")
  assert registry.fetch("yfcc100m-mixit", stream=io.StringIO()) == folder
  separator, rate, _ = folders.load_keras_separator(folder)
  assert rate == 16000 and separator.num_sources == 8


def test_two_processes_fetch_once(server, tmp_path):
  code = ("import sys\nfrom sound_separation.pretrained import registry\n"
          "print('FOLDER', registry.fetch('yfcc100m-mixit'))\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
  outputs = [c.communicate(timeout=300) for c in children]
  assert all(c.returncode == 0 for c in children), outputs
  folders_ = {line for out, _ in outputs for line in out.splitlines() if line.startswith("FOLDER")}
  assert folders_ == {f"FOLDER {registry.model_dir('yfcc100m-mixit')}"}
  assert _downloads(server) == ["model.ckpt-200.data-00000-of-00001", "model.ckpt-200.index"]


@pytest.mark.parametrize("input_rate", [16000, 44100])
def test_a_22khz_model_resamples_other_rates(server, tmp_path, input_rate):
  """bird-mixit-4 (22.05 kHz) on 16 and 44.1 kHz files: outputs at the input's rate."""
  folder = registry.fetch("bird-mixit-4", stream=io.StringIO())
  separator, rate, _ = folders.load_keras_separator(folder)
  assert rate == 22050 and separator.hop_size == 28 and separator.window_size == 55
  x = (0.1 * np.random.default_rng(1).standard_normal(input_rate // 2)).astype(np.float32)
  wav = tmp_path / "in.wav"
  soundfile.write(str(wav), x, input_rate, subtype="FLOAT")
  assert cli.main(["prog", "separate", "--model=bird-mixit-4", f"--out_dir={tmp_path / 'o'}",
                   str(wav)], stream=io.StringIO()) == 0
  expected = separator(audio.resample(x, input_rate, 22050)[np.newaxis]).numpy()[0]
  expected = audio.resample(expected, 22050, input_rate)[:, :len(x)]
  for j in range(4):
    out, out_rate = soundfile.read(str(tmp_path / "o" / "in_wav" / f"in_source{j}.wav"),
                                   dtype="float32")
    assert out_rate == input_rate and out.shape == x.shape
    np.testing.assert_allclose(out, expected[j], atol=1e-4)
