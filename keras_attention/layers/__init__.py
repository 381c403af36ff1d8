"""Attention layers. Each module implements one method; see its docstring for the equations."""

from keras_attention.layers.aw_conv import AWConv2D
from keras_attention.layers.focus_association import FA, FocusAssociation
from keras_attention.layers.scale_space_attention import SAN, ScaleSpaceAttention

__all__ = ["AWConv2D", "FA", "FocusAssociation", "SAN", "ScaleSpaceAttention"]
