"""A stand-in model for `digest ask`: it answers from the numbered passages of the prompt, each claim quoting a
real sentence of its passage verbatim (or, when told to, a made-up one), in English or Japanese."""

from __future__ import annotations

import re
from collections.abc import Callable

_PASSAGE = re.compile(r"^\[P(\d+)\] [^\n]*\n(.*?)(?=^\[P\d+\] |^</passages>)", re.M | re.S)
_SENTENCE = re.compile(r"[^.!?]{40,400}[.!?]")
_LANGUAGE = re.compile(r'language code "([a-z-]+)"')
MADE_UP_QUOTE = "our system improves every benchmark we tried by exactly 93.7 points over all prior work"


class AskModel:
    """Replies to the ask prompt: up to `claims` claims, one per passage of a different paper first.

    `fabricate(i)` True makes claim i quote words its passage does not have; `nothing` makes it say the
    passages do not answer the question."""

    def __init__(self, *, claims: int = 3, fabricate: Callable[[int], bool] = lambda i: False,
                 nothing: bool = False):
        self.claims, self.fabricate, self.nothing = claims, fabricate, nothing
        self.prompts: list[str] = []

    def __call__(self, messages: list[dict], schema: dict | None) -> dict:
        text = "\n".join(m.get("content") or "" for m in messages if isinstance(m.get("content"), str))
        self.prompts.append(text)
        lang = (_LANGUAGE.search(text) or [None, "en"])[1]
        passages = [(int(n), " ".join(body.split())) for n, body in _PASSAGE.findall(text)]
        if self.nothing or not passages:
            return {"nothing_found": True, "answer": "", "claims": []}
        sentences, claims = [], []
        for n, body in passages:
            found = _SENTENCE.findall(body)
            if found:
                sentences.append((n, " ".join(found[0].split()[:20])))
        for i, (n, quote) in enumerate(sentences[:self.claims], 1):
            if self.fabricate(i):
                quote = MADE_UP_QUOTE
            latin = " ".join(re.findall(r"[A-Za-z][A-Za-z-]{3,}", quote)[:4])
            claim = (f"One paper reports that {quote.rstrip('.').lower()} [{i}]." if lang != "ja"
                     else f"ある論文は{latin}について報告しています[{i}]。")
            claims.append((claim, {"n": i, "passage": n, "quote": quote}))
        joiner = "" if lang == "ja" else " "
        return {"nothing_found": False, "answer": joiner.join(c for c, _ in claims),
                "claims": [c for _, c in claims]}


# Three papers' page texts, two of which answer QUESTION (for the `ask` tests).
KV = [
    "1 Introduction\nLong-context inference is limited by the memory the key-value cache takes on the GPU.\n"
    "We compress the KV cache of transformer decoders by quantizing keys and values to two bits per value.\n",
    "3 Method\nOur quantizer groups channels by their outlier statistics before rounding each group.\n"
    "The KV cache then needs eight times less memory while perplexity rises by less than one percent.\n",
]
LITQA = [
    "1 Introduction\nScientific question answering needs agents that read full papers rather than abstracts.\n"
    "We evaluate retrieval agents on the LitQA benchmark and on PubMedQA with human experts as a reference.\n",
    "4 Results\nOur agent answers 69 percent of LitQA questions correctly and cites the passages it used.\n"
    "Human experts answered 66 percent of the same questions within the same time limit.\n",
]
BIRDS = [
    "1 Introduction\nMigratory songbirds navigate with a magnetic compass that depends on light in the retina.\n"
    "We tracked three hundred warblers with light-weight geolocators across two migration seasons.\n",
    "2 Findings\nBirds released under red light lost their orientation while birds under blue light kept it.\n",
]
QUESTION = "Which papers evaluate agents on LitQA, and how is the KV cache compressed?"
