//! Backtalk: a self-hosted conversational SMS service for retailers.
//!
//! An inbound text arrives on a provider webhook, is stored with its turn job in one
//! transaction, and a worker runs the turn: compliance gate → context (thread + CRM) →
//! retrieve (catalog + policies) → generate (LLM or offline responder) → guard (claims,
//! segments) → score (confidence, sentiment) → route (reply, or escalate to a person).
//!
//! # Layout
//! Imports point downward: `http → pipeline → {compliance, crm, catalog, llm, guard, score,
//! escalation, sms} → store → domain`.

/// Wiring: database, index, generator, provider, router, workers; graceful shutdown.
pub mod app;
/// Reviewer credentials: password hashes and tokens.
pub mod auth;
/// The webhook load benchmark.
pub mod bench;
/// `backtalk bench console`: the live queue's latency and the queue page's server time.
pub mod bench_console;
pub mod bench_retrieval;
/// `backtalk bench sentiment`.
pub mod bench_sentiment;
/// Product catalog records and the tantivy search index.
pub mod catalog;
/// The command line (argument definitions).
pub mod cli;
/// Time, swappable in tests.
pub mod clock;
/// The bodies of the commands: serve, chat, compliance classify.
pub mod commands;
/// Keyword opt-out/opt-in/help and the consent gate before every send.
pub mod compliance;
/// Typed settings from a TOML file and `BACKTALK_*` variables.
pub mod config;
/// Customer profile and purchase history; CRM import.
pub mod crm;
/// The bundled demo store.
pub mod demo;
/// Validated value types and the facts of a turn; no IO.
pub mod domain;
/// Escalation rules, and what a reviewer can do to an escalation (console and JSON API).
pub mod escalation;
/// `backtalk eval`: transcript replay, metrics, reports, the baseline gate.
pub mod eval;
/// Claim verification and reply shaping.
pub mod guard;
/// HTTP routers: webhooks, health, metrics.
pub mod http;
/// The durable job queue's workers and retry policy.
pub mod jobs;
/// The OpenAI-compatible client, prompts, token counting, the offline responder.
pub mod llm;
/// The turn, top to bottom.
pub mod pipeline;
/// Confidence and sentiment.
pub mod score;
/// SMS providers, the outbound sender, segments and signatures.
pub mod sms;
/// All SQL.
pub mod store;
/// Small text helpers.
pub mod text;
