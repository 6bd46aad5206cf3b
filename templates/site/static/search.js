/* Offline search over the site's search index: search-index.js says how it is split; the term files
   (search/t<bucket>-<group>.js) a query needs are loaded on demand, then what the results show
   (search/m<chunk>.js) and the text of the first results for snippets (search/x<chunk>.js). Every
   query term must occur in a paper's title, authors, summary or Q&A: a word matches any word it
   starts, CJK text by its characters and bigrams. Results are built with textContent only, so
   nothing from a paper can ever become markup. Folding and terms must match
   digest/archive/search_shards.py. */
(function () {
  "use strict";
  var data = window.DIGEST_SEARCH;
  var form = document.querySelector("form.search-page");
  var input = document.getElementById("q");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  if (!data || !input || !list) { return; }
  var CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/;
  var CJK_RUNS = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+|[^\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+/g;
  var MAX = 50, SNIPPETS = 10;
  var WEIGHTS = [10, 5, 3, 2, 1];  // title, authors, tldr, summary, qa: bits 0..4 of a fields mask

  function fold(s) {
    return (s || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").normalize("NFC").toLowerCase();
  }

  // Loaded files by name; every file is a script calling DIGEST_SEARCH_LOAD (fetch() fails on file://).
  var loaded = {}, waiting = [];
  window.DIGEST_SEARCH_LOAD = function (name, payload) {
    loaded[name] = payload;
    var pending = waiting;
    waiting = [];  // a finished wait may start another: it lands in the new list
    pending.forEach(function (w) { if (!w()) { waiting.push(w); } });
  };
  function need(names, done) {
    var missing = names.filter(function (n) { return !(n in loaded); });
    var check = function () {
      if (missing.some(function (n) { return !(n in loaded); })) { return false; }
      done();
      return true;
    };
    if (check()) { return; }
    waiting.push(check);
    missing.forEach(function (n) {
      if (document.querySelector('script[data-search="' + n + '"]')) { return; }
      var s = document.createElement("script");
      s.src = "search/" + n + ".js";
      s.setAttribute("data-search", n);
      document.head.appendChild(s);
    });
  }

  function queryTerms(query) {
    // Each term ("quoted phrases" stay one term) is a list of index lookups that must all match.
    var out = [], re = /"([^"]+)"|(\S+)/g, m;
    while ((m = re.exec(query)) !== null) {
      var words = fold((m[1] || m[2]).trim()).match(/[\p{L}\p{N}]+/gu);
      if (!words) { continue; }
      var lookups = [];
      words.forEach(function (w) {
        (w.match(CJK_RUNS) || []).forEach(function (run) {
          if (!CJK.test(run)) { lookups.push({ t: run, prefix: true }); return; }
          if (run.length === 1) { lookups.push({ t: run }); return; }
          for (var i = 0; i + 1 < run.length; i++) { lookups.push({ t: run.slice(i, i + 2) }); }
        });
      });
      out.push({ text: fold((m[1] || m[2]).trim()), lookups: lookups });
    }
    return out;
  }
  function bucket(t) { return t.codePointAt(0) % data.buckets; }
  function termFiles(ts) {
    var names = {}, groups = Math.ceil(data.docs / data.group);
    ts.forEach(function (term) {
      term.lookups.forEach(function (l) {
        for (var g = 0; g < groups; g++) { names["t" + bucket(l.t) + "-" + g] = true; }
      });
    });
    return Object.keys(names);
  }
  function postings(l) {
    // Paper number -> fields mask, over every group's file of the lookup's bucket.
    var out = {}, groups = Math.ceil(data.docs / data.group);
    for (var g = 0; g < groups; g++) {
      var index = loaded["t" + bucket(l.t) + "-" + g] || {};
      Object.keys(index).forEach(function (term) {
        if (term === l.t || (l.prefix && term.lastIndexOf(l.t, 0) === 0)) {
          var p = index[term];
          for (var i = 0; i < p.length; i += 2) { out[p[i]] = (out[p[i]] || 0) | p[i + 1]; }
        }
      });
    }
    return out;
  }
  function score(mask) {
    var s = 0;
    for (var i = 0; i < WEIGHTS.length; i++) { if (mask & (1 << i)) { s += WEIGHTS[i]; } }
    return s;
  }
  function matches(ts) {
    // Every term must match; a term's lookups must all match; its score counts the fields holding all
    // of them (or, when no one field does, the fields holding any).
    var total = null;
    ts.forEach(function (term) {
      var both = null, any = {};
      term.lookups.forEach(function (l) {
        var p = postings(l), next = {};
        Object.keys(p).forEach(function (n) {
          any[n] = (any[n] || 0) | p[n];
          if (both === null) { next[n] = p[n]; } else if (n in both) { next[n] = both[n] & p[n]; }
        });
        both = next;
      });
      var scored = {};
      Object.keys(both || {}).forEach(function (n) {
        if (total === null || n in total) {
          scored[n] = (total === null ? 0 : total[n]) + score(both[n] || any[n]);
        }
      });
      total = scored;
    });
    return Object.keys(total || {}).map(function (n) { return { n: +n, score: total[n] }; });
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

  var current = 0;  // a newer query makes the answers of older ones moot
  function render(query) {
    var mine = ++current;
    var ts = queryTerms(query);
    if (!ts.length) { list.textContent = ""; status.textContent = ""; status.classList.remove("none"); return; }
    need(termFiles(ts), function () {
      if (mine !== current) { return; }
      var hits = matches(ts);
      // Best first; among equals the paper that appeared latest (the highest number).
      hits.sort(function (a, b) { return b.score - a.score || b.n - a.n; });
      var shown = hits.slice(0, MAX);
      var files = {};
      shown.forEach(function (h, k) {
        files["m" + Math.floor(h.n / data.meta)] = true;
        if (k < SNIPPETS) { files["x" + Math.floor(h.n / data.text)] = true; }
      });
      need(Object.keys(files), function () {
        if (mine === current) { show(hits, shown, ts, query); }
      });
    });
  }

  function show(hits, shown, ts, query) {
    list.textContent = "";
    status.classList.toggle("none", hits.length === 0);
    if (!hits.length) {
      // Say so, with the query as typed: an empty list alone looks like a page still loading.
      status.textContent = (status.getAttribute("data-none") || "{query}").replace("{query}", query.trim());
      return;
    }
    var words = ts.map(function (t) { return t.text; });
    var label = status.getAttribute(hits.length === 1 ? "data-count-one" : "data-count-label") || "{count}";
    status.textContent = label.replace("{count}", String(hits.length)) +
      (hits.length > MAX ? " (1–" + MAX + ")" : "");
    shown.forEach(function (h) {
      var d = loaded["m" + Math.floor(h.n / data.meta)][h.n % data.meta];
      var text = (loaded["x" + Math.floor(h.n / data.text)] || [])[h.n % data.text] || ["", ""];
      var slug = d[0], title = d[1], authors = d[2], tldr = d[3], issueIds = d[4], lang = d[5];
      var li = el("li");
      var a = el("a", "title", title);
      a.href = "papers/" + encodeURIComponent(slug) + ".html";
      li.appendChild(a);
      li.appendChild(el("span", "byline", authors));
      var sn = snippet(text[0], words) || snippet(text[1], words) || snippet(tldr, words);
      if (sn) {
        var p = el("span", "snippet");
        p.setAttribute("lang", lang);
        p.appendChild(document.createTextNode(sn.pre));
        p.appendChild(el("mark", null, sn.hit));
        p.appendChild(document.createTextNode(sn.post));
        li.appendChild(p);
      } else if (tldr) {
        li.appendChild(el("span", "t", tldr));
      }
      var issues = el("span", "issues");
      issueIds.forEach(function (id, k) {
        if (k) { issues.appendChild(document.createTextNode(", ")); }
        var ia = el("a", null, id);
        ia.href = "issues/" + encodeURIComponent(id) + ".html#p-" + encodeURIComponent(slug);
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
