"""citechat's hybrid retrieval as a LangChain retriever, so the index plugs into other LangChain chains."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class CitechatRetriever(BaseRetriever):
    """Returns the k best passages as Documents; metadata carries source, title, page, start, end, score.
    `k` is set when it is made (`bot.as_retriever(k=3)`) or per call (`retriever.invoke(query, k=1)`)."""

    bot: Any
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None) -> list[Document]:
        return [
            Document(
                page_content=p.text,
                metadata={"source": p.source, "title": p.title, "page": p.page, "start": p.start, "end": p.end,
                          "score": p.score},
            )
            for p in self.bot.retrieve(query, k=self.k if k is None else k)
        ]
