"""The `citechat` command: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict

from .config import settings as make_settings
from .errors import CitechatError, log_line, redact, user_message
from .ingest.readable import is_markdown, readable
from .question_limits import check_limits
from .terminal import shown, shown_json, shown_name

# The commands import what they need when they run: `citechat --help` and `--version` stay instant, and `status`
# never loads Gradio.


UNITS = {"reading": "files", "embedding": "chunks", "questions": "questions", "baseline": "questions",
         "reading scanned pages": "pages"}


def _progress_printer():
    """One progress bar per stage of a sync on stderr: (show progress, close the bars, say a line between the
    bars without breaking them)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def show(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=" " + UNITS.get(stage, stage),
                                     file=sys.stderr, leave=False, mininterval=0.5)
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    def say(message: str) -> None:
        tqdm.write(shown_name(message), file=sys.stderr)

    return show, close, say


def _say_folder(settings) -> None:
    """Name the documents folder when the user did not (see `folder_note`)."""
    from .index.which import folder_note

    note = folder_note(settings)
    if note:
        print(shown_name(f"citechat: searching {note}"), file=sys.stderr)


def cmd_index(args) -> int:
    from .index.sync import sync_index
    from .index.which import folder_note, settings_for_index

    settings = settings_for_index(args.index, args.docs)
    where = settings.index_dir if settings.store == "local" else settings.store
    note = folder_note(settings)
    print(shown_name(f"Indexing {note or settings.docs_dir} into {where}"), file=sys.stderr)
    show, close, say = _progress_printer()
    try:
        report = sync_index(settings, rebuild=args.rebuild, progress=show, notify=say)
    finally:
        close()
    for item in report.skipped:  # on lines of their own, once the bars are gone
        print(shown_name(f"skipped {item.source}: {item.reason}"), file=sys.stderr)
    for label, names in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
        for name in names:
            print(f"{label}: {shown_name(name)}")
    for name in report.excluded:
        print(f"left out: {shown_name(name)} (removed from the index; add it back in the chat window's Documents "
              "tab)")
    print(report.summary())
    warning = report.warning(settings.docs_dir)
    if warning:  # not an error: a folder may start empty and be filled from the chat window
        print(shown_name(f"citechat: warning: {warning}"), file=sys.stderr)
    return 0


# A passage shown as possibly related to a refused question: enough to recognise it, not a page of text.
RELATED_CHARS = 240


def cmd_ask(args) -> int:
    from .answering.types import LOW_CONFIDENCE_NOTE, location, shorten
    from .bot import open_index

    check_limits(args.question, None)  # the same limits as every other surface
    bot = open_index(args.index, args.docs)
    _say_folder(bot.settings)
    if args.passages:
        for n, p in enumerate(bot.retrieve(args.question, k=args.k), start=1):
            print(f"[{n}] {shown_name(f'{p.title} ({p.source}, {location(p)}')}, score {p.score:.4f})\n"
                  f"    {shown(readable(p.text, is_markdown(p.source)))}\n")
        return 0
    a = bot.answer(args.question, k=args.k)
    print(shown(a.text))
    if a.low_confidence:
        print(f"({LOW_CONFIDENCE_NOTE})")
    if a.sources or a.related:
        print("\nSources:" if a.sources else "\nPossibly related:")
    for s in a.sources:
        print(f"[{s.n}] {shown_name(f'{s.title} ({s.source}, {location(s)})')}\n    {shown(readable(s.text, is_markdown(s.source)))}")
    for s in a.related:
        print(f"- {shown_name(f'{s.title} ({s.source}, {location(s)})')}\n"
              f"    {shown(shorten(readable(s.text, is_markdown(s.source)), RELATED_CHARS))}")
    for sentence in a.unsupported:
        print(f"(unsupported by its cited passage: {shown(sentence)})")
    return 0


def cmd_eval(args) -> int:
    from pathlib import Path

    from . import baseline
    from .bot import Bot
    from .eval import cache_dir, evaluate, evaluate_baseline, load_questions, table
    from .index.sync import sync_index

    dataset = Path(args.dataset).resolve()
    questions = load_questions(dataset)
    index = Path(args.index) if args.index else cache_dir(dataset)
    settings = make_settings(docs_dir=args.docs or dataset / "corpus", index_dir=index)
    compare = not args.no_baseline and baseline.available()
    show, close, _ = _progress_printer()
    try:
        sync_index(settings, progress=show)
        report = evaluate(Bot(settings), questions, k=args.k, progress=lambda i, n: show("questions", i, n))
        base = evaluate_baseline(settings.docs_dir, questions, k=args.k, cache=index.with_name(f"{index.name}-baseline.json"),
                                 progress=lambda i, n: show("baseline", i, n)) if compare else None
    finally:
        close()
    if args.json:
        print(shown_json({"citechat": asdict(report), "baseline": asdict(base) if base else None}))
    else:
        print(table(report, base, title=shown_name(dataset.name)))
        if not compare and not args.no_baseline:
            print(f"({baseline.MISSING})")
    return 0


def cmd_status(args) -> int:
    from .bot import open_index
    from .index.stores.base import describe
    from .index.sync import plural
    from .index.which import folder_note
    from .ingest.formats import formats_line

    bot = open_index(args.index, args.docs)
    meta = bot.snapshot.meta
    if args.json:
        print(shown_json({"index": str(bot.settings.index_dir), **describe(meta),
                          "documents": [asdict(d) for d in bot.documents], "excluded": bot.snapshot.excluded}))
        return 0
    print(f"Index:     {shown_name(str(bot.settings.index_dir))} (last sync {meta.get('last_sync') or 'never'})")
    print(f"Documents: {shown_name(folder_note(bot.settings) or str(bot.settings.docs_dir))}")
    print(f"Model:     {shown_name(str(meta.get('model')))}, passages of up to "
          f"{int(meta.get('chunk_chars', 0)):,} characters")
    print(f"Reads:     {formats_line(bot.settings.ocr)}")
    print(f"{plural(bot.n_documents, 'document')} in {plural(bot.n_chunks, 'chunk')}" + (":" if bot.documents else ""))
    for d in bot.documents:
        print(f"  {shown_name(d.source)}  ({plural(d.n_chunks, 'chunk')})  {shown_name(d.title)}")
    if bot.snapshot.excluded:
        print("Removed from the index (the files stay in the folder): "
              + ", ".join(map(shown_name, bot.snapshot.excluded)))
    return 0


def cmd_serve(args) -> int:
    from .index.which import settings_for_index
    from .web.security import CLI_PASSWORD_WARNING, RefuseToServe, read_auth_file
    from .web.server import launch

    base = make_settings()  # the lists given as arguments add to those of the environment
    settings = settings_for_index(args.index, args.docs,
                                  allowed_hosts=base.allowed_hosts + tuple(args.allowed_host or ()),
                                  trusted_proxies=base.trusted_proxies + tuple(args.trusted_proxy or ()))
    if args.auth and args.auth_file:
        raise RefuseToServe("Give the password with either --auth or --auth-file, not both.")
    auth = args.auth
    if args.auth:
        print(CLI_PASSWORD_WARNING, file=sys.stderr)
    elif args.auth_file:
        auth, warning = read_auth_file(args.auth_file)
        if warning:
            print(shown_name(warning), file=sys.stderr)
    launch(settings, host=args.host, port=args.port, auth=auth or os.environ.get("CITECHAT_AUTH"),
           insecure=args.insecure, watch=args.watch, require_llm=args.require_llm)
    return 0


def cmd_mcp(args) -> int:
    from .index.which import settings_for_index
    from .mcp_server.stdio import run_stdio

    # A missing folder is said by every tool until it appears: the assistant that started the server keeps it.
    run_stdio(settings_for_index(args.index, args.docs, check_folder=False), watch=args.watch)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="citechat", description=__doc__)
    parser.add_argument("--version", action="version", version=f"citechat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def store_options(p):
        p.add_argument("--store", help="where the index lives: local (SQLite + FAISS in the index folder, the "
                                       "default), milvus:PATH.db (Milvus Lite) or milvus:http://HOST:19530 (a Milvus "
                                       "server; token in $CITECHAT_MILVUS_TOKEN); default $CITECHAT_STORE")
        p.add_argument("--collection", help="the index's collection on Milvus (default: the index folder's name)")

    def common(p):
        p.add_argument("--docs", help="documents folder (default: $CITECHAT_DOCS, else the index's own folder, "
                                      "else seeds/)")
        p.add_argument("--index", help="index folder (default: $CITECHAT_INDEX, else the documents folder's own "
                                       "index in $CITECHAT_CACHE/indexes/, else index/ for seeds/)")
        store_options(p)

    p = sub.add_parser("index", help="build or update the index from the documents folder")
    common(p)
    p.add_argument("--rebuild", action="store_true", help="discard the index and build it from scratch")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask a question about the indexed documents")
    common(p)
    p.add_argument("question")
    p.add_argument("-k", "--k", type=int, default=5, help="passages to retrieve (default: 5)")
    p.add_argument("--passages", action="store_true", help="print the retrieved passages instead of an answer")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="measure retrieval and answers on a QA data set")
    p.add_argument("dataset", help="folder with questions.jsonl and corpus/")
    p.add_argument("--docs", help="documents to index (default: DATASET/corpus)")
    p.add_argument("--index", help="index folder (default: a cache folder per data set)")
    p.add_argument("-k", "--k", type=int, default=5, help="k for hit@k (default: 5)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-baseline", action="store_true", help="skip the LangChain tutorial baseline")
    store_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("status", help="show the index, its folder and its documents")
    common(p)
    p.add_argument("--json", action="store_true", help="print everything the index records, as JSON")
    p.set_defaults(func=cmd_status)

    about = ("serve the chat window and the OpenAI-compatible API (/v1) on one port; open the printed address "
             "in a browser")
    p = sub.add_parser("serve", help=about, description=about)
    common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    p.add_argument("--no-watch", dest="watch", action="store_false",
                   help="do not sync when files in the documents folder change (default: watch it)")
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
    p.add_argument("--require-llm", action="store_true",
                   help="refuse to start when the LLM server ($CITECHAT_LLM_BASE_URL) does not answer (default: start, "
                        "and quote answers from the documents until it does)")
    p.set_defaults(func=cmd_serve)

    about = ("serve cited search and answers to an AI assistant or editor over MCP (stdin/stdout): the command "
             "to put in Claude Desktop's, VS Code's or Cursor's MCP settings")
    p = sub.add_parser("mcp", help=about, description=about)
    common(p)
    p.add_argument("--no-watch", dest="watch", action="store_false",
                   help="do not sync when files in the documents folder change (default: watch it)")
    p.set_defaults(func=cmd_mcp)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    # Settings read these variables, so every command (and the chat window's syncs) uses the store chosen here.
    for option, variable in (("store", "CITECHAT_STORE"), ("collection", "CITECHAT_COLLECTION")):
        if getattr(args, option, None):
            os.environ[variable] = getattr(args, option)

    try:
        return args.func(args)
    except BrokenPipeError:  # the output went to a program that stopped reading (`citechat status | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that exiting flushes nowhere
        return 0
    except (CitechatError, FileNotFoundError) as exc:
        print(shown_name(f"citechat: {user_message(exc) if isinstance(exc, CitechatError) else exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("citechat: interrupted; the index is left as it was after the last completed step.", file=sys.stderr)
        return 130
    except Exception as exc:
        if redact(str(exc)) == str(exc):
            raise
        # A traceback would print the secret the message quotes: show the message without it instead.
        print(shown_name(f"citechat: {log_line(exc)}"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
