"""Ask the archive (issue 22): a passage index over every stored paper and grounded answers from it.

digest.ask sits one layer above the stages it draws on (the writers' passage splitting and quote checks, the
model client) and below the pipeline, which indexes each paper as its page texts are stored.
"""
