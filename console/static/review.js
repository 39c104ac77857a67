// The review page: the queue, the current message's label editor (spans, intent, attributes) and the
// keyboard. Message text comes from shoppers: it only ever reaches the page through textContent.
"use strict";

(function () {
  const { api } = window.ShopcueConsole;
  const { el, status } = window.ShopcueQueue;
  const run = window.ShopcueQueue.runner();
  const $ = (id) => document.getElementById(id);
  const PAGE_SIZE = 50;
  // Keys that cycle an attribute's value (only attributes the schema has get one).
  const ATTRIBUTE_KEYS = { g: "gender", y: "age_group", f: "gift" };
  const TYPE_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
  // Bulk accept only touches unreviewed messages, so it is offered only when the list shows just those.
  const BULK_STATES = ["unreviewed"];

  const state = {
    schema: null,
    filters: {},
    items: [],
    total: 0,
    offset: 0,
    index: -1,
    drafts: new Map(), // message id -> the reviewer's unsaved label
    selection: null, // {anchor, focus} word indexes while choosing words
    selecting: false,
    selectedSpan: -1, // index into the draft's entities
    resize: null, // {span, side} while dragging a span's handle
  };

  // ---- small helpers ----------------------------------------------------------------------------------

  function attrValue(value) {
    return typeof value === "boolean" ? (value ? "true" : "false") : String(value).toLowerCase();
  }

  function current() {
    return state.items[state.index] || null;
  }

  function labelToDraft(label) {
    const attributes = {};
    for (const [name, value] of Object.entries(label.attributes || {})) attributes[name] = attrValue(value);
    return {
      intent: label.intent || "",
      entities: (label.entities || []).map((e) => ({ start: e.start, end: e.end, entity: e.entity })),
      attributes,
    };
  }

  // What the editor starts from: the saved label, else what accepting would store, else the raw parse.
  function baselineOf(item) {
    if (item.label) return labelToDraft(item.label);
    if (item.proposal) return labelToDraft(item.proposal);
    return labelToDraft({ intent: "", entities: item.entities, attributes: state.schema.neutral });
  }

  function canonical(label) {
    const entities = label.entities
      .map((e) => [e.start, e.end, e.entity])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const attributes = Object.keys(label.attributes).sort().map((k) => [k, label.attributes[k]]);
    return JSON.stringify([label.intent, entities, attributes]);
  }

  function draftOf(item) {
    if (!state.drafts.has(item.message_id)) state.drafts.set(item.message_id, baselineOf(item));
    return state.drafts.get(item.message_id);
  }

  function isDirty(item) {
    return state.drafts.has(item.message_id) && canonical(draftOf(item)) !== canonical(baselineOf(item));
  }

  function typeClass(type) {
    return `t${Math.max(0, state.schema.entity_types.indexOf(type)) % 12}`;
  }

  function formatDate(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toISOString().slice(0, 16).replace("T", " ");
  }

  // ---- the queue ----------------------------------------------------------------------------------------

  function readFilters() {
    const form = $("filters");
    const value = (name) => form.elements[name].value.trim();
    const filters = {};
    for (const name of ["intent", "channel", "state", "text"]) if (value(name)) filters[name] = value(name);
    for (const name of ["min_doubt", "max_doubt"]) if (value(name) !== "") filters[name] = Number(value(name));
    // Dates are whole UTC days; "To" includes its day.
    if (value("since")) filters.since = `${value("since")}T00:00:00+00:00`;
    if (value("until")) {
      const day = new Date(`${value("until")}T00:00:00Z`);
      day.setUTCDate(day.getUTCDate() + 1);
      filters.until = day.toISOString().replace(".000Z", "+00:00");
    }
    return filters;
  }

  async function loadQueue(select) {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.offset) });
    for (const [name, value] of Object.entries(state.filters)) params.set(name, String(value));
    const page = await api("GET", `/api/queue?${params}`);
    state.items = page.items;
    state.total = page.total;
    let index = 0;
    if (select && select.messageId !== undefined) {
      index = state.items.findIndex((item) => item.message_id === select.messageId);
      if (index < 0) index = select.fallback !== undefined ? select.fallback : 0;
    } else if (select && select.index !== undefined) {
      index = select.index;
    }
    state.index = state.items.length ? Math.min(Math.max(index, 0), state.items.length - 1) : -1;
    resetEditing();
    renderQueue();
    renderEditor();
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren();
    state.items.forEach((item, index) => {
      const row = el("li", "qitem");
      row.dataset.id = String(item.message_id);
      row.dataset.state = item.state;
      if (index === state.index) row.setAttribute("aria-current", "true");
      const top = el("div", "qtop");
      top.append(
        el("span", "doubt", item.doubt.toFixed(2)),
        el("span", `badge state-${item.state}`, item.state),
        el("span", "channel", item.channel || "–"),
        el("time", "date", formatDate(item.created_at)),
      );
      if (item.count > 1) top.append(el("span", "count", `×${item.count}`));
      top.querySelector(".doubt").title = "doubt: 1 - the model's least confidence";
      row.append(top, el("div", "qtext", item.text));
      for (const suggestion of item.suggestions || []) {
        row.append(el("div", "qsugg", `${suggestion.kind}: ${suggestion.evidence}`));
      }
      row.addEventListener("click", () => select(index));
      list.append(row);
    });
    window.ShopcueQueue.renderCounts(state, "message", {
      allowed: BULK_STATES.includes(state.filters.state || ""),
      title: "accept the model's label for every unreviewed message these filters show",
      refused: "only unreviewed messages can be bulk-accepted: set Review to unreviewed",
    });
  }

  function select(index) {
    if (index < 0 || index >= state.items.length) return;
    state.index = index;
    resetEditing();
    renderQueue();
    renderEditor();
    const row = $("queue").children[index];
    if (row && row.scrollIntoView) row.scrollIntoView({ block: "nearest" });
  }

  function resetEditing() {
    state.selection = null;
    state.selecting = false;
    state.selectedSpan = -1;
    state.resize = null;
  }

  // ---- the editor ---------------------------------------------------------------------------------------

  function renderEditor() {
    const item = current();
    $("editor").hidden = !item;
    $("empty").hidden = Boolean(item);
    if (!item) return;
    renderMeta(item);
    renderWords(item);
    renderPalette();
    renderIntent(item);
    renderAttributes(item);
    renderSuggestions(item);
    renderSave(item);
  }

  function renderMeta(item) {
    const meta = $("meta");
    meta.replaceChildren(
      el("span", "doubt", `doubt ${item.doubt.toFixed(2)}`),
      el("span", `badge state-${item.state}`, item.state),
      el("span", "", item.count > 1 ? `${item.count} identical messages` : "1 message"),
      el("span", "", item.channel || "no channel"),
      el("time", "", formatDate(item.created_at)),
      el("span", "model", item.model_id ? `model ${item.model_id}` : ""),
    );
  }

  // The word indexes [first, last] a character span covers.
  function wordRange(item, span) {
    let first = -1;
    let last = -1;
    item.words.forEach((word, index) => {
      if (word.end > span.start && word.start < span.end) {
        if (first < 0) first = index;
        last = index;
      }
    });
    return [first, last];
  }

  function selectedWords() {
    if (!state.selection) return null;
    const { anchor, focus } = state.selection;
    return [Math.min(anchor, focus), Math.max(anchor, focus)];
  }

  function renderWords(item) {
    const draft = draftOf(item);
    const container = $("words");
    container.replaceChildren();
    const text = item.text;
    const startsAt = new Map();
    draft.entities.forEach((span, index) => {
      const [first, last] = wordRange(item, span);
      if (first >= 0) startsAt.set(first, { index, last, span });
    });
    const selected = selectedWords();
    let cursor = 0;
    let parent = container;
    let openSpan = null;
    item.words.forEach((word, index) => {
      if (word.start > cursor) parent.append(document.createTextNode(text.slice(cursor, word.start)));
      const starting = startsAt.get(index);
      if (starting && !openSpan) {
        openSpan = starting;
        parent = spanElement(starting.span, starting.index);
        container.append(parent);
      }
      const node = el("span", "w", text.slice(word.start, word.end));
      node.dataset.i = String(index);
      if (selected && index >= selected[0] && index <= selected[1]) node.classList.add("sel");
      parent.append(node);
      cursor = word.end;
      if (openSpan && index === openSpan.last) {
        closeSpan(parent, openSpan.span, openSpan.index);
        openSpan = null;
        parent = container;
      }
    });
    if (cursor < text.length) container.append(document.createTextNode(text.slice(cursor)));
  }

  function spanElement(span, index) {
    const node = el("span", `ent ${typeClass(span.entity)}`);
    node.dataset.span = String(index);
    if (index === state.selectedSpan) node.classList.add("selected");
    const handle = el("span", "handle left");
    handle.dataset.side = "left";
    handle.title = "drag to move the start";
    node.append(handle);
    return node;
  }

  function closeSpan(node, span, index) {
    const tag = el("span", "ent-tag");
    const remove = el("button", "ent-remove", "×");
    remove.type = "button";
    remove.title = `remove this ${span.entity}`;
    remove.setAttribute("aria-label", `remove ${span.entity}`);
    remove.dataset.span = String(index);
    tag.append(el("span", "ent-label", span.entity), remove);
    const handle = el("span", "handle right");
    handle.dataset.side = "right";
    handle.title = "drag to move the end";
    node.append(tag, handle);
  }

  function renderPalette() {
    const palette = $("palette");
    palette.replaceChildren();
    state.schema.entity_types.forEach((type, index) => {
      const button = el("button", `type ${typeClass(type)}`);
      button.type = "button";
      button.dataset.type = type;
      if (index < TYPE_KEYS.length) button.append(el("kbd", "", TYPE_KEYS[index]), " ");
      button.append(type);
      button.addEventListener("click", () => applyType(type));
      palette.append(button);
    });
  }

  function renderIntent(item) {
    const draft = draftOf(item);
    const chooser = $("intent");
    chooser.replaceChildren();
    if (!draft.intent) chooser.append(new Option("— choose an intent —", ""));
    for (const intent of state.schema.intents) chooser.append(new Option(intent, intent));
    chooser.value = draft.intent;
    const ranking = $("ranking");
    ranking.replaceChildren();
    for (const entry of (item.intent_ranking || []).slice(0, 5)) {
      const button = el("button", "rank", `${entry.name} ${Number(entry.confidence).toFixed(2)}`);
      button.type = "button";
      button.dataset.intent = entry.name;
      if (entry.name === draft.intent) button.classList.add("chosen");
      button.addEventListener("click", () => setIntent(entry.name));
      const li = el("li");
      li.append(button);
      ranking.append(li);
    }
  }

  function renderAttributes(item) {
    const draft = draftOf(item);
    const box = $("attributes");
    box.replaceChildren();
    for (const [name, values] of Object.entries(state.schema.attributes)) {
      const row = el("div", "attribute");
      row.dataset.attribute = name;
      row.append(el("span", "attr-name", name));
      for (const value of values) {
        const chip = el("button", "chip", value);
        chip.type = "button";
        chip.dataset.value = value;
        chip.setAttribute("aria-pressed", String(draft.attributes[name] === value));
        chip.addEventListener("click", () => setAttribute(name, value));
        row.append(chip);
      }
      const predicted = (item.attributes || {})[name];
      if (predicted) {
        const confidence = Number(predicted.confidence);
        const source = predicted.source ? `, ${predicted.source}` : "";
        const shown = Number.isFinite(confidence) ? confidence.toFixed(2) : "?";
        row.append(el("span", "attr-model", `model: ${attrValue(predicted.value)} (${shown}${source})`));
      }
      box.append(row);
    }
  }

  function renderSuggestions(item) {
    const list = $("suggestions");
    list.replaceChildren();
    for (const suggestion of item.suggestions || []) {
      const li = el("li", "suggestion");
      li.append(el("strong", "", suggestion.kind), " ", el("span", "", suggestion.evidence));
      if (suggestion.related_text) li.append(" ", el("q", "", suggestion.related_text));
      const label = suggestion.label || {};
      if (label.intent || label.attributes) {
        const apply = el("button", "secondary small", "apply");
        apply.type = "button";
        apply.addEventListener("click", () => applySuggestion(label));
        li.append(" ", apply);
      }
      list.append(li);
    }
  }

  function renderSave(item) {
    const save = $("save");
    save.replaceChildren();
    let text = "Accept";
    if (isDirty(item)) text = "Save correction";
    else if (item.label) text = "Keep label";
    save.append(`${text} `, el("kbd", "", "Enter"));
    save.classList.toggle("dirty", isDirty(item));
  }

  function refresh() {
    const item = current();
    if (!item) return;
    renderWords(item);
    renderIntent(item);
    renderAttributes(item);
    renderSave(item);
  }

  // ---- editing the draft ------------------------------------------------------------------------------

  function applyType(type) {
    const item = current();
    if (!item) return;
    const draft = draftOf(item);
    const words = selectedWords();
    if (words) {
      const start = item.words[words[0]].start;
      const end = item.words[words[1]].end;
      draft.entities = draft.entities.filter((e) => e.end <= start || e.start >= end);
      draft.entities.push({ start, end, entity: type });
      draft.entities.sort((a, b) => a.start - b.start);
      state.selection = null;
      state.selectedSpan = draft.entities.findIndex((e) => e.start === start && e.end === end);
    } else if (state.selectedSpan >= 0 && draft.entities[state.selectedSpan]) {
      draft.entities[state.selectedSpan].entity = type;
    } else {
      status("Select words first: drag over them in the message.", true);
      return;
    }
    status("");
    refresh();
  }

  function removeSpan(index) {
    const item = current();
    if (!item || index < 0) return;
    draftOf(item).entities.splice(index, 1);
    state.selectedSpan = -1;
    refresh();
  }

  function setIntent(intent) {
    const item = current();
    if (!item) return;
    draftOf(item).intent = intent;
    refresh();
  }

  function setAttribute(name, value) {
    const item = current();
    if (!item) return;
    draftOf(item).attributes[name] = value;
    refresh();
  }

  function cycleAttribute(name) {
    const values = state.schema.attributes[name];
    const item = current();
    if (!values || !item) return;
    const now = draftOf(item).attributes[name];
    setAttribute(name, values[(values.indexOf(now) + 1) % values.length]);
  }

  function applySuggestion(label) {
    const item = current();
    if (!item) return;
    const draft = draftOf(item);
    if (label.intent) draft.intent = label.intent;
    for (const [name, value] of Object.entries(label.attributes || {})) draft.attributes[name] = attrValue(value);
    refresh();
  }

  // ---- mouse: choosing words, resizing spans ------------------------------------------------------------

  function wordAt(event) {
    const target = document.elementFromPoint(event.clientX, event.clientY);
    const word = target && target.closest ? target.closest("#words .w") : null;
    return word ? Number(word.dataset.i) : -1;
  }

  function onWordsMouseDown(event) {
    if (event.button !== 0) return;
    const remove = event.target.closest(".ent-remove");
    if (remove) return; // its click removes the span
    const handle = event.target.closest(".handle");
    if (handle) {
      event.preventDefault();
      state.resize = { span: Number(handle.closest(".ent").dataset.span), side: handle.dataset.side };
      state.selectedSpan = state.resize.span;
      return;
    }
    const word = event.target.closest(".w");
    if (!word) return;
    event.preventDefault();
    const index = Number(word.dataset.i);
    state.selection = { anchor: index, focus: index };
    state.selecting = true;
    state.selectedSpan = -1;
    paintSelection();
  }

  // Show the chosen words and the selected span without rebuilding the message (cheap while dragging).
  function paintSelection() {
    const selected = selectedWords();
    for (const node of document.querySelectorAll("#words .w")) {
      const index = Number(node.dataset.i);
      node.classList.toggle("sel", Boolean(selected) && index >= selected[0] && index <= selected[1]);
    }
    for (const node of document.querySelectorAll("#words .ent")) {
      node.classList.toggle("selected", Number(node.dataset.span) === state.selectedSpan);
    }
  }

  function onMouseMove(event) {
    if (!state.selecting && !state.resize) return;
    const index = wordAt(event);
    if (index < 0) return;
    if (state.selecting) {
      if (state.selection.focus !== index) {
        state.selection.focus = index;
        paintSelection();
      }
      return;
    }
    resizeTo(index);
  }

  // Move one edge of a span to a word, never past its other edge nor into a neighbouring span.
  function resizeTo(index) {
    const item = current();
    const draft = draftOf(item);
    const span = draft.entities[state.resize.span];
    if (!span) return;
    const [first, last] = wordRange(item, span);
    const others = draft.entities.filter((_, i) => i !== state.resize.span).map((e) => wordRange(item, e));
    let start = first;
    let end = last;
    if (state.resize.side === "left") start = Math.min(index, last);
    else end = Math.max(index, first);
    if (others.some(([a, b]) => a <= end && b >= start)) return;
    const newStart = item.words[start].start;
    const newEnd = item.words[end].end;
    if (newStart !== span.start || newEnd !== span.end) {
      span.start = newStart;
      span.end = newEnd;
      refresh();
    }
  }

  function onMouseUp() {
    if (state.resize) {
      state.resize = null;
      refresh();
      return;
    }
    if (!state.selecting) return;
    state.selecting = false;
    const { anchor, focus } = state.selection;
    if (anchor === focus) {
      // A click on a word inside a span selects that span (for Delete or a new type).
      const word = document.querySelector(`#words .w[data-i="${anchor}"]`);
      const span = word && word.closest(".ent");
      if (span) {
        state.selection = null;
        state.selectedSpan = Number(span.dataset.span);
      }
    }
    paintSelection();
  }

  function onWordsClick(event) {
    const remove = event.target.closest(".ent-remove");
    if (remove) removeSpan(Number(remove.dataset.span));
  }

  // ---- actions -------------------------------------------------------------------------------------------

  // After an action: the same page again, on the message after the one just reviewed.
  async function reloadAfter(item) {
    const index = state.index;
    await loadQueue({ messageId: item.message_id, fallback: index });
    const stillThere = state.items.findIndex((i) => i.message_id === item.message_id);
    if (stillThere >= 0 && stillThere + 1 < state.items.length) select(stillThere + 1);
  }

  function save() {
    return run(async () => {
      const item = current();
      if (!item) return;
      if (isDirty(item)) {
        const draft = draftOf(item);
        if (!draft.intent) throw new Error("Choose an intent first (press i).");
        const entities = draft.entities.map((e) => ({ ...e, value: item.text.slice(e.start, e.end) }));
        await api("POST", `/api/messages/${item.message_id}/correct`, { ...draft, entities });
        status(`Saved the correction of “${item.text}”.`);
      } else if (item.label) {
        if (state.index + 1 < state.items.length) select(state.index + 1);
        return;
      } else {
        await api("POST", `/api/messages/${item.message_id}/accept`);
        status(`Accepted “${item.text}”.`);
      }
      state.drafts.delete(item.message_id);
      await reloadAfter(item);
    });
  }

  function skip() {
    return run(async () => {
      const item = current();
      if (!item) return;
      await api("POST", `/api/messages/${item.message_id}/skip`);
      state.drafts.delete(item.message_id);
      status(`Skipped “${item.text}”.`);
      await reloadAfter(item);
    });
  }

  function undo() {
    return run(async () => {
      const result = await api("POST", "/api/undo");
      if (result.message_id === null || result.message_id === undefined) {
        status("Nothing to undo.");
        return;
      }
      state.drafts.delete(result.message_id);
      await loadQueue({ messageId: result.message_id, fallback: state.index });
      status("Undone.");
    });
  }

  function bulkAccept() {
    return run(async () => {
      const count = state.total;
      const question = `Accept the model's label for all ${count} unreviewed message(s) these filters show?` +
        " One undo reverts it.";
      if (!window.confirm(question)) return;
      const result = await api("POST", "/api/bulk-accept", state.filters);
      status(`Accepted ${result.accepted} message(s).`);
      state.drafts.clear();
      await loadQueue();
    });
  }

  function exportData() {
    return run(async () => {
      const result = await api("POST", "/api/export");
      const box = $("export-result");
      box.replaceChildren();
      for (const [key, value] of Object.entries(result)) {
        let shown = String(value);
        if (Array.isArray(value)) shown = value.join("\n");
        else if (typeof value === "object" && value !== null) shown = JSON.stringify(value);
        box.append(el("dt", "", key.replace(/_/g, " ")), el("dd", "", shown));
      }
      box.hidden = false;
      status("Exported.");
    });
  }

  function resetDraft() {
    const item = current();
    if (!item) return;
    state.drafts.delete(item.message_id);
    resetEditing();
    refresh();
  }

  // ---- keyboard ------------------------------------------------------------------------------------------

  function toggleHelp(show) {
    const help = $("help");
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) $("help-close").focus();
  }

  // While the help is open it takes every key: Esc or ? close it.
  function helpKey(event) {
    if ($("help").hidden) return false;
    if (event.key === "Escape" || event.key === "?") {
      event.preventDefault();
      toggleHelp(false);
    }
    return true;
  }

  // The review page's own keys, after the shared ones (Enter / a, s, u, Ctrl+Z, j / k: queue.js).
  function onOtherKey(event) {
    const key = event.key;
    const handled = () => event.preventDefault();
    if (key === "i") {
      handled();
      $("intent").focus();
    } else if (key === "r") {
      handled();
      resetDraft();
    } else if (key === "?") {
      handled();
      toggleHelp(true);
    } else if (key === "Escape") {
      resetEditing();
      refresh();
    } else if (key === "Delete" || key === "Backspace") {
      handled();
      removeSpan(state.selectedSpan);
    } else if (TYPE_KEYS.includes(key)) {
      const type = state.schema.entity_types[TYPE_KEYS.indexOf(key)];
      if (type) {
        handled();
        applyType(type);
      }
    } else if (ATTRIBUTE_KEYS[key]) {
      handled();
      cycleAttribute(ATTRIBUTE_KEYS[key]);
    }
  }

  // ---- start -------------------------------------------------------------------------------------------

  async function start() {
    state.schema = await api("GET", "/api/schema");
    const intentFilter = $("filters").elements.intent;
    for (const intent of state.schema.intents) intentFilter.append(new Option(intent, intent));
    window.ShopcueQueue.wireQueue({
      state, pageSize: PAGE_SIZE, run, load: loadQueue, readFilters,
      onFilter: () => state.drafts.clear(),
    });
    $("bulk-accept").addEventListener("click", bulkAccept);
    $("export").addEventListener("click", exportData);
    $("save").addEventListener("click", save);
    $("skip").addEventListener("click", skip);
    $("undo").addEventListener("click", undo);
    $("reset").addEventListener("click", resetDraft);
    $("help-open").addEventListener("click", () => toggleHelp(true));
    $("help-close").addEventListener("click", () => toggleHelp(false));
    $("intent").addEventListener("change", (event) => setIntent(event.target.value));
    // Clicking a chip, a type or a ranked intent must not take the keyboard focus: Enter stays "save".
    $("editor").addEventListener("mousedown", (event) => {
      if (event.target.closest(".chip, .rank, .type, .ent-remove")) event.preventDefault();
    });
    const words = $("words");
    words.addEventListener("mousedown", onWordsMouseDown);
    words.addEventListener("click", onWordsClick);
    document.addEventListener("mousemove", onMouseMove);
    document.addEventListener("mouseup", onMouseUp);
    window.ShopcueQueue.keyboard({
      accept: save, skip, undo,
      next: () => select(state.index + 1),
      prev: () => select(state.index - 1),
      before: helpKey,
      other: onOtherKey,
    });
    state.filters = readFilters();
    await loadQueue();
    document.body.dataset.ready = "true";
  }

  start().catch((error) => status(`The review page could not start: ${error.message}`, true));
})();
