//! Every chart renders to SVG and PNG: one lane, the most lanes drawn one
//! by one, more lanes than that (aggregated, and the chart says so), no
//! interval at all (the chart says so), and distributions with and without
//! values, with more samples than one legend row holds and with a
//! subtitle wider than the chart.

use std::path::PathBuf;

use presim_viz::{
    write, Band, Distribution, Interval, Lane, Mark, MarkKind, Sample, Timeline, MAX_LANES,
};

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("presim-viz-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Lane i is stale from 10+i/4 s for 20 s, annotated in its second half,
/// with an annotation mark and a clear mark.
fn lanes(n: usize) -> Vec<Lane> {
    (0..n)
        .map(|i| {
            let start = 10.0 + i as f64 / 4.0;
            Lane {
                label: format!("observer{i}@a.example/res → contact{i}@b.example/res"),
                intervals: vec![Interval {
                    start,
                    end: start + 20.0,
                    annotated: vec![(start + 10.0, start + 20.0)],
                }],
                marks: vec![
                    Mark {
                        at: start + 10.0,
                        kind: MarkKind::Annotation,
                    },
                    Mark {
                        at: start + 22.0,
                        kind: MarkKind::Clear,
                    },
                ],
            }
        })
        .collect()
}

fn timeline(n: usize) -> Timeline {
    Timeline {
        title: format!("{n} lanes"),
        subtitle: "test".into(),
        end: 120.0,
        lanes: lanes(n),
        bands: vec![Band {
            label: "link down: a--b".into(),
            start: 5.0,
            end: 60.0,
        }],
        ..Timeline::default()
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn render(name: &str, chart: &impl presim_viz::Chart) -> (String, (u32, u32)) {
    let dir = out_dir(name);
    let written = write(chart, &dir.join(name)).unwrap();
    assert_eq!(
        written,
        vec![
            dir.join(format!("{name}.svg")),
            dir.join(format!("{name}.png"))
        ]
    );
    let svg = std::fs::read_to_string(&written[0]).unwrap();
    let size = png_size(&std::fs::read(&written[1]).unwrap());
    assert_eq!(size, chart.size());
    std::fs::remove_dir_all(dir).unwrap();
    (svg, size)
}

#[test]
fn one_lane_has_its_label_and_the_band_row() {
    let (svg, (w, h)) = render("one", &timeline(1));
    assert!(svg.contains("observer0@a.example/res → contact0@b.example/res"));
    assert!(svg.contains("link down: a--b"));
    assert!(!svg.contains("aggregated"));
    assert_eq!(w, 1400);
    assert!(h < 600, "{h}");
}

#[test]
fn the_most_lanes_are_each_drawn_and_labelled() {
    let (svg, (_, h)) = render("max", &timeline(MAX_LANES));
    assert!(svg.contains("observer199@a.example/res"));
    assert!(!svg.contains("aggregated"));
    // 13 px per lane.
    assert!(h > MAX_LANES as u32 * 13, "{h}");
}

#[test]
fn more_lanes_are_aggregated_and_the_chart_says_so() {
    let (svg, (_, h)) = render("many", &timeline(MAX_LANES + 300));
    assert!(svg.contains("500 lanes: more than 200, so aggregated"));
    assert!(!svg.contains("observer0@a.example/res"));
    assert!(h < 800, "{h}");
}

#[test]
fn a_timeline_without_intervals_says_so() {
    let mut t = timeline(0);
    t.labels.empty = "nothing was stale".into();
    let (svg, _) = render("empty", &t);
    assert!(svg.contains("nothing was stale"));
}

fn distribution(samples: Vec<Sample>) -> Distribution {
    Distribution {
        title: "durations".into(),
        x_label: "duration (s)".into(),
        y_label: "intervals".into(),
        empty: "no values".into(),
        samples,
        ..Distribution::default()
    }
}

#[test]
fn distributions_are_drawn_side_by_side_with_counts_in_the_legend() {
    let samples = vec![
        Sample {
            label: "with".into(),
            values: vec![1.0, 2.0, 2.5, 30.0],
            secondary: false,
        },
        Sample {
            label: "with, part".into(),
            values: vec![0.0, 0.5, 1.0, 3.0],
            secondary: true,
        },
        Sample {
            label: "without".into(),
            values: vec![],
            secondary: false,
        },
    ];
    let (svg, size) = render("dist", &distribution(samples));
    assert!(svg.contains("histogram") && svg.contains("cumulative distribution"));
    assert!(svg.contains("with (4)") && svg.contains("without (none)"));
    assert!(!svg.contains("no values"));
    assert_eq!(size, (1400, 600));
}

/// Eight runs, each with a part: too many legend entries for one row, so
/// the legend wraps and the chart is taller by the rows it adds, with every
/// label drawn.
#[test]
fn a_distribution_of_many_samples_wraps_its_legend() {
    let samples: Vec<Sample> = (0..8)
        .flat_map(|i| {
            [
                Sample {
                    label: format!("scenario_{i}: stale"),
                    values: vec![1.0 + i as f64, 2.0],
                    secondary: false,
                },
                Sample {
                    label: format!("scenario_{i}: stale and not annotated"),
                    values: vec![0.5],
                    secondary: true,
                },
            ]
        })
        .collect();
    let (svg, (width, height)) = render("dist-many", &distribution(samples));
    assert_eq!(width, 1400);
    assert!(height > 600, "{height}");
    for i in 0..8 {
        assert!(svg.contains(&format!("scenario_{i}: stale (2)")), "{i}");
        assert!(svg.contains(&format!("scenario_{i}: stale and not annotated (1)")));
    }
}

/// A subtitle wider than the chart (the names of many swept scenarios) is
/// shortened in the middle; a short one is drawn whole.
#[test]
fn a_subtitle_too_wide_for_the_chart_is_shortened_in_the_middle() {
    let names: Vec<String> = (0..40).map(|i| format!("scenario_{i:02}")).collect();
    let subtitle = format!("{}, 3 seeds together", names.join(" beside "));
    let chart = Distribution {
        subtitle: subtitle.clone(),
        ..distribution(vec![])
    };
    let (svg, _) = render("dist-subtitle", &chart);
    assert!(!svg.contains(&subtitle));
    assert!(svg.contains("scenario_00 beside scenario_01"));
    assert!(svg.contains("scenario_39, 3 seeds together"));
    assert!(svg.contains('…'));
    let short = Distribution {
        subtitle: "scenario_00 beside scenario_01, 3 seeds together".into(),
        ..distribution(vec![])
    };
    let (svg, _) = render("dist-short-subtitle", &short);
    assert!(svg.contains("scenario_00 beside scenario_01, 3 seeds together"));
    assert!(!svg.contains('…'));
}

#[test]
fn an_empty_distribution_says_so() {
    let (svg, _) = render("nodist", &distribution(vec![]));
    assert_eq!(svg.matches("no values").count(), 2);
}
