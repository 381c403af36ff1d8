"""``docker/Dockerfile`` and ``docker/compose.yaml`` agree with the package (no Docker engine needed).

The Dockerfile is parsed (comments dropped, ``\\`` continuations joined, JSON or shell form) and checked
against ``setup.cfg`` and the code: the base image is the official TensorFlow GPU image of a version the
package accepts, every COPY source exists in the build context (the repository root), the package is
pip-installed from the copied tree with declared extras, the image runs as a non-root user who owns the
``/data`` and ``/runs`` volumes, and the entrypoint is the package's console script. compose.yaml must
build that Dockerfile from the repository root, mount both volumes and reserve the NVIDIA GPU.
"""

import configparser
import importlib
import json
import re
import shlex
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"


# ------------------------------------------------------------------------------------------------ parsing


def parse_dockerfile(text):
    """``[(INSTRUCTION, arguments)]``: comment lines dropped, backslash continuations joined."""
    instructions, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):  # comment lines inside a continuation are ignored
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        logical = (pending + stripped).strip()
        pending = ""
        if logical:
            keyword, _, arguments = logical.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def exec_form(arguments):
    """A JSON-array argument list (exec form) as a Python list, or the shell form split like a shell."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


def setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def cfg_list(value):
    return [line.strip() for line in value.strip().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def dockerfile():
    return parse_dockerfile(DOCKERFILE.read_text())


def _all(instructions, keyword):
    return [args for kw, args in instructions if kw == keyword]


# ------------------------------------------------------------------------------------------------ parser


def test_parser_joins_continuations_and_drops_comments():
    text = "# c\nFROM a:1\nRUN x \\\n  # inner\n  && y\n\nENTRYPOINT [\"k\"]\n"
    assert parse_dockerfile(text) == [("FROM", "a:1"), ("RUN", "x && y"), ("ENTRYPOINT", '["k"]')]
    assert exec_form('["a", "b c"]') == ["a", "b c"] and exec_form("a 'b c'") == ["a", "b c"]


# ------------------------------------------------------------------------------------------------ Dockerfile


def test_base_image_is_official_tensorflow_gpu_of_an_accepted_version(dockerfile):
    froms = _all(dockerfile, "FROM")
    assert len(froms) == 1, froms
    match = re.fullmatch(r"tensorflow/tensorflow:(\d+\.\d+\.\d+)-gpu", froms[0])
    assert match, f"expected FROM tensorflow/tensorflow:<x.y.z>-gpu, got {froms[0]!r}"
    version = Version(match.group(1))
    requires = [Requirement(r) for r in cfg_list(setup_cfg()["options"]["install_requires"])]
    tensorflow = [r for r in requires if r.name == "tensorflow"]
    assert tensorflow, "setup.cfg install_requires has no tensorflow"
    assert tensorflow[0].specifier.contains(version), f"{version} is outside tensorflow{tensorflow[0].specifier}"
    gpu_extra = [Requirement(r) for r in cfg_list(setup_cfg()["options.extras_require"]["gpu"])]
    assert all(r.specifier.contains(version) for r in gpu_extra if r.name == "tensorflow")


def test_every_copy_source_exists_in_the_build_context(dockerfile):
    copies = _all(dockerfile, "COPY") + _all(dockerfile, "ADD")
    assert copies
    copied = set()
    for arguments in copies:
        parts = [p for p in exec_form(arguments) if not p.startswith("--")]
        assert len(parts) >= 2, arguments
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY source {source!r} does not exist in {ROOT}"
            copied.add(Path(source).as_posix().rstrip("/"))
    # what `pip install .` reads: the build files, the package and every `file:` setup.cfg refers to
    needed = {"setup.cfg", "pyproject.toml", "keras_attention"}
    for section in setup_cfg().sections():
        for value in setup_cfg()[section].values():
            needed.update(m.strip() for m in re.findall(r"file:\s*([^\s,]+)", value))
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"


def test_package_is_pip_installed_with_declared_extras(dockerfile):
    extras_declared = set(setup_cfg()["options.extras_require"])
    installs = [r for r in _all(dockerfile, "RUN") if re.search(r"\bpip3?\b.*\binstall\b", r)]
    assert installs, "no RUN pip install"
    targets = [t for r in installs for t in shlex.split(r) if t.startswith(".[")]
    assert len(targets) == 1, f"expected one `pip install .[extras]`, got {targets}"
    extras = {e.strip() for e in re.fullmatch(r"\.\[([^\]]+)\]", targets[0]).group(1).split(",")}
    assert extras and extras <= extras_declared, f"{extras - extras_declared} are not extras of setup.cfg"
    # the runtime needs the series loaders (aeon) and OpenCV; `gpu` would pull a second CUDA stack
    assert {"timeseries", "vision"} <= extras and "gpu" not in extras
    # it installs the tree copied into WORKDIR, i.e. after the COPYs
    install_at = next(i for i, (kw, args) in enumerate(dockerfile) if kw == "RUN" and args in installs)
    copies_at = [i for i, (kw, _) in enumerate(dockerfile) if kw in ("COPY", "ADD")]
    assert max(copies_at) < install_at, "pip install runs before every source is copied"


def test_runs_as_a_non_root_user_who_owns_the_volumes(dockerfile):
    users = _all(dockerfile, "USER")
    assert users, "no USER instruction: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"final USER is {users[-1]!r}"
    runs = " ; ".join(_all(dockerfile, "RUN"))
    assert re.search(rf"\buseradd\b[^;&]*\b{re.escape(user)}\b", runs), f"user {user!r} is never created"
    for path in ("/data", "/runs"):
        assert re.search(rf"\bchown\b[^;&]*{re.escape(user)}[^;&]*{re.escape(path)}\b", runs), (
            f"{path} is not chown-ed to {user}: the non-root user could not write to it"
        )


def test_volumes_for_data_and_runs_match_the_data_environment_variable(dockerfile):
    from keras_attention.data import ENV_VAR

    volumes = [v for args in _all(dockerfile, "VOLUME") for v in exec_form(args)]
    assert {"/data", "/runs"} <= set(volumes), volumes
    env = " ".join(_all(dockerfile, "ENV"))
    assert re.search(rf"\b{ENV_VAR}=/data\b", env), f"ENV {ENV_VAR}=/data missing: {env}"
    workdirs = _all(dockerfile, "WORKDIR")
    assert workdirs[-1] == "/runs", "runs are written below the working directory, which should be /runs"


def test_entrypoint_is_the_console_script_of_setup_cfg(dockerfile):
    lines = cfg_list(setup_cfg()["options.entry_points"]["console_scripts"])
    scripts = {name.strip(): target.strip() for name, target in (line.split("=", 1) for line in lines)}
    entrypoints = _all(dockerfile, "ENTRYPOINT")
    assert len(entrypoints) == 1 and entrypoints[0].startswith("["), "use the exec form of ENTRYPOINT"
    command = json.loads(entrypoints[0])
    assert len(command) == 1 and command[0] in scripts, f"{command} is not one of {sorted(scripts)}"
    module, _, function = scripts[command[0]].partition(":")
    main = getattr(importlib.import_module(module), function)
    assert callable(main)
    # the default CMD is a command that CLI accepts
    from keras_attention.cli import build_parser

    cmd = [json.loads(c) for c in _all(dockerfile, "CMD")]
    assert cmd, "no default CMD"
    try:
        parsed = build_parser().parse_args(cmd[-1])
    except SystemExit:
        pytest.fail(f"CMD {cmd[-1]} is not a valid keras-attention command line")
    assert parsed.command == cmd[-1][0]


# ------------------------------------------------------------------------------------------------ compose


@pytest.fixture(scope="module")
def compose():
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker/compose.yaml")
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_builds_the_dockerfile_from_the_repository_root(compose):
    services = compose["services"]
    assert len(services) == 1
    (service,) = services.values()
    build = service["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE.resolve()


def test_compose_mounts_both_volumes_and_requests_the_gpu(compose):
    (service,) = compose["services"].values()
    targets = set()
    for volume in service["volumes"]:
        if isinstance(volume, dict):
            targets.add(volume["target"])
        else:  # short syntax SOURCE:TARGET[:MODE]; SOURCE may hold ${VAR:-default}
            targets.update(part for part in volume.split(":") if part.startswith("/"))
    assert {"/data", "/runs"} <= targets, targets
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    gpus = [d for d in devices if d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", [])]
    assert gpus, f"no NVIDIA GPU reservation in {devices}"
    assert gpus[0].get("count", "all") == "all" or int(gpus[0]["count"]) >= 1
