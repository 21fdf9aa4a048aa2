//! A small namespace-resolved element tree, read with `quick-xml` under limits,
//! so the decoder can look for elements wherever a phone happened to put them.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::PidfError;

const MAX_DEPTH: usize = 32;
const MAX_ELEMENTS: usize = 4_000;

#[derive(Debug, Default)]
pub(super) struct Element {
    pub ns: String,
    pub name: String,
    /// Attributes by local name (`xml:lang` → `lang`).
    pub attrs: Vec<(String, String)>,
    /// Text directly inside, references resolved, trimmed.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A direct child by local name, whatever namespace prefix a phone used.
    pub fn child_local(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The first element at any depth below this one with a local name in `names`.
    pub fn find_local(&self, names: &[&str]) -> Option<&Element> {
        self.children.iter().find_map(|c| {
            if names.contains(&c.name.as_str()) {
                Some(c)
            } else {
                c.find_local(names)
            }
        })
    }

    /// Every element at any depth below this one with this namespace and name.
    pub fn find_all<'a>(&'a self, ns: &str, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.is(ns, name) {
                out.push(c);
            }
            c.find_all(ns, name, out);
        }
    }

    pub fn text_opt(&self) -> Option<String> {
        (!self.text.is_empty()).then(|| self.text.clone())
    }
}

/// Parses a whole document into its root element.
pub(super) fn parse(xml: &str) -> Result<Element, PidfError> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let xml_err = |e: &dyn std::fmt::Display| PidfError::Xml(e.to_string());
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(|e| xml_err(&e))?;
        match event {
            Event::Start(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(PidfError::TooManyElements(MAX_ELEMENTS));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(PidfError::TooDeep(MAX_DEPTH));
                }
                let ns = match resolved {
                    ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
                    _ => String::new(),
                };
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let mut attrs = Vec::new();
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| xml_err(&e))?;
                    let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
                    let value = attr.unescape_value().map_err(|e| xml_err(&e))?.into_owned();
                    attrs.push((key, value));
                }
                stack.push(Element {
                    ns,
                    name,
                    attrs,
                    ..Default::default()
                });
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(PidfError::Xml("unbalanced end tag".into()));
                };
                done.text = done.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(t) => push_text(&mut stack, &t.xml_content().map_err(|e| xml_err(&e))?),
            Event::CData(t) => push_text(&mut stack, &t.xml_content().map_err(|e| xml_err(&e))?),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| xml_err(&e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| xml_err(&e))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| PidfError::Xml(format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                push_text(&mut stack, &resolved);
            }
            Event::Eof if stack.is_empty() => return Err(PidfError::Xml("no root element".into())),
            Event::Eof => return Err(PidfError::Xml("document ends inside an element".into())),
            Event::DocType(_) => return Err(PidfError::Xml("DOCTYPE is not accepted".into())),
            _ => {}
        }
    }
}

fn push_text(stack: &mut [Element], text: &str) {
    if let Some(top) = stack.last_mut() {
        top.text.push_str(text);
    }
}
