//! The bodies of the `backtalk` commands, a file per command group, and [`run`], which
//! dispatches a parsed command line to them (`main.rs` only parses and sets up logging).
//!
//! - `serve`: `backtalk serve [--demo]`, the server and its workers.
//! - `chat`: `backtalk chat [--from PHONE]`, the bot in the terminal.
//! - `catalog`: `backtalk index-catalog FILE...`.
//! - `compliance`: `backtalk compliance classify | measure | export`.
//! - `reviewer`: `backtalk reviewer add | token`.
//! - `eval`: `backtalk eval` and `backtalk export-transcripts`.
//! - `bench`: `backtalk bench …`, each benchmark's entry point.
//!
//! `backtalk migrate` and `backtalk webhooks secret` are a few lines each, in [`run`].

mod bench;
mod catalog;
mod chat;
mod compliance;
mod eval;
mod reviewer;
mod serve;

use anyhow::Context;

use crate::cli::{CampaignsCommand, Cli, Command, ComplianceCommand, FlowsCommand, SegmentsCommand, WebhooksCommand};
use crate::config::Config;

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Compliance { command: ComplianceCommand::Classify } => compliance::classify_stdin(),
        Command::Compliance { command: ComplianceCommand::Measure { labelled, ham, cross_validate } } => {
            if cross_validate {
                compliance::cross_validate_optout()
            } else {
                compliance::measure_optout(&labelled, &ham)
            }
        }
        Command::Bench { command } => bench::run(command, cli.config.as_deref()).await,
        Command::Webhooks { command: WebhooksCommand::Secret } => {
            println!("{}", crate::webhooks_out::generate_secret());
            Ok(())
        }
        command => {
            let config = Config::load(cli.config.as_deref())?;
            match command {
                Command::Serve { demo } => serve::serve(config, demo).await,
                Command::Chat { from, demo } => chat::chat(config, from, demo).await,
                Command::Compliance { command: ComplianceCommand::Export { format, phone } } => {
                    compliance::export_ledger(config, format, phone).await
                }
                Command::IndexCatalog { files, strict, full, mapping } => {
                    catalog::index_catalog(config, files, strict, full, mapping).await
                }
                Command::ImportCrm { customers, orders, strict } => {
                    catalog::import_crm(config, customers.as_deref(), orders.as_deref(), strict).await
                }
                Command::Reviewer { command } => reviewer::manage(config, command).await,
                Command::Eval {
                    transcripts,
                    report,
                    baseline,
                    tolerances,
                    llm,
                    cassette,
                    store,
                    concurrency,
                    embeddings,
                    save_baseline,
                } => {
                    let options = crate::eval::Options {
                        transcripts,
                        llm,
                        cassette,
                        store,
                        concurrency,
                        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                        embeddings,
                    };
                    let files = eval::EvalFiles { report, baseline, tolerances, save_baseline };
                    eval::eval(config, &options, &files).await
                }
                Command::ExportTranscripts { since, escalated, out } => {
                    eval::export_transcripts(config, since.as_deref(), escalated, out.as_deref()).await
                }
                Command::Flows { command: FlowsCommand::Validate { dir } } => {
                    validate_flows(&dir.unwrap_or_else(|| config.flows_dir()))
                }
                Command::Flows { command: FlowsCommand::Simulate { events, dir, demo, until, campaigns } } => {
                    simulate_flows(&config, events, dir, demo, until.as_deref(), campaigns).await
                }
                Command::Segments { command: SegmentsCommand::Validate { dir } } => {
                    validate_segments(&dir.unwrap_or_else(|| config.segments_dir()))
                }
                Command::Segments { command: SegmentsCommand::Count { name } } => count_segment(&config, &name).await,
                Command::Campaigns { command: CampaignsCommand::DryRun { file } } => dry_run(&config, &file).await,
                Command::Migrate => {
                    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
                    println!("migrations applied ({})", db.backend());
                    Ok(())
                }
                Command::Compliance { .. } | Command::Bench { .. } | Command::Webhooks { .. } => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

/// The log filter when `BACKTALK_LOG` is not set: warnings only for `chat` and `eval`,
/// info for the rest.
pub fn default_log_filter(command: &Command) -> &'static str {
    // The eval replays hundreds of turns: their per-turn lines would bury its summary. The
    // chat is a conversation in the terminal: log lines between its prompts read as part of it.
    // A simulation prints its own report; the engine's per-step lines would interleave with it.
    let quiet = matches!(
        command,
        Command::Eval { .. }
            | Command::Chat { .. }
            | Command::Flows { command: FlowsCommand::Simulate { .. } }
            | Command::Bench { command: crate::cli::BenchCommand::Flows { .. } }
            | Command::Bench { command: crate::cli::BenchCommand::Campaign { .. } }
    );
    if quiet { "warn" } else { "info,sqlx=warn,tantivy=warn" }
}

/// `backtalk flows validate`: every problem of every flow file, then a summary.
fn validate_flows(dir: &std::path::Path) -> anyhow::Result<()> {
    let (flows, errors) = crate::flows::file::load_dir(dir)?;
    for e in &errors {
        eprintln!("{e}");
    }
    println!("{}: {} flows valid, {} problems", dir.display(), flows.len(), errors.len());
    anyhow::ensure!(errors.is_empty(), "{} problems in the flow files", errors.len());
    Ok(())
}

/// `backtalk segments validate`: every problem of every segment file, then a summary.
fn validate_segments(dir: &std::path::Path) -> anyhow::Result<()> {
    let (segments, errors) = crate::flows::segment::load_dir(dir)?;
    for e in &errors {
        eprintln!("{e}");
    }
    println!("{}: {} segments valid, {} problems", dir.display(), segments.len(), errors.len());
    anyhow::ensure!(errors.is_empty(), "{} problems in the segment files", errors.len());
    Ok(())
}

/// `backtalk segments count NAME`.
async fn count_segment(config: &Config, name: &str) -> anyhow::Result<()> {
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let Some((segment, _)) = crate::flows::segment::find(&db, &config.segments_dir(), name).await? else {
        anyhow::bail!("no segment named {name:?} in {} or the API's", config.segments_dir().display());
    };
    let count = crate::flows::segment::count(&db, &segment, chrono::Utc::now()).await?;
    println!("{name}: {count} customers");
    Ok(())
}

/// `backtalk campaigns dry-run FILE`: the plan's figures as JSON.
async fn dry_run(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    use crate::flows::campaign::{CampaignSpec, Planner, Refused, resolve};
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let spec: CampaignSpec = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let (campaign, segment) = match resolve(&db, &config.segments_dir(), &spec, config.campaigns.rate).await {
        Ok(found) => found,
        Err(Refused::Invalid(problems)) => {
            for (field, why) in &problems {
                eprintln!("{}: {field}: {why}", file.display());
            }
            anyhow::bail!("the campaign has {} problems", problems.len());
        }
        Err(Refused::Store(e)) => return Err(e),
    };
    let planner = Planner::new(&db, config, chrono::Utc::now());
    let summary = planner.plan(&campaign, &segment, |_| async { Ok(()) }).await?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// `backtalk flows simulate`: the report, then a summary.
async fn simulate_flows(
    config: &Config,
    events: std::path::PathBuf,
    dir: Option<std::path::PathBuf>,
    demo: bool,
    until: Option<&str>,
    campaigns: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use crate::flows::simulate::{Options, Sources, format_line, simulate};
    use std::sync::Arc;
    let dir = dir.unwrap_or_else(|| config.flows_dir());
    let (flows, errors) = crate::flows::file::load_dir(&dir)?;
    for e in &errors {
        eprintln!("{e}");
    }
    anyhow::ensure!(errors.is_empty(), "{} problems in the flow files (backtalk flows validate)", errors.len());
    anyhow::ensure!(!flows.is_empty(), "no flows in {}", dir.display());
    let until = match until {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| anyhow::anyhow!("--until {t:?} is not an RFC 3339 time: {e}"))?
                .to_utc(),
        ),
        None => None,
    };
    let scratch = tempfile::tempdir()?;
    let db = crate::store::Db::connect(&format!("sqlite://{}", scratch.path().join("simulate.db").display())).await?;
    // Compose steps are written by the offline responder over the store's catalog (the demo's
    // with --demo), branches read segments from segments.dir.
    let composer =
        crate::pipeline::compose::PipelineComposer::offline(&db, &scratch.path().join("index"), config, demo).await?;
    let mut specs = Vec::new();
    for (file, text) in
        campaigns.map(|d| crate::flows::file::toml_files(&d, "campaigns")).transpose()?.unwrap_or_default()
    {
        specs.push(
            toml::from_str::<crate::flows::campaign::CampaignSpec>(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
        );
    }
    let sources = Sources { composer: Some(Arc::new(composer)), segments_dir: config.segments_dir(), campaigns: specs };
    let options = Options { events, demo, smart_sending: config.smart_sending(), until, sources };
    let (lines, summary) = simulate(&db, crate::flows::set::FlowSet::fixed(flows), &options).await?;
    for line in &lines {
        println!("{}", format_line(line));
    }
    println!(
        "simulated {} events: {} texts sent, {} deferred, {} skipped, {} runs exited",
        summary.events, summary.sent, summary.deferred, summary.skipped, summary.exited
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn filter_of(args: &[&str]) -> &'static str {
        default_log_filter(&Cli::try_parse_from(args).unwrap().command)
    }

    #[test]
    fn chat_and_eval_log_warnings_only_and_serve_logs_info() {
        assert_eq!(filter_of(&["backtalk", "chat"]), "warn");
        assert_eq!(filter_of(&["backtalk", "eval", "eval/transcripts.jsonl"]), "warn");
        assert_eq!(filter_of(&["backtalk", "serve", "--demo"]), "info,sqlx=warn,tantivy=warn");
        assert_eq!(filter_of(&["backtalk", "index-catalog", "products.csv"]), "info,sqlx=warn,tantivy=warn");
    }
}
