//! Backtalk: a self-hosted conversational SMS service for retailers.
//!
//! An inbound text arrives on a provider webhook, is stored with its turn job in one
//! transaction, and a worker runs the turn: compliance gate → context (thread + CRM) →
//! retrieve (catalog + policies) → generate (LLM or offline responder) → guard (claims,
//! segments) → score (confidence, sentiment) → route (reply, or escalate to a person).
//!
//! # Layout
//!
//! The binary (`main.rs`) parses the command line ([`cli`]), sets up logging and calls
//! [`commands::run`]; everything else is this library.
//!
//! - Entry points: [`commands`] (a file per command group), [`app`] (the wiring `serve`
//!   and `chat` share), [`http`] (the routers), [`eval`] and the benchmarks ([`bench`]).
//! - The turn: [`pipeline`] runs it, in order: the [`compliance`] gate, context from
//!   [`crm`], retrieval from [`catalog`], a draft from [`llm`], the [`guard`], [`score`],
//!   and the [`escalation`] rules (with `escalation::review`, what a reviewer does);
//!   [`sms`] sends the replies.
//! - Beneath: [`store`] (all SQL) and [`jobs`] (the durable queue's workers), over
//!   [`domain`] (value types, a turn's facts and draft, intent and segment counting; no IO).
//! - Around the turn: [`webhooks_out`] tells the brand's systems what happened (signed
//!   outbound webhooks).
//! - Shared: [`config`], [`clock`], [`auth`], [`text`], [`rows`] (record files for the
//!   imports), and the [`demo`] store.
//!
//! Imports point downward: `http → pipeline → {compliance, crm, catalog, llm, guard, score,
//! escalation, sms} → store → domain`.

/// What the texts earned: definitions, attribution, summaries, deliverability alerts.
pub mod analytics;
/// Wiring: database, index, generator, provider, router, workers; graceful shutdown.
pub mod app;
/// Reviewer credentials: password hashes and tokens.
pub mod auth;
/// The benchmarks (`backtalk bench ...`): webhook, turn, console, retrieval, sentiment.
pub mod bench;
/// The product catalog: records, import, the tantivy index, query understanding, vectors
/// and hybrid fusion.
pub mod catalog;
/// The command line (argument definitions).
pub mod cli;
/// Time, swappable in tests.
pub mod clock;
/// The `backtalk` commands, a file per command group, and their dispatch.
pub mod commands;
/// Store data in: Shopify webhooks and the events API, applied to the CRM as one kind of change.
pub mod commerce;
/// What a text says about consent (keywords, natural-language rules, a small model), quiet
/// hours and caps.
pub mod compliance;
/// Typed settings from a TOML file and `BACKTALK_*` variables.
pub mod config;
/// Customer profile and purchase history; CRM import.
pub mod crm;
/// The bundled demo store.
pub mod demo;
/// Validated value types, a turn's facts and draft, message intent, SMS segment counting;
/// no IO.
pub mod domain;
/// When a person takes over: the routing rules of a turn, and what a reviewer does to an
/// escalation (`escalation::review`, for the console and the JSON API).
pub mod escalation;
/// `backtalk eval`: transcript replay, metrics, reports, the baseline gate.
pub mod eval;
/// Flows: conversations the brand starts, as TOML files (reading and checking them so far).
pub mod flows;
/// Every draft checked before it is sent: claims against the facts, links, segments.
pub mod guard;
/// HTTP routers: webhooks, the JSON API, the reviewer console, health, metrics.
pub mod http;
/// The durable job queue's workers and retry policy.
pub mod jobs;
/// The OpenAI-compatible client, prompts, token counting, the offline responder.
pub mod llm;
/// The turn, top to bottom.
pub mod pipeline;
/// Reading record files (JSON Lines or CSV, optionally gzip) row by row, for the imports.
pub mod rows;
/// Confidence and sentiment.
pub mod score;
/// SMS providers, the one outbound path (outbox row + send job), the sender, signatures.
pub mod sms;
/// All SQL, one file per aggregate; the embedded migrations.
pub mod store;
/// Small text helpers.
pub mod text;
/// Signed outbound webhooks (Standard Webhooks): signing, delivery with retries.
pub mod webhooks_out;
