"""The Milvus store: the index in Milvus Lite (`milvus:PATH.db`, one local folder, one process) or on a Milvus
server (`milvus:http://HOST:19530`, shared by many processes and machines), with the same code.

Collections, for an index whose collection name is N (`--collection`, else named after the index folder):

- `N` is an alias of the build being served, `N_b<k>`: one row per chunk with its text, exact offsets, vector,
  and its terms as `index.terms.tokenize` makes them, with Milvus' BM25 function and a sparse index over those.
  Milvus' BM25 thus matches the same terms as the local store's, in Milvus Lite and on a server alike.
- `N_b<k>_meta` beside it: a `state` row (manifest, committed generation, counts), one row per document version
  (content hash, file_stat) and one row per term version (how many chunks contain it, for the answerer's idf).

Readers never see a step half done. Every row carries `gen_from`/`gen_to`, and readers keep to the committed
generation C (`gen_from <= C < gen_to`). A step inserts its rows at G = C + 1, marks the rows it replaces with
`gen_to = G`, then commits by writing C = G into the state row: one upsert, the atomic switch. The rows a sync
replaced stay for readers still on the generation before, until the next sync starts: it deletes them and
undoes any step that was cut short.
A rebuild writes `N_b<k+1>` and moves the alias when it is complete; the build before it is kept for readers
still in the middle of a question, and older ones are dropped.

Only one writer may work on an index at a time: one `citechat index` job (or the chat window's sync).

Modules: `client.py` (the only one importing pymilvus: connections and one-line errors), `schema.py`
(collections and rows), `store.py` (the store and its snapshots), `writer.py` (steps and generations).
"""

from .store import MilvusSnapshot, MilvusStore
from .writer import MilvusWriter

__all__ = ["MilvusSnapshot", "MilvusStore", "MilvusWriter"]
