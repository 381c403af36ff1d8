"""argparse types shared by the ``keras-attention`` command, its ``racknet`` sub-command and the benchmark
scripts; each rejects a bad value with a message that names what was expected."""

import argparse
import math
from collections.abc import Callable, Collection, Iterable
from typing import Any


def int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text}")
        return value

    return parse


positive_int = int_at_least(1)

MAX_SEED = 2**32 - 1  # the largest seed keras.utils.set_random_seed takes


def seed_value(text: str) -> int:
    """argparse type: a random seed, an integer in 0 .. 2**32 - 1 (what ``keras.utils.set_random_seed`` takes)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer seed in 0 .. 2**32 - 1 ({MAX_SEED}), got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``inf``, ``nan``, 0 and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def comma_subset(known: Collection[str]) -> Callable[[str], list[str]]:
    """argparse type: a comma-separated, non-empty subset of ``known``."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in known]
        if not names or unknown:
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {', '.join(known)}, got {text}")
        return names

    return parse


# The time-series options of `keras-attention reproduce` and of the benchmark scripts that run the same
# experiments: dest -> (flag, argparse keywords). Their defaults are None: the experiment's settings decide.
SERIES_ARGUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "steps": ("--steps", dict(type=positive_int, metavar="N",
                              help="time-series experiments: optimizer-step budget per run; each data set trains "
                                   "ceil(N / batches per epoch) epochs (default: the experiment's, 500); excludes "
                                   "--epochs")),
    "optimizer": ("--optimizer", dict(choices=("adam", "rmsprop"),
                                      help="time-series experiments: the optimizer (default: the experiment's, "
                                           "RMSProp as in the dissertation)")),
    "learning_rate": ("--learning-rate", dict(type=positive_float,
                                              help="time-series experiments: the learning rate (default: the "
                                                   "experiment's, 1e-3)")),
    "positional": ("--positional", dict(choices=("sinusoidal", "learned", "none"),
                                        help="xm2a experiments: the attention encoder's positional encoding, for "
                                             "every row without its own (default: sinusoidal)")),
    "depth": ("--depth", dict(type=positive_int, help="xm2a experiments: encoder blocks (default: the experiment's "
                                                      "CPU depth, 2; the dissertation: 6)")),
    "heads": ("--heads", dict(type=positive_int, help="xm2a experiments: attention heads (default 4; the "
                                                      "dissertation: 8)")),
    "key_dim": ("--key-dim", dict(type=positive_int, help="xm2a experiments: per-head width (default 16; the "
                                                          "dissertation: 64)")),
    "rows": ("--rows", dict(type=lambda text: tuple(part.strip() for part in text.split(",") if part.strip()),
                            metavar="SLUG,...",
                            help="time-series experiments: train only these rows, by their run-directory names "
                                 "(the label in lower case, other characters than letters and digits as _, e.g. "
                                 "base_lstm__no_attention) or labels without commas (default: every row)")),
    "sigma0": ("--sigma0", dict(type=positive_float,
                                help="sdma experiments: the saliency events' first scale on every data set "
                                     "(default: per data set, 0.5 / 1.0 / 1.5 / 2; see the sdma catalog)")),
}


def add_series_arguments(parser: argparse.ArgumentParser,
                         dests: Iterable[str] = tuple(SERIES_ARGUMENTS)) -> argparse.ArgumentParser:
    """Add the time-series options ``dests`` (:data:`SERIES_ARGUMENTS`) to ``parser``, each defaulting to None."""
    for dest in dests:
        flag, keywords = SERIES_ARGUMENTS[dest]
        parser.add_argument(flag, dest=dest, default=None, **keywords)
    return parser


def add_series_run_arguments(parser: argparse.ArgumentParser,
                             dests: Iterable[str] = tuple(SERIES_ARGUMENTS)) -> argparse.ArgumentParser:
    """The options the time-series benchmark scripts share with ``reproduce``: ``--seeds``, ``--epochs``,
    ``--batch-size``, the time-series options ``dests`` (:func:`add_series_arguments`) and ``--preset``, each
    defaulting to None (the experiment's settings, or the preset's, decide)."""
    parser.add_argument("--seeds", type=positive_int, default=None, help="default 5 (quick: 1)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="epochs per run instead of the step budget (quick: 1); excludes --steps")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="default 16; reduced only on a set with fewer training series (printed, recorded)")
    add_series_arguments(parser, dests)
    parser.add_argument("--preset", default=None,
                        help="named settings of each experiment, e.g. 'published' (options given explicitly win)")
    return parser
