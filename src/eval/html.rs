//! `report.html`: one self-contained page (inline SVG and CSS, no script, no network) with
//! the metrics, the action confusion matrix, the confidence calibration diagram, the
//! escalation-threshold sweep, the segments histogram, the latency distribution, and every
//! failure with its conversation.

use std::fmt::Write;

use super::report::Report;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", 100.0 * x)).unwrap_or_else(|| "–".into())
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into())
}

const W: f64 = 420.0;
const H: f64 = 260.0;
const PAD: f64 = 40.0;

/// An SVG frame with axes; `x` and `y` map 0–1 to the plot area.
fn frame(title: &str, x_label: &str, y_label: &str, body: &str) -> String {
    format!(
        r##"<figure><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}">
<line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{PAD}" y1="{top}" x2="{PAD}" y2="{b}" stroke="#333"/>
<text x="{cx}" y="{xl}" text-anchor="middle" font-size="11">{xlab}</text>
<text x="12" y="{cy}" text-anchor="middle" font-size="11" transform="rotate(-90 12 {cy})">{ylab}</text>
{body}</svg><figcaption>{t}</figcaption></figure>"##,
        t = esc(title),
        b = H - PAD,
        r = W - 10.0,
        top = 10.0,
        cx = (PAD + W - 10.0) / 2.0,
        xl = H - 8.0,
        cy = (H - PAD + 10.0) / 2.0,
        xlab = esc(x_label),
        ylab = esc(y_label),
    )
}

fn px(x: f64) -> f64 {
    PAD + x * (W - 10.0 - PAD)
}

fn py(y: f64) -> f64 {
    (H - PAD) - y * (H - PAD - 10.0)
}

/// Axis ticks at 0, 0.5 and 1 on both axes.
fn unit_ticks() -> String {
    let mut s = String::new();
    for v in [0.0, 0.5, 1.0] {
        let _ =
            write!(s, r##"<text x="{}" y="{}" font-size="10" text-anchor="middle">{v}</text>"##, px(v), H - PAD + 13.0);
        let _ =
            write!(s, r##"<text x="{}" y="{}" font-size="10" text-anchor="end">{v}</text>"##, PAD - 4.0, py(v) + 3.0);
    }
    s
}

/// Bars over labelled buckets.
fn bars(title: &str, x_label: &str, buckets: &[(String, usize)]) -> String {
    let max = buckets.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let width = (W - 10.0 - PAD) / buckets.len().max(1) as f64;
    let mut body = String::new();
    for (i, (label, n)) in buckets.iter().enumerate() {
        let h = (*n as f64 / max) * (H - PAD - 20.0);
        let x = PAD + i as f64 * width;
        let _ = write!(
            body,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#4a7ebb"><title>{}: {n}</title></rect><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{n}</text><text x="{:.1}" y="{}" font-size="9" text-anchor="middle">{}</text>"##,
            x + 2.0,
            H - PAD - h,
            width - 4.0,
            esc(label),
            x + width / 2.0,
            H - PAD - h - 3.0,
            x + width / 2.0,
            H - PAD + 12.0,
            esc(label)
        );
    }
    frame(title, x_label, "turns", &body)
}

fn confusion(r: &Report) -> String {
    let actions = super::transcript::ACTIONS;
    let max = r.confusion.values().flat_map(|m| m.values()).copied().max().unwrap_or(1).max(1) as f64;
    let mut s = String::from(
        r#"<table class="matrix"><caption>Action confusion matrix (rows: expected, columns: what the pipeline did)</caption><tr><th></th>"#,
    );
    for a in actions {
        let _ = write!(s, "<th scope=\"col\">{a}</th>");
    }
    s += "</tr>";
    for e in actions {
        let _ = write!(s, "<tr><th scope=\"row\">{e}</th>");
        for g in actions {
            let n = r.confusion.get(*e).and_then(|m| m.get(*g)).copied().unwrap_or(0);
            let alpha = if n == 0 { 0.0 } else { 0.15 + 0.85 * n as f64 / max };
            let hue = if e == g { "40,140,70" } else { "200,60,50" };
            let _ = write!(s, "<td style=\"background: rgba({hue},{alpha:.2})\">{n}</td>");
        }
        s += "</tr>";
    }
    s + "</table>"
}

fn calibration(r: &Report) -> String {
    let mut body = unit_ticks();
    let _ = write!(
        body,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#aaa" stroke-dasharray="4 3"/>"##,
        px(0.0),
        py(0.0),
        px(1.0),
        py(1.0)
    );
    let max = r.calibration.iter().map(|b| b.turns).max().unwrap_or(1).max(1) as f64;
    for b in &r.calibration {
        if let (Some(c), Some(right)) = (b.mean_confidence, b.reply_was_right) {
            let radius = 3.0 + 7.0 * (b.turns as f64 / max).sqrt();
            let _ = write!(
                body,
                r##"<circle cx="{:.1}" cy="{:.1}" r="{radius:.1}" fill="#4a7ebb" fill-opacity="0.7"><title>confidence {:.2}–{:.2}: {} turns, replying was right for {:.0}%</title></circle>"##,
                px(c),
                py(right),
                b.from,
                b.to,
                b.turns,
                100.0 * right
            );
        }
    }
    frame(
        "Calibration: share of drafted turns where replying was right, by confidence (dot size: turns)",
        "confidence",
        "replying was right",
        &body,
    )
}

fn sweep(r: &Report) -> String {
    let mut body = unit_ticks();
    for (key, colour, label) in [("esc", "#4a7ebb", "escalation rate"), ("wrong", "#c0392b", "wrongly sent replies")] {
        let points: Vec<String> = r
            .threshold_sweep
            .iter()
            .map(|p| {
                let y = if key == "esc" { p.escalation_rate } else { p.wrongly_sent_rate };
                format!("{:.1},{:.1}", px(p.threshold), py(y))
            })
            .collect();
        let _ = write!(
            body,
            r##"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{label}</title></polyline>"##,
            points.join(" ")
        );
    }
    let t = r.confidence_threshold;
    let _ = write!(
        body,
        r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#333" stroke-dasharray="3 3"/><text x="{:.1}" y="20" font-size="10">configured {t}</text>"##,
        py(0.0),
        py(1.0),
        px(t) + 3.0,
        x = px(t)
    );
    let _ = write!(
        body,
        r##"<text x="{}" y="{}" font-size="10" fill="#4a7ebb">escalation rate</text><text x="{}" y="{}" font-size="10" fill="#c0392b">wrongly sent replies</text>"##,
        px(0.05),
        py(0.62),
        px(0.05),
        py(0.54)
    );
    frame("Escalation threshold sweep over drafted turns", "confidence threshold", "share of drafted turns", &body)
}

fn latency_buckets(r: &Report) -> Vec<(String, usize)> {
    let edges = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0, 2000.0, f64::INFINITY];
    let mut counts = vec![0usize; edges.len()];
    for t in &r.results {
        let i = edges.iter().position(|e| t.latency_ms < *e).unwrap_or(edges.len() - 1);
        counts[i] += 1;
    }
    let mut lower = 0.0;
    edges
        .iter()
        .zip(counts)
        .map(|(e, n)| {
            let label = if e.is_infinite() { format!("≥{lower}") } else { format!("<{e}") };
            lower = *e;
            (label, n)
        })
        .collect()
}

fn segment_buckets(r: &Report) -> Vec<(String, usize)> {
    let max = r.results.iter().filter_map(|t| t.segments).max().unwrap_or(1).max(3);
    (1..=max).map(|s| (s.to_string(), r.results.iter().filter(|t| t.segments == Some(s)).count())).collect()
}

fn failures(r: &Report) -> String {
    if r.failures.is_empty() {
        return "<p>No failures.</p>".into();
    }
    let mut s = String::new();
    for f in &r.failures {
        let _ = write!(
            s,
            "<details><summary><strong>{}</strong> turn {}: expected {}; got {}</summary><ol>",
            esc(&f.id),
            f.turn,
            esc(&f.expected),
            esc(&f.got)
        );
        for t in r.results.iter().filter(|t| t.id == f.id) {
            let mark = if t.turn == f.turn { " class=\"failed\"" } else { "" };
            let _ = write!(
                s,
                "<li{mark}><span class=\"in\">customer: {}</span><br><span class=\"out\">{}: {}</span>{}</li>",
                esc(&t.input),
                esc(&t.action),
                esc(&t.sent.join(" / ")),
                if t.reasons.is_empty() {
                    String::new()
                } else {
                    format!(" <em>({})</em>", esc(&t.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")))
                }
            );
        }
        s += "</ol></details>";
    }
    s
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let rows = [
        ("conversations", r.conversations.to_string()),
        ("turns", r.turns.to_string()),
        ("action accuracy", pct(r.action_accuracy)),
        ("escalation precision", pct(r.escalation_precision)),
        ("escalation recall", pct(r.escalation_recall)),
        ("opt-out recall (keywords)", format!("{} ({})", pct(r.optout_recall), pct(r.optout_recall_keyword))),
        ("opt-out false positives", r.optout_false_positives.to_string()),
        ("unsupported claims sent", r.unsupported_claims.to_string()),
        ("mentions hit rate", pct(r.mentions_hit_rate)),
        ("segments p50 / p95", format!("{} / {}", num(r.segments_p50), num(r.segments_p95))),
        ("prompt tokens p50", num(r.prompt_tokens_p50)),
        ("latency p50 / p99 (ms)", format!("{} / {}", num(r.latency_ms_p50), num(r.latency_ms_p99))),
        ("wall time (s)", format!("{:.1}", r.wall_s)),
    ];
    let mut metrics = String::from("<table class=\"metrics\"><caption>Metrics</caption>");
    for (k, v) in rows {
        let _ = write!(metrics, "<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>");
    }
    metrics += "</table>";
    let mut tags =
        String::from("<table class=\"metrics\"><caption>Action accuracy by eval set and by intent</caption>");
    for (k, t) in r
        .per_tag
        .iter()
        .map(|(k, t)| (format!("set {k}"), t))
        .chain(r.per_intent.iter().map(|(k, t)| (format!("intent {k}"), t)))
    {
        let _ = write!(
            tags,
            "<tr><th scope=\"row\">{}</th><td>{}/{} ({})</td></tr>",
            esc(&k),
            t.passed,
            t.checked,
            pct(t.rate)
        );
    }
    tags += "</table>";
    format!(
        r##"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Backtalk eval report</title><style>
body {{ font-family: system-ui, sans-serif; margin: 1rem auto; max-width: 70rem; padding: 0 1rem; color: #111; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .25rem .5rem; border-bottom: 1px solid #ddd; text-align: left; }}
.matrix td {{ text-align: center; min-width: 3rem; }} caption {{ font-weight: 600; text-align: left; padding-bottom: .3rem; }}
figure {{ margin: 0; }} figcaption {{ font-size: .85rem; max-width: 420px; }}
details {{ border-bottom: 1px solid #eee; padding: .3rem 0; }} li.failed {{ background: #fde8e8; }} .in {{ color: #333; }} .out {{ color: #1a4d8f; }}
</style></head><body>
<h1>Backtalk eval report</h1>
<p>{llm} mode · confidence threshold {threshold} · {failures} failures</p>
<div class="grid">{metrics}{tags}</div>
<h2>Actions</h2><div class="grid">{confusion}</div>
<h2>Confidence</h2><div class="grid">{calibration}{sweep}</div>
<h2>Shape and speed</h2><div class="grid">{segments}{latency}</div>
<h2>Failures</h2>{failure_list}
</body></html>
"##,
        llm = esc(serde_json::to_value(r.llm)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
            .as_str()),
        threshold = r.confidence_threshold,
        failures = r.failures.len(),
        confusion = confusion(r),
        calibration = calibration(r),
        sweep = sweep(r),
        segments = bars("SMS segments per reply", "segments", &segment_buckets(r)),
        latency = bars("Pipeline time per turn", "milliseconds", &latency_buckets(r)),
        failure_list = failures(r),
    )
}
