//! `--set PATH=VALUE`: one field of a scenario file replaced (or added)
//! from the command line, so that a parameter can be varied without a copy
//! of the file (`--set defaults.s2s.latency='Constant("80ms")'`,
//! `--set populations[0].users=500`).
//!
//! The change is made in the text: the file is scanned as RON (values,
//! `name(…)` structures, `[…]` lists, strings, comments), the value at the
//! path is found, and VALUE's text takes its place; a field the file does
//! not write is added to its structure. The result is then loaded like any
//! scenario, so VALUE is checked with the same messages. A path names
//! fields of structures and `[i]` elements of lists, through `Some(…)`.

/// Applies one `PATH=VALUE` to the scenario text.
pub fn apply(text: &str, assignment: &str) -> Result<String, String> {
    let (path, value) = assignment
        .split_once('=')
        .ok_or_else(|| format!("'{assignment}' is not PATH=VALUE"))?;
    let segments = parse_path(path.trim())?;
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{path}: no value after '='"));
    }
    if looks_like_a_bare_duration(value) {
        return Err(format!(
            "{path}: '{value}' is a duration, which RON writes in quotes: {path}='\"{value}\"'"
        ));
    }
    let mut scanner = Scanner { text, at: 0 };
    scanner.skip_attributes();
    let root = scanner.value()?;
    let mut current = &root;
    for (i, segment) in segments.iter().enumerate() {
        let so_far = render(&segments[..i]);
        let last = i + 1 == segments.len();
        current = match (segment, unwrap_some(current)) {
            (
                Segment::Field(name),
                Value {
                    kind: Kind::Paren { items, open },
                    ..
                },
            ) => match items.iter().find(|item| item.name.as_deref() == Some(name)) {
                Some(item) => &item.value,
                None if last => {
                    return Ok(splice(
                        text,
                        *open + 1,
                        *open + 1,
                        &format!("{name}: {value}, "),
                    ))
                }
                None => {
                    return Err(format!(
                        "{}: the file does not write '{name}'{}; add it there first",
                        render(&segments[..=i]),
                        within(&so_far)
                    ))
                }
            },
            (
                Segment::Index(n),
                Value {
                    kind: Kind::List { items } | Kind::Paren { items, .. },
                    ..
                },
            ) if items.iter().all(|item| item.name.is_none()) => match items.get(*n) {
                Some(item) => &item.value,
                None => {
                    return Err(format!(
                        "{}: there are {} element(s){}",
                        render(&segments[..=i]),
                        items.len(),
                        within(&so_far)
                    ))
                }
            },
            (Segment::Field(name), _) => {
                return Err(format!(
                    "{}: '{name}' is not a field here: the value{} has no fields",
                    render(&segments[..=i]),
                    within(&so_far)
                ))
            }
            (Segment::Index(_), _) => {
                return Err(format!(
                    "{}: the value{} is not a list",
                    render(&segments[..=i]),
                    within(&so_far)
                ))
            }
        };
    }
    Ok(splice(text, current.start, current.end, value))
}

fn within(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    }
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    format!("{}{with}{}", &text[..start], &text[end..])
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Field(String),
    Index(usize),
}

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let bad =
        || format!("'{path}' is not a field path (e.g. defaults.c2s.latency or servers[0].psa)");
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad());
            }
            segments.push(Segment::Field(name.to_string()));
        } else if rest.is_empty() {
            return Err(bad());
        }
        while let Some(r) = rest.strip_prefix('[') {
            let (n, after) = r.split_once(']').ok_or_else(bad)?;
            segments.push(Segment::Index(n.parse().map_err(|_| bad())?));
            rest = after;
        }
        if !rest.is_empty() {
            return Err(bad());
        }
    }
    Ok(segments)
}

fn render(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Field(name) if out.is_empty() => out.push_str(name),
            Segment::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Segment::Index(n) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}

/// A value of the file: its span, and what it holds.
#[derive(Debug)]
struct Value {
    start: usize,
    end: usize,
    name: Option<String>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// `name(…)` or `(…)`: fields or elements; `open` is the `(`.
    Paren {
        items: Vec<Item>,
        open: usize,
    },
    List {
        items: Vec<Item>,
    },
    Other,
}

#[derive(Debug)]
struct Item {
    name: Option<String>,
    value: Value,
}

/// `Some(x)` is x, for the path.
fn unwrap_some(v: &Value) -> &Value {
    match (&v.name, &v.kind) {
        (Some(name), Kind::Paren { items, .. }) if name == "Some" && items.len() == 1 => {
            unwrap_some(&items[0].value)
        }
        _ => v,
    }
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

/// A duration with its unit and no quotes (`5s`, `1.5m`, `250ms`): not a
/// RON value, and the likeliest slip in a `--set` of a duration. A bare
/// number is both a duration (seconds) and a RON number, so it is not one.
fn looks_like_a_bare_duration(value: &str) -> bool {
    crate::duration::parse(value).is_ok() && value.parse::<f64>().is_err()
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn error(&self, what: &str) -> String {
        let line = self.text[..self.at].matches('\n').count() + 1;
        format!("the file cannot be read as RON at line {line}: {what} (run it without --set to see why)")
    }

    fn skip_blank(&mut self) {
        loop {
            let rest = &self.text[self.at..];
            let trimmed = rest.trim_start();
            self.at += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.at += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if trimmed.starts_with("/*") {
                self.at += trimmed.find("*/").map_or(trimmed.len(), |e| e + 2);
            } else {
                return;
            }
        }
    }

    /// `#![enable(…)]` lines before the value.
    fn skip_attributes(&mut self) {
        self.skip_blank();
        while self.text[self.at..].starts_with("#!") {
            self.at += self.text[self.at..]
                .find(']')
                .map_or(self.text.len() - self.at, |e| e + 1);
            self.skip_blank();
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_blank();
        let start = self.at;
        let (name, kind) = match self.peek() {
            Some(b'(') => (None, self.paren()?),
            Some(b'[') => (None, self.list()?),
            Some(b'{') => {
                self.balanced(b'{', b'}')?;
                (None, Kind::Other)
            }
            Some(b'"') => {
                self.string()?;
                (None, Kind::Other)
            }
            Some(b'\'') => {
                self.char_literal()?;
                (None, Kind::Other)
            }
            Some(b'r') if matches!(self.text.as_bytes().get(self.at + 1), Some(b'"' | b'#')) => {
                self.raw_string()?;
                (None, Kind::Other)
            }
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'.') => {
                let word = self.word();
                let after_word = self.at;
                self.skip_blank();
                if self.peek() == Some(b'(')
                    && word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                {
                    (Some(word), self.paren()?)
                } else {
                    self.at = after_word;
                    (Some(word), Kind::Other)
                }
            }
            _ => return Err(self.error("a value was expected")),
        };
        Ok(Value {
            start,
            end: self.at,
            name,
            kind,
        })
    }

    fn word(&mut self) -> String {
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.')))
            .unwrap_or(rest.len());
        self.at += len;
        rest[..len].to_string()
    }

    fn paren(&mut self) -> Result<Kind, String> {
        let open = self.at;
        let items = self.items(b')')?;
        Ok(Kind::Paren { items, open })
    }

    fn list(&mut self) -> Result<Kind, String> {
        Ok(Kind::List {
            items: self.items(b']')?,
        })
    }

    /// The items between the opening bracket at `self.at` and `close`.
    fn items(&mut self, close: u8) -> Result<Vec<Item>, String> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            if self.peek() == Some(close) {
                self.at += 1;
                return Ok(items);
            }
            let name = self.field_name();
            let value = self.value()?;
            items.push(Item { name, value });
            self.skip_blank();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(c) if c == close => {}
                _ => return Err(self.error("',' or a closing bracket was expected")),
            }
        }
    }

    /// `name:` if one is next (and consumed), else nothing.
    fn field_name(&mut self) -> Option<String> {
        let start = self.at;
        if !self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        {
            return None;
        }
        let word = self.word();
        self.skip_blank();
        if self.peek() == Some(b':') {
            self.at += 1;
            Some(word)
        } else {
            self.at = start;
            None
        }
    }

    fn string(&mut self) -> Result<(), String> {
        let bytes = self.text.as_bytes();
        let mut i = self.at + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.at = i + 1;
                    return Ok(());
                }
                _ => i += 1,
            }
        }
        Err(self.error("a string is not closed"))
    }

    fn char_literal(&mut self) -> Result<(), String> {
        let bytes = self.text.as_bytes();
        let mut i = self.at + 1;
        if bytes.get(i) == Some(&b'\\') {
            i += 2;
        }
        let end = bytes
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\''))
            .ok_or_else(|| self.error("a character is not closed"))?;
        self.at = i + end + 1;
        Ok(())
    }

    fn raw_string(&mut self) -> Result<(), String> {
        let rest = &self.text[self.at + 1..];
        let hashes = rest.len() - rest.trim_start_matches('#').len();
        let closing = format!("\"{}", "#".repeat(hashes));
        let body = hashes + 1;
        let end = rest
            .get(body..)
            .and_then(|r| r.find(&closing))
            .ok_or_else(|| self.error("a raw string is not closed"))?;
        self.at += 1 + body + end + closing.len();
        Ok(())
    }

    fn balanced(&mut self, open: u8, close: u8) -> Result<(), String> {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    self.string()?;
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
        Err(self.error("a bracket is not closed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"// a comment with a ( and a "
Scenario(
    name: "x", /* another ) */
    duration: "1s",
    defaults: (c2s: (latency: Constant("20ms"))),
    servers: [(domain: "a.example"), (domain: "b.example", psa: Some(false))],
    populations: [(server: "a.example", users: 10, roster_size: Uniform(min: 1, max: 3))],
)
"#;

    fn set(assignment: &str) -> Result<String, String> {
        apply(FILE, assignment)
    }

    #[test]
    fn replaces_the_value_at_the_path() {
        assert!(set("duration=\"2m\"")
            .unwrap()
            .contains("duration: \"2m\","));
        assert!(
            set("defaults.c2s.latency=Normal(mean: \"40ms\", sd: \"5ms\")")
                .unwrap()
                .contains("(latency: Normal(mean: \"40ms\", sd: \"5ms\"))")
        );
        let t = set("servers[1].domain=\"c.example\"").unwrap();
        assert!(
            t.contains("(domain: \"a.example\"), (domain: \"c.example\", psa"),
            "{t}"
        );
        assert!(set("servers[1].psa=true").unwrap().contains("psa: true)"));
        assert!(set("populations[0].roster_size.max=9")
            .unwrap()
            .contains("max: 9)"));
        assert!(set(" populations[0].users = 500 ")
            .unwrap()
            .contains("users: 500,"));
    }

    #[test]
    fn adds_a_field_the_file_does_not_write() {
        let t = set("seed=7").unwrap();
        assert!(t.contains("Scenario(seed: 7, \n    name"), "{t}");
        let t = set("servers[0].stream_management=true").unwrap();
        assert!(
            t.contains("[(stream_management: true, domain: \"a.example\")"),
            "{t}"
        );
    }

    #[test]
    fn the_rest_of_the_file_is_untouched() {
        let t = set("duration=\"2m\"").unwrap();
        assert_eq!(t.replace("\"2m\"", "\"1s\""), FILE);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 4096,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_122),
            ..Default::default()
        })]

        /// Any text and any path: an answer, never a panic.
        #[test]
        fn never_panics(text in "(\\PC|[()\\[\\]{}\"'\\\\,:#r/*\n])*", path in "[a-z_\\[\\]0-9.]{1,12}") {
            let _ = apply(&text, &format!("{path}=1"));
        }
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        assert_eq!(set("duration").unwrap_err(), "'duration' is not PATH=VALUE");
        assert_eq!(
            set("duration=").unwrap_err(),
            "duration: no value after '='"
        );
        assert!(set("a..b=1").unwrap_err().contains("is not a field path"));
        assert!(set("servers[x]=1")
            .unwrap_err()
            .contains("is not a field path"));
        assert_eq!(
            set("servers[2].domain=\"z\"").unwrap_err(),
            "servers[2]: there are 2 element(s) at servers"
        );
        assert_eq!(
            set("faults[0]=1").unwrap_err(),
            "faults: the file does not write 'faults'; add it there first"
        );
        assert_eq!(
            set("name.first=1").unwrap_err(),
            "name.first: 'first' is not a field here: the value at name has no fields"
        );
        assert_eq!(
            set("duration[0]=1").unwrap_err(),
            "duration[0]: the value at duration is not a list"
        );
        assert!(apply("Scenario(name: \"x", "name=\"y\"")
            .unwrap_err()
            .contains("a string is not closed"));
    }

    /// A duration without its quotes is named as such with the quoted
    /// form; numbers and quoted durations go through.
    #[test]
    fn a_duration_without_quotes_is_told_apart() {
        for value in ["5s", "1.5m", "250ms", "30us", "2h"] {
            assert_eq!(
                set(&format!("duration={value}")).unwrap_err(),
                format!("duration: '{value}' is a duration, which RON writes in quotes: duration='\"{value}\"'")
            );
        }
        for value in ["\"5s\"", "5", "1.5", "None", "s", "Some(\"2s\")", "1e3"] {
            assert!(set(&format!("duration={value}")).is_ok(), "{value}");
        }
    }
}
