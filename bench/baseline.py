"""The LangChain tutorial pipeline that every benchmark compares citechat with (citechat.baseline)."""

from citechat.baseline import MODEL, build, embeddings, load  # noqa: F401
