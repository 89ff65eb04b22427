//! Deliverability alerts: Klaviyo's thresholds over the last 7 days
//! (help.klaviyo.com/hc/en-us/articles/21206358003355): each failure reason's share of the
//! texts sent, the unsubscribe rate and the click rate. Raised once (an outbound webhook
//! event `deliverability.alert`), shown in the console while they last.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::counts::Counts;
use crate::store::Db;
use crate::store::analytics as store;

/// The span the thresholds are measured over.
pub const SPAN: Duration = Duration::days(7);

/// One threshold: the metric, its limit, and whether being below (not above) it is the alarm.
pub struct Threshold {
    pub metric: &'static str,
    pub limit: f64,
    pub below: bool,
    pub label: &'static str,
}

/// Klaviyo's thresholds, as its help page lists them.
pub const THRESHOLDS: &[Threshold] = &[
    Threshold { metric: "disconnected", limit: 0.05, below: false, label: "Device disconnected > 5%" },
    Threshold { metric: "unreachable", limit: 0.05, below: false, label: "Device unreachable > 5%" },
    Threshold { metric: "carrier_violation", limit: 0.10, below: false, label: "Carrier violation > 10%" },
    Threshold { metric: "blocked", limit: 0.05, below: false, label: "Message blocked > 5%" },
    Threshold { metric: "incapable", limit: 0.05, below: false, label: "Device incapable > 5%" },
    Threshold { metric: "unknown", limit: 0.10, below: false, label: "Unknown failure > 10%" },
    Threshold { metric: "unsubscribe_rate", limit: 0.013, below: false, label: "Unsubscribe rate > 1.3%" },
    Threshold { metric: "click_rate", limit: 0.06, below: true, label: "Click rate < 6%" },
];

/// A threshold crossed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    pub metric: String,
    pub label: String,
    pub rate: f64,
    pub threshold: f64,
}

/// The thresholds `c` (7 days of counts) crosses. A rate with nothing to count (no texts, no
/// links) crosses nothing.
pub fn crossed(c: &Counts) -> Vec<Alert> {
    let rate = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
    THRESHOLDS
        .iter()
        .filter_map(|t| {
            let value = match t.metric {
                "unsubscribe_rate" => rate(c.opted_out, c.proactive),
                "click_rate" => rate(c.clicked, c.linked),
                reason => rate(c.failures.get(reason).copied().unwrap_or(0), c.messages_outbound),
            }?;
            let over = if t.below { value < t.limit } else { value > t.limit };
            over.then(|| Alert { metric: t.metric.into(), label: t.label.into(), rate: value, threshold: t.limit })
        })
        .collect()
}

/// Raises the alerts of the 7 days to `now` (a webhook event for each new one) and clears
/// those no longer crossed; returns the alerts raised now.
pub async fn check(db: &Db, c: &Counts, now: DateTime<Utc>) -> anyhow::Result<Vec<Alert>> {
    let alerts = crossed(c);
    for a in &alerts {
        store::raise_alert(db, &a.metric, a.rate, a.threshold, now).await?;
    }
    for (metric, ..) in store::raised_alerts(db).await? {
        if !alerts.iter().any(|a| a.metric == metric) {
            store::clear_alert(db, &metric).await?;
        }
    }
    Ok(alerts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn klaviyos_thresholds_are_crossed_above_or_below() {
        let mut c = Counts {
            messages_outbound: 100,
            proactive: 100,
            opted_out: 2,
            linked: 50,
            clicked: 2,
            ..Counts::default()
        };
        c.failures.insert("carrier_violation".into(), 10);
        c.failures.insert("unreachable".into(), 6);
        let metrics: Vec<_> = crossed(&c).into_iter().map(|a| a.metric).collect();
        // 10% carrier violations is not over 10%; 6% unreachable is over 5%.
        assert_eq!(metrics, ["unreachable", "unsubscribe_rate", "click_rate"]);
        assert!(crossed(&Counts::default()).is_empty());
    }
}
