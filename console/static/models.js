// The Models page: the registry with promote / shadow buttons, rollback, the shadow's agreement and the
// A/B arms (console/routers/models.py, console/routers/admin.py). Text goes in with textContent only.
"use strict";

(function () {
  const { api } = window.ShopcueConsole;
  const status = document.getElementById("models-status");
  const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function button(label, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = label;
    b.addEventListener("click", async () => {
      b.disabled = true;
      status.textContent = `${label} ...`;
      try {
        const answer = await action();
        status.textContent = answer && answer.serving_error ? `registry changed; ${answer.serving_error}` : `${label}: done`;
      } catch (error) {
        status.textContent = `${label} failed: ${error.message}`;
      }
      load();
    });
    return b;
  }

  function arm(side) {
    return `${side.count}/${side.shoppers} = ${pct(side.rate)} (${pct(side.ci95.low)}–${pct(side.ci95.high)})`;
  }

  async function load() {
    const { models } = await api("GET", "/api/admin/models");
    const body = document.querySelector("#models-table tbody");
    body.replaceChildren();
    for (const model of models) {
      const row = document.createElement("tr");
      [model.id, model.status, model.created_at || "", model.note].forEach((t) => cell(row, t));
      const actions = cell(row, "");
      if (model.status !== "live") {
        actions.appendChild(button("Promote", () => api("POST", `/api/admin/models/${model.id}/promote`)));
        actions.appendChild(button(model.status === "shadow" ? "Stop shadow" : "Shadow",
          () => api("POST", "/api/admin/shadow", { model_id: model.status === "shadow" ? null : model.id })));
        actions.appendChild(button("A/B 10%", () => api("POST", "/api/admin/ab", { model_id: model.id, share: 0.1 })));
      }
      body.appendChild(row);
    }
    const shadow = await api("GET", "/api/admin/shadow");
    const current = shadow.shadow && shadow.agreement[shadow.shadow.id];
    document.getElementById("shadow-summary").textContent = shadow.shadow
      ? `shadow ${shadow.shadow.id}: ${current ? `${current.agreed}/${current.parsed} agree (${pct(current.rate)})` : "nothing parsed yet"}`
      : "no shadow model";
    const dis = document.querySelector("#shadow-disagreements tbody");
    dis.replaceChildren();
    for (const d of shadow.disagreements) {
      const row = document.createElement("tr");
      [d.text, d.intent, d.shadow_intent, Object.keys(d.differences).join(", ")].forEach((t) => cell(row, t));
      dis.appendChild(row);
    }
    const ab = await api("GET", "/api/admin/ab");
    const abBody = document.querySelector("#ab-table tbody");
    abBody.replaceChildren();
    if (ab.serving_error) {
      document.getElementById("ab-summary").textContent = ab.serving_error;
    } else if (!ab.comparison) {
      document.getElementById("ab-summary").textContent = "no A/B test running";
    } else {
      const c = ab.comparison;
      document.getElementById("ab-summary").textContent =
        `live ${c.live_id} (${c.shoppers.A} shoppers) against candidate ${c.candidate_id} ` +
        `(${c.shoppers.B} shoppers, ${pct(ab.serving.share)} of traffic), last ${ab.days} days`;
      for (const o of c.outcomes) {
        const row = document.createElement("tr");
        const ci = o.difference_ci95;
        [o.outcome, arm(o.a), arm(o.b), `${pct(o.difference)} (${pct(ci.low)} to ${pct(ci.high)})`, o.verdict]
          .forEach((t) => cell(row, t));
        abBody.appendChild(row);
      }
    }
  }

  document.getElementById("rollback").addEventListener("click", async () => {
    try {
      const answer = await api("POST", "/api/admin/rollback");
      status.textContent = answer.serving_error ? `rolled back; ${answer.serving_error}` : `rolled back to ${answer.id}`;
    } catch (error) {
      status.textContent = `rollback failed: ${error.message}`;
    }
    load();
  });
  // Retrain: start the job, then follow its progress lines until it is done or failed.
  const retrainButton = document.getElementById("retrain");
  async function followRetrain() {
    const job = await api("GET", "/api/admin/retrain");
    const running = job.state === "running";
    retrainButton.disabled = running;
    const outcome = job.state === "done" ? (job.promoted ? "candidate promoted" : "candidate not promoted: " +
      (job.reasons || []).join("; ")) : job.state === "failed" ? job.error : "";
    document.getElementById("retrain-state").textContent =
      job.state === "idle" ? "" : `${job.state}${job.started_by ? ` (started by ${job.started_by})` : ""} ${outcome}`;
    document.getElementById("retrain-lines").textContent = (job.lines || []).slice(-20).join("\n");
    document.getElementById("retrain-table").textContent = job.table || "";
    if (running) {
      setTimeout(() => followRetrain().catch(() => {}), 3000);
    } else if (job.state === "done") {
      load();
    }
  }
  retrainButton.addEventListener("click", async () => {
    retrainButton.disabled = true;
    try {
      await api("POST", "/api/admin/retrain", {});
    } catch (error) {
      status.textContent = `retrain: ${error.message}`;
    }
    followRetrain().catch((error) => { status.textContent = error.message; });
  });
  followRetrain().catch(() => {});
  // data-ready: every section has been drawn once (the browser test waits for it).
  load().then(() => { document.body.dataset.ready = "1"; })
    .catch((error) => { status.textContent = error.message; });
})();
