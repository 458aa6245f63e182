"""The Milvus store and its snapshots: reads of one committed generation (see the package docstring)."""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ....config import Settings
from ..base import (
    RRF_K,
    DocumentRecord,
    Hit,
    IndexNotFound,
    StoreUnavailable,
    TermStats,
    bm25_scores,
    check_manifest,
    excluded,
)
from .client import AnnSearchRequest, RRFRanker, connect, disconnect, is_lite, translated
from .schema import BATCH, CHUNK_FIELDS, chunk_of, current_build, query_all, quoted, read_state, visible
from .writer import open_writer

# HNSW's search breadth: larger finds the exact nearest neighbours more often (bench/store.py measures recall).
EF = 128


def collection_name(settings: Settings) -> str:
    """The index's collection (alias) name: --collection, else the index folder's name, as Milvus allows."""
    name = settings.collection or settings.index_dir.resolve().name or "citechat"
    name = re.sub(r"\W", "_", name, flags=re.ASCII)
    return name if re.match(r"[A-Za-z_]", name) else f"c_{name}"


class MilvusStore:
    """The index in one Milvus database, under the alias `name`."""

    def __init__(self, address: str, name: str, index_dir: Path | None = None) -> None:
        self.address = address
        self.name = name
        self.index_dir = index_dir  # what rebuild hints name
        self.shared = not is_lite(address)
        self.location = f"milvus:{address} (collection {name})"
        self._client = None
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, address: str, settings: Settings) -> MilvusStore:
        if not address:
            raise StoreUnavailable("CITECHAT_STORE=milvus needs an address: milvus:PATH.db for Milvus Lite or "
                                   "milvus:http://HOST:19530 for a server.")
        return cls(address, collection_name(settings), settings.index_dir)

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = connect(self.address)
            return self._client

    @translated
    def snapshot(self, expected: dict[str, str] | None) -> MilvusSnapshot:
        build = current_build(self.client, self.name)
        state = read_state(self.client, build) if build else None
        if state is None:
            raise IndexNotFound(f"No index in {self.location}. Run `citechat index --store milvus:{self.address}` "
                                "to build it.")
        if expected is not None:
            check_manifest(state["meta"], expected, self.location, self.index_dir)
        return MilvusSnapshot(self, build, state)

    def state(self) -> str | None:
        try:
            build = current_build(self.client, self.name)
            state = read_state(self.client, build) if build else None
        except Exception:  # noqa: BLE001 - a server that does not answer just now: keep serving what we have
            return None
        return f"{build}:{state['generation']}" if state else None

    def recorded_meta(self) -> dict[str, str]:
        try:
            build = current_build(self.client, self.name)
            state = read_state(self.client, build) if build else None
        except Exception:  # noqa: BLE001 - whoever opens the index reports what is wrong
            return {}
        return dict(state["meta"]) if state else {}

    @contextmanager
    def writer(self, manifest: dict[str, str], rebuild: bool) -> Iterator:
        with open_writer(self, manifest, rebuild) as writer:
            yield writer

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client = None
                disconnect(self.address)


class MilvusSnapshot:
    """One committed generation of a build; every search keeps to its rows."""

    def __init__(self, store: MilvusStore, build: str, state: dict) -> None:
        self.store = store
        self.address = store.address
        self.build = build
        self.generation = int(state["generation"])
        self.meta = {**state["meta"], "generation": str(self.generation)}
        self.n_chunks = int(state["n_chunks"])
        self._total_terms = int(state["total_terms"])
        self.state = f"{build}:{self.generation}"
        self._filter = visible(self.generation)
        self._df: dict[str, int] = {}
        self.documents = self._documents()
        self.excluded = excluded(self.meta)

    @property
    def client(self):
        return self.store.client

    @translated
    def _documents(self) -> list[DocumentRecord]:
        rows = query_all(self.client, f"{self.build}_meta", f'kind == "doc" and {self._filter}', ["name", "value"])
        records = []
        for row in rows:
            value = json.loads(row["value"])
            records.append(DocumentRecord(row["name"], value["title"], value["n_chunks"], value["size"],
                                          value["indexed_at"], value["hash"]))
        return sorted(records, key=lambda d: d.source)

    @translated
    def dense(self, vector: np.ndarray, n: int) -> list[Hit]:
        if not self.n_chunks:
            return []
        found = self.client.search(self.build, data=[np.asarray(vector, dtype=np.float32).tolist()],
                                   anns_field="dense", limit=n, filter=self._filter, output_fields=CHUNK_FIELDS,
                                   search_params={"metric_type": "COSINE", "params": {"ef": max(EF, n)}})
        return [Hit(h["id"], float(h["distance"]), chunk_of(h["entity"])) for h in found[0]]

    @translated
    def lexical(self, terms: list[str], n: int) -> list[Hit]:
        if not self.n_chunks or not terms:
            return []
        found = self.client.search(self.build, data=[" ".join(terms)], anns_field="sparse", limit=n,
                                   filter=self._filter, output_fields=CHUNK_FIELDS + ["terms"],
                                   search_params={"metric_type": "BM25", "params": {}})
        hits = [Hit(h["id"], 0.0, chunk_of(h["entity"])) for h in found[0]]
        scores = bm25_scores(terms, [h["entity"]["terms"].split() for h in found[0]], self.term_stats(terms))
        for hit, score in zip(hits, scores):
            hit.score = hit.lexical = score
        return sorted((h for h in hits if h.score > 0), key=lambda h: -h.score)

    @translated
    def hybrid(self, vector: np.ndarray, terms: list[str], n: int) -> list[Hit] | None:
        if not self.n_chunks:
            return []
        query = np.asarray(vector, dtype=np.float32)
        requests = [AnnSearchRequest(data=[query.tolist()], anns_field="dense", limit=n, expr=self._filter,
                                     param={"metric_type": "COSINE", "params": {"ef": max(EF, n)}})]
        if terms:
            requests.append(AnnSearchRequest(data=[" ".join(terms)], anns_field="sparse", limit=n, expr=self._filter,
                                             param={"metric_type": "BM25", "params": {}}))
        found = self.client.hybrid_search(self.build, reqs=requests, ranker=RRFRanker(RRF_K), limit=n,
                                          output_fields=CHUNK_FIELDS + ["terms", "dense"])[0]
        stats = self.term_stats(terms)
        lexical = bm25_scores(terms, [h["entity"]["terms"].split() for h in found], stats)
        hits = []
        for h, score in zip(found, lexical):
            dense = float(np.dot(query, np.asarray(h["entity"]["dense"], dtype=np.float32)))
            hits.append(Hit(h["id"], float(h["distance"]), chunk_of(h["entity"]), dense=dense, lexical=score))
        return hits

    @translated
    def term_stats(self, terms: Iterable[str]) -> TermStats:
        terms = list(dict.fromkeys(terms))
        missing = [t for t in terms if t not in self._df]
        for start in range(0, len(missing), BATCH):
            part = missing[start : start + BATCH]
            rows = self.client.query(f"{self.build}_meta", output_fields=["name", "count"],
                                     filter=f'kind == "term" and name in {quoted(part)} and {self._filter}')
            found = {row["name"]: row["count"] for row in rows}
            self._df.update({t: int(found.get(t, 0)) for t in part})
        average = self._total_terms / self.n_chunks if self.n_chunks else 0.0
        return TermStats(self.n_chunks, average, {t: self._df[t] for t in terms})

    @translated
    def all_chunks(self) -> list:
        return [chunk_of(row) for row in query_all(self.client, self.build, self._filter, CHUNK_FIELDS)]
