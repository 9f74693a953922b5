// Drill-down over the embedded rows. Every value from the run is written with textContent, never as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var rows = data.rows;
  var PAGE = 50;
  var page = 0;
  var filtered = rows;
  var sortKey = null, sortDir = 1;
  var lastFilter = null;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function fmt(x, digits) { return x === null || x === undefined ? "-" : Number(x).toFixed(digits === undefined ? 3 : digits); }
  function ms(x) {
    if (x === null || x === undefined) return "-";
    return data.latency_unit === "s" ? (x / 1000).toFixed(1) + " s" : Math.round(x) + " ms";
  }
  function has(x) { return x !== null && x !== undefined; }
  function change(r) { return has(r.sc) && has(r.b) ? r.sc - r.b : null; }
  function outputText(text) { return text === null || text === undefined ? "(no output)" : (text === "" ? "(empty output)" : text); }

  // A word-level diff (longest common subsequence); long texts fall back to lines, then to none.
  function tokens(text, byLine) { return byLine ? text.split(/(\n)/) : text.split(/(\s+)/); }
  function lcsDiff(a, b) {
    var n = a.length, m = b.length, i, j;
    var table = new Array(n + 1);
    for (i = 0; i <= n; i++) { table[i] = new Uint32Array(m + 1); }
    for (i = n - 1; i >= 0; i--) {
      for (j = m - 1; j >= 0; j--) {
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    var out = [];
    i = 0; j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { out.push(["=", a[i]]); i++; j++; }
      else if (table[i + 1][j] >= table[i][j + 1]) { out.push(["-", a[i]]); i++; }
      else { out.push(["+", b[j]]); j++; }
    }
    while (i < n) { out.push(["-", a[i++]]); }
    while (j < m) { out.push(["+", b[j++]]); }
    return out;
  }
  function textDiff(before, after) {
    var limit = 4000000;
    var a = tokens(before, false), b = tokens(after, false);
    if (a.length * b.length > limit) { a = tokens(before, true); b = tokens(after, true); }
    if (a.length * b.length > limit) return null;
    return lcsDiff(a, b);
  }
  function drawDiff(target, before, after) {
    while (target.firstChild) target.removeChild(target.firstChild);
    if (before === after) { target.appendChild(el("span", "identical outputs", "muted")); return; }
    var parts = textDiff(before, after);
    if (parts === null) { target.appendChild(el("span", "texts too long to diff here; compare them side by side", "muted")); return; }
    parts.forEach(function (p) {
      target.appendChild(p[0] === "=" ? document.createTextNode(p[1]) : el(p[0] === "-" ? "del" : "ins", p[1]));
    });
  }
  function option(select, value) { var o = el("option", value); o.value = value; select.appendChild(o); }

  data.suites.forEach(function (s) { option($("f-suite"), s); });
  data.models.forEach(function (m) { option($("f-model"), m); });

  function apply() {
    var suite = $("f-suite").value, model = $("f-model").value, errors = $("f-errors").value;
    var lo = parseFloat($("f-min").value), hi = parseFloat($("f-max").value);
    var text = $("f-text").value.trim().toLowerCase();
    if (isNaN(lo)) lo = 0;
    if (isNaN(hi)) hi = 1;
    // a text box fires "change" again when it loses focus (to a click on a row): redrawing then would
    // replace the row under the pointer and swallow the click, so an unchanged filter draws nothing
    var key = JSON.stringify([suite, model, errors, lo, hi, text]);
    if (key === lastFilter) return;
    lastFilter = key;
    var scoreFiltered = lo > 0 || hi < 1;
    filtered = rows.filter(function (r) {
      if (suite && r.s !== suite) return false;
      if (model && r.m !== model) return false;
      if (errors === "only" && !r.err) return false;
      if (errors === "none" && r.err) return false;
      if (scoreFiltered && (r.sc === null || r.sc < lo || r.sc > hi)) return false;
      if (text && r.e.toLowerCase().indexOf(text) < 0 && (r.o || "").toLowerCase().indexOf(text) < 0) return false;
      return true;
    });
    page = 0;
    sortRows();
    draw();
  }

  function sortValue(r, key) {
    if (key === "d") return change(r);
    if (key === "e") return r.r ? r.e + " #" + r.r : r.e;
    var v = r[key];
    return v === undefined ? null : v;
  }
  function sortRows() {
    if (!sortKey) return;
    filtered = filtered.slice().sort(function (x, y) {
      var a = sortValue(x, sortKey), b = sortValue(y, sortKey);
      if (a === b) return 0;
      if (a === null) return 1;  // missing values last, whichever the direction
      if (b === null) return -1;
      if (typeof a === "number" && typeof b === "number") return (a - b) * sortDir;
      return String(a).localeCompare(String(b)) * sortDir;
    });
  }
  document.querySelectorAll("#rows th[data-sort]").forEach(function (th) {
    th.classList.add("sortable");
    th.setAttribute("role", "button");
    th.tabIndex = 0;
    function toggle() {
      var key = th.getAttribute("data-sort");
      sortDir = sortKey === key ? -sortDir : 1;
      sortKey = key;
      document.querySelectorAll("#rows th[data-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      page = 0;
      sortRows();
      draw();
    }
    th.addEventListener("click", toggle);
    th.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(); } });
  });

  function draw() {
    var body = document.querySelector("#rows tbody");
    while (body.firstChild) body.removeChild(body.firstChild);
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    if (page >= pages) page = pages - 1;
    filtered.slice(page * PAGE, (page + 1) * PAGE).forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", r.s));
      tr.appendChild(el("td", r.r ? r.e + " #" + r.r : r.e));
      tr.appendChild(el("td", r.m));
      tr.appendChild(el("td", fmt(r.sc, 2), "n"));
      if (data.baseline) {
        tr.appendChild(el("td", fmt(r.b, 2) + (r.pc ? " ✎" : ""), "n"));
        var d = change(r);
        tr.appendChild(el("td", d === null ? "-" : (d > 0 ? "+" : "") + d.toFixed(2), "n" + (d > 0 ? " up" : d < 0 ? " down" : "")));
      }
      tr.appendChild(el("td", r.err || "", "err"));
      var out = r.o;
      if (out === null || out === undefined || out === "") tr.appendChild(el("td", outputText(out), "out muted"));
      else tr.appendChild(el("td", out.length > 160 ? out.slice(0, 160) + "…" : out, "out"));
      tr.addEventListener("click", function () { show(r, tr); });
      body.appendChild(tr);
    });
    $("count").textContent = filtered.length + " of " + rows.length + " embedded rows match";
    $("page").textContent = "page " + (page + 1) + " of " + pages;
    $("prev").disabled = page === 0;
    $("next").disabled = page >= pages - 1;
  }

  function block(parent, title, text, pre) {
    if (text === null || text === undefined || text === "") return;
    parent.appendChild(el("h4", title));
    parent.appendChild(el(pre === false ? "p" : "pre", text));
  }

  function side(r) {
    var box = el("div", null, "side");
    box.appendChild(el("h4", r.m + (r.v ? "  (prompt variant " + r.v + ")" : "")));
    var facts = "score " + fmt(r.sc) + (data.baseline ? "  ·  baseline " + fmt(r.b) : "") +
      "  ·  cost " + (r.c === null ? "unknown" : "$" + r.c.toPrecision(3)) +
      "  ·  latency " + ms(r.l);
    box.appendChild(el("p", facts, "kv"));
    if (r.cmd) {
      box.appendChild(el("h4", "reproduce this request"));
      box.appendChild(el("pre", r.cmd, "command"));
    }
    if (r.ss) {
      var parts = Object.keys(r.ss).map(function (k) { return k + " " + fmt(r.ss[k], 2); });
      box.appendChild(el("p", "sub-scores: " + parts.join(", "), "kv"));
    }
    if (r.err) block(box, "error", r.err + (r.em ? ": " + r.em : ""), false);
    block(box, "output", outputText(r.o));
    block(box, "gold", r.g);
    block(box, "scorer detail", r.d);
    block(box, "rendered prompt", r.p);
    return box;
  }

  function show(r, tr) {
    document.querySelectorAll("#rows tr.selected").forEach(function (t) { t.classList.remove("selected"); });
    if (tr) tr.classList.add("selected");
    var same = rows.filter(function (x) { return x.s === r.s && x.e === r.e; });
    var label = function (x) { return x.m + (x.r ? " #" + x.r : ""); };
    $("detail").hidden = false;
    $("detail-title").textContent = r.s + " / " + r.e + " — " + same.length + " answers; pick two to compare";
    ["pick-a", "pick-b"].forEach(function (id, n) {
      var select = $(id);
      while (select.firstChild) select.removeChild(select.firstChild);
      same.forEach(function (x, i) { var o = el("option", label(x)); o.value = String(i); select.appendChild(o); });
      var first = same.indexOf(r);
      select.value = String(n === 0 ? first : (first + 1) % same.length);
      select.onchange = render;
    });
    function render() {
      var sides = $("sides");
      while (sides.firstChild) sides.removeChild(sides.firstChild);
      sides.appendChild(side(same[Number($("pick-a").value)]));
      sides.appendChild(side(same[Number($("pick-b").value)]));
    }
    render();
    versus(r);
    $("detail").scrollIntoView({block: "nearest"});
  }

  function versus(r) {
    var box = $("versus");
    box.hidden = !data.baseline;
    if (!data.baseline) return;
    var label = r.s + " / " + r.e + (r.r ? " #" + r.r : "") + " / " + r.m;
    $("versus-title").textContent = "Before and after: " + label;
    var known = r.b !== undefined || r.bo !== undefined || r.be !== undefined;
    var notes = [];
    if (!known) notes.push("this example is not in the baseline run " + data.baseline + " for this model");
    if (r.pc) notes.push("the request changed (prompt hash differs from the baseline's)");
    if (known && !r.pc) notes.push("same request as the baseline");
    if (r.be) notes.push("baseline failed: " + r.be);
    if (r.err) notes.push("this run failed: " + r.err);
    $("versus-note").textContent = notes.join(" · ");
    var before = known ? r.bo : undefined;
    $("before").textContent = known ? outputText(before) : "(not in the baseline)";
    $("after").textContent = outputText(r.o);
    drawDiff($("textdiff"), typeof before === "string" ? before : "", typeof r.o === "string" ? r.o : "");
  }

  ["f-suite", "f-model", "f-errors", "f-min", "f-max", "f-text"].forEach(function (id) {
    $(id).addEventListener("input", apply);
    $(id).addEventListener("change", apply);
  });
  $("prev").addEventListener("click", function () { page -= 1; draw(); });
  $("next").addEventListener("click", function () { page += 1; draw(); });
  apply();
})();
