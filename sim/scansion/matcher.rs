//! Matching a received stanza against an expected one, by scansion's rules
//! (PROSODY-NOTES §3.4):
//!
//! - elements in the default namespace (`jabber:client`) are matched
//!   non-strictly: expected attributes must be present with their values,
//!   expected children must be present (each matching a distinct received
//!   child, in any order); extra attributes and children are ignored;
//! - elements with their own namespace are matched strictly: the same set
//!   of attributes, the same children in the same order; children that
//!   inherit the namespace of a strict parent are strict too;
//! - `scansion:strict='true'|'false'` on an expected element overrides this;
//! - `{scansion:any}` accepts any value of a present attribute, and
//!   `{scansion:capture:NAME}` records a value on first use and requires
//!   the same value afterwards;
//! - text is compared (whitespace-trimmed) where the expected element has
//!   text, and always in strict mode.

use std::collections::BTreeMap;

use presim_engine::minidom::rxml::Namespace;
use presim_engine::minidom::Element;
use presim_engine::xml::NS_CLIENT;

use super::script::SCANSION_NS;

const ANY: &str = "{scansion:any}";
const CAPTURE: &str = "{scansion:capture:";

/// Values captured by `{scansion:capture:NAME}` during one script run.
pub type Captures = BTreeMap<String, String>;

/// Why a stanza did not match, as a path and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch(pub String);

fn strictness(expected: &Element, parent: Option<(&str, bool)>) -> bool {
    match expected.attr_ns(SCANSION_NS, "strict") {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    let ns = expected.ns();
    match parent {
        Some((parent_ns, parent_strict)) if parent_ns == ns => parent_strict,
        _ => ns != NS_CLIENT,
    }
}

fn direct_text(el: &Element) -> String {
    el.texts().collect::<String>().trim().to_string()
}

/// Checks `actual` against `expected`; captures are updated only on success.
pub fn matches(
    expected: &Element,
    actual: &Element,
    captures: &mut Captures,
) -> Result<(), Mismatch> {
    let mut trial = captures.clone();
    match_element(expected, actual, None, &mut trial, expected.name())?;
    *captures = trial;
    Ok(())
}

fn match_element(
    expected: &Element,
    actual: &Element,
    parent: Option<(&str, bool)>,
    captures: &mut Captures,
    path: &str,
) -> Result<(), Mismatch> {
    if expected.name() != actual.name() || expected.ns() != actual.ns() {
        return Err(Mismatch(format!(
            "{path}: expected element {{{}}}{}, got {{{}}}{}",
            expected.ns(),
            expected.name(),
            actual.ns(),
            actual.name()
        )));
    }
    let strict = strictness(expected, parent);
    match_attributes(expected, actual, strict, captures, path)?;
    let (want, got) = (direct_text(expected), direct_text(actual));
    if (strict || !want.is_empty()) && want != got {
        return Err(Mismatch(format!(
            "{path}: expected text {want:?}, got {got:?}"
        )));
    }
    let ns = expected.ns();
    let ctx = Some((ns.as_str(), strict));
    let want: Vec<&Element> = expected.children().collect();
    let got: Vec<&Element> = actual.children().collect();
    if strict {
        if want.len() != got.len() {
            return Err(Mismatch(format!(
                "{path}: expected {} child element(s) (strict), got {}",
                want.len(),
                got.len()
            )));
        }
        for (w, g) in want.iter().zip(&got) {
            match_element(w, g, ctx, captures, &format!("{path}/{}", w.name()))?;
        }
        return Ok(());
    }
    let mut used = vec![false; got.len()];
    assign_children(&want, &got, &mut used, ctx, captures, path)
}

/// Finds a distinct received child for every expected child (backtracking).
fn assign_children(
    want: &[&Element],
    got: &[&Element],
    used: &mut [bool],
    ctx: Option<(&str, bool)>,
    captures: &mut Captures,
    path: &str,
) -> Result<(), Mismatch> {
    let Some((first, rest)) = want.split_first() else {
        return Ok(());
    };
    let child_path = format!("{path}/{}", first.name());
    let mut last_error = None;
    for i in 0..got.len() {
        if used[i] {
            continue;
        }
        let mut trial = captures.clone();
        match match_element(first, got[i], ctx, &mut trial, &child_path) {
            Ok(()) => {
                used[i] = true;
                if assign_children(rest, got, used, ctx, &mut trial, path).is_ok() {
                    *captures = trial;
                    return Ok(());
                }
                used[i] = false;
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| Mismatch(format!("{child_path}: expected child element is missing"))))
}

fn match_attributes(
    expected: &Element,
    actual: &Element,
    strict: bool,
    captures: &mut Captures,
    path: &str,
) -> Result<(), Mismatch> {
    let mut wanted = 0;
    for ((ns, name), want) in expected.attrs().iter() {
        if ns.as_str() == SCANSION_NS {
            continue;
        }
        wanted += 1;
        let got = actual.attrs().get(ns, name.as_str());
        let Some(got) = got else {
            return Err(Mismatch(format!(
                "{path}: missing attribute '{}'",
                name.as_str()
            )));
        };
        if want == ANY {
            continue;
        }
        if let Some(key) = want.strip_prefix(CAPTURE).and_then(|k| k.strip_suffix('}')) {
            match captures.get(key) {
                Some(seen) if seen != got => {
                    return Err(Mismatch(format!(
                        "{path}: attribute '{}' is '{got}', but capture '{key}' holds '{seen}'",
                        name.as_str()
                    )))
                }
                Some(_) => {}
                None => {
                    captures.insert(key.to_string(), got.clone());
                }
            }
            continue;
        }
        if want != got {
            return Err(Mismatch(format!(
                "{path}: attribute '{}' is '{got}', expected '{want}'",
                name.as_str()
            )));
        }
    }
    if strict {
        let extra: Vec<String> = actual
            .attrs()
            .iter()
            .filter(|((ns, name), _)| expected.attrs().get(*ns, name.as_str()).is_none())
            .map(|((ns, name), _)| {
                if *ns == Namespace::NONE {
                    name.as_str().to_string()
                } else {
                    format!("{{{}}}{}", ns.as_str(), name.as_str())
                }
            })
            .collect();
        if !extra.is_empty() {
            return Err(Mismatch(format!(
                "{path}: unexpected attribute(s) {} (strict; expected {wanted})",
                extra.join(", ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::script::parse_stanza;
    use super::*;

    fn check(expected: &str, actual: &str) -> Result<(), Mismatch> {
        let e = parse_stanza(expected).unwrap();
        let a = parse_stanza(actual).unwrap();
        matches(&e, &a, &mut Captures::new())
    }

    #[test]
    fn default_namespace_ignores_extra_attributes_and_children() {
        check(
            "<presence/>",
            "<presence from='a@b/c'><x xmlns='vcard-temp:x:update'/></presence>",
        )
        .unwrap();
        check("<presence from='a@b'/>", "<presence from='a@b' to='c@d'/>").unwrap();
    }

    #[test]
    fn expected_attribute_must_match() {
        let e = check(
            "<presence type='subscribed'/>",
            "<presence type='unavailable'/>",
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "presence: attribute 'type' is 'unavailable', expected 'subscribed'"
        );
        assert!(check("<presence type='subscribed'/>", "<presence/>").is_err());
    }

    #[test]
    fn non_strict_children_match_in_any_order_and_distinctly() {
        check(
            "<message><body>b</body><subject>s</subject></message>",
            "<message><subject>s</subject><thread>t</thread><body>b</body></message>",
        )
        .unwrap();
        let two = "<message><body>b</body><body>b</body></message>";
        assert!(check(two, "<message><body>b</body></message>").is_err());
        check(two, "<message><body>b</body><body>b</body></message>").unwrap();
    }

    #[test]
    fn own_namespace_is_strict_about_attributes_and_children() {
        let expected = "<iq><query xmlns='jabber:iq:roster'><item jid='a@b' subscription='none'/></query></iq>";
        check(expected, "<iq><query xmlns='jabber:iq:roster'><item jid='a@b' subscription='none'/></query></iq>").unwrap();
        // inherited namespace: the item is strict too
        let e = check(expected, "<iq><query xmlns='jabber:iq:roster'><item jid='a@b' subscription='none' ask='subscribe'/></query></iq>").unwrap_err();
        assert!(e.0.contains("unexpected attribute(s) ask"), "{}", e.0);
        assert!(check(expected, "<iq><query xmlns='jabber:iq:roster'/></iq>").is_err());
        assert!(check(
            "<iq><query xmlns='jabber:iq:roster'/></iq>",
            "<iq><query xmlns='jabber:iq:roster' ver='1'/></iq>"
        )
        .is_err());
    }

    #[test]
    fn strict_children_must_come_in_order() {
        let expected = "<presence><x xmlns='muc'><status code='1'/><item a='x'/></x></presence>";
        check(
            expected,
            "<presence><x xmlns='muc'><status code='1'/><item a='x'/></x></presence>",
        )
        .unwrap();
        assert!(check(
            expected,
            "<presence><x xmlns='muc'><item a='x'/><status code='1'/></x></presence>"
        )
        .is_err());
    }

    #[test]
    fn strict_override_both_ways() {
        let relaxed = "<presence><x xmlns='muc' scansion:strict='false'><item/></x></presence>";
        check(
            relaxed,
            "<presence><x xmlns='muc' extra='1'><status/><item a='1'/></x></presence>",
        )
        .unwrap();
        let strict = "<presence scansion:strict='true' type='a'/>";
        assert!(check(strict, "<presence type='a' id='x'/>").is_err());
        check(strict, "<presence type='a'/>").unwrap();
    }

    #[test]
    fn any_requires_presence_of_attribute() {
        check("<iq id='{scansion:any}'/>", "<iq id='x'/>").unwrap();
        let e = check("<iq id='{scansion:any}'/>", "<iq/>").unwrap_err();
        assert_eq!(e.0, "iq: missing attribute 'id'");
    }

    #[test]
    fn captures_must_repeat() {
        let mut caps = Captures::new();
        let e = parse_stanza("<iq id='{scansion:capture:q}'/>").unwrap();
        matches(&e, &parse_stanza("<iq id='7'/>").unwrap(), &mut caps).unwrap();
        assert_eq!(caps["q"], "7");
        assert!(matches(&e, &parse_stanza("<iq id='8'/>").unwrap(), &mut caps).is_err());
        matches(&e, &parse_stanza("<iq id='7'/>").unwrap(), &mut caps).unwrap();
    }

    #[test]
    fn text_is_compared_where_expected() {
        check(
            "<presence><status>Farewell</status></presence>",
            "<presence><status>Farewell</status></presence>",
        )
        .unwrap();
        assert!(check(
            "<presence><status>Farewell</status></presence>",
            "<presence><status>Bye</status></presence>"
        )
        .is_err());
        // non-strict element without expected text accepts any text
        check(
            "<message><body/></message>",
            "<message><body>hi</body></message>",
        )
        .unwrap();
        // strict element: text must be equal
        assert!(check("<x xmlns='urn:a'/>", "<x xmlns='urn:a'>t</x>").is_err());
    }

    #[test]
    fn name_and_namespace_must_match() {
        assert!(check("<presence/>", "<message/>").is_err());
        assert!(check(
            "<message><x xmlns='urn:a'/></message>",
            "<message><x xmlns='urn:b'/></message>"
        )
        .is_err());
    }
}
