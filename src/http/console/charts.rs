//! Charts drawn on the server as SVG (no script, nothing inline the CSP would refuse): trend
//! lines per day and horizontal bars. Labels are escaped; every number is computed here.

use std::fmt::Write;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The colours of the series, in order (distinguishable in grey too: each line is also dashed
/// differently).
const COLOURS: &[(&str, &str)] = &[("#1a5fb4", ""), ("#c01c28", "6 3"), ("#26a269", "2 2"), ("#a347ba", "8 2 2 2")];

/// A line per series over the days, with the first and last day under the axis and each
/// series' name and total in the legend.
pub fn lines(title: &str, days: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let (w, h, left, bottom) = (640.0, 200.0, 40.0, 24.0);
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0_f64, f64::max).max(1.0);
    let n = days.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + (w - left - 8.0) * i as f64 / n;
    let y = |v: f64| (h - bottom) - (h - bottom - 8.0) * v / max;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        h + 16.0 * series.len() as f64,
        escape(title),
        escape(title)
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{0}\" x2=\"{w}\" y2=\"{0}\" stroke=\"#999\"/>\
         <text x=\"4\" y=\"14\" font-size=\"11\">{max}</text><text x=\"4\" y=\"{0}\" font-size=\"11\">0</text>",
        h - bottom
    );
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{}\" font-size=\"11\">{}</text>\
             <text x=\"{w}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            h - 8.0,
            escape(first),
            h - 8.0,
            escape(last)
        );
    }
    for (k, (name, values)) in series.iter().enumerate() {
        let (colour, dash) = COLOURS[k % COLOURS.len()];
        let points: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\" points=\"{}\"/>",
            points.join(" ")
        );
        let total: f64 = values.iter().sum();
        let ly = h + 12.0 + 16.0 * k as f64;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>\
             <text x=\"{2}\" y=\"{3}\" font-size=\"12\">{4} ({total})</text>",
            ly - 4.0,
            left + 24.0,
            left + 30.0,
            ly,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One horizontal bar per item, scaled to the largest, with its value at its end.
pub fn bars(title: &str, items: &[(String, f64)]) -> String {
    let (w, row, label) = (640.0, 22.0, 170.0);
    let max = items.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(1.0);
    let h = row * items.len().max(1) as f64 + 4.0;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        escape(title),
        escape(title)
    );
    if items.is_empty() {
        svg.push_str("<text x=\"4\" y=\"16\" font-size=\"12\">Nothing in this period.</text>");
    }
    for (i, (name, value)) in items.iter().enumerate() {
        let top = row * i as f64 + 2.0;
        let width = (w - label - 60.0) * value / max;
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{}\" font-size=\"12\">{}</text>\
             <rect x=\"{label}\" y=\"{top}\" width=\"{width:.1}\" height=\"{}\" fill=\"#1a5fb4\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{value}</text>",
            top + 14.0,
            escape(name),
            row - 6.0,
            label + width + 4.0,
            top + 14.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_drawn() {
        let svg = bars("Reasons", &[("<b>".into(), 2.0), ("b".into(), 1.0)]);
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        let svg = lines("Trend", &["2026-01-01".into(), "2026-01-02".into()], &[("Sent", vec![1.0, 3.0])]);
        assert!(svg.contains("Sent (4)") && svg.contains("<polyline"));
    }
}
