"""README's set-up: exactly two commands a newcomer copies (install + the main job, install + the tests), and
`.ci/run` runs that same test command and nothing more."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.DOTALL)


def test_readme_has_two_setup_commands_install_then_run():
    commands = _setup_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert main_job.startswith("python3 -m pip install -e ") and "&& keras-attention reproduce" in main_job
    assert tests.startswith("python3 -m pip install -e ") and "&& python3 -m pytest" in tests
    assert "\n" not in main_job and "\n" not in tests


def test_ci_runs_the_readme_test_command_and_nothing_more():
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    commands = [line for line in lines if not line.startswith(("set ", "cd ", "export "))]
    assert commands == [_setup_commands()[1]]
