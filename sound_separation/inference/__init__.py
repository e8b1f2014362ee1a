"""Inference: load a trained separator (`load_model`), export it as a SavedModel
or TFLite (`export_saved_model`), separate files of any length and rate."""

from sound_separation.inference.export import export_saved_model
from sound_separation.inference.separate import separate_file
from sound_separation.inference.separate import separate_waveform
from sound_separation.inference.separator import load_model
from sound_separation.inference.separator import Separator
