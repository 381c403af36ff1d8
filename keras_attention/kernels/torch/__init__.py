"""PyTorch-only kernels, imported only under the torch backend."""
