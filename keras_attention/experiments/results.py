"""What every experiment writes at the end: ``results.json`` (the summary) and ``results.md`` (its tables).

The tables are ``pandas.DataFrame.to_markdown`` (tabulate's ``pipe`` format) of cells the experiments
format themselves (numbers are not re-parsed, so ``100.00`` stays ``100.00``). Statistics over seeds are
the mean and the sample standard deviation (0 for a single seed), written ``mean ± std``.
"""

import statistics
from pathlib import Path

from keras_attention.utils.files import write_json, write_text

QUICK_NOTE = " (quick mode: small subset, not comparable to the paper)"


def slug(label):
    """A directory name for a configuration label: lower case, every other character than a letter or a digit
    replaced by ``_``, no leading or trailing ``_``."""
    return "".join(ch if ch.isalnum() else "_" for ch in label.lower()).strip("_")


def mean_std(values):
    """``(mean, sample std)`` of ``values`` (std 0 for one value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def format_mean_std(pair, digits=2):
    """``"mean ± std"`` of a ``(mean, std)`` pair."""
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def seed_statistics(runs, metrics=("top1",)):
    """Per-configuration cell of the summary from the ``result.json`` dicts of its seeds: every metric in %
    per seed and its ``<metric>_mean_std``, the mean training seconds and the parameters of the first seed."""
    cell = {}
    for metric in metrics:
        cell[metric] = [100 * run["test"][metric] for run in runs]
    for metric in metrics:
        cell[f"{metric}_mean_std"] = mean_std(cell[metric])
    cell["train_seconds_mean"] = statistics.fmean(run["train_seconds"] for run in runs)
    cell["params"] = runs[0]["params"]
    return cell


def summary_head(experiment, options, seeds, epochs, **data):
    """The first entries of every experiment's ``results.json``: the experiment, its paper table, ``data``
    (the data set or sets), the number of seeds, the epochs and whether it was a quick run."""
    return {"experiment": experiment.name, "paper_table": experiment.paper_table, **data, "seeds": len(seeds),
            "epochs": epochs, "quick": options.quick}


def subset_note(summary):
    """The markdown phrase that says a run used image subsets (empty when it used every image)."""
    parts = []
    if summary.get("train_limit"):
        parts.append(f"the first {summary['train_limit']} training images")
    if summary.get("test_limit"):
        parts.append(f"the first {summary['test_limit']} test images")
    return f" (subset: {' and '.join(parts)})" if parts else ""


def paper_value(value, digits=2):
    """A paper number as a cell: ``-`` when the paper has none (None or NaN)."""
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def markdown_table(header, rows, align=None):
    """A markdown table of ``rows`` (lists of cells, already formatted) under ``header``.

    ``align`` is one letter per column, ``l`` or ``r`` (default: the first column left, the others right)."""
    import pandas as pd

    align = align or "l" + "r" * (len(header) - 1)
    frame = pd.DataFrame([[str(cell) for cell in row] for row in rows], columns=list(header))
    sides = {"l": "left", "r": "right"}
    return frame.to_markdown(index=False, tablefmt="pipe", disable_numparse=True,
                             colalign=[sides[a] for a in align])


def write_results(summary, out_dir, text):
    """Write ``summary`` to ``out_dir/results.json`` and ``text`` to ``out_dir/results.md``; print the text."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", summary)
    text = text if text.endswith("\n") else text + "\n"
    write_text(out_dir / "results.md", text)
    print(text, flush=True)
    return out_dir / "results.md"
