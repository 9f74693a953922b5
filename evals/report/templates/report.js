// Drill-down over the embedded rows. Every value from the run is written with textContent, never as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var rows = data.rows;
  var PAGE = 50;
  var page = 0;
  var filtered = rows;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function fmt(x, digits) { return x === null || x === undefined ? "-" : Number(x).toFixed(digits === undefined ? 3 : digits); }
  function option(select, value) { var o = el("option", value); o.value = value; select.appendChild(o); }

  data.suites.forEach(function (s) { option($("f-suite"), s); });
  data.models.forEach(function (m) { option($("f-model"), m); });

  function apply() {
    var suite = $("f-suite").value, model = $("f-model").value, errors = $("f-errors").value;
    var lo = parseFloat($("f-min").value), hi = parseFloat($("f-max").value);
    var text = $("f-text").value.trim().toLowerCase();
    if (isNaN(lo)) lo = 0;
    if (isNaN(hi)) hi = 1;
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
    draw();
  }

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
      if (data.baseline) tr.appendChild(el("td", fmt(r.b, 2), "n"));
      tr.appendChild(el("td", r.err || "", "err"));
      var out = r.o === null ? "" : r.o;
      tr.appendChild(el("td", out.length > 160 ? out.slice(0, 160) + "…" : out, "out"));
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
      "  ·  latency " + (r.l === null ? "-" : Math.round(r.l) + " ms");
    box.appendChild(el("p", facts, "kv"));
    if (r.ss) {
      var parts = Object.keys(r.ss).map(function (k) { return k + " " + fmt(r.ss[k], 2); });
      box.appendChild(el("p", "sub-scores: " + parts.join(", "), "kv"));
    }
    if (r.err) block(box, "error", r.err + (r.em ? ": " + r.em : ""), false);
    block(box, "output", r.o === null ? "(no output)" : r.o);
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
    $("detail").scrollIntoView({block: "nearest"});
  }

  ["f-suite", "f-model", "f-errors", "f-min", "f-max", "f-text"].forEach(function (id) {
    $(id).addEventListener("input", apply);
    $(id).addEventListener("change", apply);
  });
  $("prev").addEventListener("click", function () { page -= 1; draw(); });
  $("next").addEventListener("click", function () { page += 1; draw(); });
  apply();
})();
