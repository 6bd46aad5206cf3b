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
        "intro_one": "One paper this week ({start} – {end}). Each answer cites the page it rests on and "
                     "quotes the paper; quotes are checked against the PDF text.",
        "unverified": "quote not found in the paper",
        "support_not": "the quote does not support this answer",
        "support_partly": "the quote supports this answer only in part",
        "unsupported_count": ", {n} not supported by their quote",
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
        "excerpts": "excerpts from the paper, each with its page",
        # the archive site
        "site_papers_count": "{count} papers",
        "site_papers_count_one": "{count} paper",
        "site_all_issues": "All issues",
        "site_years": "Years",
        "site_appeared_in": "Appeared in",
        "site_generations": "Summaries by model",
        "site_shown_in": "shown in",
        "site_watched_authors": "Watched authors",
        "site_search_placeholder": "Words from titles, authors, summaries, answers",
        "site_search_needs_js": "Search runs in your browser and needs JavaScript.",
        "site_feed": "Atom feed",
        "site_older": "Older issue",
        "site_newer": "Newer issue",
        "site_pdf": "PDF",
        "site_abs": "arXiv page",
        "site_doi": "DOI",
        "site_abstract": "Abstract",
        "site_comment": "Comment",
        "site_journal": "Journal reference",
        "site_license": "License",
        "site_version": "Version",
        "site_no_summary": "No summary was written for this paper.",
        "site_all_summaries": "All summaries of this paper",
        "site_skip": "Skip to content",
        "site_first_issue": "first in",
        "site_markdown": "Markdown",
        "site_note": "Note",
        "site_other_models": "Also written by: {models}. Each paper page shows every version.",
        "site_quote": "Quote",
        "site_no_llm": "no LLM",
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
        "intro_one": "今週の論文は1本です({start}〜{end})。各回答には根拠となるページと論文からの引用を付け、"
                     "引用はPDFの本文と照合しています。",
        "unverified": "引用が論文中に見つかりません",
        "support_not": "引用はこの回答を裏付けていません",
        "support_partly": "引用はこの回答の一部しか裏付けていません",
        "unsupported_count": "、{n}件は引用の裏付けなし",
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
        "excerpts": "論文からの抜粋(ページ付き)",
        # the archive site
        "site_papers_count": "{count}本の論文",
        "site_papers_count_one": "{count}本の論文",
        "site_all_issues": "すべての号",
        "site_years": "年",
        "site_appeared_in": "掲載号",
        "site_generations": "モデル別の要約",
        "site_shown_in": "掲載:",
        "site_watched_authors": "注目の著者",
        "site_search_placeholder": "タイトル・著者・要約・回答の語句",
        "site_search_needs_js": "検索はブラウザ内で動作し、JavaScriptが必要です。",
        "site_feed": "Atomフィード",
        "site_older": "前の号",
        "site_newer": "次の号",
        "site_pdf": "PDF",
        "site_abs": "arXivのページ",
        "site_doi": "DOI",
        "site_abstract": "アブストラクト",
        "site_comment": "コメント",
        "site_journal": "掲載誌",
        "site_license": "ライセンス",
        "site_version": "バージョン",
        "site_no_summary": "この論文の要約はありません。",
        "site_all_summaries": "この論文のすべての要約",
        "site_skip": "本文へ移動",
        "site_first_issue": "初出",
        "site_markdown": "Markdown",
        "site_note": "注記",
        "site_other_models": "他のモデルによる要約: {models}。各論文のページにすべて掲載しています。",
        "site_quote": "引用",
        "site_no_llm": "LLM不使用",
    },
}


# Labels of the archive site's subscribe page, search and model-comparison reports (digest/archive).
LABELS["en"].update({
    "site_subscribe": "Subscribe",
    "site_subscribe_feed": "Follow new issues in any feed reader with the {feed}.",
    "site_subscribe_email_elsewhere": "Email subscription is not offered on this copy of the archive.",
    "site_search_none": "No paper matches “{query}”. Try fewer words, or the start of a word.",
    "site_for_version": "written for v{version} of the paper",
    "site_compare": "Model comparisons",
    "site_compare_link": "Compare the models: {models}",
    "site_compare_all": "All model comparisons",
    "site_compare_none": "No comparison yet. `digest compare ISSUE` writes one.",
    "cmp_title": "{issue}: {models}",
    "cmp_written": "Compared on {date}.",
    "cmp_issue_shows": "The issue shows {model}.",
    "cmp_per_model": "Per model",
    "cmp_papers": "Papers",
    "cmp_answers": "Answers",
    "cmp_verified_rate": "Verified quotes",
    "cmp_dropped": "Answers dropped",
    "cmp_calls": "LLM calls",
    "cmp_tokens": "Tokens in / cached / out",
    "cmp_cost": "Cost",
    "cmp_latency": "Time per paper",
    "cmp_chart": "Cost and verified-answer rate per model",
    "cmp_chart_cost": "Cost (USD)",
    "cmp_chart_rate": "Verified-answer rate",
    "cmp_agreement": "Agreement per paper, least agreeing first",
    "cmp_agreement_note": "ROUGE-L: overlap of the two summaries' wording (1 = the same). "
                          "Pages: overlap of the pages the answers cite (1 = the same pages).",
    "cmp_rouge": "ROUGE-L {a} vs {b}: {value}",
    "cmp_pages": "pages {a} vs {b}: {value}",
    "cmp_one_model": "only one model wrote about this paper",
    "cmp_not_generated": "not generated",
    "cmp_dropped_n": "{n} dropped",
    "cmp_reports": "Reports",
})
LABELS["ja"].update({
    "site_subscribe": "購読する",
    "site_subscribe_feed": "{feed}をフィードリーダーに登録すると、新しい号が届きます。",
    "site_subscribe_email_elsewhere": "このアーカイブではメール購読を受け付けていません。",
    "site_search_none": "「{query}」に一致する論文はありません。語句を減らすか、語の先頭だけで検索してください。",
    "site_for_version": "論文のv{version}に基づく",
    "site_compare": "モデル比較",
    "site_compare_link": "モデルを比較: {models}",
    "site_compare_all": "すべてのモデル比較",
    "site_compare_none": "比較はまだありません。`digest compare ISSUE` で作成できます。",
    "cmp_title": "{issue}: {models}",
    "cmp_written": "{date}に比較。",
    "cmp_issue_shows": "この号は{model}の要約を掲載しています。",
    "cmp_per_model": "モデル別",
    "cmp_papers": "論文",
    "cmp_answers": "回答",
    "cmp_verified_rate": "検証済みの引用",
    "cmp_dropped": "除外した回答",
    "cmp_calls": "LLM呼び出し",
    "cmp_tokens": "トークン 入力 / キャッシュ / 出力",
    "cmp_cost": "費用",
    "cmp_latency": "論文あたりの時間",
    "cmp_chart": "モデル別の費用と検証済み回答の割合",
    "cmp_chart_cost": "費用(USD)",
    "cmp_chart_rate": "検証済み回答の割合",
    "cmp_agreement": "論文ごとの一致度(一致の低い順)",
    "cmp_agreement_note": "ROUGE-L: 2つの要約の語の重なり(1 = 同一)。"
                          "ページ: 回答が引用するページの重なり(1 = 同じページ)。",
    "cmp_rouge": "ROUGE-L {a} 対 {b}: {value}",
    "cmp_pages": "ページ {a} 対 {b}: {value}",
    "cmp_one_model": "この論文について書いたモデルは1つだけです",
    "cmp_not_generated": "未生成",
    "cmp_dropped_n": "{n}件除外",
    "cmp_reports": "レポート",
})


# Labels of the email footer, the confirmation mail and the subscribe/unsubscribe pages (digest/mail/web.py).
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


# Labels of the email's compact edition, preheader, PDF links and thumbnails (digest/mail/message.py).
LABELS["en"].update({
    "mail_preheader": "{count}: {tldrs}",
    "mail_all_answers": "All {count} answers",
    "mail_answers_shown": "{shown} of {count} answers",
    "mail_pdf": "PDF",
    "mail_thumb_alt": "First page of paper {n}",
    "mail_et_al": "et al.",
    "mail_contents": "In this issue",
    "mail_tldr": "TL;DR",
})
LABELS["ja"].update({
    "mail_preheader": "{count}: {tldrs}",
    "mail_all_answers": "全{count}件のQ&Aを読む",
    "mail_answers_shown": "{count}件中{shown}件のQ&A",
    "mail_pdf": "PDF",
    "mail_thumb_alt": "論文{n}の1ページ目",
    "mail_et_al": "ほか",
    "mail_contents": "今号の論文",
    "mail_tldr": "ひとことで",
})


# Labels of the "more / less like this" links (email, site) and their confirmation pages.
LABELS["en"].update({
    "feedback_more": "More like this",
    "feedback_less": "Less like this",
    "web_feedback_heading_more": "More papers like this one?",
    "web_feedback_heading_less": "Fewer papers like this one?",
    "web_feedback_question": "Your vote on “{paper}” shapes which papers the next issues choose.",
    "web_feedback_button_more": "Yes, more like this",
    "web_feedback_button_less": "Yes, fewer like this",
    "web_feedback_thanks_more": "Thank you. The next issues will lean towards papers like “{paper}”.",
    "web_feedback_thanks_less": "Thank you. The next issues will lean away from papers like “{paper}”.",
})
LABELS["ja"].update({
    "feedback_more": "このような論文をもっと",
    "feedback_less": "このような論文を減らす",
    "web_feedback_heading_more": "このような論文をもっと読みたいですか?",
    "web_feedback_heading_less": "このような論文を減らしますか?",
    "web_feedback_question": "「{paper}」への評価は、次号以降の論文選びに反映されます。",
    "web_feedback_button_more": "はい、もっと読みたい",
    "web_feedback_button_less": "はい、減らしてほしい",
    "web_feedback_thanks_more": "ありがとうございます。次号以降、「{paper}」のような論文を多めに選びます。",
    "web_feedback_thanks_less": "ありがとうございます。次号以降、「{paper}」のような論文を少なめに選びます。",
})


# "What changed in v2" for a paper that comes back as a newer version.
LABELS["en"].update({
    "changes_heading": "What changed in v{new} (since v{old})",
    "changes_added": "New in v{new}",
    "changes_removed": "Removed from v{old}",
    "changes_same": "The text of v{new} is the same as v{old} apart from formatting.",
    "changes_no_text": "What changed could not be compared: {reason}.",
    "changes_passages_note": "The passages that differ between the two versions (not a summary).",
    "site_thumb_alt": "First page of “{title}”",
})
LABELS["ja"].update({
    "changes_heading": "v{new} での変更点（v{old} から）",
    "changes_added": "v{new} で追加",
    "changes_removed": "v{old} から削除",
    "changes_same": "v{new} の本文は、書式を除き v{old} と同じです。",
    "changes_no_text": "変更点を比較できませんでした: {reason}。",
    "changes_passages_note": "2つのバージョンで異なる箇所の抜粋です（要約ではありません）。",
    "site_thumb_alt": "「{title}」の1ページ目",
})



# Labels of the week's overview (the themes at the top of an issue).
LABELS["en"].update({
    "overview_heading": "The week's overview",
    "overview_papers": "Papers",
    "overview_terms_note": "Grouped by shared key terms, without an LLM: each group is papers whose title, "
                           "abstract or summary use the same words, not a reading of the papers.",
    "overview_terms_title": "Papers mentioning {terms}",
    "overview_terms_text": "Papers {numbers} all mention {terms} in their title, abstract or summary.",
    "overview_term_quote": "‘{term}’",
    "overview_term_sep": ", ",
    "overview_number_sep": ", ",
})
LABELS["ja"].update({
    "overview_heading": "今週の概観",
    "overview_papers": "対象の論文",
    "overview_terms_note": "LLMを使わず、共通するキーワードで論文をまとめました。各グループは、タイトル・アブストラクト・"
                           "要約に同じ語が現れる論文の集まりで、論文の内容を読んで分類したものではありません。",
    "overview_terms_title": "{terms}に触れる論文",
    "overview_terms_text": "論文{numbers}はいずれも、タイトル・アブストラクト・要約のいずれかで{terms}に触れています。",
    "overview_term_quote": "「{term}」",
    "overview_term_sep": "",
    "overview_number_sep": "、",
})


# Labels of the archive index's pages: pagination and a page per year.
LABELS["en"].update({
    "site_pages": "Pages",
    "site_newer_issues": "Newer issues",
    "site_older_issues": "Older issues",
    "site_newer_papers": "Newer papers",
    "site_older_papers": "Older papers",
    "site_year_title": "Issues of {year}",
})
LABELS["ja"].update({
    "site_pages": "ページ",
    "site_newer_issues": "新しい号",
    "site_older_issues": "以前の号",
    "site_newer_papers": "新しい論文",
    "site_older_papers": "以前の論文",
    "site_year_title": "{year}年の号",
})

# An issue written without an LLM opens with what its answers are (excerpts, nothing to check), and the
# notes a writer leaves on a paper are shown in the language (render.generation_note).
LABELS["en"].update({
    "intro_extractive": "{count} papers this week ({start} – {end}). Written without an LLM: the TL;DR and "
                        "summary are the papers' own sentences (citations cut, the authors' “we” told as “they”), "
                        "each answer an excerpt with its page.",
    "intro_extractive_one": "One paper this week ({start} – {end}). Written without an LLM: the TL;DR and "
                            "summary are the paper's own sentences (citations cut, the authors' “we” told as "
                            "“they”), each answer an excerpt with its page.",
    "note_sep": "; ",
    "note_from_abstract": "TL;DR and summary taken from the abstract: {detail}",
    "note_questions_left_out": "questions left out: {detail}",
    "note_stand_in_questions": "questions {detail} asked by the digest where the model repeated itself",
    "note_model_failed": "the model failed ({detail})",
    "note_pdf_unreadable": "PDF unreadable: {detail}",
    "note_no_text": "no PDF text available",
    "note_other": "{detail}",
    "cmp_supported_rate": "Supported answers",
    "cmp_no_check": "—",
})
LABELS["ja"].update({
    "intro_extractive": "今週の論文は{count}本です({start}〜{end})。LLMを使わずに作成しました: TL;DR・要約は"
                        "論文の文(引用を省き、著者の「we」を三人称にしたもの)で、各回答はページ付きの抜粋です。",
    "intro_extractive_one": "今週の論文は1本です({start}〜{end})。LLMを使わずに作成しました: TL;DR・要約は"
                            "論文の文(引用を省き、著者の「we」を三人称にしたもの)で、各回答はページ付きの抜粋です。",
    "note_sep": "。",
    "note_from_abstract": "モデルのTL;DRと要約が検査に通らなかったため、アブストラクトから取りました",
    "note_questions_left_out": "検査に通らなかった一部の質問を除外しました",
    "note_stand_in_questions": "モデルの質問が重複した箇所は、本ダイジェストの質問に置き換えました",
    "note_model_failed": "モデルの生成に失敗しました",
    "note_pdf_unreadable": "PDFを読み取れませんでした",
    "note_no_text": "PDFの本文がありません",
    "note_other": "この論文の要約には注記があります(詳細は実行ログにあります)",
    "cmp_supported_rate": "引用に裏付けられた回答",
    "cmp_no_check": "—",
})


# Labels of a reader's preferences page in `digest serve` (digest/mail/preferences.py) and its email link.
LABELS["en"].update({
    "mail_preferences": "Choose your papers",
    "web_prefs_heading": "Your papers",
    "web_prefs_text": "Tell {title} what you read, and the papers of each issue sent to {email} are chosen "
                      "and ordered for you. Leave everything empty to get the editor's selection.",
    "web_prefs_keywords": "Keywords",
    "web_prefs_keywords_hint": "Words or phrases, one per line or separated by commas, e.g. retrieval, "
                               "speech recognition.",
    "web_prefs_authors": "Authors you follow",
    "web_prefs_authors_hint": "One name per line, as papers write it, e.g. Jane Doe.",
    "web_prefs_categories": "arXiv categories",
    "web_prefs_categories_hint": "Category codes separated by spaces or commas, e.g. cs.CL cs.IR.",
    "web_prefs_max_papers": "Papers per issue",
    "web_prefs_max_papers_hint": "Empty: the editor's number ({n}).",
    "web_prefs_library": "Your library",
    "web_prefs_library_count": "{count} papers from your library are used to find similar ones.",
    "web_prefs_library_count_one": "1 paper from your library is used to find similar ones.",
    "web_prefs_library_none": "No library yet: upload one and papers like those in it are chosen for you.",
    "web_prefs_library_upload": "Replace it with a file",
    "web_prefs_library_hint": "BibTeX, RIS or CSL JSON, as Zotero or another reference manager exports it "
                              "(at most {mb} MB). No file: the library stays as it is.",
    "web_prefs_library_clear": "Remove my library",
    "web_prefs_save": "Save my preferences",
    "web_prefs_saved": "Saved. The next issue follows these preferences.",
    "web_prefs_too_many": "{field}: at most {count} entries of at most {chars} characters each.",
    "web_prefs_bad_category": "“{category}” is not an arXiv category code (like cs.CL or quant-ph).",
    "web_prefs_bad_max": "Papers per issue: a whole number from 1 to {max}, or empty for the editor's number.",
    "web_prefs_library_too_big": "The library file is larger than {mb} MB: export fewer items, or without "
                                 "attachments and notes.",
    "web_prefs_library_unreadable": "No paper could be read from that file: give a BibTeX (.bib), RIS (.ris) "
                                    "or CSL JSON (.json) export.",
    "web_prefs_cross_site": "This form can only be sent from its own page. Open the link from your email again.",
})
LABELS["ja"].update({
    "mail_preferences": "読みたい論文を設定する",
    "web_prefs_heading": "あなたの論文設定",
    "web_prefs_text": "関心のあるテーマを{title}に伝えると、{email} 宛ての各号の論文があなた向けに選ばれ、並べ替えられます。"
                      "すべて空欄にすると、編集者の選んだ論文が届きます。",
    "web_prefs_keywords": "キーワード",
    "web_prefs_keywords_hint": "語句を1行に1つ、またはカンマ区切りで(例: retrieval, speech recognition)。",
    "web_prefs_authors": "フォローする著者",
    "web_prefs_authors_hint": "1行に1名、論文での表記のとおりに(例: Jane Doe)。",
    "web_prefs_categories": "arXivカテゴリ",
    "web_prefs_categories_hint": "カテゴリコードをスペースまたはカンマ区切りで(例: cs.CL cs.IR)。",
    "web_prefs_max_papers": "1号あたりの論文数",
    "web_prefs_max_papers_hint": "空欄: 編集者の設定した本数({n}本)。",
    "web_prefs_library": "あなたのライブラリ",
    "web_prefs_library_count": "ライブラリの{count}本の論文をもとに、似た論文を探します。",
    "web_prefs_library_count_one": "ライブラリの1本の論文をもとに、似た論文を探します。",
    "web_prefs_library_none": "ライブラリはまだありません。アップロードすると、その論文に似た論文が選ばれます。",
    "web_prefs_library_upload": "ファイルで置き換える",
    "web_prefs_library_hint": "ZoteroなどのエクスポートしたBibTeX、RIS、CSL JSON(最大{mb} MB)。"
                              "ファイルを選ばなければ、ライブラリはそのままです。",
    "web_prefs_library_clear": "ライブラリを削除する",
    "web_prefs_save": "設定を保存する",
    "web_prefs_saved": "保存しました。次号からこの設定で論文を選びます。",
    "web_prefs_too_many": "{field}: 最大{count}件、1件あたり{chars}文字までです。",
    "web_prefs_bad_category": "「{category}」はarXivのカテゴリコード(cs.CL、quant-phなど)ではありません。",
    "web_prefs_bad_max": "1号あたりの論文数: 1から{max}までの整数を入力するか、空欄にしてください。",
    "web_prefs_library_too_big": "ライブラリのファイルが{mb} MBを超えています。項目を減らすか、添付ファイルやメモを"
                                 "含めずにエクスポートしてください。",
    "web_prefs_library_unreadable": "このファイルから論文を読み取れませんでした。BibTeX(.bib)、RIS(.ris)、"
                                    "CSL JSON(.json)のエクスポートを指定してください。",
    "web_prefs_cross_site": "このフォームは設定ページからのみ送信できます。メールのリンクをもう一度開いてください。",
})


# The Ask page of `digest serve` (digest.ask.web) and the links to it from the site and the email (issue 22).
LABELS["en"].update({
    "web_ask_heading": "Ask the archive",
    "web_ask_intro": "Ask a question about the papers this digest has read. Each claim of the answer cites a "
                     "paper and a page, and each quote is checked against the paper's text.",
    "web_ask_scope": "About this paper:",
    "web_ask_all_papers": "ask across all papers instead",
    "web_ask_question": "Your question",
    "web_ask_button": "Ask",
    "web_ask_answer": "Answer",
    "web_ask_sources": "Sources",
    "web_ask_passages": "Passages",
    "web_ask_passages_note": "Answered without an LLM: these are the passages of the papers that best match "
                             "the question, each with its page.",
    "web_ask_nothing_found": "Nothing in the archive answers this question.",
    "web_ask_verified": "quote found on this page",
    "web_ask_unverified": "quote not found in the paper",
    "web_ask_dropped": "{n} claims were left out: their quotes are not in the papers.",
    "web_ask_model_note": "Answered by {model}.",
    "web_ask_empty": "Write a question first.",
    "web_ask_too_long": "A question can be at most {n} characters long.",
    "web_ask_no_paper": "That paper is not in the archive.",
    "web_ask_rate_limited": "You have asked {n} questions in the last minute. Please wait a minute, then ask again.",
    "web_ask_budget_spent": "The archive has answered as many questions today as its daily budget allows. "
                            "Please ask again tomorrow (the day changes at midnight UTC).",
    "web_ask_failed": "The question could not be answered just now. Please try again later.",
    "web_ask_cross_site": "Questions can only be asked from this site's own Ask page.",
    "ask_link_nav": "Ask",
    "ask_link_paper": "Ask about this paper",
    "mail_ask": "Ask",  # the HTML email's short form, beside PDF
})
LABELS["ja"].update({
    "web_ask_heading": "アーカイブに質問する",
    "web_ask_intro": "このダイジェストが読んだ論文について質問できます。回答の各主張には論文とページが示され、"
                     "引用はすべて論文の本文と照合されます。",
    "web_ask_scope": "対象の論文:",
    "web_ask_all_papers": "すべての論文を対象にする",
    "web_ask_question": "質問",
    "web_ask_button": "質問する",
    "web_ask_answer": "回答",
    "web_ask_sources": "出典",
    "web_ask_passages": "該当箇所",
    "web_ask_passages_note": "LLMを使わずに回答しました: 質問に最もよく合う論文中の箇所を、ページ付きで示しています。",
    "web_ask_nothing_found": "アーカイブ内の論文には、この質問に答える記述が見つかりませんでした。",
    "web_ask_verified": "引用はこのページで確認済み",
    "web_ask_unverified": "引用が論文中に見つかりません",
    "web_ask_dropped": "引用が論文中に見つからなかった{n}件の主張を除外しました。",
    "web_ask_model_note": "{model}による回答です。",
    "web_ask_empty": "質問を入力してください。",
    "web_ask_too_long": "質問は{n}文字以内で入力してください。",
    "web_ask_no_paper": "その論文はアーカイブにありません。",
    "web_ask_rate_limited": "直近1分間に{n}件の質問がありました。1分ほど待ってから、もう一度質問してください。",
    "web_ask_budget_spent": "本日の予算で回答できる質問数に達しました。明日(UTCの午前0時以降)にもう一度質問してください。",
    "web_ask_failed": "ただいま質問に回答できませんでした。しばらくしてからもう一度お試しください。",
    "web_ask_cross_site": "質問はこのサイトの質問ページからのみ受け付けています。",
    "ask_link_nav": "質問",
    "ask_link_paper": "この論文について質問する",
    "mail_ask": "質問",
})

# The archive's issue page: the rest of the week's pool, written up for readers' own issues (issue 21).
LABELS["en"].update({
    "site_pool_heading": "Also written up this week for readers' own issues",
    "site_pool_note": "Not in this issue: each reader's own issue may choose these papers by their interests.",
})
LABELS["ja"].update({
    "site_pool_heading": "読者ごとの号のために今週要約したその他の論文",
    "site_pool_note": "この号には含まれませんが、読者ごとの号では関心に応じてこれらの論文が選ばれることがあります。",
})

# `digest ask`'s own text (the CLI, --json and the Ask page's answer).
LABELS["en"].update({
    "ask_nothing_found": "Nothing in the archive answers this.",
    "ask_passages_note": "Passages from the archive (extractive: no model wrote this; the passages are quoted as "
                         "they are).",
})
LABELS["ja"].update({
    "ask_nothing_found": "アーカイブ内にこの質問に答える論文はありません。",
    "ask_passages_note": "アーカイブからの抜粋(抽出型:モデルによる文章ではなく、論文の文章をそのまま示しています)。",
})


def labels(language: str) -> dict[str, str]:
    """Labels for a language, falling back to English for any missing language or key."""
    base = dict(LABELS["en"])
    base.update(LABELS.get(language.split("-")[0].lower(), {}))
    return base
