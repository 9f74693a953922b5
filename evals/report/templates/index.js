// The run list of reports/index.html. Every value from a run is written with textContent, never as HTML;
// links are relative paths percent-encoded in Python and checked again here.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("index-data").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var picked = [];

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function link(href, text) {
    // only relative links into this folder: never a scheme such as javascript:
    if (typeof href !== "string" || /^[a-z][a-z0-9+.-]*:/i.test(href) || href.indexOf("//") === 0) return el("span", text);
    var a = el("a", text);
    a.setAttribute("href", href);
    return a;
  }
  function fmt(x) { return x === null || x === undefined ? "-" : Number(x).toFixed(3); }
  function quote(arg) { return /^[A-Za-z0-9._\/-]+$/.test(arg) ? arg : "'" + arg.replace(/'/g, "'\\''") + "'"; }

  function splitText(run) {
    var seen = {};
    Object.keys(run.splits).forEach(function (s) { seen[run.splits[s]] = true; });
    return Object.keys(seen).sort().join(", ");
  }

  function row(run) {
    var tr = el("tr", null, run.approved === "in force" ? "approved" : "");
    var box = el("input");
    box.type = "checkbox";
    box.value = run.folder;
    box.setAttribute("aria-label", "pick run " + run.run_id);
    box.addEventListener("change", function () { pick(run, box.checked); });
    var td = el("td"); td.appendChild(box); tr.appendChild(td);
    var name = el("td");
    name.appendChild(run.report ? link(run.report, run.run_id) : el("span", run.run_id));
    if (run.proposal) name.appendChild(el("span", " proposal", "tag"));
    tr.appendChild(name);
    tr.appendChild(el("td", (run.started_at || "-").replace("T", " ").slice(0, 19)));
    tr.appendChild(el("td", splitText(run)));
    tr.appendChild(el("td", run.suites.join(", ")));
    tr.appendChild(el("td", run.models.join(", ")));
    tr.appendChild(el("td", run.commit ? run.commit.slice(0, 12) + (run.dirty ? " (uncommitted changes)" : "") : "-", "mono"));
    var q = el("td");
    var list = el("ul", null, "quality");
    run.quality.forEach(function (x) {
      list.appendChild(el("li", x.suite + " / " + x.model + ": " + fmt(x.value) + " [" + fmt(x.ci_low) + ", " +
        fmt(x.ci_high) + "] n=" + x.n));
    });
    if (!run.quality.length) list.appendChild(el("li", (run.notes[0] || "no quality recorded"), "muted"));
    q.appendChild(list);
    tr.appendChild(q);
    var policy = el("td", run.approved === "in force" ? "✔ in force" : (run.approved || ""));
    if (run.approval) policy.title = run.approval;
    tr.appendChild(policy);
    var comps = el("td");
    Object.keys(run.comparisons).forEach(function (base, i) {
      if (i) comps.appendChild(document.createTextNode(" · "));
      comps.appendChild(link(run.comparisons[base], "vs " + base));
    });
    tr.appendChild(comps);
    return tr;
  }

  function pick(run, on) {
    picked = picked.filter(function (r) { return r.folder !== run.folder; });
    if (on) picked.push(run);
    if (picked.length > 2) {
      var dropped = picked.shift();
      document.querySelectorAll("#run-table input[type=checkbox]").forEach(function (b) {
        if (b.value === dropped.folder) b.checked = false;
      });
    }
    show();
  }

  function show() {
    var box = $("compare-result");
    box.hidden = picked.length !== 2;
    if (picked.length !== 2) return;
    var order = data.runs.map(function (r) { return r.folder; });
    var pair = picked.slice().sort(function (a, b) { return order.indexOf(a.folder) - order.indexOf(b.folder); });
    var newer = pair[0], older = pair[1];  // data.runs is newest first
    $("compare-what").textContent = "Run " + newer.run_id + " against the baseline " + older.run_id +
      (splitText(newer) !== splitText(older) ? " (different splits: " + splitText(newer) + " vs " + splitText(older) +
       "; no example is shared)" : "");
    var href = newer.comparisons[older.folder];
    var a = $("compare-link");
    a.hidden = !href;
    if (href) a.setAttribute("href", href);
    $("compare-missing").hidden = !!href;
    $("compare-command").hidden = !!href;
    $("compare-command").textContent = "evals report " + quote(newer.folder) + " --baseline " + quote(older.folder);
  }

  var body = document.querySelector("#run-table tbody");
  data.runs.forEach(function (run) { body.appendChild(row(run)); });
})();
