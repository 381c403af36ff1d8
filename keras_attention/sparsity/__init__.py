"""keras_attention.sparsity"""
