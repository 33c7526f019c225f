"""Multilingual search: encode a gallery once (`gallery.py`), then answer text or image queries with its top-k rows
(`searcher.py`, over the indexes of `index.py`).

A *gallery* is a `datasets.Dataset` with one L2-normalised `embedding` per row, saved with `save_to_disk`:

- an **image** gallery (`kind="image"`): one row per unique image (or video) of a retrieval dataset, with `image_id`,
  `embedding` and, optionally, that image's `captions` and their `caption_languages`;
- a **text** gallery (`kind="text"`): one row per caption, with `caption`, `language`, `image_id` and `embedding`.

[`GallerySearcher`] ranks gallery rows by inner product with the query embeddings (the cosine similarity, since both
sides are normalised). A text query in any language the model knows finds images; an image query finds captions.

Indexes (`index=`):

- `"exact"` (default): torch matmul + top-k over gallery chunks, so memory stays bounded (a 100k x 512 gallery
  is never scored against many queries at once). Ties are ordered deterministically: score descending, then gallery
  row ascending.
- `"faiss"`: FAISS `IndexFlatIP`, also exact. Its results are re-sorted with the same rule; the set of k rows can
  differ from `"exact"` only where several rows tie at the k-th score (or differ in the last float bit, since FAISS
  sums the products in its own order).
- `"faiss-hnsw"` (`IndexHNSWFlat`) and `"faiss-ivf"` (`IndexIVFFlat`): approximate. They trade recall for speed on
  large galleries: HNSW needs no training and is fastest per query but takes long to build and holds a graph on top
  of the vectors (`hnsw_m` links per row); IVF trains k-means (`nlist` cells) and scans only `nprobe` cells per
  query. Raise `ef_search` / `nprobe` for recall, lower them for speed; `scripts/benchmark_search.py` measures both.

A FAISS index is built once and saved beside its gallery (`persistence.py`): later searchers over the same gallery,
index type and build options read it back instead of rebuilding it (`GallerySearcher.index_built` says which).
`unique_images=True` keeps one result per image (a caption gallery's best caption of each image).

FAISS is an optional extra: `pip install "babelclip[faiss]"`.

Example:

```python
>>> from babelclip.trainers.data import load_retrieval_dataset
>>> from babelclip.trainers.search import GallerySearcher, encode_gallery
>>> gallery = encode_gallery(model, processor, load_retrieval_dataset("embedded", split="test"), output_dir="gallery")
>>> GallerySearcher(gallery).search_text(model, processor, ["ein roter Kreis", "a blue square"], k=5)
[[('test-151', 0.61), ...], [...]]
```
"""

from .gallery import (
    GALLERY_KINDS,
    GalleryKind,
    encode_caption_gallery,
    encode_gallery,
    gallery_kind,
    load_gallery,
    save_gallery,
)
from .index import (
    INDEX_TYPES,
    IndexType,
    build_faiss_index,
    check_index_options,
    configure_faiss_search,
    exact_search,
    faiss_search,
    import_faiss,
)
from .persistence import INDEX_FOLDER, load_or_build_faiss_index, saved_index_path
from .searcher import GallerySearcher, encode_images, encode_texts

__all__ = [
    "GALLERY_KINDS",
    "INDEX_FOLDER",
    "INDEX_TYPES",
    "GalleryKind",
    "GallerySearcher",
    "IndexType",
    "build_faiss_index",
    "check_index_options",
    "configure_faiss_search",
    "encode_caption_gallery",
    "encode_gallery",
    "encode_images",
    "encode_texts",
    "exact_search",
    "faiss_search",
    "gallery_kind",
    "import_faiss",
    "load_gallery",
    "load_or_build_faiss_index",
    "save_gallery",
    "saved_index_path",
]
