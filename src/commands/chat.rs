//! `backtalk chat [--from PHONE]`: text the bot from the terminal as a customer would.

use std::io::Write;
use std::sync::Arc;

use tokio::io::AsyncBufReadExt;

use crate::app::{App, BuildOptions};
use crate::config::Config;
use crate::demo::DEMO_PHONE;
use crate::domain::{Phone, TurnDecision};
use crate::escalation::review::hand_back_conversation;
use crate::jobs;
use crate::pipeline::ingest::{Inbound, ingest};
use crate::sms::print::PrintProvider;
use crate::store::{crm, escalations, turns};

/// What to type to act as a reviewer handing the conversation back to the bot.
pub const HAND_BACK: &str = "/handback";

/// `backtalk chat [--from PHONE]`: each line typed is an inbound text; replies print as
/// `bot>` lines. The full pipeline runs, outbox and consent check included; only the
/// provider is replaced by the terminal.
pub async fn chat(config: Config, from: Option<String>, demo: bool) -> anyhow::Result<()> {
    let provider = Arc::new(PrintProvider::new("bot>", false));
    let app = App::build(config, BuildOptions { demo, provider: Some(provider), clock: None }).await?;
    let phone = Phone::parse(from.as_deref().unwrap_or(DEMO_PHONE)).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let db = app.state.db.clone();
    let who =
        crm::customer_by_phone(&db, &phone).await?.and_then(|c| c.name).unwrap_or_else(|| "a new customer".into());
    println!(
        "texting {} as {who} ({}); type a message, {HAND_BACK} to hand an escalated conversation back to the bot, \
         ctrl-d to quit",
        app.state.config.brand.name,
        phone.as_str()
    );
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
        if line.trim() == HAND_BACK {
            let said = match hand_back_conversation(&db, &phone, "terminal").await? {
                0 => "nothing to hand back: the bot owns this conversation",
                _ => "handed back: the bot answers your next text",
            };
            println!("   ({said})");
            continue;
        }
        let inbound = Inbound {
            provider_sid: format!("CHAT{:032x}", rand::random::<u128>()),
            from: phone.clone(),
            to: "terminal".into(),
            body: line,
            media: vec![],
        };
        let ingested = ingest(&db, &inbound, worker_config.max_attempts).await?;
        jobs::drain(&db, app.worker.as_ref(), &worker_config).await?;
        if let crate::pipeline::ingest::Ingested::New(id) = ingested
            && let Some(turn) = turns::turn_for_message(&db, id).await?
        {
            match turn.audit.decision {
                TurnDecision::Escalate => {
                    let conversation = crate::store::conversations::message(&db, id).await?.conversation_id;
                    let reasons: Vec<String> = escalations::escalations_for_conversation(&db, conversation)
                        .await?
                        .into_iter()
                        .filter(|e| e.turn_id == Some(turn.id))
                        .map(|e| e.reason.to_string())
                        .collect();
                    println!(
                        "   (handed to a person: {}; confidence {:.2}; {HAND_BACK} gives it back to the bot)",
                        reasons.join(", "),
                        turn.audit.confidence
                    );
                }
                TurnDecision::HumanOwned => {
                    println!("   (a person owns this conversation; the bot stays quiet: {HAND_BACK} gives it back)")
                }
                _ => {}
            }
        }
    }
    println!();
    Ok(())
}
