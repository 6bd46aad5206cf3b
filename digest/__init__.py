"""paper-digest: a weekly digest of research papers with grounded LLM summaries and Q&A."""

__version__ = "0.1.0"
USER_AGENT = f"paper-digest/{__version__} (+https://github.com/paper-digest/paper-digest)"
