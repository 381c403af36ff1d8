"""The Docker files agree with the package and with how a user runs them (no Docker engine needed).

The Dockerfile is parsed (comments dropped, ``\\`` continuations joined, JSON or shell form) and checked
against ``setup.cfg`` and the code: the base image is the official TensorFlow GPU image of a version the
package accepts, every COPY source exists in the build context (the repository root), the package is
pip-installed from the copied tree with declared extras, the image runs as a non-root user who owns the
``/data`` and ``/runs`` volumes, and the entrypoint is the package's console script. It must also run as
an arbitrary host uid (``--user "$(id -u):$(id -g)"``): HOME and the cache directories are writable by any
uid, and the default output ``runs/<name>`` lands in the ``/runs`` volume. compose.yaml must build that
Dockerfile from the repository root, bind the repository's own ``data/`` and ``runs/`` (paths in it are
relative to the compose file's directory), run as the host user and reserve the NVIDIA GPU.
``.dockerignore`` (matched the way Docker matches it) must keep runs, data, virtual environments and
caches out of the build context but keep every COPY source, and the README's Docker section documents
``--user``.
"""

import configparser
import importlib
import json
import posixpath
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"
README = ROOT / "README.md"


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


def env_of(instructions):
    """The variables the ENV instructions set (``ENV a=1 b=2`` and the legacy ``ENV a 1``), last wins."""
    env = {}
    for arguments in _all(instructions, "ENV"):
        words = shlex.split(arguments)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
        else:
            env.update(word.split("=", 1) for word in words)
    return env


def interpolate(value, env=None):
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``$VAR`` with ``env`` ({} by default)."""
    env = {} if env is None else env

    def substitute(match):
        name, operator, default = match.group("name") or match.group("bare"), match.group("op"), match.group("default")
        if operator == ":-":
            return env.get(name) or default
        if operator == "-":
            return env.get(name, default)
        return env.get(name, "")

    pattern = r"\$\{(?P<name>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|\$(?P<bare>\w+)"
    return re.sub(pattern, substitute, value.replace("$$", "\0")).replace("\0", "$")


def dockerignore_regex(pattern):
    """The regular expression Docker (moby/patternmatcher) builds from one .dockerignore pattern."""
    regex, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern[i:i + 1] == "/":
                i += 1
            regex += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            regex += "[^/]*"
        elif ch == "?":
            regex += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            regex += re.escape(pattern[i])
        elif ch == "[":
            end = pattern.find("]", i + 1)
            regex += pattern[i:end + 1] if end > 0 else re.escape(ch)
            i = end if end > 0 else i
        else:
            regex += re.escape(ch)
        i += 1
    return re.compile(regex + "$")


def parse_dockerignore(text):
    """``[(exclusion, regex)]``: comments and blank lines dropped, patterns cleaned as Docker cleans them."""
    rules = []
    for line in text.splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        exclusion = pattern.startswith("!")
        pattern = pattern[1:].strip() if exclusion else pattern
        pattern = posixpath.normpath(pattern).lstrip("/") or "."
        rules.append((exclusion, dockerignore_regex(pattern)))
    return rules


def ignored(rules, path):
    """Whether Docker leaves ``path`` (relative to the context) out: a pattern matching the path or one of
    its parent directories excludes it, a later ``!`` pattern takes it back; the last match wins."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for exclusion, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            result = not exclusion
    return result


def copy_sources(instructions):
    sources = []
    for arguments in _all(instructions, "COPY") + _all(instructions, "ADD"):
        if any(a.startswith("--from") for a in exec_form(arguments)):
            continue  # from another stage, not from the build context
        sources += [p for p in exec_form(arguments) if not p.startswith("--")][:-1]
    return sources


def world_writable(path, instructions):
    """``path`` can be created or written by any uid: below /tmp, or below a directory a RUN makes
    world-writable (chmod 777 / 1777 / a+w / o+w)."""
    path = PurePosixPath(path)
    if path == PurePosixPath("/tmp") or PurePosixPath("/tmp") in path.parents:
        return True
    runs = " ; ".join(_all(instructions, "RUN"))
    for match in re.finditer(r"\bchmod\s+(?:-R\s+)?(?P<mode>[0-7]{3,4}|[ugoa]*\+[rwxXt]*)(?P<paths>[^;&|]*)", runs):
        mode = match.group("mode")
        if not (re.fullmatch(r"[0-7]?[0-7][0-7][2367]", mode) or re.fullmatch(r"[ao]*\+[rwxXt]*w[rwxXt]*", mode)):
            continue
        for target in match.group("paths").split():
            target = PurePosixPath(target)
            if target.is_absolute() and (path == target or target in path.parents):
                return True
    return False


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
    # what `pip install .` reads: the build files, the package, every `file:` setup.cfg refers to and the
    # license_files
    needed = {"setup.cfg", "pyproject.toml", "keras_attention"}
    for section in setup_cfg().sections():
        for value in setup_cfg()[section].values():
            needed.update(m.strip() for m in re.findall(r"file:\s*([^\s,]+)", value))
    needed.update(cfg_list(setup_cfg()["metadata"].get("license_files", "")))
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"


def test_package_is_pip_installed_with_declared_extras(dockerfile):
    extras_declared = set(setup_cfg()["options.extras_require"])
    installs = [r for r in _all(dockerfile, "RUN") if re.search(r"\bpip3?\b.*\binstall\b", r)]
    assert installs, "no RUN pip install"
    targets = [t for r in installs for t in shlex.split(r) if t.startswith(".[")]
    assert len(targets) == 1, f"expected one `pip install .[extras]`, got {targets}"
    extras = {e.strip() for e in re.fullmatch(r"\.\[([^\]]+)\]", targets[0]).group(1).split(",")}
    assert extras and extras <= extras_declared, f"{extras - extras_declared} are not extras of setup.cfg"
    # the entrypoint (the keras-attention command) needs the experiments extra, the runtime the series loaders
    # (aeon) and OpenCV; `gpu` would pull a second CUDA stack
    assert {"experiments", "timeseries", "vision"} <= extras and "gpu" not in extras
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
    # the CLI's default output is `runs/<name>` relative to the working directory: it has to land in the
    # /runs volume (not /runs/runs/<name>), so that a host's `runs/` holds the same tree as a host run
    from keras_attention.cli.common import RUNS_DIR

    assert RUNS_DIR == Path("runs"), f"the CLI no longer defaults to runs/<name>: {RUNS_DIR}"
    workdirs = _all(dockerfile, "WORKDIR")
    assert workdirs, "no WORKDIR"
    default_out = PurePosixPath(workdirs[-1]) / "runs" / "san-lenet"
    assert default_out.parent == PurePosixPath("/runs"), (
        f"with WORKDIR {workdirs[-1]} the default output runs/san-lenet is {default_out}, outside the /runs volume"
    )


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


def test_image_runs_as_an_arbitrary_host_uid(dockerfile):
    """``docker run --user "$(id -u):$(id -g)"`` (a uid without a passwd entry): Docker would set HOME to
    ``/``, so the image must name a HOME and the caches (matplotlib, Keras, XDG, numba) where any uid can
    write, and the volumes must be writable by any uid when no host directory is bound over them."""
    env = env_of(dockerfile)
    for name in ("HOME", "MPLCONFIGDIR", "KERAS_HOME", "XDG_CACHE_HOME"):
        assert name in env, f"ENV {name} is not set: an arbitrary uid gets an unwritable default"
        assert PurePosixPath(env[name]).is_absolute(), f"{name}={env[name]!r} is not an absolute path"
        assert world_writable(env[name], dockerfile), f"{name}={env[name]} is not writable by an arbitrary uid"
    for path in ("/data", "/runs"):
        assert world_writable(path, dockerfile), f"{path} is writable only by the image's own user"
    # tensorflow-datasets downloads go to the data volume, not to a HOME that `--rm` throws away
    tfds_dir = env.get("TFDS_DATA_DIR", "")
    assert PurePosixPath("/data") in PurePosixPath(tfds_dir or "/").parents, f"TFDS_DATA_DIR={tfds_dir!r}"


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


def _volume_mounts(service, env=None):
    """``{target: source}`` of the service's bind mounts, short or long syntax, after interpolation."""
    mounts = {}
    for volume in service["volumes"]:
        if isinstance(volume, dict):
            mounts[volume["target"]] = interpolate(volume["source"], env)
        else:
            source, target = interpolate(volume, env).split(":")[:2]
            mounts[target] = source
    return mounts


def test_compose_binds_the_repository_data_and_runs(compose):
    """Relative paths in compose.yaml resolve against the compose file's directory (docker/), so
    ``./data`` would be ``docker/data``; the defaults must reach the repository's own folders."""
    (service,) = compose["services"].values()
    mounts = _volume_mounts(service)
    for target, folder in (("/data", "data"), ("/runs", "runs")):
        source = mounts.get(target)
        assert source, f"nothing is mounted at {target}"
        resolved = (COMPOSE.parent / source).resolve()
        assert resolved == ROOT / folder, f"{target} is bound to {resolved}, not to the repository's {folder}/"
    # an absolute host path given in the environment wins over the default
    custom = _volume_mounts(service, {name: "/srv/x" for name in re.findall(r"\$\{?(\w+)", str(service["volumes"]))})
    assert set(custom.values()) == {"/srv/x"}, custom


def test_compose_runs_as_the_host_user(compose):
    (service,) = compose["services"].values()
    user = str(service.get("user", ""))
    assert user, "no `user:` in compose.yaml: files written to runs/ would belong to the image's uid"
    assert "$" in user, f"user {user!r} cannot be set to the host's uid"
    default = interpolate(user)
    assert re.fullmatch(r"\d+:\d+", default), f"user defaults to {default!r}, expected UID:GID"
    assert default.split(":")[0] != "0", "the default user is root"
    assert interpolate(user, {name: "4321" for name in re.findall(r"\$\{?(\w+)", user)}) == "4321:4321"


# ------------------------------------------------------------------------------------------------ .dockerignore


@pytest.fixture(scope="module")
def dockerignore():
    assert DOCKERIGNORE.is_file(), "no .dockerignore at the repository root: runs/, data/, .git/ enter the context"
    return parse_dockerignore(DOCKERIGNORE.read_text())


def test_dockerignore_matcher_follows_docker():
    rules = parse_dockerignore("# c\n/runs/\n**/__pycache__\n*.keras\n!keep.keras\nd?ta\n")
    assert ignored(rules, "runs") and ignored(rules, "runs/a/b.json") and not ignored(rules, "x/runs")
    assert ignored(rules, "__pycache__/a.pyc") and ignored(rules, "pkg/sub/__pycache__/a.pyc")
    assert ignored(rules, "m.keras") and not ignored(rules, "sub/m.keras") and not ignored(rules, "keep.keras")
    assert ignored(rules, "data/x") and not ignored(rules, "dataset")


def test_dockerignore_keeps_runs_data_and_environments_out(dockerignore):
    must_ignore = [
        "runs", "runs/san-lenet/model.keras", "data", "data/fashion-mnist/train-images-idx3-ubyte",
        ".venv", ".venv/bin/python", "venv/lib/site.py", "env/bin/python", ".git", ".git/HEAD",
        "__pycache__/x.pyc", "keras_attention/__pycache__/cli.cpython-312.pyc",
        "keras_attention/layers/__pycache__/san.cpython-312.pyc", "keras_attention.egg-info/PKG-INFO",
        ".pytest_cache/v/cache/lastfailed", "model.keras", "benchmarks/some/model.keras",
    ]
    kept_in = [path for path in must_ignore if not ignored(dockerignore, path)]
    assert not kept_in, f".dockerignore lets these into the build context: {kept_in}"


def test_dockerignore_keeps_every_copy_source(dockerfile, dockerignore):
    sources = copy_sources(dockerfile)
    assert sources
    for source in sources:
        assert not ignored(dockerignore, source), f"COPY source {source!r} is excluded by .dockerignore"
        path = ROOT / source
        if path.is_dir():
            files = [f.relative_to(ROOT).as_posix() for f in path.rglob("*") if f.is_file()]
            needed = [f for f in files if "__pycache__" not in f.split("/") and not f.endswith(".pyc")]
            assert needed, f"{source} holds no files"
            dropped = [f for f in needed if ignored(dockerignore, f)]
            assert not dropped, f".dockerignore drops files that COPY {source} needs: {dropped[:10]}"


# ------------------------------------------------------------------------------------------------ README


def readme_docker_section():
    text = README.read_text()
    match = re.search(r"^## Docker \(GPU\)\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, "README has no '## Docker (GPU)' section"
    return match.group(1)


def _shell_commands(section):
    """The command lines of the section's code blocks, backslash continuations joined."""
    blocks = re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_readme_docker_run_maps_the_host_user_and_the_repository_folders():
    commands = _shell_commands(readme_docker_section())
    runs = [c for c in commands if re.search(r"\bdocker run\b", c)]
    assert runs, "the README's Docker section has no `docker run` line"
    for command in runs:
        words = shlex.split(command)
        assert re.search(r"""(--user|-u)[ =]["']?\$\(id -u\):\$\(id -g\)""", command), (
            f"`{command}` does not pass --user \"$(id -u):$(id -g)\": files in runs/ would belong to uid 1000"
        )
        volumes = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-v", "--volume")]
        assert "$PWD/data:/data" in volumes and "$PWD/runs:/runs" in volumes, volumes
    # host folders that do not exist would be created by the daemon as root, unwritable for --user
    assert any(re.search(r"\bmkdir -p\b.*\bdata\b.*\bruns\b", c) for c in commands), "no `mkdir -p data runs`"


def test_readme_compose_line_sets_the_variables_compose_yaml_reads(compose):
    (service,) = compose["services"].values()
    user_variables = re.findall(r"\$\{?(\w+)", str(service.get("user", "")))
    assert user_variables, "compose.yaml's `user:` reads no variable"
    commands = [c for c in _shell_commands(readme_docker_section()) if re.search(r"\bdocker compose\b", c)]
    assert commands, "the README's Docker section has no `docker compose` line"
    for name in user_variables:
        assert any(re.search(rf"\b{name}=", c) for c in commands), f"the compose line does not set {name}"
