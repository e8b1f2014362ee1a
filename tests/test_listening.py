"""Listening pages: pictures, levels, `separate --report`, and the page in a real browser."""

import importlib.util
import io
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import soundfile

from sound_separation import cli
from sound_separation.evaluation import listening

RATE = 8000
# CI sets this: there the browser test must run, not skip.
REQUIRE_BROWSER = os.environ.get("SOUND_SEPARATION_REQUIRE_BROWSER", "") not in ("", "0")


def _decode_png(data):
  """A minimal PNG reader for 8-bit RGB or indexed colour, filter 0 (what `png_bytes` writes)."""
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  position, chunks = 8, {}
  while position < len(data):
    length, = struct.unpack(">I", data[position:position + 4])
    kind = data[position + 4:position + 8]
    body = data[position + 8:position + 8 + length]
    crc, = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
    assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
    chunks.setdefault(kind, b"")
    chunks[kind] += body
    position += 12 + length
  width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
  assert depth == 8 and color in (2, 3)
  per_pixel = 3 if color == 2 else 1
  raw = zlib.decompress(chunks[b"IDAT"])
  rows = [raw[y * (1 + per_pixel * width):(y + 1) * (1 + per_pixel * width)]
          for y in range(height)]
  assert all(r[0] == 0 for r in rows)
  pixels = np.frombuffer(b"".join(r[1:] for r in rows), np.uint8)
  if color == 2:
    return pixels.reshape(height, width, 3)
  colours = np.frombuffer(chunks[b"PLTE"], np.uint8).reshape(-1, 3)
  return colours[pixels.reshape(height, width)]


def test_png_round_trips_pixels():
  rgb = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
  np.testing.assert_array_equal(_decode_png(listening.png_bytes(rgb)), rgb)
  with pytest.raises(ValueError, match="height, width"):
    listening.png_bytes(np.zeros((0, 3, 3), np.uint8))
  # Indexed: the palette's colours at the indices.
  indices = np.random.default_rng(1).integers(0, 256, size=(4, 6), dtype=np.uint8)
  colours = listening.palette()
  np.testing.assert_array_equal(_decode_png(listening.png_bytes(indices, colours)),
                                colours[indices])
  # The palette is the colour scale: its ends are the scale's ends.
  np.testing.assert_array_equal(colours[0], listening._STOPS[0])
  np.testing.assert_array_equal(colours[-1], listening._STOPS[-1])
  assert listening.levels(np.array([[-200.0, -40.0, 5.0]]), 0.0).tolist() == [[0, 128, 255]]


def test_spectrogram_puts_a_tone_at_its_frequency():
  t = np.arange(2 * RATE) / RATE
  tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
  db = listening.spectrogram_db(tone, RATE, max_columns=50, rows=40)
  assert db.shape[0] == 40 and db.shape[1] <= 50
  # Row 0 is the top (4 kHz); 1 kHz is a quarter of the way up: row 30 of 40.
  loudest = int(np.argmax(db.mean(axis=1)))
  assert abs(loudest - 30) <= 1
  assert db.mean(axis=1)[loudest] - np.median(db.mean(axis=1)) > 40


def test_colour_scale_ends_and_levels():
  rgb = listening.colorize(np.array([[-200.0, -80.0, -40.0, 0.0, 30.0]]), top_db=0.0)
  np.testing.assert_array_equal(rgb[0, 0], listening._STOPS[0])  # below the range
  np.testing.assert_array_equal(rgb[0, 1], listening._STOPS[0])
  np.testing.assert_array_equal(rgb[0, 3], listening._STOPS[-1])
  np.testing.assert_array_equal(rgb[0, 4], listening._STOPS[-1])  # clipped above
  assert listening.level_db(np.full(100, 0.1)) == pytest.approx(-20.0)
  assert listening.level_db(np.zeros(10)) is None
  mixture = np.full(100, 0.1)
  assert listening.outputs_activity([np.full(100, 0.05), np.full(100, 1e-4), np.zeros(100)],
                                    mixture) == [True, False, False]


def _inputs(tmp_path):
  rng = np.random.default_rng(1)
  paths = []
  for name in ("a.wav", "sub/b.flac"):
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), (0.1 * rng.standard_normal(RATE)).astype(np.float32), RATE,
                    subtype="PCM_16")
    paths.append(str(path))
  return paths


def _links(page_path):
  text = open(page_path, encoding="utf-8").read()
  return re.findall(r'(?:src)="([^"]+)"', text), text


def test_separate_report_links_every_player_and_picture(model_folder, tmp_path):
  folder, _ = model_folder
  out = tmp_path / "out"
  status = cli.main(["prog", "separate", f"--model={folder}", f"--out_dir={out}", "--report",
                     *_inputs(tmp_path)], stream=io.StringIO())
  assert status == 0
  links, text = _links(out / "index.html")
  audio_links = [l for l in links if not l.endswith(".png")]
  images = [l for l in links if l.endswith(".png")]
  # Per input: the input and its 4 outputs, each with a player and a picture.
  assert len(audio_links) == 2 * 5 and len(images) == 2 * 5
  for link in links:
    assert not os.path.isabs(link) and "://" not in link, link
    assert (out / link).is_file(), link
  # Outputs are played from their folders; inputs (outside OUT_DIR) from copies.
  assert sum(l.startswith("a_wav/") for l in audio_links) == 4
  assert sum(l.startswith("sub/b_flac/") for l in audio_links) == 4
  assert {l for l in audio_links if l.startswith("report/")} == {
      "report/item001_00.wav", "report/item002_00.flac"}
  assert text.count("class='badge") == 8  # every output marked active or silent
  for image in images:
    assert _decode_png((out / image).read_bytes()).shape[0] == listening.ROWS


def _chromium():
  for name in ("chromium", "chromium-browser", "google-chrome"):
    path = shutil.which(name)
    if path:
      return path
  return None


def require_chromium():
  """Debian's Chromium's path, or skips (fails where CI requires the browser)."""
  browser_path = _chromium()
  found = importlib.util.find_spec("playwright") is not None
  if browser_path is None or not found:
    reason = (f"needs Debian's chromium ({browser_path or 'not found'}) and the playwright "
              f"package ({'found' if found else 'not installed'})")
    if REQUIRE_BROWSER:
      pytest.fail(reason)
    pytest.skip(reason)
  return browser_path


def load_in_chromium(page_path, browser_path):
  """Opens a page in headless Chromium: `(images, audio, failed requests, console errors)`.

  images: `[src, complete, naturalWidth]`; audio: `[src, readyState, error code, duration]`
  once every audio element has loaded its metadata or failed.
  """
  from playwright.sync_api import sync_playwright  # pylint: disable=import-outside-toplevel
  errors = []
  with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=browser_path, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--autoplay-policy=no-user-gesture-required"])
    try:
      page = browser.new_page()
      page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
      page.on("pageerror", lambda e: errors.append(str(e)))
      failed_requests = []
      page.on("requestfailed", lambda r: failed_requests.append(r.url))
      page.goto(pathlib.Path(page_path).resolve().as_uri())
      page.wait_for_load_state("load")
      images = page.eval_on_selector_all(
          "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])")
      # Audio elements load their metadata (duration) or report an error.
      audio = page.evaluate("""async () => {
        const els = Array.from(document.querySelectorAll('audio'));
        await Promise.all(els.map(e => e.readyState >= 1 || e.error ? null :
          new Promise(r => { e.addEventListener('loadedmetadata', r);
                             e.addEventListener('error', r); e.load(); })));
        return els.map(e => [e.getAttribute('src'), e.readyState, e.error && e.error.code,
                             e.duration]);
      }""")
    finally:
      browser.close()
  return images, audio, failed_requests, errors


def test_report_loads_in_headless_chromium(model_folder, tmp_path):
  """Every picture decodes and every audio element loads its file; no console errors."""
  browser_path = require_chromium()
  folder, _ = model_folder
  out = tmp_path / "out"
  assert cli.main(["prog", "separate", f"--model={folder}", f"--out_dir={out}", "--report",
                   *_inputs(tmp_path)], stream=io.StringIO()) == 0
  images, audio, failed_requests, errors = load_in_chromium(out / "index.html", browser_path)
  assert len(images) == 10 and all(complete and width > 0 for _, complete, width in images), \
      images
  assert len(audio) == 10
  for src, ready, error, duration in audio:
    assert error is None and ready >= 1, (src, ready, error)
    assert duration == pytest.approx(1.0, abs=0.01), (src, duration)  # 1 s inputs
  assert not failed_requests, failed_requests
  assert not errors, errors


def test_help_does_not_import_tensorflow():
  code = ("import sys\nfrom sound_separation import cli\n"
          "assert cli.main(['prog', '--help']) == 0\n"
          "assert cli.main(['prog', 'separate', '--help']) == 0\n"
          "assert cli.main(['prog', 'train', '--help']) == 0\n"
          "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
          "assert not bad, bad\n")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  assert "--[no]report" in result.stdout  # separate's flags were listed


def test_separate_prints_no_tensorflow_log_lines(model_folder, tmp_path):
  folder, _ = model_folder
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL", "SOUND_SEPARATION_VERBOSE")}
  command = [sys.executable, "-m", "sound_separation", "separate", f"--model={folder}",
             f"--out_dir={tmp_path / 'out'}", *_inputs(tmp_path)]
  result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env,
                          check=False)
  assert result.returncode == 0, result.stderr
  lines = (result.stdout + result.stderr).splitlines()
  noise = [l for l in lines if re.match(r"^[IWEF]\d{4} |^WARNING: All log messages|"
                                        r"cpu_feature_guard|oneDNN|XLA|StreamExecutor|"
                                        r"^INFO:absl", l)]
  assert not noise, noise
  assert any(l.startswith("Separated 2") for l in lines), lines
  # --verbose shows them again.
  verbose = subprocess.run(command[:4] + ["--verbose", "--overwrite"] + command[4:],
                           capture_output=True, text=True, timeout=300, env=env, check=False)
  assert verbose.returncode == 0, verbose.stderr
  assert re.search(r"^[IW]\d{4} ", verbose.stderr, re.M), verbose.stderr[-2000:]


def _fuss_list(tmp_path, count=5):
  """A FUSS-format list of `count` 1 s mixtures at RATE with 1-3 sources each."""
  rng = np.random.default_rng(2)
  lines = []
  for i in range(count):
    folder = tmp_path / "fuss" / f"example{i}_sources"
    folder.mkdir(parents=True)
    sources = [(0.05 * rng.standard_normal(RATE)).astype(np.float32)
               for _ in range(1 + i % 3)]
    names = []
    for j, source in enumerate(sources):
      soundfile.write(str(folder / f"s{j}.wav"), source, RATE, subtype="FLOAT")
      names.append(f"example{i}_sources/s{j}.wav")
    soundfile.write(str(tmp_path / "fuss" / f"example{i}.wav"), np.sum(sources, 0), RATE,
                    subtype="FLOAT")
    lines.append("\t".join([f"example{i}.wav"] + names))
  path = tmp_path / "fuss" / "list.txt"
  path.write_text("\n".join(lines) + "\n")
  return path


def test_evaluate_report_shows_a_sample_with_references(model_folder, tmp_path):
  folder, _ = model_folder
  out = tmp_path / "eval"
  text = io.StringIO()
  status = cli.main(["prog", "evaluate", f"--model_dir={folder}", f"--data={_fuss_list(tmp_path)}",
                     f"--out_dir={out}", "--report", "--report_examples=3"], stream=text)
  assert status == 0, text.getvalue()
  links, page = _links(out / "index.html")
  assert "Shown: 3 of the list&#x27;s 5 examples" in page
  # Examples 1, 3 and 5 (spread evenly): 1, 3 and 2 sources.
  assert [int(n) for n in re.findall(r"<h2>Example (\d+):", page)] == [1, 3, 5]
  expected = sum(1 + refs + 4 for refs in (1, 3, 2))  # mixture, references, 4 outputs
  assert len([l for l in links if l.endswith(".png")]) == expected
  for link in links:
    assert not os.path.isabs(link) and (out / link).is_file(), link
  # Each output is marked by the evaluator's activity rule; matches are named.
  assert page.count("class='badge") == 3 * 4
  assert "↔ source 1" in page
  assert re.search(r"<b>1S</b> -?\d+\.\d\d dB", page)  # the single-source example's score


def test_sample_indices_spread_over_the_list():
  from sound_separation.evaluation import evaluator  # pylint: disable=import-outside-toplevel
  assert evaluator.sample_indices(5, 8) == [1, 2, 3, 4, 5]
  assert evaluator.sample_indices(100, 4) == [1, 34, 67, 100]
