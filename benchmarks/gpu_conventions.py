"""The layer conventions run on a GPU as a table: ``benchmarks/gpu_check.sh`` runs
``tests/layers/test_conventions.py`` there (config round trip, ``.keras`` save / load, ``jit_compile=True``,
mixed precision, Sequential, one row per layer set-up) and this script turns pytest's JUnit XML into
``<stem>.md`` and ``<stem>.json``, with the device named.

    python benchmarks/gpu_conventions.py conventions.xml benchmarks/results/gpu_conventions
"""

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from support import machine_description


def rows(junit_xml):
    """``[{"case", "outcome", "seconds", "message"}]`` of every test case in a pytest JUnit XML file."""
    found = []
    for case in ElementTree.parse(junit_xml).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (element.get("message") or "").splitlines()[0][:160] if element.get("message") else ""
        found.append({"case": case.get("name"), "outcome": outcome, "seconds": float(case.get("time", 0)),
                      "message": message})
    return found


def main(argv=None):
    junit_xml, stem = (sys.argv[1:] if argv is None else argv)
    table = rows(junit_xml)
    machine = machine_description()
    stem = Path(stem)
    stem.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": table}, indent=1))
    counts = {o: sum(r["outcome"] == o for r in table) for o in ("passed", "failed", "error", "skipped")}
    lines = ["# Layer conventions on the GPU (tests/layers/test_conventions.py)", "",
             f"Machine: {machine}. " + ", ".join(f"{n} {o}" for o, n in counts.items()) + ".", "",
             "| case | outcome | seconds | message |", "|---|---|---:|---|"]
    lines += [f"| {r['case']} | {r['outcome']} | {r['seconds']:.1f} | {r['message']} |" for r in table]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0 if not counts["failed"] and not counts["error"] else 1


if __name__ == "__main__":
    sys.exit(main())
