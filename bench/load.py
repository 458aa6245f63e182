"""Load test: `citechat serve` on loopback, driven by concurrent clients while the app syncs new documents
(started from its own "Sync with folder" button, in a real browser), once through each surface: the chat
window's `/ask` endpoint (gradio_client) and the OpenAI-compatible API (the `openai` package; half of its
clients stream).

    .venv/bin/python bench/load.py                          # 20 clients x 50 questions per surface (the full run)
    .venv/bin/python bench/load.py --clients 4 --questions 10

Every client asks the seed questions (bench/seed_qa) in turn; every answer must be exactly the one the index
gives before the sync or the one it gives after it (text and cited offsets), never a mix. Reports errors,
latency (p50/p95/max, measured by the clients) and answers per second for each surface, and the server's
resident memory: after a warm-up (questions and one sync, so that the model's working memory is allocated) and
at the end, sampled throughout.
tests/test_load.py runs the same code in a reduced form in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_server import Server, is_loopback, listening_addresses, rss_mb, subprocess_env, sync_in_browser  # noqa: E402,F401 - is_loopback: tests/test_load.py

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SEED_QA = ROOT / "bench" / "seed_qa"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

# New documents for the sync: facts about places the seed article never mentions, so that the seed answers
# must not change when they arrive.
PLACES = ["Arden", "Bexley", "Corrin", "Dunmore", "Elsworth", "Farrow", "Glenmoor", "Holt", "Ivybridge", "Jarrow"]


def new_document(i: int) -> tuple[str, str, str, str]:
    """(file name, text, question, phrase of the answer) of generated document i."""
    place = PLACES[i % len(PLACES)] + str(i)
    keeper = f"Ottoline{i}"
    text = "\n\n".join(
        [f"The {place} lighthouse"]
        + [f"The lamp of the {place} lighthouse was lit by keeper {keeper} in {1850 + i}. "
           f"It stands {20 + i} metres above the rocks of the {place} headland and flashes every {3 + i % 7} "
           f"seconds. Fishing boats from the {place} harbour steer by it on winter nights."]
        + [f"Record {j}: the {place} tide rose {j + 1} feet on the {j + 3}th of the month, and the {place} "
           f"ferry waited for {j + 10} minutes at the pier before it sailed." for j in range(12)]
    )
    return f"lighthouse-{i:03d}.txt", text + "\n", f"Who lit the lamp of the {place} lighthouse?", keeper


@dataclass
class SurfaceResult:
    """One measured phase: `clients` clients asking through one surface while the app syncs new documents."""

    surface: str
    asked: int = 0
    errors: list[str] = field(default_factory=list)
    # Answers that were neither the old generation's answer nor the new one's (a mix, or wrong): must be none.
    changed: list[str] = field(default_factory=list)
    # Seed questions answered differently by the index before and after the sync: the new documents shift
    # the corpus statistics (BM25 idf, document count) that rank sentences; reported, not an error.
    differs_after_sync: list[str] = field(default_factory=list)
    p50_s: float = 0.0
    p95_s: float = 0.0
    max_s: float = 0.0
    answers_per_s: float = 0.0
    answered_during_sync: int = 0
    sync_seconds: float = 0.0
    sync_message: str = ""
    new_documents_answered: int = 0
    rss_before_mb: float = 0.0  # the server's memory before and after this phase
    rss_after_mb: float = 0.0

    def summary(self, clients: int, questions: int, new_documents: int) -> str:
        return (
            f"{self.surface}: {clients} clients x {questions} questions = {self.asked} answers, "
            f"{len(self.errors)} errors, {len(self.changed)} answers matching neither generation "
            f"({len(self.differs_after_sync)} seed answers differ between the generations before and after the "
            f"sync); latency p50 {self.p50_s * 1000:.0f} ms, p95 {self.p95_s * 1000:.0f} ms, max "
            f"{self.max_s * 1000:.0f} ms, {self.answers_per_s:.1f} answers/s; sync of {new_documents} new documents "
            f"took {self.sync_seconds:.1f}s with {self.answered_during_sync} answers given meanwhile, "
            f"{self.new_documents_answered}/{new_documents} new documents answerable after it"
        )


@dataclass
class LoadResult:
    clients: int
    questions_per_client: int
    new_documents: int = 0
    surfaces: list[SurfaceResult] = field(default_factory=list)
    warmup_errors: list[str] = field(default_factory=list)
    listening_on: list[str] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_min_mb: float = 0.0
    rss_max_mb: float = 0.0
    rss_trace_mb: list[float] = field(default_factory=list)  # sampled after every answer (at most 50 shown)
    seconds: float = 0.0

    @property
    def errors(self) -> list[str]:
        return self.warmup_errors + [e for s in self.surfaces for e in s.errors]

    @property
    def changed(self) -> list[str]:
        return [q for s in self.surfaces for q in s.changed]

    def summary(self) -> str:
        lines = [s.summary(self.clients, self.questions_per_client, self.new_documents) for s in self.surfaces]
        lines.append(
            f"server memory {self.rss_start_mb:.0f} MB after warm-up, {self.rss_end_mb:.0f} MB at the end "
            f"(range {self.rss_min_mb:.0f}-{self.rss_max_mb:.0f} MB); listening on {', '.join(self.listening_on)}; "
            f"{len(self.warmup_errors)} errors in the warm-up"
        )
        return "\n".join(lines)


def fingerprint(text: str, info: dict) -> tuple:
    return text, info["refused"], [(s["source"], s["start"], s["end"]) for s in info["sources"]]


# How each surface is asked: connect(url) gives ask(question) -> (answer text, {"refused", "sources"}).


def gradio_asker(url: str, number: int = 0):
    """The chat window's /ask endpoint through gradio_client."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    return lambda question: client.predict(question, api_name="/ask")


def openai_asker(url: str, number: int = 0):
    """The OpenAI-compatible API through the official client; odd-numbered clients stream."""
    from openai import OpenAI

    client = OpenAI(base_url=url + "v1", api_key="unused-on-loopback", max_retries=0, timeout=300)
    messages = lambda question: [{"role": "user", "content": question}]  # noqa: E731

    def ask(question: str) -> tuple[str, dict]:
        if number % 2 == 0:
            reply = client.chat.completions.create(model="citechat", messages=messages(question))
            text, extra = reply.choices[0].message.content, reply.model_extra
        else:
            chunks = list(client.chat.completions.create(model="citechat", messages=messages(question), stream=True))
            text, extra = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].model_extra
        return text, {"refused": extra["citechat"]["refused"], "sources": extra["sources"]}

    return ask


SURFACES = {"/ask (gradio_client)": gradio_asker, "/v1/chat/completions (openai)": openai_asker}


@dataclass
class Phase:
    """What happened while `clients` clients asked questions and the app synced new documents."""

    answers: list[tuple[str, tuple]] = field(default_factory=list)  # (question, fingerprint of the answer)
    latencies: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)  # when each answer arrived
    errors: list[str] = field(default_factory=list)
    sync_started: float = 0.0
    sync_ended: float = 0.0
    ended: float = 0.0
    sync_message: str = ""


def run_phase(url: str, browser, connect, clients: int, questions_per_client: int, asked: list[str], folder: Path,
              documents: list[tuple[str, str, str, str]], sample) -> Phase:
    """Start the clients (each asking through `connect(url, number)`), sync `documents` (written into
    `folder`) through the app meanwhile, wait for all."""
    phase = Phase()
    lock = threading.Lock()
    go = threading.Event()
    folder.mkdir(parents=True, exist_ok=True)
    for name, text, _, _ in documents:
        (folder / name).write_text(text, encoding="utf-8")

    def client_loop(number: int) -> None:
        try:
            ask = connect(url, number)
        except Exception as exc:  # noqa: BLE001 - every failure is counted
            with lock:
                phase.errors.append(f"client {number}: {exc!r}")
            return
        go.wait()
        for k in range(questions_per_client):
            question = asked[(number + k) % len(asked)]
            t0 = time.perf_counter()
            try:
                text, info = ask(question)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    phase.errors.append(f"client {number} question {k}: {exc!r}")
                continue
            t1 = time.perf_counter()
            with lock:
                phase.latencies.append(t1 - t0)
                phase.finished.append(t1)
                phase.answers.append((question, fingerprint(text, info)))
            sample()

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    go.set()
    phase.sync_started = time.perf_counter()
    try:
        phase.sync_message = sync_in_browser(browser, url, f"{folder.name}/{documents[-1][0]}")
    except Exception as exc:  # noqa: BLE001
        phase.errors.append(f"sync: {exc!r}")
    phase.sync_ended = time.perf_counter()
    for t in threads:
        t.join()
    phase.ended = time.perf_counter()
    return phase


def measure_surface(surface: str, url: str, browser, clients: int, questions_per_client: int, asked: list[str],
                    folder: Path, documents: list[tuple[str, str, str, str]], sample) -> SurfaceResult:
    """One measured phase through one surface; every answer under load must be exactly the one the index
    gives before the sync or after it, and the new documents must be answerable after it."""
    from citechat.eval import percentile

    connect = SURFACES[surface]
    ask = connect(url)
    before = {q: fingerprint(*ask(q)) for q in asked}
    phase = run_phase(url, browser, connect, clients, questions_per_client, asked, folder, documents, sample)
    result = SurfaceResult(surface, asked=len(phase.latencies), errors=phase.errors, sync_message=phase.sync_message)
    result.sync_seconds = phase.sync_ended - phase.sync_started
    result.answered_during_sync = sum(1 for t in phase.finished if phase.sync_started <= t <= phase.sync_ended)
    result.p50_s, result.p95_s = percentile(phase.latencies, 0.5), percentile(phase.latencies, 0.95)
    result.max_s = max(phase.latencies, default=0.0)
    result.answers_per_s = result.asked / max(phase.ended - phase.sync_started, 1e-9)
    after = {q: fingerprint(*ask(q)) for q in asked}
    result.changed = [q for q, seen in phase.answers if seen not in (before[q], after[q])]
    result.differs_after_sync = [q for q in asked if before[q] != after[q]]
    for _, _, question, phrase in documents:
        text, info = ask(question)
        result.new_documents_answered += phrase in text and any(
            s["source"].startswith(folder.name + "/") for s in info["sources"])
    return result


def run_load(clients: int, questions_per_client: int, workdir: Path, new_docs: int = 20,
             warmup_questions: int | None = None, surfaces: list[str] | None = None,
             say=lambda message: print(message, file=sys.stderr, flush=True)) -> LoadResult:
    """Serve a copy of seeds/; a warm-up phase (the same clients asking /ask `warmup_questions` each, default
    questions_per_client // 2, while the app syncs `new_docs` documents) lets the server reach its working
    size; then one measured phase per surface: `questions_per_client` each while it syncs `new_docs` more."""
    import citechat
    from citechat.eval import load_questions
    from playwright.sync_api import sync_playwright

    result = LoadResult(clients, questions_per_client, new_documents=new_docs)
    started = time.perf_counter()
    docs, index = workdir / "docs", workdir / "index"
    shutil.copytree(SEEDS, docs)
    citechat.build_index(docs, index)
    asked = [q.question for q in load_questions(SEED_QA) if q.answerable]
    warmup_questions = max(1, questions_per_client // 2) if warmup_questions is None else warmup_questions

    server = Server(docs, index, workdir / "server.log", subprocess_env())
    samples: list[float] = []
    sampling = threading.Lock()

    def sample() -> None:
        with sampling:
            samples.append(rss_mb(server.proc.pid))

    try:
        server.wait_ready()
        result.listening_on = sorted(listening_addresses(server.port))
        say(f"serving on {server.url} (listening on {', '.join(result.listening_on)})")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                # The warm-up sync embeds as many documents as a measured one: the model's working memory
                # grows with the size of its batches, and must be in place before the measurement starts.
                say(f"warm-up: {clients} clients x {warmup_questions} questions while syncing {new_docs} documents")
                warm = run_phase(server.url, browser, gradio_asker, clients, warmup_questions, asked,
                                 docs / "warmup", [new_document(500 + i) for i in range(new_docs)], lambda: None)
                result.warmup_errors = warm.errors
                result.rss_start_mb = rss_mb(server.proc.pid)
                samples.append(result.rss_start_mb)
                for number, surface in enumerate(surfaces or list(SURFACES)):
                    before_mb = rss_mb(server.proc.pid)
                    say(f"measured, {surface}: {clients} clients x {questions_per_client} questions while syncing "
                        f"{new_docs} documents (server at {before_mb:.0f} MB)")
                    new = [new_document(1000 * number + i) for i in range(new_docs)]
                    measured = measure_surface(surface, server.url, browser, clients, questions_per_client, asked,
                                               docs / f"new{number}", new, sample)
                    measured.rss_before_mb, measured.rss_after_mb = before_mb, rss_mb(server.proc.pid)
                    result.surfaces.append(measured)
            finally:
                browser.close()
        result.rss_end_mb = rss_mb(server.proc.pid)
        samples.append(result.rss_end_mb)
        result.rss_min_mb, result.rss_max_mb = min(samples), max(samples)
        step = max(1, len(samples) // 50)
        result.rss_trace_mb = [round(x) for x in samples[::step]] + [round(samples[-1])]
    finally:
        server.stop()
    result.seconds = time.perf_counter() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--questions", type=int, default=50, help="questions per client")
    parser.add_argument("--new-docs", type=int, default=20, help="documents added by the sync during the load")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False")):
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="citechat-load-") as tmp:
        result = run_load(args.clients, args.questions, Path(tmp), args.new_docs)
    data = {**asdict(result), "errors": result.errors, "changed": result.changed}
    print(json.dumps(data, indent=2) if args.json else result.summary())
    for error in result.errors[:10]:
        print("error:", error)
    return 0 if not result.errors and not result.changed else 1


if __name__ == "__main__":
    sys.exit(main())
