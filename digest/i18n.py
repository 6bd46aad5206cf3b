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


def labels(language: str) -> dict[str, str]:
    """Labels for a language, falling back to English for any missing language or key."""
    base = dict(LABELS["en"])
    base.update(LABELS.get(language.split("-")[0].lower(), {}))
    return base
