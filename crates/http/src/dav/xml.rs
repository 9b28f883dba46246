//! WebDAV's XML: request bodies parsed with `roxmltree` (namespaces resolved), responses
//! written as text. A dead property is kept as its element re-serialised with every namespace
//! declared on the element that uses it, so it reads back the same wherever it is embedded.

use roxmltree::{Document, Node};

pub use crate::markup::escape;

pub const DAV: &str = "DAV:";
/// ownCloud's and Nextcloud's namespaces, whose properties their clients read.
pub const OC: &str = "http://owncloud.org/ns";
pub const NC: &str = "http://nextcloud.org/ns";

/// How deep elements may nest in a request body: WebDAV's deepest is a dead property's value,
/// and the code that walks a document (serialising a property) recurses.
pub const MAX_DEPTH: usize = 64;
/// Nodes (elements, text, comments) a request body may hold.
pub const MAX_NODES: u32 = 20_000;

/// A parsed body, or `None` for an empty one; malformed XML, or a body nested deeper than
/// [`MAX_DEPTH`] or larger than [`MAX_NODES`], is `Err`.
pub fn parse(body: &[u8]) -> Result<Option<Document<'_>>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    // roxmltree's parser recurses per level: the depth is bounded before it runs.
    if nesting(text) > MAX_DEPTH {
        return Err(format!("elements nest deeper than {MAX_DEPTH}"));
    }
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES };
    let doc = Document::parse_with_options(text, options).map_err(|e| format!("malformed XML: {e}"))?;
    // Namespaces 1.0 forbids undeclaring a prefix (`xmlns:p=""`).
    for node in doc.descendants().filter(Node::is_element) {
        if node.namespaces().any(|ns| ns.name().is_some() && ns.uri().is_empty()) {
            return Err("a namespace prefix is bound to an empty name".into());
        }
    }
    Ok(Some(doc))
}

/// How deep elements nest in `text`, read without parsing (comments, CDATA, processing
/// instructions and quoted attribute values skipped); stops counting past [`MAX_DEPTH`].
fn nesting(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    let skip_to =
        |from: usize, end: &str| text[from..].find(end).map_or(bytes.len(), |at| from + at + end.len());
    while let Some(at) = text[i..].find('<') {
        i += at;
        let rest = &text[i..];
        // Each end is searched for after its own opening (`<!-->` does not close a comment).
        if rest.starts_with("<!--") {
            i = skip_to(i + 4, "-->");
        } else if rest.starts_with("<![CDATA[") {
            i = skip_to(i + 9, "]]>");
        } else if rest.starts_with("<?") {
            i = skip_to(i + 2, "?>");
        } else if rest.starts_with("</") {
            depth = depth.saturating_sub(1);
            i = skip_to(i + 2, ">");
        } else if rest.starts_with("<!") {
            i = skip_to(i + 2, ">");
        } else {
            // A start tag: to its `>`, outside quotes.
            let mut quote = None;
            let mut j = i + 1;
            while j < bytes.len() {
                match (quote, bytes[j]) {
                    (Some(q), c) if c == q => quote = None,
                    (None, b'"' | b'\'') => quote = Some(bytes[j]),
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            if bytes.get(j.wrapping_sub(1)) != Some(&b'/') {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_DEPTH {
                    return deepest;
                }
            }
            i = j + 1;
        }
        if i >= bytes.len() {
            break;
        }
    }
    deepest
}

/// `{namespace}local`, the key a property is stored under.
pub fn key(node: Node<'_, '_>) -> String {
    format!("{{{}}}{}", node.tag_name().namespace().unwrap_or(""), node.tag_name().name())
}

/// Whether `node` is the element `DAV:name`.
pub fn is(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(DAV) && node.tag_name().name() == name
}

/// The element children of `node`.
pub fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

pub fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    elements(node).find(|n| is(*n, name))
}

/// An element written back, each namespace declared where it is used.
pub fn serialize(node: Node<'_, '_>) -> String {
    let mut out = String::new();
    write_node(node, &mut out);
    out
}

fn write_node(node: Node<'_, '_>, out: &mut String) {
    if node.is_text() {
        out.push_str(&escape(node.text().unwrap_or("")));
        return;
    }
    if !node.is_element() {
        return;
    }
    let name = node.tag_name().name();
    out.push('<');
    out.push_str(name);
    out.push_str(&format!(" xmlns=\"{}\"", escape(node.tag_name().namespace().unwrap_or(""))));
    for (i, attr) in node.attributes().enumerate() {
        match attr.namespace() {
            Some("http://www.w3.org/XML/1998/namespace") => {
                out.push_str(&format!(" xml:{}=\"{}\"", attr.name(), escape(attr.value())));
            }
            Some(ns) => out.push_str(&format!(
                " xmlns:a{i}=\"{}\" a{i}:{}=\"{}\"",
                escape(ns),
                attr.name(),
                escape(attr.value())
            )),
            None => out.push_str(&format!(" {}=\"{}\"", attr.name(), escape(attr.value()))),
        }
    }
    if node.has_children() {
        out.push('>');
        for child in node.children() {
            write_node(child, out);
        }
        out.push_str(&format!("</{name}>"));
    } else {
        out.push_str("/>");
    }
}

/// An empty element for a property key (`{ns}local`).
pub fn empty_element(key: &str) -> String {
    let (ns, local) = split_key(key);
    if ns == DAV { format!("<D:{local}/>") } else { format!("<{local} xmlns=\"{}\"/>", escape(ns)) }
}

pub fn split_key(key: &str) -> (&str, &str) {
    key.strip_prefix('{').and_then(|k| k.split_once('}')).unwrap_or(("", key))
}

/// A whole 207 body around `responses`.
pub fn multistatus(responses: &str) -> String {
    format!("{MULTISTATUS_OPEN}{responses}{MULTISTATUS_CLOSE}")
}

/// The start and the end of a multistatus document, for one streamed a part at a time.
pub const MULTISTATUS_OPEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" \
     xmlns:oc=\"http://owncloud.org/ns\" xmlns:nc=\"http://nextcloud.org/ns\">";
pub const MULTISTATUS_CLOSE: &str = "</D:multistatus>";

/// One `<D:propstat>` of property XML with its status.
pub fn propstat(props: &str, status: u16) -> String {
    format!(
        "<D:propstat><D:prop>{props}</D:prop><D:status>HTTP/1.1 {status} {}</D:status></D:propstat>",
        reason(status)
    )
}

pub fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

/// A `<D:error>` body naming a failed precondition.
pub fn error(condition: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:{condition}/></D:error>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_without_parsing() {
        assert_eq!(nesting("<a><b/><c x='>'><!-- <d> --><![CDATA[<e>]]><?p <f>?></c></a>"), 2);
        assert_eq!(nesting(&"<a>".repeat(100_000)), MAX_DEPTH + 1);
        // A comment that looks closed at once (`<!-->`) hides the closing tags after it.
        let sneaky = format!("{}<!-->{}-->", "<a>".repeat(60), "</a>".repeat(60)).repeat(3);
        assert!(nesting(&sneaky) > MAX_DEPTH);
        assert!(nesting("<!--->") == 0 && nesting("<?x?><a/>") == 0);
        assert!(parse(format!("{}{}", "<a>".repeat(65), "</a>".repeat(65)).as_bytes()).is_err());
        assert!(parse(format!("{}{}", "<a>".repeat(64), "</a>".repeat(64)).as_bytes()).is_ok());
    }
}
