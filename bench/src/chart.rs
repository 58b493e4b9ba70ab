//! The suite's SVG chart: fan-out throughput and p99 latency per server.

use crate::report::SuiteReport;
use anyhow::{Result, anyhow};
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 420;

/// Draws two bar charts side by side into an SVG file: deliveries per second in the closed-loop
/// fan-out, and p99 latency in the large room at a fixed rate, one bar per server.
pub fn draw(report: &SuiteReport, path: &Path) -> Result<()> {
    let titles: Vec<&str> = report.servers.iter().map(|s| s.server.title()).collect();
    let throughput: Vec<Option<f64>> = report
        .servers
        .iter()
        .map(|s| s.fan_out.as_ref().map(|f| f.delivered_per_second / 1e6))
        .collect();
    let p99: Vec<Option<f64>> = report
        .servers
        .iter()
        .map(|s| s.latency.as_ref().map(|f| f.latency.p99_ms))
        .collect();

    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (left, right) = root.split_horizontally(WIDTH / 2);
    let s = report.sizes;
    bars(
        &left,
        &format!(
            "Fan-out {}×{}: deliveries/s (millions, higher is better)",
            s.fan_out_members, s.fan_out_senders
        ),
        &titles,
        &throughput,
        &RGBColor(0x2b, 0x6c, 0xb0),
    )?;
    bars(
        &right,
        &format!(
            "{} members at {} msg/s: p99 latency (ms, lower is better)",
            s.latency_members, s.latency_rate
        ),
        &titles,
        &p99,
        &RGBColor(0xc0, 0x5a, 0x2b),
    )?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    titles: &[&str],
    values: &[Option<f64>],
    color: &RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let top = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.2 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d((0..titles.len().max(1) - 1).into_segmented(), 0.0..top)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(titles.len())
        .x_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(i) => titles.get(*i).copied().unwrap_or("").to_owned(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(color.filled())
                .margin(24)
                .data(
                    values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| Some((i, (*v)?))),
                ),
        )
        .map_err(plot_error)?;
    // The figure above each bar, so the chart reads without the table; a server whose run
    // failed gets a note instead of a bar.
    chart
        .draw_series(values.iter().enumerate().map(|(i, v)| {
            let (label, y) = match v {
                Some(v) => (format!("{v:.2}"), *v + top * 0.03),
                None => ("no result".to_owned(), top * 0.03),
            };
            Text::new(
                label,
                (SegmentValue::CenterOf(i), y),
                ("sans-serif", 13).into_font(),
            )
        }))
        .map_err(plot_error)?;
    Ok(())
}

fn plot_error<E: std::fmt::Display>(err: E) -> anyhow::Error {
    anyhow!("drawing the chart: {err}")
}
