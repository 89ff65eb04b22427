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
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::domain::duration;

/// Whether a flow's texts are marketing (consent, quiet hours, smart sending) or about
/// something the customer started (an order's shipping, an appointment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowClass {
    Promotional,
    Transactional,
}

/// An event that ends a customer's run through the flow: by name, and (with `key`) only when
/// its property `key` equals the triggering event's (an order with the cart's `checkout_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub event: String,
    pub key: Option<String>,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Wait this long.
    Wait(Duration),
    /// Send this text (a minijinja template over `customer` and `event`).
    Send(String),
    /// Send a text written from this goal and the customer's facts.
    Compose(String),
}

/// A checked flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub name: String,
    pub description: String,
    pub class: FlowClass,
    /// The event that starts a run.
    pub trigger: String,
    pub exits: Vec<Exit>,
    /// A customer enters at most once in this time.
    pub once_per: Option<Duration>,
    pub steps: Vec<Step>,
    /// The file it came from.
    pub file: PathBuf,
}

/// A problem in a flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

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
    event: String,
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
    once_per: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    wait: Option<Spanned<String>>,
    #[serde(default)]
    send: Option<Spanned<String>>,
    #[serde(default)]
    compose: Option<Spanned<String>>,
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
    let trigger = raw.trigger.get_ref().event.trim().to_string();
    if trigger.is_empty() {
        errors.push(error(raw.trigger.span(), "trigger.event is empty".into()));
    }
    let exits =
        raw.exit.iter().map(|e| Exit { event: e.get_ref().event.clone(), key: e.get_ref().key.clone() }).collect();
    let once_per = raw.entry.as_ref().and_then(|entry| match duration::parse(entry.once_per.get_ref()) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.push(error(entry.once_per.span(), format!("entry.once_per: {e}")));
            None
        }
    });
    if raw.steps.get_ref().is_empty() {
        errors.push(error(raw.steps.span(), "a flow needs at least one step".into()));
    }
    let templates = minijinja::Environment::new();
    let mut steps = Vec::new();
    for step in raw.steps.get_ref() {
        let s = step.get_ref();
        let given = [s.wait.is_some(), s.send.is_some(), s.compose.is_some()].iter().filter(|g| **g).count();
        if given != 1 {
            errors.push(error(step.span(), "a step is exactly one of wait, send or compose".into()));
            continue;
        }
        if let Some(wait) = &s.wait {
            match duration::parse(wait.get_ref()) {
                Ok(d) => steps.push(Step::Wait(d)),
                Err(e) => errors.push(error(wait.span(), format!("wait: {e}"))),
            }
        } else if let Some(send) = &s.send {
            let text = send.get_ref();
            if text.trim().is_empty() {
                errors.push(error(send.span(), "send: the text is empty".into()));
            } else if let Err(e) = templates.template_from_str(text) {
                errors.push(error(send.span(), format!("send: not a valid template: {e}")));
            } else {
                steps.push(Step::Send(text.clone()));
            }
        } else if let Some(goal) = &s.compose {
            if goal.get_ref().trim().is_empty() {
                errors.push(error(goal.span(), "compose: the goal is empty".into()));
            } else {
                steps.push(Step::Compose(goal.get_ref().clone()));
            }
        }
    }
    if !steps.iter().any(|s| matches!(s, Step::Send(_) | Step::Compose(_))) && errors.is_empty() {
        errors.push(error(raw.steps.span(), "a flow needs a send or compose step: it would text nobody".into()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Flow { name, description: raw.description, class, trigger, exits, once_per, steps, file: file.to_path_buf() })
}

/// Every `*.toml` flow in `dir`, in file-name order, and every problem (a name used twice is
/// one, at the second file). A missing folder has no flows.
pub fn load_dir(dir: &Path) -> anyhow::Result<(Vec<Flow>, Vec<FlowError>)> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], vec![])),
        Err(e) => return Err(anyhow::anyhow!("cannot read the flows folder {}: {e}", dir.display())),
    };
    files.sort();
    let (mut flows, mut errors) = (Vec::<Flow>::new(), Vec::new());
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
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
            (flow.name.as_str(), flow.class, flow.trigger.as_str()),
            ("abandoned_checkout", FlowClass::Promotional, "Checkout Started")
        );
        assert_eq!(flow.exits, [Exit { event: "Order Completed".into(), key: Some("checkout_id".into()) }]);
        assert_eq!(flow.steps[0], Step::Wait(Duration::from_secs(3600)));
        assert!(matches!(&flow.steps[1], Step::Send(t) if t.starts_with("Hi {{ customer.first_name }}")));
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
        assert_eq!(errors(&two), ["f.toml:5: a step is exactly one of wait, send or compose"]);
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
}
