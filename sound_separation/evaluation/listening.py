"""Listening pages: separations to look at and listen to, as one HTML file.

A separation is judged by ear and by eye. `ListeningPage` collects, per
input (an "item"), its tracks — the mixture, the separated outputs and, when
known, the reference sources — and `write` renders `index.html` with, for
every track, an audio player, a spectrogram picture and its level, plus the
item's scores. The page works opened straight from disk: every link is
relative, pictures and audio are files beside it, nothing is loaded from the
internet, there is no script.

Pictures: magnitude spectrograms (25 ms Hann windows, log power in dB),
time on the horizontal axis and frequency (0 to half the sample rate) on the
vertical, in one colour scale per item (the loudest bin of the item's tracks
at the top of the scale, 80 dB of range), so a quiet output looks quiet
beside its mixture. Long tracks are drawn from their first
`MAX_PICTURE_SECONDS` (said under the picture), at most `MAX_COLUMNS` columns
wide. PNG files are written here (zlib, no plotting library).

Activity without references (`separate --report`): an output is marked
active when its level is within `ACTIVE_BELOW_MIXTURE_DB` of its mixture's.
With references (`evaluate --report`) the page shows the evaluator's own
decision (`metrics.active_outputs`).
"""

import html
import os
import struct
import zlib

import numpy as np

from sound_separation import filesystem
from sound_separation.data import audio

PAGE_FILE = "index.html"
ASSET_FOLDER = "report"
MAX_COLUMNS = 600  # the picture's displayed width in CSS pixels
ROWS = 120
MAX_PICTURE_SECONDS = 600.0
DYNAMIC_RANGE_DB = 80.0
ACTIVE_BELOW_MIXTURE_DB = 30.0
_WINDOW_SECONDS = 0.025

# Colour map: dark blue (quiet) through purple and orange to pale yellow (loud).
_STOPS = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                   [245, 125, 21], [250, 193, 39], [252, 255, 164]], np.float64)


def level_db(waveform):
  """RMS level of a waveform in dB relative to full scale; None when silent."""
  waveform = np.asarray(waveform, np.float64)
  power = float(np.mean(waveform * waveform)) if waveform.size else 0.0
  return 10.0 * np.log10(power) if power > 0 else None


def spectrogram_db(waveform, sample_rate, max_columns=MAX_COLUMNS, rows=ROWS):
  """Log-power spectrogram `[rows, columns]` in dB (row 0: the highest frequency).

  Args:
    waveform: float `[T]`.
    sample_rate: Hz.
    max_columns: at most this many time columns; the hop grows with the
      length (at least 10 ms).
    rows: frequency rows (FFT bins averaged into this many bands, linear).
  """
  waveform = np.asarray(waveform, np.float32)
  window = max(16, int(round(_WINDOW_SECONDS * sample_rate)))
  fft_size = 1 << int(np.ceil(np.log2(window)))
  hop = max(int(round(0.010 * sample_rate)), int(np.ceil(len(waveform) / max_columns)))
  padded = np.pad(waveform, (0, max(0, window - len(waveform))))
  columns = max(1, 1 + (len(padded) - window) // hop)
  starts = np.arange(columns) * hop
  frames = np.stack([padded[s:s + window] for s in starts]) * np.hanning(window).astype(np.float32)
  power = np.abs(np.fft.rfft(frames, n=fft_size, axis=1)) ** 2  # [columns, bins]
  bins = power.shape[1]
  edges = np.linspace(0, bins, rows + 1).astype(int)
  edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)
  edges = np.minimum(edges, bins)
  bands = np.stack([power[:, a:max(b, a + 1)].mean(axis=1) for a, b in zip(edges[:-1],
                                                                             edges[1:])], 1)
  return (10.0 * np.log10(bands.T[::-1] + 1e-20)).astype(np.float32)


def palette():
  """The colour map as 256 RGB entries (uint8 `[256, 3]`), quiet to loud."""
  return colorize(np.linspace(-DYNAMIC_RANGE_DB, 0.0, 256)[np.newaxis], 0.0)[0]


def levels(db, top_db, range_db=DYNAMIC_RANGE_DB):
  """uint8 palette indices `[rows, columns]` of dB values on `[top_db - range_db, top_db]`."""
  position = np.clip((np.asarray(db, np.float64) - (top_db - range_db)) / range_db, 0.0, 1.0)
  return np.round(position * 255).astype(np.uint8)


def colorize(db, top_db, range_db=DYNAMIC_RANGE_DB):
  """uint8 RGB `[rows, columns, 3]` of dB values on the scale `[top_db - range_db, top_db]`."""
  position = np.clip((np.asarray(db, np.float64) - (top_db - range_db)) / range_db, 0.0, 1.0)
  scaled = position * (len(_STOPS) - 1)
  low = np.floor(scaled).astype(int)
  high = np.minimum(low + 1, len(_STOPS) - 1)
  fraction = (scaled - low)[..., np.newaxis]
  return np.round(_STOPS[low] * (1 - fraction) + _STOPS[high] * fraction).astype(np.uint8)


def _png_chunk(kind, data):
  return (struct.pack(">I", len(data)) + kind + data
          + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bytes(pixels, colours=None):
  """A PNG file's bytes (8 bits, no filter).

  Args:
    pixels: uint8 RGB `[height, width, 3]` (truecolour), or uint8 indices
      `[height, width]` into `colours` (an indexed image: a third of the size,
      which is what the listening pages write).
    colours: uint8 `[n <= 256, 3]`, the palette of an indexed image.
  """
  pixels = np.ascontiguousarray(pixels, np.uint8)
  indexed = colours is not None
  if (pixels.ndim != (2 if indexed else 3) or (not indexed and pixels.shape[2] != 3)
      or not pixels.shape[0] or not pixels.shape[1]):
    raise ValueError(f"pixels must be [height, width{'' if indexed else ', 3'}] with height, "
                     f"width >= 1, got {pixels.shape}")
  height, width = pixels.shape[:2]
  raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
  header = struct.pack(">IIBBBBB", width, height, 8, 3 if indexed else 2, 0, 0, 0)
  palette_chunk = (_png_chunk(b"PLTE", np.ascontiguousarray(colours, np.uint8).tobytes())
                   if indexed else b"")
  return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + palette_chunk
          + _png_chunk(b"IDAT", zlib.compress(raw, 9)) + _png_chunk(b"IEND", b""))


class Track:
  """One sound of an item.

  Args:
    label: e.g. 'mixture', 'output 2', 'reference 1'.
    audio_path: the audio file the page plays, or None (the page writes
      `waveform`, as a wav or an Ogg Vorbis file: `ListeningPage.audio_format`).
    waveform: float `[T]` (for the picture and level), at `sample_rate`.
    sample_rate: Hz.
    active: None (not shown), True or False.
    note: extra text (e.g. a score).
  """

  def __init__(self, label, audio_path, waveform, sample_rate, active=None, note=""):
    self.label = label
    self.audio_path = None if audio_path is None else os.fspath(audio_path)
    self.waveform = np.asarray(waveform, np.float32)
    self.sample_rate = int(sample_rate)
    self.active = active
    self.note = note


def outputs_activity(outputs, mixture):
  """Which outputs `[M, T]` are within `ACTIVE_BELOW_MIXTURE_DB` of the mixture `[T]`'s level."""
  mixture_level = level_db(mixture)
  if mixture_level is None:
    return [False] * len(outputs)
  return [level is not None and level > mixture_level - ACTIVE_BELOW_MIXTURE_DB
          for level in (level_db(o) for o in outputs)]


class ListeningPage:
  """Collects items and writes them as `<out_dir>/index.html` (module docstring).

  Args:
    title: the page's heading.
    intro: a paragraph under it (e.g. what model, which sample of a list).
  """

  def __init__(self, title, intro="", audio_format="wav"):
    if audio_format not in ("wav", "ogg"):
      raise ValueError(f"audio_format must be 'wav' or 'ogg', got {audio_format!r}")
    self.title = title
    self.intro = intro
    self.audio_format = audio_format  # of tracks written by the page (no file of their own)
    self.items = []

  def add(self, title, tracks, scores=None, note="", columns=()):
    """Adds an item: `tracks` (the first is drawn first), `scores` `{name: text}`.

    `columns`: `[(heading, tracks)]` shown side by side under `tracks`, row
    k holding each column's k-th track (e.g. a model's outputs before and
    after adaptation); one colour scale covers the whole item.
    """
    if not tracks:
      raise ValueError(f"item {title!r} has no tracks")
    columns = [(heading, list(column)) for heading, column in columns]
    self.items.append((title, list(tracks), dict(scores or {}), note, columns))

  def write(self, out_dir):
    """Writes `index.html` and its pictures into `out_dir`; returns the page's path.

    Audio paths inside `out_dir` are linked relative to the page; an audio
    file outside it is copied (as it is) into `<out_dir>/report/` first, so
    that the folder is self-contained; a track without a file
    (`audio_path=None`) is written there as 16-bit PCM.
    """
    out_dir = os.fspath(out_dir)
    assets = filesystem.join(out_dir, ASSET_FOLDER)
    filesystem.makedirs(assets)
    sections = []
    for number, (title, tracks, scores, note, columns) in enumerate(self.items, start=1):
      every = list(tracks) + [t for _, column in columns for t in column]
      pictures = []
      for track in every:
        cut = track.waveform[:int(MAX_PICTURE_SECONDS * track.sample_rate)]
        pictures.append((spectrogram_db(cut, track.sample_rate), len(cut) < len(track.waveform)))
      top = max(float(p.max()) for p, _ in pictures)
      parts = []
      for j, (track, (picture, cut)) in enumerate(zip(every, pictures)):
        image = f"item{number:03d}_{j:02d}.png"
        filesystem.write_bytes(filesystem.join(assets, image),
                               png_bytes(levels(picture, top), palette()))
        parts.append(self._parts(track, f"{ASSET_FOLDER}/{image}", cut, out_dir, assets,
                                 f"item{number:03d}_{j:02d}", self.audio_format))
      rows = [f"<tr>{''.join(f'<td>{p}</td>' for p in cells)}</tr>".replace(
          "<tr><td>", "<tr><td class=label>", 1) for cells in parts[:len(tracks)]]
      side = ""
      if columns:
        cells, start = [], len(tracks)
        for _, column in columns:
          cells.append(parts[start:start + len(column)])
          start += len(column)
        heading = "".join(f"<th>{html.escape(h)}</th>" for h, _ in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{c[k][0]}<br>{c[k][1]}<br>{c[k][2]}</td>" if k < len(c)
                             else "<td></td>" for c in cells) + "</tr>"
            for k in range(max(len(c) for c in cells)))
        side = f"<table class=sbs><tr>{heading}</tr>{body}</table>"
      score_text = "".join(f"<li><b>{html.escape(k)}</b> {html.escape(str(v))}</li>"
                           for k, v in scores.items())
      sections.append(
          f"<section><h2>{html.escape(title)}</h2>"
          + (f"<p class=note>{html.escape(note)}</p>" if note else "")
          + (f"<ul class=scores>{score_text}</ul>" if scores else "")
          + f"<table>{''.join(rows)}</table>{side}</section>")
    page = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(self.title)}</h1>"
        + (f"<p>{html.escape(self.intro)}</p>" if self.intro else "")
        + "<p class=note>Spectrograms: time left to right, frequency bottom to top (0 to half "
        f"the sample rate), one colour scale per item over {DYNAMIC_RANGE_DB:g} dB; levels "
        "are RMS in dB relative to full scale.</p>"
        + "".join(sections) + "</body></html>\n")
    path = filesystem.join(out_dir, PAGE_FILE)
    filesystem.write_text(path, page)
    return path

  @staticmethod
  def _parts(track, image, cut, out_dir, assets, stem, audio_format):
    """`(label, player, picture)` HTML of one track."""
    root = filesystem.absolute(out_dir)
    source = None if track.audio_path is None else filesystem.absolute(track.audio_path)
    try:
      inside = source is not None and filesystem.commonpath([source, root]) == root
    except ValueError:  # on another filesystem
      inside = False
    if inside:
      link = filesystem.relative(source, root).replace(os.sep, "/")
    elif source is not None:  # outside the folder: copied as it is
      name = f"{stem}{os.path.splitext(source)[1].lower() or '.wav'}"
      filesystem.write_bytes(filesystem.join(assets, name), filesystem.read_bytes(source))
      link = f"{ASSET_FOLDER}/{name}"
    else:
      name = f"{stem}.{audio_format}"
      # Ogg Vorbis keeps pages that are committed small (about a tenth of a wav).
      audio.write_audio(filesystem.join(assets, name), track.waveform, track.sample_rate,
                        subtype="PCM_16" if audio_format == "wav" else "VORBIS")
      link = f"{ASSET_FOLDER}/{name}"
    level = level_db(track.waveform)
    badge = ""
    if track.active is not None:
      badge = ("<span class='badge on'>active</span>" if track.active
               else "<span class='badge off'>silent</span>")
    details = (f"{'–' if level is None else f'{level:.1f} dB'}"
               + (f" · {html.escape(track.note)}" if track.note else ""))
    caption = (f"first {MAX_PICTURE_SECONDS / 60:g} min of "
               f"{len(track.waveform) / track.sample_rate / 60:.1f}" if cut else "")
    return (f"<b>{html.escape(track.label)}</b><br>{details} {badge}",
            f"<audio controls preload=metadata src=\"{html.escape(link)}\"></audio>",
            f"<img src=\"{html.escape(image)}\" alt=\"spectrogram of "
            f"{html.escape(track.label)}\">" + (f"<br><small>{caption} min</small>" if cut else ""))


_STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222}"
          "section{border-top:1px solid #ccc;margin-top:1.2em}"
          "td{padding:4px 8px;vertical-align:middle}td.label{width:14em}"
          "img{width:600px;height:120px;image-rendering:pixelated;border:1px solid #999}"
          ".badge{font-size:.8em;padding:1px 6px;border-radius:8px;color:#fff}"
          ".on{background:#2a7}.off{background:#999}.note{color:#555;font-size:.9em}"
          "ul.scores{list-style:none;padding:0}ul.scores li{display:inline;margin-right:1.5em}"
          "table.sbs td{vertical-align:top}table.sbs img{width:440px}table.sbs th{text-align:left}")
