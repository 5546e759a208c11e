//! Draws synthetic charts into a directory, to look at the timeline from
//! one lane to past the aggregation limit and the distribution chart:
//! `cargo run -p presim-viz --example gallery -- DIR`.

use std::path::PathBuf;

use presim_viz::{
    write, Band, Distribution, Interval, Lane, Mark, MarkKind, Sample, Timeline, VizError,
    MAX_LANES,
};

/// A deterministic pseudo-random sequence in [0, 1) (xorshift).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn lanes(n: usize, noise: &mut Noise) -> Vec<Lane> {
    (0..n)
        .map(|i| {
            let start = 60.0 + noise.next() * 40.0;
            let end = start + 5.0 + noise.next() * 120.0;
            let annotated_from = start + noise.next() * 20.0;
            let annotated = annotated_from < end;
            Lane {
                label: format!(
                    "user{i}@a.example/phone → contact{}@b.example/laptop",
                    i * 7 % n
                ),
                intervals: vec![Interval {
                    start,
                    end,
                    annotated: if annotated {
                        vec![(annotated_from, end)]
                    } else {
                        vec![]
                    },
                }],
                marks: if annotated {
                    vec![
                        Mark {
                            at: annotated_from,
                            kind: MarkKind::Annotation,
                        },
                        Mark {
                            at: end + 0.5,
                            kind: MarkKind::Clear,
                        },
                    ]
                } else {
                    vec![]
                },
            }
        })
        .collect()
}

fn main() -> Result<(), VizError> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "gallery".into()));
    std::fs::create_dir_all(&dir).expect("create the output directory");
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for n in [0, 1, 12, 60, MAX_LANES, 2_000] {
        let timeline = Timeline {
            title: format!("Timeline of {n} lanes"),
            subtitle: "synthetic data".into(),
            end: 300.0,
            lanes: lanes(n, &mut noise),
            bands: vec![
                Band {
                    label: "link down: a.example--b.example".into(),
                    start: 60.0,
                    end: 180.0,
                },
                Band {
                    label: "server down: b.example".into(),
                    start: 200.0,
                    end: 230.0,
                },
            ],
            ..Timeline::default()
        };
        for path in write(&timeline, &dir.join(format!("timeline-{n}")))? {
            println!("wrote {}", path.display());
        }
    }
    let stale: Vec<f64> = (0..400)
        .map(|_| 1.0 + noise.next().powi(3) * 120.0)
        .collect();
    let unannotated: Vec<f64> = stale.iter().map(|d| d * noise.next() * 0.3).collect();
    let off: Vec<f64> = (0..400)
        .map(|_| 1.0 + noise.next().powi(3) * 120.0)
        .collect();
    let distribution = Distribution {
        title: "Stale-interval durations".into(),
        subtitle: "synthetic data".into(),
        x_label: "duration (s)".into(),
        y_label: "intervals".into(),
        samples: vec![
            Sample {
                label: "with PSA: stale".into(),
                values: stale,
                secondary: false,
            },
            Sample {
                label: "with PSA: not annotated".into(),
                values: unannotated,
                secondary: true,
            },
            Sample {
                label: "without PSA: stale".into(),
                values: off,
                secondary: false,
            },
        ],
        empty: "no values".into(),
    };
    for path in write(&distribution, &dir.join("durations"))? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
