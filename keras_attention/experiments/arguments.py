"""argparse types shared by the ``keras-attention`` command, its ``racknet`` sub-command and the benchmark
scripts; each rejects a bad value with a message that names what was expected."""

import argparse
import math


def int_at_least(minimum):
    """argparse type: an integer >= ``minimum``."""

    def parse(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text}")
        return value

    return parse


positive_int = int_at_least(1)


def positive_float(text):
    """argparse type: a finite number > 0 (``inf``, ``nan``, 0 and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def comma_subset(known):
    """argparse type: a comma-separated, non-empty subset of ``known``."""

    def parse(text):
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in known]
        if not names or unknown:
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {', '.join(known)}, got {text}")
        return names

    return parse
