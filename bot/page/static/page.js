/* meshdiff impact page: builds the page from the JSON in #meshdiff-data.
 * Every string of the data is untrusted (node names, owners, errors come from a PR): it only
 * ever reaches the DOM through textContent, attributes set with setAttribute on safe names,
 * or Cytoscape's canvas labels. No innerHTML, no eval, no network. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("meshdiff-data").textContent);
  var SEV = ["breaking", "unknown", "changed"];
  var WORD = { breaking: "breaking", unknown: "unknown", changed: "may change values" };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  // meshdiff's sentences wrap names in backticks: those parts become <code>, all as text
  function rich(tag, cls, text) {
    var e = el(tag, cls);
    String(text || "").split("`").forEach(function (part, k) {
      if (k % 2) add(e, el("code", null, part)); else if (part) e.appendChild(document.createTextNode(part));
    });
    return e;
  }

  // -- verdict -----------------------------------------------------------------------------
  var head = document.getElementById("verdict");
  add(head, el("h1", "verdict " + data.verdict.kind, data.verdict.text));
  add(head, el("p", "meta", data.meta));
  if (data.expires) add(head, el("p", "meta", "This page expires on " + data.expires + "."));

  // -- unblock -----------------------------------------------------------------------------
  var unblock = document.getElementById("unblock");
  var suggestions = [];
  data.reports.forEach(function (r) { suggestions = suggestions.concat(r.suggestions || []); });
  if (suggestions.length) {
    add(unblock, el("h2", null, "How to unblock"));
    suggestions.forEach(function (s, n) {
      var box = add(unblock, el("div", "suggestion"));
      add(box, rich("h3", null, (n + 1) + ". " + s.title));
      add(box, rich("p", null, s.text));
      if (s.files && s.files.length) add(box, el("p", "files", "Files: " + s.files.join(", ")));
      (s.snippets || []).forEach(function (x) {
        if (x.path) add(box, el("p", "files", x.path));
        add(add(box, el("pre")), el("code", null, x.code));
      });
    });
  }

  // -- list ----------------------------------------------------------------------------------
  var rows = [];
  data.reports.forEach(function (r) {
    (r.impacts || []).forEach(function (i) { rows.push(i); });
  });
  rows.sort(function (a, b) {
    return SEV.indexOf(a.severity) - SEV.indexOf(b.severity) || (a.project < b.project ? -1 : a.project > b.project ? 1 : 0)
      || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
  });
  var tbody = document.getElementById("impact-rows");
  var trs = rows.map(function (i) {
    var tr = el("tr", "row " + i.severity);
    tr.setAttribute("data-node", i.node);
    add(tr, el("td", "sev", WORD[i.severity] || i.severity));
    var node = add(tr, el("td", "node"));
    add(node, el("code", null, i.short));
    add(node, el("div", "sub", i.project + " · " + i.resource_type));
    add(tr, el("td", "cols", (i.columns || []).join(", ") || "whole node"));
    var path = add(tr, el("td", "path"));
    (i.path || []).forEach(function (p, k) {
      if (k) add(path, el("span", "arrow", " → "));
      add(path, el("code", null, p));
    });
    add(tr, el("td", "owners", (i.handles || []).concat(i.owners || []).join(", ") || "—"));
    tr.searchText = [i.node, i.short, i.project, i.severity, WORD[i.severity], i.resource_type,
      (i.columns || []).join(" "), (i.path || []).join(" "), (i.owners || []).join(" "),
      (i.handles || []).join(" "), (i.reasons || []).join(" ")].join(" ").toLowerCase();
    tbody.appendChild(tr);
    return tr;
  });
  var count = document.getElementById("count");
  var search = document.getElementById("search");
  var cy = null;

  function filter() {
    var q = search.value.trim().toLowerCase();
    var words = q ? q.split(/\s+/) : [];
    var shown = 0, keep = {};
    trs.forEach(function (tr) {
      var ok = words.every(function (w) { return tr.searchText.indexOf(w) >= 0; });
      tr.hidden = !ok;
      if (ok) { shown += 1; keep[tr.getAttribute("data-node")] = true; }
    });
    count.textContent = shown + " of " + trs.length + " impacted nodes";
    if (cy) {
      cy.nodes().forEach(function (n) {
        if (n.isParent()) return;
        var dim = words.length > 0 && !keep[n.id()] && n.data("kind") !== "change";
        if (dim) n.addClass("dim"); else n.removeClass("dim");
      });
    }
  }
  search.addEventListener("input", filter);

  // -- changes, errors, warnings -----------------------------------------------------------
  var more = document.getElementById("details");
  data.reports.forEach(function (r) {
    if ((r.changes || []).length) {
      add(more, el("h2", null, "Changes in " + r.project));
      var ul = add(more, el("ul"));
      r.changes.forEach(function (c) {
        var li = add(ul, el("li"));
        add(li, el("code", null, c.node));
        add(li, el("span", null, " — " + c.category + (c.summary ? ": " + c.summary : "")));
      });
    }
    (r.broken || []).forEach(function (b) {
      add(more, el("h2", null, b.project + " no longer compiles"));
      add(add(more, el("pre")), el("code", null, b.error));
    });
    (r.errors || []).forEach(function (e) {
      add(more, el("h2", null, "Error"));
      add(add(more, el("pre")), el("code", null, e));
    });
    if ((r.warnings || []).length) {
      add(more, el("h2", null, "Warnings"));
      var wl = add(more, el("ul"));
      r.warnings.forEach(function (w) { add(wl, el("li", null, w)); });
    }
  });

  // -- graph ---------------------------------------------------------------------------------
  var box = document.getElementById("graph");
  if (typeof cytoscape === "undefined" || !data.graph.nodes.length) {
    box.textContent = data.graph.nodes.length ? "The graph library did not load." : "Nothing downstream is impacted.";
  } else {
    if (typeof cytoscapeDagre !== "undefined") cytoscape.use(cytoscapeDagre);
    var elements = [];
    data.graph.projects.forEach(function (p) {
      elements.push({ group: "nodes", data: { id: "project:" + p, label: p, kind: "project" } });
    });
    data.graph.nodes.forEach(function (n) {
      elements.push({ group: "nodes", data: { id: n.id, label: n.label, kind: n.kind, parent: "project:" + n.project,
        w: Math.max(60, Math.min(360, 7.2 * String(n.label).length + 24)) } });
    });
    data.graph.edges.forEach(function (e, k) {
      elements.push({ group: "edges", data: { id: "e" + k, source: e[0], target: e[1] } });
    });
    var colours = { change: ["#ddf4ff", "#0969da"], breaking: ["#ffebe9", "#cf222e"],
      unknown: ["#fff1e5", "#bc4c00"], changed: ["#fff8c5", "#9a6700"] };
    var style = [
      { selector: "node", style: { "label": "data(label)", "shape": "round-rectangle", "font-size": 12, "text-valign": "center", "color": "#1f2328",
        "background-color": "#f6f8fa", "border-width": 2, "border-color": "#59636e" } },
      { selector: "node[w]", style: { "width": "data(w)", "height": 28 } },
      { selector: "node:parent", style: { "text-valign": "top", "text-halign": "center", "font-weight": "bold",
        "background-opacity": 0.04, "border-width": 1, "border-style": "dashed", "padding": "14px" } },
      { selector: "edge", style: { "width": 1.5, "line-color": "#8c959f", "target-arrow-color": "#8c959f",
        "target-arrow-shape": "triangle", "curve-style": "bezier" } },
      { selector: ".dim", style: { "opacity": 0.25 } },
      { selector: "node:selected", style: { "border-width": 4 } }
    ];
    Object.keys(colours).forEach(function (k) {
      style.push({ selector: 'node[kind = "' + k + '"]', style: { "background-color": colours[k][0], "border-color": colours[k][1] } });
    });
    var layout = typeof cytoscapeDagre !== "undefined" ? { name: "dagre", rankDir: "LR", nodeSep: 18, rankSep: 60 }
      : { name: "breadthfirst", directed: true };
    cy = cytoscape({ container: box, elements: elements, style: style, layout: layout });
    cy.on("tap", "node", function (evt) {
      var n = evt.target;
      if (n.isParent()) return;
      search.value = n.data("kind") === "change" ? "" : n.data("label");
      filter();
    });
    window.meshdiff = { cy: cy };
  }
  filter();
  document.body.setAttribute("data-ready", "1");
})();
