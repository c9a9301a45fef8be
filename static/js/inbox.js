// The inbox page: keyboard triage, live updates over server-sent events, presence, the reply composer.
// Text from the networks only ever reaches the page through the server's escaped templates or textContent.
(function () {
  "use strict";

  const inbox = document.getElementById("inbox");
  if (!inbox) return;
  const listBox = document.getElementById("mention-list");
  const detailBox = document.getElementById("detail");
  const bulkForm = document.getElementById("bulk-form");
  const announcer = document.getElementById("inbox-announcer");
  const csrf = (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value || "";
  const me = inbox.dataset.me;
  const LIST_LIMIT_MAX = 200;
  const PRESENCE_EVERY_MS = 10000;

  let currentId = null; // the row the keyboard is on
  let pendingAction = null; // a shortcut waiting for the detail pane of the current row to load

  // --- Rows ---------------------------------------------------------------------------------------------

  const rows = () => Array.from(listBox.querySelectorAll("li.mention"));
  const rowById = (id) => listBox.querySelector(`li.mention[data-id="${CSS.escape(String(id))}"]`);
  const openId = () => {
    const article = detailBox.querySelector("[data-mention-id]");
    return article ? article.dataset.mentionId : null;
  };

  function setCurrent(row, { scroll = true } = {}) {
    rows().forEach((r) => r.classList.remove("is-current"));
    if (!row) return;
    row.classList.add("is-current");
    currentId = row.dataset.id;
    row.focus({ preventScroll: !scroll });
    if (scroll) row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.findIndex((r) => r.dataset.id === currentId);
    const next = all[Math.min(all.length - 1, Math.max(0, index < 0 ? 0 : index + step))];
    setCurrent(next);
  }

  function openRow(row, then) {
    if (!row) return;
    setCurrent(row);
    if (openId() === row.dataset.id) {
      if (then) then();
      return;
    }
    pendingAction = then || null;
    row.querySelector(".mention__open").click();
  }

  function markOpen() {
    const id = openId();
    rows().forEach((r) => r.classList.toggle("is-open", r.dataset.id === id));
  }

  // --- Selection and the bulk bar -----------------------------------------------------------------------

  const selected = new Set();
  const bulkResult = document.getElementById("bulk-result");

  function syncSelection() {
    rows().forEach((r) => {
      const box = r.querySelector(".mention__select");
      if (box) box.checked = selected.has(r.dataset.id);
    });
    // After an action the bar stays to say what was done, until the selection changes.
    bulkForm.hidden = selected.size === 0 && bulkResult.childElementCount === 0;
    document.getElementById("bulk-count").textContent = String(selected.size);
    // Selected rows that scrolled out of the list still count: keep them as hidden inputs.
    bulkForm.querySelectorAll("input[data-kept]").forEach((el) => el.remove());
    selected.forEach((id) => {
      if (!rowById(id)) {
        const kept = document.createElement("input");
        kept.type = "hidden";
        kept.name = "ids";
        kept.value = id;
        kept.dataset.kept = "1";
        bulkForm.appendChild(kept);
      }
    });
  }

  listBox.addEventListener("change", (event) => {
    const box = event.target.closest(".mention__select");
    if (!box) return;
    if (box.checked) selected.add(box.value);
    else selected.delete(box.value);
    bulkResult.replaceChildren();
    syncSelection();
  });

  function showBulkParams() {
    const action = document.getElementById("bulk-action").value;
    bulkForm.querySelectorAll(".bulkbar__param").forEach((span) => {
      span.hidden = span.dataset.for !== action;
      span.querySelectorAll("input, select").forEach((el) => (el.disabled = span.hidden));
    });
  }
  document.getElementById("bulk-action").addEventListener("change", showBulkParams);
  showBulkParams();
  bulkForm.querySelector("[data-bulk-clear]").addEventListener("click", () => {
    selected.clear();
    bulkResult.replaceChildren();
    syncSelection();
  });
  bulkForm.addEventListener("htmx:afterSwap", () => syncSelection()); // the result has arrived in the bar

  // --- Refreshing the list and the counts ---------------------------------------------------------------

  let refreshTimer = null;
  let refreshing = false;

  function listQuery() {
    const params = new URLSearchParams(listBox.dataset.query || "");
    const shown = rows().length;
    params.set("limit", String(Math.min(LIST_LIMIT_MAX, Math.max(50, shown))));
    const open = openId();
    if (open) params.set("open", open);
    return params;
  }

  // At most one refresh waits at a time, and it fetches whatever is newest when it runs. (Restarting the
  // wait on every event would starve the list while a busy inbox sends events faster than the wait.)
  function refreshList() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      if (refreshing) return refreshList();
      refreshing = true;
      try {
        const before = new Set(rows().map((r) => r.dataset.id));
        const response = await fetch(`${inbox.dataset.listUrl}?${listQuery()}`, {
          headers: { "HX-Request": "true" },
          credentials: "same-origin",
        });
        if (response.redirected || response.status === 401) {
          window.location.reload();
          return;
        }
        if (!response.ok) return;
        const html = await response.text();
        const hadFocus = listBox.contains(document.activeElement);
        listBox.innerHTML = html;
        if (window.htmx) window.htmx.process(listBox);
        avatarsCheck(listBox);
        const fresh = rows().filter((r) => !before.has(r.dataset.id));
        fresh.forEach((r) => r.classList.add("mention--new"));
        if (fresh.length && before.size) {
          announcer.textContent = `${fresh.length} new mention${fresh.length === 1 ? "" : "s"}`;
        }
        syncSelection();
        markOpen();
        const row = currentId && rowById(currentId);
        if (row) setCurrent(row, { scroll: false });
        if (!hadFocus && row) row.blur();
      } finally {
        refreshing = false;
      }
    }, 250);
  }

  let countsTimer = null;
  function refreshCounts() {
    if (countsTimer) return; // a burst of events costs one request for the counts, not one each
    countsTimer = setTimeout(() => {
      countsTimer = null;
      document.body.dispatchEvent(new CustomEvent("inbox:counts"));
    }, 250);
  }

  document.body.addEventListener("inbox:changed", (event) => {
    // A bulk action is done with the mentions it changed: they leave the selection (skipped ones stay), so
    // the next action does not silently apply to rows that left the list.
    if (bulkForm.contains(event.target) && event.detail && Array.isArray(event.detail.ids)) {
      event.detail.ids.forEach((id) => selected.delete(String(id)));
      syncSelection();
    }
    refreshList();
    refreshCounts();
  });

  // Filters: keep the list's query (used by live refreshes) and the address bar in step with the form.
  const filterForm = document.getElementById("filters");
  filterForm.addEventListener("htmx:configRequest", (event) => {
    const params = new URLSearchParams();
    Object.entries(event.detail.parameters).forEach(([k, v]) => {
      if (v !== "" && v !== null && v !== undefined) params.append(k, v);
    });
    listBox.dataset.query = params.toString();
    history.replaceState(null, "", `?${params}`);
  });
  // A saved view keeps the filters the list shows, including those applied since the page loaded.
  const saveViewForm = document.getElementById("save-view-form");
  saveViewForm.addEventListener("submit", () => {
    saveViewForm.querySelectorAll("input[data-filter]").forEach((el) => el.remove());
    new URLSearchParams(listBox.dataset.query || "").forEach((value, name) => {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      input.dataset.filter = "";
      saveViewForm.appendChild(input);
    });
  });
  // Invalid filters answer 400 with the list saying why; htmx leaves 4xx answers out unless told otherwise.
  // (htmx fires it on the target, the list, not on the form that asked.)
  listBox.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 400 && event.detail.target === listBox) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // --- The detail pane ----------------------------------------------------------------------------------

  let presenceTimer = null;
  let presenceFor = null;
  let typingUntil = 0;

  function presenceSend(id, state) {
    const body = new FormData();
    body.append("state", state);
    body.append("csrfmiddlewaretoken", csrf);
    const url = inbox.dataset.presenceUrl.replace("/0/", `/${encodeURIComponent(id)}/`);
    if (state === "left" && navigator.sendBeacon) {
      navigator.sendBeacon(url, body);
      return;
    }
    fetch(url, { method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": csrf } })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => data && id === openId() && showCollision(data.viewers))
      .catch(() => {});
  }

  function presenceStart(id) {
    // No id: the pane says the mention left the user's teams (re-routed, bounced); it is no longer theirs to
    // post presence to (the server answers 404), and the entry expires by itself.
    if (presenceFor && id && presenceFor !== id) presenceSend(presenceFor, "left");
    if (presenceFor !== id) typingUntil = 0; // what was being written belongs to the mention left behind
    presenceFor = id;
    clearInterval(presenceTimer);
    if (!id) return;
    const beat = () => presenceSend(id, Date.now() < typingUntil ? "typing" : "viewing");
    beat();
    presenceTimer = setInterval(beat, PRESENCE_EVERY_MS);
  }

  function viewerNodes(viewers, longForm) {
    return viewers
      .filter((v) => String(v.user) !== me)
      .map((v) => {
        const span = document.createElement("span");
        span.className = `viewer${v.typing ? " viewer--typing" : ""}`;
        span.textContent = longForm
          ? `${v.name} ${v.typing ? "is writing a reply" : "is viewing this"}`
          : `${v.name} ${v.typing ? "is replying" : "is viewing"}`;
        return span;
      });
  }

  function showCollision(viewers) {
    const box = detailBox.querySelector("[data-collision]");
    if (!box) return;
    const nodes = viewerNodes(viewers, true);
    box.replaceChildren(...nodes);
    box.hidden = nodes.length === 0;
  }

  function showRowViewers(id, viewers) {
    const slot = listBox.querySelector(`[data-viewers-for="${CSS.escape(String(id))}"]`);
    if (slot) slot.replaceChildren(...viewerNodes(viewers, false));
  }

  function composerBusy() {
    const text = detailBox.querySelector("#reply-text");
    return text && (text.value.trim() !== "" || document.activeElement === text);
  }

  function refreshDetail(id) {
    if (!window.htmx) return;
    window.htmx.ajax("GET", inbox.dataset.detailUrl.replace("/0/", `/${encodeURIComponent(id)}/`), {
      target: "#detail",
      swap: "innerHTML",
    });
  }

  // A sentence the server addressed to people (an account taken during crisis mode), shown until dismissed.
  // textContent only: it may quote names and handles from the networks.
  // A notification for me: the bell's count, and a browser notification for the kinds I chose (asking the
  // browser's permission the first time one would show).
  function notified(event) {
    const count = document.querySelector("[data-bell-count]");
    if (count && typeof event.unread === "number") {
      count.textContent = String(event.unread);
      count.hidden = event.unread === 0;
    }
    const kinds = (inbox.dataset.notifyKinds || "").split(",").filter(Boolean);
    const wanted = (event.notices || []).filter((notice) => kinds.includes(notice.kind));
    if (!wanted.length || !("Notification" in window)) return;
    const show = () => wanted.forEach((notice) => new Notification("socialops", { body: notice.text }));
    if (Notification.permission === "granted") show();
    else if (Notification.permission !== "denied") {
      Notification.requestPermission().then((answer) => {
        if (answer === "granted") show();
      });
    }
  }

  function liveNotice(text) {
    const p = document.createElement("p");
    p.className = "alert alert--info live-notice";
    p.textContent = `${text} `;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.textContent = "Dismiss";
    button.addEventListener("click", () => p.remove());
    p.appendChild(button);
    document.getElementById("live-notices").appendChild(p);
  }

  // The crisis radar's alert, for leads and admins (the stream sends it to no one else): a banner with a
  // link to its incident (the list when it names none), replaced by the next alert rather than stacked.
  function crisisBanner(event) {
    const notices = document.getElementById("live-notices");
    const old = notices.querySelector("[data-crisis]");
    if (old) old.remove();
    const p = document.createElement("p");
    p.className = "alert alert--error live-notice crisis-banner";
    p.dataset.crisis = String(event.incident || "");
    p.setAttribute("role", "alert");
    p.textContent = `Crisis radar: ${event.summary || "traffic out of its usual range"} `;
    if (inbox.dataset.incidentsUrl) {
      const link = document.createElement("a");
      const incident = Number(event.incident) || 0;
      link.href = incident ? `${inbox.dataset.incidentsUrl}${incident}/` : inbox.dataset.incidentsUrl;
      link.textContent = incident ? "Open the incident" : "Open the incidents";
      p.appendChild(link);
      p.appendChild(document.createTextNode(" "));
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.textContent = "Dismiss";
    button.addEventListener("click", () => p.remove());
    p.appendChild(button);
    notices.prepend(p);
  }

  function staleNotice(actor) {
    if (detailBox.querySelector("[data-stale]")) return;
    const p = document.createElement("p");
    p.className = "alert alert--info";
    p.dataset.stale = "1";
    p.setAttribute("role", "status");
    p.textContent = `${actor || "Someone"} changed this mention. `;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.textContent = "Show the changes";
    button.addEventListener("click", () => refreshDetail(openId()));
    p.appendChild(button);
    const head = detailBox.querySelector(".detail__head");
    if (head) head.after(p);
  }

  function setupComposer() {
    const text = detailBox.querySelector("#reply-text");
    if (!text) return;
    const count = detailBox.querySelector("#reply-count");
    const form = detailBox.querySelector("#reply-form");
    const update = () => {
      const direct = form.querySelector("input[name=is_direct]:checked");
      const isDirect = direct && direct.value === "on";
      // The network's connector declares its limits and its counting; the textarea carries them.
      const limit = Number(isDirect ? text.dataset.directLimit : text.dataset.limit);
      const length = replyLength(text.dataset.counting, text.value);
      count.textContent = `${length} / ${limit}`;
      count.classList.toggle("composer__count--over", length > limit);
    };
    text.addEventListener("input", () => {
      const wasTyping = Date.now() < typingUntil;
      typingUntil = Date.now() + PRESENCE_EVERY_MS;
      if (!wasTyping && openId()) presenceSend(openId(), "typing");
      update();
    });
    form.addEventListener("change", update);
    // Sending ends the writing (the server tells the others once the reply is stored).
    form.addEventListener("submit", () => (typingUntil = 0));
    update();
    const canned = detailBox.querySelector("[data-canned]");
    if (canned) {
      canned.addEventListener("change", () => {
        const option = canned.selectedOptions[0];
        if (!option || !option.dataset.body) return;
        const values = {
          author: text.dataset.author,
          author_name: text.dataset.authorName,
          agent: text.dataset.agent,
          channel: text.dataset.channel,
        };
        const body = option.dataset.body.replace(/\{(\w+)\}/g, (all, name) => (name in values ? values[name] : all));
        text.value = text.dataset.signature ? `${body}\n\n${text.dataset.signature}` : body;
        text.focus();
        text.dispatchEvent(new Event("input"));
      });
    }
  }

  // The networks' own ways of counting (the server checks again with the same rules).
  const URL_RE = /https?:\/\/[^\s]+/g;
  const GRAPHEMES =
    window.Intl && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;
  function graphemeCount(value) {
    const text = value.normalize("NFC");
    return GRAPHEMES ? Array.from(GRAPHEMES.segment(text)).length : Array.from(text).length;
  }
  // By the name of the counting a network's reply rules declare (channels.connectors.base.ReplyRules).
  function replyLength(counting, value) {
    const text = value.normalize("NFC");
    if (counting === "graphemes") return graphemeCount(text);
    if (counting === "short-links") {
      const plain = text.replace(URL_RE, "x".repeat(23)).replace(/(@\w+)@[\w.-]+\w/g, "$1");
      return Array.from(plain).length;
    }
    // "weighted": twitter-text's weights, every link as 23.
    let length = 0;
    const plain = text.replace(URL_RE, "");
    const urls = (text.match(URL_RE) || []).length;
    for (const ch of Array.from(plain)) {
      const cp = ch.codePointAt(0);
      const light = cp <= 4351 || (cp >= 8192 && cp <= 8205) || (cp >= 8208 && cp <= 8223) || (cp >= 8242 && cp <= 8247);
      length += light ? 1 : 2;
    }
    return length + urls * 23;
  }

  detailBox.addEventListener("click", (event) => {
    const preset = event.target.closest("[data-snooze-hours]");
    if (!preset) return;
    const hours = Number(preset.dataset.snoozeHours);
    const when = new Date(Date.now() + hours * 3600 * 1000);
    if (hours === 24) when.setHours(9, 0, 0, 0);
    const local = new Date(when.getTime() - when.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    detailBox.querySelector("#snooze-until").value = local;
  });

  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target !== detailBox) return;
    const id = openId();
    markOpen();
    if (id) {
      const row = rowById(id);
      if (row) setCurrent(row, { scroll: false });
      const params = new URLSearchParams(listBox.dataset.query || "");
      params.set("open", id);
      // Opening another mention is a step Back can undo; the same one again (an action, a live refresh, Back
      // itself) only brings the address up to date.
      const shown = new URLSearchParams(window.location.search).get("open");
      if (shown === id) {
        history.replaceState({ ...(history.state || {}), open: id }, "", `?${params}`);
      } else {
        // fromList: the entry before this one is the list, so "Back to the list" can be the browser's Back.
        history.pushState({ open: id, fromList: !shown }, "", `?${params}`);
        // On a narrow screen the detail replaces the list: the reader starts at its top.
        if (NARROW.matches) {
          window.scrollTo(0, 0);
          detailBox.focus({ preventScroll: true });
        }
      }
    }
    avatarsCheck(detailBox);
    setupComposer();
    if (id !== presenceFor) presenceStart(id);
    if (pendingAction) {
      const action = pendingAction;
      pendingAction = null;
      action();
    }
  });
  window.addEventListener("pagehide", () => presenceFor && presenceSend(presenceFor, "left"));
  // Back and Forward between mentions opened here: show the one the address names (or none).
  window.addEventListener("popstate", () => {
    const id = new URLSearchParams(window.location.search).get("open");
    if (id === openId()) return;
    if (id) {
      refreshDetail(id);
      return;
    }
    detailClose();
  });
  if (openId()) {
    setupComposer();
    presenceStart(openId());
    markOpen();
  }

  // --- Narrow screens: the list and the detail are two screens, the queues a menu ------------------------

  // The stylesheet's breakpoint (the same 56.25rem): below it, the open mention hides the list.
  const NARROW = window.matchMedia("(max-width: 56.25rem)");
  const queuesMenu = document.querySelector("[data-queues-menu]");

  // Folded on narrow screens, always open on wide ones (where its summary is hidden).
  function queuesMenuFit() {
    if (queuesMenu) queuesMenu.open = !NARROW.matches;
  }
  NARROW.addEventListener("change", queuesMenuFit);
  queuesMenuFit();

  // Back to the list: the browser's Back when the list is the entry before (so Forward reopens the mention),
  // else the list's address replaces this one. Either way the pane empties and the row is focused.
  function backToList() {
    const id = openId();
    if (history.state && history.state.fromList && history.state.open === id) {
      history.back(); // popstate empties the pane and focuses the row
      return;
    }
    const query = listBox.dataset.query || "";
    history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
    detailClose();
  }

  // A detail answer asked for before the pane was closed (a live refresh in flight) must not reopen it.
  let detailClosedAt = 0;
  // (htmx fires these on the element that asked: a row's link, a form in the pane, the pane itself.)
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.target === detailBox) event.detail.xhr.detailAskedAt = performance.now();
  });
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target === detailBox && (event.detail.xhr.detailAskedAt || 0) < detailClosedAt) {
      event.detail.shouldSwap = false;
    }
  });

  function detailClose() {
    detailClosedAt = performance.now();
    if (presenceFor) presenceSend(presenceFor, "left");
    presenceStart(null);
    detailBox.replaceChildren(document.getElementById("detail-empty").content.cloneNode(true));
    markOpen();
    // The row again, or the first when the mention left the list (replying assigns it to the replier).
    const row = (currentId && rowById(currentId)) || rows()[0];
    if (row) setCurrent(row);
  }
  detailBox.addEventListener("click", (event) => {
    if (!event.target.closest("[data-detail-back]")) return;
    event.preventDefault();
    backToList();
  });

  // --- Avatars ------------------------------------------------------------------------------------------

  // An avatar image that fails (gone, refused, blocked) is removed: the initials under it stay. The page
  // cannot use onerror attributes (the Content-Security-Policy forbids inline handlers), and error events
  // do not bubble: one listener catches them on the way down.
  function avatarFailed(img) {
    img.remove();
  }
  document.addEventListener(
    "error",
    (event) => {
      const img = event.target;
      if (img instanceof HTMLImageElement && img.matches("img[data-avatar]")) avatarFailed(img);
    },
    true
  );
  // Images that failed before this script ran (it is deferred) fired their error already.
  function avatarsCheck(root) {
    root.querySelectorAll("img[data-avatar]").forEach((img) => {
      if (img.complete && img.naturalWidth === 0) avatarFailed(img);
    });
  }
  avatarsCheck(document);

  // --- Keyboard -----------------------------------------------------------------------------------------

  const dialog = document.getElementById("shortcuts");
  document.querySelectorAll("[data-shortcuts-open]").forEach((b) => b.addEventListener("click", () => dialog.showModal()));

  function inDetail(selector, how) {
    const row = currentId ? rowById(currentId) : null;
    const go = () => {
      const el = detailBox.querySelector(selector);
      if (!el) return;
      const fold = el.closest("details");
      if (fold) fold.open = true;
      if (how === "click") el.click();
      else {
        el.scrollIntoView({ block: "center" });
        el.focus();
      }
    };
    if (row && openId() !== row.dataset.id) openRow(row, go);
    else go();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target.closest && target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "Escape") {
      if (typing) target.blur();
      return;
    }
    if (typing || dialog.open) return;
    const keys = {
      j: () => move(1),
      k: () => move(-1),
      o: () => openRow(currentId ? rowById(currentId) : rows()[0]),
      Enter: () => {
        // A button in a row (the "Needs a decision" queue's Keep and Move) does what it says.
        if (target.closest && target.closest("button")) return false;
        if (target.closest && target.closest("li.mention")) openRow(target.closest("li.mention"));
        else return false;
      },
      a: () => inDetail("[data-shortcut=a]", "click"),
      e: () => inDetail("[data-shortcut=e]", "click"),
      r: () => inDetail("[data-shortcut-focus=r]", "focus"),
      s: () => inDetail("[data-shortcut-focus=s]", "focus"),
      m: () => inDetail("[data-shortcut-focus=m]", "focus"),
      l: () => inDetail("[data-shortcut-focus=l]", "focus"),
      x: () => {
        const row = currentId ? rowById(currentId) : null;
        const box = row && row.querySelector(".mention__select");
        if (!box) return;
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      },
      "/": () => document.getElementById("filter-q").focus(),
      "?": () => dialog.showModal(),
    };
    const run = keys[event.key];
    if (!run) return;
    if (run() === false) return;
    event.preventDefault();
  });

  listBox.addEventListener("click", (event) => {
    const row = event.target.closest("li.mention");
    if (row && !event.target.closest(".mention__select")) setCurrent(row, { scroll: false });
  });

  // --- Live events --------------------------------------------------------------------------------------

  // The stream: the browser's EventSource reconnects by itself after a dropped connection (sending the last
  // event id, so the server replays what was missed). When the server answered with an error instead, the
  // EventSource gives up: the page then reconnects by itself, waiting longer each time (up to 30 s, with
  // jitter so that a restarted server is not hit by every browser at once), for ever.
  let lastEventId = "";
  let retryDelay = 1000;
  const RETRY_DELAY_MAX = 30000;

  function goOffline() {
    inbox.classList.add("is-offline");
  }

  function backOnline() {
    if (inbox.classList.contains("is-offline")) {
      inbox.classList.remove("is-offline");
      refreshList();
      refreshCounts();
    }
  }

  function connect() {
    const url = lastEventId
      ? `${inbox.dataset.eventsUrl}?last=${encodeURIComponent(lastEventId)}`
      : inbox.dataset.eventsUrl;
    const source = new EventSource(url);
    source.addEventListener("change", (message) => {
      if (message.lastEventId) lastEventId = message.lastEventId;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      const ids = (event.ids || []).map(String);
      if (event.kind === "crisis.alert") {
        crisisBanner(event);
        return;
      }
      if (event.kind === "notification.new") {
        notified(event);
        return;
      }
      if (event.kind === "presence") {
        ids.forEach((id) => {
          showRowViewers(id, event.viewers || []);
          if (id === openId()) showCollision(event.viewers || []);
        });
        return;
      }
      if (typeof event.message === "string" && event.message) liveNotice(event.message);
      refreshList();
      refreshCounts();
      const open = openId();
      if (open && ids.includes(open) && !event.mine) {
        if (composerBusy()) staleNotice(event.actor);
        else refreshDetail(open);
      }
    });
    // The server's own news: live updates paused (it lost its event source) or resumed.
    source.addEventListener("status", (message) => {
      let status;
      try {
        status = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      if (status.kind === "live.paused") goOffline();
      else if (status.kind === "live.ready" || status.kind === "live.resumed") backOnline();
    });
    // Some events were missed and are no longer kept: bring the list up to date instead.
    source.addEventListener("resync", () => {
      refreshList();
      refreshCounts();
    });
    source.addEventListener("error", () => {
      // Meanwhile nothing is lost: the next refresh brings the list up to date.
      goOffline();
      if (source.readyState === EventSource.CLOSED) {
        const delay = retryDelay * (0.5 + Math.random() / 2);
        retryDelay = Math.min(retryDelay * 2, RETRY_DELAY_MAX);
        window.setTimeout(connect, delay);
      }
    });
    // Live again when the stream says it listens ("live.ready"), not when the connection opens: a server
    // that has lost Redis answers too, only to say live updates are paused.
    source.addEventListener("open", () => {
      retryDelay = 1000;
    });
  }
  connect();

  // Should the stream be down for long (a proxy that buffers, a server restart), the list still catches up.
  const FALLBACK_REFRESH_MS = 30000;
  setInterval(() => {
    if (inbox.classList.contains("is-offline")) {
      refreshList();
      refreshCounts();
    }
  }, FALLBACK_REFRESH_MS);
})();
