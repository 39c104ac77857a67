// What the two doubt-first queue pages share (review.js: messages, products.js: products): building
// elements, the status line, one action at a time, the queue's counts and pager, the filter form and the
// review keys. Each page loads this after console.js and before its own script; window.ShopcueQueue.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function status(message, isError) {
    const node = $("status");
    node.textContent = message;
    node.classList.toggle("error", Boolean(isError));
  }

  // A run(action) that starts no action while one is under way; an action's error goes to the status line.
  function runner() {
    let busy = false;
    return async function run(action) {
      if (busy) return;
      busy = true;
      try {
        await action();
      } catch (error) {
        status(error.message, true);
      } finally {
        busy = false;
      }
    };
  }

  // The counts around the list: "N things", "from–to of N", the page buttons and the bulk-accept button.
  // bulk: {allowed, title (when allowed), refused (the title when not)}.
  function renderCounts(state, noun, bulk) {
    const shownFrom = state.total ? state.offset + 1 : 0;
    const shownTo = state.offset + state.items.length;
    $("queue-total").textContent = `${state.total} ${noun}${state.total === 1 ? "" : "s"}`;
    $("page-info").textContent = `${shownFrom}–${shownTo} of ${state.total}`;
    $("prev-page").disabled = state.offset === 0;
    $("next-page").disabled = shownTo >= state.total;
    const button = $("bulk-accept");
    button.disabled = !bulk.allowed || state.total === 0;
    button.textContent = `Bulk accept all ${state.total} shown by this filter`;
    button.title = bulk.allowed ? bulk.title : bulk.refused;
  }

  // The filter form and the pager: each reloads the queue (through run) from the right offset.
  // options: {state, pageSize, run, load, readFilters, onFilter (optional, before a filtered reload)}.
  function wireQueue(options) {
    const { state, pageSize, run, load } = options;
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      state.filters = options.readFilters();
      state.offset = 0;
      if (options.onFilter) options.onFilter();
      // Leave the form, so the review keys (Enter = accept) work again at once.
      if (document.activeElement) document.activeElement.blur();
      run(() => load());
    });
    $("prev-page").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - pageSize);
      run(() => load());
    });
    $("next-page").addEventListener("click", () => {
      state.offset += pageSize;
      run(() => load());
    });
  }

  // The review keys: Enter / a accept, s skip, u and Ctrl+Z undo, j / k next / previous. Keys typed in a
  // field are the field's (Esc leaves it); Enter and space on a button are the button's.
  // handlers: {accept, skip, undo, next, prev, before(event) (true: the key is dealt with, e.g. by an
  // open dialog), other(event) (the page's own keys; it calls event.preventDefault() for those it takes)}.
  function keyboard(handlers) {
    document.addEventListener("keydown", (event) => {
      if (handlers.before && handlers.before(event)) return;
      const target = event.target;
      const typing = target.closest && target.closest("input, select, textarea");
      if (typing) {
        if (event.key === "Escape") target.blur();
        return;
      }
      if (target.closest && target.closest("button") && (event.key === "Enter" || event.key === " ")) return;
      if (event.altKey || event.metaKey) return;
      if (event.ctrlKey) {
        if (event.key === "z" || event.key === "Z") {
          event.preventDefault();
          handlers.undo();
        }
        return;
      }
      const key = event.key;
      const shared = { Enter: handlers.accept, a: handlers.accept, s: handlers.skip, u: handlers.undo,
        j: handlers.next, k: handlers.prev };
      if (Object.prototype.hasOwnProperty.call(shared, key)) {
        event.preventDefault();
        shared[key]();
      } else if (handlers.other) {
        handlers.other(event);
      }
    });
  }

  window.ShopcueQueue = { el, status, runner, renderCounts, wireQueue, keyboard };
})();
