// The agents' handoff page: the queue (polled), one open conversation (polled while open), claim,
// reply and hand back. Every text from shoppers, the bot or other agents goes in with textContent.
"use strict";

(function () {
  const { api } = window.ShopcueConsole;
  const root = document.getElementById("handoff");
  if (!root) return;
  const me = root.dataset.agent;
  const maxChars = Number(root.dataset.maxChars) || 500;
  const QUEUE_POLL_MS = 3000;
  const CONVERSATION_POLL_MS = 2000;

  const $ = (id) => document.getElementById(id);
  const queueList = $("handoff-queue");
  const queueNote = $("queue-note");
  const view = $("conversation");
  const errorLine = $("conversation-error");
  const replyText = $("reply-text");

  let openId = null;
  let openHandoff = null;
  let shownTurns = "";
  let queueTimer = null;
  let conversationTimer = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function waited(seconds) {
    const s = Math.max(0, Math.round(Number(seconds) || 0));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function confidence(value) {
    return typeof value === "number" ? ` (${value.toFixed(2)})` : "";
  }

  // ---- the queue ---------------------------------------------------------------------------------

  function renderQueue(items) {
    queueList.replaceChildren();
    queueNote.textContent = items.length ? "" : "Nobody is waiting.";
    items.forEach((item) => {
      const li = el("li");
      li.dataset.handoffId = String(item.id);
      if (item.id === openId) li.setAttribute("aria-current", "true");
      const state = item.state === "waiting" ? "Waiting" : `Held by ${item.agent === me ? "you" : item.agent}`;
      li.append(el("strong", "", state));
      li.append(el("p", "meta", `${item.reason} · waited ${waited(item.waited_s)} · ${item.channel}`));
      li.append(el("p", "meta", item.sender_id));
      const open = el("button", "secondary open", "Open");
      open.type = "button";
      open.addEventListener("click", () => openConversation(item.id));
      li.append(open);
      queueList.append(li);
    });
  }

  async function loadQueue() {
    clearTimeout(queueTimer);
    try {
      const data = await api("GET", "/api/handoff/queue");
      renderQueue(Array.isArray(data.items) ? data.items : []);
    } catch (error) {
      queueNote.textContent = `Could not load the queue: ${error.message}`;
    } finally {
      queueTimer = setTimeout(loadQueue, QUEUE_POLL_MS);
    }
  }

  // ---- one conversation --------------------------------------------------------------------------

  function parseLine(parse) {
    if (!parse || !parse.intent) return "";
    const parts = [`intent: ${parse.intent}${confidence(parse.confidence)}`];
    const entities = (parse.entities || []).map((e) => `${e.entity}=${e.value}${confidence(e.confidence)}`);
    if (entities.length) parts.push(`entities: ${entities.join(", ")}`);
    const attributes = Object.entries(parse.attributes || {})
      .filter(([, a]) => a && a.value !== "unknown" && a.value !== "false")
      .map(([name, a]) => `${name}=${a.value}${confidence(a.confidence)}`);
    if (attributes.length) parts.push(`attributes: ${attributes.join(", ")}`);
    return parts.join(" · ");
  }

  function renderTurns(turns) {
    const key = JSON.stringify(turns.map((t) => [t.who, t.ts, t.text]));
    if (key === shownTurns) return; // unchanged: keep the agent's scroll position
    shownTurns = key;
    const list = $("turns");
    list.replaceChildren();
    turns.forEach((turn) => {
      const li = el("li", `turn turn--${turn.who}`);
      const who = turn.who === "user" ? "Shopper" : turn.who === "agent" ? turn.agent : "Shopcue";
      li.append(el("span", "who", who));
      li.append(el("p", "text", turn.text));
      if (turn.who === "user") li.append(el("p", "parse", parseLine(turn.parse)));
      list.append(li);
    });
    list.scrollTop = list.scrollHeight;
  }

  function renderContext(context) {
    const search = $("context-search");
    search.replaceChildren();
    const entries = Object.entries(context.search || {});
    if (!entries.length) search.append(el("dd", "nothing", "none"));
    entries.forEach(([name, value]) => search.append(el("dt", "", name), el("dd", "", value)));
    const results = $("context-results");
    results.replaceChildren();
    (context.results || []).forEach((p) => {
      const price = typeof p.price === "number" ? ` · ${p.price.toFixed(2)}` : "";
      results.append(el("li", "", `${p.title} (${p.id})${price}`));
    });
    if (!results.childNodes.length) results.append(el("li", "nothing", "none"));
    const cart = $("context-cart");
    cart.replaceChildren();
    (context.cart || []).forEach((line) => {
      const size = line.size ? `, size ${line.size}` : "";
      cart.append(el("li", "", `${line.quantity} × ${line.title}${size}`));
    });
    if (!cart.childNodes.length) cart.append(el("li", "nothing", "empty"));
  }

  function renderHandoff(handoff) {
    openHandoff = handoff;
    $("conversation-title").textContent = `Shopper ${handoff.sender_id}`;
    const mine = handoff.state === "claimed" && handoff.agent === me;
    let state = `Waiting ${waited(handoff.waited_s)} (${handoff.reason})`;
    if (handoff.state === "claimed") state = mine ? "You hold this conversation; the bot is silent." :
      `Held by ${handoff.agent}`;
    if (handoff.state === "closed") state = "Handed back to the bot.";
    $("conversation-state").textContent = state;
    $("claim").hidden = handoff.state !== "waiting";
    $("hand-back").hidden = !mine;
    $("reply-form").hidden = !mine;
    root.dataset.openState = handoff.state; // tests wait for this
  }

  async function loadConversation() {
    clearTimeout(conversationTimer);
    if (openId === null) return;
    const id = openId;
    try {
      const data = await api("GET", `/api/handoff/${id}`);
      if (id !== openId) return;
      view.hidden = false;
      $("no-conversation").hidden = true;
      renderHandoff(data.handoff);
      renderTurns(Array.isArray(data.turns) ? data.turns : []);
      renderContext(data.context || {});
    } catch (error) {
      errorLine.textContent = error.message;
    } finally {
      if (id === openId && (!openHandoff || openHandoff.state !== "closed")) {
        conversationTimer = setTimeout(loadConversation, CONVERSATION_POLL_MS);
      }
    }
  }

  function openConversation(id) {
    openId = id;
    openHandoff = null;
    shownTurns = "";
    errorLine.textContent = "";
    loadConversation();
    loadQueue();
  }

  async function act(path, body) {
    errorLine.textContent = "";
    try {
      await api("POST", `/api/handoff/${openId}/${path}`, body);
      return true;
    } catch (error) {
      errorLine.textContent = error.status === 409 ? `Not possible: ${error.message}` : error.message;
      return false;
    } finally {
      loadConversation();
      loadQueue();
    }
  }

  $("claim").addEventListener("click", () => act("claim"));
  $("hand-back").addEventListener("click", () => act("close"));
  $("reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = replyText.value.trim();
    if (!text) {
      errorLine.textContent = "Type a message first.";
      return;
    }
    if (text.length > maxChars) {
      errorLine.textContent = `A message is at most ${maxChars} characters.`;
      return;
    }
    if (await act("reply", { text })) replyText.value = "";
    replyText.focus();
  });

  loadQueue();
})();
