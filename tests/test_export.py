"""`digest export` and the archive's download links: BibTeX a real parser reads back field by field,
RIS line by line, CSL JSON against its shape; every export (and a Zotero export) works as a `list:` source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import bibtexparser
import jsonschema
import pytest
from bibtexparser.middlewares import SeparateCoAuthors, SplitNameParts
from click.testing import CliRunner
from factories import command_group, make_generation, make_issue

from digest.archive.site import build_archive
from digest.cli.export import FORMAT_NAMES, register
from digest.errors import DigestError, NotFoundError
from digest.export import FORMATS, bibtex_escape, export_issue, references, split_name, to_bibtex, to_csl_json, to_ris
from digest.records import Issue, IssueEntry, Paper
from digest.sources.reading_list import papers_from_text
from digest.sources.registry import fetch_source

CLOSED_PORT_API = "http://127.0.0.1:9/api/query"  # discard port: the list: source keeps its IDs, with a warning

# Titles that break naive exporters: braces (balanced or not), LaTeX specials, LaTeX-looking text, an
# attempt to close the entry and start another, non-ASCII.
HOSTILE = [
    ("{GPT}-4 is {not} all you need", ["Ada Lovelace", "Taro Yamada"]),
    ("Unbalanced } brace, and { another {", ["Ada Lovelace", "Grace Hopper"]),
    ("100% accuracy? 50 % of the time", ["Ludwig van Beethoven", "José García Jr."]),
    ("Q&A & R&D: retrieval", ["Research and Development Team", "Plato"]),
    ("$O(n^2)$ attention with \\alpha and \\textbf{bold} \\cite{x}", ["Hopper, Grace", "Ada Lovelace"]),
    ("Tilde ~ caret ^ hash #1 under_score and back\\slash\\", ["Alan Turing"]),
    ("大規模言語モデルの要約: grounded summaries", ["山田 太郎", "佐藤 花子", "Hanako Sato"]),
    ('@misc{injected, title = {pwned}} "quoted" <b>html</b>', ["Émilie du Châtelet"]),
    ("Grounded summaries of long documents", ["Ada Lovelace", "Charles Babbage"]),
    ("Grounded summaries, again", ["Ada Lovelace"]),
]


def hostile_issue() -> Issue:
    """An issue of the ten hostile papers; fixed dates, one of them in a journal with a DOI."""
    issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en", model="test-model",
                  created="2026-11-16T08:00:00+00:00")
    for i, (title, authors) in enumerate(HOSTILE):
        aid = f"2611.{20000 + i:05d}"
        p = Paper(key=aid, arxiv_id=aid, version=1 + i % 3, title=title, authors=authors,
                  abstract=f"We study {title} in\n  two lines; 10% better & {{braced}}.",
                  categories=["cs.CL"], primary_category="cs.CL" if i != 3 else "math.GT",
                  published=f"2026-11-{10 + i:02d}T17:59:59Z", updated="2026-11-21T00:00:00Z",
                  abs_url=f"https://export.arxiv.org/abs/{aid}")
        if i == 2:
            p.doi, p.journal_ref = "10.1000/x_y%z", "J. Hostile Res. 1 (2026) 1-10"
        g = make_generation(p)
        issue.entries.append(IssueEntry(paper=p, generation=g, position=i + 1))
    return issue


# The escapes docs/export.md promises, written out independently of digest.export to decode its output.
UNESCAPE = [("\\textbackslash{}", "\\"), ("\\textbraceleft{}", "{"), ("\\textbraceright{}", "}"), ("\\%", "%"),
            ("\\&", "&"), ("\\$", "$"), ("\\#", "#"), ("\\_", "_"), ("\\textasciitilde{}", "~"),
            ("\\textasciicircum{}", "^")]


def latex_decode(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        for esc, char in UNESCAPE:
            if text.startswith(esc, i):
                out.append(char)
                i += len(esc)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def one_line(text: str) -> str:
    return " ".join(text.split())


def unbrace(part: str) -> str:
    return part[1:-1] if part.startswith("{") and part.endswith("}") else part


# ---- BibTeX ----------------------------------------------------------------------------------------

def test_bibtex_parses_and_every_field_round_trips():
    issue = hostile_issue()
    text = to_bibtex(issue)
    lib = bibtexparser.parse_string(text, append_middleware=[SeparateCoAuthors(), SplitNameParts()])
    assert lib.failed_blocks == []
    assert len(lib.entries) == 10
    keys = [e.key for e in lib.entries]
    assert len(set(keys)) == 10
    assert keys[0] == "lovelace2026gpt" and keys[8] == "lovelace2026grounded" and keys[9] == "lovelace2026groundeda"
    for e, entry in zip(lib.entries, issue.entries, strict=True):
        p = entry.paper
        f = {name: e[name] for name in e.fields_dict}
        assert e.entry_type == ("article" if p.journal_ref else "misc")
        assert latex_decode(f["title"]) == p.title
        assert latex_decode(f["abstract"]) == one_line(p.abstract)
        assert latex_decode(f["annote"]) == one_line(entry.generation.tldr)
        assert f["eprint"] == p.arxiv_id and f["archivePrefix"] == "arXiv" and f["primaryClass"] == p.primary_category
        assert f["version"] == str(p.version)
        assert f["url"] == f"https://arxiv.org/abs/{p.arxiv_id}v{p.version}"
        assert f["year"] == "2026" and f["month"] == "nov" and f["date"] == p.published[:10]
        assert f.get("doi") == p.doi
        assert ("journal" in f) == bool(p.journal_ref)
        names = f["author"]
        assert len(names) == len(p.authors), f"{p.authors} split wrongly: {names}"
        for parsed, original in zip(names, p.authors, strict=True):
            parts = [" ".join(parsed.first), " ".join(parsed.von), " ".join(parsed.last), " ".join(parsed.jr)]
            rebuilt = latex_decode(" ".join(unbrace(x) for x in parts if x))
            if "," in original:  # written "Family, Given"
                family, given = (x.strip() for x in original.split(","))
                assert rebuilt == f"{given} {family}"
            else:
                assert rebuilt == original
    # Non-ASCII stays UTF-8 (biblatex and Zotero read it), never LaTeX accents.
    assert "大規模言語モデル" in text and "Châtelet" in text and "{山田 太郎}" in text


def test_bibtex_escapes_each_special_and_keeps_braces_balanced():
    for char in "{}%&$#_~^\\":
        escaped = bibtex_escape(f"a{char}b")
        assert escaped != f"a{char}b" and latex_decode(escaped) == f"a{char}b"
        # BibTeX counts every brace, escaped or not: the value must balance on its own.
        depth = 0
        for c in escaped:
            depth += {"{": 1, "}": -1}.get(c, 0)
            assert depth >= 0
        assert depth == 0
    assert bibtex_escape("Über  naïve\n  ÆSIR") == "Über naïve ÆSIR"


def test_bibtex_entry_has_the_arxiv_form():
    text = to_bibtex(hostile_issue())
    entry = text.split("\n\n")[2]  # after the comment line: the second paper, a @misc
    assert entry.startswith("@misc{lovelace2026unbalanced,\n")
    assert "  eprint = {2611.20001},\n  archivePrefix = {arXiv},\n  primaryClass = {cs.CL},\n" in entry
    assert "  author = {Lovelace, Ada and Hopper, Grace},\n" in entry


def test_a_name_holding_and_stays_one_author():
    # BibTeX splits an author list on every top-level ' and ': an organisation whose name holds one is
    # written braced whole, as a literal, so a reader keeps it one author and does not sort it under "Research".
    issue = hostile_issue()
    p = issue.entries[0].paper
    p.authors = ["Barnes and Noble Research", "{Research and Development Lab}", "Ada Lovelace"]
    text = to_bibtex(issue)
    assert "  author = {{Barnes and Noble Research} and {Research and Development Lab} and Lovelace, Ada},\n" in text
    lib = bibtexparser.parse_string(text, append_middleware=[SeparateCoAuthors(), SplitNameParts()])
    names = lib.entries[0]["author"]
    assert [" ".join(unbrace(x) for x in n.last) for n in names] == [
        "Barnes and Noble Research", "Research and Development Lab", "Lovelace"]
    assert split_name("{Barnes and Noble}").literal == "Barnes and Noble"


def test_names_are_split_sensibly():
    assert split_name("Ada Lovelace").__dict__ == {"family": "Lovelace", "given": "Ada", "suffix": "", "literal": ""}
    assert (split_name("Ludwig van Beethoven").family, split_name("Ludwig van Beethoven").given) == \
        ("van Beethoven", "Ludwig")
    assert (split_name("Hopper, Grace").family, split_name("Hopper, Grace").given) == ("Hopper", "Grace")
    assert split_name("José García Jr.").suffix == "Jr." and split_name("José García Jr.").family == "García"
    assert split_name("Mary Ann  Smith\n").given == "Mary Ann"
    for literal in ("Plato", "山田 太郎", "김민준", "ATLAS Collaboration"):
        assert split_name(literal).literal == literal


def test_citation_keys_fall_back_for_non_latin_names_and_missing_dates():
    issue = hostile_issue()
    issue.entries[6].paper.published = issue.entries[6].paper.updated = None
    refs = references(issue)
    assert refs[6].key == "anongrounded" and refs[6].date == ()
    assert "year" not in to_bibtex(issue).split("\n\n")[7]


# ---- RIS -------------------------------------------------------------------------------------------

def test_ris_lines_records_and_tags():
    issue = hostile_issue()
    text = to_ris(issue)
    records = [r for r in text.split("\n\n") if r.strip()]
    assert len(records) == 10
    for rec, entry in zip(records, issue.entries, strict=True):
        lines = rec.rstrip("\n").split("\n")
        for line in lines:
            assert re.match(r"^[A-Z][A-Z0-9]  - ", line), line
        p = entry.paper
        assert lines[0] == ("TY  - JOUR" if p.journal_ref else "TY  - GEN") and lines[-1] == "ER  - "
        tags = {}
        for line in lines:
            tags.setdefault(line[:2], []).append(line[6:])
        assert tags["TI"] == [p.title]
        assert len(tags["AU"]) == len(p.authors)
        assert tags["PY"] == ["2026"] and tags["DA"] == [p.published[:10].replace("-", "/") + "/"]
        assert tags["AN"] == [f"arXiv:{p.arxiv_id}v{p.version}"] and tags["PB"] == ["arXiv"]
        assert tags["UR"] == [f"https://arxiv.org/abs/{p.arxiv_id}v{p.version}"]
        assert tags["AB"] == [one_line(p.abstract)] and tags["N1"] == [one_line(entry.generation.tldr)]
        assert tags.get("DO") == ([p.doi] if p.doi else None)
        assert tags.get("JO") == ([p.journal_ref] if p.journal_ref else None)
    assert "AU  - van Beethoven, Ludwig\nAU  - García, José, Jr.\n" in text
    assert "AU  - 山田 太郎\n" in text


# ---- CSL JSON --------------------------------------------------------------------------------------

NAME = {"oneOf": [
    {"type": "object", "required": ["family", "given"], "additionalProperties": False,
     "properties": {"family": {"type": "string", "minLength": 1}, "given": {"type": "string", "minLength": 1},
                    "suffix": {"type": "string"}}},
    {"type": "object", "required": ["literal"], "additionalProperties": False,
     "properties": {"literal": {"type": "string", "minLength": 1}}},
]}
CSL_ITEMS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "type", "title", "author", "issued", "URL", "number", "publisher", "abstract", "note"],
        "properties": {
            "id": {"type": "string"}, "type": {"enum": ["article", "article-journal"]}, "title": {"type": "string"},
            "author": {"type": "array", "items": NAME, "minItems": 1},
            "issued": {"type": "object", "required": ["date-parts"], "properties": {"date-parts": {
                "type": "array", "minItems": 1, "maxItems": 1,
                "items": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "integer"}}}}},
            "URL": {"type": "string", "pattern": "^https://"}, "DOI": {"type": "string"},
            "number": {"type": "string"}, "publisher": {"const": "arXiv"}, "version": {"type": "string"},
            "container-title": {"type": "string"}, "keyword": {"type": "string"},
            "abstract": {"type": "string"}, "note": {"type": "string"},
        },
        "additionalProperties": False,
    },
}


def test_csl_json_has_the_shape_and_values():
    issue = hostile_issue()
    items = json.loads(to_csl_json(issue))
    jsonschema.validate(items, CSL_ITEMS)
    assert [i["id"] for i in items] == [r.key for r in references(issue)]
    for item, entry in zip(items, issue.entries, strict=True):
        p = entry.paper
        assert item["type"] == ("article-journal" if p.journal_ref else "article")
        assert item["title"] == p.title and item["number"] == p.arxiv_id and item["version"] == str(p.version)
        assert item["issued"] == {"date-parts": [[2026, 11, int(p.published[8:10])]]}
        assert item["note"] == one_line(entry.generation.tldr) and item.get("DOI") == p.doi
    assert items[0]["author"] == [{"family": "Lovelace", "given": "Ada"}, {"family": "Yamada", "given": "Taro"}]
    assert items[6]["author"][:2] == [{"literal": "山田 太郎"}, {"literal": "佐藤 花子"}]
    assert items[2]["container-title"] == "J. Hostile Res. 1 (2026) 1-10"


# ---- back in as a list: source ----------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_every_export_is_a_list_source_of_exactly_its_papers(fmt, config, store, tmp_path):
    issue = hostile_issue()
    expected = [(e.paper.arxiv_id, e.paper.version) for e in issue.entries]
    text = export_issue(issue, fmt)
    assert [(p.arxiv_id, p.version) for p in papers_from_text(text, "list:x", config)] == expected
    path = tmp_path / f"issue.{FORMATS[fmt][0]}"
    path.write_text(text, encoding="utf-8")
    config.arxiv.api_url = CLOSED_PORT_API
    result = fetch_source(f"list:{path}", config, store)
    assert [(p.arxiv_id, p.version) for p in result.papers] == expected


# What Zotero 7 writes for File > Export (BibTeX, with Better BibTeX for the second entry): DOIs that
# contain the arXiv ID after a dot, notes, local PDF attachments and a non-arXiv journal paper.
ZOTERO_BIB = r"""
@misc{vaswani_attention_2023,
	title = {Attention {Is} {All} {You} {Need}},
	url = {http://arxiv.org/abs/1706.03762},
	doi = {10.48550/arXiv.1706.03762},
	abstract = {The dominant sequence transduction models are based on complex recurrent networks.},
	urldate = {2025-01-15},
	publisher = {arXiv},
	author = {Vaswani, Ashish and Shazeer, Noam and Parmar, Niki},
	month = aug,
	year = {2023},
	note = {arXiv:1706.03762 [cs]},
	keywords = {Computer Science - Computation and Language, Computer Science - Machine Learning},
	file = {Preprint PDF:/home/me/Zotero/storage/9XK2P3QZ/Vaswani et al. - 2023 - Attention Is All You Need.pdf:application/pdf;Snapshot:/home/me/Zotero/storage/7TQW8R2M/1706.html:text/html},
}

@online{lewisRetrievalAugmentedGenerationKnowledgeIntensive2021,
  title = {Retrieval-{{Augmented Generation}} for {{Knowledge-Intensive NLP Tasks}}},
  author = {Lewis, Patrick and Perez, Ethan and Piktus, Aleksandra},
  date = {2021-04-12},
  eprint = {2005.11401},
  eprinttype = {arXiv},
  archiveprefix = {arXiv},
  primaryclass = {cs},
  url = {http://arxiv.org/abs/2005.11401v4},
  urldate = {2025-02-01},
  pubstate = {prepublished},
}

@article{maldacena_large_1999,
	title = {The {Large} {N} {Limit} of {Superconformal} {Field} {Theories} and {Supergravity}},
	volume = {38},
	url = {http://arxiv.org/abs/hep-th/9711200},
	doi = {10.1023/A:1026654312961},
	journal = {International Journal of Theoretical Physics},
	author = {Maldacena, Juan},
	year = {1999},
	pages = {1113--1133},
	eprint = {hep-th/9711200},
	archivePrefix = {arXiv},
}

@inproceedings{smith_acl_2023,
	address = {Toronto, Canada},
	title = {A {Paper} {Only} in the {ACL} {Anthology}},
	url = {https://aclanthology.org/2023.acl-long.1},
	doi = {10.18653/v1/2023.acl-long.1},
	booktitle = {Proceedings of the 61st {Annual} {Meeting} of the {ACL}},
	author = {Smith, Jane},
	year = {2023},
	pages = {1--12},
}
"""

ZOTERO_CSL = [
    {"id": "http://zotero.org/users/1234567/items/9XK2P3QZ", "type": "article",
     "title": "Attention Is All You Need", "publisher": "arXiv", "number": "arXiv:1706.03762",
     "DOI": "10.48550/arXiv.1706.03762", "URL": "http://arxiv.org/abs/1706.03762", "note": "arXiv:1706.03762 [cs]",
     "author": [{"family": "Vaswani", "given": "Ashish"}], "issued": {"date-parts": [["2023", 8, 1]]}},
    {"id": "http://zotero.org/users/1234567/items/Q2W3E4R5", "type": "article-journal",
     "title": "A Paper Only in the ACL Anthology", "DOI": "10.18653/v1/2023.acl-long.1",
     "URL": "https://aclanthology.org/2023.acl-long.1", "author": [{"family": "Smith", "given": "Jane"}]},
]


def test_a_zotero_export_works_as_the_liked_list(config, store, tmp_path):
    bib = tmp_path / "liked.bib"
    bib.write_text(ZOTERO_BIB, encoding="utf-8")
    found = papers_from_text(ZOTERO_BIB, "list:liked.bib", config)
    assert [(p.arxiv_id, p.version) for p in found] == [("1706.03762", None), ("2005.11401", 4),
                                                        ("hep-th/9711200", None)]
    assert bibtexparser.parse_string(ZOTERO_BIB).failed_blocks == []  # the fixture is real BibTeX
    csl = json.dumps(ZOTERO_CSL, indent=2)
    assert [p.arxiv_id for p in papers_from_text(csl, "list:liked.json", config)] == ["1706.03762"]
    # As configured: selection.liked = ["list:liked.bib"] is read through fetch_source.
    config.arxiv.api_url = CLOSED_PORT_API
    config.selection.liked = [f"list:{bib}"]
    assert [p.key for p in fetch_source(config.selection.liked[0], config, store).papers] == \
        ["1706.03762", "2005.11401", "hep-th/9711200"]


# ---- non-arXiv papers, formats, the CLI, the site -----------------------------------------------------

def test_a_paper_without_arxiv_id_exports_by_its_url():
    issue = hostile_issue()
    url = "https://reports.example.org/files/tr-42.pdf"
    issue.entries = [IssueEntry(paper=Paper(key="url:abc", title="Tech report", abs_url=url, pdf_url=url),
                                generation=None, position=1)]
    bib = bibtexparser.parse_string(to_bibtex(issue))
    assert bib.failed_blocks == [] and bib.entries[0].key == "anontech"
    assert {f.key for f in bib.entries[0].fields} == {"title", "url"}
    ris = to_ris(issue)
    assert "AN  -" not in ris and f"UR  - {url}\n" in ris
    (item,) = json.loads(to_csl_json(issue))
    assert item == {"id": "anontech", "type": "article", "title": "Tech report", "author": [], "URL": url}


def test_unknown_format_is_a_digest_error():
    with pytest.raises(DigestError, match="unknown export format") as e:
        export_issue(hostile_issue(), "endnote")
    assert "bibtex" in e.value.hint
    assert tuple(FORMATS) == FORMAT_NAMES  # the CLI's choices, spelled out for a fast --help



def test_cli_exports_the_newest_issue_to_stdout_or_a_file(config, store, tmp_path):
    make_issue(store, week=1, n_papers=2)
    newest = make_issue(store, week=0, n_papers=3)
    cli = command_group(config, store, register)
    runner = CliRunner()
    r = runner.invoke(cli, ["export"])
    assert r.exit_code == 0, r.output
    assert r.stdout == export_issue(newest, "bibtex") and "2611.10002" in r.stdout
    out = tmp_path / "w46.ris"
    r = runner.invoke(cli, ["export", "2026-W46", "--format", "ris", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8") == export_issue(store.load_issue("2026-W46"), "ris")
    assert "Wrote 2 papers of 2026-W46" in r.stderr
    r = runner.invoke(cli, ["export", "-f", "csljson"])
    assert json.loads(r.stdout)[0]["number"] == "2611.10000"
    r = runner.invoke(cli, ["export", "-f", "mods"])
    assert r.exit_code == 2
    r = runner.invoke(cli, ["export", "2019-W01"])
    assert isinstance(r.exception, NotFoundError)


def test_archive_writes_and_links_the_exports(config, store):
    issue = make_issue(store, n_papers=2)
    result = build_archive(config, store)
    issues_dir = result.site_dir / "issues"
    html = (issues_dir / f"{issue.id}.html").read_text(encoding="utf-8")
    for fmt, (suffix, _) in FORMATS.items():
        path = issues_dir / f"{issue.id}.{suffix}"
        assert path.read_text(encoding="utf-8") == export_issue(issue, fmt)
        assert f'href="{issue.id}.{suffix}" download' in html
    again = build_archive(config, store)
    assert again.written == 0 and again.removed == 0
    # A stale export (of an issue no longer in the store) goes, like a stale page.
    stale = issues_dir / "2019-W01.bib"
    stale.write_text("@misc{x,}\n", encoding="utf-8")
    assert build_archive(config, store).removed == 1 and not stale.exists()


def test_docs_name_every_format():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "export.md").read_text(encoding="utf-8")
    for name in ("BibTeX", "RIS", "CSL JSON", "Zotero", "JabRef", "Mendeley", "selection.liked", "list:"):
        assert name in doc
