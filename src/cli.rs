//! The `seatsync` command line.
use crate::{
    config::Settings,
    db, operator,
    startup::Application,
    telemetry,
    tools::{replay, sign},
    workos::{WorkosClient, backfill, resync},
};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode, time::Duration};

#[derive(Parser, Debug)]
#[command(
    name = "seatsync",
    version,
    about = "Keeps a paid plan equal to the people the identity provider has enabled."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Read no `.env` file: settings come from the environment only (the
    /// shipped container and service unit pass it).
    #[arg(long, global = true)]
    pub no_env_file: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate the database, then serve HTTP and run the reconciler.
    Serve {
        /// Refuse to start while any `.env.example` value is in use, on any
        /// address (the shipped container and service unit pass it).
        #[arg(long)]
        refuse_example_values: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Copy a SQLite database, consistent, while `serve` runs on it (VACUUM
    /// INTO); the copy is created 0600. For PostgreSQL, use pg_dump.
    #[command(after_help = "Example:\n  seatsync backup --to /backups/seatsync-$(date +%F).db\n\
        Restore: stop serve, put the copy at DATABASE_URL's path, start serve.")]
    Backup {
        /// A file that does not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Delete settled and long-parked events and dead letters older than
    /// INBOX_RETENTION_DAYS (pending and held events, the audit and directory
    /// users are kept).
    Prune {
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the WorkOS-Signature header value for FILE's exact bytes.
    #[command(after_help = "Example:\n  seatsync sign fixtures/events/dsync.user.created.json --secret whsec_dev\n  \
        curl -H \"WorkOS-Signature: $(seatsync sign body.json)\" --data-binary @body.json http://127.0.0.1:8080/webhooks/workos")]
    Sign {
        file: PathBuf,
        #[command(flatten)]
        secret: SecretArgs,
        /// Unix milliseconds; defaults to now.
        #[arg(long)]
        timestamp: Option<i64>,
    },
    /// A local stand-in for the WorkOS endpoints "Configure SCIM" calls, with a
    /// stand-in Admin Portal page: the customer's path without a WorkOS account.
    #[command(after_help = "Then, in the service's .env:\n  WORKOS_API_BASE=http://127.0.0.1:8099\n  \
        WORKOS_API_KEY=sk_test_local_fake\nand restart serve; \"Configure SCIM\" opens the stand-in page, whose \
        \"Back\" returns to the admin page.")]
    FakeWorkos {
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: std::net::SocketAddr,
    },
    /// Post fixture events, freshly signed, in file-name order.
    #[command(after_help = "Examples:\n  seatsync replay fixtures/scenarios/enforcement-eleventh-user --wait\n  \
        seatsync replay fixtures/events/dsync.user.created.json --url http://127.0.0.1:8080")]
    Replay {
        /// Files (one event or an array) or folders of such files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Base URL of a running seatsync; defaults to http://LISTEN_ADDR.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        secret: SecretArgs,
        /// Wait for each event's final status (needs ADMIN_TOKEN).
        #[arg(long)]
        wait: bool,
        /// Deliveries in flight at once (order is kept only with 1).
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Pull missed dsync.* events from the WorkOS Events API into the inbox.
    #[command(after_help = "Resumes from the saved cursor; --since starts after a given event id.\n\
        Needs WORKOS_API_KEY. Example:\n  seatsync backfill\n  seatsync backfill --since event_01HZ...")]
    Backfill {
        #[arg(long)]
        since: Option<String>,
    },
    /// Bring an organization's directory users and seats to match the Directory Sync API.
    #[command(after_help = "Users missing from a complete listing count as deleted; changes are audited\n\
        with reason resync. If any page fails, nothing is changed. Needs WORKOS_API_KEY.\n\
        Example:\n  seatsync resync --organization org_01EZTR6WYX1A0DSE2CYMGXQ24Y --dry-run")]
    Resync {
        #[arg(long)]
        organization: String,
        /// Print what would change and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even when the release guard's limit would be passed.
        #[arg(long)]
        allow_mass_release: bool,
    },
    /// Exit 0 when the running service's /readyz answers 200 within 2 s, else 1.
    #[command(after_help = "For container health checks without curl. Example:\n  \
        seatsync healthcheck --url http://127.0.0.1:8080")]
    Healthcheck {
        /// Base URL of the running service; defaults to LISTEN_ADDR's (on
        /// loopback when it listens on every address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Read the configuration as `serve` would; print it with every secret
    /// masked and list every problem. Exit 0, or 78 when `serve` would refuse it.
    CheckConfig {
        /// Also check that the database answers and its migrations are
        /// current (nothing is written); exit 1 when not.
        #[arg(long)]
        connect: bool,
    },
    /// Operate on plans directly in the database.
    Plans {
        #[command(subcommand)]
        command: PlansCommand,
    },
    /// Billing messages pushed out (BILLING_WEBHOOK_URL): list them, send one again.
    Outbound {
        #[command(subcommand)]
        command: OutboundCommand,
    },
    /// A plan's billing: send its current seats again.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum OutboundCommand {
    /// Outbound messages, newest first (as GET /admin/outbound).
    List {
        #[arg(long)]
        plan: Option<String>,
        /// pending, delivered, failing or dead.
        #[arg(long)]
        state: Option<String>,
        /// The previous page's `next`.
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Send message ID again now (a dead one too) and print how it went.
    Retry { id: String },
}

#[derive(Subcommand, Debug)]
pub enum BillingCommand {
    /// Queue the plan's current seats to every configured target.
    Resend { plan_id: String },
    /// Compare each plan's Stripe item quantity with its paid seats; print the
    /// plans that differ and exit 1 if any does.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum PlansCommand {
    /// Create a plan for a WorkOS organization.
    #[command(after_help = "Without --organization the plan waits for `seatsync plans scim-setup PLAN`,\n\
        which creates its WorkOS organization.")]
    Create {
        #[arg(long)]
        name: String,
        /// The WorkOS organization (org_...), when it exists already.
        #[arg(long)]
        organization: Option<String>,
        /// Defaults to TEST_MODE_MAX_USERS.
        #[arg(long)]
        test_mode_max_users: Option<i64>,
        /// The product's own id for this customer (unique; carried in every billing message).
        #[arg(long)]
        external_id: Option<String>,
    },
    /// Change a plan, as `PATCH /admin/plans/{id}` does: only the fields given.
    #[command(after_help = "`null` clears a field: --external-id null, --release-limit null (the default),\n\
        --stripe-subscription-item null (stop following it). Example:\n  \
        seatsync plans update plan_... --stripe-subscription-item si_123 --release-limit 25")]
    Update {
        plan_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        external_id: Option<String>,
        #[arg(long)]
        test_mode_max_users: Option<i64>,
        /// A whole number (0 turns the guard off), or null for the default.
        #[arg(long)]
        release_limit: Option<String>,
        /// A whole number, or null to turn the grant guard off (the default).
        #[arg(long)]
        grant_limit: Option<String>,
        /// si_..., or null.
        #[arg(long)]
        stripe_subscription_item: Option<String>,
    },
    /// List plans.
    List,
    /// Show one plan.
    Show { plan_id: String },
    /// List a plan's members, sorted by email, one page at a time.
    #[command(after_help = "Prints {\"data\": [...], \"next\": cursor}; pass next as --after for the following page.")]
    Members {
        plan_id: String,
        /// Start after this email (the `next` of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Members per page, 1 to 1000 (default 100).
        #[arg(long)]
        limit: Option<u64>,
        /// Only paid or only free seats.
        #[arg(long)]
        tier: Option<String>,
        /// Only manual or only directory seats.
        #[arg(long)]
        source: Option<String>,
        /// Only emails containing this text.
        #[arg(long)]
        q: Option<String>,
    },
    /// Add or change a member by hand.
    SetTier {
        plan_id: String,
        email: String,
        /// paid or free
        tier: String,
    },
    /// What enforcement would do if it started now.
    Preview { plan_id: String },
    /// Approve a release-guard hold: prints its preview (the paid seats it
    /// releases, the held events), then approves through the last event it
    /// showed; those apply in order, without limit. Events held later are
    /// judged again by the guard.
    Approve { plan_id: String },
    /// "Configure SCIM": create the plan's WorkOS organization if it has none,
    /// then print a fresh Admin Portal link (valid five minutes) to its setup wizard.
    #[command(after_help = "Needs WORKOS_API_KEY. The wizard's back button returns to --return-url,\n\
        else PUBLIC_URL/admin/ when PUBLIC_URL is set.")]
    ScimSetup {
        plan_id: String,
        #[arg(long)]
        return_url: Option<String>,
    },
    /// A plan portal link for the customer's admin (single use, five
    /// minutes), as `POST /admin/plans/{id}/portal-link` makes it.
    #[command(after_help = "Needs PUBLIC_URL (where the customer's browser reaches this service).")]
    PortalLink {
        plan_id: String,
        /// The product's page the portal's "back" link returns to.
        #[arg(long)]
        return_url: Option<String>,
    },
    /// End every plan portal session of the plan and void its unused links.
    RevokePortal { plan_id: String },
    /// The audit trail of seat changes, oldest first.
    Audit {
        plan_id: String,
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<String>,
    },
}

pub async fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    // Before the settings are read: it reports a configuration `serve` refuses.
    if let Command::CheckConfig { connect } = cli.command {
        return Ok(check_config(connect, !cli.no_env_file).await);
    }
    // Needs no settings: a developer's stand-in, not the service.
    if let Command::FakeWorkos { listen } = cli.command {
        anyhow::ensure!(listen.ip().is_loopback(), "the fake listens on a loopback address only");
        let fake = crate::tools::fake_workos::start(listen)?;
        println!("a local stand-in for WorkOS listens on http://{} (not WorkOS; Ctrl-C stops it)", fake.address);
        println!(
            "in the service's .env: WORKOS_API_BASE=http://{} and WORKOS_API_KEY=sk_test_local_fake",
            fake.address
        );
        tokio::select! {
            served = fake.server => served?,
            _ = tokio::signal::ctrl_c() => {}
        }
        return Ok(ExitCode::SUCCESS);
    }
    let settings = Settings::from_env_with(!cli.no_env_file)?;
    match cli.command {
        Command::FakeWorkos { .. } => unreachable!("answered above"),
        Command::Serve { refuse_example_values } => {
            let telemetry = telemetry::init_with_traces(settings.log_format)?;
            let in_use = settings.shipped_secrets_in_use();
            if refuse_example_values && !in_use.is_empty() {
                eprintln!(
                    "error: {} still the development value(s) from .env.example; this deployment refuses them on any \
                     address: set real ones",
                    in_use.join(", ")
                );
                return Ok(ExitCode::from(crate::tools::check_config::EX_CONFIG));
            }
            let app = Application::build(&settings, true).await?;
            let served = app.run_until_stopped().await;
            // The last spans go out before the process ends.
            telemetry.shutdown().await;
            served?;
        }
        Command::Prune { dry_run } => {
            let conn = open_database(&settings).await?;
            let now = crate::domain::Micros::now();
            let cutoff = crate::inbox::retention::cutoff(now, settings.inbox_retention);
            let pruned = crate::inbox::retention::prune(&conn, now, settings.inbox_retention, dry_run).await?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            for (status, n) in &pruned.by_status {
                println!("{verb} {n} {status} events");
            }
            println!("{verb} {} dead letters", pruned.dead_letters);
            println!("{verb} {} delivered billing messages", pruned.delivered_messages);
            println!("{verb} {} rows in all (received before {})", pruned.total(), cutoff.to_rfc3339());
        }
        Command::Migrate => {
            telemetry::init(settings.log_format);
            create_or_open_database(&settings).await?;
            tracing::info!("migrations applied");
        }
        Command::CheckConfig { .. } => unreachable!("answered above"),
        Command::Backup { to } => {
            let conn = open_database_read_only(&settings).await?;
            // What SQLite's intake spool acknowledged so far goes into the
            // copy too: a backup is one file. A read-only URL cannot move it.
            let spool = db::sqlite_path(settings.database_url.expose())
                .map(|file| db::spool_file::path_for(std::path::Path::new(file)));
            if spool.is_some_and(|spool| spool.exists()) && !crate::inbox::spool::attached(&conn).await? {
                anyhow::bail!(
                    "the intake spool beside the database cannot be moved into the copy through a read-only \
                     DATABASE_URL: back up through a writable one"
                );
            }
            crate::inbox::spool::move_all(&conn).await.context("could not move the inbox spool")?;
            let bytes = db::backup_sqlite(&conn, &to).await?;
            println!("backed up to {} ({bytes} bytes)", to.display());
        }
        Command::Healthcheck { url } => {
            let url = url.unwrap_or_else(|| crate::tools::healthcheck::default_url(settings.listen_addr));
            if let Err(why) = crate::tools::healthcheck::check(&url).await {
                eprintln!("not ready: {why}");
                return Ok(ExitCode::from(1));
            }
            println!("ready");
        }
        Command::Sign { file, secret, timestamp } => {
            let secret = secret_or_env(secret, &settings)?;
            println!("{}", sign::sign_file(&file, &secret, timestamp)?);
        }
        Command::Replay { paths, url, secret, wait, concurrency } => {
            let secret = secret_or_env(secret, &settings)?;
            let deliveries = replay::load(&paths)?;
            let options = replay::ReplayOptions {
                url: url.unwrap_or_else(|| format!("http://{}", settings.listen_addr)),
                secret,
                admin_token: settings.admin_token.as_ref().map(|t| t.expose().to_owned()),
                wait,
                concurrency,
                wait_timeout: Duration::from_secs(30),
            };
            let summary = replay::replay(&deliveries, &options, &mut std::io::stdout()).await?;
            if summary.refused > 0 || summary.failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Backfill { since } => {
            let conn = open_database(&settings).await?;
            let client = workos_client(&settings)?;
            let summary = backfill::backfill(&conn, &client, since, settings.faults, |s| {
                eprintln!("page {}: fetched {}, stored {}, duplicates {}", s.pages, s.fetched, s.stored, s.duplicates)
            })
            .await?;
            println!(
                "backfill: {} pages, {} events fetched, {} stored, {} duplicates, {} invalid; cursor {}",
                summary.pages,
                summary.fetched,
                summary.stored,
                summary.duplicates,
                summary.invalid,
                summary.cursor.as_deref().unwrap_or("(none)")
            );
        }
        Command::Resync { organization, dry_run, allow_mass_release } => {
            let conn = open_database(&settings).await?;
            let client = workos_client(&settings)?;
            let org = crate::domain::OrganizationId::parse(&organization)?;
            let options = resync::ResyncOptions { dry_run, allow_mass_release, guard: settings.release_guard };
            let report = resync::resync(&conn, &client, &org, options, |line| eprintln!("{line}")).await?;
            if let Some(check) = report.release_check {
                println!(
                    "release guard: {} paid seats released against a limit of {} ({} already in the window){}",
                    check.would_release,
                    check.limit.map_or("none".to_owned(), |l| l.to_string()),
                    check.released_in_window,
                    if check.passes_limit() { ": over the limit" } else { "" }
                );
            }
            if let Some(check) = report.grant_check {
                println!(
                    "grant guard: {} seats turned paid against a limit of {} ({} already in the window){}",
                    check.would_grant,
                    check.limit,
                    check.granted_in_window,
                    if check.passes_limit() { ": over the limit" } else { "" }
                );
            }
            for (directory, state) in &report.left_alone {
                println!("directory {directory} is {state}: not compared, its users keep their seats");
            }
            for change in &report.seat_changes {
                println!(
                    "{}{}: {} -> {} ({})",
                    if dry_run { "would change " } else { "" },
                    change.email,
                    change.from.map_or("none", |t| t.as_str()),
                    change.to,
                    change.reason
                );
            }
            for unreadable in &report.unreadable {
                println!("unreadable: {unreadable}; neither added nor removed");
            }
            println!(
                "resync{}: {} directories, {} users listed ({} unreadable), {} applied, {} already newer, {} removed, {} seat changes",
                if dry_run { " (dry run, nothing changed)" } else { "" },
                report.directories,
                report.users_listed,
                report.unreadable.len(),
                report.users_applied,
                report.users_already_newer,
                report.users_removed,
                report.seat_changes.len()
            );
            if !report.unreadable.is_empty() {
                // Everything else is applied; the unreadable entries want a look.
                eprintln!(
                    "error: {} listed user(s) could not be read and were neither added nor removed",
                    report.unreadable.len()
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Plans { command } => {
            let read_only = matches!(
                command,
                PlansCommand::List
                    | PlansCommand::Show { .. }
                    | PlansCommand::Members { .. }
                    | PlansCommand::Preview { .. }
                    | PlansCommand::Audit { .. }
            );
            let conn =
                if read_only { open_database_read_only(&settings).await? } else { open_database(&settings).await? };
            let output = plans_command(&conn, command, &settings).await?;
            println!("{}", serde_json::to_string_pretty(&output)?);
        }
        Command::Outbound { command } => {
            let conn = match command {
                OutboundCommand::List { .. } => open_database_read_only(&settings).await?,
                OutboundCommand::Retry { .. } => open_database(&settings).await?,
            };
            let output = match command {
                OutboundCommand::List { plan, state, after, limit } => {
                    let query =
                        operator::outbound::DeliveriesQuery { plan, state, after, limit: limit.map(|n| n.to_string()) };
                    serde_json::to_value(operator::outbound::list(&conn, &query).await?)?
                }
                OutboundCommand::Retry { id } => {
                    let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
                    let deliverer = crate::startup::deliverer(conn.clone(), &settings, metrics)?;
                    serde_json::to_value(operator::outbound::retry(deliverer.as_ref(), &conn, &id).await?)?
                }
            };
            println!("{}", serde_json::to_string_pretty(&output)?);
        }
        Command::Billing { command: BillingCommand::Check } => {
            let conn = open_database_read_only(&settings).await?;
            let stripe = crate::startup::stripe_client(&settings)?
                .context("STRIPE_API_KEY must be set (sk_... or rk_...) to read Stripe")?;
            let (drifts, checked) = operator::outbound::check(&conn, &stripe).await?;
            for drift in &drifts {
                println!("{}", serde_json::to_string(drift)?);
            }
            println!("{checked} Stripe items checked, {} differ from the paid seats", drifts.len());
            if !drifts.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Billing { command: BillingCommand::Resend { plan_id } } => {
            let conn = open_database(&settings).await?;
            let messages = operator::outbound::resend(&conn, &plan_id).await?;
            println!("{}", serde_json::json!({ "plan_id": plan_id, "messages": messages }));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Connects without changing anything, for the commands that only read: they
/// must not migrate a database that a newer or older `serve` is running on.
/// Refuses when migrations are missing (their tables may not be there).
/// Only `serve` and `migrate` create a database: any other command run where
/// the SQLite file is not (another folder, a typo) says which file it looked
/// for, instead of creating and migrating an empty one.
fn refuse_missing_database(settings: &Settings) -> anyhow::Result<()> {
    if settings.database_url.kind().ok() != Some(db::DatabaseKind::Sqlite) {
        return Ok(());
    }
    let Some(path) = db::sqlite_file(settings.database_url.expose()) else { return Ok(()) };
    let path = std::path::Path::new(path);
    let shown = std::env::current_dir().map(|dir| dir.join(path)).unwrap_or_else(|_| path.to_path_buf());
    if path.exists() {
        return refuse_root_on_anothers_database(path);
    }
    anyhow::bail!(
        "no database at {} (DATABASE_URL, relative to the current folder): run this command where the service's \
         database is, or set DATABASE_URL; `seatsync migrate` or `serve` create a new one",
        shown.display()
    )
}

/// Run as root on a database the service's own user owns (systemd's
/// `DynamicUser`), SQLite would leave root-owned `-wal`/`-shm` files the
/// service cannot open: refused, saying how to run it as that user.
fn refuse_root_on_anothers_database(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        let owner = std::fs::metadata(path).map(|m| m.uid()).ok();
        if let (Some(0), Some(owner)) = (me, owner)
            && owner != 0
        {
            anyhow::bail!(
                "{} belongs to uid {owner} and this command runs as root: SQLite would leave files the service \
                 cannot open. Run it as the service's user, e.g. `systemd-run --pty --wait -p DynamicUser=yes \
                 -p StateDirectory=seatsync -p EnvironmentFile=/etc/seatsync/seatsync.env \
                 --working-directory=/var/lib/seatsync /usr/local/bin/seatsync …`",
                path.display()
            );
        }
    }
    Ok(())
}

async fn open_database_read_only(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    refuse_missing_database(settings)?;
    let conn = db::connect(&settings.database_url).await.context("could not connect to the database")?;
    let pending = db::pending_migrations(&conn).await?;
    if !pending.is_empty() {
        anyhow::bail!(
            "the database is {} migration(s) behind this binary ({}): run `seatsync migrate` first",
            pending.len(),
            pending.join(", ")
        );
    }
    Ok(conn)
}

/// Connects to an existing database and migrates it, for the commands that
/// work on the database directly.
async fn open_database(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    refuse_missing_database(settings)?;
    create_or_open_database(settings).await
}

/// Connects and migrates, creating a SQLite file if there is none (`migrate`).
async fn create_or_open_database(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let conn = db::connect(&settings.database_url).await.context("could not connect to the database")?;
    db::migrate(&conn).await.context("could not apply migrations")?;
    Ok(conn)
}

/// `seatsync check-config`: never stops at the first problem.
async fn check_config(connect: bool, read_env_file: bool) -> ExitCode {
    use crate::tools::check_config::{EX_CONFIG, describe, problems};
    match if read_env_file { Settings::load_dotenv() } else { Ok(None) } {
        Ok(Some(path)) => println!("read {}", path.display()),
        Ok(None) => println!("read no .env file: the environment only"),
        Err(err) => {
            println!("problem: {}: {}", err.variable, err.problem);
            return ExitCode::from(EX_CONFIG);
        }
    }
    let (settings, found) = problems(|name| std::env::var(name).ok());
    if let Some(settings) = settings {
        for (name, value) in describe(&settings) {
            println!("{name}={value}");
        }
        for variable in settings.shipped_secrets_in_use() {
            println!("warning: {variable} is still the development value from .env.example");
        }
        if connect {
            let checked = async {
                let conn = db::connect(&settings.database_url).await.context("the database does not answer")?;
                let pending = db::pending_migrations(&conn).await?;
                anyhow::ensure!(
                    pending.is_empty(),
                    "{} migration(s) not applied yet ({}): serve applies them at start, or run seatsync migrate",
                    pending.len(),
                    pending.join(", ")
                );
                anyhow::Ok(())
            };
            match checked.await {
                Ok(()) => println!("ok: the database answers and its migrations are current"),
                Err(err) => {
                    println!("problem: DATABASE_URL: {}", crate::db::plain_error(&err));
                    println!("the configuration is valid, but serve would not start on this database");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("ok: serve would start with this configuration");
        return ExitCode::SUCCESS;
    }
    for err in &found {
        println!("problem: {}: {}", err.variable, err.problem);
    }
    println!("{} problem(s): serve would refuse this configuration", found.len());
    ExitCode::from(EX_CONFIG)
}

pub fn workos_client(settings: &Settings) -> anyhow::Result<WorkosClient> {
    WorkosClient::when_configured(settings)?.context("WORKOS_API_KEY must be set (sk_...) to call the WorkOS API")
}

/// Where `sign` and `replay` find the webhook secret.
#[derive(Debug, clap::Args)]
pub struct SecretArgs {
    /// The webhook secret. Visible to other users in `ps`: prefer
    /// WORKOS_WEBHOOK_SECRET (environment or .env, the default) or --secret-file.
    #[arg(long, conflicts_with = "secret_file")]
    secret: Option<String>,
    /// Read the webhook secret from this file (surrounding whitespace ignored).
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
}

fn secret_or_env(args: SecretArgs, settings: &Settings) -> anyhow::Result<String> {
    let from_file = match &args.secret_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("could not read --secret-file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    args.secret
        .or(from_file)
        .or_else(|| settings.webhook_secret.as_ref().map(|s| s.expose().to_owned()))
        .filter(|s| !s.is_empty())
        .context("no secret: set WORKOS_WEBHOOK_SECRET, or pass --secret-file or --secret")
}

async fn plans_command(
    conn: &sea_orm::DatabaseConnection,
    command: PlansCommand,
    settings: &Settings,
) -> anyhow::Result<serde_json::Value> {
    use serde_json::{json, to_value};
    Ok(match command {
        PlansCommand::Create { name, organization, test_mode_max_users, external_id } => to_value(
            operator::create(
                conn,
                operator::NewPlan { name, organization_id: organization, test_mode_max_users, external_id },
                settings.test_mode_max_users,
            )
            .await?,
        )?,
        PlansCommand::Update {
            plan_id,
            name,
            external_id,
            test_mode_max_users,
            release_limit,
            grant_limit,
            stripe_subscription_item,
        } => {
            // `null` clears, as JSON's null does in the API.
            let nullable = |raw: Option<String>| raw.map(|v| if v == "null" { None } else { Some(v) });
            let release_limit = match nullable(release_limit) {
                None => None,
                Some(None) => Some(None),
                Some(Some(n)) => Some(Some(
                    n.parse::<i64>().map_err(|_| anyhow::anyhow!("--release-limit must be a whole number or null"))?,
                )),
            };
            let grant_limit = match nullable(grant_limit) {
                None => None,
                Some(None) => Some(None),
                Some(Some(n)) => Some(Some(
                    n.parse::<i64>().map_err(|_| anyhow::anyhow!("--grant-limit must be a whole number or null"))?,
                )),
            };
            let changes = operator::PlanChanges {
                name,
                external_id: nullable(external_id),
                test_mode_max_users,
                release_limit,
                grant_limit,
                stripe_subscription_item: nullable(stripe_subscription_item),
            };
            to_value(operator::update(conn, &plan_id, changes).await?)?
        }
        PlansCommand::List => json!({ "data": operator::list(conn).await? }),
        PlansCommand::Show { plan_id } => to_value(operator::show(conn, &plan_id).await?)?,
        PlansCommand::Members { plan_id, after, limit, tier, source, q } => {
            let query = operator::MembersQuery { after, limit: limit.map(|n| n.to_string()), tier, source, q };
            to_value(operator::members(conn, &plan_id, &query).await?)?
        }
        PlansCommand::SetTier { plan_id, email, tier } => {
            to_value(operator::set_tier(conn, &plan_id, &email, &tier, crate::domain::Actor::Operator).await?)?
        }
        PlansCommand::Preview { plan_id } => to_value(operator::preview(conn, &plan_id).await?)?,
        PlansCommand::Approve { plan_id } => {
            // The preview first, then an approval through exactly the event it
            // showed: events held after this read are judged again, not approved.
            let shown = operator::show(conn, &plan_id).await?;
            let Some(hold) = shown.hold else { return Err(operator::PlanError::NoHold.into()) };
            println!(
                "hold since {}: {} held event(s), through {}",
                hold.since,
                hold.held_events,
                hold.through.as_deref().unwrap_or("(none)")
            );
            println!("approving through it releases {} paid seat(s):", hold.would_release.len());
            for email in &hold.would_release {
                println!("  {email}");
            }
            let limits = crate::reconcile::worker::BatchLimits {
                guard: settings.release_guard,
                faults: settings.faults,
                ..crate::reconcile::worker::BatchLimits::for_backend(conn.get_database_backend())
            };
            let metrics = crate::metrics::Metrics::default();
            to_value(
                operator::approve_hold(
                    conn,
                    &plan_id,
                    hold.through.as_deref(),
                    crate::domain::Actor::Operator,
                    limits,
                    &metrics,
                )
                .await?,
            )?
        }
        PlansCommand::ScimSetup { plan_id, return_url } => {
            let client = WorkosClient::when_configured(settings)?;
            let public_url = settings.public_url.as_deref();
            to_value(
                operator::scim::scim_setup(conn, client.as_ref(), &plan_id, return_url.as_deref(), public_url).await?,
            )?
        }
        PlansCommand::PortalLink { plan_id, return_url } => {
            let base = settings.public_url.as_deref().ok_or_else(|| {
                anyhow::anyhow!("PUBLIC_URL is not set: a portal link needs the service's public address")
            })?;
            to_value(crate::operator::portal::create(conn, &plan_id, return_url.as_deref(), base).await?)?
        }
        PlansCommand::RevokePortal { plan_id } => {
            crate::operator::portal::revoke(conn, &plan_id).await?;
            json!({ "revoked": plan_id })
        }
        PlansCommand::Audit { plan_id, after, limit } => {
            to_value(operator::audit(conn, &plan_id, after.as_deref(), limit.as_deref()).await?)?
        }
    })
}
