"""The collections of one build and the rows they hold (see the package docstring)."""

from __future__ import annotations

import json
import time
from typing import Iterable

import numpy as np

from ....ingest.chunking import Chunk
from ..base import BM25_B, BM25_K1, NewDocument
from .client import DataType, Function, FunctionType, MilvusClient, MilvusException

LIVE = 2**62  # gen_to of a row that no step has replaced
STATE = "state"  # key of the meta row holding the manifest, the committed generation and the counts
MAX_TEXT = 65_535  # the longest VARCHAR Milvus stores
BATCH = 1000  # rows per call when reading or changing many
CHUNK_FIELDS = ["source", "title", "text", "start", "end", "page", "ordinal", "section", "page_start"]
NO_VECTOR = [0.0, 0.0]  # meta rows' placeholder vector


def visible(generation: int) -> str:
    """The filter for rows a reader of this generation sees."""
    return f"gen_from <= {generation} and gen_to > {generation}"


def quoted(values: Iterable[str]) -> str:
    """A list of strings as a filter expression's literal."""
    return json.dumps(list(values), ensure_ascii=False)


def chunk_of(row: dict) -> Chunk:
    return Chunk(*(row[name] for name in CHUNK_FIELDS))


def chunk_row(chunk: Chunk, row_id: int, terms: list[str], vector: np.ndarray, generation: int) -> dict:
    return {"id": row_id, **{name: getattr(chunk, name) for name in CHUNK_FIELDS}, "terms": " ".join(terms),
            "dense": np.asarray(vector, dtype=np.float32).tolist(), "gen_from": generation, "gen_to": LIVE}


def meta_row(key: str, kind: str, name: str, value: str, count: int, generation: int) -> dict:
    return {"key": key, "kind": kind, "name": name, "value": value, "count": count, "gen_from": generation,
            "gen_to": LIVE, "_v": NO_VECTOR}


def document_row(doc: NewDocument, generation: int) -> dict:
    value = {"hash": doc.hash, "title": doc.title, "size": doc.size, "n_chunks": len(doc.chunks),
             "indexed_at": time.time(), "file_stat": doc.file_stat}
    return meta_row(f"d|{generation}|{doc.source}", "doc", doc.source, json.dumps(value), len(doc.chunks), generation)


def term_row(term: str, count: int, generation: int) -> dict:
    return meta_row(f"t|{generation}|{term}", "term", term, "", count, generation)


def state_row(state: dict) -> dict:
    return meta_row(STATE, STATE, "", json.dumps(state), 0, 0)


def create_build(client: MilvusClient, build: str, dimension: int) -> None:
    """The chunk collection of a build and its meta collection. Both are read with strong consistency: a reader
    must never see a committed state row without the rows committed with it (a server's default, Bounded,
    allows that; Milvus Lite is always strong)."""
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    for name in ("source", "title", "section", "text"):
        schema.add_field(name, DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True)
    for name in ("start", "end", "ordinal", "page_start", "gen_from", "gen_to"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("page", DataType.INT64, nullable=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                 output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index(field_name="dense", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 200})
    # k1 and b as the local store's BM25 (a server's defaults differ; Milvus Lite uses these).
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
    index.add_index(field_name="source", index_type="INVERTED")
    client.create_collection(build, schema=schema, index_params=index, consistency_level="Strong")

    meta = client.create_schema(auto_id=False, enable_dynamic_field=False)
    meta.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_TEXT)
    for name in ("kind", "name", "value"):
        meta.add_field(name, DataType.VARCHAR, max_length=MAX_TEXT)
    for name in ("count", "gen_from", "gen_to"):
        meta.add_field(name, DataType.INT64)
    meta.add_field("_v", DataType.FLOAT_VECTOR, dim=2)  # Milvus requires a vector field in every collection
    index = client.prepare_index_params()
    index.add_index(field_name="_v", index_type="FLAT", metric_type="L2")
    index.add_index(field_name="name", index_type="INVERTED")
    client.create_collection(f"{build}_meta", schema=meta, index_params=index, consistency_level="Strong")


# ---------------------------------------------------------------- reading the layout

RELEASED = 101  # Milvus' error code for a collection that is not loaded


def query_all(client, collection: str, filter: str, fields: list[str]) -> list[dict]:
    """Every row matching the filter (a server returns at most 16384 rows per query)."""
    iterator = client.query_iterator(collection, batch_size=BATCH, filter=filter, output_fields=fields)
    rows: list[dict] = []
    try:
        while batch := iterator.next():
            rows.extend(batch)
    finally:
        iterator.close()
    return rows


def read_state(client, build: str) -> dict | None:
    """The build's state row; loads the build's collections first if they are released (as Milvus Lite leaves
    them after a restart)."""
    try:
        rows = client.get(f"{build}_meta", ids=[STATE], output_fields=["value"])
    except MilvusException as exc:
        if exc.code != RELEASED:
            raise
        for collection in (build, f"{build}_meta"):
            client.load_collection(collection)
        rows = client.get(f"{build}_meta", ids=[STATE], output_fields=["value"])
    return json.loads(rows[0]["value"]) if rows else None


def current_build(client, name: str) -> str | None:
    """The build the index's alias points at; None when there is no index."""
    if name not in client.list_aliases().get("aliases", []):
        return None
    return client.describe_alias(name)["collection_name"]
