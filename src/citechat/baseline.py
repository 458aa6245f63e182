"""The LangChain tutorial pipeline that citechat is measured against: RecursiveCharacterTextSplitter (1000
characters, 200 overlap), HuggingFaceEmbeddings on the same packaged all-MiniLM-L6-v2, FAISS.from_documents,
similarity_search. For comparison only (`citechat eval`, bench/); it needs the test extras
(`pip install -e '.[test]'`)."""

from __future__ import annotations

import os
from pathlib import Path

from .index.model import model_path

MODEL = "all-MiniLM-L6-v2"
MISSING = "The LangChain baseline needs the test extras: pip install -e '.[test]'"


def available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("langchain_huggingface", "langchain_community",
                                                     "langchain_text_splitters"))


def embeddings():
    """The baseline's embedding model, loaded (kept out of any timing)."""
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=model_path(MODEL))


def load(docs: Path) -> list:
    """Every supported file under docs as LangChain documents, read with LangChain's usual loader for its
    format (PyPDFLoader: one document per page; Docx2txtLoader; BSHTMLLoader; .txt and .md as they are)."""
    from langchain_community.document_loaders import BSHTMLLoader, Docx2txtLoader, PyPDFLoader
    from langchain_core.documents import Document

    loaders = {".pdf": PyPDFLoader, ".docx": Docx2txtLoader, ".html": BSHTMLLoader, ".htm": BSHTMLLoader}
    documents = []
    for p in regular_files(Path(docs)):
        suffix = p.suffix.lower()
        if suffix in (".txt", ".md"):
            documents.append(Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name}))
        elif suffix in loaders:
            for d in loaders[suffix](str(p)).load():
                documents.append(Document(page_content=d.page_content, metadata={**d.metadata, "source": p.name}))
    return documents


def regular_files(docs: Path) -> list[Path]:
    """The regular files under docs, sorted, reached without following any link (a link, and whatever lies
    beyond it, is left out), so the baseline never reads outside the corpus."""
    found = []
    for folder, subfolders, names in os.walk(docs):  # os.walk does not descend into linked folders
        subfolders.sort()
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink() and path.is_file():
                found.append(path)
    return sorted(found)


def build(docs: Path, embeddings) -> tuple[object, list]:
    """Read every supported file under docs, split, embed and index it: the tutorial's indexing. (store, chunks)"""
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(load(docs))
    return FAISS.from_documents(chunks, embeddings), chunks
