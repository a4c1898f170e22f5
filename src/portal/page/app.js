// seatsync plan portal: the page for a customer's own IT admin, for one plan
// (the session's). Plain DOM, no framework: every value from the server is put
// in the page as text (textContent / text nodes), never as HTML. The session
// is an HttpOnly cookie the browser sends by itself: this page never sees,
// reads or stores a token, and never names the plan in a request.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);

const MEMBERS_PER_PAGE = 50;
/** Audit rows shown, newest first. */
const AUDIT_SHOWN = 100;
/** Audit rows asked for at once (the API's most), and pages read before asking. */
const AUDIT_PAGE = 1000;
const AUDIT_PAGES_READ = 3;

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

/** Replaces a node's children; arrays are flattened, null and false dropped. */
function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** A count as the API gave it (no grouping, so "7 of 10" reads as the figures). */
const count = (n) => String(n ?? 0);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const people = (n) => `${count(n)} ${n === 1 ? "person" : "people"}`;

/** The product this portal belongs to, when the page names it. */
function productName() {
  const meta = document.querySelector('meta[name="seatsync-product"]');
  const name = meta ? meta.getAttribute("content").trim() : "";
  return name || "the product";
}

function notice(message, kind = "error") {
  const box = $("#notice");
  if (!box) return;
  box.textContent = message;
  box.className = kind === "ok" ? "notice ok" : "notice";
  box.hidden = !message;
}

/** A result line next to a button: ok, error, or plain (working). */
function say(node, message, kind = "") {
  if (!node) return;
  node.textContent = message;
  node.className = `result ${kind}`.trim();
  node.hidden = !message;
}

// --- the portal API ---------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Thrown once the session is over: the page is replaced, nothing more is drawn. */
class SessionEnded extends Error {}

let ended = false;

async function api(method, path, body) {
  if (ended) throw new SessionEnded();
  // Every request says it comes from this page (a plain form cannot send this header).
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { "X-Seatsync-Portal": "1", Accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (ended) throw new SessionEnded();
    throw new ApiError(0, "unreachable", "The server cannot be reached. Check your connection and try again.");
  }
  const text = await response.text().catch(() => "");
  let data = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = {};
    }
  }
  if (ended) throw new SessionEnded();
  if (response.status === 401) {
    // no_session: the session ended, or the link was used or expired.
    endSession();
    throw new SessionEnded();
  }
  if (!response.ok) {
    throw new ApiError(response.status, data.error || "error", data.message || `HTTP ${response.status}`);
  }
  return data;
}

/** The session is over: the whole page becomes one message, and stays so. */
function endSession() {
  if (ended) return;
  ended = true;
  document.title = "Plan portal: session ended";
  document.body.replaceChildren(
    el("header", { class: "bar" }, el("span", { class: "brand" }, "Plan portal")),
    el(
      "main",
      { id: "main" },
      el(
        "section",
        { id: "session-ended", class: "card narrow", role: "alert" },
        el("h1", {}, "This plan portal session has ended"),
        el("p", {}, `This portal link has expired, was already used, or its session was ended. Open the plan portal again from ${productName()}'s settings.`),
        el("p", { class: "muted" }, "A link works once, for five minutes. A session ends after an hour without use, after twelve hours, or when it is ended for your plan."),
      ),
    ),
  );
}

/** A refusal said for a customer's admin: the API's code in words, its message otherwise. */
function inWords(err) {
  if (!(err instanceof ApiError)) return String((err && err.message) || err);
  switch (err.code) {
    case "seat_managed_by_directory":
      return `${err.message} This seat follows your identity provider: change it there instead.`;
    case "no_hold":
      return "Nothing is held any more: the paused changes were already approved.";
    case "workos_not_configured":
      return `Directory setup (SCIM) is not available on this service yet; please contact support. (${err.message})`;
    case "workos_error":
      return `WorkOS refused to open the setup: ${err.message}`;
    case "workos_unavailable":
      return `WorkOS cannot be reached right now; try again in a moment. (${err.message})`;
    case "forbidden":
      return "The request was refused. Reload the page and try again.";
    case "unavailable":
      return "The service is unavailable right now; try again in a moment.";
    case "bad_request":
      return `The request was refused: ${err.message}`;
    default:
      return err.message || String(err);
  }
}

/** Shows a failure in `where` (a result line), else in the page's notice. */
function failed(err, where) {
  if (ended || err instanceof SessionEnded) return;
  if (where) say(where, inWords(err), "error");
  else notice(inWords(err));
}

/**
 * Asks before a change that moves seats: a modal with the facts, resolved
 * true on "yes", false on cancel or Escape.
 */
function ask(title, lines, yes) {
  return new Promise((resolve) => {
    const accept = el("button", { id: "confirm-yes", type: "button" }, yes);
    const cancel = el("button", { id: "confirm-no", type: "button", class: "quiet" }, "Cancel");
    const dialog = el(
      "dialog",
      { id: "confirm", class: "card", "aria-labelledby": "confirm-title" },
      el("h2", { id: "confirm-title" }, title),
      lines.filter(Boolean).map((line) => (line instanceof Node ? line : el("p", {}, line))),
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

/** Emails as a list; "nobody" when there are none. */
function emailList(id, emails) {
  if (!emails || emails.length === 0) return el("p", { class: "muted", id }, "Nobody.");
  return el("ul", { class: "emails", id }, emails.map((email) => el("li", {}, email)));
}

function figure(id, label, value) {
  return el("div", { class: "figure" }, el("div", { class: "label" }, label), el("div", { class: "value", id }, value));
}

// --- the page ----------------------------------------------------------------

/** Each full drawing counts up, so an answer for an older drawing is dropped. */
let generation = 0;
/** Members: the query, and the cursor of each page shown so far (first: none). */
let memberQuery = { q: "", tier: "", source: "" };
let memberCursors = [null];
let memberTicket = 0;
/** The latest read of the preview and of the audit: an older answer is dropped. */
let previewTicket = 0;
let auditTicket = 0;

/** Once: a "back" link to the product's page the portal link named, if any. */
let backShown = false;
async function showBackLink() {
  if (backShown) return;
  backShown = true;
  try {
    const session = await api("GET", "/portal/api/session");
    let url;
    try {
      url = new URL(session.return_url || "");
    } catch (_) {
      return;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return;
    const back = el("a", { id: "back", class: "quiet", href: url.href, rel: "noreferrer" }, `Back to ${productName()}`);
    $("#refresh").before(back);
  } catch (_) {
    // No back link: the page works without it.
  }
}

/** Reads the plan and draws the whole page; `approveResult` says what an approval did. */
async function load(approveResult) {
  showBackLink();
  let plan;
  try {
    plan = await api("GET", "/portal/api/plan");
  } catch (err) {
    if (ended || err instanceof SessionEnded) return;
    const retry = el("button", { type: "button", id: "retry" }, "Try again");
    retry.addEventListener("click", () => load());
    put($("#main"), el("section", { class: "card narrow", id: "load-failed" }, el("h1", {}, "Your plan could not be loaded"), el("p", {}, inWords(err)), retry));
    return;
  }
  render(plan, approveResult);
}

/** Draws the whole page from `plan`; the lists are read afresh. */
function render(plan, approveResult) {
  generation += 1;
  memberQuery = { q: "", tier: "", source: "" };
  memberCursors = [null];
  document.title = `${plan.name}: plan portal`;
  notice("");
  $("#refresh").hidden = false;
  put($("#main"),
    el("section", { class: "card", id: "summary" }),
    el("div", { id: "hold-area" }, el("p", { id: "approve-result", class: "result", role: "status", hidden: true }), el("div", { id: "hold-slot" })),
    setupCard(plan),
    el(
      "div",
      { class: "cols" },
      el("section", { class: "card", id: "preview", "aria-labelledby": "preview-title" }, el("h2", { id: "preview-title" }, "If enforcement started now"), el("p", { class: "muted" }, "Loading…")),
      el("section", { class: "card", id: "billing", "aria-labelledby": "billing-title" }),
    ),
    membersCard(),
    el(
      "section",
      { class: "card", id: "audit", "aria-labelledby": "audit-title" },
      el("h2", { id: "audit-title" }, "Seat changes"),
      el("p", { class: "muted", id: "audit-note" }, "Loading…"),
      el(
        "div",
        { class: "scroll" },
        el(
          "table",
          { id: "audit-table" },
          el("thead", {}, el("tr", {}, el("th", {}, "When"), el("th", {}, "Person"), el("th", {}, "From"), el("th", {}, "To"), el("th", {}, "Why"), el("th", {}, "By"))),
          el("tbody", { id: "audit-rows" }),
        ),
      ),
    ),
  );
  if (approveResult) say($("#approve-result"), approveResult.text, approveResult.kind);
  fill(plan);
  loadAppTile();
  loadMembers();
}

/** The parts drawn from the plan itself, and the lists that follow from it. */
function fill(plan) {
  fillSummary(plan);
  fillHold(plan);
  fillBilling(plan);
  loadPreview(plan);
  loadAudit(null);
}

/** After a hand change: the plan read again, the forms and the members page kept. */
async function refresh() {
  const plan = await api("GET", "/portal/api/plan");
  fill(plan);
  await loadMembers();
}

// --- summary -------------------------------------------------------------------

function fillSummary(plan) {
  const active = plan.active_directory_users;
  const threshold = plan.test_mode_max_users;
  const enforced = plan.mode === "enforced";
  const explained = enforced
    ? el(
        "p",
        { id: "mode-explained" },
        `Enforced since ${when(plan.enforced_at)}: your identity provider decides. Everyone it assigns (${count(active)} now) is on the paid plan and everyone else is on free. `,
        `This stays so even if the number of users falls back to ${count(threshold)} or fewer.`,
      )
    : el(
        "p",
        { id: "mode-explained" },
        `Test mode: ${active} of ${threshold} directory users. `,
        `Up to ${threshold}, nothing that was on your plan before is touched: the people your identity provider assigns get a paid seat and everyone else keeps theirs. `,
        `Past ${threshold}, everyone your identity provider assigns is on the paid plan and everyone else moves to free.`,
      );
  let hint = null;
  if (!enforced && threshold > 0 && active >= threshold) {
    hint = el("p", { class: "warn", id: "mode-next" }, "The next user your identity provider assigns starts enforcement: see \u201cIf enforcement started now\u201d below for who would move.");
  } else if (!enforced && threshold > 1) {
    hint = el("p", { class: "muted", id: "mode-tip" }, `To test the connection, assign yourself and up to ${threshold - 1} others first, and check that they appear under Members. When it works, assign the rest of your users.`);
  }
  put($("#summary"),
    el(
      "div",
      { class: "row" },
      el("h1", { id: "plan-name" }, plan.name),
      el("span", { id: "mode", class: `badge ${enforced ? "enforced" : "test"}`, "data-mode": plan.mode }, enforced ? "Enforced" : "Test mode"),
      plan.hold ? el("span", { class: "badge hold" }, "Paused") : null,
    ),
    explained,
    hint,
    el(
      "div",
      { class: "grid" },
      figure("active-users", "Directory users", count(active)),
      figure("threshold", "Test-mode limit", count(threshold)),
      figure("paid-seats", "Paid seats", count(plan.paid_seats)),
      figure("free-seats", "Free seats", count(plan.free_seats)),
    ),
    directoryStatus(plan),
  );
}

/** Whether SCIM is set up: no organization yet, one but no users yet, or users arriving. */
function directoryStatus(plan) {
  const org = plan.organization_id ? el("span", { class: "mono" }, plan.organization_id) : null;
  if (!org) return el("p", { class: "muted", id: "directory-status" }, "No identity provider is connected yet: use \u201cConfigure SCIM\u201d below.");
  if (plan.active_directory_users > 0) return el("p", { class: "muted", id: "directory-status" }, "Your identity provider is connected through WorkOS (organization ", org, ").");
  return el("p", { class: "muted", id: "directory-status" }, "SCIM setup has started (WorkOS organization ", org, "), and no users have arrived from your identity provider yet: finish the wizard with \u201cConfigure SCIM\u201d below, then assign users to the app.");
}

// --- hold ----------------------------------------------------------------------

function fillHold(plan) {
  const slot = $("#hold-slot");
  if (!slot) return;
  slot.replaceChildren(...(plan.hold ? [holdCard(plan.hold)] : []));
}

/** The paused changes, exactly as read, and the button that approves exactly them. */
function holdCard(hold) {
  const grant = hold.kind === "grant";
  const emails = (grant ? hold.would_grant : hold.would_release) || [];
  const through = hold.through;
  const approve = el("button", { id: "approve-hold", type: "button" }, "Review and approve");
  approve.addEventListener("click", async () => {
    const agreed = await ask(
      grant ? `Turn ${people(emails.length)} paid?` : `Move ${people(emails.length)} to free?`,
      [
        grant
          ? `Approving applies the ${count(hold.held_events)} paused change(s) shown on this page. These ${people(emails.length)} move from free to paid:`
          : `Approving applies the ${count(hold.held_events)} paused change(s) shown on this page. These ${people(emails.length)} move from paid to free:`,
        emailList(grant ? "confirm-grant" : "confirm-release", emails),
        el("p", { class: "muted" }, "Changes your identity provider sent after this page was loaded are not approved by this: they are checked again."),
      ],
      grant ? "Approve: turn them paid" : "Approve: move them to free",
    );
    if (!agreed) return;
    approve.disabled = true;
    const result = $("#approve-result");
    say(result, "Approving…");
    try {
      // Exactly the changes this card showed: never read again before sending.
      const after = await api("POST", "/portal/api/hold/approve", { through });
      render(after, {
        kind: "ok",
        text: after.hold
          ? "Approved: the paused changes are applied. Changes that arrived since are paused again: review them below."
          : "Approved: the paused changes are applied.",
      });
    } catch (err) {
      if (ended || err instanceof SessionEnded) return;
      if (err.code === "no_hold") {
        await load({ kind: "", text: "Nothing is held any more: the paused changes were already approved." });
        return;
      }
      if (err.status === 400) {
        const reload = el("button", { type: "button", class: "quiet", id: "hold-reload" }, "Reload");
        reload.addEventListener("click", () => load());
        say(result, `The paused changes are no longer what this page shows (${err.message}). Reload to see them as they are now. `, "error");
        result.append(reload);
        notice(`Nothing was approved: ${err.message}`);
        return;
      }
      failed(err, result);
      approve.disabled = false;
    }
  });
  return el(
    "section",
    { class: "card", id: "hold", "data-kind": grant ? "grant" : "release", "aria-labelledby": "hold-title" },
    el("h2", { id: "hold-title" }, grant ? "Paused: a large number of seats would turn paid" : "Paused: a large number of seats would be released"),
    el(
      "p",
      {},
      grant
        ? "Your identity provider sent changes that would turn more seats paid in a short time than your plan allows. So that a mistake there (\u201cEveryone\u201d assigned where one team was meant) does not pay for your whole company at once, they are paused until you approve them."
        : "Your identity provider sent changes that would move more paid seats to free in a short time than your plan allows. So that a mistake there (a group unassigned, a sync scoped wrong) does not downgrade your whole company at once, they are paused until you approve them.",
    ),
    el(
      "p",
      {},
      `Paused since ${when(hold.since)}: `,
      el("strong", { id: "held-events" }, count(hold.held_events)),
      " change(s), through ",
      el("span", { class: "mono", id: "held-through" }, through || "none"),
      grant ? ". Approving turns these people paid:" : ". Approving moves these people from paid to free:",
    ),
    emailList(grant ? "would-grant" : "would-release", emails),
    el(
      "p",
      { class: "muted" },
      "If this is a mistake, fix it in your identity provider instead of approving: its new changes wait behind these and are applied after them.",
    ),
    el("div", { class: "row" }, approve),
  );
}

// --- setup: SCIM and the app tile ------------------------------------------------

function setupCard(plan) {
  const button = el("button", { id: "configure-scim", type: "button" }, "Configure SCIM");
  const result = el("p", { id: "scim-result", class: "result", role: "status", hidden: true });
  button.addEventListener("click", async () => {
    button.disabled = true;
    say(result, "Opening WorkOS's setup…");
    try {
      const setup = await api("POST", "/portal/api/scim-setup", {});
      location.assign(setup.link);
    } catch (err) {
      failed(err, result);
      button.disabled = false;
    }
  });
  return el(
    "section",
    { class: "card", id: "setup", "aria-labelledby": "setup-title" },
    el("h2", { id: "setup-title" }, "Set up your identity provider"),
    el(
      "p",
      {},
      "Connect your identity provider (Okta, OneLogin, Entra ID, Google and others) to keep your paid plan equal to its enabled users. You need access to your identity provider's admin interface.",
    ),
    el(
      "ol",
      { class: "steps" },
      el("li", {}, "Click \u201cConfigure SCIM\u201d to be brought to an admin portal with our partner WorkOS."),
      el("li", {}, "Follow their wizard to get set up. You do not need to configure push groups or custom attributes."),
      el("li", {}, "The final page of the wizard shows a preview. Click the button that brings you back."),
    ),
    el(
      "div",
      { class: "row" },
      button,
      el("span", { class: "muted" }, plan.organization_id ? "Opens your existing setup, to check or change it." : "The link is made fresh for each click."),
    ),
    result,
    el("div", { id: "app-tile" }, el("h3", {}, "App tile (optional)"), el("p", { class: "muted" }, "Loading…")),
  );
}

/** What to paste into the identity provider's app: one URL, four field names. */
async function loadAppTile() {
  const gen = generation;
  let tile;
  try {
    tile = await api("GET", "/portal/api/app-tile");
  } catch (err) {
    if (gen !== generation) return;
    failed(err, $("#app-tile p"));
    return;
  }
  if (gen !== generation || !$("#app-tile")) return;
  const url = tile.url ?? `${location.origin}${tile.path}`;
  const row = (idp, name) => el("tr", {}, el("td", {}, idp), el("td", {}, el("strong", {}, name)));
  put($("#app-tile"),
    el("h3", {}, "App tile (optional)"),
    el(
      "p",
      {},
      "So that your users can click the app's tile in Okta or OneLogin and be brought to the login page: a stub SAML setup interrupts the normal SAML login flow and redirects them to the product's own login page. Users do not actually log in with SAML. Set these fields of the app all to the same URL:",
    ),
    el("p", {}, el("code", { id: "app-tile-url", class: "mono copy" }, url)),
    el(
      "table",
      { class: "fieldnames", id: "app-tile-fields" },
      el("thead", {}, el("tr", {}, el("th", {}, "Identity provider"), el("th", {}, "Field (set to the URL above)"))),
      el(
        "tbody",
        {},
        row("Okta", "Single sign-on URL"),
        row("Okta", "Audience URI (SP Entity ID)"),
        row("OneLogin", "SAML Consumer URL"),
        row("OneLogin", "SAML Audience URL"),
      ),
    ),
    tile.configured
      ? el("p", { class: "muted" }, "Clicking the tile brings people to ", el("span", { class: "mono" }, tile.login_redirect_url), ".")
      : el("p", { class: "warn", id: "app-tile-off" }, "The tile is not switched on for this service yet: until it is, clicking it shows an error. Please contact support."),
  );
}

// --- preview ---------------------------------------------------------------------

async function loadPreview(plan) {
  const gen = generation;
  const ticket = ++previewTicket;
  const stale = () => gen !== generation || ticket !== previewTicket;
  let preview;
  try {
    preview = await api("GET", "/portal/api/preview");
  } catch (err) {
    if (stale()) return;
    failed(err, $("#preview p"));
    return;
  }
  const card = $("#preview");
  if (stale() || !card) return;
  const enforced = plan.mode === "enforced";
  put(card,
    el("h2", { id: "preview-title" }, enforced ? "Enforcement" : "If enforcement started now"),
    enforced
      ? el(
          "p",
          { id: "preview-explained" },
          `Your plan is already enforced (since ${when(plan.enforced_at)}): your identity provider decides who is on the paid plan. Anyone listed below is someone whose seat would still move; normally nobody.`,
        )
      : el(
          "p",
          { id: "preview-explained" },
          `What happens the moment more than ${plan.test_mode_max_users} users are assigned in your identity provider: everyone it assigns is on the paid plan, everyone else moves to free.`,
        ),
    el("h3", {}, `Move to paid (${count(preview.to_paid.length)})`),
    emailList("to-paid", preview.to_paid),
    el("h3", {}, `Move to free (${count(preview.to_free.length)})`),
    emailList("to-free", preview.to_free),
    el(
      "p",
      { class: "muted" },
      "Unchanged: ",
      el("span", { id: "unchanged-paid" }, count(preview.unchanged_paid)),
      " stay paid, ",
      el("span", { id: "unchanged-free" }, count(preview.unchanged_free)),
      " stay free.",
    ),
  );
}

// --- billing ---------------------------------------------------------------------

function fillBilling(plan) {
  const card = $("#billing");
  if (!card) return;
  const billing = plan.billing || {};
  const targets = [
    ["webhook", "Billing"],
    ["stripe", "Stripe"],
  ].filter(([key]) => billing[key]);
  const words = { in_sync: "Billing is up to date", pending: "Billing update pending", failing: "Billing update failing" };
  const lines = targets.map(([key, label]) => {
    const t = billing[key];
    return el(
      "div",
      { class: "target", "data-target": key, "data-state": t.state, id: `billing-${key}` },
      el("p", { class: "row" }, el("strong", {}, `${label}:`), el("span", { class: `badge billing-${t.state}` }, words[t.state] || t.state)),
      el(
        "p",
        { class: "muted" },
        "Paid seats last sent: ",
        t.paid_seats_sent === null || t.paid_seats_sent === undefined ? "none yet" : count(t.paid_seats_sent),
        t.state === "pending" ? ". An update with your current paid seats is on its way." : ".",
        t.state === "failing" ? " It is retried automatically." : null,
      ),
      t.state === "failing" && t.last_error ? el("p", { class: "error-text" }, t.last_error) : null,
    );
  });
  put(card,
    el("h2", { id: "billing-title" }, "Billing"),
    lines.length ? lines : el("p", { class: "muted", id: "billing-none", "data-state": "none" }, "Billing is not connected."),
    lines.length ? el("p", { class: "muted" }, `Your plan has ${count(plan.paid_seats)} paid seat(s) now.`) : null,
  );
}

// --- members -----------------------------------------------------------------------

function membersCard() {
  const search = el(
    "form",
    { id: "member-search-form", class: "filters", role: "search" },
    el("label", { class: "sr-only", for: "member-search" }, "Email contains"),
    el("input", { id: "member-search", name: "q", type: "search", placeholder: "Email contains", autocomplete: "off", spellcheck: "false" }),
    el("label", { class: "sr-only", for: "member-filter-tier" }, "Tier"),
    el("select", { id: "member-filter-tier", name: "tier" }, el("option", { value: "" }, "Any tier"), el("option", { value: "paid" }, "Paid"), el("option", { value: "free" }, "Free")),
    el("label", { class: "sr-only", for: "member-filter-source" }, "Source"),
    el(
      "select",
      { id: "member-filter-source", name: "source" },
      el("option", { value: "" }, "Any source"),
      el("option", { value: "directory" }, "Directory"),
      el("option", { value: "manual" }, "Manual"),
    ),
    el("button", { type: "submit", id: "member-search-go" }, "Search"),
  );
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    memberQuery = {
      q: $("#member-search").value.trim(),
      tier: $("#member-filter-tier").value,
      source: $("#member-filter-source").value,
    };
    memberCursors = [null];
    loadMembers();
  });

  const manual = el(
    "form",
    { id: "member-form", class: "filters hand" },
    el("label", { for: "member-email" }, "Set by hand:"),
    el("input", { id: "member-email", name: "email", type: "email", required: true, placeholder: "someone@example.com", autocomplete: "off", spellcheck: "false" }),
    el("label", { class: "sr-only", for: "member-tier" }, "Tier"),
    el("select", { id: "member-tier", name: "tier" }, el("option", { value: "paid" }, "Paid"), el("option", { value: "free" }, "Free")),
    el("button", { type: "submit", id: "member-save" }, "Save"),
  );
  const result = el("p", { id: "member-result", class: "result", role: "status", hidden: true });
  manual.addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $("#member-email").value.trim();
    const tier = $("#member-tier").value;
    if (!email) return;
    const save = $("#member-save");
    save.disabled = true;
    say(result, "Saving…");
    try {
      const member = await api("PUT", `/portal/api/members/${encodeURIComponent(email)}`, { tier });
      say(result, `${member.email} is now ${member.tier}.`, "ok");
    } catch (err) {
      failed(err, result);
      save.disabled = false;
      return;
    }
    save.disabled = false;
    // The figures, lists and audit after the change; the form keeps its result.
    await refresh().catch((err) => failed(err));
  });

  const prev = el("button", { id: "members-prev", type: "button", class: "quiet", hidden: true }, "Previous page");
  prev.addEventListener("click", () => {
    if (memberCursors.length > 1) memberCursors.pop();
    loadMembers();
  });
  const next = el("button", { id: "members-next", type: "button", class: "quiet", hidden: true }, "Next page");

  return el(
    "section",
    { class: "card", id: "members", "aria-labelledby": "members-title" },
    el("h2", { id: "members-title" }, "Members"),
    el(
      "p",
      { class: "muted" },
      "Everyone on your plan, paid or free. Source \u201cdirectory\u201d: the seat follows your identity provider; \u201cmanual\u201d: set by hand. A hand change is for people who were on your plan before SCIM: while the plan is enforced, your identity provider decides, and only the people it assigns can be paid.",
    ),
    manual,
    result,
    search,
    el(
      "div",
      { class: "scroll" },
      el(
        "table",
        { id: "members-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "Email"), el("th", {}, "Tier"), el("th", {}, "Source"), el("th", {}, "Updated"), el("th", {}, el("span", { class: "sr-only" }, "Change")))),
        el("tbody", { id: "member-rows" }),
      ),
    ),
    el("p", { class: "muted", id: "members-empty", hidden: true }),
    el("div", { class: "row" }, el("span", { class: "muted", id: "members-range" }), el("span", { class: "spacer" }), prev, next),
  );
}

/** The members page at the last cursor, for the current query. */
async function loadMembers() {
  const gen = generation;
  const ticket = ++memberTicket;
  const after = memberCursors[memberCursors.length - 1];
  const query = new URLSearchParams({ limit: String(MEMBERS_PER_PAGE) });
  if (after) query.set("after", after);
  for (const key of ["q", "tier", "source"]) if (memberQuery[key]) query.set(key, memberQuery[key]);
  let page;
  try {
    page = await api("GET", `/portal/api/members?${query}`);
  } catch (err) {
    if (gen !== generation || ticket !== memberTicket) return;
    failed(err);
    return;
  }
  if (gen !== generation || ticket !== memberTicket || !$("#member-rows")) return;
  $("#member-rows").replaceChildren(...page.data.map(memberRow));
  const filtered = memberQuery.q || memberQuery.tier || memberQuery.source;
  const empty = $("#members-empty");
  empty.textContent = filtered ? "Nobody matches." : "Nobody is on your plan yet.";
  empty.hidden = page.data.length > 0;
  const start = (memberCursors.length - 1) * MEMBERS_PER_PAGE;
  $("#members-range").textContent = page.data.length ? `Showing ${start + 1}\u2013${start + page.data.length}` : "";
  $("#members-prev").hidden = memberCursors.length === 1;
  const next = $("#members-next");
  next.hidden = !page.next;
  next.onclick = page.next
    ? () => {
        memberCursors.push(page.next);
        loadMembers();
      }
    : null;
}

function memberRow(m) {
  const change = el("button", { type: "button", class: "quiet small change-tier", "aria-label": `Change the tier of ${m.email}` }, "Change");
  change.addEventListener("click", () => {
    $("#member-email").value = m.email;
    $("#member-tier").value = m.tier === "paid" ? "free" : "paid";
    say($("#member-result"), "");
    $("#member-form").scrollIntoView({ block: "nearest" });
    $("#member-save").focus();
  });
  return el(
    "tr",
    { "data-email": m.email, "data-tier": m.tier, "data-source": m.source },
    el("td", { class: "email" }, m.email),
    el("td", { class: "tier" }, el("span", { class: `badge ${m.tier}` }, m.tier)),
    el("td", { class: "source", title: m.source === "directory" ? "Given by your identity provider" : "Set by hand, or on the plan before SCIM" }, m.source),
    el("td", { class: "muted" }, when(m.updated_at)),
    el("td", {}, change),
  );
}

// --- audit -------------------------------------------------------------------------

const REASONS = {
  directory_user_active: "Assigned in your identity provider",
  directory_user_inactive: "Deactivated in your identity provider",
  directory_user_deleted: "Removed from your identity provider",
  email_changed: "Email address changed",
  enforcement_started: "Enforcement started",
  directory_deleted: "Identity provider disconnected",
  manual: "Set by hand",
  resync: "Full sync with your identity provider",
};
const BY = { operator: "Support", portal: "Plan portal" };
const FROM_DIRECTORY = new Set(["directory_user_active", "directory_user_inactive", "directory_user_deleted", "email_changed", "resync"]);

/** Who made a change: a hand change names its author; otherwise the directory or the rule. */
function author(entry) {
  if (entry.by) return BY[entry.by] || entry.by;
  if (FROM_DIRECTORY.has(entry.reason)) return "Identity provider";
  if (entry.reason === "manual") return "—";
  return "Automatic";
}

/**
 * The latest changes, newest first. The API lists them oldest first: a few
 * pages are read from `from` (the oldest at first), keeping the last rows;
 * past that, a button reads on.
 */
async function loadAudit(from) {
  const gen = generation;
  const ticket = ++auditTicket;
  const stale = () => gen !== generation || ticket !== auditTicket;
  let rows = [];
  let dropped = Boolean(from);
  let after = from;
  let next = null;
  try {
    for (let i = 0; i < AUDIT_PAGES_READ; i++) {
      const query = new URLSearchParams({ limit: String(AUDIT_PAGE) });
      if (after) query.set("after", after);
      const page = await api("GET", `/portal/api/audit?${query}`);
      if (stale()) return;
      rows = rows.concat(page.data);
      if (rows.length > AUDIT_SHOWN) {
        rows = rows.slice(-AUDIT_SHOWN);
        dropped = true;
      }
      next = page.next;
      if (!next) break;
      after = next;
    }
  } catch (err) {
    if (stale()) return;
    failed(err, $("#audit-note"));
    return;
  }
  if (stale() || !$("#audit-rows")) return;
  $("#audit-rows").replaceChildren(
    ...rows
      .slice()
      .reverse()
      .map((entry) =>
        el(
          "tr",
          { "data-seq": entry.seq },
          el("td", {}, when(entry.at)),
          el("td", { class: "email" }, entry.email),
          el("td", {}, entry.from ?? "—"),
          el("td", {}, entry.to),
          el("td", {}, REASONS[entry.reason] || entry.reason),
          el("td", {}, author(entry)),
        ),
      ),
  );
  const note = $("#audit-note");
  note.className = "muted";
  if (next) {
    const newer = el("button", { type: "button", class: "quiet small", id: "audit-newer" }, "Show newer changes");
    newer.addEventListener("click", () => {
      newer.disabled = true;
      loadAudit(next);
    });
    put(note, "There are newer changes than these. ", newer);
  } else if (rows.length === 0) {
    note.textContent = "No seat changes yet.";
  } else {
    note.textContent = dropped ? `The latest ${rows.length} changes, newest first; older changes are not shown.` : "Every change, newest first.";
  }
}

// --- start -------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#refresh").addEventListener("click", () => load());
  load();
});
