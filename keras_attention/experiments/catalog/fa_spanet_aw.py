"""FA (FANet Table I), SPANet vs non-local per stage (SPANet Table 2), AW-ResNet-18: the configurations, the
papers' numbers and the presets (data only; run by :mod:`keras_attention.experiments.measured`).

All three train on real Fashion-MNIST, resized to 32 x 32 (bilinear, antialiased; the builders need
32 px), with :func:`~keras_attention.experiments.images.run_image_experiment` (seed k sets
Keras' global seed, the initial weights and the shuffling order; 3 seeds and 10 epochs by default, Adam
1e-3, batch 128). After training, every configuration's first-seed model is measured on one batch of real
test images, and the experiment's table is written to ``results.md`` / ``results.json`` next to the
paper's numbers (which come from other datasets: CIFAR-10, CIFAR-100, ImageNet; they show the
expected direction, not the expected value).

- ``fa`` (FANet Table I analog): ResNet-20 and ResNet-56 (the CIFAR ResNet, 6n + 2), each plain, with
  SE in every block (``reduction=4``, one of the two ratios the FANet paper tried for SENet) and with FA
  (multi-stage deployment of Fig. 4, ``r1 = r2 = 4``): top-1 error, parameters and FLOPs.
- ``spanet`` (SPANet Table 2 analog): ResNet-18, plain and with ONE SPANet (``k = 2``) or non-local
  block after stage 1, 2, 3 or 4: top-1 accuracy, parameters, FLOPs, the attention map's size, peak
  memory of a training step and step time side by side.
- ``awconv`` (AW paper Table 1 analog on ResNet-18): ResNet-18, AW-ResNet-18, SE-ResNet-18 and
  AW-SE-ResNet-18 (SE in every block, Fig. 2): top-1 accuracy, parameters, FLOPs and step time.

Width (the builders' filter-count multiplier, docs/models.md#models-attention-slots, chosen so that CPU runs are
feasible): 0.5 for the CIFAR ResNets (8-16-32
filters), 0.25 for ResNet-18 (16-32-64-128 filters); ``--quick`` halves it again and trains 1 epoch on
512 images.

FLOPs are multiply-accumulates counted analytically, each layer by its own formula; peak memory and step
time are measured around real training steps (:mod:`keras_attention.experiments.costs` says how). Both depend
on the machine and its load: compare within one table.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from keras_attention.experiments.configs import ImageConfig, ImageSettings
from keras_attention.experiments.registry import Experiment, RunnerRef, register

RUN = RunnerRef("keras_attention.experiments.measured", "run_measured_image_experiment")


@dataclass(frozen=True)
class MeasuredSettings(ImageSettings):
    """``table``: which table (``fa`` reports the error, ``spanet`` adds the attention-map size and the peak
    step memory, measured when ``memory``); ``paper_reference``: the paper's columns and rows."""

    table: str = "fa"
    memory: bool = False
    paper_reference: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- the registry entries
def fa_configs(depths: Iterable[int] = (20, 56)) -> list[ImageConfig]:
    """The ``fa`` rows: every CIFAR ResNet depth of ``depths`` plain, with SE and with FA."""
    configs = []
    for depth in depths:
        common = {"depth": depth}
        configs += [
            ImageConfig(f"ResNet-{depth}", "cifar_resnet", None, None, dict(common)),
            ImageConfig(f"SE-ResNet-{depth}", "cifar_resnet", "se", "full",
                        {**common, "attention_options": {"reduction": 4}}),
            ImageConfig(f"FA-ResNet-{depth}", "cifar_resnet", "fa", None,
                        {**common, "attention_options": {"reduction": 4, "expansion": 4}}),
        ]
    return configs


def spanet_configs(stages: Iterable[int] = (1, 2, 3, 4), k: int = 2) -> list[ImageConfig]:
    """The ``spanet`` rows: ResNet-18 plain, then with one SPANet (``k`` salient positions) or non-local block
    after each of ``stages``."""
    configs = [ImageConfig("ResNet-18", "resnet18", None, None)]
    for kind, label in (("spanet", "SPANet"), ("nonlocal", "NonLocal")):
        for stage in stages:
            options = {"stage": stage, **({"k": k} if kind == "spanet" else {})}
            configs.append(ImageConfig(f"ResNet-18 + {label} stage {stage}", "resnet18", kind, None, options))
    return configs


def awconv_configs() -> list[ImageConfig]:
    """The ``awconv`` rows: ResNet-18 and SE-ResNet-18, each with standard and with AW-convolutions."""
    return [
        ImageConfig("ResNet-18", "resnet18", None, None),
        ImageConfig("AW-ResNet-18", "resnet18", None, None, {"conv": "aw"}),
        ImageConfig("SE-ResNet-18", "resnet18", "se", "full"),
        ImageConfig("AW-SE-ResNet-18", "resnet18", "se", "full", {"conv": "aw"}),
    ]


_FA_PAPER = {  # FANet Table I, CIFAR-10: top-1 err %, MFLOPs, #params
    "ResNet-20": (7.70, 2.063, "0.293M"), "SE-ResNet-20": (7.25, 2.122, "0.301M"),
    "FA-ResNet-20": (7.32, 2.093, "0.297M"), "ResNet-56": (6.31, 6.168, "0.876M"),
    "SE-ResNet-56": (6.10, 6.259, "0.889M"), "FA-ResNet-56": (5.86, 6.278, "0.892M"),
}
_SPANET_PAPER = {"ResNet-18": (75.87,)}  # SPANet Table 1 (base) and Table 2, CIFAR-100 top-1 %, ResNet-18
for _stage, (_nl, _spa) in enumerate([(78.50, 78.51), (78.26, 78.59), (78.39, 78.68), (77.92, 76.82)], start=1):
    _SPANET_PAPER[f"ResNet-18 + NonLocal stage {_stage}"] = (_nl,)
    _SPANET_PAPER[f"ResNet-18 + SPANet stage {_stage}"] = (_spa,)
_AW_PAPER = {  # AW paper Table 1, ImageNet, ResNet-50: top-1 err %, GFLOPs, params (M)
    "ResNet-18": (24.56, 3.86, 25.56), "AW-ResNet-18": (23.38, 3.87, 25.72),
    "SE-ResNet-18": (23.14, 3.87, 28.09), "AW-SE-ResNet-18": (22.72, 3.88, 28.25),
}

# The committed tables (benchmarks/results/<name>_fashion_mnist.md): (epochs, width); 3 seeds, batch 32, the first
# 4000 training and 5000 test images.
PUBLISHED = {"fa": (4, 0.25), "spanet": (3, 0.125), "awconv": (4, 0.125)}

_ENTRIES = [  # name, description, paper table, configurations, settings
    ("fa", "CIFAR ResNet-20/56 plain, with SE and with FA (multi-stage, Fig. 4): error, params, FLOPs.",
     "FANet Table I", fa_configs(),
     MeasuredSettings(width=0.5, quick_width=0.25, table="fa", paper_reference={
         "source": "FANet Table I, CIFAR-10, full-width networks (the paper's MFLOPs)",
         "columns": ["paper err %", "paper MFLOPs", "paper params"], "rows": _FA_PAPER})),
    ("spanet", "ResNet-18 with one SPANet (k=2) or non-local block after stage 1-4: accuracy, memory, time.",
     "SPANet Table 2", spanet_configs(),
     MeasuredSettings(width=0.25, quick_width=0.125, table="spanet", memory=True, paper_reference={
         "source": "SPANet Tables 1-2, CIFAR-100 top-1 %, ResNet-18, k = 2",
         "columns": ["paper top-1 %"], "rows": _SPANET_PAPER})),
    ("awconv", "ResNet-18 with AW-convolution (and SE, Fig. 2) against plain: accuracy, params, step time.",
     "AW paper Table 1", awconv_configs(),
     MeasuredSettings(width=0.25, quick_width=0.125, table="awconv", paper_reference={
         "source": "AW paper Table 1, ImageNet, ResNet-50 (not ResNet-18)",
         "columns": ["paper err %", "paper GFLOPs", "paper params M"], "rows": _AW_PAPER})),
]
for _name, _description, _table, _configs, _settings in _ENTRIES:
    register(Experiment(name=_name, description=_description, paper_table=_table, run=RUN,
                        default_dataset="fashion_mnist", quick_seeds=2, configs=_configs, settings=_settings,
                        presets={"published": {"dataset": "fashion_mnist", "seeds": 3, "epochs": PUBLISHED[_name][0],
                                               "width": PUBLISHED[_name][1], "batch_size": 32, "train_limit": 4000,
                                               "test_limit": 5000}}))

__all__ = ["MeasuredSettings", "awconv_configs", "fa_configs", "spanet_configs"]
