//! Serializing stanzas for the trace, once per shared payload.
//!
//! The trace holds the XML of every stanza sent. A presence broadcast sends
//! one payload (an `Arc` shared by all copies, see
//! [`presim_engine::stanza`]) to many recipients; only `from` and `to`
//! differ. [`StanzaXml`] serializes the payload once, remembers where
//! `from` and `to` go among its start tag's attributes (which are in name
//! order), and writes each copy by splicing them in there.
//! It keeps every payload that is still alive somewhere (in a queued
//! stanza, or held by a server as a session's last presence, which answers
//! probes long after it was set), keyed by its address; entries of dropped
//! payloads are swept out as the cache grows.
//! The text is byte for byte what [`Stanza::to_xml`] gives (attributes in
//! name order, the implied `jabber:client` namespace left out); payloads or
//! addresses it cannot splice safely take the slow path.
//!
//! It also tells whether what it wrote is known to need no JSON escapes,
//! so that the trace can copy a spliced stanza into a record without
//! looking at every byte again: the payload's text is checked once, when
//! it is cached, and only the addresses for each copy.

use std::sync::{Arc, Weak};

use rustc_hash::FxHashMap;

use presim_engine::minidom::Element;
use presim_engine::xml::{self, NS_CLIENT};
use presim_engine::Stanza;

/// The cache is swept when it reaches this size, or twice the size left
/// after the last sweep.
const SWEEP_AT: usize = 4096;

/// The serialized forms of the payloads seen, by address.
pub struct StanzaXml {
    entries: FxHashMap<usize, Payload>,
    sweep_at: usize,
}

impl Default for StanzaXml {
    fn default() -> StanzaXml {
        StanzaXml {
            entries: FxHashMap::default(),
            sweep_at: SWEEP_AT,
        }
    }
}

/// One payload, serialized, with the places where `from` and `to` go.
#[derive(Default)]
struct Payload {
    /// Holds the payload's allocation, so that its address is not reused
    /// while the entry exists; the payload is gone once it has no strong
    /// reference left.
    payload: Weak<Element>,
    /// The splice is possible for this payload.
    spliceable: bool,
    /// The payload serialized.
    text: String,
    /// `text` holds nothing that JSON escapes.
    json_plain: bool,
    /// Byte offsets in `text` before which ` from='…'` and ` to='…'` go:
    /// the first attribute whose name sorts after theirs, or the end of
    /// the start tag's attributes.
    from_at: usize,
    to_at: usize,
}

impl StanzaXml {
    /// Appends the serialized stanza to `out`. True if the bytes appended
    /// are known to need no JSON escapes (false if unknown).
    pub fn write(&mut self, stanza: &Stanza, out: &mut Vec<u8>) -> bool {
        let key = Arc::as_ptr(stanza.payload()) as usize;
        if let Some(payload) = self.entries.get(&key) {
            return payload.write(stanza, out);
        }
        self.sweep();
        self.entries
            .entry(key)
            .or_insert_with(|| Payload::new(stanza.payload()))
            .write(stanza, out)
    }

    /// Forgets the payloads nobody holds any more, when the cache is full.
    fn sweep(&mut self) {
        if self.entries.len() < self.sweep_at {
            return;
        }
        self.entries.retain(|_, e| e.payload.strong_count() > 0);
        self.sweep_at = SWEEP_AT.max(2 * self.entries.len());
    }

    /// How many payloads are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Payload {
    fn write(&self, stanza: &Stanza, out: &mut Vec<u8>) -> bool {
        let from = stanza.from.as_ref().map(|j| j.as_str());
        let to = stanza.to.as_ref().map(|j| j.as_str());
        if from.is_none() && to.is_none() {
            // Nothing to splice, in any namespace (stream features, SASL).
            out.extend_from_slice(self.text.as_bytes());
            return self.json_plain;
        }
        if !self.spliceable || !from.is_none_or(plain) || !to.is_none_or(plain) {
            out.extend_from_slice(stanza.to_xml().as_bytes());
            return false;
        }
        let start = out.len();
        let text = self.text.as_bytes();
        out.extend_from_slice(&text[..self.from_at]);
        push_attr(out, b"from", from);
        out.extend_from_slice(&text[self.from_at..self.to_at]);
        push_attr(out, b"to", to);
        out.extend_from_slice(&text[self.to_at..]);
        debug_assert_eq!(&out[start..], stanza.to_xml().as_bytes());
        self.json_plain
    }

    fn new(payload: &Arc<Element>) -> Payload {
        let mut entry = Payload {
            payload: Arc::downgrade(payload),
            text: xml::to_string(payload),
            ..Payload::default()
        };
        entry.spliceable = payload.has_ns(NS_CLIENT) && entry.find_places();
        entry.json_plain = !crate::trace::needs_escape(entry.text.as_bytes());
        entry
    }

    /// Finds where `from` and `to` go among the start tag's attributes
    /// (serialized in name order). False if the start tag is not a plain
    /// run of `name='value'` pairs.
    fn find_places(&mut self) -> bool {
        let text = self.text.as_str();
        let Some(name_len) = text[1..].find([' ', '/', '>']) else {
            return false;
        };
        let mut at = 1 + name_len;
        let (mut from_at, mut to_at) = (None, None);
        while let Some(attr) = text[at..].strip_prefix(' ') {
            let Some((name, after)) = attr.split_once("='") else {
                return false;
            };
            let Some(value_len) = after.find('\'') else {
                return false;
            };
            if name.contains(':') || name == "xmlns" {
                return false;
            }
            if name > "from" {
                from_at.get_or_insert(at);
            }
            if name > "to" {
                to_at.get_or_insert(at);
            }
            at += 1 + name.len() + 2 + value_len + 1;
        }
        self.from_at = from_at.unwrap_or(at);
        self.to_at = to_at.unwrap_or(at);
        true
    }
}

/// True for an address that needs no escaping, neither in an XML
/// attribute value nor in a JSON string. Others (rare: a backslash can be
/// in a JID) take the slow path.
fn plain(s: &str) -> bool {
    !s.bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'\'' | b'"' | b'\\') || b < b' ')
}

fn push_attr(out: &mut Vec<u8>, name: &[u8], value: Option<&str>) {
    if let Some(value) = value {
        out.push(b' ');
        out.extend_from_slice(name);
        out.extend_from_slice(b"='");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\'');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use presim_engine::jid::Jid;

    fn stanza(payload: &str, from: Option<&str>, to: Option<&str>) -> Stanza {
        let el = xml::parse_client_xml(payload).unwrap();
        Stanza::new(
            from.map(|f| Jid::new(f).unwrap()),
            to.map(|t| Jid::new(t).unwrap()),
            el,
        )
    }

    /// Writes `s` twice through one cache and checks the text and the
    /// JSON-safety claims against the stanza's own serialization.
    fn check(s: &Stanza) {
        let mut cache = StanzaXml::default();
        let mut out = Vec::new();
        let plain = cache.write(s, &mut out);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), s.to_xml());
        assert!(
            !plain || !crate::trace::needs_escape(&out),
            "{}",
            s.to_xml()
        );
        // Again from the cache, after other text.
        out.push(b'|');
        assert_eq!(cache.write(s, &mut out), plain);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, format!("{}|{}", s.to_xml(), s.to_xml()));
    }

    fn written(cache: &mut StanzaXml, s: &Stanza) -> (String, bool) {
        let mut out = Vec::new();
        let plain = cache.write(s, &mut out);
        (String::from_utf8(out).unwrap(), plain)
    }

    #[test]
    fn tells_which_spliced_stanzas_need_no_json_escapes() {
        let mut cache = StanzaXml::default();
        let cases = [
            (
                "<presence><show>away</show></presence>",
                "a@x.example/r",
                true,
            ),
            (
                "<presence><status>say \"hi\"</status></presence>",
                "a@x.example/r",
                false,
            ),
            (
                "<presence><status>a\\b</status></presence>",
                "a@x.example/r",
                false,
            ),
            ("<presence/>", "a\\5c@x.example/r", false),
        ];
        for (payload, from, plain) in cases {
            let s = stanza(payload, Some(from), Some("b@y.example"));
            let (text, claimed) = written(&mut cache, &s);
            assert_eq!(text, s.to_xml());
            assert_eq!(claimed, plain, "{text}");
            assert_eq!(
                crate::trace::needs_escape(text.as_bytes()),
                !plain,
                "{text}"
            );
        }
    }

    #[test]
    fn splices_addresses_among_attributes_in_name_order() {
        let payloads = [
            "<presence/>",
            "<presence type='unavailable'/>",
            "<presence id='a1' type='subscribe' xml:lang='en'/>",
            "<presence><show>away</show><status>On the &lt;balcony&gt; &amp; 'x'</status></presence>",
            "<message id='m' type='chat'><body>hi</body></message>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'/></iq>",
            "<iq type='get' id='2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
            "<a fr='1' g='2' tz='3' u='4'/>",
        ];
        let addresses = [
            (None, None),
            (Some("a@x.example/r"), None),
            (None, Some("b@y.example")),
            (Some("a@x.example/r"), Some("b@y.example/phone")),
            (Some("x.example"), Some("a@x.example/it's <me> & \"you\"")),
        ];
        for p in payloads {
            for (from, to) in addresses {
                check(&stanza(p, from, to));
            }
        }
    }

    #[test]
    fn payloads_outside_jabber_client_are_written_whole_or_take_the_slow_path() {
        let mut el = Element::bare("features", "http://etherx.jabber.org/streams");
        el.append_child(Element::bare("bind", "urn:ietf:params:xml:ns:xmpp-bind"));
        let from = Jid::new("x.example").unwrap();
        for (from, to) in [(None, None), (Some(from.clone()), None), (None, Some(from))] {
            check(&Stanza::new(from, to, el.clone()));
        }
    }

    #[test]
    fn dropped_payloads_are_swept_and_live_ones_kept() {
        let mut cache = StanzaXml::default();
        let live = stanza("<presence id='live'/>", Some("a@x.example/r"), None);
        written(&mut cache, &live);
        for i in 0..3 * SWEEP_AT {
            let s = stanza(
                &format!("<presence id='p{i}'/>"),
                Some("a@x.example/r"),
                None,
            );
            let (text, _) = written(&mut cache, &s);
            assert_eq!(text, format!("<presence from='a@x.example/r' id='p{i}'/>"));
        }
        assert!(cache.len() <= SWEEP_AT, "{}", cache.len());
        let key = Arc::as_ptr(live.payload()) as usize;
        assert!(cache.entries.contains_key(&key));
        let (text, _) = written(&mut cache, &live);
        assert_eq!(text, "<presence from='a@x.example/r' id='live'/>");
    }
}
