"""Subscriber records: validation, statuses, tokens, double opt-in, CSV import/export."""

from __future__ import annotations

import io

import pytest

from digest.errors import DigestError, NotFoundError
from digest.mail.subscribers import (
    add_subscriber,
    confirm_subscription,
    export_csv,
    find_by_token,
    get_subscriber,
    import_csv,
    list_subscribers,
    normalize_email,
    remove_subscriber,
    request_subscription,
    unsubscribe,
)


@pytest.mark.parametrize("bad", ["", "plain", "a@", "@example.org", "a b@example.org", "a@exa mple.org",
                                 "a@@example.org", "a@example..org", "a@example", "a@-example.org"])
def test_invalid_addresses_are_rejected(store, bad):
    with pytest.raises(DigestError) as e:
        add_subscriber(store, bad)
    assert "invalid email address" in str(e.value)
    assert list_subscribers(store) == []


def test_normalization_keeps_one_record_per_address(store):
    assert normalize_email("  Ada@Example.ORG ") == "Ada@example.org"
    a, created = add_subscriber(store, "Ada@Example.ORG", "Ada")
    b, created2 = add_subscriber(store, "ada@example.org")
    assert created and not created2 and a.id == b.id
    assert b.name == "Ada"  # an empty name does not erase the known one


def test_add_gives_active_subscriber_with_unguessable_token(store):
    subs = [add_subscriber(store, f"u{i}@example.org", "山田 花子" if i == 0 else "")[0] for i in range(20)]
    assert {s.status for s in subs} == {"active"}
    tokens = {s.token for s in subs}
    assert len(tokens) == 20 and all(len(t) >= 43 for t in tokens)
    assert get_subscriber(store, "U0@example.org").name == "山田 花子"


def test_names_cannot_carry_header_injection(store):
    sub, _ = add_subscriber(store, "eve@example.org", "Eve\r\nBcc: victim@example.org")
    assert "\n" not in sub.name and "\r" not in sub.name
    assert sub.name == "Eve Bcc: victim@example.org"


def test_remove_keeps_record_and_add_does_not_undo_unsubscription(store):
    add_subscriber(store, "bob@example.org")
    assert remove_subscriber(store, "BOB@example.org").status == "unsubscribed"
    sub, created = add_subscriber(store, "bob@example.org")
    assert not created and sub.status == "unsubscribed"
    sub, _ = add_subscriber(store, "bob@example.org", reactivate=True)
    assert sub.status == "active"
    remove_subscriber(store, "bob@example.org", purge=True)
    assert get_subscriber(store, "bob@example.org") is None
    with pytest.raises(NotFoundError):
        remove_subscriber(store, "bob@example.org")


def test_unsubscribe_by_token_is_idempotent_and_forged_tokens_do_nothing(store):
    sub, _ = add_subscriber(store, "carol@example.org")
    other, _ = add_subscriber(store, "dave@example.org")
    assert unsubscribe(store, "A" * 43) is None
    assert unsubscribe(store, sub.token[:-1]) is None
    assert unsubscribe(store, sub.token + "x") is None
    assert unsubscribe(store, "' OR 1=1 --") is None
    assert unsubscribe(store, "") is None
    assert {s.status for s in list_subscribers(store)} == {"active"}
    first = unsubscribe(store, sub.token)
    again = unsubscribe(store, sub.token)
    assert first.status == again.status == "unsubscribed"
    assert first.unsubscribed == again.unsubscribed
    assert get_subscriber(store, "dave@example.org").status == "active"
    assert find_by_token(store, other.token).email == "dave@example.org"


def test_double_opt_in(store):
    sub, token = request_subscription(store, "erin@example.org", "Erin")
    assert sub.status == "pending" and token and token != sub.token
    assert list_subscribers(store, "active") == []
    # Asking again replaces the confirmation token: only the newest link works.
    sub2, token2 = request_subscription(store, "erin@example.org")
    assert token2 != token and confirm_subscription(store, token) is None
    confirmed = confirm_subscription(store, token2)
    assert confirmed.status == "active" and confirmed.confirmed
    assert confirm_subscription(store, token2).status == "active"  # idempotent
    # An active address gets no new confirmation mail.
    assert request_subscription(store, "erin@example.org")[1] is None
    # After unsubscribing, the old confirmation link no longer resubscribes.
    unsubscribe(store, confirmed.token)
    assert confirm_subscription(store, token2) is None
    assert get_subscriber(store, "erin@example.org").status == "unsubscribed"
    # ...but the person may opt in again themselves.
    _, token3 = request_subscription(store, "erin@example.org")
    assert confirm_subscription(store, token3).status == "active"


def test_import_and_export_csv(store, tmp_path):
    add_subscriber(store, "gone@example.org")
    remove_subscriber(store, "gone@example.org")
    f = tmp_path / "list.csv"
    f.write_text("\ufeffname,email\nAda,ada@example.org\n山田 花子,hanako@example.jp\n\n# a comment\n"
                 ",not-an-address\nAda again,ADA@example.org\nGone,gone@example.org\n", encoding="utf-8")
    r = import_csv(store, f)
    assert r.added == ["ada@example.org", "hanako@example.jp"]
    assert r.existing == ["ada@example.org", "gone@example.org"]
    assert [(line, text) for line, text, _ in r.invalid] == [(6, "not-an-address")]
    assert get_subscriber(store, "gone@example.org").status == "unsubscribed"
    # No header: email first, then name.
    g = tmp_path / "bare.csv"
    g.write_text("zed@example.org,Zed\n", encoding="utf-8")
    assert import_csv(store, g).added == ["zed@example.org"]
    buf = io.StringIO()
    assert export_csv(store, buf) == 4
    lines = buf.getvalue().splitlines()
    assert lines[0] == "email,name,status,created,confirmed,unsubscribed,keywords,authors,categories,max_papers"
    assert any(line.startswith("hanako@example.jp,山田 花子,active,") for line in lines)
    assert any(line.startswith("gone@example.org,,unsubscribed,") for line in lines)
    with pytest.raises(DigestError, match="cannot read .*missing.csv"):
        import_csv(store, tmp_path / "missing.csv")


def test_list_with_a_status_that_matches_none_says_so_and_how_many_there_are(tmp_path):
    from click.testing import CliRunner

    from digest.cli.main import cli

    cfg = tmp_path / "digest.toml"
    cfg.write_text(f'[store]\narchive_dir = "{tmp_path / "archive"}"\n', encoding="utf-8")
    runner = CliRunner()

    def listed(*args: str) -> str:
        r = runner.invoke(cli, ["--config", str(cfg), "subscribers", "list", *args], terminal_width=120)
        assert r.exit_code == 0, r.output
        return " ".join(r.output.split())

    assert listed() == "No subscribers yet."
    assert listed("--status", "active") == "No subscribers yet."
    for i in range(4):
        runner.invoke(cli, ["--config", str(cfg), "subscribers", "add", f"u{i}@example.org"])
    assert listed("--status", "unsubscribed") == "No unsubscribed subscribers (4 in all)."
    assert "4 active" in listed("--status", "active") and "u3@example.org" in listed()
