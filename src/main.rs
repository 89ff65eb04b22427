//! The `backtalk` binary: parse the command line, set up logging, dispatch to the library.

use clap::Parser;

use backtalk::cli::{BenchCommand, Cli, Command, ComplianceCommand, ReviewerCommand};
use backtalk::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The eval replays hundreds of turns: their per-turn lines would bury its summary.
    let default = if matches!(cli.command, Command::Eval { .. }) { "warn" } else { "info,sqlx=warn,tantivy=warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BACKTALK_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Compliance { command: ComplianceCommand::Classify } => backtalk::commands::classify_stdin(),
        Command::Compliance { command: ComplianceCommand::Measure { labelled, ham, cross_validate } } => {
            if cross_validate {
                backtalk::commands::cross_validate_optout()
            } else {
                backtalk::commands::measure_optout(&labelled, &ham)
            }
        }
        Command::Bench { command: BenchCommand::Import { products } } => {
            backtalk::commands::bench_import(products).await
        }
        Command::Bench { command: BenchCommand::Retrieval { esci, rounds } } => {
            let config = Config::load(cli.config.as_deref())?;
            let embeddings =
                (!config.embeddings.base_url.is_empty()).then(|| backtalk::bench_retrieval::EmbeddingEndpoint {
                    base_url: config.embeddings.base_url.clone(),
                    model: config.embeddings.model.clone(),
                    document_model: config.embeddings.document_model().to_string(),
                });
            backtalk::bench_retrieval::run(&esci, rounds, embeddings).await
        }
        Command::Bench { command: BenchCommand::Turn { turns, rate } } => backtalk::bench::turn(turns, rate).await,
        Command::Bench { command: BenchCommand::Console { runs, escalations, requests } } => {
            backtalk::bench_console::run(runs, escalations, requests).await
        }
        Command::Bench { command: BenchCommand::Sentiment { data } } => backtalk::bench_sentiment::run(&data),
        Command::Bench { command: BenchCommand::BareServer { listen } } => backtalk::bench::bare_server(&listen).await,
        Command::Bench { command: BenchCommand::Webhook { rate, duration, saturation_duration, connections } } => {
            backtalk::bench::webhook(rate, duration, saturation_duration, connections).await
        }
        command => {
            let config = Config::load(cli.config.as_deref())?;
            match command {
                Command::Serve { demo } => backtalk::commands::serve(config, demo).await,
                Command::Chat { from, demo } => backtalk::commands::chat(config, from, demo).await,
                Command::Compliance { command: ComplianceCommand::Export { format, phone } } => {
                    backtalk::commands::export_ledger(config, format, phone).await
                }
                Command::IndexCatalog { files, strict, full, mapping } => {
                    backtalk::commands::index_catalog(config, files, strict, full, mapping).await
                }
                Command::Reviewer { command: ReviewerCommand::Add { name } } => {
                    backtalk::commands::add_reviewer(config, &name).await
                }
                Command::Reviewer { command: ReviewerCommand::Token { name, label } } => {
                    backtalk::commands::issue_api_token(config, &name, &label).await
                }
                Command::Eval {
                    transcripts,
                    report,
                    baseline,
                    tolerances,
                    llm,
                    cassette,
                    store,
                    concurrency,
                    save_baseline,
                } => {
                    let options = backtalk::eval::Options {
                        transcripts,
                        llm,
                        cassette,
                        store,
                        concurrency,
                        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                    };
                    let files = backtalk::commands::EvalFiles { report, baseline, tolerances, save_baseline };
                    backtalk::commands::eval(config, &options, &files).await
                }
                Command::ExportTranscripts { since, escalated, out } => {
                    backtalk::commands::export_transcripts(config, since.as_deref(), escalated, out.as_deref()).await
                }
                Command::Migrate => {
                    let db = backtalk::store::Db::connect(&config.effective_database_url()).await?;
                    println!("migrations applied ({})", db.backend());
                    Ok(())
                }
                _ => unreachable!("handled above"),
            }
        }
    }
}
