//! `seatsync-bench`: throughput, latency and footprint figures for seatsync.
//! Printed, never asserted: machines are shared and noisy. Kept out of the
//! service's own binary (issue 39); it drives the library, or a `seatsync serve`
//! process (`webhooks --wrk`), from outside.
mod billing_receiver;
mod enforcement;
mod plan_list;
mod prune;
mod reconcile;
mod scrape;
mod scratch;
mod soak;
mod webhooks;
mod wrk;

use clap::{Parser, Subcommand};
use enforcement::enforcement;
use plan_list::plans;
use prune::prune;
use reconcile::reconcile;
use scrape::scrape;
use soak::soak;
use std::{process::ExitCode, time::Duration};
use webhooks::{WebhookBench, webhooks};

/// Print throughput and latency figures (webhook intake, the reconciler, enforcement, the operator's view).
#[derive(Parser, Debug)]
#[command(name = "seatsync-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fire signed deliveries; print accepted/s and latency percentiles.
    #[command(after_help = "Without --url, a server is started in this process on a temporary SQLite file\n\
        (or --database-url). Several --concurrency levels (comma-separated) run one after the other\n\
        and print a table. Example:\n  seatsync-bench webhooks --requests 5000 --concurrency 32,128,512")]
    Webhooks {
        /// A running seatsync; its secret must match --secret.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value = "whsec_bench_secret")]
        secret: String,
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Requests in flight at once; a comma-separated list runs each level.
        #[arg(long, default_value = "64", value_delimiter = ',')]
        concurrency: Vec<usize>,
        #[arg(long)]
        database_url: Option<String>,
        /// Drive a `serve` process with wrk (separate processes, pre-signed
        /// realistic bodies) instead of this process's own client.
        #[arg(long)]
        wrk: bool,
        /// With --wrk: connections, comma-separated, one run each.
        #[arg(long, default_value = "32", value_delimiter = ',')]
        connections: Vec<usize>,
        /// With --wrk: seconds per run.
        #[arg(long, default_value_t = 8)]
        duration: u64,
        /// With --wrk: runs per level (the median is printed).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// With --wrk: storage off (needs --features test-faults): the ceiling.
        #[arg(long)]
        ceiling: bool,
        /// With --wrk: the reconciler paused (needs --features test-faults):
        /// the intake alone, to set beside a run with the reconciler working.
        #[arg(long)]
        paused: bool,
        /// With --wrk: push seat changes to a local billing receiver, as
        /// production does.
        #[arg(long)]
        billing: bool,
        /// With --wrk: organizations the deliveries are interleaved over
        /// (each its own directory and plan); a comma-separated list runs each.
        /// Default: 50 (arrivals from many customers), then 1 for comparison.
        #[arg(long, default_value = "50,1", value_delimiter = ',')]
        organizations: Vec<usize>,
        /// With --wrk: an initial sync of this many users over 50 new
        /// organizations whose plans are created as the events arrive.
        #[arg(long)]
        initial_sync: Option<usize>,
    },
    /// Fill a fresh database's inbox, then time the reconciler applying it.
    #[command(after_help = "With a postgres:// --database-url, a new database is created on that server for the run\n\
        (never analyzed) and dropped after. Example:\n  seatsync-bench reconcile --events 50000 --organizations 50")]
    Reconcile {
        #[arg(long, default_value_t = 50_000)]
        events: usize,
        #[arg(long, default_value_t = 50)]
        organizations: usize,
        #[arg(long)]
        database_url: Option<String>,
        /// Push seat changes to a local billing receiver while applying, and
        /// print how long after the last apply the receiver had them all.
        #[arg(long)]
        billing: bool,
    },
    /// Prune a fresh database of settled events while webhooks keep arriving.
    Prune {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The operator's view at scale: a page of 100 plans (first, middle, a
    /// search) at each number of plans, and a plan's history at many audit rows.
    Plans {
        #[arg(long, value_delimiter = ',', default_value = "2000,20000")]
        plans: Vec<u64>,
        /// Audit rows of the plan whose history is timed (0: skip).
        #[arg(long, default_value_t = 1_000_000)]
        audit_rows: u64,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// What a /metrics scrape and its background refresh cost with few and with
    /// many stored events (one fresh database per size).
    Scrape {
        #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
        events: Vec<u64>,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// A long mixed load (webhooks, admin reads, previews, resyncs against a fake
    /// WorkOS); prints resident memory and open file descriptors every minute.
    Soak {
        #[arg(long, default_value_t = 600)]
        secs: u64,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Time the switch to enforcement on a large plan.
    Enforcement {
        #[arg(long, default_value_t = 100_000)]
        members: u64,
        #[arg(long, default_value_t = 1_000)]
        directory_users: u64,
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Webhooks {
            wrk: true,
            database_url,
            connections,
            duration,
            rounds,
            ceiling,
            paused,
            initial_sync,
            billing,
            organizations,
            ..
        } => {
            wrk::run(wrk::WrkBench {
                initial_sync,
                database_url,
                connections,
                duration: Duration::from_secs(duration),
                rounds,
                ceiling,
                paused,
                billing,
                organizations,
            })
            .await?
        }
        Command::Webhooks { url, secret, requests, concurrency, database_url, .. } => {
            webhooks(WebhookBench { url, secret, requests, concurrency, database_url }).await?
        }
        Command::Prune { events, database_url } => prune(events, database_url).await?,
        Command::Reconcile { events, organizations, database_url, billing } => {
            reconcile(events, organizations, database_url, billing).await?
        }
        Command::Soak { secs, database_url } => soak(secs, database_url).await?,
        Command::Scrape { events, database_url } => scrape(events, database_url).await?,
        Command::Plans { plans: counts, audit_rows, database_url } => plans(counts, audit_rows, database_url).await?,
        Command::Enforcement { members, directory_users, database_url } => {
            enforcement(members, directory_users, database_url).await?
        }
    }
    Ok(())
}
