//! Whole scenario runs: determinism, the regression corpus, expectations,
//! and bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use presim::{run, scenario};

#[path = "support/cli.rs"]
mod cli;
use cli::presim_in as presim;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str, seed: Option<u64>) -> presim::model::Model {
    let path = root().join("scenarios").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    scenario::load_with_seed(name, &text, seed).unwrap_or_else(|e| panic!("{e}"))
}

fn digest(name: &str, seed: Option<u64>) -> String {
    run::run(&load(name, seed), None).trace.digest
}

fn tempdir(name: &str) -> PathBuf {
    cli::tempdir("scenarios", name)
}

/// Replays every (scenario, seed) of the corpus and compares digests.
#[test]
fn regression_corpus() {
    let corpus = presim::replay::load(&root().join("scenarios/regression/corpus.ron"))
        .unwrap_or_else(|p| panic!("{}", p.join("\n")));
    assert!(corpus.entries.len() >= 5);
    let verdicts = presim::replay::replay(&corpus, 2, &|_, _| {});
    let changed: Vec<String> = corpus
        .entries
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| !v.is_same())
        .map(|(e, v)| format!("{} seed {}: {v:?}", e.scenario, e.seed))
        .collect();
    assert!(
        changed.is_empty(),
        "trace digests changed (if intended, record them with `presim replay --update scenarios/regression/corpus.ron`):\n{}",
        changed.join("\n")
    );
}

/// `presim replay` as CI runs it: a corpus of the repository's scenarios
/// with one digest wrong and one missing fails with both named; `--update`
/// records them in place and leaves the rest of the file as it was; the
/// replay then passes.
#[test]
fn replay_reports_changed_and_new_digests_and_update_records_them() {
    let dir = tempdir("replay");
    let quickstart = root().join("scenarios/quickstart.ron");
    let quickstart = quickstart.to_str().unwrap();
    let right = digest("quickstart.ron", Some(1));
    let wrong = "0".repeat(64);
    let text = format!(
        "// corpus\n[\n    (scenario: {quickstart:?}, seed: 1, digest: \"{right}\"),\n    (scenario: {quickstart:?}, seed: 2, digest: \"{wrong}\"),\n    (scenario: {quickstart:?}, seed: 3, digest: \"\"),\n]\n"
    );
    let corpus = write(&dir, "corpus.ron", &text);
    let seed = |n| digest("quickstart.ron", Some(n));

    let (code, stdout, _) = presim(&dir, &["replay", &corpus]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("same     {quickstart} seed 1: {right}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "CHANGED  {quickstart} seed 2: recorded {wrong}, now {}",
            seed(2)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "NEW      {quickstart} seed 3: {} (no digest recorded)",
            seed(3)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 replayed: 1 same, 1 changed, 1 new"),
        "{stdout}"
    );

    // With --traces, every entry's trace is kept and the changed and new
    // ones are named; each file's SHA-256 is the digest printed for it.
    let (code, stdout, _) = presim(&dir, &["replay", &corpus, "--traces", "kept"]);
    assert_eq!(code, 1, "{stdout}");
    let kept = |i: usize, seed: u64| format!("kept/{i}-quickstart-seed-{seed}.jsonl");
    assert!(
        stdout.contains(&format!("now {}; trace {}\n", seed(2), kept(1, 2))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("(no digest recorded); trace {}\n", kept(2, 3))),
        "{stdout}"
    );
    for (i, n) in [(0, 1), (1, 2), (2, 3)] {
        use sha2::Digest;
        let bytes = std::fs::read(dir.join(kept(i, n))).unwrap();
        let hex: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, seed(n));
    }
    let (code, _, stderr) = presim(&dir, &["replay", &corpus, "--traces", "/proc/nope"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: cannot write to /proc/nope:"),
        "{stderr}"
    );

    let (code, stdout, _) = presim(&dir, &["replay", &corpus, "--update", "--jobs", "1"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("recorded 2 digest(s)"), "{stdout}");
    let updated = std::fs::read_to_string(&corpus).unwrap();
    let expected = text
        .replace(&wrong, &seed(2))
        .replace("digest: \"\"", &format!("digest: \"{}\"", seed(3)));
    assert_eq!(updated, expected);

    let (code, stdout, _) = presim(&dir, &["replay", &corpus]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("3 replayed: 3 same, 0 changed, 0 new"),
        "{stdout}"
    );
}

/// `presim sweep`: a row per seed with the seed's digest (the one `run
/// --seed` gives), each seed's outputs in its directory, sweep.json with
/// the rows and the pooled figures, the same whatever the number of
/// threads; traces kept only when asked.
#[test]
fn sweep_runs_every_seed_and_pools_the_figures() {
    let dir = tempdir("sweep");
    let scenario = root().join("scenarios/flapping.ron");
    let scenario = scenario.to_str().unwrap();
    let args = |out: &str, jobs: &str| {
        [
            "sweep", scenario, "--seeds", "3,1-2", "--out", out, "--jobs", jobs,
        ]
        .map(String::from)
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        presim(&dir, &args)
    };
    let (code, stdout, stderr) = run(&args("one", "1"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("3 seed(s), 1 at a time, into one"),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("seed"))
        .skip(1)
        .take(3)
        .collect();
    for (row, seed) in rows.iter().zip([3u64, 1, 2]) {
        let digest = digest("flapping.ron", Some(seed));
        assert!(
            row.trim_start()
                .starts_with(&format!("{seed}  {}", &digest[..16])),
            "{row}"
        );
        let seed_dir = dir.join(format!("one/seed-{seed}"));
        let summary = std::fs::read_to_string(seed_dir.join("summary.json")).unwrap();
        assert!(summary.contains(&digest), "{summary}");
        assert!(seed_dir.join("analysis.json").exists());
        assert!(!seed_dir.join("trace.jsonl").exists(), "traces are removed");
    }
    assert!(stdout.contains("over 3 seed(s):"), "{stdout}");
    assert!(stdout.contains("wrote one/sweep.json"), "{stdout}");
    assert!(stdout.contains("wrote one/durations.png"), "{stdout}");
    assert!(dir.join("one/durations.svg").exists());
    let sweep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("one/sweep.json")).unwrap())
            .unwrap();
    assert_eq!(sweep["pooled"]["seeds"], 3);
    let seeds: Vec<u64> = sweep["seeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [3, 1, 2]);
    let pooled_count: u64 = sweep["seeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stale"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(sweep["pooled"]["stale"]["count"], pooled_count);

    let mut two = args("two", "2").to_vec();
    two.push("--keep-traces".into());
    two.push("--no-chart".into());
    let (code, _, stderr) = run(&two);
    assert_eq!(code, 0, "{stderr}");
    assert!(!dir.join("two/durations.png").exists());
    let read = |d: &str| std::fs::read(dir.join(d).join("sweep.json")).unwrap();
    assert_eq!(
        read("one"),
        read("two"),
        "the same on one thread and on two"
    );
    let trace = std::fs::read(dir.join("two/seed-2/trace.jsonl")).unwrap();
    assert_eq!(sha256_hex(&trace), digest("flapping.ron", Some(2)));

    // Two scenarios: each in its own directory, then compared.
    let other = root().join("scenarios/psa_outage_off.ron");
    let other = other.to_str().unwrap();
    let (code, stdout, stderr) = presim(
        &dir,
        &["sweep", scenario, other, "--seeds", "1-2", "--out", "both"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(dir.join("both/flapping/seed-2/analysis.json").exists());
    assert!(dir.join("both/psa_outage_off/sweep.json").exists());
    assert!(stdout.contains("compared over the same seeds:"), "{stdout}");
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("both/comparison.json")).unwrap())
            .unwrap();
    assert_eq!(cmp["seeds"], serde_json::json!([1, 2]));
    assert_eq!(cmp["scenarios"][0]["scenario"], "flapping");
    assert_eq!(cmp["scenarios"][1]["scenario"], "psa_outage_off");
    let (code, _, stderr) = presim(&dir, &["sweep", scenario, scenario, "--seeds", "1"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("another scenario file is also named 'flapping'"),
        "{stderr}"
    );

    let (code, _, stderr) = presim(
        &dir,
        &[
            "sweep",
            scenario,
            "--seeds",
            "1",
            "--lag-threshold",
            "x",
            "--settle=-1s",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("error: --lag-threshold \"x\": 'x' is not a duration"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: --settle \"-1s\": negative duration '-1s'"),
        "{stderr}"
    );

    let (code, _, stderr) = presim(&dir, &["sweep", scenario, "--seeds", "5-3"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("error: --seeds: the range '5-3' is empty (it goes down)"),
        "{stderr}"
    );

    // No runs at a time is not a number of runs at a time, for a sweep or
    // a replay (it is not read as "one" or as "every processor").
    let corpus = root().join("scenarios/regression/corpus.ron");
    for args in [
        &["sweep", scenario, "--seeds", "1", "--jobs", "0"][..],
        &["replay", corpus.to_str().unwrap(), "--jobs", "0"],
    ] {
        let message = "error: invalid value '0' for '--jobs <N>': 0 is not in 1..=65535\n\n\
                       For more information, try '--help'.\n";
        cli::assert_refused(&dir, args, message);
    }
}

/// A reader that stops early (`presim … | head -1`) ends presim quietly,
/// by the signal, as it ends other tools: no panic about a broken pipe.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_presim_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let dir = tempdir("closed-pipe");
    let scenario = root().join("scenarios/flapping.ron");
    let child = Command::new(env!("CARGO_BIN_EXE_presim"))
        .args([
            "sweep",
            scenario.to_str().unwrap(),
            "--seeds",
            "1-4",
            "--jobs",
            "1",
        ])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run presim");
    let mut child = child;
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("presim ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(13),
        "SIGPIPE: {:?} {stderr}",
        out.status
    );
}

/// Standard output on a full disk: presim says so and exits 2, no panic.
#[cfg(target_os = "linux")]
#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let dir = tempdir("full-stdout");
    let scenario = root().join("scenarios/quickstart.ron");
    let out = Command::new(env!("CARGO_BIN_EXE_presim"))
        .args(["run", scenario.to_str().unwrap(), "--no-chart"])
        .current_dir(&dir)
        .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
        .output()
        .expect("run presim");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: cannot write to standard output: No space left on device"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--set PATH=VALUE` runs the scenario as if the file said VALUE there:
/// the same digest as the edited text, the assignment in summary.json;
/// sweeps take it too; a path that names nothing is bad input.
#[test]
fn set_replaces_a_field_for_run_and_sweep() {
    let dir = tempdir("set");
    let file = root().join("scenarios/quickstart.ron");
    let file = file.to_str().unwrap();
    let assignment = "defaults.s2s.latency=Constant(\"200ms\")";
    let text = std::fs::read_to_string(file).unwrap();
    let edited = presim::scenario::set::apply(&text, assignment).unwrap();
    let expected = run::run(&scenario::load("edited.ron", &edited).unwrap(), None)
        .trace
        .digest;
    assert_ne!(expected, digest("quickstart.ron", None));

    let (code, stdout, stderr) = presim(
        &dir,
        &[
            "run",
            file,
            "--no-chart",
            "--out",
            "run",
            "--set",
            assignment,
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("digest {expected}")), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["set"], serde_json::json!([assignment]));

    let (code, stdout, stderr) = presim(
        &dir,
        &[
            "sweep",
            file,
            "--seeds",
            "1",
            "--no-chart",
            "--out",
            "sweep",
            "--set",
            assignment,
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&expected[..16]), "{stdout}");

    let (code, _, stderr) = presim(&dir, &["run", file, "--set", "servers[5].psa=true"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--set servers[5]: there are 2 element(s) at servers"),
        "{stderr}"
    );
    let (code, _, stderr) = presim(&dir, &["run", file, "--set", "duration=Soon"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("quickstart.ron (with --set):"), "{stderr}");
}

/// A corpus that cannot be replayed says why, every problem at once, and
/// exits 2 without running anything.
#[test]
fn replay_of_a_bad_corpus_lists_every_problem() {
    let dir = tempdir("replay-bad");
    let syntax = write(
        &dir,
        "syntax.ron",
        "[\n  (scenario: \"x.ron\", seed: \"one\", digest: \"\"),\n]",
    );
    let (code, _, stderr) = presim(&dir, &["replay", &syntax]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("syntax.ron:2:"), "{stderr}");
    assert!(stderr.contains("at [0].seed"), "{stderr}");

    write(&dir, "broken.ron", "Scenario(name: \"x\")");
    let corpus = write(
        &dir,
        "corpus.ron",
        "[(scenario: \"missing.ron\", seed: 1, digest: \"\"),\n (scenario: \"broken.ron\", seed: 1, digest: \"abc\")]",
    );
    let (code, stdout, stderr) = presim(&dir, &["replay", &corpus]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing is run: {stdout}");
    for m in [
        "corpus.ron: [0].scenario: ",
        "missing.ron: cannot read: ",
        "corpus.ron: [1].digest: 'abc' is not a SHA-256 digest (64 hexadecimal digits) or empty",
        "corpus.ron: [1].scenario: ",
        "broken.ron:1:",
        "the corpus was not replayed",
    ] {
        assert!(stderr.contains(m), "missing {m:?} in:\n{stderr}");
    }
}

#[test]
fn same_seed_same_digest_in_one_process() {
    for name in ["quickstart.ron", "flapping.ron", "crash_restart.ron"] {
        assert_eq!(digest(name, None), digest(name, None), "{name}");
    }
}

#[test]
fn same_seed_same_digest_across_processes() {
    let scenario = root().join("scenarios/flapping.ron");
    let scenario = scenario.to_str().unwrap();
    let digests: Vec<String> = (0..2)
        .map(|i| {
            let dir = tempdir(&format!("proc{i}"));
            let (code, stdout, stderr) = presim(&dir, &["run", scenario, "--out", "out"]);
            assert_eq!(code, 0, "{stdout}{stderr}");
            let line = stdout.lines().find(|l| l.starts_with("digest ")).unwrap();
            let trace = std::fs::read(dir.join("out/trace.jsonl")).unwrap();
            let file_digest = sha256_hex(&trace);
            assert_eq!(
                line,
                format!("digest {file_digest}"),
                "digest is the SHA-256 of the trace file"
            );
            file_digest
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(
        digests[0],
        digest("flapping.ron", None),
        "CLI and library agree"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn hundred_seeds_of_a_faulty_scenario_replay_identically() {
    let mut distinct = std::collections::BTreeSet::new();
    for seed in 0..100 {
        let model = load("flapping.ron", Some(seed));
        let a = run::run(&model, None);
        let b = run::run(&model, None);
        assert_eq!(a.trace.digest, b.trace.digest, "seed {seed}");
        assert!(a.stats.faults > 0, "seed {seed} drew no faults");
        distinct.insert(a.trace.digest);
    }
    assert_eq!(distinct.len(), 100, "every seed gives its own trace");
}

/// A run stops at each of its progress steps and goes on; its trace is
/// the one of the same run made in one go.
#[test]
fn progress_is_reported_in_steps_and_watching_changes_nothing() {
    let model = load("flapping.ron", Some(3));
    let mut seen = Vec::new();
    let watched = run::run_watched(&model, None, &mut |p| seen.push(p));
    let trace = presim::trace::Trace::new(None);
    let (whole, stats, _) = presim::world::World::new(&model, trace).finish();
    assert_eq!(watched.trace.digest, whole.digest);
    assert_eq!(seen.len() as u64, run::PROGRESS_STEPS);
    let last = seen.last().expect("steps");
    assert_eq!((last.now, last.end), (model.duration, model.duration));
    assert_eq!(last.events, stats.events);
    assert!(seen
        .windows(2)
        .all(|w| w[0].now < w[1].now && w[0].events <= w[1].events));
    assert!(seen[0].events < last.events);
}

#[test]
fn a_different_seed_gives_a_different_digest() {
    assert_ne!(
        digest("quickstart.ron", Some(1)),
        digest("quickstart.ron", Some(2))
    );
}

#[test]
fn scenario_expectations_pass() {
    for name in ["quickstart.ron", "crash_restart.ron"] {
        let r = run::run(&load(name, None), None);
        assert!(r.expectations > 0);
        assert_eq!(r.failures, Vec::<String>::new(), "{name}");
    }
}

#[test]
fn cli_without_arguments_runs_quickstart_into_presim_out() {
    let dir = tempdir("noargs");
    let (code, stdout, stderr) = presim(&dir, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("scenarios/quickstart.ron"), "{stdout}");
    assert!(stdout.contains("wrote presim-out/trace.jsonl"), "{stdout}");
    assert!(stdout.contains("wrote presim-out/summary.json"), "{stdout}");
    assert!(stdout.contains("expectations: 3 passed"), "{stdout}");
    // The run is analysed and charted by default.
    for file in [
        "analysis.json",
        "timeline.svg",
        "timeline.png",
        "durations.svg",
        "durations.png",
    ] {
        assert!(
            stdout.contains(&format!("wrote presim-out/{file}")),
            "{stdout}"
        );
    }
    let timeline = std::fs::read_to_string(dir.join("presim-out/timeline.svg")).unwrap();
    assert!(
        timeline.contains("alice@a.example/laptop → bob@b.example/phone"),
        "{timeline}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("presim-out/summary.json")).unwrap(),
    )
    .unwrap();
    let line = stdout.lines().find(|l| l.starts_with("digest ")).unwrap();
    assert_eq!(
        line,
        format!("digest {}", summary["digest"].as_str().unwrap())
    );
    assert_eq!(summary["digest"], digest("quickstart.ron", None));
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn failed_expectations_are_listed_and_exit_1() {
    let dir = tempdir("expect");
    let file = write(
        &dir,
        "e.ron",
        r#"Scenario(name: "e", duration: "20s",
            servers: [(domain: "x.example")],
            users: [(jid: "a@x.example", roster: [(jid: "b@x.example")]),
                    (jid: "b@x.example", roster: [(jid: "a@x.example")])],
            clients: [(name: "a", jid: "a@x.example/r"), (name: "b", jid: "b@x.example/r", connect_at: "5s")],
            expect: [
                View(client: "a", contact: "b@x.example/r", at: "10s", is: Available()),
                View(client: "a", contact: "b@x.example/r", at: "10s", is: Unavailable),
                View(client: "a", contact: "b@x.example/r", at: "2s", is: Available(show: "away")),
                Receives(client: "b", stanza: "<presence from='a@x.example/r'/>", from: "5s", until: "6s"),
                ReceivesNone(client: "b", stanza: "<message/>", from: "0s", until: "20s"),
                Receives(client: "b", stanza: "<message/>", from: "0s", until: "20s"),
            ])"#,
    );
    let (code, stdout, stderr) = presim(&dir, &["run", &file, "--out", "o"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("expectations: 3 passed, 3 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL expect[1]: a's view of b@x.example/r at 10.000000s is available, expected unavailable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL expect[2]: a's view of b@x.example/r at 2.000000s is unavailable, expected available show=away"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL expect[5]: b received no stanza matching <message/> between 0.000000s and 20.000000s"),
        "{stdout}"
    );
}

/// `presim run` of a scenario given as text, written to `file` in a
/// directory of its own: the directory, the exit code, standard output and
/// standard error.
fn run_text(name: &str, file: &str, text: &str) -> (PathBuf, i32, String, String) {
    let dir = tempdir(name);
    let file = write(&dir, file, text);
    let (code, stdout, stderr) = presim(&dir, &["run", &file]);
    (dir, code, stdout, stderr)
}

/// Runs a bad scenario; it must exit 2 without a panic and say each of `messages`.
fn rejects(name: &str, text: &str, messages: &[&str]) {
    let (dir, code, stdout, stderr) = run_text(name, "bad.ron", text);
    assert_eq!(code, 2, "{name}: {stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The parser's own types (`ServerFile`, …) are not the user's words.
    assert!(!stderr.contains("File`"), "{stderr}");
    for m in messages {
        assert!(stderr.contains(m), "{name}: missing {m:?} in:\n{stderr}");
    }
    assert!(!dir.join("presim-out").exists(), "nothing is run");
}

#[test]
fn syntax_errors_give_line_column_and_path() {
    rejects(
        "syntax",
        "Scenario(\n  name: \"x\",\n  duration: \"1s\",\n  servers: [(domain: \"a\"),,],\n)",
        &["bad.ron:4:"],
    );
    rejects(
        "unknown-field",
        "Scenario(name: \"x\", duration: \"1s\",\n servers: [(domain: \"a.example\", colour: \"red\")])",
        &["bad.ron:2:", "Unexpected field named `colour`", "at servers[0]"],
    );
    rejects(
        "unknown-variant",
        "Scenario(name: \"x\", duration: \"1s\", servers: [(domain: \"a.example\")],\n defaults: (c2s: (latency: Gaussian(\"1ms\"))))",
        &["bad.ron:2:", "Gaussian", "defaults.c2s.latency"],
    );
    rejects(
        "missing-field",
        "Scenario(name: \"x\", servers: [])",
        &["duration"],
    );
    rejects(
        "field-name-expected",
        "Scenario(name: \"x\", duration: \"1s\", servers: [(domain: \"a.example\")],\n defaults: (c2s: (latency: Constant(\"1ms\"), ]), ))",
        &["bad.ron:2:45: expected a field name in defaults.c2s"],
    );
    rejects(
        "struct-expected",
        "Scenario(name: \"x\", duration: \"1s\",\n servers: [server(domain: \"a.example\")])",
        &["bad.ron:2:12: expected `(` but found `server` at servers[0]"],
    );
    rejects("empty", "", &["bad.ron:1:"]);
    rejects("not-ron", "\u{0}\u{1}garbage{{{", &["bad.ron:1:"]);
}

#[test]
fn inconsistent_scenarios_list_every_problem() {
    rejects(
        "inconsistent",
        r#"Scenario(name: "x", duration: "-5s",
            servers: [(domain: "a.example")],
            users: [(jid: "u@a.example", roster: [(jid: "v@nowhere.example")]),
                    (jid: "u@a.example")],
            clients: [(name: "c", jid: "c@unknown.example/r"),
                      (name: "d", jid: "u@a.example", connect_at: "soon")],
            links: [(a: "a.example", b: "ghost")],
            faults: [(at: "1s", fault: LinkDown(link: "a.example--ghost"))],
            defaults: (c2s: (latency: Uniform(min: "5ms", max: "1ms"))),
        )"#,
        &[
            "bad.ron: duration: negative duration '-5s'",
            "bad.ron: users[0].roster[0].jid: no server has the domain 'nowhere.example'",
            "bad.ron: users[1].jid: user 'u@a.example' is defined twice",
            "bad.ron: clients[0].jid: no server has the domain 'unknown.example'",
            "bad.ron: clients[1].connect_at: 'soon' is not a duration",
            "bad.ron: defaults.c2s.latency: min (5ms) is greater than max (1ms)",
            "bad.ron: links[0].b: no node is named 'ghost'",
            "bad.ron: faults[0].fault.link: no link is named 'a.example--ghost'",
        ],
    );
}

#[test]
fn diff_says_where_two_traces_part() {
    let dir = tempdir("diff");
    let quickstart = root().join("scenarios/quickstart.ron");
    let quickstart = quickstart.to_str().unwrap();
    for (out, seed) in [("one", "1"), ("again", "1"), ("two", "2")] {
        let args = [
            "run",
            quickstart,
            "--seed",
            seed,
            "--out",
            out,
            "--no-chart",
        ];
        assert_eq!(presim(&dir, &args).0, 0);
    }
    let (code, stdout, _) = presim(&dir, &["diff", "one/trace.jsonl", "again/trace.jsonl"]);
    let lines = std::fs::read_to_string(dir.join("one/trace.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        stdout,
        format!("one/trace.jsonl and again/trace.jsonl are the same ({lines} lines)\n")
    );

    // Seeds 1 and 2 share the header's first fields, then part at the seed.
    let args = [
        "diff",
        "one/trace.jsonl",
        "two/trace.jsonl",
        "--context",
        "1",
    ];
    let (code, stdout, _) = presim(&dir, &args);
    assert_eq!(code, 1, "{stdout}");
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        printed[0],
        "one/trace.jsonl and two/trace.jsonl differ from line 1 on (t = 0.000000 s); the 0 line(s) before it are the same"
    );
    assert!(
        printed[1].starts_with("-         1  {\"t\":0,\"ev\":\"header\""),
        "{stdout}"
    );
    assert!(printed[1].ends_with("\"seed\":1}"), "{stdout}");
    assert!(
        printed[3].starts_with("+         1  {\"t\":0,\"ev\":\"header\""),
        "{stdout}"
    );
    assert!(printed[3].ends_with("\"seed\":2}"), "{stdout}");
    assert_eq!(printed.len(), 5, "{stdout}");

    let (code, stdout, _) = presim(&dir, &["diff", "one", "again"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("one/trace.jsonl and again/trace.jsonl are the same"));

    let (code, _, stderr) = presim(&dir, &["diff", "one/trace.jsonl", "missing.jsonl"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: missing.jsonl: cannot read:"),
        "{stderr}"
    );
    let (code, _, stderr) = presim(&dir, &["diff", quickstart, "one/trace.jsonl"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("line 1 is not a trace header"), "{stderr}");
}

#[test]
fn a_problem_of_a_default_model_is_reported_where_it_is_written_and_once() {
    let text = r#"Scenario(name: "x", duration: "1m",
        servers: [(domain: "a.example"), (domain: "b.example"), (domain: "c.example")],
        clients: [(name: "c", jid: "c@a.example"),
                  (name: "d", jid: "d@a.example", link: (latency: Constant("1ms"), bandwidth: 0))],
        links: [(a: "a.example", b: "b.example", latency: Uniform(min: "5ms", max: "1ms")),
                (a: "a.example", b: "c.example", detection: (write_timeout: "-1s"))],
        defaults: (c2s: (latency: Constant("1ms"), bandwidth: 0),
                   s2s: (latency: Constant("-1ms"), bandwidth: 0)),
    )"#;
    let problems = scenario::load("bad.ron", text).unwrap_err().problems;
    assert_eq!(
        problems,
        [
            "bad.ron: defaults.c2s.bandwidth: must be positive (bits per second) or None",
            "bad.ron: defaults.s2s.bandwidth: must be positive (bits per second) or None",
            "bad.ron: defaults.s2s.latency.Constant: negative duration '-1ms'",
            "bad.ron: clients[1].link.bandwidth: must be positive (bits per second) or None",
            "bad.ron: links[0].latency: min (5ms) is greater than max (1ms)",
            "bad.ron: links[1].detection.write_timeout: negative duration '-1s'",
        ]
    );
}

#[test]
fn populations_larger_than_a_run_can_hold_are_refused_before_generation() {
    let scenario = |a: &str, b: &str| {
        format!(
            r#"Scenario(name: "x", duration: "1s",
            servers: [(domain: "a.example"), (domain: "b.example")],
            populations: [(server: "a.example", prefix: "a", {a}),
                          (server: "b.example", prefix: "b", {b})])"#
        )
    };
    rejects(
        "too-large-fields",
        &scenario(
            "users: 1000001, roster_size: Constant(1)",
            "users: 10, roster_size: Uniform(min: 1, max: 10001)",
        ),
        &[
            "bad.ron: populations[0].users: 1000001 users is more than the 1000000 a run can generate",
            "bad.ron: populations[1].roster_size: 10001 contacts is more than the 10000 a generated user can have",
        ],
    );
    rejects(
        "too-many-users",
        &scenario(
            "users: 600000, roster_size: Constant(1)",
            "users: 400001, roster_size: Constant(1)",
        ),
        &["bad.ron: populations: 1000001 users in all is more than the 1000000 a run can generate"],
    );
    rejects(
        "too-many-items",
        &scenario(
            "users: 2000, roster_size: Constant(10000)",
            "users: 1, roster_size: Uniform(min: 0, max: 1)",
        ),
        &["bad.ron: populations: up to 20000001 roster items in all (users × roster size) is more than the 20000000 a run can generate"],
    );
}

/// A server or MUC domain must be written as JIDs write it, or no JID of
/// the scenario could name it: the field says which form to use.
#[test]
fn a_domain_not_in_the_form_jids_use_is_refused() {
    rejects(
        "domain-form",
        r#"Scenario(name: "x", duration: "1s", servers: [(domain: "A.Example")],
            mucs: ["rooms.a.example."])"#,
        &[
            "bad.ron: servers[0].domain: 'A.Example' is written 'a.example' in a JID \
             (domains are compared in that form); write it so",
            "bad.ron: mucs[0]: 'rooms.a.example.' is written 'rooms.a.example' in a JID \
             (domains are compared in that form); write it so",
        ],
    );
}

/// A view expectation about a contact that is not a full JID, or whose
/// domain no server or MUC service of the scenario has (a typo), is
/// refused: `Unavailable` would hold for it whatever happens.
#[test]
fn view_expectations_about_contacts_no_node_serves_are_refused() {
    rejects(
        "view-contacts",
        r#"Scenario(name: "x", duration: "10s", servers: [(domain: "a.example")],
            mucs: ["rooms.a.example"],
            users: [(jid: "alice@a.example")],
            clients: [(name: "alice", jid: "alice@a.example/r")],
            expect: [View(client: "alice", contact: "bob@a.exmaple/phone", at: "5s", is: Unavailable),
                     View(client: "alice", contact: "bob@a.example", at: "5s", is: Unavailable)])"#,
        &[
            "bad.ron: expect[0].contact: no server or MUC service has the domain 'a.exmaple'",
            "bad.ron: expect[1].contact: 'bob@a.example' is not a full JID (user@domain/resource)",
        ],
    );
    // The contacts of a server's or a MUC service's domain are accepted.
    let (_, code, stdout, stderr) = run_text(
        "view-contacts-served",
        "ok.ron",
        r#"Scenario(name: "x", duration: "10s", servers: [(domain: "a.example")],
            mucs: ["rooms.a.example"],
            users: [(jid: "alice@a.example")],
            clients: [(name: "alice", jid: "alice@a.example/r")],
            expect: [View(client: "alice", contact: "room@rooms.a.example/nick", at: "5s", is: Unavailable),
                     View(client: "alice", contact: "bob@a.example/phone", at: "5s", is: Unavailable)])"#,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
}

/// Random faults whose window ends before it starts, and a flap that ends
/// before it begins, would silently do nothing: both are refused.
#[test]
fn fault_windows_that_end_before_they_start_are_refused() {
    rejects(
        "empty-windows",
        r#"Scenario(name: "x", duration: "10s",
            servers: [(domain: "a.example"), (domain: "b.example")],
            faults: [
                (every: Exponential(mean: "1s"), from: "5s", until: "2s",
                 fault: LinkOutage(link: "a.example--b.example", duration: Constant("1s"))),
                (at: "3s", fault: Flap(link: "a.example--b.example", mtbf: Constant("1s"),
                                       mttr: Constant("1s"), until: "3s")),
            ])"#,
        &[
            "bad.ron: faults[0].until: '2s' is before `from` ('5s'): no fault would be drawn",
            "bad.ron: faults[1].fault.until: is not after the fault starts: the link would not flap",
        ],
    );
}

/// The run, a client and a link are named in the trace, the summary and
/// the references of faults and expectations: an empty name is refused.
#[test]
fn empty_names_are_refused() {
    rejects(
        "empty-names",
        r#"Scenario(name: " ", duration: "1s",
            servers: [(domain: "a.example"), (domain: "b.example")],
            links: [(a: "a.example", b: "b.example", name: "")],
            clients: [(name: "", jid: "ghost@a.example/r")])"#,
        &[
            "bad.ron: name: must not be empty",
            "bad.ron: clients[0].name: must not be empty",
            "bad.ron: links[0].name: must not be empty",
        ],
    );
}

/// Two links between the same nodes are refused as such, whatever their
/// names; two links of one name are refused by the name.
#[test]
fn a_pair_linked_twice_and_a_link_name_used_twice_are_refused() {
    rejects(
        "linked-twice",
        r#"Scenario(name: "x", duration: "1s",
            servers: [(domain: "a.example"), (domain: "b.example"), (domain: "c.example")],
            links: [(a: "a.example", b: "b.example"), (a: "b.example", b: "a.example", name: "other"),
                    (a: "a.example", b: "c.example", name: "x"), (a: "b.example", b: "c.example", name: "x")])"#,
        &[
            "bad.ron: links[1]: 'b.example' and 'a.example' are linked twice (one link joins two nodes)",
            "bad.ron: links[3]: link 'x' is defined twice",
        ],
    );
}

/// What is scheduled after the end of the run would silently never happen,
/// and an expectation about a time after it would check nothing that was
/// simulated: each such instant is refused, naming the run's duration. A
/// `Receives` window may end after the run (its `until`), and an instant at
/// the end itself is in the run.
#[test]
fn instants_after_the_end_of_the_run_are_refused() {
    rejects(
        "after-the-end",
        r#"Scenario(name: "x", duration: "10s", servers: [(domain: "a.example")],
            users: [(jid: "alice@a.example"), (jid: "bob@a.example")],
            clients: [(name: "alice", jid: "alice@a.example/r", connect_at: "10s"),
                      (name: "bob", jid: "bob@a.example/x", connect_at: "10001ms")],
            script: [(at: "11s", client: "alice", action: Disconnect)],
            faults: [(at: "20s", fault: ServerCrash(server: "a.example", restart_after: None)),
                     (every: Exponential(mean: "1s"), from: "1m", fault: ServerCrash(server: "a.example", restart_after: None))],
            expect: [View(client: "alice", contact: "bob@a.example/x", at: "1h", is: Unavailable),
                     Receives(client: "alice", stanza: "<presence/>", from: "0s", until: "1m"),
                     ReceivesNone(client: "alice", stanza: "<presence/>", from: "30s", until: "1m")])"#,
        &[
            "bad.ron: clients[1].connect_at: '10001ms' is after the end of the run (duration '10s')",
            "bad.ron: script[0].at: '11s' is after the end of the run (duration '10s')",
            "bad.ron: faults[0].at: '20s' is after the end of the run (duration '10s')",
            "bad.ron: faults[1].from: '1m' is after the end of the run (duration '10s')",
            "bad.ron: expect[0].at: '1h' is after the end of the run (duration '10s')",
            "bad.ron: expect[2].from: '30s' is after the end of the run (duration '10s')",
        ],
    );
    let (_, code, stdout, stderr) = run_text(
        "after-the-end-count",
        "expect.ron",
        r#"Scenario(name: "x", duration: "10s", servers: [(domain: "a.example")],
            users: [(jid: "alice@a.example")],
            clients: [(name: "alice", jid: "alice@a.example/r", connect_at: "10s")],
            expect: [Receives(client: "alice", stanza: "<presence/>", from: "0s", until: "1m"),
                     View(client: "alice", contact: "bob@a.example/x", at: "2s", is: Unavailable)])"#,
    );
    assert_eq!(code, 1, "only the unmet Receives fails: {stdout}{stderr}");
    assert!(!stderr.contains("after the end"), "{stderr}");
}

/// Events spaced by a distribution that only draws 0 would repeat forever
/// at one instant and the run would never end: each such field is refused.
#[test]
fn gaps_of_repeating_events_that_are_always_zero_are_refused() {
    rejects(
        "zero-gaps",
        r#"Scenario(name: "x", duration: "10s",
            defaults: (behaviour: (presence_changes: Constant("0s"),
                                   reconnect_after: Uniform(min: "0s", max: "0s"))),
            servers: [(domain: "a.example"), (domain: "b.example")],
            faults: [
                (every: Constant("0s"), fault: LinkOutage(link: "a.example--b.example", duration: Constant("1s"))),
                (at: "1s", fault: Flap(link: "a.example--b.example", mtbf: Normal(mean: "0s", sd: "0s"),
                                       mttr: Constant("0s"), until: "5s")),
            ])"#,
        &[
            "bad.ron: defaults.behaviour.presence_changes: must be able to draw a positive duration",
            "bad.ron: defaults.behaviour.reconnect_after: must be able to draw a positive duration",
            "bad.ron: faults[0].every: must be able to draw a positive duration",
            "bad.ron: faults[1].fault.mtbf: must be able to draw a positive duration",
            "bad.ron: faults[1].fault.mttr: must be able to draw a positive duration",
        ],
    );
}

/// A prefix that makes a valid first name can still make a later one too
/// long (a node part is at most 1023 bytes): the first user whose name is
/// not a JID is named, and nothing is generated.
#[test]
fn a_prefix_too_long_for_later_user_numbers_is_refused() {
    let prefix = "p".repeat(1020);
    rejects(
        "long-prefix",
        &format!(
            r#"Scenario(name: "x", duration: "1s", servers: [(domain: "a.example")],
            populations: [(server: "a.example", users: 2000, prefix: "{prefix}", roster_size: Constant(2))])"#
        ),
        &["bad.ron: populations[0].prefix: the name of user 1000 (the prefix followed by '1000', \
           at 'a.example') is not a valid JID: localpart longer than 1023 bytes"],
    );
}

/// A roster size larger than the population is a target no user can
/// reach: generation gives each user everyone else and stops.
#[test]
fn a_roster_size_beyond_the_population_links_everyone() {
    let model = presim::scenario::load(
        "small.ron",
        r#"Scenario(name: "x", duration: "1s", servers: [(domain: "a.example")],
            populations: [(server: "a.example", users: 5, roster_size: Constant(10000))])"#,
    )
    .expect("valid scenario");
    let accounts = &model.servers[0].accounts;
    assert_eq!(accounts.len(), 5);
    for account in accounts {
        assert_eq!(account.roster.len(), 4, "{}", account.user);
    }
}

#[test]
fn an_output_path_that_is_a_file_is_bad_input() {
    let dir = tempdir("out-is-a-file");
    std::fs::write(dir.join("out"), "x").unwrap();
    let scenario = root().join("scenarios/quickstart.ron");
    let (code, _, stderr) = presim(&dir, &["run", scenario.to_str().unwrap(), "--out", "out"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "error: cannot write to out: it exists and is not a directory\n"
    );

    // Every command that writes into a directory says so of a file in its
    // place, in the same words.
    let (code, _, _) = presim(&dir, &["run", scenario.to_str().unwrap(), "--out", "run"]);
    assert_eq!(code, 0);
    let trace = dir.join("run/trace.jsonl");
    let trace = trace.to_str().unwrap();
    let corpus = root().join("scenarios/regression/corpus.ron");
    let script = root().join("scenarios/quickstart.scs");
    for args in [
        &["analyze", trace, "--out", "out"][..],
        &["analyze", trace, "--chart", "out"],
        &["scansion", script.to_str().unwrap(), "--trace", "out"],
        &["replay", corpus.to_str().unwrap(), "--traces", "out"],
    ] {
        let message = "error: cannot write to out: it exists and is not a directory\n";
        cli::assert_refused(&dir, args, message);
    }

    // A file of the run that cannot be written is named, not its directory.
    for (name, file) in [("trace", "trace.jsonl"), ("summary", "summary.json")] {
        let out = dir.join(name);
        std::fs::create_dir_all(out.join(file)).unwrap();
        let (code, _, stderr) = presim(&dir, &["run", scenario.to_str().unwrap(), "--out", name]);
        assert_eq!(code, 2);
        let expected = format!("error: cannot write to {name}/{file}: Is a directory");
        assert!(stderr.starts_with(&expected), "{stderr}");
    }
}

/// A byte order mark that an editor put before the text is not part of a
/// scenario, a corpus or a script: each reads and runs as without it.
#[test]
fn a_byte_order_mark_is_not_part_of_a_file() {
    const BOM: &str = "\u{feff}";
    let quickstart = std::fs::read_to_string(root().join("scenarios/quickstart.ron")).unwrap();
    let (dir, code, stdout, stderr) = run_text("bom", "q.ron", &format!("{BOM}{quickstart}"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("digest {}\n", digest("quickstart.ron", None))));
    let corpus = format!(
        "{BOM}[(scenario: \"q.ron\", seed: 1, digest: \"{}\")]",
        digest("quickstart.ron", Some(1))
    );
    let corpus = write(&dir, "corpus.ron", &corpus);
    let (code, stdout, stderr) = presim(&dir, &["replay", &corpus]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let script = std::fs::read_to_string(root().join("scenarios/quickstart.scs")).unwrap();
    let script = write(&dir, "q.scs", &format!("{BOM}{script}"));
    let (code, stdout, stderr) = presim(&dir, &["scansion", &script]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}
