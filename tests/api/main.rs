//! End-to-end tests: the real server on port 0, real HTTP, real databases (SQLite, and
//! PostgreSQL when `BACKTALK_TEST_DATABASE_URL` is set), fake Twilio and LLM servers that
//! speak the real wire formats.

mod analytics;
mod attribution;
mod browser;
mod campaigns;
mod campaigns_blind;
mod catalog;
mod chat;
mod console;
mod crash;
mod delivery;
mod dialogue;
mod engine;
mod eval;
mod fake_cdn;
mod fake_qdrant;
mod fake_smtp;
mod fake_telnyx;
mod fakes;
mod flows;
mod flows_blind;
mod hardening;
mod helpers;
mod hours;
mod import_crm;
mod ingest;
mod links;
mod migrations;
mod mms;
mod notify;
mod proactive;
mod replicas;
mod shopify_blind;
mod shopify_catalog;
mod shopify_webhooks;
mod telnyx;
mod turn;
mod turn_job;
mod webhook;
mod webhooks_out;
