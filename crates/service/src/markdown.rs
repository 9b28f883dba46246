//! Markdown files shown rendered, as a tree of elements from a short list (paragraphs, headings,
//! lists, quotes, code, tables, emphasis, links) that the web app builds with DOM calls: raw HTML
//! in the file is text, links lead only to http(s), mailto or paths, and images become links to
//! their pictures (a document read is never a request made). No HTML string is ever produced,
//! so none can be inserted.

use bytes::Bytes;
use futures_util::TryStreamExt;
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::Serialize;
use stratus_core::NodeId;

use crate::{Caller, Result, ServiceError, Stratus, access::Read};

/// The part of a file that is rendered: its first MiB.
pub const MAX_MARKDOWN: u64 = 1 << 20;

/// A Markdown file as elements.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub blocks: Vec<Block>,
    /// Whether some of the file was left out (past its first MiB, or past [`MAX_RENDERED`]).
    pub truncated: bool,
}

/// Text, or an element: its tag (one of [`TAGS`]), a link's target and title, a list's first
/// number, and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Block {
    Text(String),
    Element {
        t: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        href: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        start: Option<u64>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        c: Vec<Block>,
    },
}

/// Every tag a rendering may hold.
pub const TAGS: [&str; 24] = [
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "code",
    "ul",
    "ol",
    "li",
    "em",
    "strong",
    "del",
    "a",
    "table",
    "thead",
    "tr",
    "th",
    "td",
    "hr",
    "br",
];

/// Whether a file's name says it is Markdown.
pub fn is_markdown(name: &str) -> bool {
    let name = name.to_lowercase();
    name.ends_with(".md") || name.ends_with(".markdown")
}

impl Stratus {
    /// The first MiB of a Markdown file the caller may read, rendered.
    pub async fn markdown(&self, caller: Option<&Caller>, node: NodeId) -> Result<Rendered> {
        let file = self.authorize::<Read>(caller, node).await?;
        if file.node().is_folder() || !is_markdown(&file.node().name) {
            return Err(ServiceError::invalid("not_markdown", "only a .md or .markdown file is rendered"));
        }
        let download = self.content_of(&file).await?;
        let end = download.size.min(MAX_MARKDOWN);
        let text: Vec<Bytes> =
            if end == 0 { Vec::new() } else { download.stream(0, end - 1).try_collect().await? };
        // Rendering takes a core while it runs: it waits for one of the turns thumbnails take.
        let turn = self.0.thumbnail_makers.turn().await?;
        let (blocks, cut) = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            render(&String::from_utf8_lossy(&text.concat()))
        })
        .await
        .map_err(ServiceError::internal)?;
        Ok(Rendered { blocks, truncated: cut || download.size > end })
    }
}

/// The most a rendering holds, counted as the bytes of its text plus a few per element: past it
/// the rest is left out (and the result says so).
pub const MAX_RENDERED: usize = 4 << 20;
/// How deep elements nest; deeper ones give their content to the one above.
const MAX_DEPTH: usize = 32;
/// The most table cells a document may lead to (each row is filled to its header's width, so a
/// MiB of short rows under a wide header would be gigabytes); past it tables stay text.
const MAX_TABLE_CELLS: usize = 1_000_000;

/// An element being built: its tag (`None`: its content goes to the one above), a link's
/// target and title, a list's first number, what it holds so far.
struct Open {
    tag: Option<&'static str>,
    href: Option<String>,
    title: Option<String>,
    start: Option<u64>,
    content: Vec<Block>,
}

impl Open {
    fn new(tag: Option<&'static str>) -> Self {
        Self { tag, href: None, title: None, start: None, content: Vec::new() }
    }
}

/// CommonMark with tables, strikethrough and task lists (☑, ☐), as elements, at most
/// [`MAX_RENDERED`] of them; and whether some was left out.
pub fn render(text: &str) -> (Vec<Block>, bool) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let widest = text.lines().map(|l| l.matches('|').count()).max().unwrap_or(0);
    if text.lines().count().saturating_mul(widest + 1) <= MAX_TABLE_CELLS {
        options |= Options::ENABLE_TABLES;
    }
    let mut stack = vec![Open::new(None)];
    // Per element opened, how many stack entries it took (a code block is `pre` and `code`).
    let mut opened: Vec<usize> = Vec::new();
    let mut in_head = false;
    let mut links = 0usize; // links open around what comes

    let mut budget = MAX_RENDERED;
    let mut cut = false;
    for event in Parser::new_ext(text, options) {
        let cost = match &event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => t.len() + 2,
            Event::End(_) => 0,
            Event::SoftBreak => 1,
            _ => 12,
        };
        if cost > budget {
            cut = true;
            break;
        }
        budget -= cost;
        match event {
            Event::Start(tag) => {
                let inside_link = links > 0;
                let mut frames = match tag {
                    Tag::Paragraph => vec![Open::new(Some("p"))],
                    Tag::Heading { level, .. } => vec![Open::new(Some(heading(level)))],
                    Tag::BlockQuote(_) => vec![Open::new(Some("blockquote"))],
                    Tag::HtmlBlock => vec![Open::new(Some("p"))],
                    Tag::CodeBlock(_) => vec![Open::new(Some("pre")), Open::new(Some("code"))],
                    Tag::List(Some(first)) => {
                        let mut ol = Open::new(Some("ol"));
                        ol.start = (first != 1).then_some(first);
                        vec![ol]
                    }
                    Tag::List(None) => vec![Open::new(Some("ul"))],
                    Tag::Item => vec![Open::new(Some("li"))],
                    Tag::Emphasis => vec![Open::new(Some("em"))],
                    Tag::Strong => vec![Open::new(Some("strong"))],
                    Tag::Strikethrough => vec![Open::new(Some("del"))],
                    Tag::Table(_) => vec![Open::new(Some("table"))],
                    Tag::TableHead => {
                        in_head = true;
                        vec![Open::new(Some("thead")), Open::new(Some("tr"))]
                    }
                    Tag::TableRow => vec![Open::new(Some("tr"))],
                    Tag::TableCell => vec![Open::new(Some(if in_head { "th" } else { "td" }))],
                    // A link whose target is not safe, or inside a link, keeps only its text.
                    Tag::Link { dest_url, title, .. } | Tag::Image { dest_url, title, .. }
                        if !inside_link && safe(&dest_url) =>
                    {
                        let mut a = Open::new(Some("a"));
                        a.href = Some(dest_url.into_string());
                        a.title = (!title.is_empty()).then(|| title.into_string());
                        vec![a]
                    }
                    _ => vec![Open::new(None)],
                };
                // Past the deepest nesting, content goes to the element open there.
                if stack.len() + frames.len() > MAX_DEPTH {
                    frames.clear();
                }
                links += frames.iter().filter(|f| f.tag == Some("a")).count();
                opened.push(frames.len());
                stack.extend(frames);
            }
            Event::End(end) => {
                if end == TagEnd::TableHead {
                    in_head = false;
                }
                for _ in 0..opened.pop().unwrap_or(0) {
                    if close(&mut stack) == Some("a") {
                        links -= 1;
                    }
                }
            }
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => push_text(&mut stack, &t),
            Event::Code(t) => {
                let mut code = Open::new(Some("code"));
                code.content.push(Block::Text(t.into_string()));
                stack.push(code);
                close(&mut stack);
            }
            Event::SoftBreak => push_text(&mut stack, "\n"),
            Event::HardBreak => leaf(&mut stack, "br"),
            Event::Rule => leaf(&mut stack, "hr"),
            // A box that cannot be ticked would be a form field without a label: a character says it.
            Event::TaskListMarker(done) => push_text(&mut stack, if done { "☑ " } else { "☐ " }),
            _ => {}
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    (stack.pop().map(|o| o.content).unwrap_or_default(), cut)
}

fn heading(level: HeadingLevel) -> &'static str {
    match level {
        HeadingLevel::H1 => "h1",
        HeadingLevel::H2 => "h2",
        HeadingLevel::H3 => "h3",
        HeadingLevel::H4 => "h4",
        HeadingLevel::H5 => "h5",
        HeadingLevel::H6 => "h6",
    }
}

/// Text into the open element, joined to text just before it.
fn push_text(stack: &mut [Open], text: &str) {
    let Some(open) = stack.last_mut() else { return };
    match open.content.last_mut() {
        Some(Block::Text(before)) => before.push_str(text),
        _ => open.content.push(Block::Text(text.to_string())),
    }
}

/// An element without content.
fn leaf(stack: &mut Vec<Open>, tag: &'static str) {
    stack.push(Open::new(Some(tag)));
    close(stack);
}

/// Ends the innermost open element, into the one above (a tagless one gives its content); says
/// which it was.
fn close(stack: &mut Vec<Open>) -> Option<&'static str> {
    if stack.len() < 2 {
        return None;
    }
    let done = stack.pop()?;
    let parent = stack.last_mut()?;
    let tag = done.tag;
    match done.tag {
        Some(t) => parent.content.push(Block::Element {
            t,
            href: done.href,
            title: done.title,
            start: done.start,
            c: done.content,
        }),
        None => {
            for block in done.content {
                match (block, parent.content.last_mut()) {
                    (Block::Text(t), Some(Block::Text(before))) => before.push_str(&t),
                    (block, _) => parent.content.push(block),
                }
            }
        }
    }
    tag
}

/// Whether a link's target is safe to follow from the app: http, https, mailto, or a path
/// within the site (no scheme at all).
fn safe(url: &str) -> bool {
    let lowered = url.trim().to_ascii_lowercase();
    let scheme_end = lowered.find([':', '/', '?', '#']);
    let has_scheme = scheme_end.is_some_and(|at| lowered[at..].starts_with(':'));
    !has_scheme || ["http:", "https:", "mailto:"].iter().any(|s| lowered.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::{Block, MAX_RENDERED, TAGS, render};

    /// The tree as compact JSON, to read assertions against.
    fn json(text: &str) -> String {
        serde_json::to_string(&render(text).0).unwrap_or_default()
    }

    fn tags(blocks: &[Block], out: &mut Vec<&'static str>) {
        for b in blocks {
            if let Block::Element { t, c, .. } = b {
                out.push(t);
                tags(c, out);
            }
        }
    }

    #[test]
    fn raw_html_is_text_and_only_safe_links_remain() {
        let doc = "# Title\n\n<script>alert(1)</script>\n\nSome <img src=x onerror=alert(2)> text \
                   [bad](javascript:alert(3)) [Bad](JaVaScRiPt:alert(4)) [data](data:text/html,x) \
                   [good](https://example.com/a?b=1 \"T\") [here](#top) [mail](mailto:a@b.c)\n\n![pic](/x.png)\n\n\
                   [![pic](/p.png)](https://example.com/)\n";
        let out = json(doc);
        assert!(
            out.starts_with(r#"[{"t":"h1","c":["Title"]},{"t":"p","c":["<script>alert(1)</script>\n"]}"#),
            "{out}"
        );
        assert!(out.contains(r#""Some <img src=x onerror=alert(2)> text bad Bad data ""#), "{out}");
        assert!(
            out.contains(r#"{"t":"a","href":"https://example.com/a?b=1","title":"T","c":["good"]}"#),
            "{out}"
        );
        assert!(
            out.contains(r##"{"t":"a","href":"#top","c":["here"]}"##)
                && out.contains(r#""href":"mailto:a@b.c""#),
            "{out}"
        );
        assert!(out.contains(r#"{"t":"a","href":"/x.png","c":["pic"]}"#), "{out}");
        assert!(!out.to_lowercase().contains("javascript:") && !out.contains("data:"), "{out}");
        assert!(
            out.ends_with(r#"{"t":"p","c":[{"t":"a","href":"https://example.com/","c":["pic"]}]}]"#),
            "a picture in a link is no link of its own: {out}"
        );
        let mut seen = Vec::new();
        tags(&render(doc).0, &mut seen);
        assert!(seen.iter().all(|t| TAGS.contains(t)), "{seen:?}");
    }

    #[test]
    fn tables_lists_code_and_breaks_render() {
        let out = json(
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~ `x<y`\n\n3. three\n4. four\n\n- [x] done\n- [ ] open\n\n```\nfn main() {}\n```\n\n---\nend  \nline\n",
        );
        assert!(out.contains(r#"{"t":"table","c":[{"t":"thead","c":[{"t":"tr","c":[{"t":"th","c":["a"]},{"t":"th","c":["b"]}]}]},{"t":"tr","c":[{"t":"td","c":["1"]},{"t":"td","c":["2"]}]}]}"#), "{out}");
        assert!(out.contains(r#"{"t":"del","c":["gone"]}," ",{"t":"code","c":["x<y"]}"#), "{out}");
        assert!(out.contains(r#"{"t":"ol","start":3,"c":[{"t":"li","c":["three"]}"#), "{out}");
        assert!(
            out.contains(r#"{"t":"li","c":["☑ done"]}"#) && out.contains(r#"{"t":"li","c":["☐ open"]}"#),
            "{out}"
        );
        assert!(out.contains(r#"{"t":"pre","c":[{"t":"code","c":["fn main() {}\n"]}]}"#), "{out}");
        assert!(out.contains(r#"{"t":"hr"}"#) && out.contains(r#"["end",{"t":"br"},"line"]"#), "{out}");
    }

    #[test]
    fn a_byte_order_mark_is_not_text_and_output_is_bounded() {
        assert!(json("\u{feff}# Title\n").starts_with(r#"[{"t":"h1","c":["Title"]}"#));
        // Short rows under a wide header: tables stay text rather than filling millions of cells.
        let header = format!("{}\n{}\n", "|a".repeat(256), "|-".repeat(256));
        let wide = format!("{header}{}\n", "a\n".repeat(1024)).repeat(341);
        let (blocks, cut) = render(&wide);
        assert!(!blocks.is_empty());
        let out = serde_json::to_string(&blocks).unwrap_or_default();
        assert!(out.len() <= 2 * MAX_RENDERED && !out.contains(r#""td""#) && !cut, "{} bytes", out.len());
        // Nesting stops deepening; what is past the bound is cut, and said so.
        let (blocks, cut) = render(&"> ".repeat(500_000));
        assert!(!blocks.is_empty());
        let out = serde_json::to_string(&blocks).unwrap_or_default();
        assert!(
            out.matches("blockquote").count() <= 32 && out.len() <= 2 * MAX_RENDERED,
            "{} bytes, {} quotes",
            out.len(),
            out.matches("blockquote").count()
        );
        assert!(!cut || out.len() <= 2 * MAX_RENDERED);
        let (_, cut) = render(&"*a* ".repeat(600_000));
        assert!(cut, "past the bound");
    }
}
