//! XML helpers over `minidom`: namespace constants, attribute editing,
//! parsing of stanzas written without a stream context, and serialization.
//!
//! Stanzas on a real stream inherit the stream's default namespace
//! (`jabber:client`); a stanza handed to the engine outside a stream is parsed
//! as if it sat inside one, which is what [`parse_client_xml`] does.

use minidom::rxml::{Namespace, NcName};
use minidom::Element;

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
pub const NS_ROSTER: &str = "jabber:iq:roster";
pub const NS_ROSTERVER: &str = "urn:xmpp:features:rosterver";
pub const NS_PREAPPROVAL: &str = "urn:xmpp:features:pre-approval";
pub const NS_DELAY: &str = "urn:xmpp:delay";
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const NS_PING: &str = "urn:xmpp:ping";

/// Error from parsing XML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XmlError {}

/// Turns a static or parsed attribute name into the name type minidom wants.
///
/// Returns `None` for strings that are not XML NCNames.
pub fn ncname(name: &str) -> Option<NcName> {
    NcName::try_from(name).ok()
}

/// Sets (or replaces) an attribute without a namespace.
pub fn set_attr(el: &mut Element, name: &str, value: impl Into<String>) {
    let name = ncname(name).expect("attribute names used by the engine are valid NCNames");
    el.attrs_mut().insert(Namespace::NONE, name, value.into());
}

/// Removes an attribute without a namespace, if present.
pub fn remove_attr(el: &mut Element, name: &str) {
    el.attrs_mut().remove(&Namespace::NONE, name);
}

/// Builds an element with the given name, namespace and attributes.
pub fn element(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut el = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut el, k, *v);
    }
    el
}

/// Builds an element holding one text node.
pub fn text_element(name: &str, ns: &str, text: &str) -> Element {
    let mut el = Element::bare(name, ns);
    el.append_text(text);
    el
}

/// Parses one or more top-level elements written as they would appear inside
/// a client stream (default namespace `jabber:client`). Extra namespace
/// prefixes may be declared by the caller through `prefixes`.
pub fn parse_fragment(text: &str, prefixes: &[(&str, &str)]) -> Result<Vec<Element>, XmlError> {
    let mut wrapped = String::with_capacity(text.len() + 96);
    wrapped.push_str("<presim-fragment xmlns='");
    wrapped.push_str(NS_CLIENT);
    wrapped.push('\'');
    for (prefix, ns) in prefixes {
        wrapped.push_str(" xmlns:");
        wrapped.push_str(prefix);
        wrapped.push_str("='");
        wrapped.push_str(ns);
        wrapped.push('\'');
    }
    wrapped.push('>');
    wrapped.push_str(text);
    wrapped.push_str("</presim-fragment>");
    let root: Element = wrapped
        .parse()
        .map_err(|e: minidom::Error| XmlError(e.to_string()))?;
    Ok(root.children().cloned().collect())
}

/// Parses exactly one element in the client namespace.
pub fn parse_client_xml(text: &str) -> Result<Element, XmlError> {
    let mut elements = parse_fragment(text, &[])?;
    match elements.len() {
        1 => Ok(elements.pop().expect("length checked")),
        0 => Err(XmlError("no element found".into())),
        n => Err(XmlError(format!("expected one element, found {n}"))),
    }
}

/// Serializes an element, leaving out the implied `jabber:client` namespace
/// of a top-level stanza: the text minidom writes, byte for byte. The
/// elements the engine makes (no prefixes, no namespaced attributes) are
/// written directly; anything else goes through minidom's writer.
pub fn to_string(el: &Element) -> String {
    let mut out = String::with_capacity(128);
    let plain = if el.has_ns(NS_CLIENT) {
        write_plain(el, NS_CLIENT, false, &mut out)
    } else if el.has_ns("") {
        write_plain(el, "", false, &mut out)
    } else {
        write_plain(el, &el.ns(), true, &mut out)
    };
    if plain {
        out
    } else {
        to_string_by_minidom(el)
    }
}

/// Writes `el`, whose namespace is `ns`, as minidom's writer does (rxml's
/// encoder with its simple namespace tracking): `declare` puts
/// `xmlns='ns'` first in the start tag, which a child does when its
/// namespace is not its parent's; then the attributes in name order, `'`
/// quotes, and empty elements as `<x/>`. False, with `out` partly
/// written, if `el` or a descendant declares prefixes, has a namespaced
/// attribute or a character XML cannot hold.
fn write_plain(el: &Element, ns: &str, declare: bool, out: &mut String) -> bool {
    if !el.prefixes.declared_prefixes().is_empty() {
        return false;
    }
    out.push('<');
    out.push_str(el.name());
    if declare && !attribute(out, "xmlns", ns) {
        return false;
    }
    for ((attr_ns, name), value) in el.attrs() {
        if !attr_ns.is_none() || !attribute(out, name.as_str(), value) {
            return false;
        }
    }
    let mut nodes = el.nodes().peekable();
    if nodes.peek().is_none() {
        out.push_str("/>");
        return true;
    }
    out.push('>');
    for node in nodes {
        let plain = match node {
            minidom::Node::Text(text) => escape(text, false, out),
            minidom::Node::Element(child) if child.has_ns(ns) => write_plain(child, ns, false, out),
            minidom::Node::Element(child) => write_plain(child, &child.ns(), true, out),
        };
        if !plain {
            return false;
        }
    }
    out.push_str("</");
    out.push_str(el.name());
    out.push('>');
    true
}

/// Appends ` name='value'`, escaped; false if the value cannot be written.
pub(crate) fn attribute(out: &mut String, name: &str, value: &str) -> bool {
    out.push(' ');
    out.push_str(name);
    out.push_str("='");
    let written = escape(value, true, out);
    out.push('\'');
    written
}

/// Appends `text` escaped as rxml escapes text or attribute values. False
/// for characters XML cannot hold (control characters, U+FFFE, U+FFFF).
pub(crate) fn escape(text: &str, attribute: bool, out: &mut String) -> bool {
    let bytes = text.as_bytes();
    if !crate::scan::maybe_markup(bytes) {
        out.push_str(text);
        return true;
    }
    let mut done = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped = match b {
            b'\x00'..=b'\x08' | b'\x0b' | b'\x0c' | b'\x0e'..=b'\x1f' => return false,
            b'\xbe' | b'\xbf' if i >= 2 && bytes[i - 2] == 0xef && bytes[i - 1] == 0xbf => {
                return false
            }
            b'"' if attribute => "&#34;",
            b'\'' if attribute => "&#39;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'\r' => "&#xd;",
            b'\n' if attribute => "&#xa;",
            b'\t' if attribute => "&#x9;",
            _ => continue,
        };
        out.push_str(&text[done..i]);
        out.push_str(escaped);
        done = i + 1;
    }
    out.push_str(&text[done..]);
    true
}

/// [`to_string`] through minidom's writer, for any element.
fn to_string_by_minidom(el: &Element) -> String {
    let mut buf = Vec::with_capacity(128);
    el.write_to(&mut buf)
        .expect("writing to a Vec cannot fail and minidom elements are well-formed");
    let s = String::from_utf8(buf).expect("minidom writes UTF-8");
    let implied = " xmlns='jabber:client'";
    match s.find(implied) {
        Some(pos) if pos < s.find('>').unwrap_or(usize::MAX) => {
            let mut out = String::with_capacity(s.len());
            out.push_str(&s[..pos]);
            out.push_str(&s[pos + implied.len()..]);
            out
        }
        _ => s,
    }
}

/// The first child element with this name and namespace.
pub fn child<'a>(el: &'a Element, name: &str, ns: &str) -> Option<&'a Element> {
    el.children().find(|c| c.is(name, ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_inherits_client_namespace() {
        let el = parse_client_xml("<presence><status>hi</status></presence>").unwrap();
        assert_eq!(el.ns(), NS_CLIENT);
        assert_eq!(el.children().next().unwrap().ns(), NS_CLIENT);
    }

    #[test]
    fn serialization_omits_implied_client_namespace() {
        let el =
            parse_client_xml("<presence type='unavailable'><x xmlns='urn:x'/></presence>").unwrap();
        assert_eq!(
            to_string(&el),
            "<presence type='unavailable'><x xmlns='urn:x'/></presence>"
        );
    }

    /// The direct writer gives minidom's text on what it handles, and
    /// hands the rest to minidom.
    #[test]
    fn serialization_is_minidoms() {
        let stanzas = [
            "<presence/>",
            "<presence type='unavailable' id='a&amp;b'><status>a &lt; b &gt; c &amp; \"d\" 'e'\r\n\tf</status></presence>",
            "<presence><x xmlns='urn:x'><y/><z xmlns='urn:z'>t</z><w xmlns=''/></x><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>",
            "<message to='a@b' from='c@d/e' type='chat'><body>caf\u{e9} \u{1f600} \u{fffd}</body></message>",
            "<iq type='result' id='x'><query xmlns='jabber:iq:roster' ver='3'><item jid='a@b' subscription='both'><group>&apos;&quot;\t\n</group></item></query></iq>",
            "<presence a='&#9;&#10;&#13;' b='&lt;&gt;&amp;' c='&quot;&apos;'/>",
            "<presence xmlns:p='urn:p'><p:x/></presence>",
            "<presence><x xmlns='urn:x' xmlns:q='urn:q' q:attr='1'/></presence>",
        ];
        let documents = [
            "<x xmlns='urn:x' a='1'><y/><z xmlns='jabber:client'/></x>",
            "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
            "<x xmlns=''><y/></x>",
        ];
        let elements = stanzas
            .iter()
            .map(|s| parse_client_xml(s).unwrap())
            .chain(documents.iter().map(|d| d.parse::<Element>().unwrap()));
        for el in elements {
            assert_eq!(to_string(&el), to_string_by_minidom(&el));
        }
        let mut el = element("presence", NS_CLIENT, &[]);
        el.append_text_node("\u{fffe}");
        assert!(!write_plain(&el, NS_CLIENT, false, &mut String::new()));
        let mut el = element("presence", NS_CLIENT, &[("a", "\u{ffff}")]);
        assert!(!write_plain(&el, NS_CLIENT, false, &mut String::new()));
        el.append_text_node("\u{1}");
        assert!(!write_plain(&el, NS_CLIENT, false, &mut String::new()));
    }

    #[test]
    fn attributes_can_be_set_and_removed() {
        let mut el = element("iq", NS_CLIENT, &[("type", "get")]);
        set_attr(&mut el, "type", "set");
        set_attr(&mut el, "id", "a");
        remove_attr(&mut el, "id");
        assert_eq!(el.attr("type"), Some("set"));
        assert_eq!(el.attr("id"), None);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(parse_client_xml("<presence>").is_err());
        assert!(parse_client_xml("").is_err());
    }
}
