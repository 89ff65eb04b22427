//! A fake SMTP relay speaking the real protocol (RFC 5321) with STARTTLS (RFC 3207) and
//! AUTH PLAIN (RFC 4616): it offers STARTTLS before TLS and AUTH only after it, with a
//! certificate signed by a private CA made at start ([`FakeSmtp::ca_pem`], which the server
//! under test must be told to trust). It records every mail it accepts; a `5xx` can be
//! queued for the next `MAIL FROM`.
//!
//! And a fake Slack-compatible incoming webhook: JSON `{"text": …}` posts, answered `ok`, or
//! with a queued status.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

use crate::fakes::{RunningServer, lock};

/// One accepted mail.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed).
    pub data: String,
    /// Whether the session had been upgraded with STARTTLS when the mail was sent.
    pub tls: bool,
    /// The `authcid` of AUTH PLAIN, when the client logged in.
    pub user: Option<String>,
}

#[derive(Default)]
struct SmtpState {
    mails: Vec<Mail>,
    refuse_next: VecDeque<String>,
}

/// The fake relay on `127.0.0.1:PORT`, named `localhost` in its certificate.
pub struct FakeSmtp {
    pub port: u16,
    ca_pem: String,
    state: Arc<Mutex<SmtpState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA and a `localhost` certificate it signed.
fn certificates() -> (String, rustls::ServerConfig) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Backtalk test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = rcgen::KeyPair::generate().expect("server key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("server params")
        .signed_by(&key, &ca, &ca_key)
        .expect("server certificate");
    let chain = vec![leaf.der().clone()];
    let private = pki_types::PrivateKeyDer::Pkcs8(pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .expect("server TLS config");
    (ca.pem(), config)
}

#[allow(dead_code)]
impl FakeSmtp {
    pub async fn start() -> FakeSmtp {
        let (ca_pem, tls) = certificates();
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake SMTP port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(SmtpState::default()));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, state) = (acceptor.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let mut plain = BufReader::new(stream);
                    if let Some(Next::StartTls) = session(&mut plain, false, &state).await {
                        let Ok(upgraded) = acceptor.accept(plain.into_inner()).await else { return };
                        session(&mut BufReader::new(upgraded), true, &state).await;
                    }
                });
            }
        });
        FakeSmtp { port, ca_pem, state, task }
    }

    /// The CA certificate (PEM) that signed the relay's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Answers the next `MAIL FROM` with `reply` (e.g. `550 5.7.1 relay denied`).
    pub fn refuse_next(&self, reply: &str) {
        lock(&self.state).refuse_next.push_back(reply.to_string());
    }

    pub fn mails(&self) -> Vec<Mail> {
        lock(&self.state).mails.clone()
    }

    /// Waits until `n` mails were accepted; panics after `timeout`.
    pub async fn wait_for_mails(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(Instant::now() < deadline, "the SMTP relay got {} mails, expected {n}", mails.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

enum Next {
    StartTls,
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut BufReader<S>, text: &str) -> bool {
    stream.get_mut().write_all(format!("{text}\r\n").as_bytes()).await.is_ok() && stream.get_mut().flush().await.is_ok()
}

/// One SMTP session until QUIT, a dropped connection, or STARTTLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    tls: bool,
    state: &Mutex<SmtpState>,
) -> Option<Next> {
    if !tls && !reply(stream, "220 localhost fake ESMTP").await {
        return None;
    }
    let (mut from, mut to, mut user) = (String::new(), Vec::new(), None);
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let command = line.trim_end().to_string();
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let ok = match verb.as_str() {
            "EHLO" | "HELO" => {
                let offer = if tls { "250-AUTH PLAIN" } else { "250-STARTTLS" };
                reply(stream, &format!("250-localhost\r\n{offer}\r\n250 8BITMIME")).await
            }
            "STARTTLS" if !tls => {
                reply(stream, "220 2.0.0 ready to start TLS").await;
                return Some(Next::StartTls);
            }
            "AUTH" if tls => {
                let encoded = command.split(' ').nth(2).unwrap_or("");
                let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
                let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
                user = parts.get(1).map(|u| String::from_utf8_lossy(u).to_string());
                reply(stream, "235 2.7.0 authenticated").await
            }
            "MAIL" => {
                let refused = lock(state).refuse_next.pop_front();
                match refused {
                    Some(r) => reply(stream, &r).await,
                    None => {
                        from = command[10..].trim().to_string();
                        to.clear();
                        reply(stream, "250 2.1.0 ok").await
                    }
                }
            }
            "RCPT" => {
                to.push(command[8..].trim().to_string());
                reply(stream, "250 2.1.5 ok").await
            }
            "DATA" => {
                reply(stream, "354 end with <CRLF>.<CRLF>").await;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if stream.read_line(&mut l).await.ok()? == 0 {
                        return None;
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                let mail = Mail { from: from.clone(), to: to.clone(), data, tls, user: user.clone() };
                lock(state).mails.push(mail);
                reply(stream, "250 2.0.0 queued").await
            }
            "RSET" | "NOOP" => reply(stream, "250 2.0.0 ok").await,
            "QUIT" => {
                reply(stream, "221 2.0.0 bye").await;
                return None;
            }
            _ => reply(stream, "502 5.5.2 command not recognised").await,
        };
        if !ok {
            return None;
        }
    }
}

#[derive(Default)]
struct SlackState {
    posts: Vec<Value>,
    failures: VecDeque<StatusCode>,
}

/// A Slack-compatible incoming webhook at `/services/T000/B000/XXXX`.
pub struct FakeSlack {
    server: RunningServer,
    state: Arc<Mutex<SlackState>>,
}

async fn slack_post(State(state): State<Arc<Mutex<SlackState>>>, Json(body): Json<Value>) -> Response {
    let mut s = lock(&state);
    if let Some(status) = s.failures.pop_front() {
        return (status, "failure").into_response();
    }
    if body.get("text").and_then(Value::as_str).is_none_or(str::is_empty) {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    }
    s.posts.push(body);
    (StatusCode::OK, "ok").into_response()
}

#[allow(dead_code)]
impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let state = Arc::new(Mutex::new(SlackState::default()));
        let router = Router::new().route("/services/T000/B000/XXXX", post(slack_post)).with_state(Arc::clone(&state));
        FakeSlack { server: RunningServer::start(router).await, state }
    }

    pub fn url(&self) -> String {
        format!("{}/services/T000/B000/XXXX", self.server.url())
    }

    /// Answers the next `n` posts with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        let status = StatusCode::from_u16(status).unwrap();
        lock(&self.state).failures.extend(std::iter::repeat_n(status, n));
    }

    /// The texts posted and accepted.
    pub fn texts(&self) -> Vec<String> {
        lock(&self.state).posts.iter().filter_map(|p| p["text"].as_str().map(str::to_string)).collect()
    }

    pub async fn wait_for_texts(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let texts = self.texts();
            if texts.len() >= n {
                return texts;
            }
            assert!(Instant::now() < deadline, "the chat webhook got {} posts, expected {n}", texts.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
