"""The `citechat` command: a thin shell over the Python API."""

from __future__ import annotations

import argparse
import os
import sys

from .config import settings as make_settings


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

    settings = make_settings(docs_dir=args.docs, index_dir=args.index)
    print(f"Indexing {settings.docs_dir} into {settings.index_dir}", file=sys.stderr)
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
    from .bot import open_index

    bot = open_index(args.index, args.docs)
    for n, p in enumerate(bot.retrieve(args.question, k=args.k), start=1):
        where = f"page {p.page}" if p.page else f"chars {p.start}-{p.end}"
        print(f"[{n}] {p.title} ({p.source}, {where}, score {p.score:.3f})\n    {p.text}\n")
    return 0


def cmd_status(args) -> int:
    from .bot import open_index
    from .store import describe

    bot = open_index(args.index, args.docs)
    print(describe(bot.snapshot.meta))
    print(f"{bot.n_documents} documents, {bot.n_chunks} chunks")
    for d in bot.documents:
        print(f"  {d.source}  ({d.n_chunks} chunks)  {d.title}")
    return 0


def cmd_serve(args) -> int:
    from .ui import launch

    settings = make_settings(docs_dir=args.docs, index_dir=args.index)
    auth = args.auth or os.environ.get("CITECHAT_AUTH")
    launch(settings, host=args.host, port=args.port, auth=auth, insecure=args.insecure)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citechat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--docs", help="documents folder (default: seeds/ or $CITECHAT_DOCS)")
        p.add_argument("--index", help="index folder (default: index/ or $CITECHAT_INDEX)")

    p = sub.add_parser("index", help="build or update the index from the documents folder")
    common(p)
    p.add_argument("--rebuild", action="store_true", help="discard the index and build it from scratch")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask a question about the indexed documents")
    common(p)
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="passages to retrieve")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("status", help="show the index settings and its documents")
    common(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("serve", help="open the chat window in the browser")
    common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", help="user:password required to use the app (or $CITECHAT_AUTH)")
    p.add_argument("--insecure", action="store_true", help="allow binding beyond loopback without --auth")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    from .store import IndexProblem
    from .embeddings import ModelNotFound

    try:
        return args.func(args)
    except (IndexProblem, ModelNotFound, FileNotFoundError) as exc:
        print(f"citechat: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("citechat: interrupted; the index is left as it was after the last completed step.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
