//! `backtalk serve [--demo]`: the webhooks, API, console and workers until a signal.

use std::io::Write;

use tokio_util::sync::CancellationToken;

use crate::analytics::history::{self, Plan};
use crate::app::{self, App, BuildOptions};
use crate::config::Config;
use crate::demo::DEMO_PHONE;

/// The demo's made-up history: 400 customers over 30 days.
pub const DEMO_HISTORY: Plan = Plan { customers: 400, days: 30, exchanges: 1.5, seed: 2026 };

/// `backtalk serve [--demo]`: runs until ctrl-c or SIGTERM.
pub async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let listen = config.listen;
    let app = App::build(config, BuildOptions { demo, provider: None, clock: None }).await?;
    if demo
        && app.state.config.analytics.demo_history
        && !crate::store::analytics::has_demo_history(&app.state.db).await?
    {
        // The dashboard's first start shows something: 30 days of made-up history, marked as
        // demo data on the page (docs/analytics.md).
        let plan = DEMO_HISTORY;
        let made = history::make(&app.state.db, plan, chrono::Utc::now(), |_| {}).await?;
        println!(
            "demo: made up {} days of history ({} conversations, {} messages, {} orders) for the analytics dashboard",
            plan.days, made.conversations, made.messages, made.orders
        );
    }
    let listener = app::bind(listen).await?;
    let addr = listener.local_addr()?;
    let config = app.state.config.clone();
    println!("backtalk listening on http://{addr}");
    println!("  inbound webhook (give this URL to Twilio): {}", config.inbound_webhook_url());
    println!("  status callback:  {}", config.status_webhook_url());
    println!("  console: http://{addr}/console (analytics: /console/analytics)");
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
