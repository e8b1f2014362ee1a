"""Downloads from a Cloud Storage bucket: anonymous JSON API, verified, resumable.

The paper authors publish their checkpoints in a public bucket. Listing a
prefix is `GET {base}/storage/v1/b/{bucket}/o?prefix={prefix}` (pages joined
through `nextPageToken`); each item gives its `name`, `size` (bytes, a
string) and `md5Hash` (base64 of the MD5 digest), and is downloaded from its
`mediaLink`. `base` is `https://storage.googleapis.com`, or
`$SOUND_SEPARATION_MODELS_URL` (a mirror; the tests' loopback server).

`download` writes through `<file>.partial`, resumes a partial file with an
HTTP range request, retries failed attempts, checks size and MD5 before the
file gets its final name, and reports progress in bytes. Nothing here trusts
an object's name: `safe_file_name` refuses names that would leave the
destination folder.
"""

import base64
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_BASE_URL = "https://storage.googleapis.com"
BASE_URL_ENV = "SOUND_SEPARATION_MODELS_URL"
_CHUNK = 1 << 20
_TIMEOUT = 60


class DownloadError(RuntimeError):
  """A download that could not be completed or verified (the message says why)."""


def base_url():
  """The storage endpoint: `$SOUND_SEPARATION_MODELS_URL`, else Cloud Storage's."""
  return os.environ.get(BASE_URL_ENV, "").rstrip("/") or DEFAULT_BASE_URL


def listing_url(bucket, prefix, base=None):
  return (f"{base or base_url()}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?"
          f"prefix={urllib.parse.quote(prefix, safe='')}")


def _get(url, headers=None):
  request = urllib.request.Request(url, headers=dict(headers or {}))
  return urllib.request.urlopen(request, timeout=_TIMEOUT)  # noqa: S310 (http(s) URLs only)


def list_objects(bucket, prefix, base=None):
  """`[{"name", "size" (int), "md5Hash", "mediaLink"}]` of the objects under `prefix`.

  Raises:
    urllib.error.URLError: the endpoint cannot be reached (the caller says
      what to do offline).
    DownloadError: an answer that is not a Cloud Storage listing.
  """
  url = listing_url(bucket, prefix, base)
  items, token = [], None
  while True:
    page_url = url + (f"&pageToken={urllib.parse.quote(token, safe='')}" if token else "")
    with _get(page_url) as response:
      try:
        page = json.loads(response.read().decode("utf-8"))
      except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DownloadError(f"{page_url} did not answer with a Cloud Storage listing: {e}") \
            from e
    for item in page.get("items", []):
      try:
        items.append({"name": item["name"], "size": int(item["size"]),
                      "md5Hash": item["md5Hash"], "mediaLink": item["mediaLink"]})
      except (KeyError, ValueError) as e:
        raise DownloadError(f"{page_url}: an item without a usable {e}: {item!r}") from e
    token = page.get("nextPageToken")
    if not token:
      return items


def safe_file_name(object_name, prefix):
  """The file name of an object below `prefix/`; DownloadError for anything else.

  Only plain names directly under the prefix are accepted: no `..`, no
  absolute path, no sub-folder, no backslash, nothing empty.
  """
  if not object_name.startswith(prefix.rstrip("/") + "/"):
    raise DownloadError(f"object {object_name!r} is not under the prefix {prefix!r}")
  name = object_name[len(prefix.rstrip("/")) + 1:]
  if (not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith(".")
      or os.path.isabs(name) or "\x00" in name):
    raise DownloadError(f"refusing object {object_name!r}: its name {name!r} would not stay a "
                        f"plain file in the cache folder")
  return name


def _md5_base64(path):
  digest = hashlib.md5()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(_CHUNK), b""):
      digest.update(block)
  return base64.b64encode(digest.digest()).decode("ascii")


class Progress:
  """A one-line progress bar in bytes over several files (stderr by default)."""

  def __init__(self, total, stream=None):
    self.total = max(1, int(total))
    self.done = 0
    self.stream = stream if stream is not None else sys.stderr
    self._last = 0.0

  def add(self, count, force=False):
    self.done += count
    now = time.monotonic()
    if force or now - self._last > 0.2:
      self._last = now
      filled = int(30 * min(self.done, self.total) / self.total)
      print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done / 1e6:8.1f} / "
            f"{self.total / 1e6:.1f} MB", end="", file=self.stream, flush=True)

  def close(self):
    self.add(0, force=True)
    print(file=self.stream, flush=True)


def download(item, path, progress=None, attempts=4, backoff_seconds=1.0):
  """Downloads one listed object to `path`, verified; resumes `<path>.partial`.

  Args:
    item: from `list_objects`.
    path: the final file; written only when size and MD5 match.
    progress: a `Progress` (optional).
    attempts: tries before giving up (each resumes where the last stopped).
    backoff_seconds: wait before the second try, doubled after each.

  Raises:
    DownloadError: the object could not be fetched in `attempts` tries, or
      its size or MD5 do not match the listing (the partial file is removed,
      nothing is left under `path`).
  """
  partial = path + ".partial"
  size, expected_md5 = item["size"], item["md5Hash"]
  wait = backoff_seconds
  last_error = None
  for attempt in range(attempts):
    have = os.path.getsize(partial) if os.path.exists(partial) else 0
    if have > size:
      os.remove(partial)
      have = 0
    if progress is not None and attempt == 0:
      progress.add(have)
    try:
      if have < size:
        headers = {"Range": f"bytes={have}-"} if have else {}
        with _get(item["mediaLink"], headers) as response:
          if have and response.status != 206:  # the server sent the whole file again
            if progress is not None:
              progress.add(-have)
            have = 0
          with open(partial, "ab" if have else "wb") as f:
            for block in iter(lambda: response.read(_CHUNK), b""):
              f.write(block)
              if progress is not None:
                progress.add(len(block))
        got = os.path.getsize(partial)
        if got < size:  # the server closed early: resume from here on the next try
          raise ConnectionError(f"connection closed after {got} of {size} bytes")
      break
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
      # A dropped connection (IncompleteRead) resumes from what was written.
      last_error = e
      if attempt + 1 < attempts:
        time.sleep(wait)
        wait *= 2
  else:
    raise DownloadError(f"could not download {item['mediaLink']} in {attempts} tries: "
                        f"{last_error}")
  got = os.path.getsize(partial)
  if got != size:
    os.remove(partial)
    raise DownloadError(f"{item['name']}: got {got} bytes, the listing says {size}; nothing "
                        f"was kept")
  md5 = _md5_base64(partial)
  if md5 != expected_md5:
    os.remove(partial)
    raise DownloadError(f"{item['name']}: MD5 {md5} does not match the listing's "
                        f"{expected_md5}; nothing was kept")
  os.replace(partial, path)
  return path
