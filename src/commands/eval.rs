//! `backtalk eval` (replay transcripts, report, gate) and `backtalk export-transcripts`
//! (conversations from the database as transcripts).

use anyhow::Context;

use crate::config::Config;

/// The files `backtalk eval` reads and writes.
#[derive(Debug, Clone)]
pub struct EvalFiles {
    /// Directory for report.json and report.html.
    pub report: std::path::PathBuf,
    /// A saved report.json to compare with (`--baseline`).
    pub baseline: Option<std::path::PathBuf>,
    /// The tolerances of that comparison (`--tolerances`).
    pub tolerances: std::path::PathBuf,
    /// Where to write this run's metrics as the new baseline (`--save-baseline`).
    pub save_baseline: Option<std::path::PathBuf>,
}

/// `backtalk eval`: runs, prints the summary, writes `report.json` and `report.html`, and
/// fails (non-zero exit) when the gate does.
pub async fn eval(config: Config, options: &crate::eval::Options, files: &EvalFiles) -> anyhow::Result<()> {
    let report = crate::eval::run(config, options).await?;
    print!("{}", report.summary());
    let dir = &files.report;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_value(&report)?;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(&json)? + "\n")?;
    std::fs::write(dir.join("report.html"), crate::eval::html::render(&report))?;
    println!("report: {}", dir.join("report.html").display());
    let baseline = match &files.baseline {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the baseline {}", path.display()))?;
            Some(
                serde_json::from_str::<serde_json::Value>(&text)
                    .with_context(|| format!("{}: not a report.json", path.display()))?,
            )
        }
        None => None,
    };
    let tolerances = if baseline.is_some() || files.tolerances.exists() {
        crate::eval::gate::Tolerances::load(&files.tolerances)?
    } else {
        crate::eval::gate::Tolerances { higher_is_better: Default::default(), lower_is_better: Default::default() }
    };
    let failed = crate::eval::gate::check(&json, baseline.as_ref(), &tolerances);
    if !failed.is_empty() {
        anyhow::bail!("the eval gate failed:\n  {}", failed.join("\n  "));
    }
    if baseline.is_some() {
        println!("gate: passed against the baseline");
    }
    if let Some(path) = &files.save_baseline {
        let baseline = crate::eval::report::baseline_of(&json);
        std::fs::write(path, serde_json::to_string_pretty(&baseline)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("baseline saved: {}", path.display());
    }
    Ok(())
}

/// `backtalk export-transcripts`.
pub async fn export_transcripts(
    config: Config,
    since: Option<&str>,
    escalated: bool,
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let since = match since {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| anyhow::anyhow!("--since {d:?}: expected YYYY-MM-DD"))?
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
        None => chrono::DateTime::<chrono::Utc>::MIN_UTC,
    };
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let options = crate::eval::export::ExportOptions { since, escalated_only: escalated };
    let transcripts = crate::eval::export::export(&db, &options).await?;
    match out {
        Some(path) => crate::eval::export::write(&transcripts, std::fs::File::create(path)?)?,
        None => crate::eval::export::write(&transcripts, std::io::stdout().lock())?,
    }
    eprintln!("{} conversations exported", transcripts.len());
    Ok(())
}
