//! Serializing stanzas for the trace, once per shared payload.
//!
//! The trace holds the XML of every stanza sent. A presence broadcast sends
//! one payload (an `Arc` shared by all copies, see
//! [`presim_engine::stanza`]) to many recipients; only `from` and `to`
//! differ. [`StanzaXml`] serializes the payload once, remembers its start
//! tag's attributes, and writes each copy by merging `from`/`to` into them.
//! It keeps the last [`CACHED`] payloads: copies of one payload are sent in
//! a burst by the server that fans it out, and again one at a time as they
//! arrive at the recipients' servers, interleaved with other traffic.
//! The text is byte for byte what [`Stanza::to_xml`] gives (attributes in
//! name order, the implied `jabber:client` namespace left out); payloads or
//! addresses it cannot splice safely take the slow path.

use std::sync::Arc;

use presim_engine::minidom::Element;
use presim_engine::xml::{self, NS_CLIENT};
use presim_engine::Stanza;

/// How many payloads are kept serialized.
pub const CACHED: usize = 64;

/// The serialized forms of the latest payloads seen.
#[derive(Default)]
pub struct StanzaXml {
    entries: Vec<Payload>,
    /// The entry to replace next (round robin).
    next: usize,
}

/// One payload, serialized.
#[derive(Default)]
struct Payload {
    /// Held so that its address cannot be reused while cached.
    payload: Option<Arc<Element>>,
    /// The splice is possible for this payload.
    spliceable: bool,
    /// `<name`.
    open: String,
    /// Each attribute of the start tag: its name and ` name='value'`.
    attrs: Vec<(String, String)>,
    /// From the end of the start tag's attributes on (`/>` or `>…</name>`).
    rest: String,
}

impl StanzaXml {
    /// Appends the serialized stanza to `out`.
    pub fn write(&mut self, stanza: &Stanza, out: &mut String) {
        let cached = self.entries.iter().position(|e| e.holds(&stanza.payload));
        let entry = match cached {
            Some(i) => &self.entries[i],
            None => self.cache(&stanza.payload),
        };
        entry.write(stanza, out);
    }

    fn cache(&mut self, payload: &Arc<Element>) -> &Payload {
        let i = self.next;
        self.next = (self.next + 1) % CACHED;
        if i == self.entries.len() {
            self.entries.push(Payload::default());
        }
        let entry = &mut self.entries[i];
        entry.fill(payload);
        entry
    }
}

impl Payload {
    fn write(&self, stanza: &Stanza, out: &mut String) {
        let from = stanza.from.as_ref().map(|j| j.as_str());
        let to = stanza.to.as_ref().map(|j| j.as_str());
        if !self.spliceable || !from.is_none_or(plain) || !to.is_none_or(plain) {
            out.push_str(&stanza.to_xml());
            return;
        }
        let start = out.len();
        out.push_str(&self.open);
        let mut extra = [("from", from), ("to", to)].into_iter().peekable();
        for (name, token) in &self.attrs {
            while let Some((extra_name, value)) = extra.next_if(|(n, _)| *n < name.as_str()) {
                push_attr(out, extra_name, value);
            }
            out.push_str(token);
        }
        for (extra_name, value) in extra {
            push_attr(out, extra_name, value);
        }
        out.push_str(&self.rest);
        debug_assert_eq!(&out[start..], stanza.to_xml());
    }

    fn holds(&self, payload: &Arc<Element>) -> bool {
        self.payload
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, payload))
    }

    fn fill(&mut self, payload: &Arc<Element>) {
        self.payload = Some(Arc::clone(payload));
        self.attrs.clear();
        self.open.clear();
        self.rest.clear();
        self.spliceable = payload.ns() == NS_CLIENT && self.split(&xml::to_string(payload));
    }

    /// Splits a serialized payload into its name, attributes and the rest.
    /// False if the start tag is not a plain run of `name='value'` pairs.
    fn split(&mut self, text: &str) -> bool {
        let Some(name_len) = text[1..].find([' ', '/', '>']) else {
            return false;
        };
        self.open.push_str(&text[..1 + name_len]);
        let mut rest = &text[1 + name_len..];
        while let Some(attr) = rest.strip_prefix(' ') {
            let Some((name, after)) = attr.split_once("='") else {
                return false;
            };
            let Some(value_len) = after.find('\'') else {
                return false;
            };
            if name.contains(':') || name == "xmlns" {
                return false;
            }
            let token_len = 1 + name.len() + 2 + value_len + 1;
            self.attrs
                .push((name.to_string(), rest[..token_len].to_string()));
            rest = &rest[token_len..];
        }
        self.rest.push_str(rest);
        true
    }
}

/// True for an address that needs no escaping in an attribute value.
fn plain(s: &str) -> bool {
    !s.bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'\'' | b'"') || b < b' ')
}

fn push_attr(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        out.push(' ');
        out.push_str(name);
        out.push_str("='");
        out.push_str(value);
        out.push('\'');
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

    fn check(s: &Stanza) {
        let mut cache = StanzaXml::default();
        let mut out = String::new();
        cache.write(s, &mut out);
        assert_eq!(out, s.to_xml());
        // Again from the cache, after other text.
        out.push('|');
        cache.write(s, &mut out);
        assert_eq!(out, format!("{}|{}", s.to_xml(), s.to_xml()));
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
    fn payloads_outside_jabber_client_take_the_slow_path() {
        let el = Element::bare("features", "http://etherx.jabber.org/streams");
        check(&Stanza::new(None, None, el));
    }

    #[test]
    fn payloads_beyond_the_cache_replace_the_oldest() {
        let mut cache = StanzaXml::default();
        let stanzas: Vec<Stanza> = (0..CACHED + 3)
            .map(|i| {
                stanza(
                    &format!("<presence id='p{i}'/>"),
                    Some("a@x.example/r"),
                    None,
                )
            })
            .collect();
        for round in 0..2 {
            for (i, s) in stanzas.iter().enumerate() {
                let mut out = String::new();
                cache.write(s, &mut out);
                assert_eq!(
                    out,
                    format!("<presence from='a@x.example/r' id='p{i}'/>"),
                    "{round}"
                );
            }
        }
        assert_eq!(cache.entries.len(), CACHED);
    }
}
