"""SAN's Table IV against the attention modules the field uses: LeNet-5 on Fashion-MNIST with no attention,
SE, CBAM, BAM, ECA, CoordinateAttention, GlobalContext, GatherExcite (GE-theta-plus), SimAM, TripletAttention,
SCSE, SAN-c and SAN-d in LeNet-5's attention slots, and SKNet's selective-kernel convolution in its
convolution slots.

Run by :func:`~keras_attention.experiments.field_comparison.run_field_comparison` (the Table IV protocol of
``san-lenet``, then each row's step time measured side by side and Welch's tests against the base and SAN-d).
Data only.
"""

from keras_attention.experiments.configs import ImageConfig, ImageSettings
from keras_attention.experiments.registry import Experiment, RunnerRef, register
from keras_attention.experiments.results import Claim

BASE, SAN_D = "Base Model", "SAN-d"
# (row label, attention kind of the registry, builder options)
MODULES: list[tuple[str, str | None, dict[str, str]]] = [
    (BASE, None, {}),
    ("SE", "se", {}),
    ("CBAM", "cbam", {}),
    ("BAM", "bam", {}),
    ("ECA", "eca", {}),
    ("CoordinateAttention", "coordinate", {}),
    ("GlobalContext", "global-context", {}),
    ("GatherExcite (theta+)", "ge-theta-plus", {}),
    ("SimAM", "simam", {}),
    ("TripletAttention", "triplet", {}),
    ("SCSE", "scse", {}),
    ("SAN-c", "san-c", {}),
    (SAN_D, "san-d", {}),
    ("SK (convolutions)", None, {"conv": "sk"}),
]

# SAN paper Table IV's ordering on Fashion-MNIST, tested on this run's seeds
CLAIMS = (Claim("SAN-d", BASE, "SAN Table IV"), Claim("SAN-c", BASE, "SAN Table IV"),
          Claim("SAN-d", "CBAM", "SAN Table IV"), Claim("SAN-d", "BAM", "SAN Table IV"))

register(
    Experiment(
        name="attention-lenet",
        description="LeNet-5 with each attention module of the package (and SK convolutions) at SAN's Table IV "
                    "protocol: accuracy, parameters, step cost, Welch's tests against the base and SAN-d.",
        paper_table="SAN paper Table IV, extended to the field",
        run=RunnerRef("keras_attention.experiments.field_comparison", "run_field_comparison"),
        default_seeds=5,
        quick_seeds=2,
        configs=[ImageConfig(label, "lenet5", kind, options=options) for label, kind, options in MODULES],
        presets={"published": {"dataset": "fashion_mnist", "seeds": 5, "epochs": 10}},
        paper={  # SAN paper Table IV (top-1, top-5); the other modules are not in the paper
            "fashion_mnist": {BASE: (89.43, 99.87), "CBAM": (89.27, 99.85), "BAM": (89.64, 99.90),
                              "SAN-c": (89.75, 99.92), SAN_D: (89.94, 99.96)},
        },
        settings=ImageSettings(width=1.0, quick_width=1.0),
    )
)

__all__ = ["BASE", "CLAIMS", "MODULES", "SAN_D"]
