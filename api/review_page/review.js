// The reviewer page: works through GET /queue, posts each decision to POST /feedback, shows GET /stats.
// Every text from the server goes into the page as text nodes (never as HTML): comments are written by anyone.
"use strict";

(() => {
  const root = document.body.dataset.root || "";
  const LABEL_NAMES = { on_topic: "On topic", off_topic: "Off topic", spam: "Spam" };
  const DECISION_NAMES = { on_topic: "Approved", spam: "Rejected as spam", off_topic: "Rejected as off topic" };
  const PAGE_SIZE = 50;
  const REFILL_BELOW = 5; // load the next page when fewer items than this are left after the current one
  const NAME_KEY = "moderator.name";

  const state = {
    items: [], index: 0, cursor: null, pending: null, articleId: null,
    articles: new Map(), // article id -> title, from every queue item seen
    undo: [], busy: false, loaded: false,
  };

  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(root + path, init);
    } catch (error) {
      throw new ApiError(0, "the server could not be reached (" + error.message + ")");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : (text.slice(0, 300) || response.statusText);
      throw new ApiError(response.status, detail);
    }
    return data;
  }

  // --- errors and notices -------------------------------------------------------------------------------------

  function showError(what, error) {
    const box = $("error"), line = $("error-text");
    line.replaceChildren();
    const status = error instanceof ApiError ? error.status : 0;
    line.append(el("strong", null, what + (status ? ` (${status})` : "") + ": "), error.message + ".");
    if (status === 401) {
      const link = el("a", null, "Sign in again");
      link.href = root + "/review";
      line.append(" ", link, ".");
    }
    box.hidden = false;
  }

  function clearError() { $("error").hidden = true; }

  function say(text) { $("status").textContent = text; }

  // --- the moderator's name -----------------------------------------------------------------------------------

  function moderator() { return $("moderator").value.trim(); }

  function askForName() {
    const input = $("moderator");
    input.classList.add("wanted");
    say("Enter your name first: it is kept with each decision (once; this browser remembers it).");
    input.focus();
  }

  // --- the queue ----------------------------------------------------------------------------------------------

  const keyOf = (item) => item.article_id + "\u0000" + item.comment_id;

  async function loadQueue({ more = false } = {}) {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.articleId) params.set("article_id", state.articleId);
    if (more && state.cursor) params.set("cursor", state.cursor);
    let page;
    try {
      page = await api("GET", "/queue?" + params);
    } catch (error) {
      showError("Could not load the queue", error);
      if (!state.loaded) renderEmpty({ failed: true });
      return;
    }
    clearError();
    if (!more) { state.items = []; state.index = 0; } // a reload starts again from the most uncertain
    const seen = new Set(state.items.map(keyOf));
    for (const item of page.items) {
      state.articles.set(item.article_id, item.article_title);
      if (!seen.has(keyOf(item))) { item.queued = true; state.items.push(item); }
    }
    state.cursor = page.next_cursor;
    state.pending = page.pending;
    state.loaded = true;
    if (state.index >= state.items.length) state.index = Math.max(0, state.items.length - 1);
    renderArticles();
    render();
  }

  async function refill() {
    if (state.items.length - state.index - 1 >= REFILL_BELOW) return;
    if (state.cursor) await loadQueue({ more: true });
    else if (state.items.length === 0) await loadQueue(); // others may have classified more meanwhile
  }

  const current = () => state.items[state.index];

  function move(step) {
    const next = state.index + step;
    if (next < 0 || next >= state.items.length) return;
    state.index = next;
    render();
    refill();
  }

  async function decide(label) {
    const item = current();
    if (!item || state.busy) return;
    const name = moderator();
    if (!name) { askForName(); return; }
    state.busy = true;
    setBusy(true);
    say("Saving…");
    try {
      await api("POST", "/feedback", {
        decisions: [{ comment_id: item.comment_id, article_id: item.article_id, label, moderator: name }],
      });
    } catch (error) {
      showError("Could not save the decision", error);
      say("Not saved: the comment is still here.");
      state.busy = false;
      setBusy(false);
      return;
    }
    clearError();
    // Found again rather than assumed at state.index: a reload (R) may have run while the decision was sent.
    const at = state.items.findIndex((other) => keyOf(other) === keyOf(item));
    state.undo.push({ item, label, index: at >= 0 ? at : state.index });
    if (state.undo.length > 100) state.undo.shift();
    if (item.queued && state.pending !== null) state.pending = Math.max(0, state.pending - 1);
    item.queued = false;
    delete item.previous;
    if (at >= 0) {
      state.items.splice(at, 1);
      if (at < state.index) state.index -= 1;
    }
    if (state.index >= state.items.length) state.index = Math.max(0, state.items.length - 1);
    state.busy = false;
    setBusy(false);
    say(`${DECISION_NAMES[label]}: ${preview(item.text, 60)} · U to undo`);
    render();
    loadStats();
    await refill();
  }

  function undo() {
    const last = state.undo.pop();
    if (!last) return;
    last.item.previous = last.label;
    const at = Math.min(last.index, state.items.length);
    state.items.splice(at, 0, last.item);
    state.index = at;
    say(`Back to the last comment. "${DECISION_NAMES[last.label]}" stands until you choose again.`);
    render();
  }

  function setBusy(busy) {
    for (const button of document.querySelectorAll("button.decide")) button.disabled = busy || !current();
    document.body.classList.toggle("busy", busy);
  }

  // --- rendering ----------------------------------------------------------------------------------------------

  function preview(text, length) {
    const flat = String(text).replace(/\s+/g, " ").trim();
    return flat.length > length ? flat.slice(0, length - 1) + "…" : flat;
  }

  function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

  // The comment's text with each of `terms` marked: whole words, any case. A term's words are the model's
  // tokens (two letters or more), so between two of them may stand punctuation and one-letter words
  // ("dollars week" marks "dollars a week").
  function marked(text, terms) {
    const container = el("p", "comment-text");
    const patterns = [...new Set(terms.filter((t) => t && t.trim()))]
      .sort((a, b) => b.length - a.length)
      .map((t) => t.trim().split(/\s+/).map(escapeRegExp).join("[^\\p{L}\\p{N}]+(?:[\\p{L}\\p{N}][^\\p{L}\\p{N}]+)*"));
    if (patterns.length === 0) { container.textContent = text; return container; }
    const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${patterns.join("|")})(?![\\p{L}\\p{N}])`, "giu");
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      container.append(text.slice(last, match.index), el("mark", null, match[0]));
      last = match.index + match[0].length;
    }
    container.append(text.slice(last));
    return container;
  }

  function reasonNode(reason) {
    const item = el("li");
    const found = /^word "(.+)" \((.+)\)$/.exec(reason);
    if (found) item.append("word ", el("mark", null, found[1]), " ", el("span", "weight", found[2]));
    else item.textContent = reason;
    return item;
  }

  function scoreBars(scores, label) {
    const list = el("ul", "scores");
    const order = Object.keys(LABEL_NAMES).filter((k) => k in scores);
    for (const name of [...order, ...Object.keys(scores).filter((k) => !order.includes(k))]) {
      const share = Math.max(0, Math.min(1, Number(scores[name]) || 0));
      const row = el("li", "score score-" + name + (name === label ? " top" : ""));
      const bar = el("span", "meter");
      const fill = el("span", "fill");
      fill.style.width = (share * 100).toFixed(1) + "%";
      bar.append(fill);
      bar.setAttribute("role", "img");
      bar.setAttribute("aria-label", `${LABEL_NAMES[name] || name} ${Math.round(share * 100)} percent`);
      row.append(el("span", "score-name", LABEL_NAMES[name] || name), bar, el("span", "score-value", Math.round(share * 100) + "%"));
      list.append(row);
    }
    return list;
  }

  function card(item) {
    const node = el("article", "card");
    node.tabIndex = -1;
    node.dataset.commentId = item.comment_id;
    node.dataset.articleId = item.article_id;
    const head = el("header", "card-head");
    head.append(el("span", "article-title", item.article_title || item.article_id),
                el("span", "article-id", item.article_id),
                el("span", "position", `${state.index + 1} of ${state.items.length}`));
    node.append(head);
    if (item.previous) {
      node.append(el("p", "notice notice-info", `You decided this one: ${DECISION_NAMES[item.previous]}. ` +
                                                "Choose again to change it; leave it and that decision stands."));
    }
    if (item.parent_id) {
      const parent = el("blockquote", "parent");
      parent.append(el("span", "parent-label", "In reply to"));
      parent.append(el("span", "parent-text", item.parent_text || "a comment that is no longer stored"));
      node.append(parent);
    }
    node.append(marked(item.text, item.terms || []));
    const model = el("section", "model");
    model.setAttribute("aria-label", "What the model said");
    const verdict = el("p", "verdict");
    verdict.append("The model says ", el("span", "chip chip-" + item.label, LABEL_NAMES[item.label] || item.label),
                   el("span", "muted", ` and sent it to ${item.action}.`));
    const scores = el("div", "model-part");
    scores.append(el("h3", null, "Scores"), scoreBars(item.scores || {}, item.label));
    const why = el("div", "model-part");
    const reasons = el("ul", "reasons");
    (item.reasons || []).forEach((r) => reasons.append(reasonNode(r)));
    if (!reasons.children.length) reasons.append(el("li", "muted", "no reason stood out"));
    why.append(el("h3", null, "Why"), reasons);
    model.append(verdict, scores, why);
    node.append(model);
    const when = item.classified_at ? new Date(item.classified_at) : null;
    node.append(el("p", "meta", `comment ${item.comment_id} · classified ` +
      (when && !isNaN(when) ? when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })
                           : "at an unknown time") + ` · model ${item.model_version}`));
    return node;
  }

  function renderEmpty({ failed = false } = {}) {
    const box = el("div", "empty");
    const scope = state.articleId ? ` under article “${state.articleId}”` : "";
    if (failed) {
      box.append(el("p", "empty-title", "The queue could not be loaded."),
                 el("p", "muted", "The message above says why."));
    } else {
      box.append(el("p", "empty-title", "The queue is empty."),
                 el("p", "muted", `Nothing is waiting for review${scope}. Comments the model is unsure about ` +
                                  "appear here as they are classified."));
    }
    const again = el("button", "quiet", failed ? "Try again (R)" : "Check again (R)");
    again.type = "button";
    again.addEventListener("click", () => loadQueue());
    box.append(again);
    $("current").replaceChildren(box);
  }

  function render() {
    const item = current();
    const pending = state.pending === null ? "" : `${state.pending} waiting for review` +
      (state.articleId ? " under this article" : "");
    $("pending").textContent = pending;
    document.body.classList.toggle("queue-empty", !item && state.loaded);
    if (!item) renderEmpty(); else $("current").replaceChildren(card(item));
    setBusy(state.busy);
    $("undo").disabled = state.undo.length === 0;
    const list = $("upcoming");
    list.replaceChildren();
    state.items.slice(state.index + 1, state.index + 7).forEach((next, offset) => {
      const row = el("li");
      const button = el("button", "upcoming-item");
      button.type = "button";
      button.append(el("span", "chip chip-" + next.label, LABEL_NAMES[next.label] || next.label),
                    el("span", "upcoming-text", preview(next.text, 110)));
      button.addEventListener("click", () => move(offset + 1));
      row.append(button);
      list.append(row);
    });
    $("next").hidden = state.items.length <= state.index + 1;
  }

  function renderArticles() {
    const select = $("article-select");
    const chosen = state.articleId || "";
    const options = [el("option", null, "All articles")];
    options[0].value = "";
    const ids = [...state.articles.keys()].sort((a, b) =>
      (state.articles.get(a) || a).localeCompare(state.articles.get(b) || b));
    if (chosen && !state.articles.has(chosen)) ids.unshift(chosen);
    for (const id of ids) {
      const option = el("option", null, state.articles.has(id) ? `${preview(state.articles.get(id), 50)} (${id})` : id);
      option.value = id;
      options.push(option);
    }
    select.replaceChildren(...options);
    select.value = chosen;
  }

  function filterBy(articleId) {
    state.articleId = articleId || null;
    state.items = [];
    state.index = 0;
    state.cursor = null;
    state.pending = null;
    state.loaded = false;
    $("pending").textContent = "";
    const url = new URL(window.location.href);
    if (state.articleId) url.searchParams.set("article_id", state.articleId);
    else url.searchParams.delete("article_id");
    window.history.replaceState(null, "", url);
    $("current").replaceChildren(el("p", "muted loading", "Loading the queue…"));
    loadQueue();
  }

  // --- agreement figures --------------------------------------------------------------------------------------

  const percent = (share) => (share === null || share === undefined ? "—" : `${(share * 100).toFixed(0)}%`);

  async function loadStats() {
    let stats;
    try {
      stats = await api("GET", "/stats?days=30");
    } catch (error) {
      $("stats-note").textContent = `Could not load the figures (${error.status || "no answer"}): ${error.message}`;
      $("stats-note").classList.add("error-text");
      return;
    }
    const overturned = (action) => action.decided ? `${action.overturned} of ${action.decided} (${percent(action.rate)})`
      : "none yet";
    $("stat-decisions").textContent = String(stats.decisions);
    $("stat-approve-overturned").textContent = overturned(stats.actions.approve);
    $("stat-reject-overturned").textContent = overturned(stats.actions.reject);
    $("stat-approve-precision").textContent = percent(stats.precision.approve);
    $("stat-reject-precision").textContent = percent(stats.precision.reject);
    $("stats-note").textContent = "Moderators' latest decisions against what the model did.";
    $("stats-note").classList.remove("error-text");
  }

  // --- wiring -------------------------------------------------------------------------------------------------

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && target.matches("input, select, textarea")) {
      if (event.key === "Escape" || (event.key === "Enter" && target.id === "moderator")) target.blur();
      return;
    }
    const actions = {
      a: () => decide("on_topic"), s: () => decide("spam"), o: () => decide("off_topic"),
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      u: undo, r: () => loadQueue(), "/": () => $("article-input").focus(),
    };
    const action = actions[event.key.length === 1 ? event.key.toLowerCase() : event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }

  function start() {
    const name = $("moderator");
    name.value = localStorage.getItem(NAME_KEY) || "";
    name.addEventListener("input", () => {
      localStorage.setItem(NAME_KEY, name.value.trim());
      if (name.classList.contains("wanted") && name.value.trim()) say("");
      name.classList.remove("wanted");
    });
    for (const button of document.querySelectorAll("button.decide")) {
      button.addEventListener("click", () => decide(button.dataset.label));
    }
    $("undo").addEventListener("click", undo);
    $("error-close").addEventListener("click", clearError);
    $("article-select").addEventListener("change", (event) => {
      $("article-input").value = "";
      filterBy(event.target.value);
    });
    $("filter").addEventListener("submit", (event) => {
      event.preventDefault();
      const typed = $("article-input").value.trim();
      $("article-input").blur();
      filterBy(typed || $("article-select").value);
    });
    document.addEventListener("keydown", onKey);
    const wanted = new URL(window.location.href).searchParams.get("article_id");
    state.articleId = wanted || null;
    renderArticles();
    loadQueue();
    loadStats();
  }

  start();
})();
