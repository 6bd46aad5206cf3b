"""Where papers come from: the registry of source kinds, feeds, the arXiv API, local files and lists."""
