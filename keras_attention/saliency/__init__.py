"""keras_attention.saliency"""
