"""The vector index: FAISS over track embeddings, one index per embedding version.

Exact search while small, IVF-PQ with an int8 re-rank past the policy's threshold; files on
local disk, rebuilt from the catalog (which keeps every embedding) when missing or stale.
"""

from index.vectors.vector_index import IndexPolicy, IndexStats, VectorHit, VectorIndex

__all__ = ["IndexPolicy", "IndexStats", "VectorHit", "VectorIndex"]
