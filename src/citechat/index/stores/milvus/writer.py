"""Writing an index into Milvus in steps that readers see whole, and rebuilds behind an alias (see the package
docstring)."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

from ..base import KnownDocuments, NewDocument, check_manifest, chunk_terms
from .client import translating
from .schema import (
    BATCH,
    LIVE,
    chunk_row,
    create_build,
    current_build,
    document_row,
    query_all,
    quoted,
    read_state,
    state_row,
    term_row,
    visible,
)


@contextmanager
def open_writer(store, manifest: dict[str, str], rebuild: bool) -> Iterator[MilvusWriter]:
    """The writer of `store` (a MilvusStore): the build the alias points at, created if there is none. A rebuild writes a new build and
    moves the alias to it when the block ends without an error."""
    with translating(store.address):
        client = store.client
        served = current_build(client, store.name)
        if served is None or rebuild:
            build = _new_build(client, store.name, served, int(manifest["dimension"]))
            client.upsert(f"{build}_meta", [state_row(_empty_state(manifest))])
            if served is None:
                client.create_alias(build, store.name)
        else:
            build = served
        writer = MilvusWriter(client, build, read_state(client, build))
        check_manifest(writer.meta, manifest, store.location, store.index_dir)
        writer.recover()
        yield writer
        writer.flush()
        if build != served and served is not None:
            client.alter_alias(build, store.name)
            _drop_old_builds(client, store.name, keep={build, served})


def _empty_state(manifest: dict[str, str]) -> dict:
    return {"meta": {**manifest, "last_sync": ""}, "generation": 0, "next_id": 0, "n_chunks": 0, "n_documents": 0,
            "total_terms": 0}


def _builds(client, name: str) -> list[str]:
    """The chunk collections of the index's builds, oldest first."""
    prefix = f"{name}_b"
    found = [c for c in client.list_collections() if c.startswith(prefix) and c[len(prefix):].isdigit()]
    return sorted(found, key=lambda c: int(c[len(prefix):]))


def _new_build(client, name: str, served: str | None, dimension: int) -> str:
    builds = _builds(client, name)
    number = int(builds[-1][len(name) + 2:]) + 1 if builds else 1
    for unfinished in builds:  # a rebuild cut short: never served, never finished
        if unfinished != served and builds.index(unfinished) > (builds.index(served) if served in builds else -1):
            _drop(client, unfinished)
    build = f"{name}_b{number}"
    create_build(client, build, dimension)
    return build


def _drop_old_builds(client, name: str, keep: set[str]) -> None:
    """Drop the builds before the previous one (that one stays for readers still answering from it)."""
    for build in _builds(client, name):
        if build not in keep:
            _drop(client, build)


def _drop(client, build: str) -> None:
    for collection in (build, f"{build}_meta"):
        if client.has_collection(collection):
            client.drop_collection(collection)


class MilvusWriter:
    """Each step writes generation G = C + 1 beside the committed C and commits by rewriting the state row.
    Milvus errors are turned into one-line errors by `open_writer`, around the whole `with` block."""

    def __init__(self, client, build: str, state: dict) -> None:
        self.client = client
        self.build = build
        self.meta_collection = f"{build}_meta"
        self.state = state
        self.meta = state["meta"]

    @property
    def generation(self) -> int:
        return int(self.state["generation"])

    def recover(self) -> None:
        """Undo what a step cut short left behind, and delete the rows the last finished sync replaced."""
        committed = self.generation
        for collection, key in ((self.build, "id"), (self.meta_collection, "key")):
            self.client.delete(collection, filter=f"gen_from > {committed}")
            marked = query_all(self.client, collection, f"gen_to > {committed} and gen_to < {LIVE}", [key])
            for start in range(0, len(marked), BATCH):
                self.client.upsert(collection, [{key: r[key], "gen_to": LIVE} for r in marked[start : start + BATCH]],
                                   partial_update=True)
            self.client.delete(collection, filter=f"gen_to <= {committed}")

    # ---------------------------------------------------------------- Writer

    def documents(self) -> KnownDocuments:
        rows = query_all(self.client, self.meta_collection, f'kind == "doc" and {visible(self.generation)}',
                         ["name", "value"])
        return {r["name"]: (v["hash"], v["file_stat"]) for r in rows for v in [json.loads(r["value"])]}

    def set_meta(self, values: dict[str, str]) -> None:
        self.meta.update(values)
        self.client.upsert(self.meta_collection, [state_row(self.state)])

    def remove(self, sources: list[str]) -> None:
        self._step([], sources)

    def add(self, documents: list[NewDocument]) -> None:
        self._step(documents, [d.source for d in documents])

    def touch(self, file_stats: dict[str, str | None]) -> None:
        for row in self._visible_docs(list(file_stats)):
            value = json.loads(row["value"])
            value["file_stat"] = file_stats[row["name"]]
            self.client.upsert(self.meta_collection, [{"key": row["key"], "value": json.dumps(value)}],
                               partial_update=True)

    def counts(self) -> tuple[int, int]:
        return int(self.state["n_documents"]), int(self.state["n_chunks"])

    def flush(self) -> None:
        self.client.flush(self.build)
        self.client.flush(self.meta_collection)

    # ---------------------------------------------------------------- one step

    def _visible_docs(self, sources: list[str]) -> list[dict]:
        rows = []
        for start in range(0, len(sources), BATCH):
            rows += self.client.query(self.meta_collection, output_fields=["key", "name", "value"],
                                      filter=f'kind == "doc" and name in {quoted(sources[start : start + BATCH])} '
                                             f"and {visible(self.generation)}")
        return rows

    def _step(self, documents: list[NewDocument], replaced: list[str]) -> None:
        """Write generation G: the new documents' rows, the replaced documents' rows marked as ending at G,
        the changed term counts; then commit G."""
        g = self.generation + 1
        state = dict(self.state)
        df: Counter[str] = Counter()
        old_chunks = []
        for start in range(0, len(replaced), BATCH):
            old_chunks += query_all(self.client, self.build, f"source in {quoted(replaced[start : start + BATCH])} "
                                    f"and {visible(self.generation)}", ["id", "terms"])
        old_docs = self._visible_docs(replaced)
        for row in old_chunks:
            terms = row["terms"].split()
            df.subtract(set(terms))
            state["total_terms"] -= len(terms)
        state["n_chunks"] -= len(old_chunks)
        state["n_documents"] -= len(old_docs)

        rows, next_id = [], int(state["next_id"])
        for doc in documents:
            for chunk, vector in zip(doc.chunks, doc.vectors):
                terms = chunk_terms(chunk)
                df.update(set(terms))
                state["total_terms"] += len(terms)
                rows.append(chunk_row(chunk, next_id, terms, vector, g))
                next_id += 1
                if len(rows) == BATCH:
                    self.client.insert(self.build, rows)
                    rows = []
            state["n_chunks"] += len(doc.chunks)
        if rows:
            self.client.insert(self.build, rows)
        state["n_documents"] += len(documents)
        state["next_id"] = next_id
        if documents:
            self.client.insert(self.meta_collection, [document_row(doc, g) for doc in documents])
        self._retire(self.build, "id", [r["id"] for r in old_chunks], g)
        self._retire(self.meta_collection, "key", [r["key"] for r in old_docs], g)
        self._count_terms({t: d for t, d in df.items() if d}, g)
        state["generation"] = g
        self.client.upsert(self.meta_collection, [state_row(state)])  # the commit: readers move to G
        self.state.clear()
        self.state.update(state)

    def _retire(self, collection: str, key: str, ids: list, g: int) -> None:
        for start in range(0, len(ids), BATCH):
            self.client.upsert(collection, [{key: i, "gen_to": g} for i in ids[start : start + BATCH]],
                               partial_update=True)

    def _count_terms(self, changes: dict[str, int], g: int) -> None:
        """New rows, valid from G, for the terms whose chunk counts change; their old rows end at G."""
        terms = sorted(changes)
        for start in range(0, len(terms), BATCH):
            part = terms[start : start + BATCH]
            old = self.client.query(self.meta_collection, output_fields=["key", "name", "count"],
                                    filter=f'kind == "term" and name in {quoted(part)} and {visible(self.generation)}')
            counts = {r["name"]: r["count"] for r in old}
            self._retire(self.meta_collection, "key", [r["key"] for r in old], g)
            rows = [term_row(t, counts.get(t, 0) + changes[t], g) for t in part if counts.get(t, 0) + changes[t] > 0]
            if rows:
                self.client.insert(self.meta_collection, rows)
