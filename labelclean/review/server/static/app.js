// labelclean review: keyboard-first review of suspected mislabels.
// Every piece of data is put into the page with textContent or as an attribute value set
// through the DOM API, never as HTML. Every request carries the token; decisions are POSTs.
"use strict";
(function () {
  const TOKEN = new URLSearchParams(location.search).get("token") || "";
  const PAGE = 48;
  const STATE_NAMES = { todo: "to review", keep: "kept given", accept: "accepted", relabel: "relabelled", drop: "dropped" };
  const KEYS = [
    ["→ / n", "next sample"], ["← / p", "previous sample"], ["↑ / ↓", "row up / down (grid)"],
    ["k", "keep the given label"], ["a / Enter", "accept the suggestion"], ["1 – 9", "relabel as candidate 1–9"],
    ["c or /", "class picker (type ahead)"], ["d", "drop: not a valid image of any class"],
    ["s", "skip"], ["u / Ctrl+Z", "undo the last decision"], ["g", "grid ↔ single view"],
    ["z / Space", "show the image larger"], ["?", "these keys"], ["Esc", "close"],
  ];
  const STALE = "selection.parquet changed on disk (select ran again): restart `labelclean review --serve` to see the new suspects; decisions are kept";
  const $ = (id) => document.getElementById(id);
  const st = {
    summary: null, filters: { view: "suspects" }, layout: "grid", items: [], pageStart: 0, total: 0,
    cursor: 0, undo: [], skipped: 0, chain: Promise.resolve(), pickerSel: 0, pickerItems: [], firstLoad: true,
  };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  function api(path, params) {
    const q = new URLSearchParams(params || {});
    q.set("token", TOKEN);
    return fetch(`${path}?${q}`, { headers: { "X-Labelclean-Token": TOKEN } }).then(checked);
  }

  function checked(r) {
    return r.json().catch(() => ({})).then((body) => {
      if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
      return body;
    });
  }

  function imgUrl(id, size) {
    return `img?${new URLSearchParams({ id, size, token: TOKEN })}`;
  }

  function image(id, size, alt) {
    const img = el("img", { src: imgUrl(id, size), alt: alt || "", loading: "lazy" });
    img.addEventListener("error", () => img.replaceWith(el("div", { class: "missing", text: "no image" })));
    return img;
  }

  function say(text) { $("status").textContent = text; }

  function filterParams() {
    const p = {};
    for (const [k, v] of Object.entries(st.filters)) if (v !== "" && v !== null && v !== undefined) p[k] = v;
    return p;
  }

  // ---- summary: progress, counts, filter choices, heatmap ------------------------------
  function loadSummary() {
    return api("api/summary").then((s) => { st.summary = s; renderSummary(); });
  }

  function renderSummary() {
    const s = st.summary;
    const pct = s.suspects ? (100 * s.reviewed) / s.suspects : 100;
    $("progress-fill").style.width = `${pct.toFixed(1)}%`;
    $("progress-text").textContent = `${s.reviewed} / ${s.suspects} suspects reviewed`;
    const counts = $("counts");
    counts.replaceChildren();
    for (const k of ["keep", "accept", "relabel", "drop"]) {
      counts.append(el("span", { class: "count", "data-state": k, text: `${STATE_NAMES[k]}: ${s.counts[k]}` }));
    }
    counts.append(el("span", { class: "count", "data-state": "skip", text: `skipped: ${st.skipped}` }));
    for (const id of ["f-given", "f-suggested"]) {
      const sel = $(id);
      if (sel.options.length <= (id === "f-given" ? 1 : 2)) {
        s.classes.forEach((name, i) => sel.append(el("option", { value: String(i), text: name })));
      }
    }
    renderHeatmap(s.heatmap);
    if (s.selection_changed) say(STALE);
  }

  function renderHeatmap(h) {
    const t = $("heatmap");
    t.replaceChildren();
    if (!h.classes.length) { t.append(el("tr", {}, el("td", { text: "no suggested relabels" }))); return; }
    const max = Math.max(1, ...h.cells.flat());
    t.append(el("tr", {}, el("th", { text: "given ↓ / suggested →" }), ...h.classes.map((c) => el("th", { title: c.name, text: c.name }))));
    h.classes.forEach((g, i) => {
      const row = el("tr", {}, el("th", { title: g.name, text: g.name }));
      h.classes.forEach((sug, j) => {
        const n = h.cells[i][j];
        const b = el("button", { type: "button", title: `${g.name} → ${sug.name}: ${n}`, text: n ? String(n) : "",
          "data-given": String(g.id), "data-suggested": String(sug.id) });
        b.style.background = n ? `rgba(37, 99, 235, ${0.12 + 0.88 * n / max})` : "#f2f4f7";
        if (n / max > 0.5) b.style.color = "#fff";
        b.addEventListener("click", () => setFilters({ view: "suspects", given: String(g.id), suggested: String(sug.id), state: "" }));
        row.append(el("td", {}, b));
      });
      t.append(row);
    });
  }

  // ---- pages ---------------------------------------------------------------------------
  function loadPage(start) {
    return api("api/items", { ...filterParams(), offset: start, limit: PAGE }).then((r) => {
      st.items = r.items; st.pageStart = r.offset; st.total = r.total;
      if (st.firstLoad) {
        st.firstLoad = false;
        if (r.first_todo !== null && r.first_todo >= PAGE) { st.cursor = r.first_todo; return loadPage(pageOf(st.cursor)); }
        if (r.first_todo !== null) st.cursor = r.first_todo;
      }
      st.cursor = Math.min(st.cursor, Math.max(0, st.total - 1));
      render();
    });
  }

  function pageOf(i) { return Math.floor(i / PAGE) * PAGE; }

  function current() { return st.items[st.cursor - st.pageStart]; }

  function moveTo(i) {
    if (!st.total) return Promise.resolve();
    i = Math.max(0, Math.min(st.total - 1, i));
    st.cursor = i;
    if (i < st.pageStart || i >= st.pageStart + st.items.length) return loadPage(pageOf(i));
    render();
    return Promise.resolve();
  }

  function setFilters(patch) {
    Object.assign(st.filters, patch);
    $("f-given").value = st.filters.given || "";
    $("f-suggested").value = st.filters.suggested || "";
    $("f-state").value = st.filters.state || "";
    $("view-suspects").classList.toggle("active", st.filters.view === "suspects");
    $("view-kept").classList.toggle("active", st.filters.view === "kept");
    st.cursor = 0; st.firstLoad = true;
    return loadPage(0);
  }

  // ---- rendering -----------------------------------------------------------------------
  function render() {
    $("f-total").textContent = `${st.total} ${st.filters.view === "kept" ? "kept samples" : "suspects"} match`;
    const pages = Math.max(1, Math.ceil(st.total / PAGE));
    $("page-text").textContent = st.total ? `sample ${st.cursor + 1} of ${st.total} · page ${st.pageStart / PAGE + 1} of ${pages}` : "nothing to show";
    $("grid").hidden = st.layout !== "grid";
    $("single").hidden = st.layout !== "single";
    $("toggle-layout").textContent = st.layout === "grid" ? "Single view" : "Grid view";
    if (st.layout === "grid") renderGrid(); else { renderSingle(); window.scrollTo(0, 0); }
  }

  function stateBadge(it) {
    const text = it.state === "relabel" || it.state === "accept" ? `${STATE_NAMES[it.state]} → ${(it.decision || "").replace(/^relabel:/, "")}` : STATE_NAMES[it.state];
    return el("span", { class: `badge s-${it.state}`, text });
  }

  function renderGrid() {
    const g = $("grid");
    g.replaceChildren();
    st.items.forEach((it, j) => {
      const pos = st.pageStart + j;
      const card = el("div", { class: `card${pos === st.cursor ? " current" : ""}`, "data-id": it.id },
        image(it.id, "thumb", it.name),
        el("div", { class: "line", title: it.id, text: it.name }),
        el("div", { class: "line" }, el("span", { class: "given", text: it.given ?? "?" }),
          el("span", { class: "arrow", text: " → " }), el("span", { class: "sugg", text: it.suggested ?? "—" }),
          it.confidence !== null ? el("span", { class: "muted", text: ` ${it.confidence.toFixed(2)}` }) : null),
        el("div", { class: "line" }, stateBadge(it), el("span", { class: "muted", text: ` score ${fmt(it.score)}` })));
      card.addEventListener("click", () => { st.cursor = pos; render(); });
      card.addEventListener("dblclick", () => { st.cursor = pos; st.layout = "single"; render(); });
      g.append(card);
    });
    const cur = g.querySelector(".card.current");
    if (cur) cur.scrollIntoView({ block: "nearest" });
  }

  function fmt(x) { return x === null || x === undefined ? "—" : x.toFixed(3); }

  function renderSingle() {
    const box = $("single");
    box.replaceChildren();
    const it = current();
    if (!it) { box.append(el("p", { text: "Nothing matches these filters." })); return; }
    const big = image(it.id, "large", it.name);
    big.addEventListener("click", zoom);
    const details = el("dl", {},
      el("dt", { text: "sample" }), el("dd", { text: it.id }),
      el("dt", { text: "given" }), el("dd", { class: "given", text: it.given ?? "?" }),
      el("dt", { text: "suggested" }), el("dd", { text: it.suggested === null ? "— (no confident alternative)" : `${it.suggested} (confidence ${fmt(it.confidence)})` }),
      el("dt", { text: "clean score" }), el("dd", { text: `${fmt(it.score)}${it.outlier ? " · outlier: no class fits well" : ""}` }),
      el("dt", { text: "failed" }), el("dd", {}, ...(it.failed.length ? it.failed.map((f) => el("span", { class: "chip", text: f })) : ["none"])),
      el("dt", { text: `top-3${st.summary && st.summary.top3_estimator ? ` (${st.summary.top3_estimator})` : ""}` }),
      el("dd", { text: it.top3.length ? it.top3.map(([n, p]) => `${n} ${p.toFixed(2)}`).join(" · ") : "—" }),
      el("dt", { text: "decision" }), el("dd", {}, stateBadge(it)));
    const actions = el("div", { class: "actions" },
      actionButton("k", `keep “${it.given}”`, () => decide("reject")),
      it.suggested !== null ? actionButton("a", `accept “${it.suggested}”`, () => decide(`relabel:${it.suggested}`)) : null,
      actionButton("c", "other class…", openPicker), actionButton("d", "drop", () => decide("drop")),
      actionButton("s", "skip", skip), actionButton("u", "undo", undo));
    const cands = el("div", { class: "cands" }, ...it.candidates.map((name, i) =>
      actionButton(String(i + 1), name, () => decide(`relabel:${name}`))));
    const right = el("div", {}, el("h2", { text: it.name }), details, actions, cands, neighbourSection(it));
    box.append(el("div", { class: "main-img" }, big), right);
  }

  function actionButton(key, label, fn) {
    const b = el("button", { type: "button" }, el("kbd", { text: key }), label);
    b.addEventListener("click", () => (fn === openPicker ? fn() : enqueue(fn)));
    return b;
  }

  function neighbourSection(it) {
    const wrap = el("div", {});
    if (it.duplicates.length) {
      wrap.append(el("h3", { text: "Identical files" }),
        el("div", { class: "nbrs" }, ...it.duplicates.map((d) => thumbCard(d, "dup", "identical file"))));
    }
    wrap.append(el("h3", { text: "Nearest neighbours" }));
    if (it.neighbours === null) {
      const n = st.summary && st.summary.neighbours;
      wrap.append(el("p", { class: "muted", text: n && n.status === "computing" ? "computing nearest neighbours…" : (n && n.detail ? `not available: ${n.detail}` : "not available for this sample") }));
    } else {
      wrap.append(el("div", { class: "nbrs" }, ...it.neighbours.map((nb) =>
        thumbCard(nb, nb.near_duplicate ? "dup" : (nb.label === it.given ? "same" : ""),
          `${nb.near_duplicate ? "near-duplicate · " : ""}sim ${nb.sim.toFixed(3)}`))));
    }
    return wrap;
  }

  function thumbCard(nb, cls, note) {
    return el("div", { class: `thumb ${cls}`, title: nb.id }, image(nb.id, "thumb", nb.label || ""),
      el("div", { class: "line given", text: nb.label ?? "?" }), el("div", { class: "line muted", text: note }));
  }

  function zoom() {
    const it = current();
    if (!it) return;
    $("zoom-img").src = imgUrl(it.id, "large");
    $("zoom-caption").textContent = `${it.id} — given ${it.given}`;
    $("zoom").hidden = false;
  }

  // ---- decisions -----------------------------------------------------------------------
  function post(id, decision) {
    return fetch(`api/decide?token=${encodeURIComponent(TOKEN)}`, {
      method: "POST", headers: { "Content-Type": "application/json", "X-Labelclean-Token": TOKEN },
      body: JSON.stringify({ id, decision }),
    }).then(checked);
  }

  // Keys act one after another, each on the sample current when its turn comes, so fast
  // typing never loses a key or applies one to the wrong sample while a save is in flight.
  function enqueue(fn) {
    st.chain = st.chain.then(fn).catch((e) => say(`error: ${e.message || e}`));
    return st.chain;
  }

  function decide(decision) {
    const it = current();
    if (!it) return Promise.resolve();
    const prev = it.decision;
    return post(it.id, decision).then((r) => {
      st.undo.push({ id: it.id, prev, pos: st.cursor });
      it.state = r.state; it.decision = r.stored;
      const moved = st.filters.state && st.filters.state !== r.state
        ? loadPage(st.pageStart).then(() => moveTo(st.cursor)) : moveTo(st.cursor + 1);
      return moved.then(() => { counted(r.counts); say(`saved: ${it.id} → ${r.stored}`); });
    }).catch((e) => say(`not saved: ${e.message}`));
  }

  function counted(counts) {
    st.summary.counts = counts;
    st.summary.reviewed = st.summary.suspects - counts.todo;
    renderSummary();
  }

  function undo() {
    const last = st.undo.pop();
    if (!last) { say("nothing to undo"); return Promise.resolve(); }
    return post(last.id, last.prev).then((r) => {
      st.cursor = last.pos;
      return loadPage(pageOf(last.pos)).then(() => {
        counted(r.counts);
        say(`undone: ${last.id} is ${last.prev ? `back to ${last.prev}` : "not reviewed again"}`);
      });
    }).catch((e) => { st.undo.push(last); say(`undo failed: ${e.message}`); });
  }

  function skip() {
    st.skipped += 1;
    renderSummary();
    return moveTo(st.cursor + 1);
  }

  // ---- class picker --------------------------------------------------------------------
  function openPicker() {
    if (!current()) return;
    $("picker").hidden = false;
    $("picker-input").value = "";
    st.pickerSel = 0;
    renderPicker();
    $("picker-input").focus();
  }

  function closeOverlays() {
    for (const id of ["picker", "zoom", "help"]) $(id).hidden = true;
  }

  function renderPicker() {
    const q = $("picker-input").value.trim().toLowerCase();
    const names = st.summary.classes;
    const pre = names.filter((n) => n.toLowerCase().startsWith(q));
    const sub = names.filter((n) => !n.toLowerCase().startsWith(q) && n.toLowerCase().includes(q));
    st.pickerItems = [...pre, ...sub].slice(0, 50);
    st.pickerSel = Math.min(st.pickerSel, Math.max(0, st.pickerItems.length - 1));
    const list = $("picker-list");
    list.replaceChildren(...st.pickerItems.map((n, i) => {
      const li = el("li", { class: i === st.pickerSel ? "sel" : "", text: n });
      li.addEventListener("click", () => pick(n));
      return li;
    }));
  }

  function pick(name) {
    const it = current();
    closeOverlays();
    if (!it || name === undefined) return;
    enqueue(() => decide(name === it.given ? "reject" : `relabel:${name}`));
  }

  $("picker-input").addEventListener("input", () => { st.pickerSel = 0; renderPicker(); });
  $("picker-input").addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { st.pickerSel = Math.min(st.pickerSel + 1, st.pickerItems.length - 1); renderPicker(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { st.pickerSel = Math.max(st.pickerSel - 1, 0); renderPicker(); e.preventDefault(); }
    else if (e.key === "Enter") { pick(st.pickerItems[st.pickerSel]); e.preventDefault(); }
    else if (e.key === "Escape") { closeOverlays(); e.preventDefault(); }
    e.stopPropagation();
  });

  // ---- keyboard ------------------------------------------------------------------------
  function columns() {
    const cards = $("grid").children;
    if (cards.length < 2) return 1;
    const top = cards[0].offsetTop;
    let n = 0;
    while (n < cards.length && cards[n].offsetTop === top) n++;
    return Math.max(1, n);
  }

  document.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") { if (e.key === "Escape") e.target.blur(); return; }
    if (e.altKey || e.metaKey && e.key !== "z" || e.ctrlKey && e.key !== "z") return;
    const overlay = !$("picker").hidden || !$("zoom").hidden || !$("help").hidden;
    if (overlay) { if (e.key === "Escape" || e.key === "z" || e.key === " ") { closeOverlays(); e.preventDefault(); } return; }
    let handled = true;
    switch (e.key) {
      case "ArrowRight": case "n": enqueue(() => moveTo(st.cursor + 1)); break;
      case "ArrowLeft": case "p": enqueue(() => moveTo(st.cursor - 1)); break;
      case "ArrowDown": enqueue(() => moveTo(st.cursor + (st.layout === "grid" ? columns() : 1))); break;
      case "ArrowUp": enqueue(() => moveTo(st.cursor - (st.layout === "grid" ? columns() : 1))); break;
      case "k": enqueue(() => decide("reject")); break;
      case "a": case "Enter":
        enqueue(() => {
          const cur = current();
          if (cur && cur.suggested !== null) return decide(`relabel:${cur.suggested}`);
          say("no suggestion for this sample: k keeps it, c picks a class, d drops it");
        });
        break;
      case "d": enqueue(() => decide("drop")); break;
      case "s": enqueue(skip); break;
      case "u": enqueue(undo); break;
      case "z": if (e.ctrlKey || e.metaKey) enqueue(undo); else zoom(); break;
      case " ": zoom(); break;
      case "c": case "/": enqueue(openPicker); break;
      case "g": st.layout = st.layout === "grid" ? "single" : "grid"; render(); break;
      case "?": $("help").hidden = false; break;
      case "Escape": closeOverlays(); break;
      default:
        if (/^[1-9]$/.test(e.key)) {
          const n = Number(e.key);
          enqueue(() => {
            const cur = current();
            const name = cur && cur.candidates[n - 1];
            if (name !== undefined && name) return decide(`relabel:${name}`);
            say(`no candidate ${n} for this sample`);
          });
        } else handled = false;
    }
    if (handled) e.preventDefault();
  });

  // ---- controls ------------------------------------------------------------------------
  $("view-suspects").addEventListener("click", () => setFilters({ view: "suspects" }));
  $("view-kept").addEventListener("click", () => setFilters({ view: "kept" }));
  $("toggle-layout").addEventListener("click", () => { st.layout = st.layout === "grid" ? "single" : "grid"; render(); });
  $("toggle-pairs").addEventListener("click", () => { $("pairs").hidden = !$("pairs").hidden; });
  $("show-help").addEventListener("click", () => { $("help").hidden = false; });
  $("zoom").addEventListener("click", closeOverlays);
  $("help").addEventListener("click", (e) => { if (e.target === $("help")) closeOverlays(); });
  $("picker").addEventListener("click", (e) => { if (e.target === $("picker")) closeOverlays(); });
  $("f-given").addEventListener("change", (e) => setFilters({ given: e.target.value }));
  $("f-suggested").addEventListener("change", (e) => setFilters({ suggested: e.target.value }));
  $("f-state").addEventListener("change", (e) => setFilters({ state: e.target.value }));
  $("f-min").addEventListener("change", (e) => setFilters({ min: e.target.value }));
  $("f-max").addEventListener("change", (e) => setFilters({ max: e.target.value }));
  $("f-clear").addEventListener("click", () => { $("f-min").value = ""; $("f-max").value = "";
    setFilters({ given: "", suggested: "", state: "", min: "", max: "" }); });
  $("prev-page").addEventListener("click", () => moveTo(st.pageStart - PAGE));
  $("next-page").addEventListener("click", () => moveTo(st.pageStart + PAGE));
  $("help-keys").replaceChildren(...KEYS.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: v }))));

  loadSummary().then(() => loadPage(0)).then(() => {
    say(st.summary.selection_changed ? STALE : "ready: k keep · a accept · 1–9 pick · c class · d drop · s skip · u undo · g view · ? keys");
    document.body.dataset.ready = "1";
    if (st.summary.neighbours && st.summary.neighbours.status === "computing") {
      const poll = setInterval(() => loadSummary().then(() => {
        if (st.summary.neighbours.status !== "computing") { clearInterval(poll); loadPage(st.pageStart); }
      }), 2000);
    }
  }).catch((e) => say(`cannot load: ${e.message}`));
})();
