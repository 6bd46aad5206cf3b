"""What writes a paper's TL;DR, summary and grounded Q&A: a chat model or the extractive writer."""
