"""Attention layers. Each module implements one method; see its docstring for the equations."""

from keras_attention.layers.aw_conv import AWConv2D
from keras_attention.layers.bam import BAM
from keras_attention.layers.cbam import CBAM
from keras_attention.layers.coordinate_attention import CoordinateAttention
from keras_attention.layers.efficient_channel_attention import ECA, EfficientChannelAttention
from keras_attention.layers.focus_association import FA, FocusAssociation
from keras_attention.layers.gather_excite import GatherExcite
from keras_attention.layers.global_context import GlobalContext
from keras_attention.layers.multi_scale_self_attention import MSMSA, MultiScaleSelfAttention
from keras_attention.layers.non_local import NonLocalBlock
from keras_attention.layers.positional_encoding import PositionalEncoding
from keras_attention.layers.salient_positions_attention import SalientPositionsAttention, SPANet
from keras_attention.layers.scale_space_attention import SAN, ScaleSpaceAttention
from keras_attention.layers.scse import SCSE
from keras_attention.layers.sdma import SDCA, SDMA
from keras_attention.layers.selective_kernel import SelectiveKernel
from keras_attention.layers.simam import SimAM
from keras_attention.layers.squeeze_excitation import SqueezeExcitation
from keras_attention.layers.triplet_attention import TripletAttention
from keras_attention.layers.xm2a import XM2A

__all__ = [
    "AWConv2D",
    "BAM",
    "CBAM",
    "CoordinateAttention",
    "ECA",
    "EfficientChannelAttention",
    "FA",
    "FocusAssociation",
    "GatherExcite",
    "GlobalContext",
    "MSMSA",
    "MultiScaleSelfAttention",
    "NonLocalBlock",
    "PositionalEncoding",
    "SAN",
    "SCSE",
    "SPANet",
    "SalientPositionsAttention",
    "ScaleSpaceAttention",
    "SDCA",
    "SDMA",
    "SelectiveKernel",
    "SimAM",
    "SqueezeExcitation",
    "TripletAttention",
    "XM2A",
]
