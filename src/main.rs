//! The `backtalk` binary: parse the command line, set up logging, dispatch to the library
//! ([`backtalk::commands::run`]).

use clap::Parser;

use backtalk::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default = backtalk::commands::default_log_filter(&cli.command);
    let filter = tracing_subscriber::EnvFilter::try_from_env("BACKTALK_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match backtalk::commands::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
