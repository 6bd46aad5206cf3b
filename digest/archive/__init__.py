"""The published views of the store: the static site, its Atom feed, search, model comparisons."""
