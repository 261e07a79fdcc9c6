//! SVG charts of a run: the delivery latency CDF and the duplicates histogram.

use std::path::Path;

use plotters::prelude::*;

use super::results::Results;

/// The result of drawing a chart.
pub type PlotResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Draws the delivery latencies of `runs` (label, results), one line per run, into an SVG
/// file: on the left their cumulative distribution over a logarithmic latency axis, on the
/// right the fraction of deliveries slower than each latency on logarithmic axes (the tail).
/// Each label carries the run's p50 / p99 / max.
pub fn plot_latency_cdf(path: &Path, runs: &[(&str, &Results)]) -> PlotResult {
    let root = SVGBackend::new(path, (1200, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("Delivery latency from publish", ("sans-serif", 24))?;
    let (left, right) = root.split_horizontally(600);
    let (min_ms, max_ms) = runs
        .iter()
        .flat_map(|(_, r)| {
            r.latencies_us
                .first()
                .into_iter()
                .chain(r.latencies_us.last())
        })
        .map(|us| f64::from(*us) / 1000.0)
        .fold((f64::MAX, 1.0f64), |(lo, hi), ms| (lo.min(ms), hi.max(ms)));
    // From a power of ten, so the log axis has a labelled tick at its start.
    let x_lo = 10f64.powf((min_ms.min(max_ms) * 0.9).max(0.1).log10().floor());
    let x_hi = max_ms * 1.25;
    let most = runs
        .iter()
        .map(|(_, r)| r.latencies_us.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let colors = run_colors(runs.len());
    let labelled: Vec<String> = runs
        .iter()
        .map(|(label, r)| {
            let l = r.latency;
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
            format!(
                "{label}: p50 {:.0} / p99 {:.0} / max {:.0} ms",
                ms(l.p50),
                ms(l.p99),
                ms(l.max)
            )
        })
        .collect();

    let mut cdf = ChartBuilder::on(&left)
        .margin(15)
        .caption("Cumulative distribution", ("sans-serif", 18))
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), 0.0..1.0)?;
    cdf.configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("deliveries at most this slow")
        .x_label_formatter(&|x| log_label(*x, ""))
        .light_line_style(WHITE)
        .y_label_formatter(&|y| format!("{:.0} %", y * 100.0))
        .draw()?;
    for (i, (_, results)) in runs.iter().enumerate() {
        let color = colors[i];
        cdf.draw_series(LineSeries::new(
            cdf_points(&results.latencies_us),
            color.stroke_width(2),
        ))?
        .label(labelled[i].as_str())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    cdf.draw_series(DashedLineSeries::new(
        vec![(x_lo, 0.99), (x_hi, 0.99)],
        5,
        4,
        BLACK.mix(0.4).stroke_width(1),
    ))?
    .label("99 %")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    // Upper left: a CDF leaves that corner empty (few fast deliveries reach 100 %).
    cdf.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    let floor = 1.0 / most as f64;
    let mut tail = ChartBuilder::on(&right)
        .margin(15)
        .caption("Tail: deliveries slower than x", ("sans-serif", 18))
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (floor * 0.5..1.5).log_scale())?;
    tail.configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("fraction at least this slow (log scale)")
        .x_label_formatter(&|x| log_label(*x, ""))
        .light_line_style(WHITE)
        .y_label_formatter(&|y| log_label(*y * 100.0, " %"))
        .draw()?;
    for (i, (_, results)) in runs.iter().enumerate() {
        tail.draw_series(LineSeries::new(
            tail_points(&results.latencies_us),
            colors[i].stroke_width(2),
        ))?;
    }
    tail.draw_series(DashedLineSeries::new(
        vec![(x_lo, 0.01), (x_hi, 0.01)],
        5,
        4,
        BLACK.mix(0.4).stroke_width(1),
    ))?;
    root.present()?;
    Ok(())
}

/// The label of a tick on a logarithmic axis: only 1, 2 and 5 times a power of ten are
/// labelled (the others stay blank so the labels do not run into each other).
pub(crate) fn log_label(v: f64, unit: &str) -> String {
    if v.is_nan() || v <= 0.0 {
        return String::new();
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    if [1.0, 2.0, 5.0, 10.0]
        .iter()
        .all(|m| (mantissa - m).abs() > 0.05)
    {
        return String::new();
    }
    let decimals = (-v.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}{unit}")
}

/// Line colours for `n` runs: the first (the run of interest) red, the second blue.
fn run_colors(n: usize) -> Vec<RGBColor> {
    (0..n)
        .map(|i| match i {
            0 => RGBColor(215, 48, 39),
            1 => RGBColor(69, 117, 180),
            i => {
                let (r, g, b) = Palette99::pick(i + 2).rgb();
                RGBColor(r, g, b)
            }
        })
        .collect()
}

/// At most ~2000 of the (sorted) latencies, every k-th and the last.
fn thin(l: &[u32]) -> impl Iterator<Item = (usize, &u32)> {
    let step = (l.len() / 2000).max(1);
    l.iter()
        .enumerate()
        .filter(move |(j, _)| j % step == 0 || *j + 1 == l.len())
}

/// (ms, fraction of deliveries at most this slow).
fn cdf_points(l: &[u32]) -> Vec<(f64, f64)> {
    let n = l.len().max(1) as f64;
    thin(l)
        .map(|(j, us)| (f64::from(*us) / 1000.0, (j + 1) as f64 / n))
        .collect()
}

/// (ms, fraction of deliveries at least this slow): never zero, so it fits a log axis.
fn tail_points(l: &[u32]) -> Vec<(f64, f64)> {
    let n = l.len().max(1) as f64;
    thin(l)
        .map(|(j, us)| (f64::from(*us) / 1000.0, (l.len() - j) as f64 / n))
        .collect()
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
        .light_line_style(WHITE)
        .x_labels((max_k as usize).min(30))
        .x_desc("copies of a message received by a node (1 = no duplicate)")
        .y_desc("share of deliveries")
        .y_label_formatter(&|y| format!("{:.0} %", y * 100.0))
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

#[cfg(test)]
mod tests {
    use super::log_label;

    #[test]
    fn log_axis_labels_only_one_two_and_five() {
        assert_eq!(log_label(10.0, ""), "10");
        assert_eq!(log_label(200.0, " ms"), "200 ms");
        assert_eq!(log_label(5000.0, ""), "5000");
        assert_eq!(log_label(0.01, " %"), "0.01 %");
        assert_eq!(log_label(0.5, ""), "0.5");
        assert_eq!(log_label(300.0, ""), "");
        assert_eq!(log_label(70.0, ""), "");
        assert_eq!(log_label(0.0, ""), "");
        assert_eq!(log_label(f64::NAN, ""), "");
    }
}
