"""Inference: load a trained separator (`load_model`), export it as a SavedModel,
TFLite or a LiteRT folder, separate files of any length and rate.

Names are imported on first use, so that the LiteRT path (`inference.litert`)
runs without importing TensorFlow (`sound_separation.lazy`).
"""

from sound_separation import lazy

__getattr__, __dir__, __all__ = lazy.exports(__name__, {
    "export_saved_model": "export",
    "export_litert": "export",
    "separate_file": "separate",
    "separate_waveform": "chunked",
    "load_model": "separator",
    "SavedModelSeparator": "separator",
})
