//! Reviewers who get told (docs/reviewers.md): a high-priority escalation reaches a real SMTP
//! session (STARTTLS, AUTH) and a Slack-compatible webhook once; normal ones wait for one
//! digest; an assignment tells its assignee; admins manage accounts in the console and the
//! command line, and every change is in the audit trail.

use std::time::Duration;

use backtalk::domain::EscalationStatus;
use backtalk::store::escalations::list_escalations;
use serde_json::json;

use crate::console::{act, add_reviewer, get_console, log_in, login_form, post_login, sign_in};
use crate::fake_smtp::{FakeSlack, FakeSmtp};
use crate::helpers::*;
use crate::on_both_backends;

const SECOND_CUSTOMER: &str = "+14155550124";

/// Fakes for both channels, and a server configured to use them (digests every `digest_every`).
async fn app_with_channels(backend: Backend, digest_every: &str) -> (TestApp, FakeSmtp, FakeSlack) {
    let (smtp, slack) = (FakeSmtp::start().await, FakeSlack::start().await);
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), smtp.ca_pem()).unwrap();
    let (ca_path, port, url, every) =
        (ca.into_temp_path().keep().unwrap(), smtp.port, slack.url(), digest_every.to_string());
    let adjust = Box::new(move |c: &mut backtalk::config::Config| {
        c.smtp.host = "localhost".into();
        c.smtp.port = port;
        c.smtp.tls = "starttls".into();
        c.smtp.username = "backtalk".into();
        c.smtp.password = backtalk::config::Secret::new("relay-password");
        c.smtp.from = "Backtalk <backtalk@example.com>".into();
        c.smtp.ca_file = ca_path.display().to_string();
        c.notify.slack_webhook_url = backtalk::config::Secret::new(url);
        c.notify.digest_every = every;
    });
    let app = spawn_app(backend, TestOptions { adjust: Some(adjust), ..TestOptions::default() }).await;
    (app, smtp, slack)
}

async fn set_account(app: &TestApp, name: &str, email: &str, team: &str) {
    let id = backtalk::store::reviewers::account(&app.db, name).await.unwrap().unwrap().id;
    let change =
        backtalk::store::reviewers::AccountChange { email: Some(email), team: Some(team), ..Default::default() };
    backtalk::store::reviewers::change_account(&app.db, id, &change).await.unwrap();
}

async fn open_escalations(app: &TestApp) -> Vec<backtalk::store::escalations::EscalationSummary> {
    list_escalations(&app.db, EscalationStatus::Open, 50).await.unwrap()
}

/// A customer asks for a person (high priority): one email over STARTTLS with AUTH to every
/// enabled reviewer with an address, one chat post, with the link and without the number.
/// The chat webhook's first answer is a 503: the retry posts again but does not email twice.
async fn a_high_priority_escalation_reaches_email_and_chat_once(backend: Backend) {
    let (app, smtp, slack) = app_with_channels(backend, "1h").await;
    for (name, email) in [("ana", "ana@example.com"), ("ben", "ben@example.com"), ("cy", "cy@example.com")] {
        add_reviewer(&app, name).await;
        set_account(&app, name, email, "").await;
    }
    add_reviewer(&app, "dee").await; // no address: nothing to email
    let cy = backtalk::store::reviewers::account(&app.db, "cy").await.unwrap().unwrap();
    let disable = backtalk::store::reviewers::AccountChange { disabled: Some(true), ..Default::default() };
    backtalk::store::reviewers::change_account(&app.db, cy.id, &disable).await.unwrap();
    slack.fail_next(1, 503);

    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    let mails = smtp.wait_for_mails(1, Duration::from_secs(20)).await;
    let texts = slack.wait_for_texts(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = open_escalations(&app).await[0].id;

    assert_eq!((smtp.mails().len(), slack.texts().len()), (1, 1), "told once on each channel");
    let mail = &mails[0];
    assert!(mail.tls, "the mail went over TLS after STARTTLS");
    assert_eq!(mail.user.as_deref(), Some("backtalk"));
    assert_eq!(mail.from, "<backtalk@example.com>");
    assert_eq!(mail.to, ["<ana@example.com>", "<ben@example.com>"], "enabled reviewers with an address");
    assert!(mail.data.contains(&format!("Subject: [Backtalk] High priority: escalation #{id}")), "{}", mail.data);
    let link = format!("{}/console/escalations/{id}", app.base_url);
    assert!(mail.data.contains(&link) && texts[0].contains(&link), "{} / {}", mail.data, texts[0]);
    assert!(texts[0].contains("human requested") && texts[0].contains("…0123"), "{}", texts[0]);
    assert!(
        !mail.data.contains("4155550123") && !texts[0].contains("4155550123"),
        "no whole number leaves the console"
    );
    assert!(!texts[0].contains("real person"), "no customer text leaves the console");
}
on_both_backends!(a_high_priority_escalation_reaches_email_and_chat_once);

/// Two normal-priority escalations tell nobody at once; the digest gathers both into one
/// email and one post, and a second digest finds nothing. A refused relay (550) fails the
/// digest for good rather than retrying forever.
async fn normal_escalations_wait_for_one_digest(backend: Backend) {
    let (app, smtp, slack) = app_with_channels(backend, "1h").await;
    add_reviewer(&app, "ana").await;
    set_account(&app, "ana", "ana@example.com", "").await;
    app.post_inbound(CUSTOMER, "I need to change my shipping address please", &new_sid()).await;
    app.post_inbound(SECOND_CUSTOMER, "I need to change my shipping address please", &new_sid()).await;
    app.wait_idle().await;
    let open = open_escalations(&app).await;
    assert_eq!(open.len(), 2, "two escalations");
    for e in &open {
        let detail = backtalk::store::escalations::escalation(&app.db, e.id).await.unwrap().unwrap();
        assert!(detail.details.contains("\"priority\":\"normal\""), "normal priority: {}", detail.details);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(smtp.mails().is_empty() && slack.texts().is_empty(), "normal escalations wait for the digest");

    let digest = backtalk::store::notifications::claim_digest(&app.db).await.unwrap();
    assert!(digest.is_some());
    let mails = smtp.wait_for_mails(1, Duration::from_secs(20)).await;
    let texts = slack.wait_for_texts(1, Duration::from_secs(20)).await;
    assert!(mails[0].data.contains("Subject: [Backtalk] 2 escalations waiting"), "{}", mails[0].data);
    for e in &open {
        assert!(texts[0].contains(&format!("#{} normal priority, action requested", e.id)), "{}", texts[0]);
    }
    assert_eq!(backtalk::store::notifications::claim_digest(&app.db).await.unwrap(), None, "nothing left to gather");

    // The relay refuses the next digest's sender: failed with the reason, not retried.
    app.post_inbound("+14155550125", "I need to change my shipping address please", &new_sid()).await;
    app.wait_idle().await;
    smtp.refuse_next("550 5.7.1 relaying denied");
    assert!(backtalk::store::notifications::claim_digest(&app.db).await.unwrap().is_some());
    app.wait_idle().await;
    let counts = backtalk::store::notifications::counts(&app.db).await.unwrap();
    assert!(counts.contains(&("digest".into(), "failed".into(), 1)), "{counts:?}");
    assert_eq!(smtp.mails().len(), 1);
}
on_both_backends!(normal_escalations_wait_for_one_digest);

/// The digest runs by itself every `notify.digest_every`.
async fn the_digest_runs_on_its_own(backend: Backend) {
    let (app, smtp, _slack) = app_with_channels(backend, "1s").await;
    add_reviewer(&app, "ana").await;
    set_account(&app, "ana", "ana@example.com", "").await;
    app.post_inbound(CUSTOMER, "I need to change my shipping address please", &new_sid()).await;
    let mails = smtp.wait_for_mails(1, Duration::from_secs(20)).await;
    assert!(mails[0].data.contains("1 escalation waiting"), "{}", mails[0].data);
}
on_both_backends!(the_digest_runs_on_its_own);

/// An admin manages accounts in the console; assigning to a team emails its members, to a
/// reviewer (by API) emails them; a disabled reviewer's session and login end; the last
/// admin cannot be disabled; each change is in the audit trail with who made it.
async fn admins_manage_reviewers_and_assignment_tells_the_assignee(backend: Backend) {
    let (app, smtp, slack) = app_with_channels(backend, "1h").await;
    let ana = sign_in(&app, "ana").await; // the first account: an admin
    let ben = sign_in(&app, "ben").await;
    assert!(ana.page(&app, "/console").await.contains("/console/admin/reviewers"), "admins see the link");
    assert!(!ben.page(&app, "/console").await.contains("/console/admin/reviewers"));
    let forbidden = act(&app, &ben, "/console/admin/reviewers/disable", &[("name", "ana")]).await;
    assert_eq!(forbidden.0, 403, "a reviewer is not an admin");

    let admin = "/console/admin/reviewers";
    let added = act(
        &app,
        &ana,
        &format!("{admin}/add"),
        &[("name", "dee"), ("role", "reviewer"), ("email", "dee@example.com"), ("team", "returns")],
    )
    .await;
    assert_eq!(added.0, 200, "{}", added.1);
    let password = added
        .1
        .split("shown only now: ")
        .nth(1)
        .expect("a one-time password")
        .split('<')
        .next()
        .unwrap()
        .trim()
        .to_string();
    log_in(&app, "dee", &password).await;
    let bad = act(&app, &ana, &format!("{admin}/add"), &[("name", "eve"), ("email", "not an address")]).await;
    assert!(bad.0 == 400 && bad.1.contains("is not an email address"), "{}", bad.1);
    let set = act(
        &app,
        &ana,
        &format!("{admin}/set"),
        &[("name", "ben"), ("role", "reviewer"), ("email", "ben@example.com"), ("team", "returns")],
    )
    .await;
    assert_eq!(set.0, 303);

    // A high-priority escalation, told to everyone with an address (ben, dee).
    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    smtp.wait_for_mails(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let id = open_escalations(&app).await[0].id;
    let page = format!("/console/escalations/{id}");
    assert!(ana.page(&app, &page).await.contains("value=\"team:returns\""), "the team is offered");
    assert_eq!(act(&app, &ana, &format!("{page}/assign"), &[("assignee", "reviewer:nobody")]).await.0, 409);
    assert_eq!(act(&app, &ana, &format!("{page}/assign"), &[("assignee", "team:returns")]).await.0, 303);
    let mails = smtp.wait_for_mails(2, Duration::from_secs(20)).await;
    assert_eq!(mails[1].to, ["<ben@example.com>", "<dee@example.com>"], "the team's members");
    assert!(mails[1].data.contains(&format!("Escalation #{id} assigned to team returns")), "{}", mails[1].data);
    assert!(slack.wait_for_texts(2, Duration::from_secs(20)).await[1].contains("assigned to team returns"));
    assert!(ana.page(&app, &page).await.contains("assigned to team <strong>returns</strong>"));

    // By API, as ben: to dee alone, who then holds it.
    let token = "bt_ben_token_for_assign";
    let ben_id = backtalk::store::reviewers::account(&app.db, "ben").await.unwrap().unwrap().id;
    backtalk::store::reviewers::add_api_token(&app.db, ben_id, &backtalk::auth::token_hash(token), "test")
        .await
        .unwrap();
    let assign = |body: serde_json::Value| {
        let request = app.http.post(format!("{}/api/v1/escalations/{id}/assign", app.base_url)).bearer_auth(token);
        async move { request.json(&body).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(assign(json!({"reviewer": "dee", "team": "returns"})).await, 400, "one of the two");
    assert_eq!(assign(json!({"reviewer": "dee"})).await, 200);
    let mails = smtp.wait_for_mails(3, Duration::from_secs(20)).await;
    assert_eq!(mails[2].to, ["<dee@example.com>"]);
    let held = backtalk::store::escalations::escalation(&app.db, id).await.unwrap().unwrap();
    assert_eq!(held.assigned_name.as_deref(), Some("dee"));

    // Disabling ben ends his session and his login; his token stops working.
    assert_eq!(act(&app, &ana, &format!("{admin}/disable"), &[("name", "ben")]).await.0, 303);
    assert_eq!(get_console(&app, Some(&ben.session)).await.status(), 303, "the session ended");
    let (cookie, csrf) = login_form(&app).await;
    let refused = post_login(&app, &cookie, &csrf, "ben", "correct horse battery").await;
    assert_eq!(refused.status(), 401, "a disabled account answers as an unknown one");
    assert_eq!(assign(json!({"reviewer": "dee"})).await, 401, "a disabled reviewer's token is refused");
    let last = act(&app, &ana, &format!("{admin}/disable"), &[("name", "ana")]).await;
    assert!(last.0 == 400 && last.1.contains("last enabled admin"), "{}", last.1);

    // A reset password: the old one no longer logs in, the new one does.
    let reset = act(&app, &ana, &format!("{admin}/reset-password"), &[("name", "dee")]).await;
    let fresh = reset.1.split("shown only now: ").nth(1).unwrap().split('<').next().unwrap().trim().to_string();
    let (cookie, csrf) = login_form(&app).await;
    assert_eq!(post_login(&app, &cookie, &csrf, "dee", &password).await.status(), 401);
    log_in(&app, "dee", &fresh).await;

    let audit = ana.page(&app, admin).await;
    for action in ["reviewer_added", "reviewer_team", "reviewer_email", "reviewer_disabled", "reviewer_password_reset"]
    {
        assert!(audit.contains(action), "{action} in the audit trail: {audit}");
    }
    assert!(audit.contains("by ana"), "{audit}");
}
on_both_backends!(admins_manage_reviewers_and_assignment_tells_the_assignee);

/// `backtalk reviewer add/set/disable/enable/reset-password/list` from the command line; the
/// last admin cannot be demoted there either.
async fn the_command_line_manages_reviewers(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_backtalk"))
            .arg("reviewer")
            .args(args)
            .env("BACKTALK_DATABASE_URL", &app.config.database_url)
            .env("BACKTALK_DATA_DIR", &app.config.data_dir)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    };
    let (ok, out) = run(&["add", "ana", "--email", "ana@example.com"]);
    assert!(ok && out.contains("role admin"), "the first account is an admin: {out}");
    let (ok, out) = run(&["add", "ben", "--team", "returns"]);
    assert!(ok && out.contains("role reviewer"), "{out}");
    let (ok, out) = run(&["set", "ana", "--role", "reviewer"]);
    assert!(!ok && out.contains("last enabled admin"), "{out}");
    let (ok, out) = run(&["set", "ben", "--role", "boss"]);
    assert!(!ok && out.contains("a role is admin or reviewer"), "{out}");
    assert!(run(&["disable", "ben"]).0);
    let (_, list) = run(&["list"]);
    let ben = list.lines().find(|l| l.starts_with("ben ")).expect("ben listed");
    assert!(ben.contains("returns") && ben.contains("disabled"), "{list}");
    assert!(run(&["enable", "ben"]).0);
    let (ok, out) = run(&["reset-password", "ben"]);
    let password = out.lines().nth(1).unwrap().trim().to_string();
    assert!(ok && password.len() == 20, "{out}");
    log_in(&app, "ben", &password).await;
    let (ok, out) = run(&["disable", "nobody"]);
    assert!(!ok && out.contains("no reviewer named"), "{out}");
    let actions = backtalk::store::reviewers::recent_actions(&app.db, "reviewer_", 20).await.unwrap();
    let names: Vec<&str> = actions.iter().rev().map(|a| a.action.as_str()).collect();
    assert_eq!(
        names,
        ["reviewer_added", "reviewer_added", "reviewer_disabled", "reviewer_enabled", "reviewer_password_reset"],
        "in order, each by the command line"
    );
    assert!(actions.iter().all(|a| a.actor.is_none() && a.detail.contains("by the command line")));
}
on_both_backends!(the_command_line_manages_reviewers);
