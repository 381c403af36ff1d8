"""``keras-attention list``: the reproducible experiments, with their paper tables and presets."""

import argparse


def cmd_list(_args: argparse.Namespace) -> int:
    """``keras-attention list``: print every experiment, its paper table, description and presets; 0."""
    # the catalogs are data: reading them imports neither Keras nor TensorFlow, so this answers in about a second
    from keras_attention.experiments.registry import list_experiments

    for name, exp in list_experiments().items():
        print(f"{name:16s} {exp.paper_table}\n{'':16s} {exp.description}")
        if exp.presets:
            print(f"{'':16s} --preset {' | '.join(sorted(exp.presets))}")
    return 0
