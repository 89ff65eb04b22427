//! LLM cassettes: a small HTTP server between the pipeline's real OpenAI-compatible client
//! and the model.
//!
//! Recording (`--llm live --cassette FILE`), it forwards each request to the configured
//! endpoint and keeps the response under the SHA-256 of the request body. Replaying
//! (`--llm replay --cassette FILE`), it answers each request with the recorded response,
//! byte for byte, and a request it has no recording for with a 404 that the eval reports
//! afterwards, naming the conversation and turn. The file is JSON Lines sorted by hash, so
//! re-recording the same answers changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::transcript::Transcript;

/// One recorded exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// SHA-256 of the request body.
    pub hash: String,
    /// The model the request named.
    pub model: String,
    pub status: u16,
    /// The response body as received.
    pub body: String,
}

enum Mode {
    Record { upstream: String, path: PathBuf, http: reqwest::Client },
    Replay,
}

struct Shared {
    mode: Mode,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Requests a replay had no recording for: (hash, request body).
    misses: Mutex<Vec<(String, String)>>,
}

/// A running cassette server.
pub struct Proxy {
    base_url: String,
    shared: Arc<Shared>,
    _server: tokio::task::JoinHandle<()>,
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Proxy {
    /// Forwards to `upstream` and records into `path` (written by [`Proxy::finish`]).
    pub async fn record(path: &Path, upstream: &str) -> anyhow::Result<Proxy> {
        let http = reqwest::Client::builder().build()?;
        let mode =
            Mode::Record { upstream: upstream.trim_end_matches('/').to_string(), path: path.to_path_buf(), http };
        Proxy::start(mode, BTreeMap::new()).await
    }

    /// Answers from the cassette at `path`.
    pub async fn replay(path: &Path) -> anyhow::Result<Proxy> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the cassette {}", path.display()))?;
        let mut entries = BTreeMap::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let e: Entry = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a cassette entry", path.display(), n + 1))?;
            entries.insert(e.hash.clone(), e);
        }
        Proxy::start(Mode::Replay, entries).await
    }

    async fn start(mode: Mode, entries: BTreeMap<String, Entry>) -> anyhow::Result<Proxy> {
        let shared = Arc::new(Shared { mode, entries: Mutex::new(entries), misses: Mutex::new(vec![]) });
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Proxy { base_url, shared, _server: server })
    }

    /// The base URL to give the pipeline's client.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The model the cassette was recorded with (its first entry's).
    pub fn model(&self) -> Option<String> {
        self.shared.entries.lock().ok()?.values().next().map(|e| e.model.clone())
    }

    /// Writes a recording; for a replay, fails naming each turn whose request was not in
    /// the cassette.
    pub fn finish(&self, transcripts: &[Transcript]) -> anyhow::Result<()> {
        match &self.shared.mode {
            Mode::Record { path, .. } => {
                let entries = self.shared.entries.lock().map_err(|_| anyhow::anyhow!("cassette lock poisoned"))?;
                let mut out = String::new();
                for e in entries.values() {
                    out += &serde_json::to_string(e)?;
                    out.push('\n');
                }
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(path, out).with_context(|| format!("cannot write the cassette {}", path.display()))?;
                Ok(())
            }
            Mode::Replay => {
                let misses = self.shared.misses.lock().map_err(|_| anyhow::anyhow!("cassette lock poisoned"))?;
                if misses.is_empty() {
                    return Ok(());
                }
                let named: Vec<String> = misses
                    .iter()
                    .map(|(hash, body)| format!("{} (request {hash})", which_turn(transcripts, body)))
                    .collect();
                anyhow::bail!(
                    "the cassette has no recording for {} request(s): {}; record it again with --llm live --cassette FILE",
                    misses.len(),
                    named.join("; ")
                )
            }
        }
    }
}

/// The conversation and turn whose text a request carries (the latest turn found).
fn which_turn(transcripts: &[Transcript], body: &str) -> String {
    let mut found = None;
    for t in transcripts {
        for (k, turn) in t.turns.iter().enumerate() {
            let quoted = serde_json::to_string(&turn.inbound).unwrap_or_default();
            if body.contains(quoted.trim_matches('"')) {
                found = Some(format!("conversation {:?} turn {}", t.id, k + 1));
            }
        }
    }
    found.unwrap_or_else(|| "a turn not found in the transcripts".into())
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let hash = sha256(&body);
    if let Some(e) = shared.entries.lock().ok().and_then(|m| m.get(&hash).cloned()) {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::OK);
        return (status, [(axum::http::header::CONTENT_TYPE, "application/json")], e.body).into_response();
    }
    match &shared.mode {
        Mode::Replay => {
            if let Ok(mut m) = shared.misses.lock() {
                m.push((hash.clone(), String::from_utf8_lossy(&body).into_owned()));
            }
            let message = format!("no cassette recording for request {hash}");
            (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": {"message": message}}))).into_response()
        }
        Mode::Record { upstream, http, .. } => {
            let path = uri.path().strip_prefix("/v1").unwrap_or(uri.path());
            let mut request = http.post(format!("{upstream}{path}")).body(body.clone());
            for name in ["authorization", "content-type"] {
                if let Some(v) = headers.get(name) {
                    request = request.header(name, v);
                }
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
            };
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            // Answers and refusals are replayed (llama.cpp refuses a response format with a
            // 500); rate limits and gateway outages are not.
            if !matches!(status, 429 | 502 | 503 | 504) {
                let model = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["model"].as_str().map(str::to_string))
                    .unwrap_or_default();
                if let Ok(mut m) = shared.entries.lock() {
                    m.insert(hash.clone(), Entry { hash, model, status, body: text.clone() });
                }
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, [(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response()
        }
    }
}
