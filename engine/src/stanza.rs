//! Stanzas: an XML payload shared between recipients, plus its addressing.
//!
//! RFC 6120 §8 stanzas carry `from` and `to` attributes. When a server fans a
//! presence out to N recipients only the addressing differs, so [`Stanza`]
//! keeps `from`/`to` apart from the payload and shares the payload behind an
//! `Arc`; a copy for one more recipient costs a reference count and a JID.
//! The payload element never holds `from`/`to` itself. It is serialized
//! at most once ([`Payload::xml`]): each copy is written by splicing its
//! addresses into that text ([`Stanza::write_xml`]).
//!
//! This module also builds RFC 6120 §8.3 stanza errors and §4.9 stream errors.

use std::sync::{Arc, OnceLock};

use jid::Jid;
use minidom::Element;

use crate::bytes::append;
use crate::scan;
use crate::xml::{self, NS_CLIENT, NS_STANZAS, NS_STREAM_ERRORS};

/// The three stanza kinds of RFC 6120 §8, or a stream-level element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    Presence,
    Iq,
    /// Not a stanza: a stream-level element (features, SASL, stream management).
    Other,
}

/// An addressed XML stanza (or stream-level element) with a shared payload.
///
/// The payload is immutable once wrapped (it is shared); its kind and
/// `type` attribute are read when the stanza is made, because every stage
/// of routing asks for them.
#[derive(Clone, PartialEq)]
pub struct Stanza {
    pub from: Option<Jid>,
    pub to: Option<Jid>,
    payload: Arc<Payload>,
    class: Class,
}

/// What every copy of a stanza shares: the element without `from` and
/// `to`, and its serialized form, made when a copy is first written.
///
/// A payload the engine writes as text (a roster result, which the client
/// receiving it seldom reads) has its element parsed from that text only
/// if someone asks for it.
pub struct Payload {
    element: OnceLock<Element>,
    /// Read once here rather than for each stanza made of the payload.
    class: Class,
    /// The element carries a XEP-0310 annotation, which each delivery asks.
    annotated: bool,
    xml: OnceLock<PayloadXml>,
}

/// A payload serialized, and where `from` and `to` go among its start
/// tag's attributes (which are written in name order), when they can be
/// spliced in there.
struct PayloadXml {
    text: Box<str>,
    /// Byte offsets in `text` before which ` from='…'` and ` to='…'` go.
    splice: Option<(usize, usize)>,
    /// `text` holds no `"`, `\\` or control character (see
    /// [`Stanza::write_xml`]).
    plain: bool,
}

impl Payload {
    pub fn new(element: Element) -> Payload {
        Payload {
            class: Class::of(&element),
            annotated: crate::psa::has_annotation(&element),
            element: OnceLock::from(element),
            xml: OnceLock::new(),
        }
    }

    /// A payload given as its text, byte for byte as [`xml::to_string`]
    /// writes a `jabber:client` stanza of this kind and type without
    /// XEP-0310 annotations. Debug builds parse it and check all of that.
    pub(crate) fn from_text(text: String, kind: Kind, type_: Option<&str>) -> Payload {
        let payload = Payload {
            class: Class::new(kind, type_),
            annotated: false,
            element: OnceLock::new(),
            xml: OnceLock::from(PayloadXml::new(text, true)),
        };
        debug_assert!({
            let element = payload.element();
            xml::to_string(element) == payload.xml()
                && Class::of(element) == payload.class
                && !crate::psa::has_annotation(element)
        });
        payload
    }

    pub fn element(&self) -> &Element {
        self.element
            .get_or_init(|| xml::parse_client_xml(self.xml()).expect("a payload's own text parses"))
    }

    /// Whether the element carries a XEP-0310 state annotation
    /// ([`crate::psa::has_annotation`]).
    pub fn annotated(&self) -> bool {
        self.annotated
    }

    /// The element serialized (as [`xml::to_string`] writes it), made on
    /// the first call.
    pub fn xml(&self) -> &str {
        &self.serialized().text
    }

    fn serialized(&self) -> &PayloadXml {
        self.xml.get_or_init(|| {
            let element = self.element();
            PayloadXml::new(xml::to_string(element), element.has_ns(NS_CLIENT))
        })
    }
}

impl PayloadXml {
    /// The text of an element, in `jabber:client` or not.
    fn new(text: String, client: bool) -> PayloadXml {
        PayloadXml {
            plain: plain(&text),
            splice: if client { splice_points(&text) } else { None },
            text: text.into_boxed_str(),
        }
    }
}

impl std::ops::Deref for Payload {
    type Target = Element;

    fn deref(&self) -> &Element {
        self.element()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.element() == other.element()
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.element().fmt(f)
    }
}

impl From<Element> for Payload {
    fn from(element: Element) -> Payload {
        Payload::new(element)
    }
}

/// Where `from` and `to` go among the attributes of a serialized start
/// tag: before the first attribute whose name sorts after theirs, or at
/// the end of the attributes. `None` if the start tag is not a plain run
/// of `name='value'` pairs, or already declares a namespace or prefix.
fn splice_points(text: &str) -> Option<(usize, usize)> {
    let name_len = text.get(1..)?.find([' ', '/', '>'])?;
    let mut at = 1 + name_len;
    let (mut from_at, mut to_at) = (None, None);
    while let Some(attr) = text[at..].strip_prefix(' ') {
        let (name, after) = attr.split_once("='")?;
        let value_len = after.find('\'')?;
        if name.contains(':') || name == "xmlns" {
            return None;
        }
        if name > "from" {
            from_at.get_or_insert(at);
        }
        if name > "to" {
            to_at.get_or_insert(at);
        }
        at += 1 + name.len() + 2 + value_len + 1;
    }
    Some((from_at.unwrap_or(at), to_at.unwrap_or(at)))
}

/// True for text that holds no `"`, `\\` or control character: a JSON
/// string (or a C-like string literal) can hold it as it is.
fn plain(text: &str) -> bool {
    !scan::json_escapes(text.as_bytes())
}

fn push_address(out: &mut Vec<u8>, name: &[u8], address: Option<&str>) {
    if let Some(address) = address {
        out.push(b' ');
        append(out, name);
        out.extend_from_slice(b"='");
        append(out, address.as_bytes());
        out.push(b'\'');
    }
}

/// The `type` values of RFC 6120 §8.2.3, RFC 6121 §4.7.1 and §5.2.2 that
/// [`Class`] records without pointing into the payload.
const TYPES: [&str; 14] = [
    "unavailable",
    "subscribe",
    "subscribed",
    "unsubscribe",
    "unsubscribed",
    "probe",
    "error",
    "get",
    "set",
    "result",
    "chat",
    "groupchat",
    "headline",
    "normal",
];

/// What [`Stanza::kind`] and [`Stanza::type_`] answer, from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Class {
    kind: Kind,
    type_: Type,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Absent,
    /// An index in [`TYPES`].
    Known(u8),
    /// Any other value, read from the payload when asked.
    Other,
}

impl Class {
    fn of(payload: &Element) -> Class {
        let kind = if !payload.has_ns(NS_CLIENT) {
            Kind::Other
        } else {
            match payload.name() {
                "message" => Kind::Message,
                "presence" => Kind::Presence,
                "iq" => Kind::Iq,
                _ => Kind::Other,
            }
        };
        Class::new(kind, payload.attr("type"))
    }

    fn new(kind: Kind, type_: Option<&str>) -> Class {
        let type_ = match type_ {
            None => Type::Absent,
            Some(t) => TYPES
                .iter()
                .position(|known| *known == t)
                .map_or(Type::Other, |i| Type::Known(i as u8)),
        };
        Class { kind, type_ }
    }
}

impl std::fmt::Debug for Stanza {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_xml())
    }
}

impl Stanza {
    /// Wraps an element, moving its `from`/`to` attributes into the addressing.
    /// Invalid addresses are returned as an error with the attribute's name.
    pub fn from_element(mut el: Element) -> Result<Stanza, Box<(Element, &'static str)>> {
        let from = match el.attr("from").map(Jid::new) {
            Some(Err(_)) => return Err(Box::new((el, "from"))),
            Some(Ok(j)) => Some(j),
            None => None,
        };
        let to = match el.attr("to").map(Jid::new) {
            Some(Err(_)) => return Err(Box::new((el, "to"))),
            Some(Ok(j)) => Some(j),
            None => None,
        };
        xml::remove_attr(&mut el, "from");
        xml::remove_attr(&mut el, "to");
        Ok(Stanza::new(from, to, el))
    }

    /// A stanza with the given addressing and payload (whose own from/to are ignored).
    pub fn new(from: Option<Jid>, to: Option<Jid>, payload: Element) -> Stanza {
        Stanza::shared(from, to, Arc::new(Payload::new(payload)))
    }

    /// A stanza with the given addressing and a payload shared with others.
    pub fn shared(from: Option<Jid>, to: Option<Jid>, payload: Arc<Payload>) -> Stanza {
        let class = payload.class;
        Stanza {
            from,
            to,
            payload,
            class,
        }
    }

    /// The same payload, addressed anew.
    pub fn readdressed(&self, from: Option<Jid>, to: Option<Jid>) -> Stanza {
        Stanza {
            from,
            to,
            payload: Arc::clone(&self.payload),
            class: self.class,
        }
    }

    /// The payload: the element without `from` and `to`.
    pub fn payload(&self) -> &Arc<Payload> {
        &self.payload
    }

    /// The payload's element.
    pub fn element(&self) -> &Element {
        self.payload.element()
    }

    pub fn kind(&self) -> Kind {
        self.class.kind
    }

    pub fn name(&self) -> &str {
        self.payload.name()
    }

    pub fn attr<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.payload.attr(name)
    }

    /// The `type` attribute, if any.
    pub fn type_(&self) -> Option<&str> {
        match self.class.type_ {
            Type::Absent => None,
            Type::Known(i) => Some(TYPES[i as usize]),
            Type::Other => self.payload.attr("type"),
        }
    }

    pub fn id(&self) -> Option<&str> {
        self.payload.attr("id")
    }

    pub fn child(&self, name: &str, ns: &str) -> Option<&Element> {
        xml::child(&self.payload, name, ns)
    }

    /// The full element with `from` and `to` written in.
    pub fn to_element(&self) -> Element {
        let mut el = self.payload.element().clone();
        if let Some(from) = &self.from {
            xml::set_attr(&mut el, "from", from.as_str());
        }
        if let Some(to) = &self.to {
            xml::set_attr(&mut el, "to", to.as_str());
        }
        el
    }

    /// The serialized stanza, as it would appear on a client stream.
    pub fn to_xml(&self) -> String {
        xml::to_string(&self.to_element())
    }

    /// Appends [`Stanza::to_xml`] to `out`: the payload's text, serialized
    /// once for all copies, with this copy's addresses spliced in. Returns
    /// true when what it appended holds no `"`, `\\` or control character
    /// (a driver writing stanzas into JSON need not look at them again),
    /// false when that is not known.
    pub fn write_xml(&self, out: &mut Vec<u8>) -> bool {
        let from = self.from.as_ref().map(|j| j.as_str());
        let to = self.to.as_ref().map(|j| j.as_str());
        // A resource may hold any character; the rare address that XML
        // escapes takes the slow path below.
        let escapes = |address: Option<&str>| address.map_or(scan::Escapes::NONE, scan::escapes);
        let (from_escapes, to_escapes) = (escapes(from), escapes(to));
        let payload = self.payload.serialized();
        let text = payload.text.as_bytes();
        let start = out.len();
        let claimed = match payload.splice {
            _ if from.is_none() && to.is_none() => {
                append(out, text);
                payload.plain
            }
            Some((from_at, to_at)) if !from_escapes.attribute && !to_escapes.attribute => {
                append(out, &text[..from_at]);
                push_address(out, b"from", from);
                append(out, &text[from_at..to_at]);
                push_address(out, b"to", to);
                append(out, &text[to_at..]);
                payload.plain && !from_escapes.json && !to_escapes.json
            }
            _ => {
                out.extend_from_slice(self.to_xml().as_bytes());
                false
            }
        };
        debug_assert_eq!(&out[start..], self.to_xml().as_bytes());
        debug_assert!(!claimed || std::str::from_utf8(&out[start..]).is_ok_and(plain));
        claimed
    }

    /// An RFC 6120 §8.3 error reply: same name and id, addresses swapped,
    /// `type='error'`, holding only the `<error/>` element.
    pub fn error_reply(&self, error: &StanzaError) -> Stanza {
        self.error_stanza(error, false)
    }

    /// An error reply that also carries the request's children, as the
    /// examples of RFC 3921 §10 show them (RFC 6120 §8.3.1 allows it).
    pub fn error_reply_echoing(&self, error: &StanzaError) -> Stanza {
        self.error_stanza(error, true)
    }

    fn error_stanza(&self, error: &StanzaError, echo: bool) -> Stanza {
        let mut el = Element::bare(self.payload.name(), NS_CLIENT);
        if let Some(id) = self.id() {
            xml::set_attr(&mut el, "id", id);
        }
        xml::set_attr(&mut el, "type", "error");
        if echo {
            for child in self.payload.children() {
                el.append_child(child.clone());
            }
        }
        el.append_child(error.to_element());
        Stanza::new(self.to.clone(), self.from.clone(), el)
    }

    /// True for stanzas that must never be answered with an error
    /// (RFC 6120 §8.3.1: errors; iq results are not answered either).
    pub fn is_error_or_result(&self) -> bool {
        matches!(self.type_(), Some("error") | Some("result"))
    }
}

/// The error types of RFC 6120 §8.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Auth,
    Cancel,
    Continue,
    Modify,
    Wait,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

/// An RFC 6120 §8.3 stanza error: type, defined condition, optional text and
/// an optional application-specific condition element.
#[derive(Debug, Clone, PartialEq)]
pub struct StanzaError {
    pub type_: ErrorType,
    pub condition: &'static str,
    pub text: Option<String>,
    pub app: Option<Box<Element>>,
}

impl StanzaError {
    pub fn new(type_: ErrorType, condition: &'static str) -> StanzaError {
        StanzaError {
            type_,
            condition,
            text: None,
            app: None,
        }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> StanzaError {
        self.text = Some(text.into());
        self
    }

    pub fn service_unavailable() -> StanzaError {
        StanzaError::new(ErrorType::Cancel, "service-unavailable")
    }

    pub fn bad_request(text: &str) -> StanzaError {
        StanzaError::new(ErrorType::Modify, "bad-request").with_text(text)
    }

    pub fn to_element(&self) -> Element {
        let mut err = xml::element("error", NS_CLIENT, &[("type", self.type_.as_str())]);
        err.append_child(Element::bare(self.condition, NS_STANZAS));
        if let Some(text) = &self.text {
            err.append_child(xml::text_element("text", NS_STANZAS, text));
        }
        if let Some(app) = &self.app {
            err.append_child((**app).clone());
        }
        err
    }
}

/// An RFC 6120 §4.9 stream error, which closes the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    pub condition: &'static str,
    pub text: Option<String>,
}

impl StreamError {
    pub fn new(condition: &'static str) -> StreamError {
        StreamError {
            condition,
            text: None,
        }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> StreamError {
        self.text = Some(text.into());
        self
    }

    /// `<stream:error>` as an element in the streams namespace.
    pub fn to_element(&self) -> Element {
        let mut el = Element::bare("error", xml::NS_STREAMS);
        el.append_child(Element::bare(self.condition, NS_STREAM_ERRORS));
        if let Some(text) = &self.text {
            el.append_child(xml::text_element("text", NS_STREAM_ERRORS, text));
        }
        el
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_client_xml;

    fn stanza(xml: &str) -> Stanza {
        Stanza::from_element(parse_client_xml(xml).unwrap()).unwrap()
    }

    #[test]
    fn kind_and_type_are_the_payloads() {
        let cases = [
            ("<presence/>", Kind::Presence, None),
            (
                "<presence type='unavailable'/>",
                Kind::Presence,
                Some("unavailable"),
            ),
            ("<presence type='probe'/>", Kind::Presence, Some("probe")),
            (
                "<presence type='unsubscribed'/>",
                Kind::Presence,
                Some("unsubscribed"),
            ),
            (
                "<presence type='Available'/>",
                Kind::Presence,
                Some("Available"),
            ),
            ("<presence type=''/>", Kind::Presence, Some("")),
            (
                "<message type='groupchat'/>",
                Kind::Message,
                Some("groupchat"),
            ),
            ("<message type='normal'/>", Kind::Message, Some("normal")),
            ("<iq type='result' id='1'/>", Kind::Iq, Some("result")),
            ("<iq type='set' id='1'/>", Kind::Iq, Some("set")),
            ("<iq type='error' id='1'/>", Kind::Iq, Some("error")),
            ("<bind type='get'/>", Kind::Other, Some("get")),
        ];
        for (xml, kind, type_) in cases {
            let s = stanza(xml);
            assert_eq!((s.kind(), s.type_()), (kind, type_), "{xml}");
            assert_eq!(s.type_(), s.payload().attr("type"), "{xml}");
            let copy = s.readdressed(None, Some(Jid::new("e@f").unwrap()));
            assert_eq!((copy.kind(), copy.type_()), (kind, type_), "{xml}");
        }
        let features = Stanza::new(
            None,
            None,
            Element::bare("features", crate::xml::NS_STREAMS),
        );
        assert_eq!((features.kind(), features.type_()), (Kind::Other, None));
    }

    #[test]
    fn addressing_is_kept_apart_from_payload() {
        let el =
            parse_client_xml("<message to='a@b' from='c@d/r' type='chat'><body>x</body></message>")
                .unwrap();
        let s = Stanza::from_element(el).unwrap();
        assert_eq!(s.to.as_ref().unwrap().as_str(), "a@b");
        assert_eq!(s.payload.attr("to"), None);
        let copy = s.readdressed(None, Some(Jid::new("e@f").unwrap()));
        assert!(Arc::ptr_eq(&s.payload, &copy.payload));
        assert_eq!(
            copy.to_xml(),
            "<message to='e@f' type='chat'><body>x</body></message>"
        );
    }

    #[test]
    fn invalid_address_is_reported() {
        let el = parse_client_xml("<message to='a@b@c'/>").unwrap();
        assert_eq!(Stanza::from_element(el).unwrap_err().1, "to");
    }

    #[test]
    fn error_reply_swaps_addresses_and_holds_only_the_error() {
        let el =
            parse_client_xml("<iq id='1' type='get' to='a@b'><query xmlns='q'/></iq>").unwrap();
        let mut s = Stanza::from_element(el).unwrap();
        s.from = Some(Jid::new("c@d/r").unwrap());
        let e = s.error_reply(&StanzaError::service_unavailable());
        assert_eq!(
            e.to_xml(),
            "<iq from='a@b' id='1' to='c@d/r' type='error'><error type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        );
    }

    fn written(s: &Stanza) -> String {
        let mut out = Vec::new();
        s.write_xml(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// A copy is claimed plain only when neither the payload's text nor
    /// its addresses hold a quotation mark, a backslash or a control
    /// character.
    #[test]
    fn write_xml_tells_which_copies_are_plain() {
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
        for (payload, from, claimed) in cases {
            let s = stanza(payload).readdressed(
                Some(Jid::new(from).unwrap()),
                Some(Jid::new("b@y.example").unwrap()),
            );
            let mut out = Vec::new();
            assert_eq!(s.write_xml(&mut out), claimed, "{payload} {from}");
            assert_eq!(plain(std::str::from_utf8(&out).unwrap()), claimed);
        }
    }

    /// Each copy is the payload's one serialization with the copy's
    /// addresses spliced in among the attributes, in name order: the same
    /// text as `to_xml`, the first time and from the kept text after it.
    #[test]
    fn written_copies_splice_their_addresses_into_one_serialization() {
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
            // Characters an attribute value escapes: the slow path.
            (Some("x.example"), Some("a@x.example/it's <me> & \"you\"")),
        ];
        for p in payloads {
            let original = stanza(p);
            for (from, to) in addresses {
                let copy = original.readdressed(
                    from.map(|f| Jid::new(f).unwrap()),
                    to.map(|t| Jid::new(t).unwrap()),
                );
                assert_eq!(written(&copy), copy.to_xml(), "{p} {from:?} {to:?}");
                assert_eq!(written(&copy), copy.to_xml(), "{p} {from:?} {to:?}");
            }
            assert!(original.payload().xml.get().is_some());
        }
        let s = stanza("<presence id='p' type='probe'/>");
        let copy = s.readdressed(
            Some(Jid::new("a@x.example/r").unwrap()),
            Some(Jid::new("b@y.example").unwrap()),
        );
        assert_eq!(
            written(&copy),
            "<presence from='a@x.example/r' id='p' to='b@y.example' type='probe'/>"
        );
        assert_eq!(s.payload().xml(), "<presence id='p' type='probe'/>");
    }

    /// Elements outside `jabber:client` (stream features, SASL) are
    /// written whole, or through `to_xml` when they are addressed.
    #[test]
    fn other_namespaces_are_written_whole_or_through_to_xml() {
        let mut el = Element::bare("features", crate::xml::NS_STREAMS);
        el.append_child(Element::bare("bind", "urn:ietf:params:xml:ns:xmpp-bind"));
        let from = Jid::new("x.example").unwrap();
        for (from, to) in [(None, None), (Some(from.clone()), None), (None, Some(from))] {
            let s = Stanza::new(from, to, el.clone());
            assert_eq!(written(&s), s.to_xml());
        }
    }
}
