//! A flow file (TOML, one flow per file) read and checked, every problem as `file:line: reason`.
//!
//! The pinned shape (shared/ARCHITECTURE.md, "Flow file"):
//!
//! ```toml
//! name = "abandoned_checkout"
//! class = "promotional"                      # or "transactional"
//! trigger = { event = "Checkout Started" }
//! exit = [{ event = "Order Completed", match = "checkout_id" }]
//! [[steps]]
//! wait = "1h"
//! [[steps]]
//! send = "Hi {{ customer.first_name }}, still thinking about {{ event.properties.items[0].title }}?"
//! ```
//!
//! Beyond it, read and checked here: `description`, `entry = { once_per = "7d" }` (a customer
//! enters at most once in that time) and `compose = "goal"` steps (the text written by the
//! model or the offline responder from the goal and the customer's facts).

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::branch::{Arm, RawArm, Target};
use crate::domain::duration;

pub use super::model::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    class: Spanned<String>,
    trigger: Spanned<RawTrigger>,
    #[serde(default)]
    exit: Vec<Spanned<RawExit>>,
    #[serde(default)]
    entry: Option<RawEntry>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    event: OneOrMany,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExit {
    event: String,
    #[serde(default, rename = "match")]
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(default)]
    once_per: Option<Spanned<String>>,
    #[serde(default)]
    send_within: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    /// The name a branch or goto jumps to.
    #[serde(default)]
    id: Option<Spanned<String>>,
    #[serde(default)]
    branch: Option<Vec<RawArm>>,
    #[serde(default, rename = "else")]
    otherwise: Option<String>,
    #[serde(default)]
    goto: Option<String>,
    #[serde(default)]
    wait: Option<Spanned<String>>,
    #[serde(default)]
    send: Option<Spanned<String>>,
    #[serde(default)]
    compose: Option<Spanned<String>>,
    #[serde(default)]
    wait_for: Option<Spanned<RawWaitFor>>,
    #[serde(default)]
    replies: Vec<Spanned<Reply>>,
    #[serde(default)]
    test: Option<Spanned<RawTest>>,
    #[serde(default)]
    variants: Vec<Spanned<RawVariant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaitFor {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    reply: bool,
    #[serde(default, rename = "match")]
    key: Option<String>,
    timeout: String,
    /// `continue` or `exit`; the default: `exit` for an event (it did not happen), `continue`
    /// for a reply (nobody answered: follow up).
    #[serde(default)]
    on_timeout: Option<String>,
    /// `exit` (the default: the conversation has the reply) or `continue`.
    #[serde(default)]
    on_reply: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: String,
    #[serde(default = "default_metric")]
    metric: Metric,
    #[serde(default)]
    ends: Option<String>,
}

fn default_metric() -> Metric {
    Metric::ReplyRate
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: String,
    #[serde(default)]
    send: Option<String>,
    /// A compose goal instead of a text: the arm's text is written for each customer.
    #[serde(default)]
    compose: Option<String>,
    #[serde(default = "one")]
    weight: u32,
}

fn one() -> u32 {
    1
}

/// One arm of a send step as written (a plain `send` is the one arm "default").
struct WrittenArm<'a> {
    name: String,
    weight: u32,
    send: Option<&'a String>,
    compose: Option<&'a String>,
    span: Range<usize>,
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// Reads and checks the flow in `text` (from `file`); every problem found, each with its line.
pub fn parse(file: &Path, text: &str) -> Result<Flow, Vec<FlowError>> {
    let error = |span: Range<usize>, message: String| FlowError {
        file: file.to_path_buf(),
        line: line_of(text, span.start),
        message,
    };
    let raw: RawFlow = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        vec![error(e.span().unwrap_or(0..0), message)]
    })?;
    let mut errors = Vec::new();
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        errors.push(error(raw.name.span(), format!("name {name:?} must be lowercase letters, digits and _")));
    }
    let class = match raw.class.get_ref().as_str() {
        "promotional" => FlowClass::Promotional,
        "transactional" => FlowClass::Transactional,
        other => {
            errors.push(error(raw.class.span(), format!("class {other:?} is not promotional or transactional")));
            FlowClass::Promotional
        }
    };
    let triggers: Vec<String> = match &raw.trigger.get_ref().event {
        OneOrMany::One(e) => vec![e.trim().to_string()],
        OneOrMany::Many(list) => list.iter().map(|e| e.trim().to_string()).collect(),
    };
    if triggers.is_empty() || triggers.iter().any(String::is_empty) {
        errors.push(error(raw.trigger.span(), "trigger.event is empty".into()));
    }
    let exits =
        raw.exit.iter().map(|e| Exit { event: e.get_ref().event.clone(), key: e.get_ref().key.clone() }).collect();
    let mut entry_duration = |field: Option<&Spanned<String>>, name: &str| {
        let field = field?;
        match duration::parse(field.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(error(field.span(), format!("entry.{name}: {e}")));
                None
            }
        }
    };
    let once_per = entry_duration(raw.entry.as_ref().and_then(|e| e.once_per.as_ref()), "once_per");
    let send_within = entry_duration(raw.entry.as_ref().and_then(|e| e.send_within.as_ref()), "send_within");
    if raw.steps.get_ref().is_empty() {
        errors.push(error(raw.steps.span(), "a flow needs at least one step".into()));
    }
    let templates = minijinja::Environment::new();
    let ids = step_ids(raw.steps.get_ref(), &mut errors, &error);
    let mut steps = Vec::new();
    for (index, step) in raw.steps.get_ref().iter().enumerate() {
        let s = step.get_ref();
        let sends = s.send.is_some() || !s.variants.is_empty();
        let jumps = s.branch.is_some() || s.goto.is_some();
        let given =
            [s.wait.is_some(), sends, s.compose.is_some(), s.wait_for.is_some(), s.branch.is_some(), s.goto.is_some()]
                .iter()
                .filter(|g| **g)
                .count();
        if given != 1 || (s.send.is_some() && !s.variants.is_empty()) {
            errors.push(error(
                step.span(),
                "a step is exactly one of wait, wait_for, send (or variants), compose, branch or goto".into(),
            ));
            continue;
        }
        if !s.replies.is_empty() && !sends && s.compose.is_none() {
            errors.push(error(step.span(), "replies belong to a send or compose step".into()));
        }
        if s.otherwise.is_some() && s.branch.is_none() {
            errors.push(error(step.span(), "else belongs to a branch".into()));
        }
        if s.test.is_some() && !sends {
            errors.push(error(step.span(), "an A/B test belongs to a send step with variants".into()));
        }
        if jumps {
            let target = |name: &str| match name.trim() {
                "end" => Ok(Target::End),
                name => match ids.iter().position(|id| id.as_deref() == Some(name)) {
                    Some(i) if i > index => Ok(Target::Step(i)),
                    Some(_) => Err(format!("{name:?} is not after this step: a flow cannot go back")),
                    None => Err(format!("no step has the id {name:?}")),
                },
            };
            let mut arms = Vec::new();
            for (i, arm) in s.branch.iter().flatten().enumerate() {
                match (arm.condition.check(), target(&arm.then)) {
                    (Ok(condition), Ok(then)) => arms.push(Arm { condition, then }),
                    (c, t) => {
                        for e in [c.err(), t.err()].into_iter().flatten() {
                            errors.push(error(step.span(), format!("branch[{i}]: {e}")));
                        }
                    }
                }
            }
            let otherwise = match s.goto.as_deref().or(s.otherwise.as_deref()) {
                None => Ok(ids.get(index + 1).map_or(Target::End, |_| Target::Step(index + 1))),
                Some(name) => target(name),
            };
            match otherwise {
                Ok(otherwise) => steps.push(Step::Branch { arms, otherwise }),
                Err(e) => {
                    errors.push(error(step.span(), format!("{}: {e}", if s.goto.is_some() { "goto" } else { "else" })))
                }
            }
            if s.branch.as_ref().is_some_and(Vec::is_empty) {
                errors.push(error(step.span(), "branch: give at least one { if = {...}, then = \"…\" }".into()));
            }
            continue;
        }
        if s.test.is_some() == s.variants.is_empty() {
            errors.push(error(step.span(), "an A/B test is a test = { name = … } with its variants = [...]".into()));
            continue;
        }
        if let Some(w) = &s.wait_for {
            let raw = w.get_ref();
            let timeout = duration::parse(&raw.timeout).map_err(|e| format!("wait_for.timeout: {e}"));
            let on_timeout = match raw.on_timeout.as_deref() {
                None => Ok(raw.reply),
                Some("continue") => Ok(true),
                Some("exit") => Ok(false),
                Some(other) => Err(format!("wait_for.on_timeout: expected continue or exit, got {other:?}")),
            };
            let on_reply = match (raw.on_reply.as_deref(), raw.reply) {
                (None | Some("exit"), _) => Ok(false),
                (Some("continue"), true) => Ok(true),
                (Some("continue"), false) => Err("wait_for.on_reply belongs to a wait for a reply".to_string()),
                (Some(other), _) => Err(format!("wait_for.on_reply: expected continue or exit, got {other:?}")),
            };
            let what = match (&raw.event, raw.reply) {
                (Some(e), false) if !e.trim().is_empty() => Ok(Some(e.clone())),
                (None, true) if raw.key.is_none() => Ok(None),
                (None, true) => Err("wait_for: match belongs to an event".to_string()),
                _ => Err("wait_for: give an event or reply = true, not both".to_string()),
            };
            let what = what.and_then(|e| match e {
                Some(name) if triggers.contains(&name) => {
                    Err(format!("wait_for: {name:?} starts this flow; wait for another event"))
                }
                other => Ok(other),
            });
            match (what, timeout, on_timeout, on_reply) {
                (Ok(event), Ok(timeout), Ok(continue_on_timeout), Ok(continue_on_reply)) => {
                    steps.push(Step::WaitFor(WaitFor {
                        event,
                        key: raw.key.clone(),
                        timeout,
                        continue_on_timeout,
                        continue_on_reply,
                    }))
                }
                (a, b, c, d) => {
                    for e in [a.err(), b.err(), c.err(), d.err()].into_iter().flatten() {
                        errors.push(error(w.span(), e));
                    }
                }
            }
            continue;
        }
        let mut replies = Vec::new();
        for reply in &s.replies {
            let r = reply.get_ref();
            if crate::domain::flow::normalise(&r.pattern).is_empty() {
                errors.push(error(reply.span(), "replies: match is empty".into()));
            } else if r.text.is_none() && r.event.is_none() && !r.handoff && !r.opt_in {
                errors.push(error(reply.span(), "replies: a reply needs a text, an event, handoff or opt_in".into()));
            } else if let Some(Err(e)) = r.text.as_deref().map(|t| templates.template_from_str(t)) {
                errors.push(error(reply.span(), format!("replies: not a valid template: {e}")));
            } else {
                replies.push(r.clone());
            }
        }
        if let Some(wait) = &s.wait {
            match parse_wait(wait.get_ref()) {
                Ok(step) => steps.push(step),
                Err(e) => errors.push(error(wait.span(), format!("wait: {e}"))),
            }
        } else if sends {
            let raw: Vec<WrittenArm> = match &s.send {
                Some(send) => vec![WrittenArm {
                    name: "default".into(),
                    weight: 1,
                    send: Some(send.get_ref()),
                    compose: None,
                    span: send.span(),
                }],
                None => s
                    .variants
                    .iter()
                    .map(|v| {
                        let r = v.get_ref();
                        let (name, weight, span) = (r.name.clone(), r.weight, v.span());
                        WrittenArm { name, weight, send: r.send.as_ref(), compose: r.compose.as_ref(), span }
                    })
                    .collect(),
            };
            let mut variants = Vec::new();
            for WrittenArm { name, weight, send, compose, span } in raw {
                let (text, composed) = match (send, compose) {
                    (Some(text), None) => (text, false),
                    (None, Some(goal)) => (goal, true),
                    _ => {
                        errors.push(error(span.clone(), "variants: each has a send text or a compose goal".into()));
                        continue;
                    }
                };
                if text.trim().is_empty() {
                    let what = if composed { "compose: the goal" } else { "send: the text" };
                    errors.push(error(span.clone(), format!("{what} is empty")));
                } else if let (false, Err(e)) = (composed, templates.template_from_str(text)) {
                    errors.push(error(span.clone(), format!("send: not a valid template: {e}")));
                } else if variants.iter().any(|v: &Variant| v.name == name) {
                    errors.push(error(span.clone(), format!("variants: the name {name:?} is used twice")));
                } else {
                    variants.push(Variant { name, weight, text: text.trim().to_string(), composed });
                }
            }
            let test = match &s.test {
                None => None,
                Some(t) => {
                    let raw = t.get_ref();
                    if s.variants.len() < 2 || s.variants.iter().all(|v| v.get_ref().weight == 0) {
                        errors.push(error(
                            t.span(),
                            "test: needs two or more variants, one with a weight above 0".into(),
                        ));
                    }
                    let ends = match raw.ends.as_deref().map(parse_end) {
                        Some(Err(e)) => {
                            errors.push(error(t.span(), format!("test.ends: {e}")));
                            None
                        }
                        Some(Ok(at)) => Some(at),
                        None => None,
                    };
                    Some(AbTest { name: raw.name.trim().to_string(), metric: raw.metric, ends })
                }
            };
            steps.push(Step::Send { variants, replies, test });
        } else if let Some(goal) = &s.compose {
            if goal.get_ref().trim().is_empty() {
                errors.push(error(goal.span(), "compose: the goal is empty".into()));
            } else {
                steps.push(Step::Compose { goal: goal.get_ref().trim().to_string(), replies });
            }
        }
    }
    if !steps.iter().any(|s| matches!(s, Step::Send { .. } | Step::Compose { .. })) && errors.is_empty() {
        errors.push(error(raw.steps.span(), "a flow needs a send or compose step: it would text nobody".into()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Flow {
        name,
        description: raw.description,
        class,
        triggers,
        exits,
        once_per,
        send_within,
        steps,
        file: file.to_path_buf(),
    })
}

/// Each step's `id` by position (checked: lowercase letters, digits and `_`, not `end`, used
/// once).
fn step_ids(
    steps: &[Spanned<RawStep>],
    errors: &mut Vec<FlowError>,
    error: &dyn Fn(Range<usize>, String) -> FlowError,
) -> Vec<Option<String>> {
    let mut ids: Vec<Option<String>> = Vec::new();
    for step in steps {
        let id = step.get_ref().id.as_ref().map(|id| (id.get_ref().trim().to_string(), id.span()));
        if let Some((id, span)) = &id {
            if id.is_empty()
                || id == "end"
                || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                errors.push(error(
                    span.clone(),
                    format!("id {id:?} must be lowercase letters, digits and _, and not end"),
                ));
            } else if ids.iter().any(|seen| seen.as_deref() == Some(id.as_str())) {
                errors.push(error(span.clone(), format!("id {id:?} is used twice")));
            }
        }
        ids.push(id.map(|(id, _)| id));
    }
    ids
}

/// An end date: RFC 3339, or a day (`2027-01-31`, the start of that day in UTC).
fn parse_end(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.to_utc());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| format!("{text:?} is not a date (2027-01-31) or an RFC 3339 time"))
}

/// `"1h"`, or `"24h before appointment_at"` / `"2d after delivered_at"` (a property of the
/// trigger event holding an RFC 3339 time).
fn parse_wait(text: &str) -> Result<Step, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [d] => duration::parse(d).map(Step::Wait).map_err(|e| e.to_string()),
        [d, side @ ("before" | "after"), property] => {
            let offset = duration::parse(d).map_err(|e| e.to_string())?;
            if !property.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("{property:?} is not a property name"));
            }
            Ok(Step::WaitRelative { property: (*property).to_string(), offset, before: *side == "before" })
        }
        _ => Err(format!("expected a duration (\"1h\") or \"24h before <property>\", got {text:?}")),
    }
}

/// Every `*.toml` file in `dir` with its text, in file-name order; a missing folder has none.
/// `what` names the folder in errors ("flows", "segments").
pub fn toml_files(dir: &Path, what: &str) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(anyhow::anyhow!("cannot read the {what} folder {}: {e}", dir.display())),
    };
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text =
                std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            Ok((file, text))
        })
        .collect()
}

/// Every `*.toml` flow in `dir`, in file-name order, and every problem (a name used twice is
/// one, at the second file). A missing folder has no flows.
pub fn load_dir(dir: &Path) -> anyhow::Result<(Vec<Flow>, Vec<FlowError>)> {
    let (mut flows, mut errors) = (Vec::<Flow>::new(), Vec::new());
    for (file, text) in toml_files(dir, "flows")? {
        match parse(&file, &text) {
            Ok(flow) => match flows.iter().find(|f| f.name == flow.name) {
                Some(first) => errors.push(FlowError {
                    file: file.clone(),
                    line: 1,
                    message: format!("the name {:?} is already {}'s", flow.name, first.file.display()),
                }),
                None => flows.push(flow),
            },
            Err(mut found) => errors.append(&mut found),
        }
    }
    Ok((flows, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: &str = r#"name = "abandoned_checkout"
class = "promotional"                      # or "transactional"
trigger = { event = "Checkout Started" }
exit = [{ event = "Order Completed", match = "checkout_id" }]
[[steps]]
wait = "1h"
[[steps]]
send = "Hi {{ customer.first_name }}, still thinking about {{ event.properties.items[0].title }}? Reply with any question about size or fit."
"#;

    fn errors(text: &str) -> Vec<String> {
        parse(Path::new("f.toml"), text).unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_pinned_shape_reads() {
        let flow = parse(Path::new("abandoned_checkout.toml"), PINNED).unwrap();
        assert_eq!(
            (flow.name.as_str(), flow.class, flow.triggers[0].as_str()),
            ("abandoned_checkout", FlowClass::Promotional, "Checkout Started")
        );
        assert_eq!(flow.exits, [Exit { event: "Order Completed".into(), key: Some("checkout_id".into()) }]);
        assert_eq!(flow.steps[0], Step::Wait(std::time::Duration::from_secs(3600)));
        assert!(
            matches!(&flow.steps[1], Step::Send { variants, .. } if variants[0].text.starts_with("Hi {{ customer.first_name }}"))
        );
    }

    #[test]
    fn each_problem_names_its_line() {
        let bad =
            PINNED.replace("class = \"promotional\"", "class = \"loud\"").replace("wait = \"1h\"", "wait = \"soon\"");
        assert_eq!(
            errors(&bad),
            [
                "f.toml:2: class \"loud\" is not promotional or transactional",
                "f.toml:6: wait: expected a duration such as 0s, 500ms, 30m, 2h, 7d or 1h30m, got \"soon\""
            ]
        );
        let template = PINNED.replace("{{ customer.first_name }}", "{{ customer.first_name ");
        let found = errors(&template);
        assert!(found.len() == 1 && found[0].starts_with("f.toml:8: send: not a valid template"), "{found:?}");
        let unknown = format!("{PINNED}colour = \"red\"\n");
        let found = errors(&unknown);
        assert!(found[0].contains("colour"), "{found:?}");
        let two = PINNED.replace("wait = \"1h\"", "wait = \"1h\"\nsend = \"hi\"");
        assert_eq!(
            errors(&two),
            ["f.toml:5: a step is exactly one of wait, wait_for, send (or variants), compose, branch or goto"]
        );
        let no_text = PINNED.replace("[[steps]]\nsend", "[[steps]]\nwait = \"2h\"\n#");
        assert!(errors(&no_text)[0].contains("it would text nobody"));
    }

    #[test]
    fn a_folder_of_flows_reads_in_name_order_and_a_name_used_twice_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), PINNED).unwrap();
        std::fs::write(dir.path().join("b.toml"), PINNED).unwrap();
        std::fs::write(dir.path().join("notes.md"), "not a flow").unwrap();
        let (flows, errors) = load_dir(dir.path()).unwrap();
        assert_eq!(flows.len(), 1);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().contains("b.toml:1: the name \"abandoned_checkout\" is already"),
            "{}",
            errors[0]
        );
        assert_eq!(load_dir(&dir.path().join("missing")).unwrap().0.len(), 0);
    }

    /// The flows shipped in the repository's `flows/` folder stay valid.
    #[test]
    fn the_shipped_flows_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
        let (flows, errors) = load_dir(&dir).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(flows.iter().any(|f| f.name == "abandoned_checkout"));
    }

    #[test]
    fn wait_for_reads_an_event_or_a_reply_and_refuses_both() {
        let flow = |step: &str| {
            format!(
                "name = \"w\"\nclass = \"transactional\"\ntrigger = {{ event = \"A\" }}\n[[steps]]\n{step}\n[[steps]]\nsend = \"hi\"\n"
            )
        };
        let ok = parse(Path::new("w.toml"), &flow("wait_for = { event = \"B\", match = \"id\", timeout = \"2d\" }"))
            .unwrap();
        let Step::WaitFor(w) = &ok.steps[0] else { panic!("{:?}", ok.steps) };
        assert_eq!((w.event.as_deref(), w.key.as_deref(), w.continue_on_timeout), (Some("B"), Some("id"), false));
        let reply = parse(Path::new("w.toml"), &flow("wait_for = { reply = true, timeout = \"24h\" }")).unwrap();
        assert!(matches!(&reply.steps[0], Step::WaitFor(w) if w.event.is_none() && w.continue_on_timeout));
        for bad in [
            "wait_for = { event = \"B\", reply = true, timeout = \"1h\" }",
            "wait_for = { event = \"B\", timeout = \"soon\" }",
            "wait_for = { event = \"B\", timeout = \"1h\", on_timeout = \"maybe\" }",
        ] {
            let errors = parse(Path::new("w.toml"), &flow(bad)).unwrap_err();
            assert_eq!(errors[0].line, 5, "{bad}: {errors:?}");
        }
    }

    #[test]
    fn branches_read_their_targets_forward_and_refuse_going_back_or_nowhere() {
        let flow =
            |steps: &str| format!("name = \"b\"\nclass = \"transactional\"\ntrigger = {{ event = \"A\" }}\n{steps}");
        let ok = flow(
            "[[steps]]\nbranch = [{ if = { property = \"total\", at_least = 100 }, then = \"big\" }, { if = { reply = \"yes\" }, then = \"end\" }]\nelse = \"small\"\n\
             [[steps]]\nid = \"small\"\nsend = \"small\"\n[[steps]]\ngoto = \"end\"\n[[steps]]\nid = \"big\"\ncompose = \"thank them\"\nreplies = [{ match = \"1\", text = \"ok\" }]\n",
        );
        let parsed = parse(Path::new("b.toml"), &ok).unwrap();
        let Step::Branch { arms, otherwise } = &parsed.steps[0] else { panic!("{:?}", parsed.steps[0]) };
        assert_eq!((arms[0].then, arms[1].then, *otherwise), (Target::Step(3), Target::End, Target::Step(1)));
        assert_eq!(arms[1].condition.reply, ["yes"]);
        assert!(matches!(&parsed.steps[2], Step::Branch { arms, otherwise: Target::End } if arms.is_empty()));
        assert!(
            matches!(&parsed.steps[3], Step::Compose { goal, replies } if goal == "thank them" && replies.len() == 1)
        );
        let back = flow("[[steps]]\nid = \"top\"\nsend = \"hi\"\n[[steps]]\ngoto = \"top\"\n");
        assert!(errors(&back)[0].contains("f.toml:7: goto: \"top\" is not after this step"), "{:?}", errors(&back));
        let nowhere =
            flow("[[steps]]\nbranch = [{ if = { replied = true }, then = \"x\" }]\n[[steps]]\nsend = \"hi\"\n");
        assert!(errors(&nowhere)[0].contains("branch[0]: no step has the id \"x\""), "{:?}", errors(&nowhere));
        let twice = flow("[[steps]]\nid = \"a\"\nsend = \"hi\"\n[[steps]]\nid = \"a\"\nsend = \"hi\"\n");
        assert!(errors(&twice)[0].contains("f.toml:8: id \"a\" is used twice"), "{:?}", errors(&twice));
        let stray_test = flow("[[steps]]\ngoto = \"end\"\ntest = { name = \"t\" }\n[[steps]]\nsend = \"hi\"\n");
        assert!(errors(&stray_test)[0].contains("an A/B test belongs to a send step"), "{:?}", errors(&stray_test));
        let stray_else = flow("[[steps]]\nsend = \"hi\"\nelse = \"end\"\n");
        assert!(errors(&stray_else)[0].contains("else belongs to a branch"));
        let empty_if = flow("[[steps]]\nbranch = [{ if = {}, then = \"end\" }]\n[[steps]]\nsend = \"hi\"\n");
        assert!(errors(&empty_if)[0].contains("give a property"), "{:?}", errors(&empty_if));
    }

    #[test]
    fn a_reply_wait_may_go_on_after_a_reply_and_an_event_wait_may_not() {
        let flow = |step: &str| {
            format!(
                "name = \"w\"\nclass = \"transactional\"\ntrigger = {{ event = \"A\" }}\n[[steps]]\n{step}\n[[steps]]\nsend = \"hi\"\n"
            )
        };
        let ok =
            parse(Path::new("w.toml"), &flow("wait_for = { reply = true, timeout = \"1d\", on_reply = \"continue\" }"))
                .unwrap();
        assert!(matches!(&ok.steps[0], Step::WaitFor(w) if w.continue_on_reply));
        let bad = errors(&flow("wait_for = { event = \"B\", timeout = \"1d\", on_reply = \"continue\" }"));
        assert!(bad[0].contains("on_reply belongs to a wait for a reply"), "{bad:?}");
    }
}
