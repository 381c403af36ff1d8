"""``keras-attention``: train one model, or reproduce a paper experiment, from the command line.

    keras-attention list
    keras-attention train --model lenet5 --attention san-d --dataset fashion_mnist --epochs 10 --out runs/a
    keras-attention reproduce san-lenet --seeds 5 --epochs 10
    keras-attention sparsify runs/a/model.keras --sparsity 0.5 --dataset fashion_mnist --out sparse.keras
    keras-attention racknet analyze --dataset digits --out plans/digits.json

Every run writes into its own output directory (history JSON, training-curve PNG, final ``.keras`` model,
backups to resume from) and never writes into an existing one unless ``--overwrite`` (start again) or
``--resume`` (continue) is given.

Before TensorFlow is imported (it takes seconds) every check that needs none has answered: the arguments
(:mod:`~keras_attention.cli.parser`: ``--seed`` in 0 .. 2**32 - 1, the data set's and the model's names,
``--data-dir``), the packages of the ``experiments`` extra, and the output folder (free, writable, not under a
file; ``train --resume`` of a finished run says so and exits 0). Errors are one line. Ctrl-C prints one line
saying how to continue (``--resume``) and exits 130; an ``OSError`` while a run writes (a full disk, a
read-only folder) one line naming the file and the cause, and exits 1.

One module per command (:mod:`~keras_attention.cli.list`, :mod:`~keras_attention.cli.train`,
:mod:`~keras_attention.cli.reproduce`, :mod:`~keras_attention.cli.sparsify`,
:mod:`~keras_attention.cli.racknet`), imported when its command runs; what they share is in
:mod:`~keras_attention.cli.common`; the multi-machine set-up is
:mod:`keras_attention.experiments.distributed`'s.
"""

import os

# Before anything imports TensorFlow: no oneDNN / CUDA start-up lines for a command-line user.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402

# Parsing needs only light modules (no Keras, no TensorFlow): --help and argument errors answer at once.
from keras_attention.cli.common import check_command_extras  # noqa: E402
from keras_attention.cli.parser import attention_choices, build_parser  # noqa: E402
from keras_attention.utils.extras import MissingExtraError  # noqa: E402

__all__ = ["attention_choices", "build_parser", "main"]


def command_handler(command: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs ``command``: ``cmd_<command>`` of ``keras_attention.cli.<command>``, imported now."""
    return getattr(importlib.import_module(f"{__name__}.{command}"), f"cmd_{command}")


def interrupted_line(args: argparse.Namespace) -> str:
    """What Ctrl-C prints: one line saying how the run continues."""
    command = f"keras-attention {args.command}"
    claimed, planned = getattr(args, "claimed_out", None), getattr(args, "planned_out", None)
    if claimed is not None:
        again = ("run the same command again" if args.resume else
                 "run the same command with --resume" + (" instead of --overwrite" if args.overwrite else ""))
        return f"{command}: interrupted; {again} to continue from the last backup in {str(claimed)!r}"
    if planned is not None:
        return f"{command}: interrupted before anything was written to {str(planned)!r}"
    return f"{command}: interrupted"


def os_error_line(args: argparse.Namespace, error: OSError) -> str:
    """The one line of an ``OSError`` a run met while it wrote (a full disk, a read-only folder): the file, the
    cause, and how the run continues."""
    from keras_attention.utils.files import describe_os_error

    backup = sys.modules.get("keras_attention.experiments.backup")
    if backup is not None and isinstance(error, backup.BackupWriteError):
        return str(error)  # it says which backup is kept
    text = describe_os_error(error)
    claimed = getattr(args, "claimed_out", None)
    if claimed is not None:
        text += (f"; the run in {str(claimed)!r} keeps its last good backup: fix that, then run the same command "
                 f"{'again' if args.resume else 'with --resume'}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``keras-attention`` with the arguments ``argv`` (default: the process' own).

    Args:
        argv: the arguments after the program name; None reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 done, 1 a missing extra or a failed write, 2 an invalid argument or no command,
        130 interrupted (Ctrl-C).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    # [*...], not list(...): once the list command ran, its module (keras_attention.cli.list) is an attribute of
    # this package, and so the global name `list` here
    args.argv = [*(sys.argv[1:] if argv is None else argv)]
    if args.version:
        from keras_attention import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        check_command_extras(args.command)
        return command_handler(args.command)(args)  # each imports TensorFlow once the checks without it passed
    except MissingExtraError as error:
        print(f"keras-attention {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(interrupted_line(args), file=sys.stderr, flush=True)
        return 130
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"keras-attention {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"keras-attention {args.command}: error: {os_error_line(args, error)}", file=sys.stderr)
        return 1
    finally:
        if getattr(args, "run_directory", None) is not None:
            args.run_directory.release()  # (the end of the process would release it too)
