"""A one-line description of the machine a result was measured on (CPU model, cores, TF and Keras versions)."""

import os
import platform


def machine_description():
    import keras
    import tensorflow as tf

    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores, TF {tf.__version__}, Keras {keras.__version__}"
