//! `backtalk chat` as a user runs it: the binary, a line on stdin, the bot's reply on stdout.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `backtalk chat` on the demo store in `data_dir`, types `line`, then ends the input;
/// `log` is `BACKTALK_LOG`, if set. Other variables are cleared so the caller's own
/// `BACKTALK_*` settings do not leak in.
fn chat(data_dir: &std::path::Path, line: &str, log: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backtalk"));
    command
        .arg("chat")
        .env_clear()
        .env("BACKTALK_DATA_DIR", data_dir)
        .current_dir(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(log) = log {
        command.env("BACKTALK_LOG", log);
    }
    let mut child = command.spawn().expect("run backtalk chat");
    child.stdin.take().unwrap().write_all(format!("{line}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The chat is a conversation in the terminal: the bot's answer, and no INFO log lines
/// around it unless `BACKTALK_LOG` asks for them.
#[test]
fn chat_prints_the_reply_and_no_info_logs_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = chat(dir.path(), "hi", None);
    let stdout = String::from_utf8_lossy(&quiet.stdout);
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(stdout.contains("bot>"), "{stdout}");
    assert!(!stderr.contains("INFO"), "{stderr}");

    let verbose = chat(dir.path(), "thanks", Some("info"));
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(stderr.contains("INFO"), "BACKTALK_LOG=info should show info lines: {stderr}");
}

/// In the terminal, `/handback` does what a reviewer's hand-back does: after an escalation
/// the bot stays quiet, and once handed back it answers again, also after a restart.
#[test]
fn chat_hands_an_escalated_conversation_back_to_the_bot() {
    let dir = tempfile::tempdir().unwrap();
    let escalated = chat(dir.path(), "can I talk to a real person please\ndo you have the blouse in black?", None);
    let stdout = String::from_utf8_lossy(&escalated.stdout);
    assert!(stdout.contains("handed to a person") && stdout.contains("/handback"), "{stdout}");
    assert!(stdout.contains("a person owns this conversation"), "{stdout}");
    assert!(!stdout.contains("$32.99"), "the bot stays quiet while a person owns it: {stdout}");

    // A new process on the same data: still a person's, until handed back.
    let back = chat(dir.path(), "/handback\ndo you have the blouse in black?\n/handback", None);
    let stdout = String::from_utf8_lossy(&back.stdout);
    assert!(stdout.contains("handed back: the bot answers your next text"), "{stdout}");
    assert!(stdout.contains("$32.99"), "answered after the hand-back: {stdout}");
    assert!(stdout.contains("nothing to hand back"), "a second /handback has nothing to do: {stdout}");
}
