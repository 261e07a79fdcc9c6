//! SVG charts of a run: the delivery latency CDF and the duplicates histogram.

use std::path::Path;

use plotters::prelude::*;

use super::results::Results;

/// The result of drawing a chart.
pub type PlotResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Draws the cumulative distribution of delivery latencies of `runs` (label, results), one
/// line per run, into an SVG file.
pub fn plot_latency_cdf(path: &Path, runs: &[(&str, &Results)]) -> PlotResult {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_ms = runs
        .iter()
        .filter_map(|(_, r)| r.latencies_us.last())
        .map(|us| f64::from(*us) / 1000.0)
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption("Delivery latency CDF", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..max_ms * 1.02, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("latency from publish (ms)")
        .y_desc("fraction of deliveries")
        .draw()?;
    for (i, (label, results)) in runs.iter().enumerate() {
        let l = &results.latencies_us;
        let n = l.len().max(1) as f64;
        // At most ~2000 points per line: every k-th delivery, plus the last.
        let step = (l.len() / 2000).max(1);
        let points = l
            .iter()
            .enumerate()
            .filter(|(j, _)| j % step == 0 || *j + 1 == l.len())
            .map(|(j, us)| (f64::from(*us) / 1000.0, (j + 1) as f64 / n));
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Draws a histogram of how many copies each node received of each message it delivered
/// (1 = no duplicate), as an SVG file.
pub fn plot_duplicates(path: &Path, results: &Results) -> PlotResult {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let total: u64 = results.copies.iter().sum::<u64>().max(1);
    let bars: Vec<(u32, f64)> = results
        .copies
        .iter()
        .enumerate()
        .skip(1)
        .map(|(k, c)| (k as u32, *c as f64 / total as f64))
        .collect();
    let max_k = bars.len() as u32 + 1;
    let max_y = bars.iter().map(|(_, f)| *f).fold(0.01, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Copies received per delivered message ({:.2} duplicates per delivery)",
                results.duplicates_per_delivery()
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((1u32..max_k).into_segmented(), 0.0..max_y * 1.05)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("copies received by a node (1 = no duplicate)")
        .y_desc("fraction of deliveries")
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .style(BLUE.mix(0.6).filled())
            .margin(2)
            .data(bars),
    )?;
    root.present()?;
    Ok(())
}
