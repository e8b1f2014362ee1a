"""Building corpora on disk: the library behind `sound-separation prepare`.

- `layout`: the folder and list layout every writer shares, mixtures
  written as the exact sum of their sources, argument checks.
- `mixing`: FUSS-style mixtures from labelled clips.
- `clips`: fixed-length clips cut from long recordings.
- `mom_sets`: mixture-of-mixtures evaluation sets.
- `public_lists`: YFCC100m, FUSS and LibriMix lists imported and checked.
- `synthetic`: the procedural corpus of `sound-separation demo`.

Everything here writes files for `sound_separation.data` to read; nothing
here runs at training time.
"""

# The modules; each is imported by name (`from sound_separation.corpus import mixing`).
__all__ = [
    "clips",
    "layout",
    "mixing",
    "mom_sets",
    "public_lists",
    "records",
    "synthetic",
]
