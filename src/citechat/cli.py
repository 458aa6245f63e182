"""The `citechat` command: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import os
import sys

from .config import redact, settings as make_settings, settings_for_index


def _progress_printer():
    """Show one progress bar per stage of a sync on stderr."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def show(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=" files" if stage == "reading" else " chunks",
                                     file=sys.stderr, leave=False, mininterval=0.5)
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return show, close


def cmd_index(args) -> int:
    from .sync import sync_index

    settings = settings_for_index(args.index, args.docs)
    where = settings.index_dir if settings.store == "local" else settings.store
    print(f"Indexing {settings.docs_dir} into {where}", file=sys.stderr)
    show, close = _progress_printer()
    try:
        report = sync_index(settings, rebuild=args.rebuild, progress=show,
                            notify=lambda message: print(message, file=sys.stderr))
    finally:
        close()
    for label, names in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        for name in names:
            print(f"{label}: {name}")
    print(report.summary())
    return 0


def cmd_ask(args) -> int:
    from .answers import location
    from .bot import open_index

    bot = open_index(args.index, args.docs)
    if args.passages:
        for n, p in enumerate(bot.retrieve(args.question, k=args.k), start=1):
            print(f"[{n}] {p.title} ({p.source}, {location(p)}, score {p.score:.3f})\n    {p.text}\n")
        return 0
    a = bot.answer(args.question, k=args.k)
    print(a.text)
    if a.sources or a.related:
        print("\nSources:" if a.sources else "\nPossibly related:")
    for s in a.sources or a.related:
        print(f"[{s.n}] {s.title} ({s.source}, {location(s)})\n    {s.text}")
    for sentence in a.unsupported:
        print(f"(unsupported by its cited passage: {sentence})")
    return 0


def cmd_eval(args) -> int:
    import json
    from dataclasses import asdict
    from pathlib import Path

    from . import baseline
    from .bot import Bot
    from .eval import cache_dir, evaluate, evaluate_baseline, load_questions, table
    from .sync import sync_index

    dataset = Path(args.dataset).resolve()
    questions = load_questions(dataset)
    index = Path(args.index) if args.index else cache_dir(dataset)
    settings = make_settings(docs_dir=args.docs or dataset / "corpus", index_dir=index)
    compare = not args.no_baseline and baseline.available()
    show, close = _progress_printer()
    try:
        sync_index(settings, progress=show)
        report = evaluate(Bot(settings), questions, k=args.k, progress=lambda i, n: show("questions", i, n))
        base = evaluate_baseline(settings.docs_dir, questions, k=args.k, cache=index.with_name(f"{index.name}-baseline.json"),
                                 progress=lambda i, n: show("baseline", i, n)) if compare else None
    finally:
        close()
    if args.json:
        print(json.dumps({"citechat": asdict(report), "baseline": asdict(base) if base else None}, indent=2))
    else:
        print(table(report, base, title=dataset.name))
        if not compare and not args.no_baseline:
            print(f"({baseline.MISSING})")
    return 0


def cmd_status(args) -> int:
    from .bot import open_index
    from .stores.base import describe

    bot = open_index(args.index, args.docs)
    print(describe(bot.snapshot.meta))
    print(f"{bot.n_documents} documents, {bot.n_chunks} chunks")
    for d in bot.documents:
        print(f"  {d.source}  ({d.n_chunks} chunks)  {d.title}")
    return 0


def cmd_serve(args) -> int:
    from .web.security import CLI_PASSWORD_WARNING, RefuseToServe, read_auth_file
    from .web.server import launch

    base = make_settings()  # the lists given as arguments add to those of the environment
    settings = settings_for_index(args.index, args.docs,
                                  allowed_hosts=base.allowed_hosts + tuple(args.allowed_host or ()),
                                  trusted_proxies=base.trusted_proxies + tuple(args.trusted_proxy or ()))
    if args.auth and args.auth_file:
        raise RefuseToServe("citechat: give the password with either --auth or --auth-file, not both.")
    auth = args.auth
    if args.auth:
        print(CLI_PASSWORD_WARNING, file=sys.stderr)
    elif args.auth_file:
        auth, warning = read_auth_file(args.auth_file)
        if warning:
            print(warning, file=sys.stderr)
    launch(settings, host=args.host, port=args.port, auth=auth or os.environ.get("CITECHAT_AUTH"),
           insecure=args.insecure)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citechat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def store_options(p):
        p.add_argument("--store", help="where the index lives: local (SQLite + FAISS in the index folder, the "
                                       "default), milvus:PATH.db (Milvus Lite) or milvus:http://HOST:19530 (a Milvus "
                                       "server; token in $CITECHAT_MILVUS_TOKEN); default $CITECHAT_STORE")
        p.add_argument("--collection", help="the index's collection on Milvus (default: the index folder's name)")

    def common(p):
        p.add_argument("--docs", help="documents folder (default: seeds/ or $CITECHAT_DOCS)")
        p.add_argument("--index", help="index folder (default: index/ or $CITECHAT_INDEX)")
        store_options(p)

    p = sub.add_parser("index", help="build or update the index from the documents folder")
    common(p)
    p.add_argument("--rebuild", action="store_true", help="discard the index and build it from scratch")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask a question about the indexed documents")
    common(p)
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="passages to retrieve")
    p.add_argument("--passages", action="store_true", help="print the retrieved passages instead of an answer")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="measure retrieval and answers on a QA data set")
    p.add_argument("dataset", help="folder with questions.jsonl and corpus/")
    p.add_argument("--docs", help="documents to index (default: DATASET/corpus)")
    p.add_argument("--index", help="index folder (default: a cache folder per data set)")
    p.add_argument("--k", type=int, default=5, help="k for hit@k")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-baseline", action="store_true", help="skip the LangChain tutorial baseline")
    store_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("status", help="show the index settings and its documents")
    common(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("serve", help="serve the chat window and the OpenAI-compatible API (/v1) on one port")
    common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth-file", metavar="PATH", help="a file whose first line is the user:password required to "
                                                        "use the app (or set $CITECHAT_AUTH); the API then requires "
                                                        "the password as its key, unless $CITECHAT_API_KEY sets one")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="as --auth-file, but visible to every user of this "
                                                           "machine in the process list: prefer --auth-file")
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="a host name browsers use to reach the server, besides loopback names (repeatable; or "
                        "$CITECHAT_ALLOWED_HOSTS): the name of a reverse proxy, or of this machine on your network")
    p.add_argument("--trusted-proxy", action="append", metavar="ADDRESS",
                   help="the address of a reverse proxy whose X-Forwarded-For header names the client "
                        "(repeatable; or $CITECHAT_TRUSTED_PROXIES)")
    p.add_argument("--insecure", action="store_true", help="allow binding beyond loopback without a password")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    # Settings read these variables, so every command (and the chat window's syncs) uses the store chosen here.
    for option, variable in (("store", "CITECHAT_STORE"), ("collection", "CITECHAT_COLLECTION")):
        if getattr(args, option, None):
            os.environ[variable] = getattr(args, option)
    from .stores.base import IndexProblem
    from .embeddings import ModelNotFound, UnknownPrecision

    try:
        return args.func(args)
    except (IndexProblem, ModelNotFound, UnknownPrecision, FileNotFoundError) as exc:
        print(f"citechat: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("citechat: interrupted; the index is left as it was after the last completed step.", file=sys.stderr)
        return 130
    except Exception as exc:
        if redact(str(exc)) == str(exc):
            raise
        # A traceback would print the secret the message quotes: show the message without it instead.
        print(f"citechat: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
