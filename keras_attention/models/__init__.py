"""keras_attention.models"""
