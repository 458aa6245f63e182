"""The LangChain tutorial pipeline that every benchmark compares citechat with: RecursiveCharacterTextSplitter
(1000 characters, 200 overlap), HuggingFaceEmbeddings on the same packaged all-MiniLM-L6-v2, FAISS.from_documents,
similarity_search."""

from __future__ import annotations

from pathlib import Path

MODEL = "all-MiniLM-L6-v2"


def embeddings():
    """The baseline's embedding model, loaded (kept out of any timing)."""
    from langchain_huggingface import HuggingFaceEmbeddings

    from citechat.embeddings import model_path

    return HuggingFaceEmbeddings(model_name=model_path(MODEL))


def build(docs: Path, embeddings) -> tuple[object, list]:
    """Read every .txt file under docs, split, embed and index it: the tutorial's indexing. (store, chunks)"""
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    files = sorted(docs.rglob("*.txt"))
    documents = [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name}) for p in files]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(documents)
    return FAISS.from_documents(chunks, embeddings), chunks
