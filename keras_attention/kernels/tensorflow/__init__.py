"""TensorFlow-only fast paths, imported only under the TensorFlow backend (never at a layer module's import)."""
