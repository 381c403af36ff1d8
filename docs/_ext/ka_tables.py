"""Tables built from the code and the committed measurements when the site is built.

- ``{methods-at-a-glance}``: one row per layer class of ``keras_attention.layers.__all__`` (aliases folded
  into their class): method, paper, what it attends, its cost from ``benchmarks/results/layer_overhead.json``
  and its pages. A layer without a row in ``METHODS`` below still gets one, from its module docstring (the
  paper: the first parenthesis with a year in it) and its API entry, so a new layer shows up without an edit.
- ``{layer-cost} MODULE [MODULE ...]``: the rows of ``layer_overhead.json`` for those modules (as named in
  its ``module`` column), every measured shape, with the base step's time.
"""

import importlib
import inspect
import json
import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

OVERHEAD = Path("benchmarks") / "results" / "layer_overhead.json"
SHAPE_NAMES = {
    "vgg16_bottleneck1": "VGG-16 first bottleneck",
    "lenet5_conv1": "LeNet-5 first convolution",
    "resnet18_stage1": "ResNet-18 stage 1",
    "sequence": "sequence (T = 256)",
}
DISSERTATION = "Garg, *On Feature Saliency and Deep Neural Networks*, dissertation, Arizona State University, 2020"

# class name -> method, paper, what it attends, method page, layer_overhead modules, shape of the cost column
METHODS = {
    "ScaleSpaceAttention": (
        "SAN (SAN-c, SAN-d)", "Garg, Candan and Sapino, *SAN: Scale-Space Attention Networks*; dissertation ch. 5",
        "the positions and channels of a layer's output that differ most from the previous layer's, "
        "where the difference peaks in its neighbourhood",
        "methods/san", ("SAN-c (full)", "SAN-d (full)", "SAN-c (depthwise)"), "vgg16_bottleneck1"),
    "CBAM": ("CBAM", "Woo, Park, Lee and Kweon, ECCV 2018",
             "channels (a gate from pooled descriptors), then positions (a 7x7 gate)",
             "methods/cbam_bam_se", ("CBAM",), "vgg16_bottleneck1"),
    "BAM": ("BAM", "Park, Woo, Lee and Kweon, BMVC 2018",
            "channels and positions together, ``x * (1 + sigmoid(M_c + M_s))``",
            "methods/cbam_bam_se", ("BAM",), "vgg16_bottleneck1"),
    "SqueezeExcitation": ("SE", "Hu, Shen and Sun, CVPR 2018", "channels: one learned scale per channel",
                          "methods/cbam_bam_se", ("SE",), "vgg16_bottleneck1"),
    "SDMA": ("SDMA", "dissertation ch. 6", "time steps and features of a series and of its saliency series, "
             "each branch gating the other", "methods/sdma", (), None),
    "SDCA": ("SDCA", "dissertation ch. 6 (the one-way competitor)",
             "time steps and features of a series, gated by its saliency series", "methods/sdma", (), None),
    "XM2A": ("XM2A", "dissertation ch. 7", "every time step and feature of each head, with one mask per pair "
             "of temporal scales (cross-talk)", "methods/xm2a", ("XM2A",), "sequence"),
    "MultiScaleSelfAttention": ("MSMSA", "dissertation ch. 7 (competitor)",
                                "time steps: scaled dot-product attention with multi-scale Q, K, V",
                                "methods/xm2a", ("MSMSA",), "sequence"),
    "FocusAssociation": ("FA", "Liu, Yang, Lu, Yang and Zhou, *A Novel Block-wise Attention Method: "
                         "Focus-and-Association Networks*",
                         "whole blocks: one scalar per sample weighs a block's output against its input",
                         "methods/fa", ("FocusAssociation",), "vgg16_bottleneck1"),
    "SalientPositionsAttention": ("SPANet", "Fang, Li and Li, *Salient Positions based Attention Network for "
                                  "Image Classification*",
                                  "channels, related through the k positions of largest query energy",
                                  "methods/spanet", ("SPANet",), "vgg16_bottleneck1"),
    "NonLocalBlock": ("Non-local block", "Wang, Girshick, Gupta and He, CVPR 2018", "every pair of positions",
                      "methods/spanet", ("NonLocal",), "vgg16_bottleneck1"),
    "AWConv2D": ("AW-convolution", "Zhu, Hofstee, Lee and Al-Ars, ICANN 2021",
                 "the convolution's kernel taps, per sample and filter", "methods/awconv",
                 ("AWConv2D (replaces the conv)",), "vgg16_bottleneck1"),
    "PositionalEncoding": ("Positional encoding", "Vaswani et al., NeurIPS 2017 (§3.5)",
                           "no attention itself: gives order-blind attention the time step",
                           "methods/positional_encoding", (), None),
    # the competitor modules added later (their pages were written after them)
    "EfficientChannelAttention": ("ECA", "Wang, Wu, Zhu, Li, Zuo and Hu, CVPR 2020",
                                  "channels: a 1-D convolution across the channel descriptors",
                                  "methods/eca", ("ECA",), "vgg16_bottleneck1"),
    "CoordinateAttention": ("Coordinate attention", "Hou, Zhou and Feng, CVPR 2021",
                            "channels along each row and each column", "methods/coordinate_attention",
                            ("CoordinateAttention",), "vgg16_bottleneck1"),
    "GlobalContext": ("GC block (GCNet)", "Cao, Xu, Lin, Wei and Hu, ICCV Workshops 2019",
                      "positions, pooled by one softmax into a context added back", "methods/global_context",
                      ("GlobalContext",), "vgg16_bottleneck1"),
    "SelectiveKernel": ("Selective kernel (SK)", "Li, Wang, Hu and Yang, CVPR 2019",
                        "the receptive field: a per-channel softmax over dilated branches",
                        "methods/selective_kernel", ("SelectiveKernel (replaces the conv)",), "vgg16_bottleneck1"),
    "GatherExcite": ("Gather-excite", "Hu, Shen, Albanie, Sun and Vedaldi, NeurIPS 2018",
                     "channels, from context gathered over a spatial extent", "methods/gather_excite",
                     ("GatherExcite (theta+)",), "vgg16_bottleneck1"),
    "SimAM": ("SimAM", "Yang, Zhang, Li and Xie, ICML 2021", "every neuron, by a closed-form energy (no weights)",
              "methods/simam", ("SimAM",), "vgg16_bottleneck1"),
    "TripletAttention": ("Triplet attention", "Misra, Nalamada, Arasanipalai and Hou, WACV 2021",
                         "the three planes (C, W), (H, C) and (H, W)", "methods/triplet_attention",
                         ("TripletAttention",), "vgg16_bottleneck1"),
    "SCSE": ("scSE", "Roy, Navab and Wachinger, MICCAI 2018", "channels and positions, concurrently",
             "methods/scse", ("SCSE",), "vgg16_bottleneck1"),
}


def repository_root(env):
    return Path(env.srcdir).resolve().parent


def load_overhead(env):
    path = repository_root(env) / OVERHEAD
    env.note_dependency(str(path))
    return json.loads(path.read_text(encoding="utf-8"))


def overhead_rows(data, module, shape=None):
    return [row for row in data["rows"] if row["module"] == module and (shape is None or row["shape"] == shape)]


def ratio(value):
    return f"x{value:.2f}"


def paper_from_docstring(module):
    """The first parenthesis of a module docstring's first paragraph that holds a year (the citation)."""
    first = " ".join((inspect.getdoc(module) or "").split("\n\n")[0].split())
    depth, start = 0, None
    for index, char in enumerate(first):
        if char == "(":
            depth += 1
            start = index if depth == 1 else start
        elif char == ")" and depth:
            depth -= 1
            if depth == 0 and re.search(r"\b(19|20)\d\d\b", first[start:index]):
                return first[start + 1:index]
    return None


# --- docutils helpers ---------------------------------------------------------------------------------------

def text_cell(directive, text):
    """A paragraph of inline reStructuredText-free text: ``code`` and *emphasis* only."""
    paragraph = nodes.paragraph()
    for piece in re.split(r"(``[^`]+``|\*[^*]+\*)", text):
        if piece.startswith("``"):
            paragraph += nodes.literal(text=piece[2:-2])
        elif piece.startswith("*") and piece.endswith("*") and len(piece) > 2:
            paragraph += nodes.emphasis(text=piece[1:-1])
        elif piece:
            paragraph += nodes.Text(piece)
    return paragraph


def xref(domain, kind, target, text, literal=False):
    ref = addnodes.pending_xref("", refdomain=domain, reftype=kind, reftarget=target, refexplicit=True,
                                refwarn=True)
    ref += nodes.literal(text=text) if literal else nodes.inline(text=text)
    return ref


def make_table(headers, rows, widths=None, right=()):
    """A docutils table; ``rows`` hold nodes or strings."""
    table = nodes.table(classes=["ka-table"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths or [1] * len(headers):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    header_row = nodes.row()
    for header in headers:
        header_row += nodes.entry("", nodes.paragraph(text=header))
    head += header_row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for index, cell in enumerate(cells):
            if isinstance(cell, str):
                cell = nodes.paragraph(text=cell)
            entry = nodes.entry("", cell)
            if index in right:
                entry["classes"].append("text-right")
            row += entry
        body += row
    return table


# --- directives ---------------------------------------------------------------------------------------------

class MethodsAtAGlance(SphinxDirective):
    """``{methods-at-a-glance}``: every layer of ``keras_attention.layers``, one row per class."""

    def run(self):
        layers = importlib.import_module("keras_attention.layers")
        overhead = load_overhead(self.env)
        classes = {}
        for name in layers.__all__:
            value = getattr(layers, name)
            if inspect.isclass(value):
                classes.setdefault(value, []).append(name)
        rows = []
        order = list(METHODS)  # the methods with a page first, in the order of METHODS; new layers last
        ranked = sorted(classes.items(), key=lambda item: (order.index(item[0].__name__)
                                                           if item[0].__name__ in order else len(order)))
        for cls, names in ranked:
            public = cls.__name__ if cls.__name__ in names else names[0]
            aliases = [n for n in names if n != public]
            method, paper, attends, page, modules, shape = METHODS.get(
                cls.__name__, (public, None, "see the API entry", None, (public,), "vgg16_bottleneck1"))
            paper = paper or paper_from_docstring(inspect.getmodule(cls)) or "see the API entry"
            layer_cell = nodes.paragraph()
            layer_cell += xref("py", "class", f"keras_attention.layers.{public}", public, literal=True)
            if aliases:
                layer_cell += nodes.Text(" (" + ", ".join(aliases) + ")")
            costs = []
            for module in modules:
                found = overhead_rows(overhead, module, shape)
                if found:
                    label = f" {module}" if len(modules) > 1 else ""
                    costs.append(f"{ratio(found[0]['ratio_graph'])}{label}")
            if costs:
                cost = "; ".join(costs) + ("" if shape == "vgg16_bottleneck1" else f" ({SHAPE_NAMES[shape]})")
            else:
                cost = "not measured"
            page_cell = nodes.paragraph()
            if page:
                page_cell += xref("std", "doc", "/" + page, "page")
            else:  # no method page: the module's own description (equations, readings)
                page_cell += xref("std", "doc", "/api/layer_modules", "equations")
            page_cell += nodes.Text(", ")
            page_cell += xref("py", "class", f"keras_attention.layers.{public}", "API")
            rows.append([text_cell(self, method), text_cell(self, paper), text_cell(self, attends),
                         nodes.paragraph(text=cost), layer_cell, page_cell])
        headers = ["method", "paper", "what it attends", "cost (graph step, x base)", "layer", "pages"]
        return [make_table(headers, rows, widths=[10, 22, 30, 14, 14, 10])]


class LayerCost(SphinxDirective):
    """``{layer-cost} MODULE [MODULE ...]``: the measured rows of those modules, every shape."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self):
        overhead = load_overhead(self.env)
        modules = [m.strip() for m in self.arguments[0].split(";") if m.strip()]
        rows = []
        for shape in overhead["meta"]["shapes"]:
            base = overhead_rows(overhead, "base", shape)
            for module in modules:
                for row in overhead_rows(overhead, module, shape):
                    base_ms = f"{base[0]['ms_graph']:.1f}" if base else "-"
                    rows.append([SHAPE_NAMES.get(shape, shape), module, f"{row['params']:,}",
                                 f"{100 * row['flop_share']:.1f}%", ratio(row["ratio_eager"]),
                                 ratio(row["ratio_graph"]), ratio(row["ratio_xla"]), base_ms,
                                 f"{row['peak_bytes_graph'] / 2 ** 20:.1f}"])
        if not rows:
            raise self.error(f"no rows for {modules} in {OVERHEAD}")
        headers = ["shape", "module", "params", "FLOP share", "eager", "graph", "XLA", "base step, graph (ms)",
                   "peak MiB (graph)"]
        return [make_table(headers, rows, right=(2, 3, 4, 5, 6, 7, 8))]


def setup(app):
    app.add_directive("methods-at-a-glance", MethodsAtAGlance)
    app.add_directive("layer-cost", LayerCost)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
