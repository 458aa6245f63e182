"""The latency of `ask` through the MCP server, over stdio (`citechat mcp`) and over streamable HTTP (/mcp of
`citechat serve`), each in its own process and driven by the official MCP client; beside `Bot.answer` in this
process (no protocol) and the OpenAI-compatible API of the same server (another protocol, same service).

    .venv/bin/python bench/mcp_latency.py [--docs seeds] [--rounds 3] [--json bench/results/mcp_latency.json]

Every question of bench/seed_qa is asked `rounds` times in the same order on each surface: the first round
embeds each question (new to that process), later rounds find its vector cached. Figures: client-side wall time
per call, sequential calls, after one warm-up call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
CITECHAT = str(Path(sys.executable).with_name("citechat"))


def questions() -> list[str]:
    lines = (BENCH / "seed_qa" / "questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(ask, asked: list[str], rounds: int) -> list[list[float]]:
    """Seconds per call, one list per round."""
    ask("warm-up: what is this about?")
    times = []
    for _ in range(rounds):
        row = []
        for q in asked:
            started = time.perf_counter()
            ask(q)
            row.append(time.perf_counter() - started)
        times.append(row)
    return times


async def over_mcp(transport, asked: list[str], rounds: int) -> tuple[list[list[float]], list[float]]:
    """(seconds per call, one list per round; [seconds to the handshake, to the first answer] from the start)."""
    from mcp import ClientSession

    opened = time.perf_counter()
    async with transport as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        start = [time.perf_counter() - opened]
        times = []
        for r in range(rounds + 1):
            row = []
            for q in asked if r else ["warm-up: what is this about?"]:
                started = time.perf_counter()
                result = await session.call_tool("ask", {"question": q})
                row.append(time.perf_counter() - started)
                assert not result.is_error, result.content
            times.append(row)
            if not r:
                start.append(time.perf_counter() - opened)
        return times[1:], start


def stdio_transport(docs: Path, index: Path):
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=CITECHAT, args=["mcp", "--docs", str(docs), "--index", str(index),
                                                           "--no-watch"], env=dict(os.environ))
    return stdio_client(params, errlog=open(index.parent / "mcp.log", "w"))


def http_transport(url: str):
    from mcp.client.streamable_http import streamable_http_client

    return streamable_http_client(url)


def summary(times: list[list[float]]) -> dict[str, float]:
    first, again = times[0], [t for row in times[1:] for t in row]

    def p(values: list[float], q: int) -> float:
        return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000, 1)

    out = {"first_p50_ms": p(first, 50), "first_p95_ms": p(first, 95)}
    if again:
        out |= {"again_p50_ms": p(again, 50), "again_p95_ms": p(again, 95)}
    return out


def serve(docs: Path, index: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = open(index.parent / "serve.log", "w")
    process = subprocess.Popen([CITECHAT, "serve", "--docs", str(docs), "--index", str(index), "--port", str(port),
                                "--no-watch"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"citechat serve did not start: see {index.parent / 'serve.log'}")
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default=str(PROJECT / "seeds"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="mcp-latency-"))
    docs, index = work / "docs", work / "index"
    shutil.copytree(args.docs, docs)
    subprocess.run([CITECHAT, "index", "--docs", str(docs), "--index", str(index)], check=True,
                   stdout=subprocess.DEVNULL)
    asked = questions()
    load = [os.getloadavg()[0]]
    results = {}

    import citechat

    bot = citechat.open_index(index)
    results["Bot.answer (in process)"] = timed(bot.answer, asked, args.rounds)
    bot.close()
    results["MCP over stdio (citechat mcp)"], cold = asyncio.run(over_mcp(stdio_transport(docs, index), asked,
                                                                        args.rounds))
    process, url = serve(docs, index)
    try:
        results["MCP over HTTP (/mcp)"], _ = asyncio.run(over_mcp(http_transport(url + "mcp"), asked, args.rounds))
        with httpx.Client(timeout=60) as client:
            def chat(q: str) -> None:
                client.post(url + "v1/chat/completions",
                            json={"messages": [{"role": "user", "content": q}]}).raise_for_status()

            results["OpenAI API (/v1/chat/completions)"] = timed(chat, asked, args.rounds)
    finally:
        process.terminate()
        process.wait(30)
    load.append(os.getloadavg()[0])
    figures = {name: summary(times) for name, times in results.items()}
    print(f"{len(asked)} questions x {args.rounds} rounds; load average {load[0]:.1f} at the start, "
          f"{load[1]:.1f} at the end")
    print(f"citechat mcp from its start: handshake after {cold[0]:.1f} s, first answer after {cold[1]:.1f} s")
    print("| surface | first ask p50 / p95 | asked again p50 / p95 |\n| --- | --- | --- |")
    for name, f in figures.items():
        print(f"| {name} | {f['first_p50_ms']} / {f['first_p95_ms']} ms | "
              f"{f.get('again_p50_ms', '-')} / {f.get('again_p95_ms', '-')} ms |")
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": len(asked), "rounds": args.rounds, "load": load,
                                               "stdio_handshake_s": round(cold[0], 2),
                                               "stdio_first_answer_s": round(cold[1], 2), "figures": figures},
                                              indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
