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

  document.addEventListener("htmx:ws:before:connection", (evt) => {
    const connection = evt.detail.connection;
    const url = new URL(connection.url);
    url.searchParams.set("after", String(latestId()));
    connection.url = url.toString();
    setLiveState("connecting", "connecting…");
  });
  document.addEventListener("htmx:ws:after:connection", () => setLiveState("live", "live"));
  document.addEventListener("htmx:ws:close", (evt) => {
    const code = evt.detail.code;
    if (code === 4404) setLiveState("offline", "bin deleted");
    else setLiveState("offline", "reconnecting…");
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
    }
    countRequests(1);
    flashNewest(newest);
  });

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
  document.addEventListener("htmx:after:swap", (evt) => {
    if (isLiveSwap(evt)) return;
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
  });
  document.addEventListener("htmx:error", () => toast("Network error: is webbin still running?", "error"));

  // ---- wiring ------------------------------------------------------------
  document.addEventListener("click", (evt) => {
    // Request rows carry captured text, so htmx ignores them (hx-ignore); their links are
    // wired here instead: load the detail in place and keep the URL shareable.
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
  });
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
  });
})();
