//! The timeline: one lane per labelled pair, its intervals shaded, the
//! annotated part of each drawn in its own colour, marks where something
//! arrived, and background bands (with a row each above the lanes) for the
//! periods something was broken. Beyond [`MAX_LANES`] lanes the chart
//! aggregates: it plots how many lanes are inside an interval (and inside
//! an annotated part) at each moment, and says so.

use std::collections::BTreeMap;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::style::{self, LegendEntry, Swatch};
use crate::Chart;

/// The most lanes drawn one by one.
pub const MAX_LANES: usize = 200;
/// The most band rows; further labels share the last row.
const MAX_BAND_ROWS: usize = 10;
const WIDTH: u32 = 1400;
const BAND_ROW: u32 = 18;
const AGGREGATE_HEIGHT: u32 = 440;
const AXIS_AREA: u32 = 52;
const LEGEND_AREA: u32 = 44;

/// A timeline chart. Times are in seconds from 0 to `end`.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub title: String,
    pub subtitle: String,
    pub end: f64,
    pub lanes: Vec<Lane>,
    pub bands: Vec<Band>,
    pub labels: Labels,
}

/// The words of the legend and the notes.
#[derive(Debug, Clone)]
pub struct Labels {
    pub interval: String,
    pub annotated: String,
    pub annotation: String,
    pub clear: String,
    pub band: String,
    /// Said in the middle of a chart with no interval at all.
    pub empty: String,
    /// The y axis of the aggregate chart.
    pub aggregate_axis: String,
}

impl Default for Labels {
    fn default() -> Self {
        Labels {
            interval: "interval".into(),
            annotated: "annotated part".into(),
            annotation: "annotation".into(),
            clear: "clear".into(),
            band: "band".into(),
            empty: "no intervals".into(),
            aggregate_axis: "lanes in an interval".into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Lane {
    pub label: String,
    pub intervals: Vec<Interval>,
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, Default)]
pub struct Interval {
    pub start: f64,
    pub end: f64,
    /// Parts of the interval drawn as annotated, `(from, to)`.
    pub annotated: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub at: f64,
    pub kind: MarkKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// Drawn as a downward triangle at the top of the lane.
    Annotation,
    /// Drawn as an upward triangle at the bottom of the lane.
    Clear,
}

/// A period shaded behind every lane, and drawn in the row of its label.
#[derive(Debug, Clone, Default)]
pub struct Band {
    pub label: String,
    pub start: f64,
    pub end: f64,
}

impl Timeline {
    fn aggregated(&self) -> bool {
        self.lanes.len() > MAX_LANES
    }

    fn empty(&self) -> bool {
        self.lanes.iter().all(|l| l.intervals.is_empty())
    }

    /// Band labels in order of first appearance, at most [`MAX_BAND_ROWS`],
    /// and the row of each band.
    fn band_rows(&self) -> (Vec<String>, Vec<usize>) {
        let mut labels: Vec<String> = Vec::new();
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let rows = self
            .bands
            .iter()
            .map(|b| {
                *index.entry(&b.label).or_insert_with(|| {
                    labels.push(b.label.clone());
                    labels.len() - 1
                })
            })
            .collect::<Vec<_>>();
        if labels.len() <= MAX_BAND_ROWS {
            return (labels, rows);
        }
        let more = labels.len() - (MAX_BAND_ROWS - 1);
        labels.truncate(MAX_BAND_ROWS - 1);
        labels.push(format!("{more} more"));
        let rows = rows.into_iter().map(|r| r.min(MAX_BAND_ROWS - 1)).collect();
        (labels, rows)
    }

    fn lane_geometry(&self) -> (u32, u32) {
        match self.lanes.len() {
            0..=40 => (24, 13),
            41..=100 => (16, 12),
            _ => (13, 10),
        }
    }

    fn main_height(&self) -> u32 {
        if self.aggregated() || self.lanes.is_empty() {
            AGGREGATE_HEIGHT
        } else {
            (self.lanes.len() as u32 * self.lane_geometry().0).max(120) + AXIS_AREA
        }
    }

    fn band_height(&self) -> u32 {
        let rows = self.band_rows().0.len() as u32;
        if rows == 0 {
            0
        } else {
            rows * BAND_ROW + 12
        }
    }

    fn end(&self) -> f64 {
        if self.end > 0.0 {
            self.end
        } else {
            1.0
        }
    }
}

impl Chart for Timeline {
    fn size(&self) -> (u32, u32) {
        let legend = style::legend_extra_height(&self.legend_entries(), WIDTH);
        let height = 64 + self.band_height() + self.main_height() + LEGEND_AREA + legend + 10;
        (WIDTH, height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let mut subtitle = self.subtitle.clone();
        if self.aggregated() {
            let note = format!(
                "{} lanes: more than {MAX_LANES}, so aggregated",
                self.lanes.len()
            );
            subtitle = join(&subtitle, &note);
        }
        let head = style::title(root, &self.title, &subtitle)?;
        let (_, rest) = root.split_vertically(head);
        let (bands, rest) = rest.split_vertically(self.band_height());
        let (main, legend) = rest.split_vertically(self.main_height());
        let label_width = self.label_width(root);
        let (band_labels, band_rows) = self.band_rows();
        if !band_labels.is_empty() {
            self.draw_band_rows(&bands, label_width, &band_labels, &band_rows)?;
        }
        if self.aggregated() {
            self.draw_aggregate(&main, label_width)?;
        } else {
            self.draw_lanes(&main, label_width)?;
        }
        if self.empty() {
            style::centred_note(&main, &self.labels.empty)?;
        }
        style::legend(&legend, 22, &self.legend_entries())
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a} · {b}")
    }
}

/// Writes `labels[i]` right-aligned left of row `i` of `chart`, drawn on
/// `area`.
fn row_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    labels: &[String],
    style: &TextStyle,
) -> Result<(), String> {
    let (base_x, base_y) = area.get_base_pixel();
    let n = labels.len();
    let style = style.pos(Pos::new(HPos::Right, VPos::Center));
    for (i, label) in labels.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, row_base(i, n) + 0.5));
        area.draw(&Text::new(
            label.clone(),
            (x - base_x - 8, y - base_y),
            style.clone(),
        ))
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The bottom of row `i` (row 0 at the top) of `n` rows.
fn row_base(i: usize, n: usize) -> f64 {
    (n - 1 - i) as f64
}

impl Timeline {
    fn label_width<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> u32 {
        let (_, lane_font) = self.lane_geometry();
        let lane_style = style::font(lane_font);
        let band_style = style::font(12);
        let drawn = if self.aggregated() {
            0
        } else {
            self.lanes.len()
        };
        let lanes = self.lanes[..drawn]
            .iter()
            .map(|l| style::text_width(root, &l.label, &lane_style));
        let bands = self
            .band_rows()
            .0
            .into_iter()
            .map(|b| style::text_width(root, &b, &band_style));
        let widest = lanes.chain(bands).max().unwrap_or(0);
        (widest + 16).clamp(120, WIDTH * 2 / 5)
    }

    fn draw_band_rows<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        label_width: u32,
        labels: &[String],
        rows: &[usize],
    ) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let n = labels.len();
        let fitted: Vec<String> = labels
            .iter()
            .map(|l| style::fit(area, l, &style::font(12), label_width - 12))
            .collect();
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(30)
            .margin_top(6)
            .margin_bottom(6)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..self.end(), 0f64..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .draw()
            .map_err(err)?;
        row_labels(area, &chart, &fitted, &style::font(12))?;
        let shade = style::BAND.mix(0.75).filled();
        chart
            .draw_series(self.bands.iter().zip(rows).map(|(b, &row)| {
                let y = row_base(row, n);
                Rectangle::new([(b.start, y + 0.15), (b.end.max(b.start), y + 0.85)], shade)
            }))
            .map_err(err)?;
        Ok(())
    }

    fn draw_lanes<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        label_width: u32,
    ) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let n = self.lanes.len().max(1);
        let (_, font_size) = self.lane_geometry();
        let lane_style = style::font(font_size);
        let fitted: Vec<String> = self
            .lanes
            .iter()
            .map(|l| style::fit(area, &l.label, &lane_style, label_width - 12))
            .collect();
        let end = self.end();
        let step = style::nice_step(end, 12.0);
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(30)
            .x_label_area_size(AXIS_AREA)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..end, 0f64..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels((end / step) as usize + 1)
            .x_label_formatter(&|x| style::seconds_label(*x))
            .x_desc("time (s)")
            .axis_desc_style(style::font(14))
            .x_label_style(style::font(13))
            .y_labels(0)
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        // Alternate rows lightly shaded, so a lane can be followed across.
        let zebra = RGBColor(246, 246, 246).filled();
        chart
            .draw_series((0..n).step_by(2).map(|i| {
                let y = row_base(i, n);
                Rectangle::new([(0.0, y), (end, y + 1.0)], zebra)
            }))
            .map_err(err)?;
        let band = style::BAND.mix(0.16).filled();
        chart
            .draw_series(
                self.bands.iter().map(|b| {
                    Rectangle::new([(b.start, 0.0), (b.end.max(b.start), n as f64)], band)
                }),
            )
            .map_err(err)?;
        for (i, lane) in self.lanes.iter().enumerate() {
            self.draw_lane(&mut chart, lane, row_base(i, n))?;
        }
        row_labels(area, &chart, &fitted, &lane_style)
    }

    fn draw_lane<DB: DrawingBackend, X, Y>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
        lane: &Lane,
        y: f64,
    ) -> Result<(), String>
    where
        X: Ranged<ValueType = f64>,
        Y: Ranged<ValueType = f64>,
    {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let bar = |from: f64, to: f64, colour: RGBColor| {
            Rectangle::new([(from, y + 0.2), (to.max(from), y + 0.8)], colour.filled())
        };
        chart
            .draw_series(
                lane.intervals
                    .iter()
                    .map(|i| bar(i.start, i.end, style::STALE)),
            )
            .map_err(err)?;
        chart
            .draw_series(
                lane.intervals
                    .iter()
                    .flat_map(|i| i.annotated.iter())
                    .map(|&(from, to)| bar(from, to, style::ANNOTATED)),
            )
            .map_err(err)?;
        let (row, _) = self.lane_geometry();
        let head = (row as i32 / 3).clamp(4, 7);
        for mark in &lane.marks {
            let (colour, tip, base) = match mark.kind {
                MarkKind::Annotation => (style::ANNOTATION_MARK, y + 0.97, head),
                MarkKind::Clear => (style::CLEAR_MARK, y + 0.03, -head),
            };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(mark.at, y + 0.05), (mark.at, y + 0.95)],
                    colour.stroke_width(2),
                )))
                .map_err(err)?;
            let triangle = EmptyElement::at((mark.at, tip))
                + Polygon::new(vec![(-head, 0), (head, 0), (0, base)], colour.filled());
            chart.draw_series(std::iter::once(triangle)).map_err(err)?;
        }
        Ok(())
    }

    /// How many lanes are in an interval, and in an annotated part, from
    /// each change on: `(time, in interval, annotated)`.
    fn counts(&self) -> Vec<(f64, i64, i64)> {
        let mut changes: Vec<(f64, i64, i64)> = Vec::new();
        for i in self.lanes.iter().flat_map(|l| l.intervals.iter()) {
            changes.push((i.start, 1, 0));
            changes.push((i.end, -1, 0));
            for &(from, to) in &i.annotated {
                changes.push((from, 0, 1));
                changes.push((to, 0, -1));
            }
        }
        changes.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut steps: Vec<(f64, i64, i64)> = vec![(0.0, 0, 0)];
        let (mut stale, mut annotated) = (0, 0);
        for (t, ds, da) in changes {
            stale += ds;
            annotated += da;
            match steps.last_mut() {
                Some(last) if last.0 == t => *last = (t, stale, annotated),
                _ => steps.push((t, stale, annotated)),
            }
        }
        steps
    }

    fn draw_aggregate<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        label_width: u32,
    ) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let end = self.end();
        let steps = self.counts();
        let peak = steps.iter().map(|s| s.1).max().unwrap_or(0).max(1) as f64;
        let step = style::nice_step(end, 12.0);
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(30)
            .margin_top(10)
            .x_label_area_size(AXIS_AREA)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..end, 0f64..peak * 1.08)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels((end / step) as usize + 1)
            .x_label_formatter(&|x| style::seconds_label(*x))
            .y_label_formatter(&|y| format!("{}", y.round() as i64))
            .x_desc("time (s)")
            .y_desc(self.labels.aggregate_axis.as_str())
            .axis_desc_style(style::font(14))
            .label_style(style::font(13))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        let band = style::BAND.mix(0.16).filled();
        chart
            .draw_series(
                self.bands.iter().map(|b| {
                    Rectangle::new([(b.start, 0.0), (b.end.max(b.start), peak * 1.08)], band)
                }),
            )
            .map_err(err)?;
        for (pick, colour) in [(1usize, style::STALE), (2, style::ANNOTATED)] {
            let outline = step_outline(&steps, end, |s| if pick == 1 { s.1 } else { s.2 });
            chart
                .draw_series(std::iter::once(Polygon::new(outline, colour.filled())))
                .map_err(err)?;
        }
        Ok(())
    }

    fn legend_entries(&self) -> Vec<LegendEntry> {
        let mut entries = vec![
            LegendEntry {
                label: self.labels.interval.clone(),
                swatch: Swatch::Fill(style::STALE.to_rgba()),
                with_previous: false,
            },
            LegendEntry {
                label: self.labels.annotated.clone(),
                swatch: Swatch::Fill(style::ANNOTATED.to_rgba()),
                with_previous: false,
            },
        ];
        if !self.aggregated() {
            entries.push(LegendEntry {
                label: self.labels.annotation.clone(),
                swatch: Swatch::TriangleDown(style::ANNOTATION_MARK),
                with_previous: false,
            });
            entries.push(LegendEntry {
                label: self.labels.clear.clone(),
                swatch: Swatch::TriangleUp(style::CLEAR_MARK),
                with_previous: false,
            });
        }
        entries.push(LegendEntry {
            label: self.labels.band.clone(),
            swatch: Swatch::Fill(style::BAND.mix(0.45)),
            with_previous: false,
        });
        entries
    }
}

/// The outline of a step function (closed along the x axis).
fn step_outline(
    steps: &[(f64, i64, i64)],
    end: f64,
    value: impl Fn(&(f64, i64, i64)) -> i64,
) -> Vec<(f64, f64)> {
    let mut points = vec![(0.0, 0.0)];
    let mut last = 0.0;
    for s in steps {
        let v = value(s) as f64;
        points.push((s.0, last));
        points.push((s.0, v));
        last = v;
    }
    points.push((end, last));
    points.push((end, 0.0));
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (start, end, annotated parts)
    type Spec<'a> = (f64, f64, &'a [(f64, f64)]);

    fn lane(label: &str, intervals: &[Spec]) -> Lane {
        Lane {
            label: label.into(),
            intervals: intervals
                .iter()
                .map(|&(start, end, annotated)| Interval {
                    start,
                    end,
                    annotated: annotated.to_vec(),
                })
                .collect(),
            marks: Vec::new(),
        }
    }

    #[test]
    fn rows_run_from_the_top() {
        assert_eq!(row_base(0, 3), 2.0);
        assert_eq!(row_base(2, 3), 0.0);
    }

    #[test]
    fn counts_step_at_each_change() {
        let t = Timeline {
            lanes: vec![
                lane("a", &[(10.0, 30.0, &[(15.0, 30.0)])]),
                lane("b", &[(20.0, 40.0, &[])]),
            ],
            ..Timeline::default()
        };
        assert_eq!(
            t.counts(),
            vec![
                (0.0, 0, 0),
                (10.0, 1, 0),
                (15.0, 1, 1),
                (20.0, 2, 1),
                (30.0, 1, 0),
                (40.0, 0, 0),
            ]
        );
    }

    #[test]
    fn band_labels_beyond_the_limit_share_a_row() {
        let t = Timeline {
            bands: (0..14)
                .map(|i| Band {
                    label: format!("b{i}"),
                    start: i as f64,
                    end: i as f64 + 1.0,
                })
                .collect(),
            ..Timeline::default()
        };
        let (labels, rows) = t.band_rows();
        assert_eq!(labels.len(), MAX_BAND_ROWS);
        assert_eq!(labels.last().unwrap(), "5 more");
        assert_eq!(rows[13], MAX_BAND_ROWS - 1);
        assert_eq!(rows[3], 3);
    }
}
