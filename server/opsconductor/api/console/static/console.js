// OpsConductor console: live refresh over SSE, selection, actions, keyboard, silence preview.
// No framework and no build step: the server renders HTML, this swaps fragments and calls the JSON API.
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // ---- messages: problem bodies (RFC 9457) are shown as they are --------------------------------
  function flash(text, ok) {
    const el = $("#flash");
    if (!el) return;
    el.textContent = text;
    el.className = ok ? "flash ok" : "flash";
    el.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { el.hidden = true; }, ok ? 3000 : 10000);
  }

  async function problemText(resp) {
    try {
      const body = await resp.json();
      let text = body.detail || body.title || resp.statusText;
      if (Array.isArray(body.errors) && body.errors.length) {
        text += ": " + body.errors.map((e) => (e.field ? e.field + ": " : "") + (e.message || "")).join("; ");
      }
      return text;
    } catch (e) {
      return resp.status + " " + resp.statusText;
    }
  }

  async function api(method, url, body) {
    const headers = { "X-CSRF-Token": csrf(), "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(url, { method, headers, credentials: "same-origin",
                                    body: body === undefined ? undefined : JSON.stringify(body) });
    if (resp.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
    if (!resp.ok) throw new Error(await problemText(resp));
    return resp.status === 204 ? null : resp.json();
  }

  // ---- live: SSE "change" -> re-fetch this page's fragment ----------------------------------------
  const fragment = document.body.dataset.fragment;
  let refreshing = false, again = false;

  async function refresh() {
    if (!fragment) return;
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const resp = await fetch(fragment + location.search, { credentials: "same-origin" });
      if (resp.status === 401) { location.reload(); return; }
      if (!resp.ok) { flash(await problemText(resp)); return; }
      const html = await resp.text();
      const live = $("#live");
      const state = keepState();
      live.innerHTML = html;
      restoreState(state);
    } catch (e) {
      setLive(false);
    } finally {
      refreshing = false;
      if (again) { again = false; setTimeout(refresh, 50); }
    }
  }

  function setLive(on, why) {
    const el = $("#live-state");
    if (el) { el.className = "live-state " + (on ? "on" : "off") + (el.classList.contains("tv-live") ? " tv-live" : "");
              el.title = on ? "live" : (why || "not live: reconnecting…"); }
  }

  function connect() {
    if (!fragment || !window.EventSource) return;
    const source = new EventSource("/console/stream");
    // Streams are short-lived (the server ends each after a few seconds and the browser reconnects):
    // re-fetch on a new stream only if the version moved meanwhile (another process: always).
    let version = null;
    source.addEventListener("hello", (ev) => {
      setLive(true);
      if (version !== null && ev.data !== version) refresh();
      version = ev.data;
    });
    source.addEventListener("change", (ev) => { setLive(true); version = ev.data; refresh(); });
    source.addEventListener("trouble", (ev) => setLive(false, ev.data));
    source.onerror = () => setLive(false);
  }

  // Ages move even when nothing changes.
  if (fragment) setInterval(refresh, 60000);

  // ---- selection and cursor (alert list) ----------------------------------------------------------
  function rows() { return $$("tr.alert-row").filter((r) => !r.hidden && r.closest("#live")); }
  let cursorId = null;

  function keepState() {
    const all = $("#select-all");
    return { selected: selectedIds(), cursor: cursorId, all: !!(all && all.checked),
             open: $$(".expand[aria-expanded=true]").map((b) => b.dataset.parent),
             known: new Set($$("tr.alert-row").map((r) => r.dataset.id)) };
  }

  function restoreState(st) {
    st.open.forEach((id) => { const b = $('.expand[data-parent="' + id + '"]'); if (b) toggleChildren(b, true); });
    $$("input.select").forEach((cb) => { cb.checked = st.selected.includes(cb.value); mark(cb); });
    const all = $("#select-all");
    if (all) all.checked = !!st.all;
    if (st.cursor) setCursor($('tr.alert-row[data-id="' + st.cursor + '"]'), false);
    if (st.known.size) $$("tr.alert-row").forEach((r) => { if (!st.known.has(r.dataset.id)) r.classList.add("fresh"); });
    updateCount();
  }

  function selectedIds() { return $$("input.select:checked").map((cb) => cb.value); }
  function mark(cb) { const tr = cb.closest("tr"); if (tr) tr.classList.toggle("selected", cb.checked); }
  function updateCount() {
    const el = $("#selected-count");
    if (el) el.textContent = selectedIds().length + " selected";
  }

  function setCursor(tr, scroll) {
    $$("tr.alert-row.cursor").forEach((r) => r.classList.remove("cursor"));
    if (!tr) { cursorId = null; return; }
    tr.classList.add("cursor");
    cursorId = tr.dataset.id;
    if (scroll !== false) tr.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const list = rows();
    if (!list.length) return;
    const i = list.findIndex((r) => r.dataset.id === cursorId);
    const next = i < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, i + step));
    setCursor(list[next]);
  }

  function toggleChildren(btn, force) {
    const open = force !== undefined ? force : btn.getAttribute("aria-expanded") !== "true";
    btn.setAttribute("aria-expanded", String(open));
    btn.textContent = (open ? "▾ " : "▸ ") + btn.textContent.replace(/^[▸▾]\s*/, "");
    $$("tr.child-of-" + btn.dataset.parent).forEach((r) => { r.hidden = !open; });
  }

  // ---- actions ------------------------------------------------------------------------------------
  function targetIds(root) {
    const holder = root && root.closest("[data-ids]");
    if (holder) return holder.dataset.ids.split(",");
    const ids = selectedIds();
    if (!ids.length && cursorId) return [cursorId];
    if (!ids.length && document.body.dataset.alert) return [document.body.dataset.alert];  // the detail page
    return ids;
  }

  function parseDuration(text) {
    const m = /^\s*(\d+)\s*([mhd])\s*$/.exec(text || "");
    if (!m) return null;
    return parseInt(m[1], 10) * { m: 60, h: 3600, d: 86400 }[m[2]];
  }

  async function act(action, ids) {
    if (!ids.length) { flash("Select alerts first (x, or the check boxes), or move to one with j/k."); return; }
    let text;
    try {
      if (action === "note") {
        text = prompt("Note for " + ids.length + " alert(s):");
        if (!text) return;
        for (const id of ids) await api("POST", "/api/v1/alerts/" + id + "/note", { text });
      } else if (action === "shelve") {
        const dur = prompt("Shelve (acknowledge until): 30m, 2h, 1d", "2h");
        if (!dur) return;
        if (!parseDuration(dur)) { flash("Use a duration like 30m, 2h or 1d."); return; }
        const r = await api("POST", "/console/shelve", { ids: ids.map(Number), duration: dur.trim() });
        flash(r.changed + " of " + ids.length + " shelved until " + r.until +
              (r.changed < ids.length ? " (the others were already acknowledged or closed)" : "") + ".", true);
      } else if (action === "ack" || action === "resolve") {
        const r = await api("POST", "/api/v1/alerts/bulk/" + action, { ids: ids.map(Number) });
        if (r && r.changed < ids.length) flash((ids.length - r.changed) + " of " + ids.length + " were already " +
                                                (action === "ack" ? "acknowledged or closed" : "closed") + ".", true);
      } else {
        const errors = [];
        for (const id of ids) {
          try { await api("POST", "/api/v1/alerts/" + id + "/" + action, {}); } catch (e) { errors.push("#" + id + ": " + e.message); }
        }
        if (errors.length) flash(errors.join("; "));
      }
      $$("input.select:checked").forEach((cb) => { cb.checked = false; mark(cb); });
      updateCount();
      refresh();
    } catch (e) {
      flash(e.message);
    }
  }

  document.addEventListener("click", (ev) => {
    const t = ev.target;
    if (!(t instanceof Element)) return;
    const btn = t.closest("button[data-action]");
    if (btn) { act(btn.dataset.action, targetIds(btn)); return; }
    const exp = t.closest("button.expand");
    if (exp) { toggleChildren(exp); return; }
    const expire = t.closest("button.expire");
    if (expire) { expireSilence(expire.dataset.id); return; }
    if (t.closest("#add-matcher")) { addMatcher(); return; }
    const rm = t.closest("button.remove");
    if (rm) { const all = $$(".matcher"); if (all.length > 1) rm.closest(".matcher").remove(); else $$("input", rm.closest(".matcher")).forEach((i) => { i.value = ""; }); preview(); return; }
    const tr = t.closest("tr.alert-row");
    if (tr && tr.closest("#live") && !t.closest("a,input,button")) setCursor(tr, false);
  });

  document.addEventListener("change", (ev) => {
    const t = ev.target;
    if (t.matches && t.matches("input.select")) { mark(t); updateCount(); }
    if (t.id === "select-all") { $$("input.select").forEach((cb) => { if (!cb.closest("tr").hidden) { cb.checked = t.checked; mark(cb); } }); updateCount(); }
    if (t.closest && t.closest("#filters") && t.type === "checkbox") t.form.submit();
    if (t.id === "sort") t.form.submit();
  });

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (form.classList.contains("note-form")) {
      ev.preventDefault();
      const text = form.elements.text.value.trim();
      if (!text) return;
      try { await api("POST", "/api/v1/alerts/" + form.dataset.id + "/note", { text }); form.reset(); refresh(); }
      catch (e) { flash(e.message); }
    } else if (form.id === "silence-form") {
      ev.preventDefault();
      try {
        const s = await api("POST", "/api/v1/silences", { matchers: matchers(), comment: form.elements.comment.value,
                                                         duration: form.elements.duration.value.trim() });
        flash("Silence #" + s.id + " created, until " + s.ends_at + ".", true);
        setTimeout(() => location.reload(), 600);
      } catch (e) { flash(e.message); }
    }
  });

  // ---- keyboard -----------------------------------------------------------------------------------
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (t instanceof Element && t.closest("a,button") && (ev.key === "Enter" || ev.key === " ")) return;
    if (t instanceof Element && t.closest("input,textarea,select,dialog")) {
      if (ev.key === "Escape" && t.blur) t.blur();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const onList = document.body.classList.contains("page-alerts");
    const cur = cursorId && $('tr.alert-row[data-id="' + cursorId + '"]');
    switch (ev.key) {
      case "j": case "ArrowDown": if (onList) { move(1); ev.preventDefault(); } break;
      case "k": case "ArrowUp": if (onList) { move(-1); ev.preventDefault(); } break;
      case "x": case " ":
        if (cur) { const cb = $("input.select", cur); if (cb) { cb.checked = !cb.checked; mark(cb); updateCount(); } ev.preventDefault(); }
        break;
      case "Enter": case "o": if (cur) location.href = "/alerts/" + cursorId; break;
      case "e": if (cur) { const b = $(".expand", cur); if (b) toggleChildren(b); } break;
      case "a": act("ack", targetIds()); break;
      case "u": act("unack", targetIds()); break;
      case "r": act("resolve", targetIds()); break;
      case "s": act("shelve", targetIds()); break;
      case "n": act("note", targetIds()); break;
      case "/": { const s = $("#search"); if (s) { s.focus(); ev.preventDefault(); } break; }
      case "Escape": $$("input.select:checked").forEach((cb) => { cb.checked = false; mark(cb); }); updateCount(); break;
      case "?": { const d = $("#help"); if (d && d.showModal) d.showModal(); break; }
      default: break;
    }
  });

  // ---- silences: matchers, live preview, expire ---------------------------------------------------
  function matchers() {
    const out = {};
    $$(".matcher").forEach((row) => {
      const field = row.querySelector("[name=field]").value.trim();
      const op = row.querySelector("[name=op]").value;
      const value = row.querySelector("[name=value]").value.trim();
      if (!field) return;
      out[field] = op === "=" ? value : op === "!=" ? { not: value } : { regex: value };
    });
    return out;
  }

  function addMatcher() {
    const rows = $$(".matcher");
    const copy = rows[rows.length - 1].cloneNode(true);
    $$("input", copy).forEach((i) => { i.value = ""; });
    $("#matchers").appendChild(copy);
    $("input", copy).focus();
  }

  let previewTimer = null;
  function preview() {
    const box = $("#preview");
    if (!box) return;
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const resp = await fetch("/console/preview?matchers=" + encodeURIComponent(JSON.stringify(matchers())),
                               { credentials: "same-origin" });
      box.innerHTML = resp.ok ? await resp.text() : "<p class=error></p>";
      if (!resp.ok) box.firstChild.textContent = await problemText(resp);
    }, 200);
  }

  document.addEventListener("input", (ev) => { if (ev.target.closest && ev.target.closest("#matchers")) preview(); });

  async function expireSilence(id) {
    try { await api("DELETE", "/api/v1/silences/" + id); flash("Silence #" + id + " expired.", true); setTimeout(() => location.reload(), 600); }
    catch (e) { flash(e.message); }
  }

  // ---- start ---------------------------------------------------------------------------------------
  if ($("#silence-form") && matchers() && Object.keys(matchers()).length) preview();
  restoreState({ selected: [], cursor: null, open: [], known: new Set() });
  connect();
})();
