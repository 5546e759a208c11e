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

/// Colours of successive samples in a distribution chart.
pub const SERIES: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
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

/// Draws a title and an optional subtitle at the top of `area`, and
/// returns the height they took.
pub fn title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<u32, String> {
    let width = area.dim_in_pixel().0 as i32;
    let centre = Pos::new(HPos::Center, VPos::Top);
    area.draw(&Text::new(
        title.to_string(),
        (width / 2, 10),
        font(22).pos(centre),
    ))
    .map_err(|e| e.to_string())?;
    if subtitle.is_empty() {
        return Ok(42);
    }
    area.draw(&Text::new(
        subtitle.to_string(),
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
}

pub enum Swatch {
    Fill(RGBAColor),
    Line(RGBColor, bool),
    TriangleDown(RGBColor),
    TriangleUp(RGBColor),
}

/// Draws legend entries in one centred row at height `y` of `area`.
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    y: i32,
    entries: &[LegendEntry],
) -> Result<(), String> {
    let style = font(14);
    let widths: Vec<i32> = entries
        .iter()
        .map(|e| 26 + text_width(area, &e.label, &style) as i32 + 28)
        .collect();
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
