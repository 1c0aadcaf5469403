//! The outputs: the Markdown table and the two charts.

use crate::harness::*;
use std::fmt::Write as _;

pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "| scenario | unit | shardcast | actor | limit | shardcast vs actor | shardcast vs limit |\n|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for row in rows {
        let ratio = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}x"));
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.unit,
            fmt_stat(Some(row.shardcast)),
            fmt_stat(row.actor),
            fmt_stat(row.limit),
            ratio(row.ratio(row.actor)),
            ratio(row.ratio(row.limit)),
        )
        .unwrap();
    }
    out
}

/// A horizontal bar chart of "x better than the actor" per scenario, log scale.
pub(crate) fn ratio_svg(rows: &[Row]) -> String {
    let rows: Vec<(&str, f64, Option<f64>)> = rows
        .iter()
        .filter_map(|r| Some((r.scenario.as_str(), r.ratio(r.actor)?, r.ratio(r.limit))))
        .collect();
    let (left, width, bar, gap) = (330.0, 520.0, 14.0, 8.0);
    let height = 60.0 + rows.len() as f64 * (bar + gap);
    let max = rows
        .iter()
        .map(|r| r.1)
        .fold(1.0, f64::max)
        .log10()
        .ceil()
        .max(1.0);
    let x = |v: f64| left + width * (v.max(0.1).log10() + 1.0) / (max + 1.0);
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{height}' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n<text x='10' y='18' font-size='13'>shardcast vs the actor engine: times better (log scale; 1x = parity)</text>\n",
        left + width + 60.0
    );
    for decade in -1..=(max as i32) {
        let v = 10f64.powi(decade);
        let xv = x(v);
        writeln!(svg, "<line x1='{xv}' y1='28' x2='{xv}' y2='{}' stroke='#ddd'/><text x='{xv}' y='{}' text-anchor='middle'>{v}x</text>", height - 20.0, height - 6.0).unwrap();
    }
    for (i, (name, ratio, _)) in rows.iter().enumerate() {
        let y = 34.0 + i as f64 * (bar + gap);
        let x0 = x(1.0);
        let x1 = x(*ratio);
        let (from, to) = if x1 >= x0 { (x0, x1) } else { (x1, x0) };
        let color = if *ratio >= 1.0 { "#2b7bb9" } else { "#c44" };
        writeln!(svg, "<text x='{}' y='{}' text-anchor='end'>{name}</text><rect x='{from}' y='{y}' width='{}' height='{bar}' fill='{color}'/><text x='{}' y='{}'>{ratio:.1}x</text>", left - 6.0, y + bar - 3.0, (to - from).max(1.0), to + 4.0, y + bar - 3.0).unwrap();
    }
    svg.push_str("</svg>\n");
    svg
}

/// ns per insert against deque size, shardcast and the actor, log-log.
pub(crate) fn scaling_svg(points: &[(String, usize, f64, f64)]) -> String {
    let series: Vec<(&str, bool)> = vec![
        ("new, 4 peers", false),
        ("duplicate, 4 peers", false),
        ("new, 4 peers", true),
        ("duplicate, 4 peers", true),
    ];
    let (left, top, width, height) = (60.0, 30.0, 520.0, 300.0);
    let all: Vec<f64> = points.iter().flat_map(|p| [p.2, p.3]).collect();
    let lo = all
        .iter()
        .cloned()
        .fold(f64::MAX, f64::min)
        .max(1.0)
        .log10()
        .floor();
    let hi = all.iter().cloned().fold(1.0, f64::max).log10().ceil();
    let x = |deque: usize| left + width * ((deque as f64).log2() - 4.0) / 9.0;
    let y = |ns: f64| top + height * (1.0 - (ns.log10() - lo) / (hi - lo).max(1.0));
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n<text x='10' y='18' font-size='13'>ns per insert vs deque size (4 peers, log-log): shardcast (blue) is O(1), the actor (red) scans its deque</text>\n",
        left + width + 170.0,
        top + height + 40.0
    );
    for deque in [16usize, 128, 1024, 8192] {
        writeln!(
            svg,
            "<text x='{}' y='{}' text-anchor='middle'>deque {deque}</text>",
            x(deque),
            top + height + 18.0
        )
        .unwrap();
    }
    for e in (lo as i32)..=(hi as i32) {
        let v = 10f64.powi(e);
        writeln!(svg, "<line x1='{left}' y1='{0}' x2='{1}' y2='{0}' stroke='#ddd'/><text x='{2}' y='{0}' text-anchor='end'>{v} ns</text>", y(v), left + width, left - 4.0).unwrap();
    }
    for (name, actor) in series {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.0 == name)
            .map(|p| (x(p.1), y(if actor { p.3 } else { p.2 })))
            .collect();
        let color = if actor { "#c44" } else { "#2b7bb9" };
        let dash = if name.starts_with("dup") {
            " stroke-dasharray='5,3'"
        } else {
            ""
        };
        let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        writeln!(
            svg,
            "<polyline fill='none' stroke='{color}' stroke-width='2'{dash} points='{}'/>",
            path.join(" ")
        )
        .unwrap();
        if let Some((a, b)) = pts.last() {
            let who = if actor { "actor" } else { "shardcast" };
            writeln!(
                svg,
                "<text x='{}' y='{}' fill='{color}'>{who}: {name}</text>",
                a + 6.0,
                b + 4.0
            )
            .unwrap();
        }
    }
    svg.push_str("</svg>\n");
    svg
}
