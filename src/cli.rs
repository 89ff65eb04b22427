//! The command line (argument definitions only; `main.rs` dispatches).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Backtalk: conversational SMS for retailers.
#[derive(Debug, Parser)]
#[command(name = "backtalk", version, about)]
pub struct Cli {
    /// Config file (default: $BACKTALK_CONFIG, else ./backtalk.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhooks, the health endpoints and the workers.
    Serve {
        /// Load the bundled demo store on first start; print texts when Twilio is not configured.
        #[arg(long)]
        demo: bool,
    },
    /// Text the bot from the terminal as a customer, through the full pipeline.
    Chat {
        /// The customer's number (default: the demo customer +14155550123).
        #[arg(long)]
        from: Option<String>,
        /// Load the bundled demo store if the database is empty.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Replay transcripts through the real pipeline; print a summary, write report.json and
    /// report.html, and exit non-zero when the gate fails.
    Eval {
        /// Transcript files (JSON Lines, one conversation per line).
        #[arg(required = true)]
        transcripts: Vec<std::path::PathBuf>,
        /// Where report.json and report.html go.
        #[arg(long, default_value = "eval-report")]
        report: std::path::PathBuf,
        /// A saved report.json to compare with; a metric worse by more than its tolerance fails.
        #[arg(long)]
        baseline: Option<std::path::PathBuf>,
        /// The tolerances of the baseline comparison.
        #[arg(long, default_value = "eval/tolerances.toml")]
        tolerances: std::path::PathBuf,
        /// Where the model's answers come from.
        #[arg(long, value_enum, default_value = "offline")]
        llm: crate::eval::LlmMode,
        /// With `--llm live`, record the answers into this cassette; with `replay`, read it.
        #[arg(long)]
        cassette: Option<std::path::PathBuf>,
        /// A store directory (catalog.jsonl, policies.jsonl, customers.jsonl, orders.jsonl)
        /// instead of the embedded demo store.
        #[arg(long)]
        store: Option<std::path::PathBuf>,
        /// Conversations replayed at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Use the configured embedding endpoint (`embeddings.*`: hybrid retrieval); without
        /// it the eval runs BM25 alone and needs no outside service.
        #[arg(long)]
        embeddings: bool,
        /// Also write this run's metrics here as the new baseline (after the gate passes).
        #[arg(long)]
        save_baseline: Option<std::path::PathBuf>,
    },
    /// Write conversations from the database as transcripts (phone numbers and names
    /// replaced), with what reviewers did as the expected outcome.
    ExportTranscripts {
        /// Only conversations active since this date (YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Only conversations that were escalated.
        #[arg(long)]
        escalated: bool,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Validate catalog files (products and policies; JSONL or CSV, optionally .gz) and
    /// write them to the database and the search index. A running server sees the change
    /// without a restart.
    IndexCatalog {
        /// Catalog files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Fail, writing nothing, if any line is bad (default: report bad lines and skip them).
        #[arg(long)]
        strict: bool,
        /// Replace the catalog: products not in these files are deleted (default: upsert).
        #[arg(long)]
        full: bool,
        /// Use a file's field as ours: `--map sku=asin --map bullets=bullet_points`.
        #[arg(long = "map", value_name = "OURS=THEIRS")]
        mapping: Vec<String>,
    },
    /// Import customers (with their SMS consent) and orders into the CRM: JSON Lines or CSV
    /// (docs/store-data.md); upserts by phone and order id, so re-running is safe.
    ImportCrm {
        /// Customers file.
        #[arg(long)]
        customers: Option<PathBuf>,
        /// Orders file (CSV: one row per line item, an order's rows together).
        #[arg(long)]
        orders: Option<PathBuf>,
        /// Fail, writing nothing, if any row is bad (default: report bad rows and skip them).
        #[arg(long)]
        strict: bool,
    },
    /// Compliance tools.
    Compliance {
        #[command(subcommand)]
        command: ComplianceCommand,
    },
    /// Reviewer accounts for the console.
    Reviewer {
        #[command(subcommand)]
        command: ReviewerCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Outbound webhooks (docs/webhooks.md).
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Flow files (docs/flows.md).
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Segments (docs/campaigns.md).
    Segments {
        #[command(subcommand)]
        command: SegmentsCommand,
    },
    /// Campaigns (docs/campaigns.md).
    Campaigns {
        #[command(subcommand)]
        command: CampaignsCommand,
    },
}

/// `backtalk segments …`
#[derive(Debug, Subcommand)]
pub enum SegmentsCommand {
    /// Check every segment file in the folder (default: `segments.dir`); print each problem
    /// as `file:line: reason` and exit non-zero if there is one.
    Validate {
        /// The folder of segment files.
        dir: Option<PathBuf>,
    },
    /// Print how many customers are in a segment now (from `segments.dir` or the API's).
    Count {
        /// The segment's name.
        name: String,
    },
}

/// `backtalk campaigns …`
#[derive(Debug, Subcommand)]
pub enum CampaignsCommand {
    /// Plan a campaign file (TOML, docs/campaigns.md) against the database without saving
    /// or sending: members, planned, skipped by reason, SMS segments, estimated cost.
    DryRun {
        /// The campaign file.
        file: PathBuf,
    },
}

/// `backtalk flows …`
#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Check every flow file in the folder (default: `flows.dir`); print each problem as
    /// `file:line: reason` and exit non-zero if there is one.
    Validate {
        /// The folder of flow files.
        dir: Option<PathBuf>,
    },
    /// Replay a file of events through the flows on a virtual clock, in a temporary database:
    /// print each text with its local send time, each deferral and each skip with its reason.
    Simulate {
        /// The events: JSON Lines (or a JSON array) in the events API's shape, each with a
        /// `timestamp`.
        #[arg(long)]
        events: PathBuf,
        /// The folder of flow files (default: `flows.dir`).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Start from the demo store's customers (all opted in); otherwise only the consent
        /// the events themselves carry (`properties.sms_consent`) is known.
        #[arg(long)]
        demo: bool,
        /// Stop at this time (RFC 3339; default: 30 days after the last event).
        #[arg(long)]
        until: Option<String>,
        /// A folder of campaign files (TOML, as `campaigns dry-run` reads them), each created at
        /// its `send_at` (else at the first event) to a segment of `segments.dir`.
        #[arg(long)]
        campaigns: Option<PathBuf>,
    },
}

/// `backtalk webhooks …`
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Print a new endpoint signing secret (`whsec_` + base64 of 32 random bytes).
    Secret,
}

/// `backtalk reviewer …`
#[derive(Debug, Subcommand)]
pub enum ReviewerCommand {
    /// Create a reviewer account and print its one-time password (the first account is an admin).
    Add {
        /// The name the reviewer logs in with.
        name: String,
        /// `admin` (may manage reviewers in the console) or `reviewer`.
        #[arg(long)]
        role: Option<String>,
        /// Where escalation notifications are emailed.
        #[arg(long, default_value = "")]
        email: String,
        /// A team escalations can be assigned to.
        #[arg(long, default_value = "")]
        team: String,
    },
    /// List the accounts: role, email, team, disabled or locked.
    List,
    /// Change an account's role, email or team (an empty value clears an email or team).
    Set {
        name: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        team: Option<String>,
    },
    /// Disable an account: it cannot log in, its sessions end, its API tokens stop working.
    Disable { name: String },
    /// Enable a disabled account again.
    Enable { name: String },
    /// Give an account a new one-time password (printed once); its sessions end.
    ResetPassword { name: String },
    /// Issue an API token for `/api/v1` that acts as this reviewer; printed once.
    Token {
        /// The reviewer the token belongs to.
        name: String,
        /// What the token is for (shown in the audit log).
        #[arg(long, default_value = "api")]
        label: String,
    },
}

/// `backtalk compliance …`
#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Read lines on stdin; print one JSON classification per line.
    Classify,
    /// Export the consent ledger for auditors: every event with time, source, evidence and
    /// scope, oldest first.
    Export {
        /// `csv` or `json` (JSON Lines).
        #[arg(long, default_value = "csv")]
        format: ExportFormat,
        /// Only this phone number.
        #[arg(long)]
        phone: Option<String>,
    },
    /// Measure the opt-out classifier: recall/precision on a labelled set, false positives
    /// on real SMS, time per message. The last line printed is a JSON summary.
    Measure {
        /// Labelled set (`text<TAB>label<TAB>note`).
        #[arg(long, default_value = "eval/optout/labelled.tsv")]
        labelled: PathBuf,
        /// SMS Spam Collection file (`ham|spam<TAB>text`).
        #[arg(long, default_value = "eval/optout/sms_spam_collection/SMSSpamCollection")]
        ham: PathBuf,
        /// Leave-one-set-out over every set in `eval/optout/` (embedded): each set scored by
        /// the rules alone and with a model trained without it. Ignores --labelled and --ham.
        #[arg(long)]
        cross_validate: bool,
    },
}

/// Formats of `compliance export`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// `backtalk bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Import a synthetic catalog of N products through `index-catalog`'s code path into a
    /// fresh SQLite database and index; time, throughput and peak memory.
    Import {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        /// Instead: the same N products, each with this many variants, as a Shopify product
        /// export and as Backtalk's own CSV, each imported three times into a fresh database
        /// (medians of both, side by side).
        #[arg(long, value_name = "VARIANTS")]
        shopify_variants: Option<usize>,
    },
    /// `import-crm` of a synthetic orders CSV into a fresh SQLite database: time, lines per
    /// second and peak memory, beside `sqlite3 .import` of the same file (the floor).
    ImportCrm {
        /// Order lines (CSV rows) in the file.
        #[arg(long, default_value_t = 1_000_000)]
        lines: usize,
    },
    /// Flow triggers at random times to random NANP numbers through `flows simulate`'s code
    /// path; checks quiet hours, consent, smart sending and caps on every text sent.
    Flows {
        /// Flow-triggering events (about 1.1 texts' worth each, before skips).
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Seed of the random generator (the same seed replays the same events).
        #[arg(long, default_value_t = 18)]
        seed: u64,
    },
    /// A campaign to a segment of N synthetic customers: segment evaluation and send
    /// planning (time, members per second, peak memory) beside a bare scan of the customers,
    /// then the whole server draining the plan at each rate, measured at the provider.
    Campaign {
        /// Customers in the segment.
        #[arg(long, default_value_t = 1_000_000)]
        recipients: usize,
        /// Seed of the random generator.
        #[arg(long, default_value_t = 18)]
        seed: u64,
        /// A PostgreSQL admin URL (e.g. postgres://postgres:postgres@127.0.0.1/postgres): the
        /// same benchmark on a fresh database there too.
        #[arg(long)]
        postgres: Option<String>,
        /// Plans per backend (medians are reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Seconds the server drains the plan at each rate.
        #[arg(long, default_value_t = 20)]
        drain_seconds: u64,
        /// Messages per second to drain at (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,100")]
        rates: Vec<f64>,
    },
    /// The analytics summary over a million conversations and ten million messages, and the
    /// attribution of late orders (docs/analytics.md).
    Analytics {
        /// Conversations (one customer each) over 90 days.
        #[arg(long, default_value_t = 1_000_000)]
        conversations: usize,
        /// Customer texts (each answered) per conversation, on average; 3.85 makes about ten
        /// messages per conversation.
        #[arg(long, default_value_t = 3.85)]
        exchanges: f64,
        /// Late orders to attribute.
        #[arg(long, default_value_t = 100_000)]
        late_orders: usize,
        /// Warm summaries per backend (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Seed of the random generator.
        #[arg(long, default_value_t = 19)]
        seed: u64,
        /// A PostgreSQL admin URL: the same benchmark on a fresh database there too.
        #[arg(long)]
        postgres: Option<String>,
    },
    /// Product search quality and speed on the ESCI queries and human labels.
    Retrieval {
        /// The ESCI directory (`ubi_ecommerce_products.json.gz`, `qrels.tsv`).
        #[arg(long, default_value = "../shared/data/esci")]
        esci: PathBuf,
        /// Times every query is run for the speed figures.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Sentiment against human ratings (the VADER ground-truth sets): Pearson r, macro-F1.
    Sentiment {
        /// The directory of `tweets_GroundTruth.txt` and `amazonReviewSnippets_GroundTruth.txt`.
        #[arg(long, default_value = "../shared/data/vader_groundtruth")]
        data: PathBuf,
    },
    /// What outbound webhooks add to storing a text (with and without an endpoint, same
    /// run), and deliveries per second to a loopback receiver.
    WebhooksOut {
        /// Texts stored in each of the two databases (and deliveries sent).
        #[arg(long, default_value_t = 2000)]
        texts: usize,
    },
    /// What a turn costs Backtalk itself (every stage but the model's call), per stage.
    Turn {
        /// Texts sent.
        #[arg(long, default_value_t = 450)]
        turns: usize,
        /// Texts per second (low enough that turns do not queue).
        #[arg(long, default_value_t = 30)]
        rate: u32,
    },
    /// Load-test signed inbound webhooks against a release server, beside a bare axum handler.
    Webhook {
        /// Requests per second of the fixed-rate phase.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Load-test Shopify `orders/create` webhooks against a release server, beside a bare
    /// axum handler, then time the queue applying them.
    ShopifyWebhook {
        /// Requests per second of the fixed-rate phase.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// The reviewer console: webhook-to-live-queue latency and the queue page's server time
    /// with many open escalations.
    Console {
        /// Escalating texts timed on the live queue (each phase).
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Open escalations for the full-queue phase.
        #[arg(long, default_value_t = 10_000)]
        escalations: usize,
        /// Queue page loads timed in each phase.
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
    /// A bare axum server answering 200 on the webhook paths: the baseline of `bench webhook`
    /// and `bench shopify-webhook`.
    #[command(hide = true)]
    BareServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
}

/// The load phases of `bench webhook` and `bench shopify-webhook`, besides the rate.
#[derive(Debug, Clone, Copy, Args)]
pub struct LoadArgs {
    /// Seconds of the fixed-rate phase.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Seconds of each saturation phase.
    #[arg(long, default_value_t = 10)]
    pub saturation_duration: u64,
    /// Concurrent connections of the saturation phase.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Jobs the server runs at once (`worker.concurrency`; default: the configuration's). 0
    /// runs none, so the figures are the webhook's alone (the jobs wait in the queue).
    #[arg(long)]
    pub workers: Option<usize>,
    /// The workers' CPU priority below the server's (`worker.nice`, 0–19; default: the
    /// configuration's). 0 runs them on the server's threads.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub worker_nice: Option<i32>,
}
