"""Slurm launch files: rendered from the shipped recipes, syntax-checked, and run against a fake Slurm.

The fake ``scontrol``/``srun`` and stand-ins for ``accelerate``, ``trl``, ``curl`` and ``finr1-train`` record
what the batch script would start on each node (``srun`` runs its command once per task with that task's
``SLURM_PROCID``), so the test checks the commands themselves: the world size, the main process on the first
node, each node's machine rank, and the vLLM node outside the training world.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finr1_core.errors import ConfigError
from finr1_train.cli import main
from finr1_train.config import load_recipe
from finr1_train.slurm import plan, render

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parents[1]
SLURM_DIR = PACKAGE / "slurm"
# Paths as a user types them from the repository root, where the job is submitted.
SFT_7B = "packages/train/recipes/qwen2.5-7b-instruct/sft/fin-r1.yaml"
GRPO_7B = "packages/train/recipes/qwen2.5-7b-instruct/grpo/fin-r1.yaml"
GRPO_COLOCATE = "packages/train/recipes/qwen2.5-7b-instruct/grpo/fin-r1-colocate.yaml"
ZERO3 = "packages/train/recipes/accelerate/zero3.yaml"

#: The shipped examples and the command that renders each (the files say it in their header too).
SHIPPED = {
    "sft-fin-r1-2-nodes.slurm": ("sft", SFT_7B, ZERO3, 2),
    "grpo-fin-r1-2-nodes-plus-vllm.slurm": ("grpo", GRPO_7B, ZERO3, 2),
}

_RECORDER = """#!{python}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"cmd": os.path.basename(sys.argv[0]), "argv": sys.argv[1:],
                          "procid": os.environ.get("SLURM_PROCID"), "node": os.environ.get("SLURMD_NODENAME"),
                          "main_addr": os.environ.get("MAIN_ADDR")}}) + "\\n")
"""

_SCONTROL = """#!{python}
import os, sys
assert sys.argv[1:3] == ["show", "hostnames"], sys.argv
print("\\n".join(os.environ["FAKE_NODES"].split()))
"""

_SRUN = """#!{python}
# Fake srun: record the step, then run its command once per task with the task's SLURM_PROCID.
import json, os, subprocess, sys
args, opts = sys.argv[1:], {{}}
while args and args[0].startswith("-"):
    key, _, value = args.pop(0).partition("=")
    opts[key] = value
nodes = opts.get("--nodelist", "").split(",")
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"cmd": "srun", "opts": opts, "argv": args}}) + "\\n")
assert len(nodes) == int(opts.get("--ntasks", "1")), opts
code = 0
for rank, node in enumerate(nodes):
    env = {{**os.environ, "SLURM_PROCID": str(rank), "SLURM_NODEID": str(rank), "SLURMD_NODENAME": node}}
    code = subprocess.call(args, env=env) or code
sys.exit(code)
"""


@pytest.fixture
def fake_slurm(tmp_path):
    """A bin folder with fake Slurm commands and recorders; returns a function that runs a script with it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    files = {"scontrol": _SCONTROL, "srun": _SRUN}
    files.update({name: _RECORDER for name in ("accelerate", "trl", "curl", "finr1-train")})
    for name, text in files.items():
        path = bin_dir / name
        path.write_text(text.format(python=sys.executable))
        path.chmod(0o755)
    log = tmp_path / "calls.jsonl"

    def run_script(script: Path, nodes: str, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_LOG": str(log),
            "FAKE_NODES": nodes,
            "SLURM_JOB_NODELIST": "gpu[1-3]",
            "SLURM_JOB_ID": "42",
            "HOME": str(tmp_path),
        }
        proc = subprocess.run(
            ["bash", str(script), *extra], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return proc, calls

    return run_script


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.slurm"
    path.write_text(text)
    return path


def _opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_scripts_are_rendered_from_the_recipes_and_parse(name):
    kind, recipe, acc, nodes = SHIPPED[name]
    shipped = (SLURM_DIR / name).read_text()
    assert shipped == render(kind, recipe, acc, nodes, script_name=f"packages/train/slurm/{name}"), (
        f"packages/train/slurm/{name} is stale: re-render it with the command in its header"
    )
    subprocess.run(["bash", "-n", str(SLURM_DIR / name)], check=True)


def test_sft_over_two_nodes(fake_slurm, tmp_path):
    layout, recipe, acc = plan("sft", SFT_7B, ZERO3, 2)
    assert (layout.train_nodes, layout.vllm_nodes, layout.num_processes) == (2, 0, 16)
    assert acc["distributed_type"] == "DEEPSPEED" and acc["deepspeed_config"]["zero_stage"] == 3
    script = _write(tmp_path, render("sft", SFT_7B, ZERO3, 2))
    assert "#SBATCH --nodes=2\n" in script.read_text()
    proc, calls = fake_slurm(script, "gpu1 gpu2", "--max_steps", "10")
    assert proc.returncode == 0, proc.stderr
    dry = [c for c in calls if c["cmd"] == "finr1-train"]
    assert dry and dry[0]["argv"] == [
        "sft",
        "--config",
        SFT_7B,
        "--accelerate-config",
        ZERO3,
        "--dry-run",
        "--max_steps",
        "10",
    ]
    steps = [c for c in calls if c["cmd"] == "srun"]
    assert len(steps) == 1 and steps[0]["opts"]["--nodelist"] == "gpu1,gpu2"
    launches = [c for c in calls if c["cmd"] == "accelerate"]
    assert [c["node"] for c in launches] == ["gpu1", "gpu2"]
    for rank, call in enumerate(launches):
        argv = call["argv"]
        assert argv[0] == "launch" and _opt(argv, "--config_file") == ZERO3
        assert int(_opt(argv, "--num_machines")) * layout.gpus_per_node == int(_opt(argv, "--num_processes")) == 16
        assert _opt(argv, "--machine_rank") == str(rank)  # evaluated on each node, not once in the batch shell
        assert _opt(argv, "--main_process_ip") == "gpu1"  # the first node
        assert _opt(argv, "--gradient_accumulation_steps") == str(recipe.args.gradient_accumulation_steps) == "4"
        assert argv[argv.index("-m") :] == ["-m", "finr1_train", "sft", "--config", SFT_7B, "--max_steps", "10"]


def test_grpo_with_a_vllm_server_node(fake_slurm, tmp_path):
    layout, recipe, _ = plan("grpo", GRPO_7B, ZERO3, 2)
    assert (recipe.args.use_vllm, recipe.args.vllm_mode) == (True, "server")
    raw = yaml.safe_load(Path(GRPO_7B).read_text())
    assert raw["use_vllm"] is True and raw["vllm_mode"] == "server"
    assert (layout.total_nodes, layout.num_processes) == (3, 16)
    script = _write(tmp_path, render("grpo", GRPO_7B, ZERO3, 2))
    assert "#SBATCH --nodes=3\n" in script.read_text()
    proc, calls = fake_slurm(script, "gpu1 gpu2 gpu3")
    assert proc.returncode == 0, proc.stderr
    steps = [c for c in calls if c["cmd"] == "srun"]
    assert [s["opts"]["--nodelist"] for s in steps] == ["gpu3", "gpu1,gpu2"]  # vLLM first, then the trainers
    serve = steps[0]["argv"]
    assert serve[:2] == ["trl", "vllm-serve"] and _opt(serve, "--model") == "artifacts/sft"
    assert _opt(serve, "--max_model_len") == "6144"  # max_prompt_tokens 2048 + max_completion_length 4096
    assert [c["argv"] for c in calls if c["cmd"] == "curl"][0][-1] == "http://gpu3:8000/health"
    launches = [c for c in calls if c["cmd"] == "accelerate"]
    assert [c["node"] for c in launches] == ["gpu1", "gpu2"]  # the vLLM node is not in the training world
    for rank, call in enumerate(launches):
        argv = call["argv"]
        assert (_opt(argv, "--num_machines"), _opt(argv, "--num_processes")) == ("2", "16")
        assert _opt(argv, "--machine_rank") == str(rank) and _opt(argv, "--main_process_ip") == "gpu1"
        tail = argv[argv.index("-m") :]
        assert tail[:5] == ["-m", "finr1_train", "grpo", "--config", GRPO_7B]
        assert _opt(tail, "--vllm_server_host") == "gpu3" and _opt(tail, "--vllm_server_port") == "8000"


def test_a_job_with_the_wrong_node_count_stops(fake_slurm, tmp_path):
    proc, calls = fake_slurm(_write(tmp_path, render("grpo", GRPO_7B, ZERO3, 2)), "gpu1 gpu2")
    assert proc.returncode == 1 and "rendered for 3" in proc.stderr
    assert not [c for c in calls if c["cmd"] in ("srun", "accelerate")]


def test_colocate_grpo_trains_on_every_node(tmp_path):
    layout, _, _ = plan("grpo", GRPO_COLOCATE, ZERO3, 3)
    assert (layout.vllm_mode, layout.vllm_nodes, layout.total_nodes, layout.num_processes) == ("colocate", 0, 3, 24)
    assert "vllm-serve" not in render("grpo", GRPO_COLOCATE, ZERO3, 3)


def test_hub_model_refs_become_model_and_revision(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(Path(GRPO_7B).read_text().replace("model: artifacts/sft", "model: hf://org/fin-r1-sft@run-1"))
    text = render("grpo", str(recipe), ZERO3, 1)
    assert "trl vllm-serve --model org/fin-r1-sft --revision run-1 " in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("grpo", "base_url", ZERO3, 2), "remove vllm_server_base_url"),
        (("sft", SFT_7B, "single", 2), "cannot span nodes"),
        (("sft", SFT_7B, ZERO3, 0), "at least one training node"),
    ],
)
def test_launches_that_cannot_work_are_one_line(tmp_path, args, message):
    kind, recipe, acc, nodes = args
    if recipe == "base_url":
        path = tmp_path / "r.yaml"
        path.write_text(Path(GRPO_7B).read_text() + "vllm_server_base_url: http://x:8000\n")
        recipe = str(path)
    if acc == "single":
        path = tmp_path / "single.yaml"
        path.write_text("distributed_type: 'NO'\nnum_processes: 1\n")
        acc = str(path)
    with pytest.raises(ConfigError, match=message) as info:
        render(kind, recipe, acc, nodes)
    assert "\n" not in str(info.value)


def test_cli_writes_an_executable_script(tmp_path, capsys):
    out = tmp_path / "sft.slurm"
    argv = ["slurm", "sft", "--config", SFT_7B, "--accelerate-config", ZERO3, "--nodes", "4", "--out", str(out)]
    assert main([*argv, "--partition", "gpu", "--time", "2-00:00:00", "--venv", "/opt/finr1"]) == 0
    text = out.read_text()
    assert os.access(out, os.X_OK) and "#SBATCH --nodes=4\n" in text and "#SBATCH --partition=gpu\n" in text
    assert "source /opt/finr1/bin/activate" in text and "GRAD_ACC_STEPS=4" in text
    assert shutil.which("bash") and subprocess.run(["bash", "-n", str(out)]).returncode == 0


def test_recipes_still_load_with_trl_parser(tmp_path):
    """TOOLING.md §2 traps: the TRL part of every shipped recipe loads with TRL's own TrlParser."""
    from trl import GRPOConfig, SFTConfig, TrlParser

    from finr1_train.config import SETTINGS

    for path in sorted((PACKAGE / "recipes").glob("*/*/*.yaml")):
        kind = path.parent.name
        if kind not in SETTINGS:
            continue
        data = yaml.safe_load(path.read_text())
        trl_only = {k: v for k, v in data.items() if k not in SETTINGS[kind].model_fields and k != "env"}
        file = tmp_path / f"{kind}-{path.stem}.yaml"
        file.write_text(yaml.safe_dump(trl_only))
        (args,) = TrlParser((SFTConfig if kind == "sft" else GRPOConfig,)).parse_args_and_config(
            args=["--config", str(file), "--use_cpu", "true", "--bf16", "false", "--output_dir", str(tmp_path)]
        )
        ours = load_recipe(
            kind, path, trl_tokens=[] if "cpu" in path.name else ["--use_cpu", "true", "--bf16", "false"]
        )
        for key in trl_only:
            if key not in ("use_cpu", "bf16", "output_dir"):
                assert getattr(args, key) == getattr(ours.args, key), (path, key)
