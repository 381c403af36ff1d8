"""Attention layers. Each module implements one method; see its docstring for the equations."""

from keras_attention.layers.scale_space_attention import SAN, ScaleSpaceAttention

__all__ = ["SAN", "ScaleSpaceAttention"]
