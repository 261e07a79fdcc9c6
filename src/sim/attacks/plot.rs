//! The timeline of an attack run against the attack-free run: delivery ratio, latency and the
//! attackers' hold on honest meshes, second by second, with the attack's events marked.

use std::path::Path;
use std::time::Duration;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{AttackConfig, AttackReport, DAWN_HONEST_DELAY, Scenario};
use crate::sim::plot::log_label;
use crate::sim::{PlotResult, Results};

/// Colour of the attack run's lines.
const ATTACK: RGBColor = RGBColor(215, 48, 39);
/// Colour of the attack-free run's lines.
const REFERENCE: RGBColor = RGBColor(69, 117, 180);

/// Delivery ratio of the messages published in each `bucket` of time: (bucket start in
/// seconds, ratio).
pub(crate) fn delivery_series(results: &Results, bucket: Duration) -> Vec<(f64, f64)> {
    bucketed(results, bucket, |sum: &mut (usize, usize), m| {
        sum.0 += m.expected;
        sum.1 += m.delivered;
    })
    .into_iter()
    .filter(|(_, (e, _))| *e > 0)
    .map(|(t, (e, d))| (t, d as f64 / e as f64))
    .collect()
}

/// The largest per-message p99 delivery latency (ms) among the messages published in each
/// `bucket` of time: (bucket start in seconds, ms).
pub(crate) fn latency_series(results: &Results, bucket: Duration) -> Vec<(f64, f64)> {
    bucketed(results, bucket, |worst: &mut Option<Duration>, m| {
        if m.delivered > 0 {
            *worst = Some(worst.map_or(m.p99, |w| w.max(m.p99)));
        }
    })
    .into_iter()
    .filter_map(|(t, w)| w.map(|w| (t, w.as_secs_f64() * 1000.0)))
    .collect()
}

/// Folds the messages of `results` into one `S` per `bucket` of publish time, in time order.
fn bucketed<S: Default + Clone>(
    results: &Results,
    bucket: Duration,
    mut add: impl FnMut(&mut S, &crate::sim::results::MessageResult),
) -> Vec<(f64, S)> {
    let width = bucket.as_secs_f64().max(1e-3);
    let mut sums: Vec<Option<S>> = Vec::new();
    for m in &results.messages {
        let b = (m.published_at.as_secs_f64() / width) as usize;
        if sums.len() <= b {
            sums.resize(b + 1, None);
        }
        add(sums[b].get_or_insert_with(S::default), m);
    }
    sums.into_iter()
        .enumerate()
        .filter_map(|(b, s)| s.map(|s| (b as f64 * width, s)))
        .collect()
}

/// The moments of an attack run worth marking: (seconds into the run, label, colour).
pub(crate) fn timeline_markers(c: &AttackConfig) -> Vec<(f64, String, RGBColor)> {
    let mut marks = vec![(
        c.warmup.as_secs_f64(),
        "publishing starts".to_string(),
        RGBColor(120, 120, 120),
    )];
    if c.sybils == 0 {
        return marks;
    }
    let connect = if c.scenario.connects_at_start() {
        Duration::ZERO
    } else {
        c.attack_at
    };
    marks.push((
        connect.as_secs_f64(),
        "attackers connect".to_string(),
        RGBColor(0, 0, 0),
    ));
    if c.scenario == Scenario::AttackAtDawn {
        marks.push((
            DAWN_HONEST_DELAY.as_secs_f64(),
            "honest peers connect".to_string(),
            RGBColor(26, 152, 80),
        ));
    }
    if c.scenario == Scenario::CovertFlash {
        marks.push((
            c.flash_at.as_secs_f64(),
            "covert flash (attackers stop forwarding)".to_string(),
            RGBColor(118, 42, 131),
        ));
    }
    // P3 counts from each attacker's GRAFT, which comes within a second or two of connecting.
    marks.push((
        (connect + c.activation).as_secs_f64(),
        format!(
            "P3 active ({:.0} s after the attackers' GRAFTs)",
            c.activation.as_secs_f64()
        ),
        RGBColor(230, 145, 56),
    ));
    marks
}

/// The top of the mesh panel's axis: the band above 100 % holds the legend, so it never hides
/// a line at 100 %.
const MESH_PANEL_TOP: f64 = 140.0;

type Panel<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws the timeline of `report` into an SVG file: three panels over the run's time (delivery
/// ratio and worst p99 latency of the messages published each second, attack run against the
/// attack-free run; the attackers' share of honest mesh slots and of graylisted attacker
/// connections), with the attack's events as vertical lines.
pub fn plot_attack_timeline(path: &Path, report: &AttackReport) -> PlotResult {
    let root = SVGBackend::new(path, (1000, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let c = &report.config;
    let title = format!(
        "{}: {} honest nodes, {} attackers x {} connections",
        c.scenario, c.honest, c.sybils, c.sybil_degree
    );
    let root = root.titled(&title, ("sans-serif", 24))?;
    let panels = root.split_evenly((3, 1));
    let end = (c.warmup + c.duration + c.drain).as_secs_f64();
    let mut runs: Vec<(String, &Results, RGBColor)> = vec![(
        format!("{} (attack run)", c.scenario),
        &report.attack,
        ATTACK,
    )];
    if let Some(b) = &report.baseline {
        runs.push(("attack-free run".to_string(), b, REFERENCE));
    }
    let markers = timeline_markers(c);
    delivery_panel(&panels[0], &runs, end, &markers)?;
    latency_panel(&panels[1], &runs, end, &markers)?;
    mesh_panel(&panels[2], report, end, &markers)?;
    root.present()?;
    Ok(())
}

fn marker_lines<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    markers: &[(f64, String, RGBColor)],
    y: (f64, f64),
    legend: bool,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    for (x, label, color) in markers {
        let color = *color;
        let series = chart.draw_series(DashedLineSeries::new(
            vec![(*x, y.0), (*x, y.1)],
            6,
            4,
            color.stroke_width(2),
        ))?;
        if legend {
            series
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    Ok(())
}

fn delivery_panel(
    area: &Panel<'_>,
    runs: &[(String, &Results, RGBColor)],
    end: f64,
    markers: &[(f64, String, RGBColor)],
) -> PlotResult {
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|(_, r, _)| delivery_series(r, Duration::from_secs(1)))
        .collect();
    let min_y = series
        .iter()
        .flat_map(|s| s.iter().map(|(_, y)| *y))
        .fold(1.0, f64::min);
    // At least 1 % of range, so a run at 100 % is a line at the top, not an empty chart.
    let y_lo = (min_y - 0.01).clamp(0.0, 0.99);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .caption(
            "Delivery ratio of the messages published in each second",
            ("sans-serif", 18),
        )
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(-1.0..end, y_lo..1.002)?;
    chart
        .configure_mesh()
        .x_desc("time since the start of the run (s)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE)
        .y_desc("delivered / expected")
        .y_label_formatter(&|y| format!("{:.1} %", y * 100.0))
        .draw()?;
    // The attack-free run first and wider, so the attack run stays visible on top of it.
    for ((label, _, color), points) in runs.iter().zip(series).rev() {
        let color = *color;
        let width = if color == REFERENCE { 4 } else { 2 };
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(width)))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    marker_lines(&mut chart, markers, (y_lo, 1.002), true)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn latency_panel(
    area: &Panel<'_>,
    runs: &[(String, &Results, RGBColor)],
    end: f64,
    markers: &[(f64, String, RGBColor)],
) -> PlotResult {
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|(_, r, _)| latency_series(r, Duration::from_secs(1)))
        .collect();
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.iter().map(|(_, y)| *y))
        .fold((f64::MAX, 1.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let lo = (lo.min(hi) * 0.8).max(1.0);
    let hi = hi * 1.25;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .caption(
            "Worst p99 delivery latency of the messages published in each second (log scale)",
            ("sans-serif", 18),
        )
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(-1.0..end, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("time since the start of the run (s)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE)
        .y_desc("latency (ms)")
        .y_label_formatter(&|y| log_label(*y, ""))
        .draw()?;
    for ((_, _, color), points) in runs.iter().zip(series).rev() {
        let width = if *color == REFERENCE { 4 } else { 2 };
        chart.draw_series(LineSeries::new(points, color.stroke_width(width)))?;
    }
    for (x, _, color) in markers {
        chart.draw_series(DashedLineSeries::new(
            vec![(*x, lo), (*x, hi)],
            6,
            4,
            color.stroke_width(2),
        ))?;
    }
    Ok(())
}

fn mesh_panel(
    area: &Panel<'_>,
    report: &AttackReport,
    end: f64,
    markers: &[(f64, String, RGBColor)],
) -> PlotResult {
    let samples = &report.observed.samples;
    let share = |num: u32, den: u32| {
        if den == 0 {
            0.0
        } else {
            f64::from(num) / f64::from(den) * 100.0
        }
    };
    // One percentage per sample: `part(s)` of `whole(s)`.
    let series = |part: fn(&super::AttackSample) -> u32,
                  whole: fn(&super::AttackSample) -> u32|
     -> Vec<(f64, f64)> {
        samples
            .iter()
            .map(|s| (s.at.as_secs_f64(), share(part(s), whole(s))))
            .collect()
    };
    let mesh = series(|s| s.attacker_mesh_slots, |s| s.mesh_slots);
    let graylisted = series(|s| s.attackers_graylisted, |s| s.attacker_connections);
    let negative = series(|s| s.attackers_negative, |s| s.attacker_connections);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .caption(
            "What honest routers make of the attackers",
            ("sans-serif", 18),
        )
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(-1.0..end, 0.0..MESH_PANEL_TOP)?;
    chart
        .configure_mesh()
        .x_desc("time since the start of the run (s)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE)
        .y_desc("percent")
        .y_label_formatter(&|y| {
            if *y > 100.5 {
                String::new()
            } else {
                format!("{y:.0} %")
            }
        })
        .draw()?;
    let lines = [
        (mesh, "attackers' share of honest mesh slots", ATTACK),
        (
            negative,
            "attacker connections scored below 0",
            RGBColor(230, 145, 56),
        ),
        (
            graylisted,
            "attacker connections graylisted",
            RGBColor(0, 0, 0),
        ),
    ];
    if report.config.sybils > 0 {
        for (points, label, color) in lines {
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    marker_lines(&mut chart, markers, (0.0, MESH_PANEL_TOP), false)?;
    if report.config.sybils > 0 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::attacks::run_attack;

    #[test]
    fn markers_name_the_events_of_the_scenario() {
        let labels = |s: Scenario| -> Vec<(f64, String)> {
            timeline_markers(&AttackConfig::small(s))
                .into_iter()
                .map(|(t, l, _)| (t, l))
                .collect()
        };
        let dawn = labels(Scenario::AttackAtDawn);
        assert!(
            dawn.iter()
                .any(|(t, l)| *t == 0.0 && l == "attackers connect")
        );
        assert!(
            dawn.iter()
                .any(|(t, l)| *t == 10.0 && l == "honest peers connect")
        );
        let flash = labels(Scenario::CovertFlash);
        assert!(
            flash
                .iter()
                .any(|(t, l)| *t == 30.0 && l.starts_with("covert flash"))
        );
        let spam = labels(Scenario::SybilSpam);
        assert!(
            spam.iter()
                .any(|(t, l)| *t == 15.0 && l == "attackers connect")
        );
        assert!(
            spam.iter()
                .any(|(t, l)| *t == 35.0 && l.starts_with("P3 active"))
        );
        assert_eq!(labels(Scenario::Baseline).len(), 1);
    }

    #[test]
    fn timeline_svg_has_its_three_panels_and_markers() {
        let mut config = AttackConfig::small(Scenario::CovertFlash);
        config.honest = 20;
        config.sybils = 4;
        config.sybil_degree = 10;
        config.publishers = 2;
        config.duration = Duration::from_secs(25);
        config.drain = Duration::from_secs(1);
        let (attack, observed) = run_attack(&config);
        // The attack run stands in for the reference run too: the chart only needs two runs.
        let report = AttackReport {
            baseline: Some(attack.clone()),
            attack,
            observed,
            config,
        };
        let dir = std::env::temp_dir().join(format!("gossipsub-timeline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.svg");
        plot_attack_timeline(&path, &report).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        for text in [
            "Delivery ratio of the messages published",
            "Worst p99 delivery latency",
            "What honest routers make of the attackers",
            "covert flash",
            "attack-free run",
            "latency (ms)",
            "100.0 %",
        ] {
            assert!(svg.contains(text), "{text:?} missing from the timeline");
        }
    }
}
