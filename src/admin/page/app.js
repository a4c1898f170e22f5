// seatsync admin page. Plain DOM, no framework: every value from the server is
// put in the page as text (textContent / text nodes), never as HTML.
"use strict";

const TOKEN_KEY = "seatsync.adminToken";
const $ = (selector, root = document) => root.querySelector(selector);

// --- small DOM helpers ------------------------------------------------------

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const number = (n) => new Intl.NumberFormat("en").format(n);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

function notice(message, kind = "error") {
  const box = $("#notice");
  box.textContent = message;
  box.className = kind === "ok" ? "notice ok" : "notice";
  box.hidden = !message;
}

// --- the admin API ----------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "unreachable", "The server cannot be reached. Is seatsync running?");
  }
  // A 204 (a revocation) has no body at all; anything unparseable reads as {}.
  const text = response.status === 204 ? "" : await response.text().catch(() => "");
  let data = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = {};
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, data.error || "error", data.message || `HTTP ${response.status}`);
  }
  return data;
}

/** Shows an API failure; a refused token sends the user back to sign in. */
function failed(err) {
  if (err.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn();
    notice("The admin token was refused. Check ADMIN_TOKEN and sign in again.");
    return;
  }
  if (err.code === "admin_disabled") {
    notice("The admin API is disabled on this server (ADMIN_TOKEN is not set).");
    return;
  }
  notice(inWords(err));
}

/** A refusal said for people: the API's code in words, its message otherwise. */
function inWords(err) {
  const words = {
    seat_managed_by_directory:
      "This person's seat follows the directory while the plan is enforced: only an active directory user can be paid, and directory users cannot be moved by hand.",
    plan_exists: "This organization already has a plan: open that one instead.",
    no_hold: "Nothing is held any more: the hold was approved elsewhere.",
    billing_not_configured: "No billing target is configured (BILLING_WEBHOOK_URL or STRIPE_API_KEY).",
    not_found: "It no longer exists: it may have been removed elsewhere.",
    unavailable: "The database is unavailable right now; try again in a moment.",
  }[err.code];
  if (words) return words;
  if (err.code === "bad_request") return `The server refused it: ${err.message}`;
  return err.message || String(err);
}

/** A form field's value by name (`form.name` is the form's own name). */
const field = (form, name) => form.elements.namedItem(name).value.trim();

/**
 * Asks before a change that moves seats: a modal with the facts, resolved
 * true on "yes", false on cancel or Escape.
 */
function ask(title, lines, yes) {
  return new Promise((resolve) => {
    const accept = el("button", { id: "confirm-yes" }, yes);
    const cancel = el("button", { id: "confirm-no", class: "quiet" }, "Cancel");
    const dialog = el(
      "dialog",
      { id: "confirm", class: "card" },
      el("h2", {}, title),
      lines.map((line) => (line instanceof Node ? line : el("p", {}, line))),
      el("div", { class: "row" }, accept, cancel),
    );
    document.body.append(dialog);
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    accept.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    dialog.showModal();
    cancel.focus();
  });
}

/** Up to `n` emails as a list, and how many more. */
function someEmails(id, emails, n = 10) {
  if (emails.length === 0) return null;
  const shown = emails.slice(0, n).map((email) => el("li", {}, email));
  if (emails.length > n) shown.push(el("li", { class: "muted" }, `and ${number(emails.length - n)} more`));
  return el("ul", { class: "emails", id }, shown);
}

// --- sign in ----------------------------------------------------------------

function showSignIn() {
  $("#sign-in").hidden = false;
  $("#lookup").hidden = true;
  $("#sign-out").hidden = true;
  $("#view").replaceChildren();
  $("#event").hidden = true;
  $("#token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("#token").value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#token").value = "";
  try {
    await api("GET", "/admin/plans?limit=1");
  } catch (err) {
    failed(err);
    return;
  }
  notice("");
  route();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  plansPaging = { key: null, after: null, before: [] };
  location.hash = "#/";
  notice("");
  showSignIn();
}

// --- views ------------------------------------------------------------------

function modeBadge(mode) {
  return el("span", { class: `badge ${mode}`, "data-mode": mode }, mode);
}

/** The plan list's filters (CONTRACT 3.3), as kept in the hash: `#/?q=…&mode=…`. */
const PLAN_FILTERS = {
  q: (v) => v.trim(),
  mode: (v) => (["test", "enforced"].includes(v) ? v : ""),
  hold: (v) => (v === "true" ? "true" : ""),
  billing: (v) => (["in_sync", "pending", "failing"].includes(v) ? v : ""),
};

/** The filters in the hash, only known names with valid values. */
function planFiltersFromHash() {
  const hash = location.hash.replace(/^#/, "");
  const at = hash.indexOf("?");
  const query = new URLSearchParams(at === -1 ? "" : hash.slice(at + 1));
  const filters = {};
  for (const [name, valid] of Object.entries(PLAN_FILTERS)) {
    const value = valid(query.get(name) ?? "");
    if (value) filters[name] = value;
  }
  return filters;
}

const planFiltersQuery = (filters) => new URLSearchParams(filters).toString();

/**
 * Where the plan list is: the filters it was for, the cursor of the page shown
 * (null for the first) and the cursors of the pages before it, so "Previous
 * page" works; kept for the tab, so coming back from a plan shows the same page.
 */
let plansPaging = { key: null, after: null, before: [] };
let plansLoad = 0;

async function showPlans() {
  const filters = planFiltersFromHash();
  const key = planFiltersQuery(filters);
  const paging = plansPaging.key === key ? plansPaging : { key, after: null, before: [] };

  const form = newPlanForm();
  const open = el("button", { id: "new-plan-open" }, "New plan");
  open.addEventListener("click", () => {
    form.hidden = false;
    open.hidden = true;
    form.elements.namedItem("name").focus();
  });
  form.addEventListener("reset", () => {
    form.hidden = true;
    open.hidden = false;
  });
  const list = el("div", { id: "plans-list" });
  const filterForm = planFilterForm(filters, list);
  // The list first, then the view: nothing half drawn if the API refuses,
  // and nothing drawn over another view opened meanwhile.
  if (!(await loadPlans(filters, list, paging))) return;
  $("#view").replaceChildren(
    el("section", { class: "card" }, el("div", { class: "row spread" }, el("h1", {}, "Plans"), open), form, filterForm, list),
  );
}

/** Search, mode, hold and billing; submitting puts them in the hash (the list follows it). */
function planFilterForm(filters, list) {
  const form = el(
    "form",
    { class: "filters", id: "plan-filters" },
    el("input", {
      id: "plan-search",
      name: "q",
      type: "search",
      placeholder: "Name or organization id",
      "aria-label": "Name or organization id",
      value: filters.q || "",
      autocomplete: "off",
      spellcheck: "false",
    }),
    el(
      "select",
      { id: "plan-mode", name: "mode", "aria-label": "Mode" },
      el("option", { value: "" }, "Any mode"),
      el("option", { value: "test" }, "Test"),
      el("option", { value: "enforced" }, "Enforced"),
    ),
    el("label", { class: "check" }, el("input", { id: "plan-hold", name: "hold", type: "checkbox", checked: filters.hold === "true" }), " On hold only"),
    el(
      "select",
      { id: "plan-billing", name: "billing", "aria-label": "Billing" },
      el("option", { value: "" }, "Any billing"),
      el("option", { value: "in_sync" }, "In sync"),
      el("option", { value: "pending" }, "Pending"),
      el("option", { value: "failing" }, "Failing"),
    ),
    el("button", { type: "submit", id: "plan-filter" }, "Filter"),
  );
  form.elements.namedItem("mode").value = filters.mode || "";
  form.elements.namedItem("billing").value = filters.billing || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = {};
    const values = {
      q: field(form, "q"),
      mode: field(form, "mode"),
      hold: form.elements.namedItem("hold").checked ? "true" : "",
      billing: field(form, "billing"),
    };
    for (const [name, valid] of Object.entries(PLAN_FILTERS)) {
      const value = valid(values[name]);
      if (value) chosen[name] = value;
    }
    const key = planFiltersQuery(chosen);
    // Submitting always starts from the first page.
    const paging = { key, after: null, before: [] };
    if (planFiltersQuery(planFiltersFromHash()) === key) {
      loadPlans(chosen, list, paging).catch(failed);
    } else {
      plansPaging = paging;
      location.hash = key ? `#/?${key}` : "#/"; // hashchange → route → showPlans with these filters
    }
  });
  return form;
}

/**
 * The page of plans `paging` points at into `list`, with the paging buttons;
 * `paging` becomes the list's place once shown. False when a later load, or
 * another view, took over while it was asked for (then nothing is drawn).
 */
async function loadPlans(filters, list, paging) {
  const ticket = ++plansLoad;
  const hash = location.hash;
  const query = new URLSearchParams({ limit: "100", ...filters });
  if (paging.after) query.set("after", paging.after);
  const { data, next } = await api("GET", `/admin/plans?${query}`);
  if (ticket !== plansLoad || location.hash !== hash) return false;
  plansPaging = paging;
  const first = paging.after === null;
  const filtered = Object.keys(filters).length > 0;

  const rows = data.map((plan) =>
    el(
      "tr",
      { class: "link", "data-plan-id": plan.id, onclick: () => (location.hash = `#/plans/${encodeURIComponent(plan.id)}`) },
      el("td", { class: "name" }, plan.name),
      el("td", { class: "mono" }, plan.organization_id ?? el("span", { class: "muted" }, "not configured")),
      el("td", {}, modeBadge(plan.mode), " ", plan.hold ? el("span", { class: "badge hold" }, "on hold") : null),
      el("td", { class: "num" }, number(plan.test_mode_max_users)),
      el("td", { class: "num" }, number(plan.active_directory_users)),
      el("td", { class: "num paid" }, number(plan.paid_seats)),
      el("td", { class: "num free" }, number(plan.free_seats)),
      el("td", { "data-billing": billingOverall(plan.billing)?.state ?? "none" }, billingBadge(billingOverall(plan.billing))),
    ),
  );

  // Each button asks for its page; the buttons wait while it comes.
  const go = (to) => async () => {
    const buttons = [...list.querySelectorAll("#plans-pager button")];
    for (const b of buttons) b.disabled = true;
    try {
      await loadPlans(filters, list, { key: paging.key, ...to });
    } catch (err) {
      failed(err);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  };
  const firstButton = first ? null : el("button", { id: "plans-first", class: "quiet", onclick: go({ after: null, before: [] }) }, "First page");
  const prevButton = first
    ? null
    : el("button", { id: "plans-prev", class: "quiet", onclick: go({ after: paging.before.at(-1) ?? null, before: paging.before.slice(0, -1) }) }, "Previous page");
  const nextButton = next
    ? el("button", { id: "plans-next", class: "quiet", onclick: go({ after: next, before: [...paging.before, paging.after] }) }, "Next page")
    : null;
  const pager =
    firstButton || prevButton || nextButton
      ? el(
          "div",
          { class: "row pager", id: "plans-pager" },
          firstButton,
          prevButton,
          el("span", { class: "muted", id: "plans-page" }, `Page ${number(paging.before.length + 1)}`),
          nextButton,
        )
      : null;

  let body;
  if (data.length === 0 && first && !filtered) {
    body = el("p", { class: "muted", id: "no-plans" }, "No plans yet: create the first with \u201cNew plan\u201d.");
  } else if (data.length === 0) {
    body = el("p", { class: "muted", id: "plans-empty" }, "No plan matches.");
  } else {
    body = el(
      "table",
      { id: "plans" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", {}, "Plan"),
          el("th", {}, "Organization"),
          el("th", {}, "Mode"),
          el("th", { class: "num" }, "Threshold"),
          el("th", { class: "num" }, "Active directory users"),
          el("th", { class: "num" }, "Paid"),
          el("th", { class: "num" }, "Free"),
          el("th", {}, "Billing"),
        ),
      ),
      el("tbody", {}, rows),
    );
  }
  list.replaceChildren(...[body, pager].filter(Boolean));
  return true;
}

/** "New plan": a name, and optionally the WorkOS organization and threshold. */
function newPlanForm() {
  const form = el(
    "form",
    { id: "new-plan", class: "fields", hidden: true },
    el("label", {}, "Name", el("input", { name: "name", required: true, maxlength: 200, autocomplete: "off" })),
    el(
      "label",
      {},
      "WorkOS organization (optional)",
      el("input", { name: "organization_id", placeholder: "org_… (or use Configure SCIM later)", autocomplete: "off", spellcheck: "false" }),
    ),
    el(
      "label",
      {},
      "Test-mode threshold (optional)",
      el("input", { name: "test_mode_max_users", type: "number", min: 0, step: 1, placeholder: "the server's default" }),
    ),
    el("div", { class: "row" }, el("button", { type: "submit" }, "Create plan"), el("button", { type: "reset", class: "quiet" }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: field(form, "name") };
    if (field(form, "organization_id")) body.organization_id = field(form, "organization_id");
    if (field(form, "test_mode_max_users") !== "") body.test_mode_max_users = Number(field(form, "test_mode_max_users"));
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const plan = await api("POST", "/admin/plans", body);
      notice(`Plan \u201c${plan.name}\u201d created.`, "ok");
      location.hash = `#/plans/${encodeURIComponent(plan.id)}`;
    } catch (err) {
      failed(err);
      submit.disabled = false;
    }
  });
  return form;
}

/** The configured targets' billing states (CONTRACT 3.3), webhook first. */
function billingTargets(billing) {
  return [["webhook", "Webhook"], ["stripe", "Stripe"]]
    .filter(([key]) => billing && billing[key])
    .map(([key, label]) => ({ key, label, ...billing[key] }));
}

/** The worst of the targets' states, with its figures; null when none is configured. */
function billingOverall(billing) {
  const rank = { failing: 2, pending: 1, in_sync: 0 };
  const targets = billingTargets(billing);
  if (targets.length === 0) return null;
  return targets.reduce((worst, t) => ((rank[t.state] ?? 0) > (rank[worst.state] ?? 0) ? t : worst));
}

/** A billing state (CONTRACT 7): in sync, pending or failing. */
function billingBadge(billing) {
  if (!billing) return el("span", { class: "muted" }, "—");
  const label = { in_sync: "in sync", pending: "pending", failing: "failing" }[billing.state] || billing.state;
  return el("span", { class: `badge billing-${billing.state}` }, label);
}

function figure(name, label, value) {
  return el("div", { class: "figure", "data-figure": name }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
}

async function showPlan(id) {
  const base = `/admin/plans/${encodeURIComponent(id)}`;
  const plan = await api("GET", base);
  const view = $("#view");
  const sections = [
    el(
      "section",
      { class: "card" },
      el(
        "div",
        { class: "row" },
        el("h1", { id: "plan-name" }, plan.name),
        modeBadge(plan.mode),
        plan.hold ? el("span", { class: "badge hold" }, "on hold") : null,
        el("span", { class: "spacer" }),
        editButton(base, plan),
      ),
      editPlanForm(base, plan),
      el(
        "div",
        { class: "grid" },
        figure("paid", "Paid seats", number(plan.paid_seats)),
        figure("free", "Free seats", number(plan.free_seats)),
        figure("active", "Active directory users", number(plan.active_directory_users)),
        figure("threshold", "Test-mode threshold", number(plan.test_mode_max_users)),
        figure("enforced_at", "Enforced since", when(plan.enforced_at)),
        figure("release_limit", "Release limit", plan.release_limit === null ? "default" : number(plan.release_limit)),
        figure("grant_limit", "Grant limit", plan.grant_limit === null || plan.grant_limit === undefined ? "off" : number(plan.grant_limit)),
        figure("stripe_item", "Stripe subscription item", plan.stripe_subscription_item ?? "—"),
        figure("external_id", "Your id", plan.external_id ?? "—"),
      ),
    ),
    scimSection(base, plan),
    holdSection(base, plan),
    portalSection(base),
    el("section", { class: "card", id: "billing" }, el("h2", {}, "Billing"), el("p", { class: "muted" }, "Loading…")),
    el("section", { class: "card", id: "chart-card" }, el("h2", {}, "Paid seats over time"), el("p", { class: "muted" }, "Loading…")),
    el("div", { class: "cols" }, el("section", { class: "card", id: "preview" }, el("h2", {}, "If enforcement started now")), el("section", { class: "card", id: "members-card" })),
    el("section", { class: "card", id: "audit-card" }),
    el("section", { class: "card", id: "changes-card" }),
  ];
  // A plan without a hold has no hold section.
  view.replaceChildren(...sections.filter(Boolean));
  await Promise.all([showPreview(base), showMembers(base, {}, plan), showAudit(base), showChanges(plan), showChart(base), showBilling(base, plan), showAppTile()]);
}

function editButton(base, plan) {
  const button = el("button", { id: "edit-plan-open", class: "quiet" }, "Edit plan");
  button.addEventListener("click", () => {
    const form = $("#edit-plan");
    form.hidden = !form.hidden;
    if (!form.hidden) form.elements.namedItem("name").focus();
  });
  return button;
}

/**
 * "Edit plan": name, the product's own id, threshold, release and grant limits and the
 * Stripe subscription item (CONTRACT 3.3, 7.2). Only changed fields are
 * sent; a threshold that starts enforcement is confirmed first, with the
 * preview's numbers.
 */
function editPlanForm(base, plan) {
  const form = el(
    "form",
    { id: "edit-plan", class: "fields", hidden: true },
    el("label", {}, "Name", el("input", { name: "name", required: true, maxlength: 200, value: plan.name, autocomplete: "off" })),
    el("label", {}, "Test-mode threshold", el("input", { name: "test_mode_max_users", type: "number", min: 0, step: 1, required: true, value: plan.test_mode_max_users })),
    el(
      "label",
      {},
      "Release limit (empty: the default; 0: no limit)",
      el("input", { name: "release_limit", type: "number", min: 0, step: 1, value: plan.release_limit ?? "", placeholder: "default" }),
    ),
    el(
      "label",
      {},
      "Grant limit (seats the directory may turn paid per window; empty: off)",
      el("input", { name: "grant_limit", type: "number", min: 0, step: 1, value: plan.grant_limit ?? "", placeholder: "off" }),
    ),
    el("label", {}, "Your own id for this customer (external_id; empty: none)", el("input", { name: "external_id", maxlength: 200, value: plan.external_id ?? "", autocomplete: "off" })),
    el(
      "label",
      {},
      "Stripe subscription item (si_…; empty: not followed). Setting it sends the current paid seats at once.",
      el("input", { name: "stripe_subscription_item", maxlength: 255, value: plan.stripe_subscription_item ?? "", placeholder: "si_…", autocomplete: "off" }),
    ),
    el("div", { class: "row" }, el("button", { type: "submit" }, "Save"), el("button", { type: "reset", class: "quiet" }, "Cancel")),
  );
  form.addEventListener("reset", () => {
    form.hidden = true;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    if (field(form, "name") !== plan.name) changes.name = field(form, "name");
    const threshold = Number(field(form, "test_mode_max_users"));
    if (threshold !== plan.test_mode_max_users) changes.test_mode_max_users = threshold;
    const limit = field(form, "release_limit") === "" ? null : Number(field(form, "release_limit"));
    if (limit !== plan.release_limit) changes.release_limit = limit;
    const grantLimit = field(form, "grant_limit") === "" ? null : Number(field(form, "grant_limit"));
    if (grantLimit !== (plan.grant_limit ?? null)) changes.grant_limit = grantLimit;
    const externalId = field(form, "external_id").trim() === "" ? null : field(form, "external_id").trim();
    if (externalId !== plan.external_id) changes.external_id = externalId;
    const item = field(form, "stripe_subscription_item").trim() === "" ? null : field(form, "stripe_subscription_item").trim();
    if (item !== plan.stripe_subscription_item) changes.stripe_subscription_item = item;
    if (Object.keys(changes).length === 0) {
      form.hidden = true;
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      if (!(await confirmThreshold(base, plan, changes.test_mode_max_users))) {
        submit.disabled = false;
        return;
      }
      await api("PATCH", base, changes);
      notice("Plan saved.", "ok");
      await showPlan(plan.id);
    } catch (err) {
      failed(err);
      submit.disabled = false;
    }
  });
  return form;
}

/** True when the new threshold starts nothing, or the operator agreed to it. */
async function confirmThreshold(base, plan, threshold) {
  if (threshold === undefined || plan.mode !== "test" || !(plan.active_directory_users > threshold)) return true;
  const preview = await api("GET", `${base}/preview`);
  return ask(
    `Start enforcement on \u201c${plan.name}\u201d?`,
    [
      el("p", { id: "confirm-why" }, `${number(plan.active_directory_users)} active directory users is past a threshold of ${number(threshold)}: the directory becomes the paid plan now.`),
      el(
        "p",
        { id: "confirm-numbers" },
        el("strong", { id: "confirm-to-paid" }, number(preview.to_paid.length)),
        " move to paid, ",
        el("strong", { id: "confirm-to-free" }, number(preview.to_free.length)),
        " move to free; ",
        number(preview.unchanged_paid),
        " stay paid and ",
        number(preview.unchanged_free),
        " stay free.",
      ),
      preview.to_free.length ? el("p", {}, "Moving to free:") : null,
      someEmails("confirm-free", preview.to_free),
      el("p", { class: "muted" }, "Billing is told at once. Enforcement does not end by raising the threshold again."),
    ].filter(Boolean),
    "Start enforcement",
  );
}

/** What to paste into the identity provider's app (CONTRACT 3.5). */
async function showAppTile() {
  const tile = await api("GET", "/admin/app-tile");
  const url = tile.url ?? `${location.origin}${tile.path}`;
  const box = $("#app-tile");
  const parts = [
    el("h3", {}, "App tile (optional)"),
    el(
      "p",
      {},
      "So people can click the app in their OneLogin or Okta portal and land on the login page, set both the \u201cSAML Audience URL\u201d and the \u201cSAML Consumer URL\u201d (Okta: \u201cAudience URI (SP Entity ID)\u201d and \u201cSingle sign-on URL\u201d) to:",
    ),
    el("p", {}, el("code", { id: "app-tile-url", class: "mono copy" }, url)),
    tile.url ? null : el("p", { class: "muted", id: "app-tile-public-url" }, "PUBLIC_URL is not set: this is the address this page was loaded from."),
    tile.configured
      ? el("p", { class: "muted" }, "It sends people on to ", el("span", { class: "mono" }, tile.login_redirect_url), ". Nobody is signed in by it.")
      : el("p", { class: "error-text", id: "app-tile-off" }, "LOGIN_REDIRECT_URL is not set on this server: the tile answers 404 until it is."),
  ].filter(Boolean);
  box.replaceChildren(...parts);
}

/** What billing was told, and every message pushed to it, with a retry button. */
async function showBilling(base, plan) {
  const card = $("#billing");
  const overall = billingOverall(plan.billing);
  // One line per configured target: what it was last told, and whether it is behind.
  const summary = overall
    ? el(
        "div",
        {},
        el("p", { class: "row" }, "Billing: ", el("span", { id: "billing-state", "data-state": overall.state }, billingBadge(overall))),
        ...billingTargets(plan.billing).map((t, i) =>
          el(
            "p",
            { class: "row", "data-target": t.key, "data-state": t.state },
            el("strong", {}, `${t.label}: `),
            billingBadge(t),
            el("span", {}, " Paid seats last sent: ", el("strong", i === 0 ? { id: "paid-seats-sent" } : {}, t.paid_seats_sent === null ? "none yet" : number(t.paid_seats_sent))),
            t.sequence_sent === null ? null : el("span", { class: "muted" }, ` (message ${t.sequence_sent})`),
            t.last_error ? el("span", { class: "error-text", id: t.key === overall.key ? "billing-error" : null }, ` ${t.last_error}`) : null,
          ),
        ),
      )
    : el("p", { class: "muted", id: "billing-state", "data-state": "none" }, "No billing target is configured (BILLING_WEBHOOK_URL, STRIPE_API_KEY).");
  const resend = el("button", { id: "billing-resend", class: "quiet" }, "Send current seats again");
  resend.addEventListener("click", async () => {
    resend.disabled = true;
    try {
      await api("POST", `${base}/billing/resend`, {});
      notice("The plan's current seats are queued for billing.", "ok");
      await showPlan(plan.id);
    } catch (err) {
      failed(err);
      resend.disabled = false;
    }
  });
  const body = el("tbody");
  const more = el("button", { id: "deliveries-more", class: "quiet", hidden: true }, "More");
  card.replaceChildren(
    el("h2", {}, "Billing"),
    summary,
    resend,
    el(
      "table",
      { id: "deliveries" },
      el("thead", {}, el("tr", {}, el("th", {}, "Message"), el("th", {}, "Target"), el("th", { class: "num" }, "Sequence"), el("th", {}, "State"), el("th", { class: "num" }, "Attempts"), el("th", {}, "Last answer"), el("th", {}, "Next attempt"), el("th", {}, ""))),
      body,
    ),
    more,
  );
  await pages("/admin/outbound", { plan: plan.id }, body, more, (d) => {
    // A delivered message is not sent again (resend sends the current seats); a superseded one never is.
    const retry = d.state === "delivered" || d.state === "superseded" ? null : el("button", { class: "retry quiet", "data-id": d.id }, "Retry now");
    if (retry) {
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        try {
          const after = await api("POST", `/admin/outbound/${encodeURIComponent(d.id)}/retry`, {});
          notice(`Message ${after.id} sent again: ${after.state}.`, "ok");
          await showPlan(plan.id);
        } catch (err) {
          failed(err);
          retry.disabled = false;
        }
      });
    }
    return el(
      "tr",
      { "data-delivery": d.id, "data-state": d.state },
      el("td", { class: "mono" }, d.id),
      el("td", {}, d.target),
      el("td", { class: "num" }, d.sequence ?? "—"),
      el("td", {}, el("span", { class: `badge delivery-${d.state}` }, d.state)),
      el("td", { class: "num" }, d.attempts),
      el("td", { class: "muted" }, d.last_error ?? (d.last_status === null ? "—" : `HTTP ${d.last_status}`)),
      el("td", { class: "muted" }, when(d.next_attempt_at)),
      el("td", {}, retry),
    );
  });
}

function scimSection(base, plan) {
  const status = plan.organization_id
    ? el("span", {}, "Organization ", el("span", { class: "mono", id: "organization" }, plan.organization_id))
    : el("span", { class: "muted", id: "organization" }, "No WorkOS organization yet");
  const button = el("button", { id: "configure-scim" }, "Configure SCIM");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const setup = await api("POST", `${base}/scim-setup`, {});
      notice("Opening WorkOS's setup wizard…", "ok");
      // The wizard's "Back" button returns here (PUBLIC_URL/admin/).
      location.assign(setup.link);
    } catch (err) {
      failed(err);
      button.disabled = false;
    }
  });
  return el(
    "section",
    { class: "card", id: "scim" },
    el("h2", {}, "Directory (SCIM)"),
    el("div", { class: "row" }, status, button),
    el("p", { class: "muted" }, "Opens WorkOS's wizard for Okta, Entra ID, OneLogin and others. The link is made fresh for each click."),
    el("div", { id: "app-tile" }),
  );
}

function holdSection(base, plan) {
  if (!plan.hold) return null;
  const hold = plan.hold;
  // A hold without a kind (an older server) is the release guard's.
  const grant = hold.kind === "grant";
  const emails = (grant ? hold.would_grant : hold.would_release) || [];
  const approve = el("button", { id: "approve" }, "Approve and apply");
  approve.addEventListener("click", async () => {
    const agreed = await ask(
      `Apply ${number(hold.held_events)} held event(s)?`,
      [
        grant ? `${number(emails.length)} seat(s) will turn paid:` : `${number(emails.length)} paid seat(s) will be released:`,
        someEmails(grant ? "confirm-grant" : "confirm-release", emails),
      ].filter(Boolean),
      "Approve and apply",
    );
    if (!agreed) return;
    approve.disabled = true;
    try {
      // Exactly the events this preview showed: any held since are judged again.
      const after = await api("POST", `${base}/hold/approve`, { through: hold.through });
      notice(
        after.hold
          ? "Hold approved and applied; events held since then are on hold again."
          : "Hold approved: the held events are applied.",
        "ok",
      );
      await showPlan(plan.id);
    } catch (err) {
      failed(err);
      approve.disabled = false;
    }
  });
  return el(
    "section",
    { class: "card", id: "hold", "data-kind": grant ? "grant" : "release" },
    el("h2", {}, grant ? "On hold (grant guard)" : "On hold (release guard)"),
    el(
      "p",
      {},
      `Since ${when(hold.since)}: `,
      el("strong", { id: "held-events" }, number(hold.held_events)),
      " event(s) held, through ",
      el("span", { class: "mono", id: "held-through" }, hold.through || "none"),
      grant ? "; approving through it turns these seats paid:" : "; approving through it releases these paid seats:",
    ),
    el("ul", { class: "emails", id: grant ? "would-grant" : "would-release" }, emails.map((email) => el("li", {}, email))),
    approve,
  );
}

/**
 * The plan portal (CONTRACT 3.6): a single-use link for the customer's own
 * admin, and ending every portal session of the plan.
 */
function portalSection(base) {
  const result = el("div", { id: "portal-result" });
  const link = el("button", { id: "portal-link" }, "Portal link for the customer's admin");
  link.addEventListener("click", async () => {
    link.disabled = true;
    try {
      const made = await api("POST", `${base}/portal-link`, {});
      result.replaceChildren(
        el("p", {}, el("code", { id: "portal-link-url", class: "mono copy" }, made.link)),
        el("p", { class: "muted" }, "Works once, until ", el("span", { id: "portal-link-expires" }, when(made.expires_at)), ". Send it to the customer's admin only."),
      );
      notice("");
    } catch (err) {
      failed(err);
    } finally {
      link.disabled = false;
    }
  });
  const revoke = el("button", { id: "portal-revoke", class: "quiet" }, "End portal sessions");
  revoke.addEventListener("click", async () => {
    revoke.disabled = true;
    try {
      await api("POST", `${base}/portal-sessions/revoke`, {});
      result.replaceChildren(el("p", { id: "portal-revoked" }, "Portal sessions ended: every open portal and unused link of this plan stops working."));
      notice("Portal sessions ended.", "ok");
    } catch (err) {
      failed(err);
    } finally {
      revoke.disabled = false;
    }
  });
  return el(
    "section",
    { class: "card", id: "portal" },
    el("h2", {}, "Plan portal"),
    el("div", { class: "row" }, link, revoke),
    el("p", { class: "muted" }, "A link opens this plan's portal for the customer's own admin (mode, members, hold approval, Configure SCIM); it works once, for five minutes."),
    result,
  );
}

/** A paged list (`data` and `next`): rows into `body`, and "More" while there are more. */
async function pages(path, params, body, more, row) {
  const load = async (after) => {
    const query = new URLSearchParams({ limit: "100", ...params });
    if (after) query.set("after", after);
    const page = await api("GET", `${path}?${query}`);
    body.append(...page.data.map(row));
    more.hidden = !page.next;
    more.onclick = () => load(page.next).catch(failed);
  };
  await load(null);
}

async function showPreview(base) {
  const preview = await api("GET", `${base}/preview`);
  const list = (id, emails) =>
    emails.length ? el("ul", { class: "emails", id }, emails.map((email) => el("li", {}, email))) : el("p", { class: "muted", id }, "nobody");
  $("#preview").replaceChildren(
    el("h2", {}, "If enforcement started now"),
    el("h3", {}, "To paid"),
    list("to-paid", preview.to_paid),
    el("h3", {}, "To free"),
    list("to-free", preview.to_free),
    el("p", { class: "muted" }, "Unchanged: ", el("span", { id: "unchanged-paid" }, number(preview.unchanged_paid)), " paid, ", el("span", { id: "unchanged-free" }, number(preview.unchanged_free)), " free."),
  );
}

async function showMembers(base, filters, plan) {
  const card = $("#members-card");
  const form = el(
    "form",
    { class: "filters", id: "member-filters" },
    el("input", { name: "q", placeholder: "Email contains", value: filters.q || "" }),
    el("select", { name: "tier" }, el("option", { value: "" }, "Any tier"), el("option", { value: "paid" }, "Paid"), el("option", { value: "free" }, "Free")),
    el("select", { name: "source" }, el("option", { value: "" }, "Any source"), el("option", { value: "directory" }, "Directory"), el("option", { value: "manual" }, "Manual")),
    el("button", { type: "submit" }, "Filter"),
  );
  form.elements.namedItem("tier").value = filters.tier || "";
  form.elements.namedItem("source").value = filters.source || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showMembers(base, { q: field(form, "q"), tier: field(form, "tier"), source: field(form, "source") }, plan).catch(failed);
  });
  const body = el("tbody");
  const more = el("button", { id: "members-more", class: "quiet", hidden: true }, "More");
  card.replaceChildren(
    el("h2", {}, "Members"),
    addMemberForm(base, plan),
    form,
    el("table", { id: "members" }, el("thead", {}, el("tr", {}, el("th", {}, "Email"), el("th", {}, "Tier"), el("th", {}, "Source"), el("th", {}, "Updated"), el("th", {}, ""))), body),
    more,
  );
  const params = Object.fromEntries(Object.entries(filters).filter(([, value]) => value));
  await pages(`${base}/members`, params, body, more, (m) =>
    el(
      "tr",
      { "data-email": m.email },
      el("td", { class: "email" }, m.email),
      el("td", {}, el("span", { class: `badge ${m.tier}` }, m.tier)),
      el("td", {}, m.source),
      el("td", { class: "muted" }, when(m.updated_at)),
      el("td", {}, tierSwitch(base, plan, m)),
    ),
  );
}

/** "Add member": someone on the plan before SCIM, set by hand. */
function addMemberForm(base, plan) {
  const form = el(
    "form",
    { id: "add-member", class: "filters" },
    el("input", { name: "email", type: "email", required: true, placeholder: "someone@example.com", autocomplete: "off", spellcheck: "false" }),
    el("select", { name: "tier" }, el("option", { value: "paid" }, "Paid"), el("option", { value: "free" }, "Free")),
    el("button", { type: "submit" }, "Add member"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await setTier(base, plan, field(form, "email"), field(form, "tier"), form.querySelector("button"));
  });
  return form;
}

/** Moves one member to the other tier, after asking. */
function tierSwitch(base, plan, member) {
  const to = member.tier === "paid" ? "free" : "paid";
  const button = el("button", { class: "quiet tier-switch", "data-to": to }, `Make ${to}`);
  button.addEventListener("click", async () => {
    const agreed = await ask(`Move ${member.email} to ${to}?`, [to === "paid" ? "They take a paid seat; billing is told at once." : "Their paid seat is released; billing is told at once."], `Make ${to}`);
    if (agreed) await setTier(base, plan, member.email, to, button);
  });
  return button;
}

async function setTier(base, plan, email, tier, button) {
  button.disabled = true;
  try {
    const member = await api("PUT", `${base}/members/${encodeURIComponent(email)}`, { tier });
    notice(`${member.email} is now ${member.tier}.`, "ok");
    await showPlan(plan.id);
  } catch (err) {
    failed(err);
    button.disabled = false;
  }
}

async function showAudit(base) {
  const card = $("#audit-card");
  const body = el("tbody");
  const more = el("button", { id: "audit-more", class: "quiet", hidden: true }, "More");
  card.replaceChildren(
    el("h2", {}, "Audit trail"),
    el(
      "table",
      { id: "audit" },
      el("thead", {}, el("tr", {}, el("th", { class: "num" }, "#"), el("th", {}, "When"), el("th", {}, "Email"), el("th", {}, "From"), el("th", {}, "To"), el("th", {}, "Reason"), el("th", {}, "Event"), el("th", {}, "By"))),
      body,
    ),
    more,
  );
  await pages(`${base}/audit`, {}, body, more, (entry) =>
    el(
      "tr",
      { "data-seq": entry.seq },
      el("td", { class: "num" }, entry.seq),
      el("td", {}, when(entry.at)),
      el("td", { class: "email" }, entry.email),
      el("td", {}, entry.from ?? "—"),
      el("td", {}, entry.to),
      el("td", {}, entry.reason),
      el("td", { class: "mono" }, entry.event_id ?? "—"),
      el("td", { class: "by" }, entry.by ?? "—"),
    ),
  );
}

/** The plain values that differ between two snapshots, as "field: a → b". */
function differences(before, after) {
  const plain = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);
  const show = (v) => (v === null || v === undefined ? "—" : String(v));
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...keys]
    .filter((k) => plain(before?.[k] ?? null) && plain(after?.[k] ?? null) && (before?.[k] ?? null) !== (after?.[k] ?? null))
    .map((k) => `${k}: ${show(before?.[k])} \u2192 ${show(after?.[k])}`);
}

/** The admin log of this plan (CONTRACT 3.3): who changed what, by hand. */
async function showChanges(plan) {
  const card = $("#changes-card");
  const body = el("tbody");
  const more = el("button", { id: "changes-more", class: "quiet", hidden: true }, "More");
  card.replaceChildren(
    el("h2", {}, "Admin changes"),
    el(
      "table",
      { id: "changes" },
      el("thead", {}, el("tr", {}, el("th", {}, "When"), el("th", {}, "Client"), el("th", {}, "Action"), el("th", {}, "Changed"))),
      body,
    ),
    more,
  );
  await pages("/admin/changes", { plan: plan.id }, body, more, (change) =>
    el(
      "tr",
      { "data-change": change.seq },
      el("td", {}, when(change.at)),
      el("td", { class: "mono" }, change.client),
      el("td", { class: "mono" }, `${change.method} ${change.route}`),
      el("td", {}, differences(change.before, change.after).join("; ") || "—"),
    ),
  );
}

/** The chart: the plan's paid seats at evenly spaced moments, from the
 * server (`history`), whatever the audit's length. */
async function showChart(base) {
  const history = await api("GET", `${base}/history?points=200`);
  const card = $("#chart-card");
  const series = history.points.map((p) => ({ at: p.at, paid: p.paid_seats }));
  if (series.length <= 1 && series.every((p) => p.paid === 0)) {
    card.replaceChildren(el("h2", {}, "Paid seats over time"), el("p", { class: "muted", id: "chart-empty" }, "No seat changes yet."));
    return;
  }
  const width = 1000, height = 220, left = 48, right = 12, top = 12, bottom = 28;
  const times = series.map((p) => Date.parse(p.at));
  const t0 = Math.min(...times), t1 = Math.max(...times);
  const max = Math.max(1, ...series.map((p) => p.paid));
  const x = (i) => (t1 === t0 ? left + ((width - left - right) * (i + 1)) / (series.length + 1) : left + ((width - left - right) * (times[i] - t0)) / (t1 - t0));
  const y = (paid) => top + (height - top - bottom) * (1 - paid / max);
  // A step line: the count holds until the next moment.
  const path = series.map((p, i) => (i === 0 ? `M${x(i).toFixed(1)},${y(p.paid).toFixed(1)}` : `H${x(i).toFixed(1)} V${y(p.paid).toFixed(1)}`)).join(" ");
  const chart = svg(
    "svg",
    { id: "paid-chart", class: "chart", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": "Paid seats over time" },
    svg("line", { class: "axis", x1: left, y1: y(0), x2: width - right, y2: y(0) }),
    svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: y(0) }),
    svg("text", { x: 4, y: y(max) + 4 }, number(max)),
    svg("text", { x: 4, y: y(0) + 4 }, "0"),
    svg("text", { x: left, y: height - 6 }, new Date(t0).toLocaleString()),
    svg("text", { x: width - right, y: height - 6, "text-anchor": "end" }, new Date(t1).toLocaleString()),
    svg("path", { class: "line", d: path }),
    ...series.map((p, i) => svg("circle", { class: "point", cx: x(i).toFixed(1), cy: y(p.paid).toFixed(1), r: 2, "data-paid": p.paid }, svg("title", {}, `${when(p.at)}: ${p.paid} paid`))),
  );
  card.replaceChildren(el("h2", {}, "Paid seats over time"), chart);
}

async function lookUpEvent(event) {
  event.preventDefault();
  const id = $("#lookup-id").value.trim();
  if (!id) return;
  const box = $("#event");
  try {
    const found = await api("GET", `/admin/events/${encodeURIComponent(id)}`);
    const row = (name, label, value) =>
      el("div", { class: "figure" }, el("div", { class: "label" }, label), el("div", { class: "value small", "data-field": name }, value ?? "—"));
    box.replaceChildren(
      el("h2", {}, "Event"),
      el(
        "div",
        { class: "grid wide" },
        row("id", "Id", found.id),
        row("event", "Type", found.event),
        row("status", "Status", found.status),
        row("received_at", "Received", when(found.received_at)),
        row("applied_at", "Applied", when(found.applied_at)),
        row("error", "Error", found.error),
      ),
    );
    box.hidden = false;
    notice("");
  } catch (err) {
    if (err.status === 404) {
      box.replaceChildren(el("h2", {}, "Event"), el("p", { id: "event-missing" }, "No event with id ", el("span", { class: "mono" }, id), " is stored."));
      box.hidden = false;
      return;
    }
    failed(err);
  }
}

// --- routing ----------------------------------------------------------------

/**
 * A banner while any .env.example value is in use (CONTRACT 2): /readyz
 * names them. A local reverse proxy can publish this page with them.
 */
async function exampleValuesBanner() {
  try {
    const response = await fetch("/readyz", { cache: "no-store" });
    const body = await response.json();
    const names = Array.isArray(body.example_values_in_use) ? body.example_values_in_use : [];
    const banner = $("#example-banner");
    banner.replaceChildren(
      el("strong", {}, "Example settings in use: "),
      `${names.join(", ")} still ${names.length === 1 ? "has its value" : "have their values"} from .env.example. Set real ones before anyone else can reach this server.`,
    );
    banner.hidden = names.length === 0;
  } catch {
    // No answer: nothing to say about it here.
  }
}

async function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    showSignIn();
    return;
  }
  $("#sign-in").hidden = true;
  $("#lookup").hidden = false;
  $("#sign-out").hidden = false;
  const match = location.hash.match(/^#\/plans\/(.+)$/);
  try {
    if (match) await showPlan(decodeURIComponent(match[1]));
    else await showPlans();
  } catch (err) {
    failed(err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#lookup").addEventListener("submit", lookUpEvent);
  window.addEventListener("hashchange", route);
  exampleValuesBanner();
  route();
});
