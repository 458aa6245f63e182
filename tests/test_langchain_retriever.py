"""`bot.as_retriever()` against LangChain's standard retriever tests (langchain-tests), on the five-format test
collection (enough passages for every k the suite asks for)."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests


class TestCitechatRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _bot(self, built_bot):
        self.bot = built_bot

    @property
    def retriever_constructor(self):
        return self.bot.as_retriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"k": 2}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


QUESTION = "When did the Grey Point light switch to electric power?"


def test_k_given_per_call_wins_over_k_given_when_made(built_bot):
    retriever = built_bot.as_retriever(k=4)
    assert len(retriever.invoke(QUESTION)) == 4
    one = retriever.invoke(QUESTION, k=1)
    assert len(one) == 1 and one[0].page_content == built_bot.retrieve(QUESTION, k=1)[0].text
    assert one[0].metadata["source"] == "notes.txt"
    assert len(retriever.invoke(QUESTION)) == 4  # the per-call k does not stick
