"""Labels of the rendered outputs per language; the model writes the content in that language."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "language_name": "English",
        "authors": "Authors",
        "published": "Published",
        "updated": "Updated",
        "url": "URL",
        "categories": "Categories",
        "summary": "Summary",
        "qa": "Q&A",
        "question": "Q",
        "answer": "A",
        "page": "p.",
        "pages": "pp.",
        "tldr_heading": "This week's papers",
        "intro": "{count} papers this week ({start} – {end}). Each answer cites the page it rests on "
                 "and quotes the paper; quotes are checked against the PDF text.",
        "unverified": "quote not found in the paper",
        "abstract_only": "Summarised from the abstract only: {reason}.",
        "updated_paper": "Updated: new version v{version}",
        "extractive_note": "Written without an LLM (the built-in extractive model): sentences and "
                           "passages are taken from the papers themselves.",
        "model_note": "Written by {model}.",
        "subject": "{title} {issue}: {count} papers",
        "read_online": "Read this issue online",
        "unsubscribe": "Unsubscribe",
        "issue": "Issue",
        "issues": "Issues",
        "search": "Search",
        "verified": "{n} of {total} answers verified",
    },
    "ja": {
        "language_name": "日本語",
        "authors": "著者",
        "published": "発行日",
        "updated": "最終更新日",
        "url": "URL",
        "categories": "カテゴリ",
        "summary": "概要",
        "qa": "Q&A",
        "question": "Q",
        "answer": "A",
        "page": "p.",
        "pages": "pp.",
        "tldr_heading": "今週の論文",
        "intro": "今週の論文は{count}本です({start}〜{end})。各回答には根拠となるページと論文からの引用を付け、"
                 "引用はPDFの本文と照合しています。",
        "unverified": "引用が論文中に見つかりません",
        "abstract_only": "アブストラクトのみから要約しました: {reason}。",
        "updated_paper": "更新: 新しいバージョン v{version}",
        "extractive_note": "LLMを使わずに作成しました(組み込みの抽出型モデル): 文と引用は論文そのものから取っています。",
        "model_note": "{model} が作成しました。",
        "subject": "{title} {issue}: {count}本の論文",
        "read_online": "この号をウェブで読む",
        "unsubscribe": "配信停止",
        "issue": "号",
        "issues": "バックナンバー",
        "search": "検索",
        "verified": "{total}件中{n}件の回答を検証済み",
    },
}


# Labels of the email footer, the confirmation mail and the subscribe/unsubscribe pages (digest/web.py).
LABELS["en"].update({
    "subject_one": "{title} {issue}: 1 paper",
    "footer_reason": "You receive this email because you subscribed to {title}.",
    "confirm_subject": "Confirm your subscription to {title}",
    "confirm_body": "Someone (hopefully you) asked to receive {title} by email at {email}. "
                    "To confirm, open this link and press the button:",
    "confirm_ignore": "If you did not ask for this, ignore this email: nothing else will be sent to you.",
    "web_subscribe_heading": "Subscribe to {title}",
    "web_subscribe_text": "One email a week with the new papers, each summarised with page-cited Q&A.",
    "web_email": "Email address",
    "web_name": "Name (optional)",
    "web_subscribe_button": "Subscribe",
    "web_check_inbox": "Check your inbox. Unless this address is already subscribed, we sent it a "
                       "confirmation link; nothing else is sent until it is confirmed.",
    "web_invalid_email": "That does not look like an email address.",
    "web_confirm_heading": "Confirm your subscription",
    "web_confirm_button": "Confirm my subscription",
    "web_confirmed": "You are subscribed. The next issue will arrive by email.",
    "web_unsubscribe_question": "Stop receiving {title} by email?",
    "web_unsubscribe_button": "Unsubscribe",
    "web_unsubscribed": "You are unsubscribed and will receive no more emails from {title}.",
    "web_resubscribe": "Changed your mind? Subscribe again",
    "web_invalid_link": "This link is not valid. It may be mistyped, or replaced by a newer one.",
    "web_no_site": "The archive has not been built yet. Run `digest archive build` to create it.",
})
LABELS["ja"].update({
    "subject_one": "{title} {issue}: 1本の論文",
    "footer_reason": "{title}を購読登録されているため、このメールをお送りしています。",
    "confirm_subject": "{title}の購読登録の確認",
    "confirm_body": "{email} で{title}をメール購読するお申し込みがありました。"
                    "ご本人の場合は、次のリンクを開いてボタンを押してください:",
    "confirm_ignore": "お心当たりがない場合は、このメールを無視してください。これ以上メールは届きません。",
    "web_subscribe_heading": "{title}を購読する",
    "web_subscribe_text": "毎週1通、新着論文とページ引用付きのQ&Aをお届けします。",
    "web_email": "メールアドレス",
    "web_name": "お名前(任意)",
    "web_subscribe_button": "購読する",
    "web_check_inbox": "メールをご確認ください。このアドレスがまだ購読登録されていなければ、確認用リンクを送信しました。"
                       "確認されるまで、ほかのメールは送信しません。",
    "web_invalid_email": "メールアドレスの形式が正しくありません。",
    "web_confirm_heading": "購読登録の確認",
    "web_confirm_button": "購読登録を確定する",
    "web_confirmed": "購読登録が完了しました。次号からメールでお届けします。",
    "web_unsubscribe_question": "{title}のメール配信を停止しますか?",
    "web_unsubscribe_button": "配信を停止する",
    "web_unsubscribed": "配信を停止しました。{title}からのメールはもう届きません。",
    "web_resubscribe": "再度購読する",
    "web_invalid_link": "このリンクは無効です。入力に誤りがあるか、新しいリンクに置き換えられています。",
    "web_no_site": "アーカイブはまだ作成されていません。`digest archive build` を実行してください。",
})


def labels(language: str) -> dict[str, str]:
    """Labels for a language, falling back to English for any missing language or key."""
    base = dict(LABELS["en"])
    base.update(LABELS.get(language.split("-")[0].lower(), {}))
    return base
