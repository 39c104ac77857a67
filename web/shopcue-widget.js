/*
 * Shopcue web chat widget. Plain JS, no build step, no dependencies.
 *
 * Embed on any page with one tag (the page's origin must be in the bot's SHOPCUE_CORS_ORIGINS):
 *   <script src="http://HOST:5005/webhooks/webchat/shopcue-widget.js"
 *           data-shopcue-url="http://HOST:5005"></script>
 * That adds a floating launcher. The bot's own page (index.html) uses data-shopcue-mode="inline"
 * with data-shopcue-target="#id" to fill a container instead.
 *
 * Talks to the bot's webchat channel (bot/channels/webchat.py):
 *   POST {base}/webhooks/webchat/session  -> {session, expires_at}: who this browser is, issued and
 *        signed by the server (kept in localStorage); every call below sends it as X-Shopcue-Session,
 *        and a 401 (expired, or the server's secret changed) gets a new one and the call is retried once
 *   POST {base}/webhooks/webchat/webhook  {message, metadata?} -> [bot messages]; 503 {error, retry_after}
 *        when the shop system is unreachable (the message was not handled): sent again once after
 *        `retry_after` seconds, then the apology is shown and the typed text goes back into the input
 *   GET  {base}/webhooks/webchat/history                              -> {messages: [...]}
 *   POST {base}/webhooks/webchat/event    {type: "card_click", product_id} (learning log, viewed products)
 *   GET  {base}/webhooks/webchat/updates?after=...  -> {state, agent, messages, latest}
 *        polled every 2 s while the conversation waits for or is held by a person (handoff)
 * Bot messages carry `text`, `buttons` (quick replies) and `custom` payloads
 * (`product_cards`, `comparison`; see docs/architecture.md).
 */
(function () {
  "use strict";

  if (window.ShopcueWidget) {
    return; // loaded twice on one page: keep the first
  }

  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var scriptOrigin = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  var base = (data.shopcueUrl || scriptOrigin).replace(/\/+$/, "");
  var channelUrl = base + "/webhooks/webchat";
  var mode = data.shopcueMode === "inline" ? "inline" : "floating";

  var SESSION_KEY = "shopcue.session";
  var OLD_SENDER_KEY = "shopcue.sender"; // before sessions: the browser chose its own id
  var SESSION_HEADER = "X-Shopcue-Session"; // same header as bot/channels/session.py
  var SESSION_PATTERN = /^[A-Za-z0-9_-]{1,64}\.[0-9]{1,12}\.[A-Za-z0-9_-]{43}$/;
  var OPEN_KEY = "shopcue.open";
  var DISPLAY_TEXT_KEY = "shopcue_display_text"; // same key as bot/channels/webchat.py
  var MAX_CHARS = Number("__SHOPCUE_MAX_MESSAGE_CHARS__"); // filled in by bot/channels/webchat.py
  var PLACEHOLDER_IMAGE = channelUrl + "/product-placeholder.svg";
  var SERVER_ERROR_TEXT =
    "Sorry, I couldn't reach the shop assistant just now. Please try again in a moment.";
  var RATE_LIMITED_TEXT = "You're sending messages very quickly. Please wait a moment and try again.";
  var EMPTY_REPLY_TEXT = "Sorry, I have no answer to that right now. Could you put it another way?";
  var HANDOFF_POLL_MS = 2000;
  var RETRY_AFTER_S = { min: 1, max: 30, unknown: 5 }; // bounds on a 503's retry_after (bot/channels/faults.py)
  var HANDOFF_TYPES = ["handoff", "handoff_status"]; // bot/channels/webchat.py, ops/handoff_channel.py
  var WELCOME_TEXT =
    "Hi, I'm Shopcue. Tell me what you're looking for, e.g. \"running shoes under $80\" " +
    "or \"a birthday present for my 10 year old son\".";

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text); // never innerHTML: bot and catalog text is untrusted
    }
    return node;
  }

  function storageGet(storage, key) {
    try {
      return storage.getItem(key);
    } catch (e) {
      return null; // storage blocked (privacy settings): the widget still works, without memory
    }
  }

  function storageSet(storage, key, value) {
    try {
      storage.setItem(key, value);
    } catch (e) {
      /* see storageGet */
    }
  }

  function storageRemove(storage, key) {
    try {
      storage.removeItem(key);
    } catch (e) {
      /* see storageGet */
    }
  }

  function humanise(key) {
    var words = String(key).replace(/[_-]+/g, " ").trim();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function displayValue(value) {
    if (value === true) {
      return "Yes";
    }
    if (value === false) {
      return "No";
    }
    if (Array.isArray(value)) {
      return value.join(", ");
    }
    return value === null || value === undefined ? "" : String(value);
  }

  // What a shopper scans a card for first; the title usually says who it is for already.
  var ATTRIBUTE_ORDER = ["colour", "color", "size", "sizes", "material", "rating"];

  function attributeRank(key) {
    var rank = ATTRIBUTE_ORDER.indexOf(String(key).toLowerCase());
    return rank === -1 ? ATTRIBUTE_ORDER.length : rank; // Array.sort is stable: others keep their order
  }

  function attributeValue(key, value) {
    var name = String(key).toLowerCase();
    if (name === "rating" && typeof value === "number") {
      return value + "/5";
    }
    var text = displayValue(value);
    var parts = text.split(/\s*,\s*/);
    if ((name === "sizes" || name === "size") && parts.length > 3) {
      return parts[0] + "\u2013" + parts[parts.length - 1]; // "4, 5, ..., 12" -> "4-12"
    }
    return text;
  }

  function formatPrice(price, currency) {
    if (typeof price !== "number" || !isFinite(price)) {
      return price === null || price === undefined ? "" : String(price);
    }
    try {
      return new Intl.NumberFormat("en-US", { style: "currency", currency: currency || "USD" }).format(price);
    } catch (e) {
      return price.toFixed(2) + (currency ? " " + currency : "");
    }
  }

  function imageUrl(image) {
    if (typeof image !== "string" || !image) {
      return PLACEHOLDER_IMAGE;
    }
    if (/^https?:\/\//i.test(image)) {
      return image;
    }
    if (image.charAt(0) === "/") {
      return base + image;
    }
    return PLACEHOLDER_IMAGE; // data:, javascript: and other schemes are not shown
  }

  /* A speech-bubble icon drawn as SVG: emoji fonts are missing on many systems. */
  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "shopcue-launcher-icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "22");
    svg.setAttribute("height", "22");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  // ---- DOM -----------------------------------------------------------------------------------

  var root = el("div", "shopcue shopcue--" + mode);
  root.setAttribute("data-shopcue", "");

  var launcher = null;
  if (mode === "floating") {
    launcher = el("button", "shopcue-launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "shopcue-panel");
    launcher.appendChild(chatIcon());
    launcher.appendChild(el("span", "shopcue-launcher-label", "Chat with Shopcue"));
    root.appendChild(launcher);
  }

  var panel = el("section", "shopcue-panel");
  panel.id = "shopcue-panel";
  panel.setAttribute("aria-labelledby", "shopcue-title");
  if (mode === "floating") {
    panel.hidden = true;
  }

  var header = el("header", "shopcue-header");
  var titles = el("div", "shopcue-titles");
  var title = el("h2", "shopcue-title", "Shopcue");
  title.id = "shopcue-title";
  titles.appendChild(title);
  titles.appendChild(el("p", "shopcue-subtitle", "Your shopping assistant"));
  header.appendChild(titles);
  var closeButton = null;
  if (mode === "floating") {
    closeButton = el("button", "shopcue-close");
    closeButton.type = "button";
    closeButton.setAttribute("aria-label", "Close chat");
    closeButton.appendChild(el("span", "", "\u00D7")).setAttribute("aria-hidden", "true");
    header.appendChild(closeButton);
  }
  panel.appendChild(header);

  var log = el("div", "shopcue-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-relevant", "additions");
  log.setAttribute("aria-label", "Conversation with Shopcue");
  log.tabIndex = 0; // scrollable region: reachable and scrollable by keyboard
  panel.appendChild(log);

  // The handoff's state ("waiting for a colleague", "<name> has joined"): a polite status line.
  var handoffStatus = el("p", "shopcue-handoff-status");
  handoffStatus.setAttribute("role", "status");
  handoffStatus.hidden = true;
  panel.appendChild(handoffStatus);

  var typing = el("div", "shopcue-typing");
  typing.setAttribute("role", "status");
  typing.hidden = true;
  var dots = el("span", "shopcue-dots");
  dots.setAttribute("aria-hidden", "true");
  dots.appendChild(el("span"));
  dots.appendChild(el("span"));
  dots.appendChild(el("span"));
  typing.appendChild(dots);
  typing.appendChild(el("span", "shopcue-typing-text", "Shopcue is typing\u2026"));
  panel.appendChild(typing);

  var form = el("form", "shopcue-form");
  form.noValidate = true;
  var label = el("label", "shopcue-sr-only", "Message to Shopcue");
  label.htmlFor = "shopcue-input";
  var input = el("input", "shopcue-input");
  input.id = "shopcue-input";
  input.type = "text";
  input.name = "message";
  input.autocomplete = "off";
  input.maxLength = MAX_CHARS;
  input.placeholder = "Ask for a product\u2026";
  input.setAttribute("aria-describedby", "shopcue-hint");
  var sendButton = el("button", "shopcue-send", "Send");
  sendButton.type = "submit";
  var hint = el("p", "shopcue-hint");
  hint.id = "shopcue-hint";
  hint.setAttribute("aria-live", "assertive");
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(sendButton);
  form.appendChild(hint);
  panel.appendChild(form);
  root.appendChild(panel);

  // ---- rendering -----------------------------------------------------------------------------

  function bubble(who, extraClass) {
    var node = el("div", "shopcue-msg shopcue-msg--" + who + (extraClass ? " " + extraClass : ""));
    var sr = el("span", "shopcue-sr-only", who === "user" ? "You said: " : "Shopcue said: ");
    node.appendChild(sr);
    log.appendChild(node);
    return node;
  }

  function appendUser(text) {
    var node = bubble("user");
    node.appendChild(el("p", "shopcue-text", text));
    return node;
  }

  function appendNotice(text, extraClass) {
    var node = bubble("bot", extraClass);
    node.appendChild(el("p", "shopcue-text", text));
    return node;
  }

  /* Quick replies go after the whole answer (below the cards), as one group in the log. */
  function appendQuickReplies(buttons) {
    var group = el("div", "shopcue-replies");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Suggested replies");
    buttons.forEach(function (button) {
      if (!button || (!button.title && !button.payload)) {
        return;
      }
      var titleText = String(button.title || button.payload);
      var payload = String(button.payload || button.title);
      var node = el("button", "shopcue-reply", titleText);
      node.type = "button";
      node.addEventListener("click", function () {
        send(payload, titleText);
      });
      group.appendChild(node);
    });
    if (group.childNodes.length) {
      log.appendChild(group);
    }
    return group;
  }

  function renderProductCards(container, custom) {
    var products = Array.isArray(custom.products) ? custom.products : [];
    var list = el("ul", "shopcue-cards");
    list.setAttribute("aria-label", products.length + (products.length === 1 ? " product" : " products"));
    products.forEach(function (product, index) {
      var card = el("li", "shopcue-card");
      card.setAttribute("data-product-id", product.id || "");
      if (product.id) {
        card.addEventListener("click", function () {
          reportEvent("card_click", String(product.id));
        });
      }
      // The catalog's http(s) image (the URL is only ever set as `src`), else or on error the placeholder.
      var image = el("img", "shopcue-card-image");
      image.alt = product.title ? String(product.title) : "Product image";
      image.loading = "lazy";
      image.width = 72;
      image.height = 72;
      image.src = imageUrl(product.image);
      image.addEventListener("error", function () {
        if (image.src !== PLACEHOLDER_IMAGE) {
          image.src = PLACEHOLDER_IMAGE;
        }
      });
      card.appendChild(image);

      var body = el("div", "shopcue-card-body");
      var position = product.position || index + 1;
      var heading = el("h3", "shopcue-card-title");
      heading.appendChild(el("span", "shopcue-card-position", position + ". "));
      heading.appendChild(document.createTextNode(product.title || "Untitled product"));
      body.appendChild(heading);

      var meta = el("p", "shopcue-card-meta");
      meta.appendChild(el("span", "shopcue-card-price", formatPrice(product.price, product.currency)));
      if (product.brand) {
        meta.appendChild(el("span", "shopcue-card-brand", product.brand));
      }
      body.appendChild(meta);

      var attributes = product.attributes && typeof product.attributes === "object" ? product.attributes : {};
      var keys = Object.keys(attributes)
        .filter(function (key) {
          var value = displayValue(attributes[key]);
          return value && value !== "unknown";
        })
        .sort(function (x, y) {
          return attributeRank(x) - attributeRank(y);
        });
      if (keys.length) {
        var list2 = el("dl", "shopcue-card-attributes");
        keys.slice(0, 4).forEach(function (key) {
          var row = el("div", "shopcue-card-attribute");
          row.appendChild(el("dt", "", humanise(key)));
          row.appendChild(el("dd", "", attributeValue(key, attributes[key])));
          list2.appendChild(row);
        });
        body.appendChild(list2);
      }

      var inStock = product.in_stock !== false;
      var stockText = product.stock_note ? String(product.stock_note) : inStock ? "In stock" : "Out of stock";
      var stock = el("p", "shopcue-stock " + (inStock ? "shopcue-stock--in" : "shopcue-stock--out"));
      stock.appendChild(el("span", "shopcue-stock-dot")).setAttribute("aria-hidden", "true");
      stock.appendChild(document.createTextNode(stockText.charAt(0).toUpperCase() + stockText.slice(1)));
      body.appendChild(stock);

      card.appendChild(body);
      list.appendChild(card);
    });
    container.appendChild(list);
  }

  function renderComparison(container, custom) {
    var products = Array.isArray(custom.products) ? custom.products : [];
    var rows = Array.isArray(custom.rows) ? custom.rows : [];
    var wrapper = el("div", "shopcue-compare");
    wrapper.tabIndex = 0; // may scroll sideways at phone width
    wrapper.setAttribute("role", "region");
    var table = el("table", "shopcue-table");
    var caption = el("caption", "", "Comparison");
    table.appendChild(caption);
    wrapper.setAttribute("aria-label", "Comparison table");
    var thead = el("thead");
    var headRow = el("tr");
    var corner = el("th", "", "");
    corner.scope = "col";
    corner.appendChild(el("span", "shopcue-sr-only", "Attribute"));
    headRow.appendChild(corner);
    products.forEach(function (product, index) {
      var th = el("th", "", (product.position || index + 1) + ". " + (product.title || "Product"));
      th.scope = "col";
      headRow.appendChild(th);
    });
    thead.appendChild(headRow);
    table.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      var th = el("th", "", humanise(row.attribute || ""));
      th.scope = "row";
      tr.appendChild(th);
      (Array.isArray(row.values) ? row.values : []).forEach(function (value) {
        tr.appendChild(el("td", "", displayValue(value)));
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    wrapper.appendChild(table);
    container.appendChild(wrapper);
    if (typeof custom.shared_line === "string" && custom.shared_line) {
      container.appendChild(el("p", "shopcue-shared", custom.shared_line)); // "Both: leather, sizes 4-12."
    }
    if (custom.verdict) {
      container.appendChild(el("p", "shopcue-verdict", custom.verdict));
    }
  }

  /* Whether the widget can show a custom payload: cards, a comparison, or one carrying text. */
  function isShown(custom) {
    return custom.type === "product_cards" || custom.type === "comparison" || typeof custom.text === "string";
  }

  /* One bot message as the channel returns it; returns the node, or null when there is nothing to show. */
  function renderBotMessage(message) {
    if (!message || typeof message !== "object") {
      return null;
    }
    var custom = message.custom && typeof message.custom === "object" ? message.custom : null;
    if (custom && !isShown(custom)) {
      custom = null; // a payload for another channel (e.g. the phone channel's handoff): nothing to show
    }
    var hasText = typeof message.text === "string" && message.text.trim() !== "";
    if (!hasText && !custom && !message.image) {
      return null;
    }
    var node = bubble("bot", custom ? "shopcue-msg--rich" : "");
    if (typeof message.agent === "string" && message.agent) {
      markAgent(node, message.agent);
    }
    if (hasText) {
      node.appendChild(el("p", "shopcue-text", message.text));
    }
    if (custom && custom.type === "product_cards") {
      renderProductCards(node, custom);
    } else if (custom && custom.type === "comparison") {
      renderComparison(node, custom);
    } else if (custom && typeof custom.text === "string") {
      node.appendChild(el("p", "shopcue-text", custom.text));
    }
    if (message.image && typeof message.image === "string") {
      var img = el("img", "shopcue-image");
      img.alt = "Image from Shopcue";
      img.src = imageUrl(message.image);
      node.appendChild(img);
    }
    return node;
  }

  /* A message a person wrote in the console: their name above it, for screen readers too. */
  function markAgent(node, name) {
    node.classList.add("shopcue-msg--agent");
    node.firstChild.textContent = name + " said: ";
    node.insertBefore(el("p", "shopcue-agent-name", name), node.firstChild.nextSibling);
  }

  /* Quick replies belong to the latest bot turn; older ones would answer a question no longer asked. */
  function clearQuickReplies() {
    var groups = log.querySelectorAll(".shopcue-replies");
    for (var i = 0; i < groups.length; i++) {
      groups[i].parentNode.removeChild(groups[i]);
    }
  }

  /*
   * Actions always send plain text (REST and voice read only that) and, for us, a rich payload right
   * after it. The payload carries the sentences meant around its cards or table (`intro`, `closing`),
   * so next to it the widget shows those instead of the text, which lists every product again.
   */
  function textBeside(custom) {
    return [custom.intro, custom.closing]
      .filter(function (part) {
        return typeof part === "string" && part.trim();
      })
      .join("\n");
  }

  function isRich(message) {
    var custom = message && message.custom;
    return !!custom && (custom.type === "product_cards" || custom.type === "comparison");
  }

  /* One bot turn (the messages between two user messages); returns its first node. */
  function renderAnswer(messages, withQuickReplies) {
    var first = null;
    var buttons = [];
    messages.forEach(function (message, index) {
      if (!message || typeof message !== "object") {
        return;
      }
      // The rich payload this text is the fallback of: the next one in the turn (Rasa may have split
      // the text at blank lines into several messages before it).
      var rich = null;
      for (var j = index + 1; j < messages.length && !rich; j++) {
        rich = isRich(messages[j]) ? messages[j] : null;
      }
      var shown = message;
      if (typeof message.text === "string" && !message.custom && rich) {
        shown = Object.assign({}, message, { text: textBeside(rich.custom) });
      }
      var node = renderBotMessage(shown);
      if (node && !first) {
        first = node;
      }
      if (Array.isArray(message.buttons)) {
        buttons = buttons.concat(message.buttons);
      }
    });
    if (withQuickReplies && buttons.length) {
      appendQuickReplies(buttons);
    }
    return first;
  }

  function scrollToShow(firstNew) {
    // Show the start of the answer (e.g. the first product card) rather than the end of a long list.
    // .shopcue-log is position: relative, so offsetTop is measured from the log's top.
    var bottom = log.scrollHeight - log.clientHeight;
    log.scrollTop = firstNew ? Math.min(firstNew.offsetTop - 8, bottom) : bottom;
  }

  // ---- talking to the bot --------------------------------------------------------------------

  // ---- the session: the server says who this browser is ---------------------------------------

  var session = storageGet(window.localStorage, SESSION_KEY);
  if (!session || !SESSION_PATTERN.test(session)) {
    session = null;
  }
  storageRemove(window.localStorage, OLD_SENDER_KEY);
  var sessionRequest = null; // the one request for a new session in flight, shared by all callers

  function newSession() {
    if (!sessionRequest) {
      sessionRequest = fetch(channelUrl + "/session", { method: "POST" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (payload) {
          if (!payload || typeof payload.session !== "string" || !SESSION_PATTERN.test(payload.session)) {
            throw new Error("unexpected session");
          }
          session = payload.session;
          storageSet(window.localStorage, SESSION_KEY, session);
          return session;
        })
        .then(
          function (value) {
            sessionRequest = null;
            return value;
          },
          function (error) {
            sessionRequest = null;
            throw error;
          }
        );
    }
    return sessionRequest;
  }

  /* A call to the channel with this browser's session; on 401 a new session and one retry. */
  function call(path, options, retried) {
    var ready = session ? Promise.resolve(session) : newSession();
    return ready.then(function (current) {
      var init = Object.assign({}, options || {});
      init.headers = Object.assign({}, init.headers || {});
      init.headers[SESSION_HEADER] = current;
      return fetch(channelUrl + path, init).then(function (response) {
        if (response.status === 401 && !retried) {
          if (session === current) {
            session = null;
            storageRemove(window.localStorage, SESSION_KEY);
          }
          return call(path, options, true);
        }
        return response;
      });
    });
  }

  function jsonOf(response) {
    if (!response.ok) {
      var error = new Error("HTTP " + response.status);
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  var queue = Promise.resolve();
  var pending = 0;

  function setTyping(on) {
    typing.hidden = !on;
    root.classList.toggle("shopcue--busy", on);
    if (on) {
      log.scrollTop = log.scrollHeight;
    }
  }

  function delay(seconds) {
    return new Promise(function (resolve) {
      setTimeout(resolve, seconds * 1000);
    });
  }

  /* A 503's body: the server's apology and when to try again (the Retry-After header is not readable
     across origins without CORS exposing it, so the channel repeats it in the body). */
  function unavailableOf(response) {
    return response
      .json()
      .catch(function () {
        return {};
      })
      .then(function (body) {
        var seconds = body && typeof body.retry_after === "number" ? body.retry_after : RETRY_AFTER_S.unknown;
        return {
          apology: body && typeof body.error === "string" ? body.error : "",
          seconds: Math.min(RETRY_AFTER_S.max, Math.max(RETRY_AFTER_S.min, seconds)),
        };
      });
  }

  /* The message to the bot; when the shop system is down (503) it is sent again once, after the wait
     the server asks for, and a second 503 rejects with the server's apology. */
  function postMessage(text, display, retried) {
    var body = { message: text };
    if (display && display !== text) {
      body.metadata = {};
      body.metadata[DISPLAY_TEXT_KEY] = display;
    }
    return call("/webhook", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (response.status !== 503) {
        return jsonOf(response);
      }
      return unavailableOf(response).then(function (unavailable) {
        if (!retried) {
          return delay(unavailable.seconds).then(function () {
            return postMessage(text, display, true);
          });
        }
        var error = new Error("HTTP 503");
        error.status = 503;
        error.apology = unavailable.apology;
        throw error;
      });
    });
  }

  /* Tell the learning log which shown product card the shopper clicked; best effort, errors ignored. */
  function reportEvent(type, productId) {
    call("/event", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ type: type, product_id: productId }),
    }).catch(function () {});
  }

  function showReplies(messages) {
    if (!Array.isArray(messages)) {
      throw new Error("unexpected reply");
    }
    var handoff = messages.some(isHandoff);
    var first = renderAnswer(messages, true) || (handoff ? null : appendNotice(EMPTY_REPLY_TEXT));
    scrollToShow(first);
    if (handoff) {
      pollHandoff(); // the bot queued us for a person, or a person holds the conversation
    }
  }

  function send(text, display) {
    var message = String(text).trim();
    if (!message) {
      showHint("Please type a message first.");
      input.focus();
      return;
    }
    hideHint();
    clearQuickReplies();
    if (handoffState !== "waiting" && handoffState !== "claimed") {
      handoffStatus.hidden = true; // "back with the assistant" has been read
    }
    var userNode = appendUser(display || message);
    log.scrollTop = log.scrollHeight;
    input.focus(); // a clicked quick reply is removed; keep the keyboard user in the input
    pending += 1;
    setTyping(true);
    queue = queue
      .then(function () {
        return postMessage(message, display);
      })
      .then(showReplies)
      .catch(function (error) {
        var text = error && error.status === 429 ? RATE_LIMITED_TEXT : SERVER_ERROR_TEXT;
        if (error && error.status === 503) {
          text = error.apology || SERVER_ERROR_TEXT;
          markUnsent(userNode, display ? "" : message);
        }
        appendNotice(text, "shopcue-msg--error");
        log.scrollTop = log.scrollHeight;
      })
      .then(function () {
        pending -= 1;
        setTyping(pending > 0);
        var active = document.activeElement;
        if (!active || active === document.body || !root.contains(active)) {
          if (!panel.hidden) {
            input.focus();
          }
        }
      });
  }

  /* The server did not take the message: say so on its bubble, and give a typed text back to the input
     (unless the shopper has started another), so sending it again is one key. */
  function markUnsent(node, typed) {
    node.classList.add("shopcue-msg--unsent");
    node.appendChild(el("span", "shopcue-unsent", "Not sent"));
    if (typed && !input.value) {
      input.value = typed;
    }
  }

  // ---- handoff to a person -------------------------------------------------------------------

  var handoffState = "none";
  var handoffAfter = 0; // the tracker time of the newest agent message shown
  var handoffTimer = null;

  function isHandoff(message) {
    return !!message && !!message.custom && HANDOFF_TYPES.indexOf(message.custom.type) !== -1;
  }

  function showHandoffState(state, agent) {
    var text = "";
    if (state === "waiting") {
      text = "Waiting for a colleague to join\u2026";
    } else if (state === "claimed") {
      text = (agent || "A colleague") + " has joined the chat.";
    } else if (state === "closed" && (handoffState === "waiting" || handoffState === "claimed")) {
      text = "You're back with the Shopcue assistant.";
    }
    if (text) {
      handoffStatus.textContent = text;
    }
    handoffStatus.hidden = !text && handoffStatus.hidden;
    handoffState = state;
    root.setAttribute("data-handoff", state); // tests wait for this
  }

  function fetchUpdates() {
    return call("/updates?after=" + handoffAfter).then(jsonOf);
  }

  function showUpdates(payload) {
    var messages = Array.isArray(payload.messages) ? payload.messages : [];
    var first = null;
    messages.forEach(function (message) {
      if (message && typeof message.text === "string") {
        var node = renderBotMessage({ text: message.text, agent: String(message.agent || "") });
        first = first || node;
      }
    });
    if (typeof payload.latest === "number" && payload.latest > handoffAfter) {
      handoffAfter = payload.latest;
    }
    showHandoffState(String(payload.state || "none"), payload.agent ? String(payload.agent) : null);
    if (first) {
      clearQuickReplies(); // the person's words are the latest turn now
      scrollToShow(first);
    }
  }

  /* Poll while a person is expected or holds the conversation; stop when they hand back. */
  function pollHandoff() {
    if (handoffTimer) {
      clearTimeout(handoffTimer);
      handoffTimer = null;
    }
    return fetchUpdates()
      .then(function (payload) {
        showUpdates(payload);
      })
      .catch(function () {
        /* the next poll tries again */
      })
      .then(function () {
        if (handoffState === "waiting" || handoffState === "claimed") {
          handoffTimer = setTimeout(pollHandoff, HANDOFF_POLL_MS);
        }
      });
  }

  function showHint(text) {
    hint.textContent = text;
    input.setAttribute("aria-invalid", "true");
  }

  function hideHint() {
    hint.textContent = "";
    input.removeAttribute("aria-invalid");
  }

  function loadHistory() {
    return call("/history")
      .then(jsonOf)
      .then(function (payload) {
        var messages = payload && Array.isArray(payload.messages) ? payload.messages : [];
        if (!messages.length) {
          appendNotice(WELCOME_TEXT, "shopcue-msg--welcome");
          return;
        }
        var turn = []; // bot messages since the last user message
        messages.forEach(function (message) {
          if (message.agent && typeof message.ts === "number" && message.ts > handoffAfter) {
            handoffAfter = message.ts; // shown here: the handoff poll carries on after it
          }
          if (message.sender === "user") {
            renderAnswer(turn, false);
            turn = [];
            appendUser(message.text || "");
          } else {
            turn.push(message);
          }
        });
        renderAnswer(turn, true); // only the latest turn keeps its quick replies
        log.scrollTop = log.scrollHeight;
      })
      .catch(function () {
        appendNotice("Welcome back! I couldn't load our earlier conversation, but you can carry on here.");
      });
  }

  // ---- events --------------------------------------------------------------------------------

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) {
      showHint("Please type a message first.");
      input.focus();
      return;
    }
    input.value = "";
    send(text);
  });

  input.addEventListener("input", function () {
    if (input.value.trim()) {
      hideHint();
    }
  });

  function openPanel() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    root.classList.add("shopcue--open");
    storageSet(window.sessionStorage, OPEN_KEY, "1");
    log.scrollTop = log.scrollHeight;
    input.focus();
  }

  function closePanel() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    root.classList.remove("shopcue--open");
    storageSet(window.sessionStorage, OPEN_KEY, "0");
    launcher.focus();
  }

  if (mode === "floating") {
    launcher.addEventListener("click", function () {
      if (panel.hidden) {
        openPanel();
      } else {
        closePanel();
      }
    });
    closeButton.addEventListener("click", closePanel);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        closePanel();
      }
    });
  }

  function mount() {
    var target = null;
    if (mode === "inline" && data.shopcueTarget) {
      target = document.querySelector(data.shopcueTarget);
    }
    (target || document.body).appendChild(root);
    queue = loadHistory()
      .then(function () {
        return pollHandoff(); // the state, and agents' messages newer than the history showed
      })
      .then(function () {
        root.setAttribute("data-ready", "true"); // tests and the benchmark wait for this
      });
    if (mode === "floating" && storageGet(window.sessionStorage, OPEN_KEY) === "1") {
      openPanel();
    }
  }

  function ensureStylesheet() {
    var href = channelUrl + "/shopcue-widget.css";
    var links = document.querySelectorAll("link[rel=stylesheet]");
    for (var i = 0; i < links.length; i++) {
      if (links[i].href === href || /shopcue-widget\.css(\?|$)/.test(links[i].getAttribute("href") || "")) {
        return;
      }
    }
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.appendChild(link);
  }

  ensureStylesheet();
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mount);
  } else {
    mount();
  }

  window.ShopcueWidget = {
    url: base,
    open: function () {
      if (mode === "floating") {
        openPanel();
      }
    },
  };
})();
