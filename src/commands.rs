//! The bodies of the commands: `serve`, `chat`, `compliance classify`.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::Context;

use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use crate::app::{self, App, BuildOptions};
use crate::compliance;
use crate::config::Config;
use crate::demo::DEMO_PHONE;
use crate::domain::Phone;
use crate::jobs;
use crate::pipeline::ingest::{Inbound, ingest};
use crate::sms::print::PrintProvider;
use crate::store::{crm, escalations, turns};

/// `backtalk serve [--demo]`: runs until ctrl-c or SIGTERM.
pub async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let listen = config.listen;
    let app = App::build(config, BuildOptions { demo, provider: None, clock: None }).await?;
    let listener = app::bind(listen).await?;
    let addr = listener.local_addr()?;
    let config = app.state.config.clone();
    println!("backtalk listening on http://{addr}");
    println!("  inbound webhook (give this URL to Twilio): {}", config.inbound_webhook_url());
    println!("  status callback:  {}", config.status_webhook_url());
    println!("  health: http://{addr}/healthz  ready: http://{addr}/readyz  metrics: http://{addr}/metrics");
    println!("  database: {}  generator: {}", app.state.db.backend(), app.worker.deps.generator.model());
    if demo {
        println!("\nTry it: text the demo store as Elyssa (a demo customer):\n");
        println!("{}\n", app::signed_curl_example(&config, DEMO_PHONE, "do you have the blouse in black?"));
    }
    std::io::stdout().flush()?;
    let cancel = CancellationToken::new();
    app::cancel_on_signals(cancel.clone());
    app.run(listener, cancel).await
}

/// `backtalk chat [--from PHONE]`: each line typed is an inbound text; replies print as
/// `bot>` lines. The full pipeline runs, outbox and consent check included; only the
/// provider is replaced by the terminal.
pub async fn chat(config: Config, from: Option<String>, demo: bool) -> anyhow::Result<()> {
    let provider = Arc::new(PrintProvider::new("bot>", false));
    let app = App::build(config, BuildOptions { demo, provider: Some(provider), clock: None }).await?;
    let phone = Phone::parse(from.as_deref().unwrap_or(DEMO_PHONE)).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let db = app.state.db.clone();
    let who = crm::customer_by_phone(&db, phone.as_str())
        .await?
        .and_then(|c| c.name)
        .unwrap_or_else(|| "a new customer".into());
    println!("texting {} as {who} ({}); type a message, ctrl-d to quit", app.state.config.brand.name, phone.as_str());
    let worker_config = app.state.config.worker.clone();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        print!("you> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next_line().await? else {
            break;
        };
        if line.trim().is_empty() {
            continue;
        }
        let inbound = Inbound {
            provider_sid: format!("CHAT{:032x}", rand::random::<u128>()),
            from: phone.clone(),
            to: "terminal".into(),
            body: line,
        };
        let ingested = ingest(&db, &inbound, worker_config.max_attempts).await?;
        jobs::drain(&db, app.worker.as_ref(), &worker_config).await?;
        if let crate::pipeline::ingest::Ingested::New(id) = ingested
            && let Some(turn) = turns::turn_for_message(&db, id).await?
        {
            match turn.audit.decision.as_str() {
                "escalate" => {
                    let conversation = crate::store::conversations::message(&db, id).await?.conversation_id;
                    let reasons: Vec<String> = escalations::escalations_for_conversation(&db, conversation)
                        .await?
                        .into_iter()
                        .filter(|e| e.turn_id == Some(turn.id))
                        .map(|e| e.reason)
                        .collect();
                    println!(
                        "   (handed to a person: {}; confidence {:.2})",
                        reasons.join(", "),
                        turn.audit.confidence
                    );
                }
                "human_owned" => {
                    println!("   (a person owns this conversation; the bot stays quiet)")
                }
                _ => {}
            }
        }
    }
    println!();
    Ok(())
}

/// `backtalk compliance classify`: one JSON object per stdin line.
pub fn classify_stdin() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let text = line?;
        writeln!(out, "{}", compliance::classify_line(&text))?;
    }
    Ok(())
}

/// `backtalk compliance measure --cross-validate`: each labelled set scored by the rules
/// alone and with a model trained without it; the ham in two folds.
pub fn cross_validate_optout() -> anyhow::Result<()> {
    use crate::compliance::measure;
    let cv = measure::cross_validate()?;
    let pct = |(r, p, c): (f64, f64, f64)| {
        format!("recall {:.1}%  precision {:.1}%  caught or escalated {:.1}%", 100.0 * r, 100.0 * p, 100.0 * c)
    };
    for set in &cv.sets {
        let s = &set.with_model;
        println!("{} ({} opt-outs)", set.name, s.opt_out_lines);
        println!(
            "  rules only:       {}",
            pct((set.rules_only.recall, set.rules_only.precision, set.rules_only.caught_or_escalated))
        );
        println!("  rules + model:    {}", pct((s.recall, s.precision, s.caught_or_escalated)));
        for m in &s.misses {
            println!("    miss: {:?} labelled {} got {}", m.text, m.label, m.got);
        }
    }
    println!("all sets, pooled");
    println!("  rules only:       {}", pct(cv.pooled_rules_only));
    println!("  rules + model:    {}", pct(cv.pooled_with_model));
    println!(
        "SMS Spam Collection ham (two folds): {} messages, {} opted out = {:.3}%, {} escalated",
        cv.ham.ham_messages,
        cv.ham.opted_out.len(),
        100.0 * cv.ham.false_positive_rate,
        cv.ham.escalated.len()
    );
    for (text, rule) in &cv.ham.opted_out {
        println!("  flagged: {text:?} ({rule})");
    }
    let (r, p, c) = cv.pooled_with_model;
    println!(
        "{}",
        serde_json::json!({"pooled_recall": r, "pooled_precision": p, "pooled_caught_or_escalated": c, "ham_false_positive_rate": cv.ham.false_positive_rate})
    );
    Ok(())
}

/// `backtalk compliance measure`: the opt-out classifier's figures.
pub fn measure_optout(labelled: &std::path::Path, ham: &std::path::Path) -> anyhow::Result<()> {
    use crate::compliance::measure;
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    let scores = measure::score_labelled(&read(labelled)?)?;
    let collection = read(ham)?;
    let ham_scores = measure::score_ham(&collection);
    let texts: Vec<&str> = collection.lines().filter_map(|l| l.split_once('\t').map(|(_, t)| t)).collect();
    let (median_us, p99_us) = measure::time_per_message(&texts, 5);
    println!("labelled set: {} lines, {} opt-outs", scores.lines, scores.opt_out_lines);
    println!(
        "  recall {:.2}%  precision {:.2}%  opt-outs caught or escalated {:.2}%",
        100.0 * scores.recall,
        100.0 * scores.precision,
        100.0 * scores.caught_or_escalated
    );
    let (o, e, n) = scores.possible_outcomes;
    println!("  lines labelled possible: {o} opted out, {e} escalated, {n} let through");
    for m in &scores.misses {
        println!("  miss: {:?} labelled {} got {}", m.text, m.label, m.got);
    }
    println!("SMS Spam Collection ham: {} messages", ham_scores.ham_messages);
    println!(
        "  opted out (false positives): {} = {:.3}%",
        ham_scores.opted_out.len(),
        100.0 * ham_scores.false_positive_rate
    );
    for (text, rule) in &ham_scores.opted_out {
        println!("  flagged: {text:?} ({rule})");
    }
    println!("  escalated as possible opt-outs: {}", ham_scores.escalated.len());
    for (text, rule) in &ham_scores.escalated {
        println!("  escalated: {text:?} ({rule})");
    }
    println!("classification time per message: median {median_us:.2} µs, p99 {p99_us:.2} µs");
    let summary = serde_json::json!({
        "recall": scores.recall, "precision": scores.precision, "labelled_lines": scores.lines,
        "ham_messages": ham_scores.ham_messages, "ham_false_positives": ham_scores.opted_out.len(),
        "ham_false_positive_rate": ham_scores.false_positive_rate, "ham_escalated": ham_scores.escalated.len(),
        "median_us": median_us, "p99_us": p99_us,
    });
    println!("{summary}");
    Ok(())
}

/// `backtalk compliance export`: the consent ledger as CSV or JSON Lines on stdout.
pub async fn export_ledger(
    config: Config,
    format: crate::cli::ExportFormat,
    phone: Option<String>,
) -> anyhow::Result<()> {
    let phone = phone.map(|p| Phone::parse(&p).map_err(|e| anyhow::anyhow!("--phone: {e}"))).transpose()?;
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let events = crate::store::consent::ledger(&db, phone.as_ref().map(Phone::as_str)).await?;
    let mut out = std::io::stdout().lock();
    match format {
        crate::cli::ExportFormat::Json => {
            for e in &events {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
        }
        crate::cli::ExportFormat::Csv => {
            writeln!(out, "id,created_at,phone,kind,source,scope,evidence_message_id,evidence_text")?;
            for e in &events {
                let fields = [
                    e.id.to_string(),
                    e.created_at.to_rfc3339(),
                    e.phone.clone(),
                    e.kind.clone(),
                    e.source.clone(),
                    e.scope.clone(),
                    e.evidence_message_id.map(|i| i.to_string()).unwrap_or_default(),
                    e.evidence_text.clone().unwrap_or_default(),
                ];
                writeln!(out, "{}", fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","))?;
            }
        }
    }
    Ok(())
}

/// RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// `backtalk index-catalog FILE...`: validate and import; bad lines are listed with their
/// file and line number.
pub async fn index_catalog(
    config: Config,
    files: Vec<std::path::PathBuf>,
    strict: bool,
    full: bool,
    mapping: Vec<String>,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;

    use crate::catalog::import::{ImportOptions, import_files, parse_mapping};
    let mapping = mapping.iter().map(|m| parse_mapping(m)).collect::<anyhow::Result<Vec<_>>>()?;
    for f in &files {
        anyhow::ensure!(f.is_file(), "{}: no such file", f.display());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create data dir {}", config.data_dir.display()))?;
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let index = std::sync::Arc::new(crate::catalog::SearchIndex::open_or_create(&config.data_dir.join("index"))?);
    if index.num_docs() == 0 {
        // A new index (or one recreated for a newer schema) starts from what SQL holds, so
        // an upsert import leaves the products it does not name searchable.
        crate::demo::rebuild_index(&db, &index).await?;
    }
    let options = ImportOptions { strict, full, mapping, progress: std::io::stderr().is_terminal() };
    let started = std::time::Instant::now();
    let import_began = chrono::Utc::now();
    let report = import_files(&db, &index, &files, &options).await?;
    // With an embedding endpoint, the changed products get vectors too (all of them after
    // --full); a running server reloads the vector file at its next search.
    if let Some(semantic) =
        crate::catalog::semantic::Semantic::open(&config.embeddings, &config.qdrant, &config.data_dir)?
    {
        // After --full, or when the store is empty (a new embedding model, a deleted file),
        // every product is embedded; otherwise those this import changed.
        let everything = full || semantic.len().await? == 0;
        let rows = if everything {
            crate::store::catalog::all_products(&db).await?
        } else {
            crate::store::catalog::products_updated_since(&db, import_began).await?
        };
        let docs: Vec<crate::catalog::ProductDoc> = rows.iter().map(crate::catalog::ProductDoc::from_row).collect();
        semantic
            .embed_products(&docs, everything)
            .await
            .context("products were indexed, but embedding them failed (re-run the import)")?;
        println!("embedded {} products ({} with vectors)", docs.len(), semantic.len().await?);
    }
    for bad in &report.bad_lines {
        eprintln!("skipped {bad}");
    }
    if !report.ignored_fields.is_empty() {
        let list: Vec<&str> = report.ignored_fields.iter().map(String::as_str).collect();
        eprintln!("ignored fields (not in the catalog format; map them with --map OURS=THEIRS): {}", list.join(", "));
    }
    println!(
        "indexed {} products and {} policies in {:.1} s; {} bad lines skipped{}",
        report.products,
        report.policies,
        started.elapsed().as_secs_f64(),
        report.bad_lines.len(),
        if full { format!("; {} products not in the files deleted", report.deleted) } else { String::new() }
    );
    Ok(())
}

/// `backtalk bench import --products N`.
pub async fn bench_import(n: usize) -> anyhow::Result<()> {
    use std::io::IsTerminal;

    use crate::bench_retrieval::{peak_rss_mib, write_synthetic_catalog};
    use crate::catalog::import::{ImportOptions, import_files};
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("synthetic.jsonl");
    write_synthetic_catalog(&file, n)?;
    let size_mib = std::fs::metadata(&file)?.len() as f64 / 1_048_576.0;
    let db = crate::store::Db::connect(&format!("sqlite://{}", dir.path().join("bench.db").display())).await?;
    let index = crate::catalog::SearchIndex::open_or_create(&dir.path().join("index"))?;
    let before = peak_rss_mib().unwrap_or(f64::NAN);
    let started = std::time::Instant::now();
    let options = ImportOptions { progress: std::io::stderr().is_terminal(), ..Default::default() };
    let report = import_files(&db, &index, &[file], &options).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    println!(
        "imported {} products ({size_mib:.1} MiB of JSON lines) in {seconds:.1} s = {:.0} products/s; peak RSS {peak:.0} MiB (before the import {before:.0} MiB)",
        report.products,
        report.products as f64 / seconds
    );
    println!(
        "{}",
        serde_json::json!({"products": report.products, "seconds": seconds, "file_mib": size_mib, "peak_rss_mib": peak, "rss_before_mib": before})
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("stop, please"), "\"stop, please\"");
        assert_eq!(super::csv_field("say \"stop\""), "\"say \"\"stop\"\"\"");
    }
}

/// `backtalk reviewer add NAME`: creates the account with a random password and prints it
/// once (only its argon2id hash is stored).
pub async fn add_reviewer(config: Config, name: &str) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("a reviewer name must be 1 to 100 printable characters");
    }
    // Before the first `serve`, the data directory (home of the default SQLite file) may not exist yet.
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let password = crate::auth::new_password();
    let id = crate::store::reviewers::add_reviewer(&db, name, &crate::auth::hash_password(&password)?).await?;
    crate::store::reviewers::record_action(&db, None, "reviewer_added", Some(name), "backtalk reviewer add").await?;
    println!("reviewer {name:?} created (id {id}); one-time password, shown only now:\n{password}");
    println!("log in at {}/console", config.public_url.trim_end_matches('/'));
    Ok(())
}

/// `backtalk reviewer token NAME`: a new API token acting as the reviewer, printed once
/// (only its SHA-256 is stored). Actions taken with it are recorded as the reviewer's.
pub async fn issue_api_token(config: Config, name: &str, label: &str) -> anyhow::Result<()> {
    let label = label.trim();
    if label.is_empty() || label.len() > 100 {
        anyhow::bail!("a token label must be 1 to 100 characters");
    }
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let reviewer = crate::store::reviewers::reviewer_by_name(&db, name.trim())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no reviewer named {name:?}; create one with `backtalk reviewer add`"))?;
    let token = format!("bt_{}", crate::auth::new_token());
    crate::store::reviewers::add_api_token(&db, reviewer.id, &crate::auth::token_hash(&token), label).await?;
    crate::store::reviewers::record_action(&db, Some(reviewer.id), "api_token_issued", None, label).await?;
    println!("API token for {:?} ({label}), shown only now:\n{token}", reviewer.name);
    println!("use it as: Authorization: Bearer <token> on {}/api/v1/…", config.public_url.trim_end_matches('/'));
    Ok(())
}

/// The files `backtalk eval` reads and writes.
#[derive(Debug, Clone)]
pub struct EvalFiles {
    /// Directory for report.json and report.html.
    pub report: std::path::PathBuf,
    pub baseline: Option<std::path::PathBuf>,
    pub tolerances: std::path::PathBuf,
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
