"""A reader's preferences page in `digest serve`, over real HTTP: the signed link from the email, GET and POST.

The page is reached only by the link each email carries; a forged, altered, moved (another reader's)
or stale token is the same 404, and nothing is stored for it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from factories import make_issue
from smtp_helpers import Inbox, smtp_server
from web_helpers import web_server

from digest.feedback import feedback_secret, make_token
from digest.mail.delivery import send_issue
from digest.mail.message import Recipient, render_parts
from digest.mail.preferences import preferences_token, preferences_url
from digest.mail.subscribers import add_subscriber, get_subscriber, remove_subscriber
from digest.mail.web import MAX_BODY
from digest.readers import ReaderInterests, get_interests, reader_issue, set_interests

BIBTEX = """@article{doe2026,
  title = {Dense {Retrieval} for Long Documents},
  author = {Doe, Jane and Roe, Richard},
  abstract = {We retrieve passages from long documents with a dense encoder.},
  eprint = {2611.10100},
  archivePrefix = {arXiv},
}
@inproceedings{kim2025,
  title = {Speech Recognition at Scale},
  author = {Kim, Min},
  year = {2025},
}
"""


@pytest.fixture
def client(config, store):
    with web_server(config, store) as base, httpx.Client(base_url=base, timeout=60) as c:
        config.web.public_url = base
        yield c


def _path(store, sub) -> str:
    return f"/preferences/{preferences_token(feedback_secret(store), sub.id, sub.email)}"


def _form(page: str) -> dict[str, str]:
    """The values the page's form would send back unchanged (hidden token, text fields, textareas)."""
    values = dict(re.findall(r'<input[^>]*name="(token|categories|max_papers)"[^>]*value="([^"]*)"', page))
    values.update(re.findall(r'<textarea[^>]*name="(\w+)"[^>]*>([^<]*)</textarea>', page))
    return {k: v.replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", '"').replace("&lt;", "<")
            .replace("&gt;", ">") for k, v in values.items()}


def test_get_shows_and_post_changes_a_readers_interests(client, store, config):
    sub, _ = add_subscriber(store, "reader@example.org")
    set_interests(store, sub.id, ReaderInterests(keywords=["retrieval"], authors=["Jane Doe"], categories=["cs.IR"],
                                                 library=[{"title": "A paper", "authors": [], "abstract": ""}],
                                                 max_papers=None))
    path = _path(store, sub)
    page = client.get(path)
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    form = _form(page.text)
    assert form["keywords"] == "retrieval" and form["authors"] == "Jane Doe" and form["categories"] == "cs.IR"
    assert form["max_papers"] == "" and f'placeholder="{config.selection.max_papers}"' in page.text
    assert "1 paper from your library" in page.text and 'name="clear_library"' in page.text

    form.update(keywords="speech recognition, retrieval\nRetrieval\n<b>graphs</b>、検索", authors="Doe, Jane\nMin Kim",
                categories="cs.cl, cs.SD　quant-ph", max_papers="5")
    r = client.post(path, data=form)
    # Post/Redirect/Get: a reload of the page that says "Saved" sends nothing again.
    assert r.status_code == 303 and r.headers["location"] == f"{form['token']}?saved=1"
    r = client.get(f"{path}?saved=1")  # where the relative Location leads
    assert r.status_code == 200 and "Saved" in r.text and "Saved" not in client.get(path).text
    got = get_interests(store, sub.id)
    # Commas part keywords, not authors ("Doe, Jane" is one name); a repeat in another case counts once.
    assert got.keywords == ["speech recognition", "retrieval", "<b>graphs</b>", "検索"]
    assert got.authors == ["Doe, Jane", "Min Kim"] and got.max_papers == 5
    assert got.categories == ["cs.CL", "cs.SD", "quant-ph"]  # arXiv's spelling of a known code
    assert len(got.library) == 1  # no file chosen: the library stays
    assert "&lt;b&gt;graphs&lt;/b&gt;" in r.text and "<b>graphs" not in r.text  # shown back escaped
    # The page shows what was stored, and sending it back unchanged changes nothing.
    again = _form(client.get(path).text)
    assert again["max_papers"] == "5" and again["keywords"].splitlines() == got.keywords
    assert client.post(path, data=again, follow_redirects=True).status_code == 200 and get_interests(store, sub.id) == got

    # A library file replaces the library; the checkbox removes it; empty fields mean the editor's issue.
    r = client.post(path, data=again, files={"library": ("my library.bib", BIBTEX.encode(), "application/x-bibtex")},
                    follow_redirects=True)
    assert r.status_code == 200 and "2 papers from your library" in r.text
    titles = [it["title"] for it in get_interests(store, sub.id).library]
    assert titles == ["Dense Retrieval for Long Documents", "Speech Recognition at Scale"]
    cleared = {"token": form["token"], "keywords": "", "authors": "", "categories": "", "max_papers": "",
               "clear_library": "1"}
    assert client.post(path, data=cleared, follow_redirects=True).status_code == 200
    assert get_interests(store, sub.id).is_empty() and get_interests(store, sub.id).max_papers is None
    assert "No library yet" in client.get(path).text


def test_bad_values_are_refused_with_the_form_kept(client, store):
    sub, _ = add_subscriber(store, "reader@example.org")
    set_interests(store, sub.id, ReaderInterests(keywords=["kept"]))
    path = _path(store, sub)
    token = path.rsplit("/", 1)[1]
    base = {"token": token, "keywords": "new words", "authors": "", "categories": "", "max_papers": ""}
    for field, value, said in (("categories", "cs.CL not a category!", "is not an arXiv category"),
                               ("max_papers", "0", "a whole number from 1 to"),
                               ("max_papers", "９", "a whole number from 1 to"),
                               ("keywords", "\n".join(f"k{i}" for i in range(201)), "at most 200 entries"),
                               ("authors", "x" * 201, "at most 200 characters")):
        r = client.post(path, data={**base, field: value})
        assert r.status_code == 400 and said in r.text, (field, value)
        assert "new words" in r.text or field == "keywords"  # what the reader typed is shown again
    r = client.post(path, data=base, files={"library": ("notes.txt", b"just some words", "text/plain")})
    assert r.status_code == 400 and "No paper could be read" in r.text
    r = client.post(path, data=base, files={"library": ("huge.bib", b"@misc{" + b"x" * (3 * 1024 * 1024), "text/plain")})
    assert r.status_code == 413 and "larger than 2 MB" in r.text
    # Far past any form the app takes, the server refuses the body itself rather than buffer it.
    r = client.post(path, data=base, files={"library": ("huge.bib", b"x" * (MAX_BODY + 1), "text/plain")})
    assert r.status_code == 413 and "exceeds max_body" in r.text  # waitress's answer: the app never saw it
    assert get_interests(store, sub.id).keywords == ["kept"]  # nothing refused was stored


def test_forged_moved_and_stale_tokens_are_404_and_change_nothing(client, store):
    a, _ = add_subscriber(store, "a@example.org")
    b, _ = add_subscriber(store, "b@example.org")
    set_interests(store, b.id, ReaderInterests(keywords=["b's own"]))
    secret = feedback_secret(store)
    good = preferences_token(secret, a.id, a.email)
    sid, sig = good.split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    bad_tokens = {
        "forged": f"{a.id}." + "x" * 43,
        "altered": f"{sid}.{flipped}",
        "moved": f"{b.id}.{sig}",  # a's signature on b's id
        "other key": preferences_token(b"\0" * 32, b.id, b.email),
        "a vote token": make_token(secret, "2611.10000", 1, f"subscriber:{b.id}"),
        "not a token": "%27%20OR%201%3D1",
        "extra": good + "A",
    }
    for name, token in bad_tokens.items():
        get = client.get(f"/preferences/{token}")
        post = client.post(f"/preferences/{token}", data={"token": token, "keywords": "hijacked"})
        assert get.status_code == post.status_code == 404, name
        assert "not valid" in get.text and b.email not in get.text and a.email not in get.text
    assert get_interests(store, b.id).keywords == ["b's own"] and get_interests(store, a.id).is_empty()

    # The page's own token must come back in the form: a POST to the URL alone is not enough.
    assert client.post(f"/preferences/{good}", data={"keywords": "no token"}).status_code == 404
    other = preferences_token(secret, b.id, b.email)
    assert client.post(f"/preferences/{good}", data={"token": other, "keywords": "mixed"}).status_code == 404
    # A form sent from another site's page is refused even with the right token.
    r = client.post(f"/preferences/{good}", data={"token": good, "keywords": "csrf"},
                    headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert get_interests(store, a.id).is_empty()

    # Unsubscribed: the reader's own valid link is dead; a row id reused by someone else does not inherit it.
    assert client.get(f"/preferences/{good}").status_code == 200
    remove_subscriber(store, "a@example.org")
    assert client.get(f"/preferences/{good}").status_code == 404
    assert client.post(f"/preferences/{good}", data={"token": good, "keywords": "x"}).status_code == 404
    remove_subscriber(store, "a@example.org", purge=True)
    store.execute("INSERT INTO subscribers (id, email, name, status, token, created) VALUES (?,?,?,?,?,?)",
                  (a.id, "c@example.org", "", "active", "t" * 43, "2026-11-16T08:00:00+00:00"))
    assert client.get(f"/preferences/{good}").status_code == 404


def test_every_email_links_to_the_readers_own_page(config, store):
    """The link in a sent email opens that reader's page; a change there is what the store holds next."""
    config.mail.host, config.mail.security, config.mail.per_minute = "127.0.0.1", "none", 0
    make_issue(store)
    add_subscriber(store, "one@example.org")
    add_subscriber(store, "two@example.org")
    inbox = Inbox()
    with smtp_server(inbox) as smtp_port, web_server(config, store) as base:
        config.mail.port = smtp_port
        config.web.public_url = base
        send_issue(config, store)
        links = {}
        for m in inbox.messages:
            text = m.msg.get_body(("plain",)).get_content()
            html = m.msg.get_body(("html",)).get_content()
            url = re.search(r"Choose your papers: (\S+)", text).group(1)
            assert url.startswith(base + "/preferences/") and f'href="{url}"' in html
            links[m.rcpt_tos[0]] = url
        assert len(set(links.values())) == 2  # each reader their own
        with httpx.Client(timeout=60) as c:
            page = c.get(links["two@example.org"])
            assert page.status_code == 200 and "two@example.org" in page.text
            form = _form(page.text) | {"keywords": "retrieval", "max_papers": "1"}
            r = c.post(links["two@example.org"], data=form, follow_redirects=True)
            assert r.status_code == 200 and str(r.url) == links["two@example.org"] + "?saved=1"
        assert get_interests(store, get_subscriber(store, "two@example.org").id).keywords == ["retrieval"]
        assert get_interests(store, get_subscriber(store, "one@example.org").id).is_empty()

        # The next issue follows: two gets the one paper that matches, with why; one gets the editor's three.
        titles = ["Graph neural networks for molecules", "Speech recognition at scale",
                  "Dense retrieval for long documents"]
        make_issue(store, week=-1, titles=titles)
        before = len(inbox.messages)
        send_issue(config, store)
        bodies = {m.rcpt_tos[0]: m.msg.get_body(("plain",)).get_content() for m in inbox.messages[before:]}
    assert [t for t in titles if t in bodies["two@example.org"]] == [titles[2]]
    assert "matches 'retrieval'" in bodies["two@example.org"]  # the reason, under the paper
    assert [t for t in titles if t in bodies["one@example.org"]] == titles


def test_no_link_without_a_public_url_or_for_a_test_copy(config, store):
    sub, _ = add_subscriber(store, "reader@example.org")
    key = feedback_secret(store)
    rcpt = Recipient(sub.email, sub.name, sub.token, sub.id, key)
    assert preferences_url(config, rcpt) is None  # no web.public_url: no page to link to
    config.web.public_url = "https://digest.example.org/"
    assert preferences_url(config, rcpt) == f"https://digest.example.org/preferences/{preferences_token(key, sub.id, sub.email)}"
    assert preferences_url(config, Recipient("owner@example.org", vote_key=key)) is None  # a test copy
    issue = make_issue(store)
    text, html = render_parts(config, issue, None, None, preferences_url(config, rcpt))
    assert preferences_url(config, rcpt) in text and "Choose your papers" in html
    text, html = render_parts(config, issue, None)
    assert "/preferences/" not in text + html


def test_japanese_labels(store, config):
    config.output.language = "ja"
    with web_server(config, store) as base, httpx.Client(base_url=base, timeout=60) as c:
        sub, _ = add_subscriber(store, "hanako@example.jp")
        path = _path(store, sub)
        page = c.get(path)
        assert page.status_code == 200 and '<html lang="ja">' in page.text
        for label in ("キーワード", "フォローする著者", "arXivカテゴリ", "1号あたりの論文数", "設定を保存する"):
            assert label in page.text
        r = c.post(path, data=_form(page.text) | {"categories": "だめ"})
        assert r.status_code == 400 and "カテゴリコード" in r.text
        assert c.get("/preferences/1." + "x" * 43).status_code == 404


@pytest.mark.parametrize(("lang", "saved"), [("en", "Saved."), ("ja", "保存しました")])
@pytest.mark.parametrize("width", [1280, 375])
def test_page_fits_the_screen_and_saves_from_a_real_browser(config, store, tmp_path, width, lang, saved):
    """In headless Chromium: no sideways scrolling at a desktop and a phone width, no console error, and the
    form as a browser sends it (with its Origin and Sec-Fetch-Site headers) is accepted and stored.

    The screenshots go to $DIGEST_SCREENSHOTS (e.g. /work/screens) for a person to look at.
    """
    browser_test = pytest.importorskip("test_archive_browser")  # skips without websocket-client
    if browser_test.CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sub, _ = add_subscriber(store, "reader@example.org")
    set_interests(store, sub.id, ReaderInterests(keywords=["a rather long keyword phrase " * 4], authors=["Jane Doe"]))
    config.output.language = lang
    shots = Path(os.environ.get("DIGEST_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    browser = browser_test.Browser(tmp_path / "chromium-profile")
    try:
        with web_server(config, store) as base:
            browser.viewport(width, 900 if width > 500 else 812)
            browser.open(base + _path(store, sub))
            facts = browser.evaluate("({width: document.documentElement.scrollWidth,"
                                     " h1: document.querySelectorAll('h1').length})")
            assert facts["width"] <= width and facts["h1"] == 1
            browser.evaluate("document.getElementById('categories').value = 'cs.CL cs.IR'")
            browser.follow("document.querySelector('form button[type=submit]').click()")
            assert saved in browser.evaluate("document.body.innerText")
            browser.screenshot(shots / f"preferences-{lang}-{width}.png")
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
            assert browser.errors() == []
    finally:
        browser.close()
    assert get_interests(store, sub.id).categories == ["cs.CL", "cs.IR"]
    assert get_interests(store, sub.id).authors == ["Jane Doe"]


def test_the_next_issue_follows_what_the_reader_saved(client, store, config):
    """Interests saved through the link are what the reader's issue is chosen by; an untouched reader keeps the
    editor's issue."""
    issue = make_issue(store, titles=["Graph neural networks for molecules", "Speech recognition at scale",
                                      "Dense retrieval for long documents"])
    reader, _ = add_subscriber(store, "reader@example.org")
    other, _ = add_subscriber(store, "other@example.org")
    path = _path(store, reader)
    form = _form(client.get(path).text)
    assert client.post(path, data=form | {"keywords": "retrieval", "max_papers": "1"}).status_code == 303
    mine, why = reader_issue(store, issue, reader.id, config)
    key = issue.entries[2].paper.key
    assert [e.paper.key for e in mine.entries] == [key] and "retrieval" in why[key]
    assert reader_issue(store, issue, other.id, config)[0] is issue
    # Changed again: the next choice follows.
    assert client.post(path, data=form | {"keywords": "speech recognition", "max_papers": "2"}).status_code == 303
    mine, why = reader_issue(store, issue, reader.id, config)
    assert mine.entries[0].paper.key == issue.entries[1].paper.key and len(mine.entries) == 2
