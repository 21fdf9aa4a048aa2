//! The autoconfig XML Thunderbird reads (`config-v1.1.xml`, the "clientConfig"
//! format), as a company's web server or its mail provider publishes it:
//! the first IMAP server and the first SMTP server it names with TLS
//! (`SSL` or `STARTTLS`; never `plain`) and a per-person user name
//! (`%EMAILADDRESS%`, `%EMAILLOCALPART%`). Pure: text in, servers out; the
//! text may be hostile (it comes from any web server), so a DOCTYPE is
//! refused, depth is bounded and every field is checked.

use mailpresence_protocol::enrolment::ServiceSettings;
use mailpresence_protocol::transport::TlsMode;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{Address, valid_host};

/// Deeper than any real clientConfig (4 levels) by a margin.
const MAX_DEPTH: usize = 16;

/// One service the XML names, resolved for this person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub service: ServiceSettings,
    pub user: String,
    /// The XML says this server takes OAuth 2.0 (`<authentication>OAuth2`).
    pub oauth: bool,
}

/// Why an autoconfig document gave no settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AutoconfigError {
    #[error("not XML: {0}")]
    Xml(String),
    #[error("a DOCTYPE is not accepted")]
    DocType,
    #[error("nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("no IMAP server with TLS and a personal user name")]
    NoImap,
    #[error("no SMTP server with TLS and a personal user name")]
    NoSmtp,
}

/// The IMAP and SMTP servers `xml` names for `address`.
pub fn parse(xml: &str, address: &Address) -> Result<(Server, Server), AutoconfigError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<Candidate> = None;
    let mut imap = None;
    let mut smtp = None;
    loop {
        match reader
            .read_event()
            .map_err(|e| AutoconfigError::Xml(e.to_string()))?
        {
            Event::DocType(_) => return Err(AutoconfigError::DocType),
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return Err(AutoconfigError::TooDeep);
                }
                let name = local_name(&e);
                if is_server(&path, &name) {
                    current = Some(Candidate::new(&name, &e));
                }
                path.push(name);
            }
            Event::Empty(_) => {}
            Event::Text(t) => {
                let text = t
                    .xml_content()
                    .map_err(|e| AutoconfigError::Xml(e.to_string()))?;
                push_text(&mut current, &path, &text);
            }
            Event::CData(t) => {
                let text = t
                    .xml_content()
                    .map_err(|e| AutoconfigError::Xml(e.to_string()))?;
                push_text(&mut current, &path, &text);
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let name = r
                            .decode()
                            .map_err(|e| AutoconfigError::Xml(e.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                AutoconfigError::Xml(format!("unknown entity &{name};"))
                            })?
                            .to_owned()
                    }
                };
                push_text(&mut current, &path, &text);
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                if is_server(&path, &name)
                    && let Some(candidate) = current.take()
                {
                    let slot = if candidate.outgoing {
                        &mut smtp
                    } else {
                        &mut imap
                    };
                    if slot.is_none() {
                        *slot = candidate.resolve(address);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((
        imap.ok_or(AutoconfigError::NoImap)?,
        smtp.ok_or(AutoconfigError::NoSmtp)?,
    ))
}

/// A server element: `clientConfig/emailProvider/{incoming,outgoing}Server`.
fn is_server(path: &[String], name: &str) -> bool {
    path.len() == 2
        && path[0] == "clientConfig"
        && path[1] == "emailProvider"
        && (name == "incomingServer" || name == "outgoingServer")
}

fn local_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

/// Text goes to the field of the server element it is directly inside.
fn push_text(current: &mut Option<Candidate>, path: &[String], text: &str) {
    let (Some(candidate), 4) = (current.as_mut(), path.len()) else {
        return;
    };
    let field = match path[3].as_str() {
        "hostname" => &mut candidate.hostname,
        "port" => &mut candidate.port,
        "socketType" => &mut candidate.socket_type,
        "username" => &mut candidate.username,
        "authentication" => {
            candidate.oauth |= text.trim().eq_ignore_ascii_case("OAuth2");
            return;
        }
        _ => return,
    };
    // A field longer than any host or user name is not one.
    if field.len() + text.len() <= 512 {
        field.push_str(text);
    }
}

/// One server element as written, before it is checked.
#[derive(Debug, Default)]
struct Candidate {
    outgoing: bool,
    /// `type="imap"` / `type="smtp"` (POP3, EWS, … are skipped).
    wanted: bool,
    hostname: String,
    port: String,
    socket_type: String,
    username: String,
    oauth: bool,
}

impl Candidate {
    fn new(name: &str, e: &BytesStart<'_>) -> Self {
        let outgoing = name == "outgoingServer";
        let kind = e
            .try_get_attribute("type")
            .ok()
            .flatten()
            .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
            .unwrap_or_default();
        let wanted = if outgoing {
            kind == "smtp"
        } else {
            kind == "imap"
        };
        Self {
            outgoing,
            wanted,
            ..Self::default()
        }
    }

    /// The server for `address`, if it is one the phone may use.
    fn resolve(self, address: &Address) -> Option<Server> {
        if !self.wanted {
            return None;
        }
        let tls = match self.socket_type.trim() {
            "SSL" => TlsMode::Implicit,
            "STARTTLS" => TlsMode::Starttls,
            _ => return None,
        };
        let host = fill(self.hostname.trim(), address).to_ascii_lowercase();
        let port = self.port.trim().parse::<u16>().ok().filter(|p| *p != 0)?;
        if !valid_host(&host) {
            return None;
        }
        let template = self.username.trim();
        let user = if template.is_empty() {
            address.text()
        } else if template.contains('%') {
            fill(template, address)
        } else {
            // A fixed name is someone's, not this person's.
            return None;
        };
        if user.is_empty() || user.contains('%') {
            return None;
        }
        Some(Server {
            service: ServiceSettings { host, port, tls },
            user,
            oauth: self.oauth,
        })
    }
}

/// Thunderbird's placeholders, filled in for `address`.
fn fill(template: &str, address: &Address) -> String {
    template
        .replace("%EMAILADDRESS%", &address.text())
        .replace("%EMAILLOCALPART%", &address.local)
        .replace("%EMAILDOMAIN%", &address.domain)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test may stop at the first surprise

    use super::*;

    fn tanaka() -> Address {
        Address::parse("tanaka@example.co.jp").unwrap()
    }

    /// A real-shaped document: POP3 first, a plain-text IMAP, then the one
    /// to use; SMTP with the local part as the user name.
    const COMPANY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.co.jp">
    <domain>example.co.jp</domain>
    <displayName>Example &amp; Co. mail</displayName>
    <incomingServer type="pop3">
      <hostname>pop.example.co.jp</hostname><port>995</port>
      <socketType>SSL</socketType><username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.example.co.jp</hostname><port>143</port>
      <socketType>plain</socketType><username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>IMAP.%EMAILDOMAIN%</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.co.jp</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
      <username><![CDATA[%EMAILLOCALPART%]]></username>
      <authentication>OAuth2</authentication>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>"#;

    #[test]
    fn the_first_imap_and_smtp_servers_with_tls_are_taken() {
        let (imap, smtp) = parse(COMPANY, &tanaka()).unwrap();
        assert_eq!(
            imap.service,
            ServiceSettings {
                host: "imap.example.co.jp".into(),
                port: 993,
                tls: TlsMode::Implicit
            }
        );
        assert_eq!(imap.user, "tanaka@example.co.jp");
        assert!(!imap.oauth);
        assert_eq!(
            smtp.service,
            ServiceSettings {
                host: "smtp.example.co.jp".into(),
                port: 587,
                tls: TlsMode::Starttls
            }
        );
        assert_eq!(smtp.user, "tanaka");
        assert!(smtp.oauth);
    }

    #[test]
    fn plain_text_fixed_users_and_bad_fields_are_skipped() {
        let server = |socket: &str, port: &str, host: &str, user: &str| {
            format!(
                "<clientConfig><emailProvider><incomingServer type=\"imap\"><hostname>{host}</hostname><port>{port}</port><socketType>{socket}</socketType><username>{user}</username></incomingServer><outgoingServer type=\"smtp\"><hostname>smtp.example.co.jp</hostname><port>465</port><socketType>SSL</socketType></outgoingServer></emailProvider></clientConfig>"
            )
        };
        let refused = [
            server("plain", "143", "imap.example.co.jp", "%EMAILADDRESS%"),
            server("SSL", "0", "imap.example.co.jp", "%EMAILADDRESS%"),
            server("SSL", "99999", "imap.example.co.jp", "%EMAILADDRESS%"),
            server("SSL", "993", "imap example co jp", "%EMAILADDRESS%"),
            server("SSL", "993", "", "%EMAILADDRESS%"),
            server("SSL", "993", "imap.example.co.jp", "admin"),
            server("SSL", "993", "imap.example.co.jp", "%OTHER%"),
        ];
        for xml in &refused {
            assert_eq!(parse(xml, &tanaka()), Err(AutoconfigError::NoImap), "{xml}");
        }
        // No user name at all: the address, as Thunderbird assumes.
        let (imap, smtp) =
            parse(&server("SSL", "993", "imap.example.co.jp", ""), &tanaka()).unwrap();
        assert_eq!(imap.user, "tanaka@example.co.jp");
        assert_eq!(smtp.user, "tanaka@example.co.jp");
    }

    #[test]
    fn hostile_documents_are_refused_without_panicking() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><clientConfig>&lol2;</clientConfig>"#;
        assert_eq!(parse(bomb, &tanaka()), Err(AutoconfigError::DocType));
        let deep = "<a>".repeat(10_000);
        assert_eq!(parse(&deep, &tanaka()), Err(AutoconfigError::TooDeep));
        let unknown_entity = "<clientConfig><emailProvider><incomingServer type=\"imap\"><hostname>&evil;</hostname></incomingServer></emailProvider></clientConfig>";
        assert!(matches!(
            parse(unknown_entity, &tanaka()),
            Err(AutoconfigError::Xml(_))
        ));
        for junk in [
            "",
            "not xml",
            "<clientConfig>",
            "</x>",
            "<a b=>",
            "\u{0}\u{1}<<<",
        ] {
            assert!(parse(junk, &tanaka()).is_err(), "{junk:?}");
        }
        // A huge field is cut, not kept: the host is then not a host.
        let long = format!(
            "<clientConfig><emailProvider><incomingServer type=\"imap\"><hostname>{}</hostname><port>993</port><socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>",
            "a".repeat(60_000)
        );
        assert_eq!(parse(&long, &tanaka()), Err(AutoconfigError::NoImap));
        // Servers elsewhere than under emailProvider do not count.
        let misplaced = "<clientConfig><incomingServer type=\"imap\"><hostname>imap.example.co.jp</hostname><port>993</port><socketType>SSL</socketType></incomingServer></clientConfig>";
        assert_eq!(parse(misplaced, &tanaka()), Err(AutoconfigError::NoImap));
    }

    mod hostile {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_is_judged_without_panicking(xml in "\\PC{0,600}") {
                let _ = parse(&xml, &tanaka());
            }

            #[test]
            fn a_real_document_cut_or_changed_anywhere_is_judged_without_panicking(
                at in 0usize..2000,
                byte in 0u8..128,
                cut in proptest::bool::ANY,
            ) {
                let mut bytes = COMPANY.as_bytes().to_vec();
                let at = at % bytes.len();
                if cut {
                    bytes.truncate(at);
                } else {
                    bytes[at] = byte;
                }
                let xml = String::from_utf8_lossy(&bytes);
                if let Ok((imap, smtp)) = parse(&xml, &tanaka()) {
                    // Whatever survives is still never plain text.
                    prop_assert_ne!(imap.service.tls, TlsMode::None);
                    prop_assert_ne!(smtp.service.tls, TlsMode::None);
                    prop_assert!(valid_host(&imap.service.host));
                }
            }
        }
    }
}
