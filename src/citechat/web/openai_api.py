"""The OpenAI-compatible chat API, served under /v1 beside the chat window, over the same `ChatService`.

    GET  /v1/models              one model, "citechat"
    POST /v1/chat/completions    streaming (server-sent events) or not

The last user message is the question and the earlier user/assistant turns are the history; system messages
are ignored (citechat's own prompt and answerer decide what is said). The reply's content is the cited answer
with [n] markers, and the response carries the sources beside the usual fields, as a top-level `sources` list
(in a stream, on the final chunk), with the rest of the answer (refused, related, unsupported, ...) under
`citechat`:

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:7860/v1", api_key="unused-on-loopback")
    reply = client.chat.completions.create(model="citechat", messages=[{"role": "user", "content": "What did Altman say?"}])
    reply.choices[0].message.content, reply.model_extra["sources"]

A stream sends the answer once its citations are checked: the default answerer writes the whole answer in
tens of milliseconds, and an LLM's draft is renumbered and checked before it is final.
Errors come in OpenAI's format, `{"error": {"message", "type", "param", "code"}}`: 401 for a missing or
wrong key, 400 for a request citechat cannot read or one over the service's limits (question, conversation),
413 for a body over the server's limit, never a traceback.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..answering.types import Answer
from ..errors import redact
from .security import WRONG_KEY, bearer_matches
from ..question_limits import RequestTooLarge
from .service import MAX_REQUEST_BYTES, ChatService

MODEL = "citechat"
IGNORED_ROLES = {"system", "developer", "tool", "function"}
CREATED = int(time.time())  # of the model, for /v1/models


class APIError(Exception):
    """An error returned to the client in OpenAI's format."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass
class ChatRequest:
    question: str
    history: list[tuple[str, str]]
    stream: bool


# ---------------------------------------------------------------- reading a request


async def read_body(request: Request) -> bytes:
    """The request body, refused once it passes MAX_REQUEST_BYTES (without reading the rest). The server's
    body limit (guards.PathBodyLimit) leaves /v1 to this check, which answers in OpenAI's format."""
    declared = request.headers.get("content-length", "")
    too_large = APIError(413, f"The request body is larger than {MAX_REQUEST_BYTES / 2**20:g} MB; send a shorter "
                              "conversation.", code="request_too_large")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise too_large
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > MAX_REQUEST_BYTES:
            raise too_large
    return bytes(body)


def message_text(message: Any, i: int) -> str:
    """The text of messages[i]: a string, or text parts (joined by newlines)."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise APIError(400, f"messages[{i}] must be an object with a \"role\" and a \"content\".", param="messages")
    content = message.get("content")
    if content is None or isinstance(content, str):
        text = content or ""
    elif isinstance(content, list):
        parts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            if kind != "text" or not isinstance(part.get("text"), str):
                raise APIError(400, f"messages[{i}] has a content part of type {kind!r}: citechat reads text "
                                    "only (parts of type \"text\").", param="messages")
            parts.append(part["text"])
        text = "\n".join(parts)
    else:
        raise APIError(400, f"messages[{i}].content must be a string or a list of text parts.", param="messages")
    return text


def conversation(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """(question, history): the last message, which must be the user's, and the earlier (user, assistant)
    pairs, oldest first. System, developer and tool messages are skipped."""
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "\"messages\" must be a non-empty list of {\"role\", \"content\"} objects, the last "
                            "one the user's question.", param="messages")
    texts = [message_text(m, i) for i, m in enumerate(messages)]
    roles = [m["role"] for m in messages]
    for i, role in enumerate(roles):
        if role not in IGNORED_ROLES | {"user", "assistant"}:
            raise APIError(400, f"messages[{i}] has an unknown role {role!r}.", param="messages")
    if roles[-1] != "user":
        raise APIError(400, f"The last message must be the user's question (role \"user\"), not {roles[-1]!r}.",
                       param="messages")
    history, asked = [], None
    for role, text in zip(roles[:-1], texts[:-1]):
        if role == "user":
            asked = text
        elif role == "assistant" and asked is not None:
            history.append((asked, text))
            asked = None
    return texts[-1], history


def parse_request(body: bytes) -> ChatRequest:
    try:
        data = json.loads(body)
    except RecursionError:
        raise APIError(400, "The request body nests arrays or objects too deeply to be a chat request.") from None
    except ValueError as exc:  # not JSON, not UTF-8, or a number too long to convert
        raise APIError(400, f"The request body is not valid JSON ({str(exc)[:200]}).") from None
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object.")
    model = data.get("model", MODEL)
    if model != MODEL:
        raise APIError(404, f"The model {model!r} does not exist; this server has one model, {MODEL!r}.",
                       code="model_not_found", param="model")
    stream = False if data.get("stream") is None else data["stream"]
    if not isinstance(stream, bool):
        raise APIError(400, "\"stream\" must be true or false.", param="stream")
    if data.get("n", 1) not in (1, None):
        raise APIError(400, "citechat gives one answer per request: leave \"n\" out or set it to 1.", param="n")
    question, history = conversation(data.get("messages"))
    return ChatRequest(question, history, stream)


# ---------------------------------------------------------------- writing a response


def answer_extras(answer: Answer) -> dict[str, Any]:
    """What a response carries beside OpenAI's fields: `sources`, and the rest of the answer under `citechat`."""
    data = answer.to_dict()
    sources = data.pop("sources")
    for name in ("question", "text"):
        data.pop(name)
    return {"sources": sources, "citechat": data}


def completion(answer: Answer, reply_id: str, created: int) -> dict[str, Any]:
    return {
        "id": reply_id, "object": "chat.completion", "created": created, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
        **answer_extras(answer),
    }


def completion_events(answer: Answer, reply_id: str, created: int) -> Iterator[str]:
    """The answer as server-sent events of `chat.completion.chunk`s: the role, the text one cited sentence at
    a time, then an empty delta with the finish reason and the sources; then `[DONE]`."""

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
        body = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in re.split(r"(?<=\] )", answer.text):  # the pieces add up to the text exactly
        if piece:
            yield chunk({"content": piece})
    yield chunk({}, "stop", **answer_extras(answer))
    yield "data: [DONE]\n\n"


# ---------------------------------------------------------------- the app


def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return APIError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}").response()


def create_api(service: ChatService, api_key: str | None) -> FastAPI:
    """The API as an app of its own, to mount at /v1; with `api_key`, every route requires it as a bearer token."""

    def require_key(request: Request) -> None:
        if api_key is not None and not bearer_matches(request.headers.get("authorization"), api_key):
            raise APIError(401, WRONG_KEY, code="invalid_api_key")

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, dependencies=[Depends(require_key)])
    api.add_exception_handler(APIError, lambda request, exc: exc.response())
    api.add_exception_handler(HTTPException, _http_error)  # unknown paths and methods, in the same format

    @api.get("/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": MODEL}]}

    @api.post("/chat/completions")
    async def chat_completions(request: Request):
        chat = parse_request(await read_body(request))
        try:
            answer = await run_in_threadpool(service.answer, chat.question, chat.history)
        except RequestTooLarge as exc:
            raise APIError(400, str(exc), code="request_too_large", param="messages") from None
        except Exception as exc:  # the client sees the reason, never a secret it may quote; no traceback
            message = redact(f"{type(exc).__name__}: {exc}")
            print(f"citechat: /v1/chat/completions failed: {message}", flush=True)
            raise APIError(502, f"citechat could not answer: {message}", kind="server_error") from None
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not chat.stream:
            return JSONResponse(completion(answer, reply_id, created))
        return StreamingResponse(completion_events(answer, reply_id, created), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return api
