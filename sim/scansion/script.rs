//! Parsing of scansion scripts (`.scs`), the format of Prosody's test
//! scripts: metadata comments, `[Client]` blocks, a separator line of
//! dashes, then actions (`Name connects`, `Name sends:`, `Name receives:`,
//! `Name receives: nothing`, `Name disconnects`) with tab-indented XML.

use std::fmt;

use presim_engine::minidom::Element;
use presim_engine::xml;

/// The namespace bound to the `scansion:` prefix in expected stanzas.
pub const SCANSION_NS: &str = "https://matthewwild.co.uk/projects/scansion";

/// An error in a script, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// A `[Client]` character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    pub jid: String,
    pub password: String,
    pub resource: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Connects,
    Disconnects,
    Sends(String),
    Receives(String),
    ReceivesNothing,
}

/// One step of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub line: usize,
    /// Index into [`Script::clients`].
    pub client: usize,
    pub verb: Verb,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub file: String,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub clients: Vec<Client>,
    pub actions: Vec<Action>,
}

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && t.chars().all(|c| c == '-')
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with("//") || (t.starts_with("--") && !is_separator(t))
}

fn is_indented(line: &str) -> bool {
    line.starts_with('\t') || line.starts_with(' ')
}

struct Parser<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, line: usize, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    /// Collects the indented block after the current line.
    fn indented_block(&mut self) -> String {
        let mut block = Vec::new();
        while self.pos < self.lines.len()
            && is_indented(self.lines[self.pos])
            && !self.lines[self.pos].trim().is_empty()
        {
            block.push(self.lines[self.pos].trim());
            self.pos += 1;
        }
        block.join("\n")
    }
}

/// Parses a script. `file` is used in error messages.
pub fn parse(file: &str, text: &str) -> Result<Script, ScriptError> {
    let mut p = Parser {
        file,
        lines: text.lines().collect(),
        pos: 0,
    };
    let mut title = None;
    let mut tags = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let mut seen_separator = false;
    // Header: metadata, clients, separator.
    while p.pos < p.lines.len() {
        let (lineno, line) = (p.pos + 1, p.lines[p.pos]);
        p.pos += 1;
        if line.trim().is_empty() {
            continue;
        }
        if is_separator(line) {
            seen_separator = true;
            break;
        }
        if let Some(tag) = line.strip_prefix("##") {
            tags.push(tag.trim().to_string());
            continue;
        }
        if let Some(meta) = line.strip_prefix('#') {
            if title.is_none() && clients.is_empty() {
                title = Some(meta.trim().to_string());
            }
            continue;
        }
        if is_comment(line) {
            continue;
        }
        if let Some(name) = line.strip_prefix("[Client]") {
            let name = name.trim();
            if name.is_empty() {
                return Err(p.err(lineno, "[Client] needs a name"));
            }
            if clients.iter().any(|c| c.name == name) {
                return Err(p.err(lineno, format!("client '{name}' is defined twice")));
            }
            clients.push(parse_client(&mut p, lineno, name)?);
            continue;
        }
        if line.starts_with('[') {
            let class = line.split(']').next().unwrap_or(line);
            return Err(p.err(
                lineno,
                format!("unsupported character class '{class}]' (only [Client] is supported)"),
            ));
        }
        return Err(p.err(
            lineno,
            format!(
                "expected '[Client] <name>', a comment or a line of dashes, found '{}'",
                line.trim()
            ),
        ));
    }
    if !seen_separator {
        return Err(p.err(
            p.lines.len().max(1),
            "missing the line of dashes that separates clients from actions",
        ));
    }
    if clients.is_empty() {
        return Err(p.err(1, "the script defines no [Client]"));
    }
    let actions = parse_actions(&mut p, &clients)?;
    let script = Script {
        file: file.to_string(),
        title,
        tags,
        clients,
        actions,
    };
    check_stanzas(&script)?;
    Ok(script)
}

fn parse_client(p: &mut Parser<'_>, header_line: usize, name: &str) -> Result<Client, ScriptError> {
    let (mut jid, mut password, mut resource) = (None, None, None);
    while p.pos < p.lines.len() && is_indented(p.lines[p.pos]) {
        let (lineno, line) = (p.pos + 1, p.lines[p.pos].trim());
        p.pos += 1;
        if line.is_empty() || is_comment(line) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(p.err(
                lineno,
                format!("expected 'key: value' in client '{name}', found '{line}'"),
            ));
        };
        let value = value.trim().to_string();
        match key.trim() {
            "jid" => jid = Some(value),
            "password" => password = Some(value),
            "resource" => resource = Some(value),
            "connect_host" | "connect_port" => {}
            other => return Err(p.err(lineno, format!("unknown client key '{other}' (expected jid, password, resource, connect_host or connect_port)"))),
        }
    }
    let jid = jid.ok_or_else(|| p.err(header_line, format!("client '{name}' has no jid")))?;
    if presim_engine::jid::Jid::new(&jid).is_err() {
        return Err(p.err(
            header_line,
            format!("client '{name}' has an invalid jid '{jid}'"),
        ));
    }
    Ok(Client {
        name: name.to_string(),
        jid,
        password: password.unwrap_or_default(),
        resource,
        line: header_line,
    })
}

fn parse_actions(p: &mut Parser<'_>, clients: &[Client]) -> Result<Vec<Action>, ScriptError> {
    // Longest names first, so "Juliet's phone" wins over "Juliet".
    let mut by_length: Vec<usize> = (0..clients.len()).collect();
    by_length.sort_by_key(|&i| std::cmp::Reverse(clients[i].name.len()));
    let mut actions = Vec::new();
    while p.pos < p.lines.len() {
        let (lineno, line) = (p.pos + 1, p.lines[p.pos]);
        p.pos += 1;
        if line.trim().is_empty() || is_comment(line) {
            continue;
        }
        if is_indented(line) {
            return Err(p.err(
                lineno,
                "indented line outside an action (XML must follow a 'sends' or 'receives' line)",
            ));
        }
        let line = line.trim_end();
        let client = by_length.iter().copied().find(|&i| {
            line.strip_prefix(clients[i].name.as_str())
                .is_some_and(|rest| rest.starts_with(' '))
        });
        let Some(client) = client else {
            let name = line.rsplit_once(' ').map(|(n, _)| n).unwrap_or(line);
            return Err(p.err(
                lineno,
                format!("unknown client '{name}' (defined: {})", names(clients)),
            ));
        };
        let rest = line[clients[client].name.len()..].trim();
        let (verb_word, arg) = match rest.split_once(':') {
            Some((v, a)) => (v.trim(), a.trim()),
            None => match rest.split_once(' ') {
                Some((v, a)) => (v.trim(), a.trim()),
                None => (rest, ""),
            },
        };
        let verb = match (verb_word, arg) {
            ("connects", "") => Verb::Connects,
            ("disconnects", "") => Verb::Disconnects,
            ("receives", "nothing") => Verb::ReceivesNothing,
            ("sends" | "receives", "") => {
                let xml = p.indented_block();
                if xml.is_empty() {
                    return Err(p.err(lineno, format!("'{verb_word}' must be followed by a tab-indented stanza")));
                }
                if verb_word == "sends" { Verb::Sends(xml) } else { Verb::Receives(xml) }
            }
            _ => return Err(p.err(lineno, format!("unknown action '{rest}' (expected connects, disconnects, sends:, receives: or receives: nothing)"))),
        };
        actions.push(Action {
            line: lineno,
            client,
            verb,
        });
    }
    Ok(actions)
}

fn names(clients: &[Client]) -> String {
    clients
        .iter()
        .map(|c| format!("'{}'", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `${...}` reference in a stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    Jid(usize),
    FullJid(usize),
}

/// Replaces `${Name's JID}` and `${Name's full JID}` using `resolve`.
pub fn substitute(
    text: &str,
    clients: &[Client],
    mut resolve: impl FnMut(Variable) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated '${' in stanza".to_string())?;
        let name = &after[..end];
        let var = if let Some(client) = name.strip_suffix("'s full JID") {
            clients
                .iter()
                .position(|c| c.name == client)
                .map(Variable::FullJid)
        } else if let Some(client) = name.strip_suffix("'s JID") {
            clients
                .iter()
                .position(|c| c.name == client)
                .map(Variable::Jid)
        } else {
            None
        };
        let var = var.ok_or_else(|| format!("undefined variable '${{{name}}}' (known forms: ${{<client>'s JID}}, ${{<client>'s full JID}}; clients: {})", names(clients)))?;
        out.push_str(&resolve(var)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses the XML of a `sends` or `receives` block.
pub fn parse_stanza(text: &str) -> Result<Element, String> {
    let mut elements = xml::parse_fragment(text, &[("scansion", SCANSION_NS)])
        .map_err(|e| format!("invalid XML: {e}"))?;
    match elements.len() {
        1 => Ok(elements.remove(0)),
        0 => Err("no XML element in block".to_string()),
        n => Err(format!("expected one stanza in block, found {n}")),
    }
}

/// Checks every stanza's variables and XML before anything runs.
fn check_stanzas(script: &Script) -> Result<(), ScriptError> {
    for action in &script.actions {
        let (Verb::Sends(text) | Verb::Receives(text)) = &action.verb else {
            continue;
        };
        let err = |message: String| ScriptError {
            file: script.file.clone(),
            line: action.line,
            message,
        };
        let text = substitute(text, &script.clients, |_| {
            Ok("placeholder@example.org/r".to_string())
        })
        .map_err(err)?;
        parse_stanza(&text).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "# Title\n## slow\n\n[Client] Juliet's phone\n\tjid: juliet@localhost\n\tpassword: x\n\tresource: mobile\n\n[Client] Juliet\n\tjid: juliet@localhost\n\n-----\n\n# comment\nJuliet's phone connects\n\nJuliet sends\n\t<presence to=\"${Juliet's phone's full JID}\"/>\n\nJuliet receives: nothing\n\nJuliet disconnects\n";

    #[test]
    fn parses_clients_and_actions() {
        let s = parse("t.scs", SCRIPT).unwrap();
        assert_eq!(s.title.as_deref(), Some("Title"));
        assert_eq!(s.tags, vec!["slow"]);
        assert_eq!(s.clients[0].name, "Juliet's phone");
        assert_eq!(s.clients[0].resource.as_deref(), Some("mobile"));
        assert_eq!(s.actions.len(), 4);
        assert_eq!(
            s.actions[0],
            Action {
                line: 15,
                client: 0,
                verb: Verb::Connects
            }
        );
        assert_eq!(s.actions[1].client, 1);
        assert!(matches!(s.actions[1].verb, Verb::Sends(_)));
        assert_eq!(s.actions[2].verb, Verb::ReceivesNothing);
        assert_eq!(s.actions[3].line, 22);
    }

    #[test]
    fn unknown_client_is_reported_with_line() {
        let text = SCRIPT.replace("Juliet disconnects", "Romeo disconnects");
        let e = parse("t.scs", &text).unwrap_err();
        assert_eq!(e.line, 22);
        assert!(
            e.message.starts_with("unknown client 'Romeo'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn undefined_variable_is_reported_with_line() {
        let text = SCRIPT.replace("${Juliet's phone's full JID}", "${Nurse's JID}");
        let e = parse("t.scs", &text).unwrap_err();
        assert_eq!(e.line, 17);
        assert!(
            e.message.starts_with("undefined variable '${Nurse's JID}'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn bad_xml_is_reported_with_line() {
        let text = SCRIPT.replace("<presence to=", "<presence <to=");
        let e = parse("t.scs", &text).unwrap_err();
        assert_eq!(e.line, 17);
        assert!(e.message.starts_with("invalid XML"), "{}", e.message);
    }

    #[test]
    fn missing_separator_is_an_error() {
        let e = parse("t.scs", "[Client] A\n\tjid: a@b\n\nA connects\n").unwrap_err();
        assert!(e.message.contains("line of dashes"), "{}", e.message);
    }

    #[test]
    fn substitution_resolves_names_with_apostrophes() {
        let s = parse("t.scs", SCRIPT).unwrap();
        let out = substitute(
            "${Juliet's phone's full JID} ${Juliet's JID}",
            &s.clients,
            |v| {
                Ok(match v {
                    Variable::FullJid(0) => "juliet@localhost/mobile".into(),
                    Variable::Jid(1) => "juliet@localhost".into(),
                    other => panic!("unexpected {other:?}"),
                })
            },
        )
        .unwrap();
        assert_eq!(out, "juliet@localhost/mobile juliet@localhost");
    }
}
