"""keras_attention.data"""
