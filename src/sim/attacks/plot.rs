//! The delivery ratio over time through an attack, against the attack-free run.

use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;

use crate::sim::{PlotResult, Results};

/// Delivery ratio of the messages published in each `bucket` of time: (bucket start in
/// seconds, ratio).
pub(crate) fn delivery_series(results: &Results, bucket: Duration) -> Vec<(f64, f64)> {
    let width = bucket.as_secs_f64().max(1e-3);
    let mut sums: Vec<(usize, usize)> = Vec::new();
    for m in &results.messages {
        let b = (m.published_at.as_secs_f64() / width) as usize;
        if sums.len() <= b {
            sums.resize(b + 1, (0, 0));
        }
        sums[b].0 += m.expected;
        sums[b].1 += m.delivered;
    }
    sums.iter()
        .enumerate()
        .filter(|(_, (e, _))| *e > 0)
        .map(|(b, (e, d))| (b as f64 * width, *d as f64 / *e as f64))
        .collect()
}

/// Draws the delivery ratio per second of publish time of `runs` (label, results), with a
/// vertical mark at `attack` (seconds into the run), into an SVG file.
pub fn plot_delivery_over_time(
    path: &Path,
    runs: &[(&str, &Results)],
    attack: Option<Duration>,
) -> PlotResult {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|(_, r)| delivery_series(r, Duration::from_secs(1)))
        .collect();
    let max_t = series
        .iter()
        .flat_map(|s| s.iter().map(|(t, _)| *t))
        .fold(1.0, f64::max);
    let min_y = series
        .iter()
        .flat_map(|s| s.iter().map(|(_, y)| *y))
        .fold(1.0, f64::min);
    let y_lo = (min_y - 0.01).clamp(0.0, 0.99);
    let mut chart = ChartBuilder::on(&root)
        .caption("Honest delivery ratio over time", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_t + 1.0, y_lo..1.001)?;
    chart
        .configure_mesh()
        .x_desc("publish time (s)")
        .y_desc("delivered / expected")
        .draw()?;
    for (i, ((label, _), points)) in runs.iter().zip(series).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    if let Some(at) = attack {
        let x = at.as_secs_f64();
        chart
            .draw_series(LineSeries::new(
                vec![(x, y_lo), (x, 1.001)],
                RED.mix(0.5).stroke_width(1),
            ))?
            .label("attack starts")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.mix(0.5)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
