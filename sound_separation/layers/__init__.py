"""Keras 3 layers of the separation model (docs/architecture.md#separation-model)."""

from sound_separation.layers.consistency import MixtureConsistency
from sound_separation.layers.tdcn import DepthwiseTimeConv
from sound_separation.layers.tdcn import NormAct
from sound_separation.layers.tdcn import ScalarPReLU
from sound_separation.layers.tdcn import ScalarScale
from sound_separation.layers.tdcn import ScaledDense
from sound_separation.layers.tdcn import TDCNBlock
from sound_separation.layers.tdcn import TDCNPlusPlus
from sound_separation.layers.tdcn import TimeInstanceNorm
from sound_separation.layers.transforms import LearnedDecoder
from sound_separation.layers.transforms import LearnedEncoder
from sound_separation.layers.frontend import WaveformFilterbank
from sound_separation.layers.resnet import BasicBlock

__all__ = [
    "BasicBlock",
    "DepthwiseTimeConv",
    "LearnedDecoder",
    "LearnedEncoder",
    "MixtureConsistency",
    "NormAct",
    "ScalarPReLU",
    "ScalarScale",
    "ScaledDense",
    "TDCNBlock",
    "TDCNPlusPlus",
    "TimeInstanceNorm",
    "WaveformFilterbank",
]
