//! The look shared by every chart: the embedded font, the palette
//! (Okabe–Ito, distinguishable with the common colour-vision deficiencies)
//! and a few drawing helpers.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const FAMILY: &str = "sans-serif";

pub(crate) static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Makes the embedded font the one plotters draws `sans-serif` text with.
pub fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is a constant of the crate, checked by its tests.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

pub const STALE: RGBColor = RGBColor(213, 94, 0);
pub const ANNOTATED: RGBColor = RGBColor(230, 159, 0);
pub const ANNOTATION_MARK: RGBColor = RGBColor(0, 114, 178);
pub const CLEAR_MARK: RGBColor = RGBColor(0, 158, 115);
pub const BAND: RGBColor = RGBColor(120, 120, 120);
pub const TEXT: RGBColor = RGBColor(30, 30, 30);
pub const MUTED: RGBColor = RGBColor(100, 100, 100);

/// Colours of successive samples in a distribution chart: all eight of
/// the palette, the yellow, faintest on white, last.
pub const SERIES: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

pub fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&TEXT)
}

pub fn muted(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&MUTED)
}

/// Width in pixels of `text` in `style` (an estimate if the backend cannot
/// measure).
pub fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
) -> u32 {
    area.estimate_text_size(text, style)
        .map(|(w, _)| w)
        .unwrap_or(text.chars().count() as u32 * style.font.get_size() as u32 / 2)
}

/// `text` shortened with an ellipsis in the middle to fit `max` pixels.
pub fn fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max: u32,
) -> String {
    if text_width(area, text, style) <= max {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut keep = chars.len();
    while keep > 2 {
        keep -= 1;
        let head: String = chars[..keep / 2].iter().collect();
        let tail: String = chars[chars.len() - (keep - keep / 2)..].iter().collect();
        let candidate = format!("{head}…{tail}");
        if text_width(area, &candidate, style) <= max {
            return candidate;
        }
    }
    "…".to_string()
}

/// Room kept free at each end of a title or subtitle.
const TITLE_MARGIN: u32 = 20;

/// Draws a title and an optional subtitle at the top of `area`, each
/// shortened in the middle if wider than the chart ([`fit`]), and returns
/// the height they took.
pub fn title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<u32, String> {
    let width = area.dim_in_pixel().0 as i32;
    let room = (width as u32).saturating_sub(2 * TITLE_MARGIN);
    let centre = Pos::new(HPos::Center, VPos::Top);
    area.draw(&Text::new(
        fit(area, title, &font(22), room),
        (width / 2, 10),
        font(22).pos(centre),
    ))
    .map_err(|e| e.to_string())?;
    if subtitle.is_empty() {
        return Ok(42);
    }
    area.draw(&Text::new(
        fit(area, subtitle, &muted(15), room),
        (width / 2, 38),
        muted(15).pos(centre),
    ))
    .map_err(|e| e.to_string())?;
    Ok(64)
}

/// A legend entry: a swatch drawn by `swatch` at a point, and its label.
pub struct LegendEntry {
    pub label: String,
    pub swatch: Swatch,
    /// Belongs with the entry before it (a part of that sample): kept on
    /// its row when the legend wraps, unless the two alone are too wide.
    pub with_previous: bool,
}

pub enum Swatch {
    Fill(RGBAColor),
    Line(RGBColor, bool),
    TriangleDown(RGBColor),
    TriangleUp(RGBColor),
}

/// The size of a legend's text.
const LEGEND_FONT: u32 = 14;
/// The distance between the middles of two rows of legend entries.
pub const LEGEND_ROW: u32 = 24;
/// Room kept free at each end of a legend row.
const LEGEND_MARGIN: u32 = 40;

/// The width of a legend entry: its swatch, its label and the gap after it.
fn entry_width(entry: &LegendEntry) -> i32 {
    26 + crate::text::width(&entry.label, LEGEND_FONT as f32) as i32 + 28
}

/// The entries of each row of a legend `width` pixels wide: in order, as
/// many to a row as fit, at least one, and an entry together with those
/// that belong with it unless they alone are wider than a row.
pub fn legend_rows(entries: &[LegendEntry], width: u32) -> Vec<std::ops::Range<usize>> {
    let room = width.saturating_sub(2 * LEGEND_MARGIN) as i32;
    let mut rows = Vec::new();
    let (mut start, mut used) = (0, 0);
    let mut place = |at: usize, w: i32, rows: &mut Vec<_>| {
        if at > start && used + w > room {
            rows.push(start..at);
            (start, used) = (at, 0);
        }
        used += w;
    };
    let mut group = 0;
    while group < entries.len() {
        let end = (group + 1..entries.len())
            .find(|&i| !entries[i].with_previous)
            .unwrap_or(entries.len());
        let widths: Vec<i32> = entries[group..end].iter().map(entry_width).collect();
        let total = widths.iter().sum();
        if total <= room {
            place(group, total, &mut rows);
        } else {
            for (i, w) in (group..end).zip(widths) {
                place(i, w, &mut rows);
            }
        }
        group = end;
    }
    if start < entries.len() {
        rows.push(start..entries.len());
    }
    rows
}

/// How much taller than one row a legend of `entries`, `width` pixels
/// wide, is.
pub fn legend_extra_height(entries: &[LegendEntry], width: u32) -> u32 {
    let rows = legend_rows(entries, width).len() as u32;
    rows.saturating_sub(1) * LEGEND_ROW
}

/// Draws legend entries in centred rows ([`legend_rows`]), the first at
/// height `y` of `area`.
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    y: i32,
    entries: &[LegendEntry],
) -> Result<(), String> {
    let width = area.dim_in_pixel().0;
    for (r, row) in legend_rows(entries, width).into_iter().enumerate() {
        let row_y = y + r as i32 * LEGEND_ROW as i32;
        legend_row(area, row_y, &entries[row])?;
    }
    Ok(())
}

/// Draws legend entries in one centred row at height `y` of `area`.
fn legend_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    y: i32,
    entries: &[LegendEntry],
) -> Result<(), String> {
    let style = font(LEGEND_FONT);
    let widths: Vec<i32> = entries.iter().map(entry_width).collect();
    let total: i32 = widths.iter().sum();
    let mut x = (area.dim_in_pixel().0 as i32 - total).max(0) / 2;
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    for (entry, w) in entries.iter().zip(widths) {
        match &entry.swatch {
            Swatch::Fill(c) => area
                .draw(&Rectangle::new([(x, y - 7), (x + 18, y + 7)], c.filled()))
                .map_err(err)?,
            Swatch::Line(c, dashed) => {
                if *dashed {
                    for s in [0, 8, 16] {
                        area.draw(&PathElement::new(
                            vec![(x + s, y), (x + s + 4, y)],
                            c.stroke_width(2),
                        ))
                        .map_err(err)?;
                    }
                } else {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 20, y)],
                        c.stroke_width(2),
                    ))
                    .map_err(err)?;
                }
            }
            Swatch::TriangleDown(c) => area
                .draw(&Polygon::new(
                    vec![(x + 3, y - 6), (x + 15, y - 6), (x + 9, y + 6)],
                    c.filled(),
                ))
                .map_err(err)?,
            Swatch::TriangleUp(c) => area
                .draw(&Polygon::new(
                    vec![(x + 3, y + 6), (x + 15, y + 6), (x + 9, y - 6)],
                    c.filled(),
                ))
                .map_err(err)?,
        }
        area.draw(&Text::new(
            entry.label.clone(),
            (x + 26, y),
            style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
        x += w;
    }
    Ok(())
}

/// A message in the middle of `area` (an empty chart says why it is empty).
pub fn centred_note<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        text.to_string(),
        (w as i32 / 2, h as i32 / 2),
        muted(20).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(|e| e.to_string())
}

/// A round step for an axis spanning `span` in about `target` steps:
/// 1, 2 or 5 times a power of ten.
pub fn nice_step(span: f64, target: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / target;
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    let nice = if residual <= 1.0 {
        1.0
    } else if residual <= 2.0 {
        2.0
    } else if residual <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Seconds as an axis label: no needless decimals.
pub fn seconds_label(s: f64) -> String {
    if (s - s.round()).abs() < 1e-9 {
        format!("{}", s.round() as i64)
    } else if (s * 10.0 - (s * 10.0).round()).abs() < 1e-9 {
        format!("{s:.1}")
    } else {
        format!("{s:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_loads() {
        assert!(plotters::style::register_font("presim-test", FontStyle::Normal, FONT).is_ok());
    }

    fn entry(label: &str, with_previous: bool) -> LegendEntry {
        LegendEntry {
            label: label.into(),
            swatch: Swatch::Line(TEXT, false),
            with_previous,
        }
    }

    /// The width the rows of a legend `width` wide may fill.
    fn room(width: u32) -> i32 {
        (width - 2 * LEGEND_MARGIN) as i32
    }

    fn row_width(entries: &[LegendEntry], row: &std::ops::Range<usize>) -> i32 {
        entries[row.clone()].iter().map(entry_width).sum()
    }

    #[test]
    fn a_short_legend_is_one_row() {
        let entries = [entry("stale", false), entry("annotated", false)];
        assert_eq!(legend_rows(&entries, 1400), vec![0..2]);
        assert_eq!(legend_extra_height(&entries, 1400), 0);
        assert_eq!(legend_rows(&[], 1400), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(legend_extra_height(&[], 1400), 0);
    }

    /// Sixteen entries, eight pairs: every row fits, the rows take the
    /// entries in order, each as full as it can be (the next pair would
    /// not fit), and no pair is split.
    #[test]
    fn a_long_legend_wraps_between_pairs() {
        let entries: Vec<LegendEntry> = (0..8)
            .flat_map(|i| {
                [
                    entry(&format!("scenario {i}: stale"), false),
                    entry(&format!("scenario {i}: stale and not annotated"), true),
                ]
            })
            .collect();
        let rows = legend_rows(&entries, 1400);
        assert!(rows.len() >= 3, "{rows:?}");
        assert_eq!(rows.first().unwrap().start, 0);
        assert_eq!(rows.last().unwrap().end, entries.len());
        for pair in rows.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
            assert_eq!(pair[0].end % 2, 0, "a pair split: {rows:?}");
            let next_pair = pair[0].end..pair[0].end + 2;
            assert!(row_width(&entries, &pair[0]) + row_width(&entries, &next_pair) > room(1400));
        }
        for row in &rows {
            assert!(row_width(&entries, row) <= room(1400), "{row:?}");
        }
        let extra = (rows.len() as u32 - 1) * LEGEND_ROW;
        assert_eq!(legend_extra_height(&entries, 1400), extra);
    }

    /// A pair goes to the next row whole where its first entry alone would
    /// still have fitted on the row before.
    #[test]
    fn a_pair_moves_to_the_next_row_whole() {
        let (first, part) = (entry("run b: stale", false), entry("run b: part", true));
        // A first entry that leaves room for the pair's first entry only.
        let lead = (1..)
            .map(|n| entry(&"x".repeat(n), false))
            .find(|lead| entry_width(lead) + entry_width(&first) + entry_width(&part) > room(600))
            .unwrap();
        assert!(entry_width(&lead) + entry_width(&first) <= room(600));
        let entries = [lead, first, part];
        assert_eq!(legend_rows(&entries, 600), vec![0..1, 1..3]);
    }

    /// An entry wider than the legend has a row of its own; a pair wider
    /// than a row wraps between its two entries, the first staying on the
    /// row before if it fits there.
    #[test]
    fn what_is_too_wide_for_a_row_still_gets_one() {
        let long = "x".repeat(200);
        let entries = [
            entry("a", false),
            entry(&long, false),
            entry("b", false),
            entry("c", false),
            entry(&long, true),
        ];
        assert_eq!(legend_rows(&entries, 600), vec![0..1, 1..2, 2..4, 4..5]);
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(240.0, 10.0), 50.0);
        assert_eq!(nice_step(10.0, 10.0), 1.0);
        assert_eq!(nice_step(0.35, 5.0), 0.1);
        assert_eq!(nice_step(0.0, 10.0), 1.0);
    }

    #[test]
    fn labels_drop_needless_decimals() {
        assert_eq!(seconds_label(60.0), "60");
        assert_eq!(seconds_label(2.5), "2.5");
        assert_eq!(seconds_label(0.125), "0.125");
    }
}
