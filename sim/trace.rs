//! The trace: one JSON object per line for every event of a run, and its
//! SHA-256 digest, the run's fingerprint.
//!
//! Each line starts with the virtual time `t` in microseconds and the record
//! kind `ev`; the fields of each kind are documented in docs/trace.md. The
//! digest covers every byte written, in order, so two runs have the same
//! digest exactly when their traces are identical.

use std::io::Write;

use compact_str::CompactString;
use presim_engine::bytes::append;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Version of the trace schema; part of the header record.
pub const SCHEMA_VERSION: u32 = 3;

/// A presence as a client shows it: available or not, with show and status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Shown {
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show: Option<CompactString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CompactString>,
    /// The XEP-0310 annotation on the presence an observer holds
    /// (`server-unavailable`, `connection-paused`); views only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation: Option<&'static str>,
}

impl Shown {
    pub const UNAVAILABLE: Shown = Shown {
        available: false,
        show: None,
        status: None,
        annotation: None,
    };
}

/// The `ev` of every kind of [`Record`], sorted (a reader looks a kind
/// up by binary search): what a reader of this schema accepts.
pub const RECORD_KINDS: [&str; 28] = [
    "annotation",
    "block",
    "connect",
    "connect-failed",
    "connection-broken",
    "deliver",
    "detect",
    "directed",
    "disconnect",
    "drop",
    "end",
    "fault",
    "header",
    "invisibility",
    "link",
    "link-state",
    "node",
    "offline-stored",
    "peer",
    "privacy",
    "psa-enabled",
    "roster",
    "send",
    "session",
    "subscription",
    "truth",
    "view",
    "violation",
];

/// One trace record. Field order is part of the format.
#[derive(Debug, Serialize)]
#[serde(tag = "ev", rename_all = "kebab-case")]
pub enum Record<'a> {
    /// First line: schema version, scenario name and seed.
    Header {
        schema: u32,
        scenario: &'a str,
        seed: u64,
    },
    /// A node of the network (listed after the header).
    Node { name: &'a str, kind: &'a str },
    /// A link of the network (listed after the nodes).
    Link {
        name: &'a str,
        kind: &'a str,
        a: &'a str,
        b: &'a str,
    },
    /// A message written to a link by node `from`.
    Send {
        msg: u64,
        link: &'a str,
        from: &'a str,
        to: &'a str,
        xml: &'a str,
    },
    /// Message `msg` reached the other end of its link.
    Deliver { msg: u64 },
    /// Something that will not reach its destination, and why. `msg` refers
    /// to an earlier `send`; otherwise the XML is given.
    Drop {
        node: &'a str,
        reason: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        msg: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        xml: Option<&'a str>,
    },
    /// A link went down or came up.
    LinkState {
        link: &'a str,
        state: &'a str,
        /// Messages lost in flight when it went down.
        #[serde(skip_serializing_if = "Option::is_none")]
        lost: Option<usize>,
    },
    /// A new connection (stream) was opened on a link.
    Connect { link: &'a str, node: &'a str },
    /// A connection attempt failed.
    ConnectFailed {
        link: &'a str,
        node: &'a str,
        reason: &'a str,
    },
    /// A connection broke without a link fault (an endpoint crashed).
    ConnectionBroken {
        link: &'a str,
        lost: usize,
        cause: &'a str,
    },
    /// Node `node` learned that its connection on `link` broke.
    Detect {
        link: &'a str,
        node: &'a str,
        how: &'a str,
    },
    /// A connection closed cleanly by one end.
    Disconnect { link: &'a str, node: &'a str },
    /// A fault, with every value drawn for it.
    Fault {
        fault: &'a str,
        target: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        duration: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        extra_latency: Option<u64>,
    },
    /// A roster item an account starts with (listed after the links).
    Roster {
        node: &'a str,
        user: &'a str,
        contact: &'a str,
        subscription: &'a str,
    },
    /// A session bound, paused, resumed or ended at a server; `client` names
    /// the client node of a bound session.
    Session {
        node: &'a str,
        jid: &'a str,
        state: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        client: Option<&'a str>,
    },
    /// Session `from` sent directed available presence to `to`, which is
    /// not its subscriber (RFC 6121 §4.6), or ended that with unavailable.
    Directed {
        node: &'a str,
        from: &'a str,
        to: &'a str,
        available: bool,
    },
    /// Session `jid` went invisible or visible (XEP-0186).
    Invisibility {
        node: &'a str,
        jid: &'a str,
        invisible: bool,
    },
    /// `user` blocked or unblocked `jid` (XEP-0191).
    Block {
        node: &'a str,
        user: &'a str,
        jid: &'a str,
        blocked: bool,
    },
    /// What session `jid`'s privacy list decides about presence to
    /// (`flow` `presence-out`) or from (`presence-in`) `contact` changed.
    Privacy {
        node: &'a str,
        jid: &'a str,
        contact: &'a str,
        flow: &'a str,
        denied: bool,
    },
    /// The presence a session publishes changed (DESIGN.md: truth).
    Truth {
        jid: &'a str,
        #[serde(flatten)]
        presence: &'a Shown,
    },
    /// What an observer session shows of a contact's full JID changed.
    View {
        observer: &'a str,
        contact: &'a str,
        #[serde(flatten)]
        presence: &'a Shown,
    },
    /// A subscription state changed at a server.
    Subscription {
        node: &'a str,
        user: &'a str,
        contact: &'a str,
        before: &'a str,
        after: &'a str,
    },
    /// A message stored offline at a server.
    OfflineStored { node: &'a str, user: &'a str },
    /// Server `node`'s view of its stream with domain `peer` changed:
    /// connecting, established, or unavailable (with the reason).
    Peer {
        node: &'a str,
        peer: &'a str,
        state: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
    },
    /// Server `node` enabled XEP-0310 annotations for session `jid`.
    PsaEnabled { node: &'a str, jid: &'a str },
    /// Server `node` sent session `to` the presence of `about` with an
    /// annotation: `server-unavailable`, `connection-paused`, or `clear`.
    Annotation {
        node: &'a str,
        to: &'a str,
        about: &'a str,
        annotation: &'a str,
    },
    /// A client received something it must never receive (e.g. an
    /// annotation it did not ask for).
    Violation {
        node: &'a str,
        what: &'a str,
        xml: &'a str,
    },
    /// Last line: the run stopped at `t`, with these messages still on
    /// the wire (ascending): every message sent is delivered, dropped
    /// with its reason, or one of these.
    End { events: u64, in_flight: &'a [u64] },
}

/// How many bytes of records the trace gathers before it hashes them and
/// hands them to the sink: small enough that they are still in the
/// processor's first-level cache when the hash reads them.
const BUFFER_BYTES: usize = 16 << 10;

/// The start of every record at one time, `{"t":N,`, kept for the next
/// record: the records of one instant (a send and what it causes) share
/// it, so most records copy it instead of writing the number again.
struct TimePrefix {
    t: u64,
    /// The text, then padding: copied whole (a copy of known length needs
    /// no call) and cut to `len`.
    text: [u8; TimePrefix::CAPACITY],
    len: usize,
}

impl TimePrefix {
    /// `{"t":`, the 20 digits of the largest time, and the comma.
    const CAPACITY: usize = 32;

    fn new(t: u64) -> TimePrefix {
        let mut text = [0; Self::CAPACITY];
        text[..5].copy_from_slice(b"{\"t\":");
        // A time of 8 to 16 digits (every time from 10 s to 317 years)
        // goes in as two overlapping moves of 8 bytes, not a call to copy
        // a length the compiler does not know.
        let mut buffer = itoa::Buffer::new();
        let number = buffer.format(t).as_bytes();
        let digits = number.len();
        if (8..=16).contains(&digits) {
            text[5..13].copy_from_slice(&number[..8]);
            text[5 + digits - 8..5 + digits].copy_from_slice(&number[digits - 8..]);
        } else {
            text[5..5 + digits].copy_from_slice(number);
        }
        text[5 + digits] = b',';
        TimePrefix {
            t,
            text,
            len: 6 + digits,
        }
    }
}

/// Writes records as JSON Lines and hashes them.
pub struct Trace {
    sink: Option<Box<dyn Write>>,
    buf: Vec<u8>,
    prefix: TimePrefix,
    hasher: Sha256,
    records: u64,
    bytes: u64,
    error: Option<std::io::Error>,
}

impl Trace {
    /// A trace written to `sink` (or only hashed, if `None`).
    pub fn new(sink: Option<Box<dyn Write>>) -> Trace {
        Trace {
            sink,
            // A full buffer and the record that fills it fit without
            // growing, unless that record is unusually large.
            buf: Vec::with_capacity(4 * BUFFER_BYTES),
            hasher: Sha256::new(),
            prefix: TimePrefix::new(0),
            records: 0,
            bytes: 0,
            error: None,
        }
    }

    /// Appends one record at virtual time `t`.
    pub fn record(&mut self, t: u64, record: &Record) {
        let start = self.begin(t);
        if !write_common(&mut self.buf, record) {
            write_serde(&mut self.buf, record);
        }
        self.end(start);
    }

    /// Appends a `send` record, the same bytes as [`Record::Send`] with the
    /// link, sender and receiver of `route`, whose XML `write` appends, as
    /// UTF-8, straight into the record; `write` returns true if it knows
    /// that what it appended needs no JSON escapes, and it is escaped
    /// otherwise. Returns the length of the XML.
    pub fn send_written(
        &mut self,
        t: u64,
        msg: u64,
        route: &SendRoute,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> usize {
        let start = self.begin(t);
        write_send_head(&mut self.buf, msg, &route.0);
        let len = self.xml_field_written(write);
        self.buf.push(b'}');
        self.end(start);
        len
    }

    /// Appends a `drop` record of XML that `write` appends, with neither
    /// message number nor anything else: the same bytes as [`Record::Drop`]
    /// with that XML, written as [`Trace::send_written`] writes it.
    pub fn drop_written(
        &mut self,
        t: u64,
        node: &str,
        reason: &str,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) {
        let start = self.begin(t);
        let fields = [(&b",\"node\":"[..], node), (b",\"reason\":", reason)];
        kind_and_fields(&mut self.buf, b"\"ev\":\"drop\"", &fields);
        self.xml_field_written(write);
        self.buf.push(b'}');
        self.end(start);
    }

    /// Appends the `xml` field, the XML that `write` appends straight into
    /// the record, escaped unless `write` says that it needs no escapes.
    /// Returns the length of the XML.
    fn xml_field_written(&mut self, write: impl FnOnce(&mut Vec<u8>) -> bool) -> usize {
        let field_at = self.buf.len();
        self.buf.extend_from_slice(XML_FIELD);
        self.buf.push(b'"');
        let xml_at = self.buf.len();
        let plain = write(&mut self.buf);
        let len = self.buf.len() - xml_at;
        if !plain && needs_escape(&self.buf[xml_at..]) {
            let xml = self.buf.split_off(xml_at);
            self.buf.truncate(field_at);
            str_field(&mut self.buf, XML_FIELD, &String::from_utf8_lossy(&xml));
        } else {
            self.buf.push(b'"');
        }
        len
    }

    /// Starts a record at `t`; returns where it starts in the buffer.
    fn begin(&mut self, t: u64) -> usize {
        if t != self.prefix.t {
            self.prefix = TimePrefix::new(t);
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&self.prefix.text);
        self.buf.truncate(start + self.prefix.len);
        start
    }

    /// Ends the record begun at `start`.
    fn end(&mut self, start: usize) {
        self.buf.push(b'\n');
        self.records += 1;
        self.bytes += (self.buf.len() - start) as u64;
        if self.buf.len() >= BUFFER_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.hasher.update(&self.buf);
        if let Some(sink) = &mut self.sink {
            if let Err(e) = sink.write_all(&self.buf) {
                self.error.get_or_insert(e);
                self.sink = None;
            }
        }
        self.buf.clear();
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and returns the digest (lower-case hex SHA-256), the byte
    /// count, and the first write error, if any.
    pub fn finish(mut self) -> TraceSummary {
        self.flush();
        if let Some(sink) = &mut self.sink {
            if let Err(e) = sink.flush() {
                self.error.get_or_insert(e);
            }
        }
        TraceSummary {
            digest: hex::encode(self.hasher.finalize()),
            records: self.records,
            bytes: self.bytes,
            error: self.error,
        }
    }
}

/// Writes a record's fields and closing brace with serde.
fn write_serde(buf: &mut Vec<u8>, record: &Record) {
    let body = buf.len();
    serde_json::to_writer(&mut *buf, record).expect("records serialize");
    // `record` was written as `{...}`: drop its opening brace.
    buf.remove(body);
}

/// Writes the records that make up nearly all of a trace (sends,
/// deliveries, views, the drops of a login's presence for contacts not
/// online yet, the rosters a population starts with, truth changes,
/// sessions and connections) directly, byte for byte as serde writes
/// them; false for the other kinds.
fn write_common(buf: &mut Vec<u8>, record: &Record) -> bool {
    match record {
        Record::Deliver { msg } => {
            kind_and_fields(buf, b"\"ev\":\"deliver\"", &[]);
            u64_field(buf, b",\"msg\":", *msg);
        }
        Record::Send {
            msg,
            link,
            from,
            to,
            xml,
        } => {
            write_send(buf, *msg, &SendRoute::new(link, from, to).0, xml);
            return true;
        }
        Record::View {
            observer,
            contact,
            presence,
        } => {
            let fields = [
                (&b",\"observer\":"[..], *observer),
                (b",\"contact\":", *contact),
            ];
            kind_and_fields(buf, b"\"ev\":\"view\"", &fields);
            shown_fields(buf, presence);
        }
        Record::Drop {
            node,
            reason,
            msg,
            xml,
        } => {
            kind_and_fields(
                buf,
                b"\"ev\":\"drop\"",
                &[(b",\"node\":", node), (b",\"reason\":", reason)],
            );
            if let Some(msg) = msg {
                u64_field(buf, b",\"msg\":", *msg);
            }
            optional_str_field(buf, XML_FIELD, *xml);
        }
        Record::Roster {
            node,
            user,
            contact,
            subscription,
        } => {
            let fields = [
                (&b",\"node\":"[..], *node),
                (b",\"user\":", *user),
                (b",\"contact\":", *contact),
                (b",\"subscription\":", *subscription),
            ];
            kind_and_fields(buf, b"\"ev\":\"roster\"", &fields);
        }
        Record::Truth { jid, presence } => {
            kind_and_fields(buf, b"\"ev\":\"truth\"", &[(b",\"jid\":", jid)]);
            shown_fields(buf, presence);
        }
        Record::Session {
            node,
            jid,
            state,
            reason,
            client,
        } => {
            let fields = [
                (&b",\"node\":"[..], *node),
                (b",\"jid\":", *jid),
                (b",\"state\":", *state),
            ];
            kind_and_fields(buf, b"\"ev\":\"session\"", &fields);
            optional_str_field(buf, b",\"reason\":", *reason);
            optional_str_field(buf, b",\"client\":", *client);
        }
        Record::Connect { link, node } => {
            kind_and_fields(
                buf,
                b"\"ev\":\"connect\"",
                &[(b",\"link\":", link), (b",\"node\":", node)],
            );
        }
        _ => return false,
    }
    buf.push(b'}');
    true
}

/// The kind field `ev` (`"ev":"kind"`), then each of `fields` (key with
/// its comma, quotes and colon; value) as a JSON string. Inlined, so that
/// the constant kind and keys are copied without a call.
#[inline(always)]
fn kind_and_fields(buf: &mut Vec<u8>, ev: &[u8], fields: &[(&[u8], &str)]) {
    buf.extend_from_slice(ev);
    for (key, value) in fields {
        str_field(buf, key, value);
    }
}

/// [`str_field`] if there is a value; nothing otherwise, as serde skips it.
#[inline(always)]
fn optional_str_field(buf: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
    if let Some(value) = value {
        str_field(buf, key, value);
    }
}

/// A `send` record's fields after `t`, with the route already rendered.
fn write_send(buf: &mut Vec<u8>, msg: u64, route: &[u8], xml: &str) {
    write_send_head(buf, msg, route);
    str_field(buf, XML_FIELD, xml);
    buf.push(b'}');
}

/// The key of a `send` record's XML, with its comma and colon.
const XML_FIELD: &[u8] = b",\"xml\":";

/// A `send` record's fields after `t` up to its XML.
fn write_send_head(buf: &mut Vec<u8>, msg: u64, route: &[u8]) {
    kind_and_fields(buf, b"\"ev\":\"send\"", &[]);
    u64_field(buf, b",\"msg\":", msg);
    append(buf, route);
}

/// The `link`, `from` and `to` fields of the `send` records of one
/// direction of a link, rendered once for all of its messages.
pub struct SendRoute(Box<[u8]>);

impl SendRoute {
    pub fn new(link: &str, from: &str, to: &str) -> SendRoute {
        let mut buf = Vec::new();
        str_field(&mut buf, b",\"link\":", link);
        str_field(&mut buf, b",\"from\":", from);
        str_field(&mut buf, b",\"to\":", to);
        SendRoute(buf.into_boxed_slice())
    }

    /// Asks memory for the route's bytes.
    #[inline]
    pub fn prefetch(&self) {
        crate::prefetch::prefetch_bytes(self.0.as_ptr(), self.0.len());
    }
}

fn shown_fields(buf: &mut Vec<u8>, shown: &Shown) {
    buf.extend_from_slice(if shown.available {
        b",\"available\":true"
    } else {
        b",\"available\":false"
    });
    optional_str_field(buf, b",\"show\":", shown.show.as_deref());
    optional_str_field(buf, b",\"status\":", shown.status.as_deref());
    optional_str_field(buf, b",\"annotation\":", shown.annotation);
}

/// `key` (with its comma, quotes and colon) and `value` as a JSON number.
/// Inlined, so that each constant key is copied as such.
#[inline(always)]
fn u64_field(buf: &mut Vec<u8>, key: &[u8], value: u64) {
    append(buf, key);
    append(buf, itoa::Buffer::new().format(value).as_bytes());
}

/// `key` (with its comma, quotes and colon) and `value` as a JSON string.
/// Inlined, so that each constant key is copied as such.
#[inline(always)]
fn str_field(buf: &mut Vec<u8>, key: &[u8], value: &str) {
    append(buf, key);
    if !needs_escape(value.as_bytes()) {
        buf.push(b'"');
        append(buf, value.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(&mut *buf, value).expect("strings serialize");
    }
}

/// Whether JSON escapes any of these bytes (`"`, `\\`, control characters).
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    presim_engine::scan::json_escapes(bytes)
}

/// What a finished trace amounts to.
#[derive(Debug)]
pub struct TraceSummary {
    pub digest: String,
    pub records: u64,
    pub bytes: u64,
    pub error: Option<std::io::Error>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink whose bytes the test reads back.
    fn shared_sink() -> (std::rc::Rc<std::cell::RefCell<Vec<u8>>>, Box<dyn Write>) {
        let bytes = std::rc::Rc::default();
        let capture = Capture {
            bytes: std::rc::Rc::clone(&bytes),
            fail_after: usize::MAX,
        };
        (bytes, Box::new(capture))
    }

    /// The prefix of every time reads as the number formatted: zero, each
    /// power of ten and the number before it, and the largest time.
    #[test]
    fn time_prefixes_read_as_the_number() {
        let mut times = vec![0, 1, u64::MAX, u64::MAX - 1, 53_211_177];
        for power in 1..=19 {
            times.extend([10u64.pow(power) - 1, 10u64.pow(power)]);
        }
        for t in times {
            let prefix = TimePrefix::new(t);
            let text = std::str::from_utf8(&prefix.text[..prefix.len]).unwrap();
            assert_eq!(text, format!("{{\"t\":{t},"));
        }
    }

    #[test]
    fn lines_start_with_time_and_kind() {
        let (out, sink) = shared_sink();
        let mut trace = Trace::new(Some(sink));
        trace.record(
            0,
            &Record::Header {
                schema: 1,
                scenario: "s",
                seed: 7,
            },
        );
        let shown = Shown {
            available: true,
            show: Some("away".into()),
            status: None,
            annotation: None,
        };
        trace.record(
            1_500,
            &Record::Truth {
                jid: "a@x/r",
                presence: &shown,
            },
        );
        trace.record(2_000, &Record::Deliver { msg: 3 });
        let summary = trace.finish();
        let text = String::from_utf8(out.borrow().clone()).unwrap();
        assert_eq!(
            text,
            "{\"t\":0,\"ev\":\"header\",\"schema\":1,\"scenario\":\"s\",\"seed\":7}\n\
             {\"t\":1500,\"ev\":\"truth\",\"jid\":\"a@x/r\",\"available\":true,\"show\":\"away\"}\n\
             {\"t\":2000,\"ev\":\"deliver\",\"msg\":3}\n"
        );
        assert_eq!(summary.records, 3);
        assert_eq!(summary.bytes, text.len() as u64);
        let expected = hex::encode(Sha256::digest(text.as_bytes()));
        assert_eq!(summary.digest, expected);
    }

    /// Records at the same time share the written prefix; each starts with
    /// its own time whatever the time before it was.
    #[test]
    fn each_record_starts_with_its_time() {
        let (out, sink) = shared_sink();
        let mut trace = Trace::new(Some(sink));
        let times = [0, 0, 7, 7, 7, 1_000_000_000_000, 10, u64::MAX, u64::MAX, 0];
        for (msg, t) in times.iter().enumerate() {
            trace.record(*t, &Record::Deliver { msg: msg as u64 });
        }
        trace.finish();
        let expected: String = times
            .iter()
            .enumerate()
            .map(|(msg, t)| format!("{{\"t\":{t},\"ev\":\"deliver\",\"msg\":{msg}}}\n"))
            .collect();
        assert_eq!(String::from_utf8(out.borrow().clone()).unwrap(), expected);
    }

    /// The records written by hand are byte for byte what serde writes,
    /// with each character JSON escapes alone in a string.
    #[test]
    fn common_records_are_written_as_serde_writes_them() {
        let odd: Vec<String> = [
            "\"", "\\", "\u{0}", "\u{1}", "\u{8}", "\t", "\n", "\u{b}", "\u{c}", "\r", "\u{1f}",
        ]
        .iter()
        .flat_map(|c| {
            // Within the first block, a later block, and the tail.
            let long = "x".repeat(40);
            [
                format!("a{c}b"),
                format!("{c}{long}{long}"),
                format!("{long}{c}{long}"),
                format!("{long}{long}{c}"),
            ]
        })
        .chain(["\u{7f} é ☃ <a x='1'/>".repeat(9), String::new()])
        .collect();
        let shown = |show: Option<&str>, status: Option<&str>, annotation| Shown {
            available: show.is_some(),
            show: show.map(CompactString::from),
            status: status.map(CompactString::from),
            annotation,
        };
        let mut shows = vec![
            Shown::UNAVAILABLE,
            shown(Some("away"), None, None),
            shown(None, Some("x"), Some("clear")),
        ];
        for o in &odd {
            shows.push(shown(Some(o), Some(o), Some("server-unavailable")));
        }
        let mut records = vec![
            Record::Deliver { msg: 0 },
            Record::Deliver { msg: u64::MAX },
            Record::Send {
                msg: 42,
                link: "c2s:a@x.example",
                from: "a@x.example",
                to: "x.example",
                xml: "<presence><show>chat</show></presence>",
            },
        ];
        for o in &odd {
            records.push(Record::Send {
                msg: 1,
                link: o,
                from: o,
                to: o,
                xml: o,
            });
        }
        for (i, o) in odd.iter().enumerate() {
            records.push(Record::Drop {
                node: o,
                reason: o,
                msg: (i % 2 == 0).then_some(i as u64 * 1_000_003),
                xml: (i % 3 != 0).then_some(o.as_str()),
            });
        }
        records.push(Record::Drop {
            node: "a.example",
            reason: "no-available-resource",
            msg: None,
            xml: Some("<presence from='b@b.example/sim' to='a@a.example'/>"),
        });
        for (o, presence) in odd.iter().cycle().zip(&shows) {
            records.push(Record::View {
                observer: o,
                contact: o,
                presence,
            });
            records.push(Record::Truth { jid: o, presence });
        }
        for (i, o) in odd.iter().enumerate() {
            records.push(Record::Roster {
                node: o,
                user: o,
                contact: o,
                subscription: o,
            });
            records.push(Record::Session {
                node: o,
                jid: o,
                state: o,
                reason: (i % 2 == 0).then_some(o.as_str()),
                client: (i % 3 != 0).then_some(o.as_str()),
            });
            records.push(Record::Connect { link: o, node: o });
        }
        for record in &records {
            let mut fast = Vec::new();
            assert!(write_common(&mut fast, record), "{record:?}");
            let mut slow = Vec::new();
            write_serde(&mut slow, record);
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(slow).unwrap()
            );
        }
        for record in &records {
            let Record::Send {
                msg,
                link,
                from,
                to,
                xml,
            } = record
            else {
                continue;
            };
            let mut by_serde = b"{\"t\":7,".to_vec();
            write_serde(&mut by_serde, record);
            by_serde.push(b'\n');
            // Written in place: escaped unless the writer vouches for it,
            // which it may only do for text that needs no escapes.
            let vouched: &[bool] = if needs_escape(xml.as_bytes()) {
                &[false]
            } else {
                &[false, true]
            };
            for &plain in vouched {
                let mut in_place = Trace::new(None);
                let route = SendRoute::new(link, from, to);
                let len = in_place.send_written(7, *msg, &route, |buf| {
                    buf.extend_from_slice(xml.as_bytes());
                    plain
                });
                assert_eq!(len, xml.len());
                assert_eq!(
                    String::from_utf8(in_place.buf).unwrap(),
                    String::from_utf8(by_serde.clone()).unwrap()
                );
            }
        }
        for record in &records {
            let Record::Drop {
                node,
                reason,
                msg: None,
                xml: Some(xml),
            } = record
            else {
                continue;
            };
            let mut by_serde = b"{\"t\":7,".to_vec();
            write_serde(&mut by_serde, record);
            by_serde.push(b'\n');
            for plain in [false, !needs_escape(xml.as_bytes())] {
                let mut in_place = Trace::new(None);
                in_place.drop_written(7, node, reason, |buf| {
                    buf.extend_from_slice(xml.as_bytes());
                    plain
                });
                assert_eq!(
                    String::from_utf8(in_place.buf).unwrap(),
                    String::from_utf8(by_serde.clone()).unwrap()
                );
            }
        }
        let mut other = Vec::new();
        assert!(!write_common(
            &mut other,
            &Record::End {
                events: 1,
                in_flight: &[]
            }
        ));
        assert!(other.is_empty());
    }

    /// A sink tests can read back; past `fail_after` bytes it refuses
    /// writes.
    struct Capture {
        bytes: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
        fail_after: usize,
    }

    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let mut bytes = self.bytes.borrow_mut();
            if bytes.len() + b.len() > self.fail_after {
                return Err(std::io::Error::other("disk full"));
            }
            bytes.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A trace of enough deliveries to fill several buffers, written to a
    /// sink that refuses writes past `fail_after` bytes; what the sink kept.
    fn deliveries(fail_after: usize) -> (TraceSummary, Vec<u8>) {
        let bytes = std::rc::Rc::default();
        let capture = Capture {
            bytes: std::rc::Rc::clone(&bytes),
            fail_after,
        };
        let mut trace = Trace::new(Some(Box::new(capture)));
        for msg in 0..40_000u64 {
            trace.record(msg * 3, &Record::Deliver { msg });
        }
        (trace.finish(), bytes.take())
    }

    #[test]
    fn digest_covers_every_buffer_in_order() {
        let (summary, written) = deliveries(usize::MAX);
        assert!(written.len() > 4 << 16);
        assert_eq!(summary.bytes, written.len() as u64);
        assert_eq!(summary.records, 40_000);
        assert_eq!(summary.digest, hex::encode(Sha256::digest(&written)));
        assert!(summary.error.is_none());
        assert!(written.starts_with(b"{\"t\":0,\"ev\":\"deliver\",\"msg\":0}\n"));
        assert!(written.ends_with(b"{\"t\":119997,\"ev\":\"deliver\",\"msg\":39999}\n"));
    }

    #[test]
    fn a_failing_sink_is_reported_and_the_digest_still_covers_everything() {
        let (whole, all) = deliveries(usize::MAX);
        let (failed, written) = deliveries(2 * BUFFER_BYTES);
        assert_eq!(failed.error.unwrap().to_string(), "disk full");
        // The sink took the first buffer and refused the second. A buffer
        // goes out at the end of the first record that brings it to
        // BUFFER_BYTES: the one whose newline is at BUFFER_BYTES - 1 or later.
        let full = BUFFER_BYTES - 1;
        let first_buffer = full + all[full..].iter().position(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(written, all[..first_buffer]);
        assert_eq!(failed.digest, whole.digest);
        assert_eq!(failed.bytes, whole.bytes);
    }
}
