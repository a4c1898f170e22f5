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
  const data = await response.json().catch(() => ({}));
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
  notice(err.message || String(err));
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
    await api("GET", "/admin/plans");
  } catch (err) {
    failed(err);
    return;
  }
  notice("");
  route();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "#/";
  notice("");
  showSignIn();
}

// --- views ------------------------------------------------------------------

function modeBadge(mode) {
  return el("span", { class: `badge ${mode}`, "data-mode": mode }, mode);
}

async function showPlans() {
  const { data } = await api("GET", "/admin/plans");
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
      el("td", { "data-billing": plan.billing ? plan.billing.state : "none" }, billingBadge(plan.billing)),
    ),
  );
  $("#view").replaceChildren(
    el(
      "section",
      { class: "card" },
      el("h1", {}, "Plans"),
      data.length === 0
        ? el("p", { class: "muted" }, "No plans yet. Create one with POST /admin/plans or `seatsync plans create`.")
        : el(
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
          ),
    ),
  );
}

/** A plan's billing state (CONTRACT 7): in sync, pending or failing. */
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
      el("div", { class: "row" }, el("h1", { id: "plan-name" }, plan.name), modeBadge(plan.mode), plan.hold ? el("span", { class: "badge hold" }, "on hold") : null),
      el(
        "div",
        { class: "grid" },
        figure("paid", "Paid seats", number(plan.paid_seats)),
        figure("free", "Free seats", number(plan.free_seats)),
        figure("active", "Active directory users", number(plan.active_directory_users)),
        figure("threshold", "Test-mode threshold", number(plan.test_mode_max_users)),
        figure("enforced_at", "Enforced since", when(plan.enforced_at)),
        figure("release_limit", "Release limit", plan.release_limit === null ? "default" : number(plan.release_limit)),
        figure("stripe_item", "Stripe subscription item", plan.stripe_subscription_item ?? "—"),
      ),
    ),
    scimSection(base, plan),
    holdSection(base, plan),
    el("section", { class: "card", id: "billing" }, el("h2", {}, "Billing"), el("p", { class: "muted" }, "Loading…")),
    el("section", { class: "card", id: "chart-card" }, el("h2", {}, "Paid seats over time"), el("p", { class: "muted" }, "Loading…")),
    el("div", { class: "cols" }, el("section", { class: "card", id: "preview" }, el("h2", {}, "If enforcement started now")), el("section", { class: "card", id: "members-card" })),
    el("section", { class: "card", id: "audit-card" }),
  ];
  // A plan without a hold has no hold section.
  view.replaceChildren(...sections.filter(Boolean));
  await Promise.all([showPreview(base), showMembers(base, {}), showAudit(base), showChart(base), showBilling(base, plan)]);
}

/** What billing was told, and every message pushed to it, with a retry button. */
async function showBilling(base, plan) {
  const card = $("#billing");
  const billing = plan.billing;
  const summary = billing
    ? el(
        "div",
        { class: "row" },
        el("span", { id: "billing-state", "data-state": billing.state }, billingBadge(billing)),
        el("span", {}, "Paid seats last sent: ", el("strong", { id: "paid-seats-sent" }, billing.paid_seats_sent === null ? "none yet" : number(billing.paid_seats_sent))),
        billing.last_error ? el("span", { class: "error-text", id: "billing-error" }, billing.last_error) : null,
      )
    : el("p", { class: "muted", id: "billing-state", "data-state": "none" }, "Nothing sent to billing yet (BILLING_WEBHOOK_URL).");
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
    const retry = d.state === "delivered" ? null : el("button", { class: "retry quiet", "data-id": d.id }, "Retry now");
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
      el("td", { class: "num" }, d.sequence),
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
  );
}

function holdSection(base, plan) {
  if (!plan.hold) return null;
  const approve = el("button", { id: "approve" }, "Approve and apply");
  approve.addEventListener("click", async () => {
    if (!confirm(`Apply ${plan.hold.held_events} held event(s)? Paid seats will be released.`)) return;
    approve.disabled = true;
    try {
      await api("POST", `${base}/hold/approve`);
      notice("Hold approved: the held events are being applied.", "ok");
      await showPlan(plan.id);
    } catch (err) {
      failed(err);
      approve.disabled = false;
    }
  });
  return el(
    "section",
    { class: "card", id: "hold" },
    el("h2", {}, "On hold (release guard)"),
    el("p", {}, `Since ${when(plan.hold.since)}: `, el("strong", { id: "held-events" }, number(plan.hold.held_events)), " event(s) held; they would release these paid seats:"),
    el("ul", { class: "emails", id: "would-release" }, plan.hold.would_release.map((email) => el("li", {}, email))),
    approve,
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

async function showMembers(base, filters) {
  const card = $("#members-card");
  const form = el(
    "form",
    { class: "filters", id: "member-filters" },
    el("input", { name: "q", placeholder: "Email contains", value: filters.q || "" }),
    el("select", { name: "tier" }, el("option", { value: "" }, "Any tier"), el("option", { value: "paid" }, "Paid"), el("option", { value: "free" }, "Free")),
    el("select", { name: "source" }, el("option", { value: "" }, "Any source"), el("option", { value: "directory" }, "Directory"), el("option", { value: "manual" }, "Manual")),
    el("button", { type: "submit" }, "Filter"),
  );
  form.tier.value = filters.tier || "";
  form.source.value = filters.source || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showMembers(base, { q: form.q.value.trim(), tier: form.tier.value, source: form.source.value }).catch(failed);
  });
  const body = el("tbody");
  const more = el("button", { id: "members-more", class: "quiet", hidden: true }, "More");
  card.replaceChildren(
    el("h2", {}, "Members"),
    form,
    el("table", { id: "members" }, el("thead", {}, el("tr", {}, el("th", {}, "Email"), el("th", {}, "Tier"), el("th", {}, "Source"), el("th", {}, "Updated"))), body),
    more,
  );
  const params = Object.fromEntries(Object.entries(filters).filter(([, value]) => value));
  await pages(`${base}/members`, params, body, more, (m) =>
    el("tr", {}, el("td", { class: "email" }, m.email), el("td", {}, el("span", { class: `badge ${m.tier}` }, m.tier)), el("td", {}, m.source), el("td", { class: "muted" }, when(m.updated_at))),
  );
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
      el("thead", {}, el("tr", {}, el("th", { class: "num" }, "#"), el("th", {}, "When"), el("th", {}, "Email"), el("th", {}, "From"), el("th", {}, "To"), el("th", {}, "Reason"), el("th", {}, "Event"))),
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
    ),
  );
}

/** Paid seats after each audit entry: +1 into paid, -1 out of it. */
function paidSeries(entries) {
  let paid = 0;
  return entries.map((entry) => {
    if (entry.to === "paid" && entry.from !== "paid") paid += 1;
    if (entry.from === "paid" && entry.to !== "paid") paid -= 1;
    return { seq: entry.seq, at: entry.at, paid };
  });
}

async function showChart(base) {
  const entries = [];
  let after = null;
  // The whole trail, a thousand entries a page (bounded: 100 pages).
  for (let i = 0; i < 100; i++) {
    const query = new URLSearchParams({ limit: "1000" });
    if (after) query.set("after", after);
    const page = await api("GET", `${base}/audit?${query}`);
    entries.push(...page.data);
    after = page.next;
    if (!after) break;
  }
  const card = $("#chart-card");
  const series = paidSeries(entries);
  if (series.length === 0) {
    card.replaceChildren(el("h2", {}, "Paid seats over time"), el("p", { class: "muted", id: "chart-empty" }, "No seat changes yet."));
    return;
  }
  const width = 1000, height = 220, left = 48, right = 12, top = 12, bottom = 28;
  const times = series.map((p) => Date.parse(p.at));
  const t0 = Math.min(...times), t1 = Math.max(...times);
  const max = Math.max(1, ...series.map((p) => p.paid));
  // Entries in the same instant are spread by their order, so each shows.
  const x = (i) => (t1 === t0 ? left + ((width - left - right) * (i + 1)) / (series.length + 1) : left + ((width - left - right) * (times[i] - t0)) / (t1 - t0));
  const y = (paid) => top + (height - top - bottom) * (1 - paid / max);
  const path = series.map((p, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.paid).toFixed(1)}`).join(" ");
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
    ...series.map((p, i) => svg("circle", { class: "point", cx: x(i).toFixed(1), cy: y(p.paid).toFixed(1), r: 3, "data-seq": p.seq, "data-paid": p.paid }, svg("title", {}, `${when(p.at)}: ${p.paid} paid`))),
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
    const row = (name, label, value) => [el("dt", {}, label), el("dd", { "data-field": name }, value ?? "—")];
    box.replaceChildren(
      el("h2", {}, "Event"),
      el(
        "dl",
        { class: "grid" },
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
  route();
});
