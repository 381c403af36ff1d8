"""SAN image-classification experiments: Table IV (LeNet-5), Tables II/III (VGG-16, ResNet-18), Table IX.

Run by :func:`~keras_attention.experiments.images.run_image_experiment` (protocol there). Data only.
"""

import math
from typing import Any

from keras_attention.experiments.configs import ImageConfig, ImageSettings
from keras_attention.experiments.registry import Experiment, RunnerRef, register

RUN_IMAGE_EXPERIMENT = RunnerRef("keras_attention.experiments.images", "run_image_experiment")

COMPETITORS: list[tuple[str, str | None]] = [("Base Model", None), ("CBAM", "cbam"), ("BAM", "bam"),
                                             ("SAN-c", "san-c"), ("SAN-d", "san-d")]

register(
    Experiment(
        name="san-lenet",
        description="LeNet-5 with no attention, CBAM, BAM, SAN-c and SAN-d (bottleneck = full for LeNet).",
        paper_table="SAN paper Table IV",
        run=RUN_IMAGE_EXPERIMENT,
        quick_seeds=2,
        configs=[ImageConfig(label, "lenet5", att) for label, att in COMPETITORS],
        presets={"published": {"dataset": "fashion_mnist", "seeds": 5, "epochs": 10}},  # san_lenet_fashion_mnist
        paper={
            "mnist": {"Base Model": (98.37, 99.98), "CBAM": (97.88, 99.98), "BAM": (98.52, 99.99),
                      "SAN-c": (98.56, 99.99), "SAN-d": (98.70, 100.00)},
            "fashion_mnist": {"Base Model": (89.43, 99.87), "CBAM": (89.27, 99.85), "BAM": (89.64, 99.90),
                              "SAN-c": (89.75, 99.92), "SAN-d": (89.94, 99.96)},
        },
        settings=ImageSettings(width=1.0, quick_width=1.0),
    )
)


def _placement_configs(builder: str) -> list[ImageConfig]:
    configs = [ImageConfig("Base Model", builder, None)]
    for placement in ("bottleneck", "full"):
        for label, att in COMPETITORS[1:]:
            configs.append(ImageConfig(f"{label} ({placement})", builder, att, placement))
    return configs


def _paper_placement(table: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for dataset, cells in table.items():
        out[dataset] = {"Base Model": cells["Base Model"]}
        for label in ("CBAM", "BAM", "SAN-c", "SAN-d"):
            out[dataset][f"{label} (bottleneck)"] = cells[label][0]
            out[dataset][f"{label} (full)"] = cells[label][1]
    return out


_TABLE_II = {  # VGG-16: dataset -> label -> ((bottleneck top1, top5), (full top1, top5))
    "cifar10": {"Base Model": (72.70, 93.12), "CBAM": ((76.57, 95.23), (74.65, 94.26)),
                "BAM": ((76.15, 94.85), (76.42, 95.63)), "SAN-c": ((78.42, 97.86), (79.89, 97.99)),
                "SAN-d": ((79.01, 99.50), (81.24, 99.98))},
    "cifar20": {"Base Model": (45.17, 70.01), "CBAM": ((46.14, 72.56), (45.74, 72.16)),
                "BAM": ((48.95, 76.89), (46.79, 73.68)), "SAN-c": ((50.23, 78.99), (51.14, 82.99)),
                "SAN-d": ((52.84, 82.03), (54.88, 86.48))},
    "cifar100": {"Base Model": (31.07, 53.01), "CBAM": ((32.17, 54.02), (32.51, 54.67)),
                 "BAM": ((32.96, 55.65), (35.96, 61.45)), "SAN-c": ((34.58, 58.99), (37.59, 63.48)),
                 "SAN-d": ((36.14, 61.23), (39.03, 68.45))},
}
_TABLE_III = {  # ResNet-18
    "cifar10": {"Base Model": (68.55, 90.51), "CBAM": ((73.76, 96.40), (74.40, 97.42)),
                "BAM": ((73.42, 93.42), (72.67, 96.71)), "SAN-c": ((74.82, 97.86), (75.03, 98.99)),
                "SAN-d": ((78.89, 99.97), (79.67, 100.00))},
    "cifar20": {"Base Model": (49.32, 73.00), "CBAM": ((53.39, 80.34), (51.73, 75.89)),
                "BAM": ((53.53, 81.13), (54.77, 82.64)), "SAN-c": ((55.23, 85.82), (52.74, 78.95)),
                "SAN-d": ((56.53, 87.26), (54.94, 83.98))},
    "cifar100": {"Base Model": (37.83, 62.95), "CBAM": ((40.95, 65.65), (40.74, 67.97)),
                 "BAM": ((40.72, 65.39), (40.49, 67.01)), "SAN-c": ((41.74, 67.10), (44.14, 72.43)),
                 "SAN-d": ((41.49, 66.95), (47.06, 74.42))},
}

for _name, _builder, _table, _paper in (("san-vgg", "vgg16", "Table II", _TABLE_II),
                                        ("san-resnet", "resnet18", "Table III", _TABLE_III)):
    register(
        Experiment(
            name=_name,
            description=(f"{'VGG-16' if _builder == 'vgg16' else 'ResNet-18'} with CBAM, BAM, SAN-c, SAN-d at "
                         "bottleneck and full placement."),
            paper_table=f"SAN paper {_table}",
            run=RUN_IMAGE_EXPERIMENT,
            default_dataset="cifar10",
            quick_seeds=2,
            configs=_placement_configs(_builder),
            paper=_paper_placement(_paper),
            settings=ImageSettings(width=1.0, quick_width=0.125),
        )
    )

_ABLATION_ROWS = [  # Table IX rows 1-5: (label, absolute, channel_alignment, extrema, smoothing)
    ("1 no-Abs, no-CCA, no-Extrema, no-Smoothing", False, False, False, False),
    ("2 Abs, no-CCA, no-Extrema, no-Smoothing", True, False, False, False),
    ("3 Abs, CCA, no-Extrema, no-Smoothing", True, True, False, False),
    ("4 Abs, CCA, Extrema, no-Smoothing", True, True, True, False),
    ("5 Abs, CCA, Extrema, Smoothing", True, True, True, True),
]


def _ablation_configs(builder: str) -> list[ImageConfig]:
    configs = [ImageConfig("0 Base Model", builder, None)]
    for label, absolute, cca, extrema, smoothing in _ABLATION_ROWS:
        switches = dict(absolute=absolute, channel_alignment=cca, extrema=extrema, smoothing=smoothing)
        incompatible = None
        if builder == "lenet5" and not cca:
            incompatible = ("incompatible configuration: LeNet-5's SAN pairs have different channel counts "
                            "(1 -> 6, 6 -> 16), which needs cross-layer channel alignment (Table IX '-')")
        configs.append(ImageConfig(label, builder, "san-c", "bottleneck",
                                   {"attention_options": switches}, incompatible))
    return configs


def _ablation_paper(base: float, rows_3_to_5: tuple[float, ...]) -> dict[str, tuple[float, float]]:
    cells = [(math.nan,) * 2] * 2 + [(value, math.nan) for value in rows_3_to_5]
    return {"0 Base Model": (base, math.nan), **{row[0]: cell for row, cell in zip(_ABLATION_ROWS, cells)}}


register(
    Experiment(
        name="san-ablation",
        description="SAN ablation (Table IX rows 0-5) on LeNet-5; rows 1-2 are incompatible there.",
        paper_table="SAN paper Table IX",
        run=RUN_IMAGE_EXPERIMENT,
        quick_seeds=2,
        configs=_ablation_configs("lenet5"),
        paper={"mnist": _ablation_paper(98.37, (98.34, 98.17, 98.56)),
               "fashion_mnist": _ablation_paper(89.43, (89.55, 89.28, 89.75))},
        settings=ImageSettings(),
    )
)

__all__ = ["COMPETITORS"]
