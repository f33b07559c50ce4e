"""Benchmark of finr1_core.runner against the fake OpenAI server (run from the repo root).

Throughput: N chat requests at fixed server latency and concurrency; the ideal is
concurrency / latency requests per second. Compared in the same invocation with a plain
``AsyncOpenAI`` + semaphore + JSONL loop (and the runner's httpx fallback). Each variant runs in
a fresh child process; the fake server runs in its own process, so the client's CPU is its own.

Memory: the runner over --memory-items requests from a generator, resident set size sampled at
the start, middle and end.

    .venv/bin/python bench/runner_bench.py                      # everything, about 2 minutes
    .venv/bin/python bench/runner_bench.py --skip-memory --items 2560
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "packages" / "core" / "src"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"What is {i} plus {i}? Please use \\boxed{{}} to wrap the final answer."}]


# -- variants (run in a child process) -------------------------------------------------------------


def variant_runner(url: str, n: int, concurrency: int, out: Path, http_client: str = "lean") -> dict:
    from finr1_core.runner import ChatRequest, EndpointConfig, run_chat

    endpoint = EndpointConfig(base_url=url, model="fake-model", http_client=http_client)
    requests = (ChatRequest(f"item-{i}", 0, _messages(i), {"temperature": 0.6}) for i in range(n))
    t0, c0 = time.perf_counter(), _cpu_s()
    summary = run_chat(requests, endpoint, out, concurrency=concurrency, progress=False, check=False)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    assert summary.succeeded == n, summary
    return {"wall_s": wall, "cpu_s": cpu}


def variant_sdk(url: str, n: int, concurrency: int, out: Path) -> dict:
    """The plain loop the issue compares against: AsyncOpenAI, a semaphore, one JSONL line per result."""
    from openai import AsyncOpenAI

    async def main() -> None:
        client = AsyncOpenAI(base_url=url, api_key="unused")
        semaphore = asyncio.Semaphore(concurrency)

        async def one(i: int) -> dict:
            async with semaphore:
                messages: list = _messages(i)
                r = await client.chat.completions.create(model="fake-model", messages=messages, temperature=0.6)
                message = r.choices[0].message
                return {
                    "item_id": f"item-{i}",
                    "content": message.content,
                    "reasoning": getattr(message, "reasoning_content", None),
                    "usage": r.usage.model_dump() if r.usage else None,
                }

        with out.open("a") as f:
            for task in asyncio.as_completed([one(i) for i in range(n)]):
                f.write(json.dumps(await task) + "\n")
                f.flush()
        await client.close()

    t0, c0 = time.perf_counter(), _cpu_s()
    asyncio.run(main())
    return {"wall_s": time.perf_counter() - t0, "cpu_s": _cpu_s() - c0}


def variant_memory(url: str, n: int, concurrency: int, out: Path) -> dict:
    from finr1_core.runner import ChatRequest, EndpointConfig, run_chat

    endpoint = EndpointConfig(base_url=url, model="fake-model")
    samples: dict[str, float] = {"start": _rss_mib()}
    done = 0
    peak = samples["start"]

    def on_result(_result: object) -> None:
        nonlocal done, peak
        done += 1
        if done % 1000 == 0:
            peak = max(peak, _rss_mib())
        if done == n // 10:
            samples["10%"] = _rss_mib()
        elif done == n // 2:
            samples["middle"] = _rss_mib()

    requests = (ChatRequest(f"item-{i}", 0, _messages(i)) for i in range(n))
    t0 = time.perf_counter()
    summary = run_chat(
        requests, endpoint, out, concurrency=concurrency, progress=False, check=False, on_result=on_result
    )
    samples["end"] = _rss_mib()
    assert summary.succeeded == n, summary
    return {"rss_mib": samples, "peak_mib": max(peak, samples["end"]), "wall_s": time.perf_counter() - t0}


VARIANTS = {"runner": variant_runner, "runner-httpx": variant_runner, "sdk": variant_sdk, "memory": variant_memory}


def child(argv: list[str]) -> None:
    name, url, n, concurrency, out = argv[0], argv[1], int(argv[2]), int(argv[3]), Path(argv[4])
    kwargs = {"http_client": "httpx"} if name == "runner-httpx" else {}
    result = VARIANTS[name](url, n, concurrency, out, **kwargs)
    print("RESULT " + json.dumps(result))


# -- driver ------------------------------------------------------------------------------------------


class FakeServerProcess:
    def __init__(self, latency: float) -> None:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        cmd = [sys.executable, "-m", "finr1_core.testing.fake_openai", "--latency", str(latency)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.url = line.split()[1]

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_child(name: str, url: str, n: int, concurrency: int, tmp: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = tmp / f"{name}-{n}.jsonl"
    cmd = [sys.executable, __file__, "--child", name, url, str(n), str(concurrency), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=5120, help="requests per throughput variant")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=1.0, help="fake server latency (s)")
    parser.add_argument("--variants", default="runner,sdk,runner-httpx")
    parser.add_argument("--memory-items", type=int, default=50_000)
    parser.add_argument("--memory-latency", type=float, default=0.05)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    ideal = args.concurrency / args.latency
    print(
        f"# cpus={os.cpu_count()} python={sys.version.split()[0]} items={args.items} "
        f"concurrency={args.concurrency} latency={args.latency}s ideal={ideal:.0f} req/s"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = FakeServerProcess(args.latency)
        try:
            print(f"{'variant':<14} {'req/s':>8} {'% ideal':>8} {'client CPU ms/req':>18} {'server CPU ms/req':>18}")
            for name in args.variants.split(","):
                s0 = server.cpu_s()
                r = run_child(name, server.url, args.items, args.concurrency, tmp)
                rate = args.items / r["wall_s"]
                server_ms = (server.cpu_s() - s0) * 1000 / args.items
                print(
                    f"{name:<14} {rate:8.1f} {rate / ideal * 100:7.1f}% {r['cpu_s'] * 1000 / args.items:18.3f} "
                    f"{server_ms:18.3f}",
                    flush=True,
                )
        finally:
            server.close()
        if not args.skip_memory:
            server = FakeServerProcess(args.memory_latency)
            try:
                r = run_child("memory", server.url, args.memory_items, args.concurrency, tmp)
            finally:
                server.close()
            rss = r["rss_mib"]
            print(
                f"memory: {args.memory_items} items, latency {args.memory_latency}s, concurrency {args.concurrency}, "
                f"{r['wall_s']:.0f}s: RSS MiB "
                + ", ".join(f"{k}={v:.1f}" for k, v in rss.items())
                + f", peak={r['peak_mib']:.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
