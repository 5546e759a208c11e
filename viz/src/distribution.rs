//! The distribution of durations: a histogram and the empirical CDF side by
//! side, each sample in its own colour so that runs can be compared (for
//! instance the same scenario with and without a feature).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::style::{self, LegendEntry, Swatch};
use crate::Chart;

const SIZE: (u32, u32) = (1400, 600);
/// The height below the panels for a legend of one row; each further row
/// makes the chart taller.
const LEGEND_AREA: u32 = 46;
/// About this many histogram bins.
const BINS: f64 = 20.0;

#[derive(Debug, Clone, Default)]
pub struct Distribution {
    pub title: String,
    pub subtitle: String,
    /// The quantity on the x axis, e.g. "duration (s)".
    pub x_label: String,
    /// The thing counted on the histogram's y axis, e.g. "intervals".
    pub y_label: String,
    pub samples: Vec<Sample>,
    /// Said in the middle of each panel when no sample has a value.
    pub empty: String,
}

#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub label: String,
    pub values: Vec<f64>,
    /// Drawn as an outline (histogram) and a dashed line (CDF): a part of
    /// another sample rather than a run of its own.
    pub secondary: bool,
}

/// Histogram bins: their width and, per sample, the count in each.
fn bins(samples: &[Sample], max: f64) -> (f64, Vec<Vec<u64>>) {
    let width = style::nice_step(max, BINS);
    let n = ((max / width).floor() as usize + 1).max(1);
    let counts = samples
        .iter()
        .map(|s| {
            let mut c = vec![0; n];
            for v in &s.values {
                c[((v / width).floor().max(0.0) as usize).min(n - 1)] += 1;
            }
            c
        })
        .collect();
    (width, counts)
}

/// The empirical CDF of `values` as a step line from 0 to `max`.
fn cdf(values: &[f64], max: f64) -> Vec<(f64, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mut points = vec![(0.0, 0.0)];
    for (i, x) in v.iter().enumerate() {
        points.push((*x, i as f64 / n));
        points.push((*x, (i + 1) as f64 / n));
    }
    if let Some(last) = points.last().copied() {
        points.push((max, last.1));
    }
    points
}

impl Distribution {
    fn max(&self) -> f64 {
        self.samples
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0, f64::max)
    }

    fn empty(&self) -> bool {
        self.samples.iter().all(|s| s.values.is_empty())
    }

    /// The colour of each sample: the palette's next for a sample of its
    /// own, its sample's for a part of one (the sample before it), so the
    /// two read as a pair.
    fn colours(&self) -> Vec<RGBColor> {
        let mut primaries = 0;
        self.samples
            .iter()
            .map(|s| {
                if !s.secondary || primaries == 0 {
                    primaries += 1;
                }
                style::SERIES[(primaries - 1) % style::SERIES.len()]
            })
            .collect()
    }

    fn draw_histogram<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let max = self.max().max(1.0);
        let (width, counts) = bins(&self.samples, max);
        let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
        let x_end = width * counts.first().map_or(1, Vec::len) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption("histogram", style::font(16))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_end, 0u64..top + top.div_ceil(10))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|x| style::seconds_label(*x))
            .axis_desc_style(style::font(14))
            .label_style(style::font(13))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .map_err(err)?;
        let k = self.samples.len().max(1) as f64;
        let slot = width * 0.84 / k;
        let colours = self.colours();
        for (i, (sample, counts)) in self.samples.iter().zip(&counts).enumerate() {
            let colour = colours[i];
            let fill = if sample.secondary {
                colour.stroke_width(2)
            } else {
                colour.mix(0.85).filled()
            };
            chart
                .draw_series(
                    counts
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| **c > 0)
                        .map(|(b, &c)| {
                            let x0 = b as f64 * width + width * 0.08 + slot * i as f64;
                            Rectangle::new([(x0, 0), (x0 + slot, c)], fill)
                        }),
                )
                .map_err(err)?;
        }
        Ok(())
    }

    fn draw_cdf<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let max = self.max().max(1.0) * 1.04;
        let mut chart = ChartBuilder::on(area)
            .caption("cumulative distribution", style::font(16))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..max, 0f64..1.02)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc("share")
            .x_label_formatter(&|x| style::seconds_label(*x))
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .axis_desc_style(style::font(14))
            .label_style(style::font(13))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .map_err(err)?;
        for (sample, colour) in self.samples.iter().zip(self.colours()) {
            if sample.values.is_empty() {
                continue;
            }
            let line = colour.stroke_width(2);
            let points = cdf(&sample.values, max);
            if sample.secondary {
                chart
                    .draw_series(DashedLineSeries::new(points, 7, 5, line))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(points, line))
                    .map_err(err)?;
            }
        }
        Ok(())
    }

    fn legend_entries(&self) -> Vec<LegendEntry> {
        self.samples
            .iter()
            .zip(self.colours())
            .map(|(s, colour)| {
                let label = if s.values.is_empty() {
                    format!("{} (none)", s.label)
                } else {
                    format!("{} ({})", s.label, s.values.len())
                };
                let swatch = if s.secondary {
                    Swatch::Line(colour, true)
                } else {
                    Swatch::Fill(colour.mix(0.85))
                };
                LegendEntry {
                    label,
                    swatch,
                    with_previous: s.secondary,
                }
            })
            .collect()
    }
}

impl Chart for Distribution {
    fn size(&self) -> (u32, u32) {
        let legend = style::legend_extra_height(&self.legend_entries(), SIZE.0);
        (SIZE.0, SIZE.1 + legend)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let head = style::title(root, &self.title, &self.subtitle)?;
        let (_, rest) = root.split_vertically(head);
        let (panels, legend) = rest.split_vertically(SIZE.1 - head - LEGEND_AREA);
        let (left, right) = panels.split_horizontally(SIZE.0 / 2);
        self.draw_histogram(&left)?;
        self.draw_cdf(&right)?;
        if self.empty() {
            style::centred_note(&left, &self.empty)?;
            style::centred_note(&right, &self.empty)?;
        }
        style::legend(&legend, 20, &self.legend_entries())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(values: &[f64]) -> Sample {
        Sample {
            label: "s".into(),
            values: values.to_vec(),
            secondary: false,
        }
    }

    #[test]
    fn values_fall_in_round_bins() {
        let (width, counts) = bins(&[sample(&[1.0, 4.9, 5.0, 99.0, 100.0])], 100.0);
        assert_eq!(width, 5.0);
        assert_eq!(counts[0].len(), 21);
        assert_eq!(counts[0][0], 2);
        assert_eq!(counts[0][1], 1);
        assert_eq!(counts[0][19], 1);
        assert_eq!(counts[0][20], 1);
    }

    /// A part of a sample takes that sample's colour; the samples of
    /// their own take the palette's colours in turn.
    #[test]
    fn a_part_takes_its_samples_colour() {
        let part = Sample {
            secondary: true,
            ..sample(&[1.0])
        };
        let chart = Distribution {
            samples: vec![
                part.clone(),
                sample(&[1.0]),
                part.clone(),
                part,
                sample(&[]),
            ],
            ..Distribution::default()
        };
        let s = style::SERIES;
        assert_eq!(chart.colours(), vec![s[0], s[1], s[1], s[1], s[2]]);
        let many = Distribution {
            samples: vec![sample(&[1.0]); s.len() + 1],
            ..Distribution::default()
        };
        assert_eq!(many.colours()[s.len()], s[0]);
    }

    #[test]
    fn the_cdf_steps_at_each_value() {
        assert_eq!(
            cdf(&[2.0, 1.0], 3.0),
            vec![
                (0.0, 0.0),
                (1.0, 0.0),
                (1.0, 0.5),
                (2.0, 0.5),
                (2.0, 1.0),
                (3.0, 1.0)
            ]
        );
        assert_eq!(cdf(&[], 3.0), vec![(0.0, 0.0), (3.0, 0.0)]);
    }
}
