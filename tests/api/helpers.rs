//! Shared test helpers: start the real server on port 0 against a fresh database (SQLite
//! or PostgreSQL), with fake Twilio and fake LLM servers, and talk to it over real HTTP.

use std::future::Future;
use std::time::{Duration, Instant};

use backtalk::app::{App, BuildOptions};
use backtalk::config::{Config, LlmFailure, Secret};
use backtalk::store::Db;
use tokio_util::sync::CancellationToken;

use crate::fakes::{FakeEmbeddings, FakeLlm, FakeTwilio};

pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
pub const AUTH_TOKEN: &str = "test-auth-token";
pub const OUR_NUMBER: &str = "+15005550006";
pub const API_TOKEN: &str = "test-api-token";
/// The demo customer with orders (Elyssa Reese).
pub const CUSTOMER: &str = "+14155550123";

/// A test number as the store takes it.
pub fn as_phone(raw: &str) -> backtalk::domain::Phone {
    backtalk::domain::Phone::parse(raw).expect("a valid test number")
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs the test body on one backend; PostgreSQL needs `BACKTALK_TEST_DATABASE_URL`
/// (an admin URL, e.g. `postgres://postgres@127.0.0.1/postgres`). Without it the
/// PostgreSQL variant is skipped locally and fails under CI, where it must run.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if $crate::helpers::postgres_admin_url().is_none() {
                    return;
                }
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    };
}

/// The PostgreSQL admin URL for tests, if configured. Panics under CI when it is missing,
/// so the PostgreSQL half of the suite can never be skipped silently there.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("BACKTALK_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("BACKTALK_TEST_DATABASE_URL must be set under CI (see .ci/run)")
        }
        _ => {
            eprintln!("skipping postgres variant: BACKTALK_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// A database URL for a brand-new, empty database on `backend`.
pub async fn fresh_database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("test.db").display()),
        Backend::Postgres => {
            let admin = postgres_admin_url().expect("postgres admin url");
            let name = format!("backtalk_test_{}_{:016x}", std::process::id(), rand::random::<u64>());
            let pool = sqlx::PgPool::connect(&admin).await.expect("connect to postgres admin database");
            LEFTOVERS_DROPPED.get_or_init(|| drop_leftover_databases(&pool)).await;
            sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                .execute(&pool)
                .await
                .expect("create test database");
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).expect("admin url has a database");
            format!("{base}/{name}")
        }
    }
}

/// Set once this process has dropped the test databases earlier runs left behind.
static LEFTOVERS_DROPPED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Drops the test databases of test processes that have ended. A test's database lives as long
/// as its process (dropping it on `TestApp` drop would need async work in `Drop`), so each run
/// cleans up after the ones before it; without this, thousands of databases piled up and
/// PostgreSQL's crash recovery took minutes to fsync them.
async fn drop_leftover_databases(pool: &sqlx::PgPool) {
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'backtalk\\_test\\_%'")
            .fetch_all(pool)
            .await
            .expect("list test databases");
    for name in names {
        // backtalk_test_{pid}_{random}; older names had no pid and are always left over.
        let owner = name.strip_prefix("backtalk_test_").and_then(|rest| rest.split_once('_')).map(|(pid, _)| pid);
        let alive = owner.is_some_and(|pid| std::path::Path::new("/proc").join(pid).exists());
        if alive {
            continue;
        }
        // Another test process may be dropping the same database: a failure here is not the
        // test's concern.
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {name} with (force)")))
            .execute(pool)
            .await;
    }
}

/// A change to the configuration made at run time ([`TestOptions::adjust`]).
pub type Adjust = Box<dyn FnOnce(&mut Config) + Send>;

/// Options of a test app.
#[derive(Default)]
pub struct TestOptions {
    /// Start a fake LLM and point the config at it (otherwise the offline responder answers).
    pub llm: bool,
    /// LLM deadline in seconds (default 2).
    pub llm_timeout_secs: Option<u64>,
    /// Attempts before a job is dead-lettered (default 5).
    pub max_attempts: Option<i32>,
    /// `pipeline.order_value_escalation_cents` (default $500).
    pub order_value_escalation_cents: Option<i64>,
    /// What time the sender believes it is (quiet hours); default: the system clock.
    pub clock: Option<std::sync::Arc<backtalk::clock::FixedClock>>,
    /// Start a fake embeddings endpoint and point the config at it (hybrid retrieval).
    pub embeddings: bool,
    /// Keep product vectors in Qdrant at this gRPC url (a collection of the test's own),
    /// instead of in process.
    pub qdrant_url: Option<String>,
    /// Outbound webhooks (endpoints, schedule); default: none.
    pub webhooks: Option<backtalk::config::WebhooksConfig>,
    /// Start a fake Telnyx and configure it as a second provider (our number
    /// [`crate::fake_telnyx::TELNYX_NUMBER`]).
    pub telnyx: bool,
    /// Last word on the configuration, after every other option.
    pub configure: Option<fn(&mut Config)>,
    /// As `configure`, for a change that needs values known only at run time (a fake's port).
    pub adjust: Option<Adjust>,
}

/// A running server with its fakes and a handle on its database.
pub struct TestApp {
    pub base_url: String,
    pub config: Config,
    pub db: Db,
    pub twilio: FakeTwilio,
    pub llm: Option<FakeLlm>,
    pub embeddings: Option<FakeEmbeddings>,
    pub telnyx: Option<crate::fake_telnyx::FakeTelnyx>,
    pub http: reqwest::Client,
    cancel: CancellationToken,
    /// The server task; it stops when `cancel` fires (on drop).
    _server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

/// The configuration a test server runs with.
pub fn test_config(dir: &std::path::Path, database_url: String, public_url: String, twilio: &FakeTwilio) -> Config {
    let mut config = Config { data_dir: dir.to_path_buf(), database_url, public_url, ..Config::default() };
    config.twilio.account_sid = ACCOUNT_SID.into();
    config.twilio.auth_token = Secret::new(AUTH_TOKEN);
    config.twilio.api_base = twilio.base_url();
    config.twilio.from = OUR_NUMBER.into();
    config.twilio.timeout_secs = 5;
    // No pacing unless a test asks for it: bursts of texts are the point of many tests.
    config.twilio.segments_per_second = 0.0;
    config.worker.poll_ms = 50;
    config.worker.backoff_base_ms = 50;
    config.worker.backoff_max_secs = 1;
    config.worker.lease_secs = 30;
    config.llm.on_failure = LlmFailure::Escalate;
    // A fast sending number: campaigns in tests set their own rates.
    config.campaigns.rate = 100.0;
    config.api.token = Secret::new(API_TOKEN);
    // Tests run at any hour on the system clock: always open unless a test sets hours and a clock.
    config.business_hours.enabled = false;
    config
}

/// Starts the server on port 0 with the demo store, a fake Twilio and (optionally) a fake LLM.
pub async fn spawn_app(backend: Backend, options: TestOptions) -> TestApp {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
    let dir = tempfile::tempdir().expect("temp dir");
    let twilio = FakeTwilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().unwrap();
    let base_url = format!("http://{addr}");
    let database_url = fresh_database_url(backend, dir.path()).await;
    let mut config = test_config(dir.path(), database_url, base_url.clone(), &twilio);
    if let Some(n) = options.max_attempts {
        config.worker.max_attempts = n;
    }
    if let Some(cents) = options.order_value_escalation_cents {
        config.pipeline.order_value_escalation_cents = cents;
    }
    let llm = if options.llm {
        let llm = FakeLlm::start().await;
        config.llm.base_url = llm.base_url();
        config.llm.model = "fake-chat-model".into();
        config.llm.timeout_secs = options.llm_timeout_secs.unwrap_or(2);
        Some(llm)
    } else {
        None
    };
    let embeddings = if options.embeddings {
        let fake = FakeEmbeddings::start().await;
        config.embeddings.base_url = fake.base_url();
        config.embeddings.model = "fake-embeddings".into();
        if let Some(url) = &options.qdrant_url {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            config.qdrant.url = url.clone();
            config.qdrant.collection = format!("backtalk_test_{}_{nanos}", std::process::id());
        }
        Some(fake)
    } else {
        None
    };
    if let Some(webhooks) = options.webhooks {
        config.webhooks = webhooks;
    }
    let telnyx = if options.telnyx {
        use crate::fake_telnyx::{FakeTelnyx, TELNYX_API_KEY, TELNYX_NUMBER};
        let fake = FakeTelnyx::start().await;
        config.telnyx.api_key = Secret::new(TELNYX_API_KEY);
        config.telnyx.public_key = FakeTelnyx::public_key();
        config.telnyx.api_base = fake.base_url();
        config.telnyx.from = TELNYX_NUMBER.into();
        config.telnyx.timeout_secs = 5;
        config.telnyx.segments_per_second = 0.0;
        Some(fake)
    } else {
        None
    };
    if let Some(configure) = options.configure {
        configure(&mut config);
    }
    if let Some(adjust) = options.adjust {
        adjust(&mut config);
    }
    let clock = options.clock.map(|c| c as std::sync::Arc<dyn backtalk::clock::Clock>);
    let app = App::build(config.clone(), BuildOptions { demo: true, provider: None, clock }).await.expect("app builds");
    let db = app.state.db.clone();
    let cancel = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, cancel.clone()));
    TestApp {
        base_url,
        config,
        db,
        twilio,
        llm,
        embeddings,
        telnyx,
        http: reqwest::Client::new(),
        cancel,
        _server: server,
        _dir: dir,
    }
}

impl TestApp {
    /// Posts a correctly signed inbound text; returns the status and body.
    pub async fn post_inbound(&self, from: &str, body: &str, sid: &str) -> (u16, String) {
        let params = inbound_params(from, body, sid);
        let signature =
            backtalk::sms::signature::compute_signature(AUTH_TOKEN, &self.config.inbound_webhook_url(), &params);
        self.post_form("/webhooks/twilio", &params, Some(&signature)).await
    }

    /// Posts a form with an optional `X-Twilio-Signature`.
    pub async fn post_form(&self, path: &str, params: &[(String, String)], signature: Option<&str>) -> (u16, String) {
        let mut request = self.http.post(format!("{}{path}", self.base_url)).form(params);
        if let Some(sig) = signature {
            request = request.header("X-Twilio-Signature", sig);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Waits until no job is queued or running (every turn and send has finished).
    pub async fn wait_idle(&self) {
        let db = self.db.clone();
        wait_for("the job queue to drain", Duration::from_secs(30), || {
            let db = db.clone();
            async move {
                // One query: read separately, a turn job could finish (and queue its send
                // job) between the "queued" and the "running" count, and both read 0.
                let busy = backtalk::store::with_db!(&db, |p| sqlx::query_scalar::<_, i64>(
                    "select count(*) from jobs where status in ('queued', 'running')"
                )
                .fetch_one(p)
                .await)
                .unwrap();
                busy == 0
            }
        })
        .await;
    }
}

impl TestApp {
    /// Waits until no job is running and every queued job is a flow's wait (due later).
    pub async fn wait_idle_except_waits(&self) {
        let db = self.db.clone();
        wait_for("the job queue to drain but for waits", Duration::from_secs(30), || {
            let db = db.clone();
            async move {
                let now = chrono::Utc::now().timestamp_millis();
                let busy = backtalk::store::with_db!(&db, |p| sqlx::query_scalar::<_, i64>(
                    "select count(*) from jobs
                     where status = 'running' or (status = 'queued' and (kind <> 'flow_step' or run_at_ms <= $1))"
                )
                .bind(now)
                .fetch_one(p)
                .await)
                .unwrap();
                busy == 0
            }
        })
        .await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The form Twilio posts for an inbound SMS (§A1), minimal but real.
pub fn inbound_params(from: &str, body: &str, sid: &str) -> Vec<(String, String)> {
    [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", OUR_NUMBER),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
        ("FromCity", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A fresh Twilio-shaped message sid.
pub fn new_sid() -> String {
    format!("SM{:032x}", rand::random::<u128>())
}

/// Polls `condition` until it holds, or panics naming what it waited for.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Counts rows of a table (tests only; the name is one of ours, never input).
pub async fn count(db: &Db, table: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!("select count(*) from {table}"));
    backtalk::store::with_db!(db, |p| sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).expect("count rows")
}

/// Runs every scenario folder in `tests/{set}` that holds `marker`, in name order, printing
/// each one's problems; fails if any scenario has one, or if there are fewer than `min`.
/// `run` returns a scenario's problems (empty: it passed).
pub async fn run_scenarios<F, Fut>(set: &str, marker: &str, min: usize, run: F)
where
    F: Fn(std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(set);
    let mut scenarios: Vec<std::path::PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("tests/{set}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(marker).is_file())
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= min, "tests/{set} has {} scenarios", scenarios.len());
    let mut failed = Vec::new();
    for dir in &scenarios {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let problems = run(dir.clone()).await;
        if problems.is_empty() {
            eprintln!("ok    {name}");
        } else {
            eprintln!("FAIL  {name}\n      {}", problems.join("\n      "));
            failed.push(name);
        }
    }
    eprintln!("{set}: {}/{} scenarios pass", scenarios.len() - failed.len(), scenarios.len());
    assert!(failed.is_empty(), "failed: {failed:?}");
}

/// What `flows simulate --demo` gives compose and branch steps: compose steps written by the
/// offline responder over the demo catalog (indexed under `scratch`), segments from `segments`.
pub async fn demo_step_sources(
    db: &Db,
    scratch: &std::path::Path,
    segments: std::path::PathBuf,
) -> backtalk::flows::simulate::Sources {
    let composer = backtalk::pipeline::compose::PipelineComposer::offline(
        db,
        &scratch.join("index"),
        &backtalk::config::Config::default(),
        true,
    )
    .await
    .expect("the demo writer");
    backtalk::flows::simulate::Sources {
        composer: Some(std::sync::Arc::new(composer)),
        segments_dir: segments,
        campaigns: vec![],
    }
}

/// `text` with each of the server's tracked links (`{base_url}/l/{code}`) replaced by where it
/// redirects: what a reader reaches by tapping it.
pub async fn expand_links(app: &TestApp, text: &str) -> String {
    let prefix = format!("{}/l/", app.base_url);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut out = text.to_string();
    while let Some(at) = out.find(&prefix) {
        let code: String = out[at + prefix.len()..].chars().take_while(char::is_ascii_alphanumeric).collect();
        let link = format!("{prefix}{code}");
        let r = client.get(&link).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302, "{link}");
        let target = r.headers()["location"].to_str().unwrap().to_string();
        out = out.replacen(&link, &target, 1);
    }
    out
}
