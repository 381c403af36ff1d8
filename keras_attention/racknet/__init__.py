"""keras_attention.racknet"""
