"""Each reader's own issue: their interests, and their top papers of the week's pool, each with why.

The LLM writes every paper of the pool once; choosing and ordering for a reader only ranks those
write-ups against what the reader asked for (keywords, authors, categories, their library) and
what they voted on, so the cost of a week grows with papers, never with readers.
"""

from digest.library import parse_library
from digest.readers.interests import ReaderInterests, clean_interests, get_interests, set_interests
from digest.readers.pool import choose_pool, forget_pools, pool_entries, pool_papers, reader_issue, save_pool
from digest.readers.ranking import PoolRanker

__all__ = ["ReaderInterests", "clean_interests", "get_interests", "set_interests", "parse_library", "reader_issue",
           "PoolRanker", "choose_pool", "save_pool", "pool_entries", "pool_papers", "forget_pools"]
