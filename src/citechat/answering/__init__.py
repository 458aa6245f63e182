"""A question to a cited answer: `retrieval.py` finds the passages (the store's dense and lexical searches,
fused, then ordered by their best sentence), `extractive.py` quotes the sentences that answer, weighed by the
fitted model of `answer_model.py` over the signals of `signals.py`, or refuses; `llm.py` has an LLM write the
answer instead, its citations checked; `chat.py` reads follow-up questions against the conversation. The
results are the `Answer` and `Source` of `types.py`.

Takes: a question (and the conversation) and a snapshot of the index. Gives: an `Answer` whose every source is
an exact span of a document's text.
"""
