"""bench/quality.py computes the right numbers: ROUGE, evidence hits, aspect answers, verified and
schema-valid rates, on hand-made cases whose answers are known, and end to end against the test server."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("aclsum")
pytest.importorskip("rouge_score")

from llm_server import LLMServer, bad_json  # noqa: E402
from weekfeed import grounded_responder  # noqa: E402

from digest.config import ModelConfig  # noqa: E402
from digest.records import QA, Generation, Paper  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_quality", Path(__file__).resolve().parents[1] / "bench" / "quality.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_quality"] = bench  # dataclasses look their module up while the class is made
_spec.loader.exec_module(bench)

GOLD = {"challenge": "Parsers fail on long legal documents.",
        "approach": "They propose a chunked parser with a memory of earlier sections.",
        "outcome": "The parser improves F1 by four points on three legal corpora."}
EVIDENCE = ["Existing parsers fail badly on long legal documents because they forget earlier sections.",
            "We propose a chunked parser that keeps a memory of the sections it has already read."]
PARSE = {
    "abstract": [{"text": "Existing parsers fail badly on long legal documents because they forget earlier sections. "
                          "We propose a chunked parser that keeps a memory of the sections it has already read. "
                          "It improves F1 by four points on three legal corpora."}],
    "body_text": [
        {"section": "Introduction", "sec_num": "1",
         "text": "Legal documents are long and parsers trained on news text struggle with them in practice. "
                 "Existing parsers fail badly on long legal documents because they forget earlier sections."},
        {"section": "Method", "sec_num": "2",
         "text": "Our parser reads the document in chunks of five hundred tokens at a time. "
                 "A memory holds a summary vector for every section that has already been read."},
        {"section": "Conclusion", "sec_num": "5",
         "text": "The chunked parser improves F1 by four points on three legal corpora over strong baselines."},
    ],
}


def hand_made() -> "bench.BenchPaper":
    paper = Paper(key="aclsum:X00-0000", title="Chunked parsing of legal text", abstract=PARSE["abstract"][0]["text"])
    return bench.BenchPaper(paper, bench.pages_from_sections(paper.title, PARSE), dict(GOLD), list(EVIDENCE))


def generation(qa: list[QA], summary: str, tldr: str = "A chunked parser for long legal documents.") -> Generation:
    return Generation(key="g", paper_key="aclsum:X00-0000", version=None, model="m", prompt_version="p",
                      language="en", tldr=tldr, summary=summary, qa=qa, n_dropped=1)


def test_rouge_is_the_f_measure_of_shared_words():
    assert bench.rouge("the cat sat", "the cat sat") == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert bench.rouge("dogs bark", "the cat sat")["rouge1"] == 0.0
    r = bench.rouge("a cat sat", "the cat sat")  # 2 of 3 words, 1 of 2 bigrams
    assert r["rouge1"] == pytest.approx(2 / 3) and r["rouge2"] == pytest.approx(0.5)
    assert bench.rouge("cat", "the cat sat")["rouge1"] == pytest.approx(0.5)  # precision 1, recall 1/3


def test_a_quote_is_on_evidence_only_when_it_is_a_run_of_a_gold_sentence():
    tokenised = "Existing parsers fail badly on long legal documents because they forget earlier sections ."
    assert bench.on_evidence("parsers fail badly on long legal documents because they forget", [tokenised])
    assert bench.on_evidence("Existing parsers fail badly on long legal documents because they forget earlier "
                             "sections. Legal text is long.", EVIDENCE)  # a quote running past the sentence
    assert not bench.on_evidence("A memory holds a summary vector for every section that has already been read.",
                                 EVIDENCE)
    # Shared words out of order, or a short common run, are not the same sentence.
    assert not bench.on_evidence("legal documents are long and existing parsers fail on them", EVIDENCE)


def test_questions_are_matched_to_gold_aspects_by_what_they_ask():
    g = generation([QA("What problem does it address?", "p"), QA("What data is used?", "d"),
                    QA("Which method is proposed?", "m"), QA("What are the main results?", "r"),
                    QA("What problem remains?", "second problem answer")], summary="")
    assert bench.aspect_answers(g) == {"challenge": "p", "approach": "m", "outcome": "r"}
    lead = bench.lead_generation(Paper(key="k", title="T", abstract="One. Two is here. Three is here. Four."), "en")
    assert lead.tldr == "T" and bench.aspect_answers(lead) == dict.fromkeys(bench.ASPECTS, lead.summary)


def test_scores_of_a_hand_made_generation():
    item = hand_made()
    qa = [QA("What problem does the paper address?", GOLD["challenge"], [1], EVIDENCE[0], verified=True),
          QA("What method does it propose?", "A chunked parser.", [3],
             "A memory holds a summary vector for every section that has already been read.", verified=True),
          QA("What are the results?", GOLD["outcome"], [4], "made-up quote", verified=False),
          QA("What are the results?", "Again.", [4], "", verified=False)]
    m = bench.score([item], {item.paper.key: generation(qa, " ".join(GOLD.values()))}, None, "en", wall=2.0)
    assert m["summary_rouge1"] == 1.0 and m["summary_rougeL"] == 1.0
    assert m["verified"] == 0.5 and m["kept"] == 4 and m["dropped"] == 1
    assert m["evidence_hit"] == 0.5  # of the two verified quotes, the problem's is a gold evidence sentence
    assert m["distinct_q"] == 0.75 and m["language"] == 1.0 and m["seconds"] == 2.0
    assert m["aspect_answered"] == 1.0
    # The method answer's quote does not back "A chunked parser."; the results answer's quote is not in the
    # paper and "Again." has none: neither can be backed by its quote.
    assert [q.support for q in qa] == ["supported", "not", "unchecked", "unchecked"]
    assert bench.cell("support", m) == "50% (1/2)"
    expected = (1.0 + bench.rouge("A chunked parser.", GOLD["approach"])["rouge1"] + 1.0) / 3
    assert m["aspect_rouge1"] == pytest.approx(expected)
    ja = bench.score([item], {item.paper.key: generation([], "日本語の要約です。", tldr="短い要約")}, None, "ja", 1.0)
    assert ja["language"] == 1.0 and ja["verified"] is None


def test_aclsum_papers_get_pages_from_their_sections():
    (item,) = bench.aclsum_papers(1)
    assert set(item.gold) == set(bench.ASPECTS) and item.evidence
    assert item.pages[0].body.splitlines()[2] == "Abstract" and len(item.pages) > 3
    assert item.pages[1].body.startswith("1 Introduction")


def test_the_bench_drives_the_real_writers_against_the_test_server(config, store):
    server = LLMServer(responder=grounded_responder(), models=("stand-in",)).start()
    try:
        config.models["stand-in"] = ModelConfig(base_url=server.base_url, api_key_env="", context_window=128_000)
        config.llm.concurrency = 1
        items = [hand_made()]
        gens, wall = bench.generate("stand-in", items, config, store, "en")
        m = bench.score(items, gens, store, "en", wall)
        assert m["papers"] == 1 and m["fallback"] == 0 and m["schema_valid"] == 1.0
        assert m["kept"] > 0 and m["verified"] == 1.0  # the stand-in quotes the pages it was given
        assert m["summary_rouge1"] > 0 and m["evidence_hit"] is not None
        # A reply that is not valid JSON is repaired by the product; the bench counts it as invalid.
        store.execute("DELETE FROM generations")
        store.execute("DELETE FROM llm_calls")
        server.push(bad_json())
        gens, wall = bench.generate("stand-in", items, config, store, "en")
        m = bench.score(items, gens, store, "en", wall)
        assert m["schema_valid"] == pytest.approx(2 / 3) and m["fallback"] == 0
        extractive, _ = bench.generate("extractive", items, config, store, "en")
        e = bench.score(items, extractive, store, "en", 1.0)
        assert e["schema_valid"] is None and all(q.excerpt for q in extractive[items[0].paper.key].qa)
        assert e["support"].checked == 0 and bench.cell("support", e) == "—"  # excerpts are not checked
    finally:
        server.stop()


def test_the_command_prints_one_table_and_the_quality_line(capsys):
    bench.main(["--model", "stand-in", "--test-server", "--set", "aclsum", "--limit", "2"])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("| set | model |") and sum(line.startswith("| aclsum |") for line in out) == 3
    assert re.match(r"quality: stand-in verified 100% supported \d+% rouge1 0\.", out[-1])
    assert "evidence-hit" in out[-1] and "(lead rouge1 0." in out[-1]
