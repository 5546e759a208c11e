//! Stanzas: an XML payload shared between recipients, plus its addressing.
//!
//! RFC 6120 §8 stanzas carry `from` and `to` attributes. When a server fans a
//! presence out to N recipients only the addressing differs, so [`Stanza`]
//! keeps `from`/`to` apart from the payload and shares the payload behind an
//! `Arc`; a copy for one more recipient costs a reference count and a JID.
//! The payload element never holds `from`/`to` itself.
//!
//! This module also builds RFC 6120 §8.3 stanza errors and §4.9 stream errors.

use std::sync::Arc;

use jid::Jid;
use minidom::Element;

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
    payload: Arc<Element>,
    class: Class,
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
        let type_ = match payload.attr("type") {
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
        Stanza::shared(from, to, Arc::new(payload))
    }

    /// A stanza with the given addressing and a payload shared with others.
    pub fn shared(from: Option<Jid>, to: Option<Jid>, payload: Arc<Element>) -> Stanza {
        let class = Class::of(&payload);
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
    pub fn payload(&self) -> &Arc<Element> {
        &self.payload
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
        let mut el = (*self.payload).clone();
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
}
