"""PDFs: the download cache, the pool of worker processes that parse them, the worker, the text cleaning."""
