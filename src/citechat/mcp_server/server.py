"""The MCP server: citechat's tools, described for a model that must choose between them, over one service.
`stdio.py` runs it for one assistant (`citechat mcp`); `http_app.py` serves it at /mcp of `citechat serve`."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Callable

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from .. import __version__
from ..errors import CitechatError, log_line, user_message
from ..question_limits import MAX_QUESTION_CHARS
from ..web.service import ChatService
from .tools import MAX_READ_CHARS, CitechatTools

INSTRUCTIONS = (
    "citechat searches and answers from the user's own documents (a folder on their machine), offline. Every "
    "answer quotes the documents verbatim and cites each quote with its document and exact character offsets, "
    "so cite citechat's sources when you use what it returns; it has no knowledge beyond those documents."
)

SEARCH = (
    "Search the user's indexed documents: the passages that best match a query, best first, each with its "
    "document (`source`), title, section, page, exact character offsets (`start`, `end`) into the document's "
    "text, the passage text and a relevance score. Use it to gather evidence and write the answer yourself, "
    "citing source and offsets; for a ready-made answer with citations, use `ask` instead."
)
ASK = (
    "Answer a question from the user's indexed documents with citations: sentences quoted verbatim from the "
    "documents, each followed by an [n] marker that points to the source with n in `sources` (its document, "
    "exact character offsets and the quoted text). Ask one standalone question (resolve 'he' or 'it' from the "
    f"conversation yourself), in at most {MAX_QUESTION_CHARS:,} characters. When the documents do not answer "
    "it, `refused` is true and `related` lists passages that are possibly related: tell the user the documents "
    "do not say, rather than guessing. `low_confidence` true means the quote may not answer exactly. Prefer "
    "`search` to explore a topic, and `ask` for a direct question."
)
LIST_DOCUMENTS = (
    "List the documents in the user's index: their `source` names (what `read_document` takes), titles, sizes "
    "in bytes, numbers of passages, and when each was indexed. Use it to see what the collection covers."
)
READ_DOCUMENT = (
    "Read the text of one indexed document, or the range from `start` to `end` of it, in the same character "
    "offsets as the `start` and `end` of `search` passages and `ask` sources: e.g. read around a citation with "
    "start = its start - 1000 and end = its end + 1000. `name` is the document's `source` as list_documents, "
    f"search and ask give it; nothing else can be read. At most {MAX_READ_CHARS:,} characters come back per "
    "call: when the returned `end` is less than `length`, call again with start = that end for more."
)

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)


def create_server(service: Callable[[], ChatService], lifespan=None) -> MCPServer:
    """The MCP server with citechat's four tools over the service `service()` returns. lifespan: the SDK's
    (an async context manager factory entered when the server starts serving a connection)."""
    tools = CitechatTools(service)
    # MCPServer() calls logging.basicConfig: a handler on the root logger would print other libraries' debug
    # messages (bm25s logs every search) to the server's output. With a handler there already, it does nothing.
    root, placeholder = logging.getLogger(), logging.NullHandler()
    root.addHandler(placeholder)
    try:
        server = MCPServer("citechat", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan)
    finally:
        root.removeHandler(placeholder)
    for tool, description in ((tools.search, SEARCH), (tools.ask, ASK), (tools.list_documents, LIST_DOCUMENTS),
                              (tools.read_document, READ_DOCUMENT)):
        server.add_tool(_tool_errors(tool), name=tool.__name__, description=description, annotations=READ_ONLY)
    return server


def _tool_errors(tool: Callable) -> Callable:
    """The tool with every failure turned into a tool error the model can read: a CitechatError's message (what
    to do), else only the kind of error, the details going to the log (stderr)."""

    @functools.wraps(tool)
    def run(*args, **kwargs):
        try:
            return tool(*args, **kwargs)
        except CitechatError as exc:
            raise ToolError(user_message(exc)) from None
        except Exception as exc:
            print(f"citechat: the MCP tool {tool.__name__} failed: {log_line(exc)}", file=sys.stderr, flush=True)
            raise ToolError(user_message(exc)) from None

    return run
