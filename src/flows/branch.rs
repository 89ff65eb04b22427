//! Branches in a flow (docs/flows.md, "Branches"): a `branch` step goes to the first step whose
//! condition holds, else to its `else`; a `goto` step jumps. Targets are steps' `id`s or
//! `"end"`, and always lie after the step that jumps, so a flow cannot loop.
//!
//! Here: the conditions as written and as checked, and the part of a condition that needs no
//! database (the trigger's properties). The engine looks up the rest (a segment, the reply,
//! an event) when it runs the step.

use serde::Deserialize;

use crate::domain::flow::normalise;

/// Where a branch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The step at this index.
    Step(usize),
    /// The run is done.
    End,
}

/// One `{ if = {...}, then = "target" }` of a branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub condition: Condition,
    pub then: Target,
}

/// What must hold for an arm to be taken: every part given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Condition {
    pub property: Option<PropertyTest>,
    /// The customer is in this segment now.
    pub segment: Option<String>,
    /// The customer texted back (or not) after the run's latest text.
    pub replied: Option<bool>,
    /// The customer's latest text after the run's latest text is one of these (normalised
    /// like a menu's `match`).
    pub reply: Vec<String>,
    /// An event of this name since the trigger, with its property `key` equal to the trigger's.
    pub event: Option<(String, Option<String>)>,
}

/// A test of the trigger event's property at `path`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PropertyTest {
    /// `items.0.sku` → `["items", "0", "sku"]`.
    pub path: Vec<String>,
    /// Equal (as text) to one of these.
    pub one_of: Vec<String>,
    pub at_least: Option<f64>,
    pub below: Option<f64>,
    pub exists: Option<bool>,
}

impl PropertyTest {
    /// True when the trigger's `properties` pass this test. A missing property passes only
    /// `exists = false`.
    pub fn holds(&self, properties: &serde_json::Value) -> bool {
        let mut value = Some(properties);
        for part in &self.path {
            value = value.and_then(|v| match v {
                serde_json::Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
                other => other.get(part),
            });
        }
        let value = value.filter(|v| !v.is_null());
        if let Some(exists) = self.exists
            && exists != value.is_some()
        {
            return false;
        }
        let Some(value) = value else { return self.exists == Some(false) };
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !self.one_of.is_empty() && !self.one_of.contains(&text) {
            return false;
        }
        let number = match value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        let compared =
            |bound: Option<f64>, ok: fn(f64, f64) -> bool| bound.is_none_or(|b| number.is_some_and(|n| ok(n, b)));
        compared(self.at_least, |n, b| n >= b) && compared(self.below, |n, b| n < b)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Step(i) => write!(f, "step {i}"),
            Target::End => f.write_str("end"),
        }
    }
}

/// A branch or goto in words (the API, the console): `"2 conditions, else step 5"`, `"step 7"`.
pub fn describe(arms: &[Arm], otherwise: Target) -> String {
    match arms.len() {
        0 => otherwise.to_string(),
        1 => format!("1 condition, else {otherwise}"),
        n => format!("{n} conditions, else {otherwise}"),
    }
}

/// `if = { ... }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    #[serde(default)]
    property: Option<String>,
    #[serde(default)]
    equals: Option<toml::Value>,
    #[serde(default)]
    one_of: Vec<toml::Value>,
    #[serde(default)]
    at_least: Option<f64>,
    #[serde(default)]
    below: Option<f64>,
    #[serde(default)]
    exists: Option<bool>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    replied: Option<bool>,
    #[serde(default)]
    reply: Option<Words>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default, rename = "match")]
    key: Option<String>,
}

/// `"yes"` or `["yes", "y"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Words {
    One(String),
    Many(Vec<String>),
}

/// `{ if = { ... }, then = "target" }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArm {
    #[serde(rename = "if")]
    pub condition: RawCondition,
    pub then: String,
}

/// A TOML value compared as text (`1001` and `"1001"` are the same).
fn as_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl RawCondition {
    /// The condition, or what is wrong with it.
    pub fn check(&self) -> Result<Condition, String> {
        let compares = self.equals.is_some()
            || !self.one_of.is_empty()
            || self.at_least.is_some()
            || self.below.is_some()
            || self.exists.is_some();
        let property = match (&self.property, compares) {
            (Some(path), true) => {
                let parts: Vec<String> = path.split('.').map(|p| p.trim().to_string()).collect();
                if parts.iter().any(String::is_empty) {
                    return Err(format!("if.property: {path:?} is not a property path (items.0.sku)"));
                }
                let mut one_of: Vec<String> = self.one_of.iter().map(as_text).collect();
                one_of.extend(self.equals.as_ref().map(as_text));
                Some(PropertyTest {
                    path: parts,
                    one_of,
                    at_least: self.at_least,
                    below: self.below,
                    exists: self.exists,
                })
            }
            (Some(_), false) => {
                return Err("if.property needs equals, one_of, at_least, below or exists".into());
            }
            (None, true) => return Err("if: equals, one_of, at_least, below and exists belong to a property".into()),
            (None, false) => None,
        };
        let reply: Vec<String> = match &self.reply {
            None => vec![],
            Some(Words::One(w)) => vec![normalise(w)],
            Some(Words::Many(ws)) => ws.iter().map(|w| normalise(w)).collect(),
        };
        if reply.iter().any(String::is_empty) {
            return Err("if.reply: a word is empty".into());
        }
        if self.key.is_some() && self.event.is_none() {
            return Err("if: match belongs to an event".into());
        }
        let event = self.event.as_ref().map(|e| (e.trim().to_string(), self.key.clone()));
        if event.as_ref().is_some_and(|(e, _)| e.is_empty()) {
            return Err("if.event is empty".into());
        }
        let segment = self.segment.as_ref().map(|s| s.trim().to_string());
        let condition = Condition { property, segment, replied: self.replied, reply, event };
        if condition == Condition::default() {
            return Err("if: give a property, segment, replied, reply or event".into());
        }
        Ok(condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test(path: &str) -> PropertyTest {
        PropertyTest { path: path.split('.').map(String::from).collect(), ..Default::default() }
    }

    #[test]
    fn a_property_compares_as_text_or_number_and_a_missing_one_passes_only_exists_false() {
        let props = json!({"total": 120.5, "order_id": 1001, "items": [{"sku": "S1"}], "tier": "gold", "none": null});
        assert!(PropertyTest { one_of: vec!["1001".into()], ..test("order_id") }.holds(&props));
        assert!(PropertyTest { one_of: vec!["S1".into()], ..test("items.0.sku") }.holds(&props));
        assert!(!PropertyTest { one_of: vec!["S1".into()], ..test("items.1.sku") }.holds(&props));
        assert!(PropertyTest { at_least: Some(100.0), ..test("total") }.holds(&props));
        assert!(!PropertyTest { below: Some(100.0), ..test("total") }.holds(&props));
        assert!(!PropertyTest { at_least: Some(1.0), ..test("tier") }.holds(&props));
        assert!(PropertyTest { exists: Some(false), ..test("coupon") }.holds(&props));
        assert!(PropertyTest { exists: Some(false), ..test("none") }.holds(&props));
        assert!(!PropertyTest { exists: Some(true), ..test("coupon") }.holds(&props));
        assert!(!PropertyTest { one_of: vec!["x".into()], ..test("coupon") }.holds(&props));
    }

    #[test]
    fn a_condition_refuses_comparisons_without_a_property_and_nothing_at_all() {
        let raw = |t: &str| toml::from_str::<RawCondition>(t).unwrap().check();
        assert!(raw("equals = 3").unwrap_err().contains("belong to a property"));
        assert!(raw("property = \"total\"").unwrap_err().contains("needs equals"));
        assert!(raw("").unwrap_err().contains("give a property"));
        assert!(raw("match = \"id\"").unwrap_err().contains("match belongs"));
        let c = raw("reply = [\"Yes!\", \"y\"]").unwrap();
        assert_eq!(c.reply, ["yes", "y"]);
        let c = raw("property = \"n\"\nequals = 3").unwrap();
        assert_eq!(c.property.unwrap().one_of, ["3"]);
    }
}
