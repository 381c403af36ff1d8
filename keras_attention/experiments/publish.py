"""Copy an experiment's summary into ``benchmarks/results``: ``<stem>.json`` (the summary plus the machine,
wall time and command) and ``<stem>.md`` (the experiment's ``results.md`` plus a line naming them), and any
figures, under names that say which experiment they belong to."""

import shutil
from pathlib import Path

from keras_attention.experiments.artifacts import RESULTS_MD
from keras_attention.experiments.machine import machine_description
from keras_attention.utils.files import write_json, write_text


def publish_results(summary, work_dir, results_dir, stem, *, command, wall_seconds, figures=None):
    """Write ``results_dir/<stem>.json`` and ``.md`` from ``summary`` and ``work_dir/results.md``.

    ``figures`` maps a file under ``work_dir`` to its name under ``results_dir`` (missing files are
    skipped). ``wall_seconds`` is the time of this invocation (a resumed run counts only what it redid).
    Returns the path of the markdown file."""
    work_dir, results_dir = Path(work_dir), Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    record = {**summary, "machine": machine_description(), "wall_seconds": wall_seconds, "command": command}
    write_json(results_dir / f"{stem}.json", record)
    md = (work_dir / RESULTS_MD).read_text()
    md += (f"\nMachine: {record['machine']}; wall time of this invocation {wall_seconds / 60:.1f} min "
           f"(per-run training seconds are in the table / JSON); command: `{command}`.\n")
    md_path = results_dir / f"{stem}.md"
    write_text(md_path, md)
    for source, name in (figures or {}).items():
        if (work_dir / source).exists():
            shutil.copyfile(work_dir / source, results_dir / name)
    return md_path
