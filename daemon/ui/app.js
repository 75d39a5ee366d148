// The zsimem web console: a page over the daemon's own HTTP API, with the
// same tokens and policy as any other client (docs/console.md).
"use strict";

const prefix = document.querySelector('meta[name="zsimem-api-prefix"]').content;
const $ = (selector) => document.querySelector(selector);
const state = { user: null, ns: "default", head: null, versions: [], cursor: null };

// --- the API ---------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : describeDetail(detail));
    this.status = status;
  }
}

function describeDetail(detail) {
  if (Array.isArray(detail)) return detail.map((item) => `${item.loc.join(".")}: ${item.msg}`).join("; ");
  if (detail && typeof detail === "object") return detail.msg || JSON.stringify(detail);
  return String(detail);
}

async function api(path, { method = "GET", body, headers = {} } = {}) {
  const token = localStorage.getItem("zsimem-token");
  const response = await fetch(prefix + path, {
    method,
    headers: {
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data ? data.detail : response.statusText);
  return data;
}

const enc = encodeURIComponent;
const contextPath = (suffix = "") => `/memory/${enc(state.user)}${suffix}`;
const nsQuery = () => `namespace=${enc(state.ns)}`;

function report(error) {
  const text = error instanceof ApiError && error.status === 401
    ? `${error.message}: enter a token above`
    : error.message;
  $("#status").textContent = text;
  $("#status").classList.add("error");
}

function say(text) {
  $("#status").textContent = text;
  $("#status").classList.remove("error");
}

// --- JSON as a tree ----------------------------------------------------------

function pointerOf(parent, key) {
  return `${parent}/${String(key).replaceAll("~", "~0").replaceAll("/", "~1")}`;
}

function valueAt(document, pointer) {
  if (pointer === "") return document;
  let value = document;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (value === null || typeof value !== "object" || !(key in value)) return undefined;
    value = value[key];
  }
  return value;
}

// `marks`: pointer -> class (added, removed, changed) for the diff view.
function renderTree(value, marks = new Map(), pointer = "", key = null) {
  const label = document.createElement("span");
  if (key !== null) {
    label.className = "key";
    label.textContent = `${JSON.stringify(key)}: `;
  }
  let node;
  if (value !== null && typeof value === "object") {
    node = document.createElement("details");
    node.open = true;
    const summary = document.createElement("summary");
    const entries = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
    summary.append(label, Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`);
    node.append(summary);
    for (const [childKey, child] of entries) {
      node.append(renderTree(child, marks, pointerOf(pointer, childKey), childKey));
    }
  } else {
    node = document.createElement("div");
    node.className = "leaf";
    const text = document.createElement("span");
    text.className = value === null ? "null" : typeof value;
    text.textContent = JSON.stringify(value);
    node.append(label, text);
  }
  node.dataset.pointer = pointer;
  if (marks.has(pointer)) node.classList.add(marks.get(pointer));
  return node;
}

function showTree(target, value, marks) {
  target.replaceChildren(renderTree(value, marks));
}

// --- users, namespaces, the context ----------------------------------------

async function loadUsers() {
  try {
    const users = await api("/users");
    const list = $("#users");
    list.replaceChildren(...users.map((user) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = user;
      button.addEventListener("click", () => selectUser(user));
      item.append(button);
      return item;
    }));
    filterUsers();
    say(users.length ? "" : "No contexts yet.");
  } catch (error) {
    report(error);
  }
}

function filterUsers() {
  const text = $("#user-filter").value.trim().toLowerCase();
  for (const button of document.querySelectorAll("#users button")) {
    button.parentElement.hidden = text !== "" && !button.textContent.toLowerCase().includes(text);
    button.setAttribute("aria-current", String(button.textContent === state.user));
  }
}

async function selectUser(user) {
  state.user = user;
  filterUsers();
  try {
    const namespaces = await api(`/memory/${enc(user)}/namespaces`);
    const select = $("#namespace");
    select.replaceChildren(...namespaces.map((ns) => new Option(ns, ns)));
    state.ns = namespaces.includes("default") ? "default" : namespaces[0];
    select.value = state.ns;
    $("#context-pane").hidden = false;
    await refresh();
  } catch (error) {
    report(error);
  }
}

async function refresh() {
  $("#context-title").textContent = state.user;
  say("");
  await loadContext(); // first: the timeline marks the head
  await loadTimeline(true);
  const open = document.querySelector('.tabs [aria-selected="true"]').dataset.tab;
  if (open === "audit") await loadAudit();
}

async function loadContext() {
  try {
    const context = await api(`${contextPath()}?${nsQuery()}`);
    state.head = context.version;
    $("#context-meta").textContent = `version ${context.version} · updated ${context.updated_at}`;
    showTree($("#context-tree"), context.data);
  } catch (error) {
    report(error);
  }
}

// --- the timeline, rollback ---------------------------------------------------

async function loadTimeline(fresh) {
  try {
    if (fresh) {
      state.versions = [];
      state.cursor = null;
    }
    const cursor = state.cursor ? `&cursor=${enc(state.cursor)}` : "";
    const page = await api(`${contextPath("/history")}?${nsQuery()}&limit=50${cursor}`);
    state.versions.push(...page.versions);
    state.cursor = page.next_cursor;
    $("#more-history").hidden = !page.next_cursor;
    renderTimeline();
    fillDiffChoices();
  } catch (error) {
    report(error);
  }
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderTimeline() {
  const rows = state.versions.map((version) => {
    const row = document.createElement("tr");
    row.dataset.version = version.version;
    const actions = document.createElement("td");
    const compare = document.createElement("button");
    compare.type = "button";
    compare.textContent = "Diff with head";
    compare.disabled = version.version === state.head;
    compare.addEventListener("click", () => openDiff(version.version, state.head));
    const rollback = document.createElement("button");
    rollback.type = "button";
    rollback.textContent = "Roll back here";
    rollback.disabled = version.version === state.head;
    rollback.addEventListener("click", () => confirmRollback(version.version));
    actions.append(compare, " ", rollback);
    const tags = version.tags.join(", ") + (version.rollback_of ? ` (rollback to ${version.rollback_of})` : "");
    row.append(cell(version.version), cell(version.updated_at), cell(version.actor), cell(tags),
               cell(version.request_id, "id"), actions);
    return row;
  });
  $("#timeline tbody").replaceChildren(...rows);
}

function confirmRollback(target) {
  const dialog = $("#confirm-rollback");
  $("#confirm-text").textContent =
    `Roll ${state.user} (${state.ns}) back to version ${target}? This writes a new version with version ` +
    `${target}'s data. It is refused if the context changed after version ${state.head}.`;
  dialog.onclose = async () => {
    if (dialog.returnValue !== "ok") return;
    try {
      const context = await api(`${contextPath("/rollback")}?${nsQuery()}`, {
        method: "POST",
        body: { version: target },
        headers: { "If-Match": `"${state.head}"` },
      });
      await refresh();
      say(`Rolled back: version ${context.version} has version ${target}'s data.`);
    } catch (error) {
      if (error.status === 412) {
        say(`Not rolled back: the context changed after version ${state.head}. Reloaded; try again.`);
        await refresh();
      } else {
        report(error);
      }
    }
  };
  dialog.returnValue = "cancel";
  dialog.showModal();
}

// --- the diff -------------------------------------------------------------------

function fillDiffChoices() {
  for (const id of ["#diff-from", "#diff-to"]) {
    const select = $(id);
    const chosen = select.value;
    select.replaceChildren(...state.versions.map((version) => new Option(version.version, version.version)));
    if (chosen && state.versions.some((version) => version.version === chosen)) select.value = chosen;
  }
  if (!$("#diff-to").value && state.head) $("#diff-to").value = state.head;
}

async function openDiff(from, to) {
  $("#diff-from").value = from;
  $("#diff-to").value = to;
  showTab("diff");
  await loadDiff();
}

async function loadDiff() {
  const from = $("#diff-from").value;
  const to = $("#diff-to").value;
  if (!from || !to) return;
  try {
    const [older, newer, diff] = await Promise.all([
      api(`${contextPath(`/versions/${enc(from)}`)}?${nsQuery()}`),
      api(`${contextPath(`/versions/${enc(to)}`)}?${nsQuery()}`),
      api(`${contextPath("/diff")}?${nsQuery()}&from=${enc(from)}&to=${enc(to)}`),
    ]);
    const left = new Map();
    const right = new Map();
    for (const op of diff.patch) {
      if (op.op === "add") right.set(op.path, "added");
      else if (op.op === "remove") left.set(op.path, "removed");
      else {
        left.set(op.path, "changed");
        right.set(op.path, "changed");
      }
    }
    $("#diff-summary").textContent = diff.patch.length === 0
      ? `Versions ${from} and ${to} hold the same data.`
      : `${diff.patch.length} changed path${diff.patch.length === 1 ? "" : "s"}: ` +
        diff.patch.map((op) => `${op.op} ${op.path}`).join(", ");
    $("#diff-left-title").textContent = `version ${from} · ${older.updated_at}`;
    $("#diff-right-title").textContent = `version ${to} · ${newer.updated_at}`;
    showTree($("#diff-left"), older.data, left);
    showTree($("#diff-right"), newer.data, right);
  } catch (error) {
    report(error);
  }
}

// --- the chart -----------------------------------------------------------------

async function chartPoints(field) {
  try {
    const summary = await api(`${contextPath("/summary")}?${nsQuery()}&field=${enc(field)}&bucket=day`);
    const buckets = summary.fields[0].buckets.filter((bucket) => bucket.count > 0);
    if (buckets.length >= 2) {
      return { source: "daily means (summary)", points: buckets.map((b) => [Date.parse(b.start), b.mean]) };
    }
  } catch (error) {
    if (error.status !== 501) throw error; // summaries switched off: the history still has the numbers
  }
  // History pages carry each version's data: up to 10,000 versions, newest.
  const versions = [];
  for (let cursor = null, pages = 0; pages < 10; pages++) {
    const page = await api(`${contextPath("/history")}?${nsQuery()}&limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
    versions.push(...page.versions);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  const points = versions.reverse()
    .map((version) => [Date.parse(version.updated_at), valueAt(version.data, field)])
    .filter(([, value]) => typeof value === "number");
  return { source: "each version", points };
}

async function loadChart() {
  const field = $("#chart-field").value.trim();
  if (!field) return;
  try {
    const { source, points } = await chartPoints(field);
    $("#chart-meta").textContent = points.length
      ? `${field}: ${points.length} points (${source}), from ${points[0][1]} to ${points[points.length - 1][1]}`
      : `${field} holds no number in this context's history.`;
    $("#chart").replaceChildren(points.length ? lineChart(points) : "");
  } catch (error) {
    report(error);
  }
}

function lineChart(points) {
  const width = 640, height = 260, pad = 40;
  const xs = points.map(([x]) => x), ys = points.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - 2 * pad);
  const sy = (y) => height - pad - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (height - 2 * pad);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const add = (name, attributes, text) => {
    const element = document.createElementNS(ns, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (text !== undefined) element.textContent = text;
    svg.append(element);
    return element;
  };
  add("line", { class: "axis", x1: pad, y1: height - pad, x2: width - pad, y2: height - pad });
  add("line", { class: "axis", x1: pad, y1: pad, x2: pad, y2: height - pad });
  add("polyline", { class: "line", points: points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ") });
  for (const [x, y] of points) add("circle", { class: "dot", cx: sx(x), cy: sy(y), r: 3 });
  add("text", { x: 4, y: sy(y1) + 4 }, String(y1));
  add("text", { x: 4, y: sy(y0) + 4 }, String(y0));
  add("text", { x: pad, y: height - 12 }, new Date(x0).toISOString().slice(0, 19).replace("T", " "));
  add("text", { x: width - pad, y: height - 12, "text-anchor": "end" },
      new Date(x1).toISOString().slice(0, 19).replace("T", " "));
  return svg;
}

// --- the audit log ---------------------------------------------------------------

async function loadAudit() {
  try {
    const everyone = $("#audit-all-users").checked;
    const scope = everyone ? "" : `user_id=${enc(state.user)}&${nsQuery()}&`;
    const page = await api(`/memory/logs?${scope}limit=500`);
    const operation = $("#audit-operation").value.trim();
    const outcome = $("#audit-outcome").value.trim();
    const rows = page.records
      .filter((record) => (!operation || record.operation === operation) && (!outcome || record.outcome === outcome))
      .map((record) => {
        const row = document.createElement("tr");
        row.append(cell(record.time), cell(record.operation), cell(record.outcome), cell(record.user_id ?? ""),
                   cell(record.namespace ?? ""), cell(record.version ?? ""), cell(record.actor),
                   cell(record.request_id, "id"));
        return row;
      });
    $("#audit tbody").replaceChildren(...rows);
  } catch (error) {
    report(error);
  }
}

// --- wiring ------------------------------------------------------------------------

function showTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== `tab-${name}`;
  if (name === "audit") loadAudit();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token").value = localStorage.getItem("zsimem-token") ?? "";
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (token) localStorage.setItem("zsimem-token", token);
    else localStorage.removeItem("zsimem-token");
    loadUsers();
  });
  $("#user-filter").addEventListener("input", filterUsers);
  $("#namespace").addEventListener("change", async (event) => {
    state.ns = event.target.value;
    await refresh();
  });
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("#more-history").addEventListener("click", () => loadTimeline(false));
  $("#diff-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadDiff();
  });
  $("#chart-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadChart();
  });
  $("#audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAudit();
  });
  loadUsers();
});
