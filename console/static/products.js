// The product mode of the review console: the queue of products whose enriched attributes the model
// doubted, the current product's attributes (click a value to fix it) and the keyboard. Product text
// comes from a feed: it only ever reaches the page through textContent.
"use strict";

(function () {
  const { api } = window.ShopcueConsole;
  const { el, status } = window.ShopcueQueue;
  const run = window.ShopcueQueue.runner();
  const $ = (id) => document.getElementById(id);
  const PAGE_SIZE = 50;
  // Attributes fixed with chips (few values) and keys that step through their values.
  const CHIP_ATTRIBUTES = ["gender", "age_group", "gift_suitable"];
  const CHIP_KEYS = { g: "gender", y: "age_group", f: "gift_suitable" };
  // Attributes fixed with a list (many values) and keys that focus it.
  const LIST_KEYS = { t: "product_type", c: "colour", m: "material" };
  const LABELS = { product_type: "product type", age_group: "age group", gift_suitable: "gift" };
  const STATE_BADGE = { unreviewed: "auto", reviewed: "accepted", skipped: "skipped" };
  // A list chosen with the arrow keys saves once the reviewer stops on a value (or presses Enter).
  const LIST_SAVE_DELAY_MS = 700;

  const state = {
    schema: null,
    filters: {},
    items: [],
    total: 0,
    offset: 0,
    index: -1,
    pendingList: null, // {attribute, timer} while a list's new value waits to be saved
  };

  function current() {
    return state.items[state.index] || null;
  }

  function label(attribute) {
    return LABELS[attribute] || attribute;
  }

  function confidenceText(value) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(2);
  }

  function factOf(item, attribute) {
    return item.facts.find((fact) => fact.attribute === attribute) || null;
  }

  // What the model read beside the value in use: a contradiction of the feed, or what a reviewer replaced.
  function modelReading(fact) {
    if (!fact) return null;
    if (fact.contradicted) {
      return { text: `model read “${fact.inferred_value}” (${confidenceText(fact.inferred_confidence)})` +
        ` vs feed “${fact.value}”`, contra: true };
    }
    if (fact.inferred_value !== null && fact.inferred_value !== undefined && fact.inferred_value !== fact.value) {
      return { text: `model read “${fact.inferred_value}” (${confidenceText(fact.inferred_confidence)})`,
        contra: false };
    }
    return null;
  }

  // ---- the queue ----------------------------------------------------------------------------------------

  function readFilters() {
    const form = $("filters");
    const value = (name) => form.elements[name].value.trim();
    const filters = { state: value("state") || "unreviewed" };
    for (const name of ["category", "product_type", "attribute"]) if (value(name)) filters[name] = value(name);
    for (const name of ["min_confidence", "max_confidence"]) {
      if (value(name) !== "") filters[name] = Number(value(name));
    }
    for (const name of ["contradictions", "below_threshold"]) if (form.elements[name].checked) filters[name] = true;
    return filters;
  }

  async function loadQueue(select) {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.offset) });
    for (const [name, value] of Object.entries(state.filters)) params.set(name, String(value));
    const page = await api("GET", `/api/products/queue?${params}`);
    state.items = page.items;
    state.total = page.total;
    $("threshold").textContent = `(${page.threshold.toFixed(2)})`;
    let index = 0;
    if (select && select.productId !== undefined) {
      index = state.items.findIndex((item) => item.id === select.productId);
      if (index < 0) index = select.fallback !== undefined ? select.fallback : 0;
    }
    state.index = state.items.length ? Math.min(Math.max(index, 0), state.items.length - 1) : -1;
    renderQueue();
    renderEditor();
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren();
    state.items.forEach((item, index) => {
      const row = el("li", "qitem");
      row.dataset.id = item.id;
      row.dataset.state = item.state;
      if (index === state.index) row.setAttribute("aria-current", "true");
      const top = el("div", "qtop");
      const confidence = el("span", "doubt", confidenceText(item.confidence));
      confidence.title = "confidence: the least confident unreviewed attribute";
      top.append(confidence, el("span", `badge state-${STATE_BADGE[item.state]}`, item.state),
        el("span", "price", `$${item.price.toFixed(2)}`));
      if (item.contradicted) {
        const mark = el("span", "contra", "⚠ contradiction");
        mark.title = "the model read something other than the feed's value";
        top.append(mark);
      }
      row.append(top, el("div", "qtitle", item.title), el("div", "qbrand", `${item.brand} · ${item.product_type}`));
      row.addEventListener("click", () => select(index));
      list.append(row);
    });
    window.ShopcueQueue.renderCounts(state, "product", {
      allowed: state.filters.state !== "reviewed",
      title: "accept every unreviewed attribute of every product these filters show",
      refused: "reviewed products have nothing left to accept",
    });
  }

  function select(index) {
    if (index < 0 || index >= state.items.length) return;
    flushListSave(false);
    state.index = index;
    renderQueue();
    renderEditor();
    const row = $("queue").children[index];
    if (row && row.scrollIntoView) row.scrollIntoView({ block: "nearest" });
  }

  // ---- the current product ------------------------------------------------------------------------------

  function renderEditor() {
    const item = current();
    $("editor").hidden = !item;
    $("empty").hidden = Boolean(item);
    if (!item) return;
    $("p-title").textContent = item.title;
    $("meta").replaceChildren(
      el("span", "", item.id),
      el("span", "", item.brand),
      el("span", "", `$${item.price.toFixed(2)}`),
      el("span", "doubt", `confidence ${confidenceText(item.confidence)}`),
      el("span", `badge state-${STATE_BADGE[item.state]}`, item.state),
    );
    const body = $("facts");
    body.replaceChildren();
    for (const attribute of state.schema.attributes) body.append(factRow(item, attribute));
  }

  function factRow(item, attribute) {
    const fact = factOf(item, attribute);
    const row = el("tr", "fact");  // not "attribute": review.css lays those out as flex rows
    row.dataset.attribute = attribute;
    if (fact && fact.review_state === "auto" && (fact.source === "inferred" || fact.contradicted)) {
      row.classList.add("doubted");
    }
    const value = item.values[attribute];
    const cell = el("td", "value");
    if (CHIP_ATTRIBUTES.includes(attribute)) {
      const chips = el("div", "chips");
      for (const option of state.schema.values[attribute]) {
        const chip = el("button", "chip", option);
        chip.type = "button";
        chip.dataset.value = option;
        chip.setAttribute("aria-pressed", String(option === value));
        chip.addEventListener("click", () => correct(attribute, option));
        chips.append(chip);
      }
      cell.append(chips);
    } else if (state.schema.values[attribute]) {
      const list = el("select", "value-list");
      list.name = attribute;
      list.setAttribute("aria-label", label(attribute));
      const options = state.schema.values[attribute];
      if (!options.includes(value)) list.append(new Option(value || "(none)", value));
      for (const option of options) list.append(new Option(option || "(none)", option));
      list.value = value;
      list.addEventListener("change", () => scheduleListSave(attribute, list));
      list.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          flushListSave(true);
        }
      });
      cell.append(list);
    } else {
      cell.append(el("span", "fixed", value || "(none)"));
      if (attribute === "category") cell.title = "follows the product type";
    }
    const source = fact ? fact.source : "none";
    const badge = el("span", `badge source-${source}`, fact ? fact.source : "as imported");
    if (fact && fact.review_state !== "auto") badge.title = `${fact.review_state} by ${fact.reviewed_by}`;
    const confidence = fact && fact.source === "inferred" ? fact.confidence : fact && fact.inferred_confidence;
    const reading = modelReading(fact);
    const readCell = el("td", `model-read${reading && reading.contra ? " contra" : ""}`, reading ? reading.text : "");
    const sourceCell = el("td", "source");
    sourceCell.append(badge);
    row.append(el("td", "attr-name", label(attribute)), cell, sourceCell,
      el("td", "conf", confidenceText(confidence)), readCell);
    return row;
  }

  // ---- actions -------------------------------------------------------------------------------------------

  // A fix is saved at once; the product stays on screen (Enter accepts the rest and moves on).
  function correct(attribute, value) {
    return run(async () => {
      const item = current();
      if (!item) return;
      const result = await api("POST", `/api/products/${encodeURIComponent(item.id)}/correct`, { attribute, value });
      state.items[state.index] = result.product;
      renderQueue();
      renderEditor();
      status(`Set ${label(attribute)} of “${item.title}” to ${value || "(none)"}.`);
    });
  }

  function scheduleListSave(attribute, list) {
    if (state.pendingList) clearTimeout(state.pendingList.timer);
    state.pendingList = { attribute, list, timer: setTimeout(() => flushListSave(true), LIST_SAVE_DELAY_MS) };
  }

  function flushListSave(save) {
    const pending = state.pendingList;
    if (!pending) return;
    clearTimeout(pending.timer);
    state.pendingList = null;
    if (save) correct(pending.attribute, pending.list.value);
  }

  function cycleChip(attribute) {
    const item = current();
    if (!item) return;
    const values = state.schema.values[attribute];
    const now = item.values[attribute];
    correct(attribute, values[(values.indexOf(now) + 1) % values.length]);
  }

  // After an accept or a skip: the same page again, on the product after the one just reviewed.
  async function reloadAfter(item) {
    const index = state.index;
    await loadQueue({ productId: item.id, fallback: index });
    const stillThere = state.items.findIndex((i) => i.id === item.id);
    if (stillThere >= 0 && stillThere + 1 < state.items.length) select(stillThere + 1);
  }

  function accept() {
    return run(async () => {
      const item = current();
      if (!item) return;
      await api("POST", `/api/products/${encodeURIComponent(item.id)}/accept`);
      status(`Accepted “${item.title}”.`);
      await reloadAfter(item);
    });
  }

  function skip() {
    return run(async () => {
      const item = current();
      if (!item) return;
      await api("POST", `/api/products/${encodeURIComponent(item.id)}/skip`);
      status(`Skipped “${item.title}”.`);
      await reloadAfter(item);
    });
  }

  function undo() {
    return run(async () => {
      const result = await api("POST", "/api/products/undo");
      if (result.product_id === null || result.product_id === undefined) {
        status("Nothing to undo.");
        return;
      }
      await loadQueue({ productId: result.product_id, fallback: state.index });
      status(`Undone (${result.product_id}).`);
    });
  }

  function bulkAccept() {
    return run(async () => {
      if (state.filters.state === "reviewed" || state.total === 0) return;
      const count = state.total;
      const question = `Accept every unreviewed attribute of all ${count} product(s) these filters show?` +
        " One undo reverts it.";
      if (!window.confirm(question)) return;
      const result = await api("POST", "/api/products/bulk-accept", { ...state.filters, expected: count });
      status(`Accepted ${result.accepted} product(s).`);
      state.offset = 0;
      await loadQueue();
    });
  }

  function exportData() {
    return run(async () => {
      const result = await api("POST", "/api/products/export");
      const box = $("export-result");
      box.replaceChildren();
      for (const [key, value] of Object.entries(result)) {
        box.append(el("dt", "", key.replace(/_/g, " ")), el("dd", "", String(value)));
      }
      box.hidden = false;
      status(`Exported ${result.written} product example(s).`);
    });
  }

  // ---- keyboard ------------------------------------------------------------------------------------------

  // The product page's own keys, after the shared ones (Enter / a, s, u, Ctrl+Z, j / k: queue.js).
  function onOtherKey(event) {
    const key = event.key;
    const handled = () => event.preventDefault();
    if (key === "b") {
      handled();
      bulkAccept();
    } else if (CHIP_KEYS[key]) {
      handled();
      cycleChip(CHIP_KEYS[key]);
    } else if (LIST_KEYS[key]) {
      const list = document.querySelector(`#facts select[name="${LIST_KEYS[key]}"]`);
      if (list) {
        handled();
        list.focus();
      }
    }
  }

  // ---- start -------------------------------------------------------------------------------------------

  function fillSelect(name, values) {
    const field = $("filters").elements[name];
    for (const value of values) field.append(new Option(value, value));
  }

  async function start() {
    state.schema = await api("GET", "/api/products/schema");
    fillSelect("category", state.schema.categories);
    fillSelect("product_type", state.schema.values.product_type);
    fillSelect("attribute", state.schema.attributes);
    window.ShopcueQueue.wireQueue({ state, pageSize: PAGE_SIZE, run, load: loadQueue, readFilters });
    $("bulk-accept").addEventListener("click", bulkAccept);
    $("export").addEventListener("click", exportData);
    $("accept").addEventListener("click", accept);
    $("skip").addEventListener("click", skip);
    $("undo").addEventListener("click", undo);
    // Clicking a chip must not take the keyboard focus: Enter stays "accept".
    $("editor").addEventListener("mousedown", (event) => {
      if (event.target.closest(".chip")) event.preventDefault();
    });
    window.ShopcueQueue.keyboard({
      accept, skip, undo,
      next: () => select(state.index + 1),
      prev: () => select(state.index - 1),
      other: onOtherKey,
    });
    state.filters = readFilters();
    await loadQueue();
    document.body.dataset.ready = "true";
  }

  start().catch((error) => status(`The product page could not start: ${error.message}`, true));
})();
