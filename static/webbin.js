// webbin dashboard behaviour. Loaded as a file (no inline script), so a strict CSP can apply.
(() => {
  "use strict";

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // ---- theme -------------------------------------------------------------
  function toggleTheme() {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("webbin-theme", next);
  }

  // ---- toast -------------------------------------------------------------
  let toastTimer;
  function toast(text, kind = "info") {
    const el = $("#toast");
    if (!el) return;
    el.textContent = text;
    el.dataset.kind = kind;
    el.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => el.classList.remove("show"), 2500);
  }

  // ---- copy buttons ------------------------------------------------------
  async function writeText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API needs a secure context; fall back to a selection copy.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  }

  async function copyFrom(selector) {
    const source = $(selector);
    if (!source) return;
    await writeText("value" in source && source.tagName !== "PRE" ? source.value : source.textContent);
    toast("Copied to clipboard");
  }

  // A body exactly as received, from its raw download: the page shows it re-indented,
  // decoded or cut short. Strict UTF-8 with any BOM kept; other bytes would change on the
  // way through a text clipboard, so the user is sent to Download raw instead.
  async function bodyText(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`Could not read the body (HTTP ${response.status}).`);
    const bytes = await response.arrayBuffer();
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      throw new Error("This body is not UTF-8 text, so a copy could not be exact: use Download raw.");
    }
  }

  async function copyBody(url) {
    const text = bodyText(url);
    text.catch(() => {}); // reported below, whichever way the copy goes
    try {
      if (navigator.clipboard && window.ClipboardItem) {
        // A promised item keeps the click's user activation while the body loads (Safari
        // refuses a plain write after an await). A string, not a Blob: Chromium drops a
        // leading BOM when it decodes a Blob.
        try {
          await navigator.clipboard.write([new ClipboardItem({ "text/plain": text })]);
        } catch {
          await writeText(await text);
        }
      } else {
        await writeText(await text);
      }
      toast("Copied the body exactly as received");
    } catch (err) {
      toast(err.message, "error");
    }
  }

  // ---- local times -------------------------------------------------------
  const timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  function localiseTimes(root) {
    for (const el of $$("time[datetime]:not([data-local])", root)) {
      if (el.closest(".request-row")) {
        listTime(el);
        continue;
      }
      const when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.textContent = timeFormat.format(when);
        el.title = el.getAttribute("datetime");
        el.dataset.local = "1";
      }
    }
  }

  // List rows say how long ago they arrived ("12 s ago"), the exact time in their title.
  function ago(seconds) {
    if (seconds < 60) return `${Math.max(Math.floor(seconds), 0)} s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return `${Math.floor(seconds / 86400)} d ago`;
  }
  function relativeTime(el, now) {
    const when = Date.parse(el.getAttribute("datetime"));
    if (isNaN(when)) return Infinity;
    const seconds = (now - when) / 1000;
    const text = ago(seconds);
    if (el.textContent !== text) el.textContent = text;
    return seconds;
  }
  function listTime(el) {
    el.title = el.getAttribute("datetime");
    el.dataset.local = "ago";
    relativeTime(el, Date.now());
  }
  // Each second the rows under a minute old (the list is newest first, so the pass stops at
  // the first older one); every 30 s all of them, whose text changes once a minute at most.
  let ticks = 0;
  setInterval(() => {
    ticks += 1;
    const now = Date.now();
    for (const el of $$('#request-list time[data-local="ago"]')) {
      if (relativeTime(el, now) > 60 && ticks % 30) break;
    }
  }, 1000);

  // ---- live list ---------------------------------------------------------
  // The highest request id this page has shown; reconnects ask the server for
  // everything after it, so nothing that arrived while offline is missed.
  // A filtered page starts from the bin's newest id (data-latest), shown or not.
  let highWater = 0;
  function latestId() {
    const section = $("section[data-latest]");
    if (section) highWater = Math.max(highWater, Number(section.dataset.latest) || 0);
    for (const li of $$("#request-list > li[data-id]")) {
      highWater = Math.max(highWater, Number(li.dataset.id));
    }
    return highWater;
  }

  function setLiveState(state, text) {
    const el = $("#live-state");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  // Once a connection has been open, every later attempt is a reconnection: the badge says
  // so (htmx asks for a new connection right after each failed one, so "connecting" would
  // hide that the server went away). Back to "live" when one opens again.
  let everLive = false;
  function notLive() {
    if (everLive) setLiveState("reconnecting", "reconnecting…");
    else setLiveState("connecting", "connecting…");
  }
  document.addEventListener("htmx:ws:before:connection", (evt) => {
    const connection = evt.detail.connection;
    const url = new URL(connection.url);
    url.searchParams.set("after", String(latestId()));
    connection.url = url.toString();
    notLive();
  });
  document.addEventListener("htmx:ws:after:connection", () => {
    everLive = true;
    setLiveState("live", "live");
  });
  document.addEventListener("htmx:ws:close", (evt) => {
    if (evt.detail.code === 4404) setLiveState("offline", "bin deleted");
    else notLive();
  });
  document.addEventListener("htmx:ws:before:message:incoming", (evt) => {
    // Never show a row twice, whatever the network did.
    let data;
    try { data = JSON.parse(evt.detail.message.data); } catch { return; }
    if (data && data.hidden != null) {
      // Rows the filter left out: counted, and never asked for again after a reconnect.
      evt.detail.cancelled = true;
      highWater = Math.max(highWater, Number(data.last) || 0);
      countHidden(Number(data.hidden) || 0);
      countRequests(Number(data.hidden) || 0);
      return;
    }
    if (data && data.id != null && document.getElementById("req-" + data.id)) {
      evt.detail.cancelled = true;
    }
  });
  let hiddenCount = 0;
  function countHidden(count) {
    const el = $("#hidden-count");
    if (!el || !count) return;
    hiddenCount += count;
    el.textContent = `${hiddenCount} hidden by the filter`;
    el.hidden = false;
  }
  // Arrivals while the tab is in the background are counted in its title: "(3) bin · webbin".
  const baseTitle = document.title;
  let unseen = 0;
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && unseen) {
      unseen = 0;
      document.title = baseTitle;
    }
  });

  document.addEventListener("htmx:ws:after:message:incoming", () => {
    if (document.hidden) {
      unseen += 1;
      document.title = `(${unseen}) ${baseTitle}`;
    }
    // Constant work per arrival, however long the list: the new row is the first one.
    const newest = $("#request-list > li[data-id]");
    if (newest) {
      highWater = Math.max(highWater, Number(newest.dataset.id));
      localiseTimes(newest);
      if (document.hidden) notifyArrival(newest);
    }
    countRequests(1);
    flashNewest(newest);
    const all = $("#select-all");
    if (all && all.checked) { // a new row is not selected
      all.checked = false;
      all.indeterminate = true;
    }
  });

  // ---- desktop notifications --------------------------------------------
  // Opt-in with the bell: permission is asked only when it is clicked, a notification is
  // shown only while the tab is hidden, and the choice is kept for every bin of this browser.
  const NOTIFY_KEY = "webbin-notify";
  function notifying() {
    return localStorage.getItem(NOTIFY_KEY) === "on" && "Notification" in window
      && Notification.permission === "granted";
  }
  function showNotifyState() {
    const button = $("#notify-toggle");
    if (!button) return;
    const on = notifying();
    button.setAttribute("aria-pressed", String(on));
    button.title = on
      ? "Desktop notifications on: new requests are announced while this tab is hidden (click to stop)"
      : "Notify me of new requests while this tab is hidden";
  }
  async function toggleNotify() {
    if (!("Notification" in window)) {
      toast("This browser cannot show desktop notifications", "error");
    } else if (notifying()) {
      localStorage.setItem(NOTIFY_KEY, "off");
      toast("Desktop notifications off");
    } else {
      const permission = Notification.permission === "default"
        ? await Notification.requestPermission()
        : Notification.permission;
      if (permission === "granted") {
        localStorage.setItem(NOTIFY_KEY, "on");
        toast("New requests will be announced while this tab is hidden");
      } else {
        toast("Notifications are blocked for this site: allow them in the browser's site settings", "error");
      }
    }
    showNotifyState();
  }
  function notifyArrival(row) {
    if (!notifying()) return;
    const text = (sel) => ((($(sel, row) || {}).textContent) || "").trim();
    const name = (($(".bin-name") || {}).textContent || "webbin").trim();
    // Captured text goes in as text: a notification renders no markup.
    const note = new Notification(`${unseen > 1 ? `${unseen} new requests` : "New request"} · ${name}`, {
      body: `${text(".method")} ${text(".path")}`.slice(0, 200),
      tag: `webbin-${row.closest("[data-bin]") ? row.closest("[data-bin]").dataset.bin : ""}`,
    });
    note.onclick = () => {
      window.focus();
      const link = $("a[data-detail]", row);
      if (link && link.isConnected) link.click();
      note.close();
    };
  }

  // ---- selecting several requests ---------------------------------------
  // The selection is a set of ids (rows re-rendered by a swap get their boxes back from it).
  // Other features read it with webbin.selectedIds() or the "webbin:selection" event, and
  // put their buttons into #selection-actions, which shows while something is selected.
  const chosen = new Set();
  let anchorId = null; // the row a shift-click or shift-x extends from
  let announced = "";
  const binId = () => (($(".requests[data-bin]") || {}).dataset || {}).bin;
  const rowBoxes = () => $$("#request-list > li[data-id] > .row-check");
  const shown = (box) => box.closest("li").getClientRects().length > 0;
  function selectedIds() {
    return Array.from(chosen).sort((a, b) => a - b);
  }
  function selectionChanged() {
    const boxes = rowBoxes();
    const present = new Set(boxes.map((box) => Number(box.value)));
    for (const id of chosen) if (!present.has(id)) chosen.delete(id); // deleted meanwhile
    for (const box of boxes) {
      box.checked = chosen.has(Number(box.value));
      box.closest("li").classList.toggle("checked", box.checked);
    }
    const ids = selectedIds();
    const actions = $("#selection-actions");
    if (actions) {
      actions.hidden = ids.length === 0;
      $("#selection-count").textContent = `${ids.length} selected`;
      const compare = $("#compare-selected");
      if (ids.length === 2) {
        compare.href = `/bins/${encodeURIComponent(binId())}/compare/${ids[0]}/${ids[1]}`;
        compare.removeAttribute("aria-disabled");
      } else {
        compare.removeAttribute("href");
        compare.setAttribute("aria-disabled", "true");
      }
      $("#export-selected").href = `/api/bins/${encodeURIComponent(binId())}/export?ids=${ids.join(",")}`;
    }
    const all = $("#select-all");
    if (all) {
      const visible = boxes.filter(shown);
      all.checked = visible.length > 0 && visible.every((box) => box.checked);
      all.indeterminate = !all.checked && visible.some((box) => box.checked);
    }
    if (String(ids) !== announced) { // only changes are announced
      announced = String(ids);
      document.dispatchEvent(new CustomEvent("webbin:selection", { detail: { ids } }));
    }
  }
  function choose(box, extend) {
    const boxes = rowBoxes();
    const from = extend && anchorId !== null
      ? boxes.findIndex((b) => b.value === anchorId) : -1;
    const to = boxes.indexOf(box);
    const range = from === -1 ? [box] : boxes.slice(Math.min(from, to), Math.max(from, to) + 1);
    for (const b of range) {
      if (b !== box && !shown(b)) continue;
      if (box.checked) chosen.add(Number(b.value));
      else chosen.delete(Number(b.value));
    }
    anchorId = box.value;
    selectionChanged();
  }
  function chooseAll(on) {
    for (const box of rowBoxes().filter(shown)) {
      if (on) chosen.add(Number(box.value));
      else chosen.delete(Number(box.value));
    }
    selectionChanged();
  }
  function clearSelection() {
    chosen.clear();
    selectionChanged();
  }
  async function deleteSelected() {
    const ids = selectedIds();
    const many = `${ids.length} request${ids.length === 1 ? "" : "s"}`;
    if (!ids.length || !confirm(`Delete ${many}?`)) return;
    let answer;
    try {
      const response = await fetch(`/api/bins/${encodeURIComponent(binId())}/requests/delete`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ids }),
      });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
    } catch (err) {
      toast(`Could not delete: ${err.message}`, "error");
      return;
    }
    for (const id of ids) { // every one asked for is gone, whoever deleted it
      const row = document.getElementById(`req-${id}`);
      if (row) row.remove();
    }
    countRequests(-answer.deleted.length);
    const open = $("#detail .request-detail");
    if (open && ids.includes(Number(open.dataset.request))) {
      const gone = document.createElement("div");
      gone.className = "empty";
      gone.append(Object.assign(document.createElement("p"), { textContent: "Request deleted." }));
      $("#detail").replaceChildren(gone);
      const here = new URL(location.href);
      here.searchParams.delete("r");
      history.replaceState(history.state, "", here);
    }
    toast(`Deleted ${answer.deleted.length} request${answer.deleted.length === 1 ? "" : "s"}`);
    selectionChanged();
  }
  window.webbin = Object.assign(window.webbin || {}, { selectedIds });

  // ---- body views ---------------------------------------------------------
  // Pretty (re-indented JSON, form fields, parts) or raw (as received); the last choice is
  // kept for the next request shown.
  const BODY_VIEW_KEY = "webbin-body-view";
  function showBodyView(root, mode) {
    for (const views of $$(".body-views", root)) {
      if (!$(".body-raw", views)) continue;
      views.dataset.view = mode;
      for (const button of $$("[data-body-view]", views.parentElement)) {
        button.setAttribute("aria-pressed", String(button.dataset.bodyView === mode));
      }
    }
  }
  function restoreBodyView(root) {
    showBodyView(root, localStorage.getItem(BODY_VIEW_KEY) === "raw" ? "raw" : "pretty");
  }
  function chooseBodyView(mode) {
    localStorage.setItem(BODY_VIEW_KEY, mode);
    showBodyView($("#detail") || document, mode);
  }

  // "Captured: N" follows arrivals and deletions (clearing reloads the page from the server).
  function countRequests(delta) {
    const total = $("#request-total");
    if (total) total.textContent = String(Math.max(Number(total.textContent) + delta, 0));
  }

  function flashNewest(first) {
    if (first) {
      first.classList.add("fresh");
      setTimeout(() => first.classList.remove("fresh"), 1500);
    }
  }

  // ---- selection and keyboard -------------------------------------------
  function markSelected() {
    const current = $("#detail .request-detail");
    const id = current && current.dataset.request;
    for (const li of $$("#request-list > li[data-id]")) {
      li.classList.toggle("selected", li.dataset.id === id);
    }
  }

  function move(delta) {
    const rows = $$("#request-list > li[data-id]");
    if (!rows.length) return;
    let index = rows.findIndex((li) => li.classList.contains("selected"));
    index = index === -1 ? 0 : Math.min(Math.max(index + delta, 0), rows.length - 1);
    const link = $("a", rows[index]);
    if (link) {
      link.click();
      rows[index].scrollIntoView({ block: "nearest" });
    }
  }

  document.addEventListener("keydown", (evt) => {
    if (evt.ctrlKey || evt.metaKey || evt.altKey) return;
    const tag = (evt.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || evt.target.isContentEditable) return;
    if (evt.key === "Escape" && comparing) setComparing(null);
    else if (evt.key === "j") move(1);
    else if (evt.key === "k") move(-1);
    else if (evt.key === "c" && $("#capture-url")) copyFrom("#capture-url");
    else if (evt.key === "t") toggleTheme();
    else if ((evt.key === "x" || evt.key === "X") && $("#request-list li.selected > .row-check")) {
      const box = $("#request-list li.selected > .row-check");
      box.checked = !box.checked;
      choose(box, evt.shiftKey);
    } else if (evt.key === "r" && $("#detail .body-raw")) {
      chooseBodyView($("#detail .body-views").dataset.view === "raw" ? "pretty" : "raw");
    } else if (evt.key === "Escape" && chosen.size) clearSelection();
    else if (evt.key === "/" && $("#search-q")) $("#search-q").focus();
    else return;
    evt.preventDefault();
  });

  // ---- comparing two requests --------------------------------------------
  // "With another request…" on a detail arms a pick: the next row clicked in the list is
  // compared with that request, the earlier of the two on the left. Escape or Cancel
  // disarms it.
  let comparing = null;
  function setComparing(button) {
    comparing = button ? { from: Number(button.dataset.compareFrom), base: button.dataset.compareBase } : null;
    document.body.classList.toggle("comparing", Boolean(comparing));
    for (const hint of $$(".compare-hint")) hint.hidden = !comparing;
  }

  function compareWith(li) {
    const [older, newer] = [comparing.from, Number(li.dataset.id)].sort((x, y) => x - y);
    const url = `${comparing.base}${older}/${newer}`;
    setComparing(null);
    htmx.ajax("GET", url, { target: "#detail", swap: "innerHTML" });
  }

  // ---- htmx plumbing -----------------------------------------------------
  // Every htmx request carries the CSRF token in a header.
  document.addEventListener("htmx:config:request", (evt) => {
    const meta = $('meta[name="csrf-token"]');
    if (meta) evt.detail.ctx.request.headers["X-CSRF-Token"] = meta.content;
  });
  // A live arrival's swap comes from the hx-ws element; its after-message handler does the
  // little such a swap needs. Whole-page passes here would cost more as the list grows.
  function isLiveSwap(evt) {
    const source = evt.detail && evt.detail.ctx && evt.detail.ctx.sourceElement;
    return Boolean(source && source.hasAttribute && source.hasAttribute("hx-ws:connect"));
  }
  // A settings form's answer replaces the whole panel. Chromium's scroll anchoring can then
  // jump the page by the panel's height (it may pick its anchor while the old panel is out):
  // the page stays where it was instead.
  let settingsScroll = null;
  document.addEventListener("htmx:before:swap", (evt) => {
    if (evt.target.closest && evt.target.closest("#settings")) settingsScroll = [scrollX, scrollY];
  });
  document.addEventListener("htmx:after:swap", (evt) => {
    if (isLiveSwap(evt)) return;
    if (settingsScroll) {
      scrollTo(...settingsScroll);
      settingsScroll = null;
    }
    // The server confirmed each deletion it answered with this marker; count it once.
    for (const gone of $$("[data-deleted]:not([data-counted])")) {
      gone.dataset.counted = "1";
      countRequests(-1);
      // The address named the deleted request; a reload would now be a 404.
      const here = new URL(location.href);
      if (here.searchParams.get("r") === gone.dataset.deleted) {
        here.searchParams.delete("r");
        history.replaceState(history.state, "", here);
      }
    }
    localiseTimes(document);
    markSelected();
    selectionChanged();
    restoreBodyView(document);
  });
  document.addEventListener("htmx:error", () => toast("Network error: is webbin still running?", "error"));

  // ---- wiring ------------------------------------------------------------
  document.addEventListener("click", (evt) => {
    // Request rows carry captured text, so htmx ignores them (hx-ignore); their links are
    // wired here instead: load the detail in place and keep the URL shareable.
    // Compare for a selection of two: the comparison replaces the detail, as a pick does.
    const selected = evt.target.closest("#compare-selected[href]");
    if (selected && !evt.ctrlKey && !evt.metaKey && evt.button === 0) {
      evt.preventDefault();
      htmx.ajax("GET", selected.getAttribute("href"), { target: "#detail", swap: "innerHTML" });
      return;
    }
    const arm = evt.target.closest("[data-compare-from]");
    if (arm) return setComparing(arm);
    if (evt.target.closest("[data-compare-cancel]")) return setComparing(null);
    const row = evt.target.closest("a[data-detail]");
    if (row && !evt.ctrlKey && !evt.metaKey && !evt.shiftKey && evt.button === 0) {
      evt.preventDefault();
      const listed = comparing && row.closest("#request-list > li[data-id]");
      if (listed) return compareWith(listed);
      htmx.ajax("GET", row.dataset.detail, { target: "#detail", swap: "innerHTML", push: keepQuery(row.getAttribute("href")) });
      return;
    }
    const copy = evt.target.closest("[data-copy]");
    if (copy) copyFrom(copy.dataset.copy);
    const copyRaw = evt.target.closest("[data-copy-body]");
    if (copyRaw) copyBody(copyRaw.dataset.copyBody);
    if (evt.target.closest("#theme-toggle")) toggleTheme();
    if (evt.target.closest("#notify-toggle")) toggleNotify();
    const box = evt.target.closest("#request-list .row-check");
    if (box) choose(box, evt.shiftKey);
    if (evt.target.closest("#delete-selected")) deleteSelected();
    const view = evt.target.closest("[data-body-view]");
    if (view) chooseBodyView(view.dataset.bodyView);
    const fold = evt.target.closest("[data-json-fold]");
    if (fold) {
      const tree = $(".json-tree", fold.closest(".body-view") || document);
      for (const node of $$("details.json-node", tree)) node.open = fold.dataset.jsonFold === "open";
    }
  });
  document.addEventListener("change", (evt) => {
    if (evt.target.matches("#select-all")) chooseAll(evt.target.checked);
  });
  // Re-verifying changes verdicts: the signature form says which rows the page shows and
  // which request is open, and the answer brings those back re-rendered (capture phase:
  // before htmx reads the form).
  document.addEventListener("submit", (evt) => {
    const form = evt.target;
    if (!form.matches("#signature-settings")) return;
    form.elements.shown_ids.value = $$("#request-list > li[data-id]").map((li) => li.dataset.id).join(",");
    const open = $("#detail .request-detail");
    form.elements.open_id.value = open ? open.dataset.request : "";
  }, true);
  // Rows are rendered once for every viewer, so their links do not carry this page's filter:
  // the address pushed on selecting one keeps it, and the filtered view stays shareable.
  function keepQuery(href) {
    const q = new URL(location.href).searchParams.get("q");
    if (!q) return href;
    const url = new URL(href, location.href);
    url.searchParams.set("q", q);
    return url.pathname + url.search;
  }
  document.addEventListener("submit", (evt) => {
    const form = evt.target.closest("form[data-confirm]");
    if (form && !confirm(form.dataset.confirm)) evt.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", () => {
    localiseTimes(document);
    markSelected();
    latestId();
    showNotifyState();
    restoreBodyView(document);
    selectionChanged();
  });
})();
