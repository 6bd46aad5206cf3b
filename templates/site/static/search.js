/* Offline search over window.DIGEST_SEARCH (search-index.js): every query term must occur in a
   paper's title, authors, summary or Q&A. Results are built with textContent only, so nothing
   from a paper can ever become markup. */
(function () {
  "use strict";
  var data = window.DIGEST_SEARCH;
  var form = document.querySelector("form.search-page");
  var input = document.getElementById("q");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  if (!data || !input || !list) { return; }
  var F = {};
  data.fields.forEach(function (name, i) { F[name] = i; });
  var CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/;
  var MAX = 50;

  function fold(s) {
    return (s || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

  // Folded once: the fields searched, in the order of their weight.
  var WEIGHTS = [["title", 10], ["authors", 5], ["tldr", 3], ["summary", 2], ["qa", 1]];
  var docs = data.docs.map(function (d) {
    return { d: d, f: WEIGHTS.map(function (w) { return fold(d[F[w[0]]]); }) };
  });

  function terms(query) {
    var out = [], re = /"([^"]+)"|(\S+)/g, m;
    while ((m = re.exec(query)) !== null) {
      var t = fold((m[1] || m[2]).trim());
      if (/[\p{L}\p{N}]/u.test(t)) { out.push(t); }
    }
    return out;
  }
  function matcher(t) {
    // Words of spaced scripts match at a word start (as the terminal search does); CJK anywhere.
    if (CJK.test(t)) { return function (s) { return s.indexOf(t) >= 0; }; }
    var re = new RegExp("(^|[^\\p{L}\\p{N}])" + escapeRe(t), "u");
    return function (s) { return re.test(s); };
  }

  function snippet(text, ts) {
    var flat = (text || "").replace(/\s+/g, " ").trim();
    var folded = fold(flat);
    if (folded.length !== flat.length) { folded = flat.toLowerCase(); }
    var best = -1, len = 0;
    ts.forEach(function (t) {
      var i = folded.indexOf(t);
      if (i >= 0 && (best < 0 || i < best)) { best = i; len = t.length; }
    });
    if (best < 0) { return null; }
    var start = Math.max(0, best - 60), end = Math.min(flat.length, best + len + 100);
    return { pre: (start > 0 ? "…" : "") + flat.slice(start, best), hit: flat.slice(best, best + len),
             post: flat.slice(best + len, end) + (end < flat.length ? "…" : "") };
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function render(query) {
    list.textContent = "";
    var ts = terms(query);
    if (!ts.length) { status.textContent = ""; status.classList.remove("none"); return; }
    var ms = ts.map(matcher);
    var hits = [];
    docs.forEach(function (doc, order) {
      var score = 0;
      for (var i = 0; i < ms.length; i++) {
        var s = 0;
        for (var j = 0; j < doc.f.length; j++) { if (ms[i](doc.f[j])) { s += WEIGHTS[j][1]; } }
        if (!s) { return; }
        score += s;
      }
      hits.push({ doc: doc.d, score: score, order: order });
    });
    hits.sort(function (a, b) { return b.score - a.score || a.order - b.order; });
    status.classList.toggle("none", hits.length === 0);
    if (!hits.length) {
      // Say so, with the query as typed: an empty list alone looks like a page still loading.
      status.textContent = (status.getAttribute("data-none") || "{query}").replace("{query}", query.trim());
      return;
    }
    var label = status.getAttribute(hits.length === 1 ? "data-count-one" : "data-count-label") || "{count}";
    status.textContent = label.replace("{count}", String(hits.length)) +
      (hits.length > MAX ? " (1–" + MAX + ")" : "");
    hits.slice(0, MAX).forEach(function (h) {
      var d = h.doc, li = el("li");
      var a = el("a", "title", d[F.title]);
      a.href = "papers/" + encodeURIComponent(d[F.slug]) + ".html";
      li.appendChild(a);
      li.appendChild(el("span", "byline", d[F.authors]));
      var sn = snippet(d[F.summary], ts) || snippet(d[F.qa], ts) || snippet(d[F.tldr], ts);
      if (sn) {
        var p = el("span", "snippet");
        p.setAttribute("lang", d[F.lang]);
        p.appendChild(document.createTextNode(sn.pre));
        p.appendChild(el("mark", null, sn.hit));
        p.appendChild(document.createTextNode(sn.post));
        li.appendChild(p);
      } else if (d[F.tldr]) {
        li.appendChild(el("span", "t", d[F.tldr]));
      }
      var issues = el("span", "issues");
      d[F.issues].forEach(function (id, k) {
        if (k) { issues.appendChild(document.createTextNode(", ")); }
        var ia = el("a", null, id);
        ia.href = "issues/" + encodeURIComponent(id) + ".html#p-" + encodeURIComponent(d[F.slug]);
        ia.title = data.issues[id] || id;
        issues.appendChild(ia);
      });
      li.appendChild(issues);
      list.appendChild(li);
    });
  }

  var params = new URLSearchParams(window.location.search);
  var initial = params.get("q") || "";
  input.value = initial;
  render(initial);
  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      render(input.value);
      // Keep the query in the address so a search can be bookmarked or shared.
      var url = new URL(window.location.href);
      if (input.value) { url.searchParams.set("q", input.value); } else { url.searchParams.delete("q"); }
      try { window.history.replaceState(null, "", url.toString()); } catch (e) { /* file:// may refuse */ }
    }, 120);
  });
  if (form) {
    form.addEventListener("submit", function (ev) { ev.preventDefault(); render(input.value); });
  }
}());
