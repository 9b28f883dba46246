//! Markdown files shown rendered. The HTML holds only the tags the CommonMark renderer writes:
//! raw HTML in the file is shown as text, links lead only to http(s), mailto or within the
//! drive, and images become links to their pictures (a document read is never a request made),
//! so the web app may insert the result as it is.

use bytes::Bytes;
use futures_util::TryStreamExt;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};
use stratus_core::NodeId;

use crate::{Caller, Result, ServiceError, Stratus, access::Read};

/// The part of a file that is rendered: its first MiB.
pub const MAX_MARKDOWN: u64 = 1 << 20;

/// A Markdown file as HTML.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub html: String,
    /// Whether the file is longer than what was rendered.
    pub truncated: bool,
}

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
        let (html, cut) = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            render(&String::from_utf8_lossy(&text.concat()))
        })
        .await
        .map_err(ServiceError::internal)?;
        Ok(Rendered { html, truncated: cut || download.size > end })
    }
}

/// The most HTML a rendering keeps: past it the rest is left out (and the result says so).
pub const MAX_HTML: usize = 4 << 20;
/// The most table cells a document may lead to (each row is filled to its header's width, so a
/// MiB of short rows under a wide header would be gigabytes); past it tables stay text.
const MAX_TABLE_CELLS: usize = 1_000_000;

/// CommonMark with tables, strikethrough and task lists (☑, ☐), as HTML without raw HTML, at
/// most [`MAX_HTML`] of it; and whether some was left out.
pub fn render(text: &str) -> (String, bool) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let widest = text.lines().map(|l| l.matches('|').count()).max().unwrap_or(0);
    if text.lines().count().saturating_mul(widest + 1) <= MAX_TABLE_CELLS {
        options |= Options::ENABLE_TABLES;
    }
    // Links whose target is not safe are left out (their text stays), as is a link inside a
    // link (an image within one): `dropped` says, per link open, whether its end goes too.
    let mut dropped: Vec<bool> = Vec::new();
    let events = Parser::new_ext(text, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(
            Tag::Link { link_type, dest_url, title, id } | Tag::Image { link_type, dest_url, title, id },
        ) => {
            let inside = dropped.iter().any(|d| !d);
            let keep = !inside && safe(&dest_url);
            dropped.push(!keep);
            keep.then_some(Event::Start(Tag::Link { link_type, dest_url, title, id }))
        }
        Event::End(TagEnd::Link | TagEnd::Image) => {
            (dropped.pop() == Some(false)).then_some(Event::End(TagEnd::Link))
        }
        // A box that cannot be ticked would be a form field without a label: a character says it.
        Event::TaskListMarker(done) => {
            Some(Event::Text(CowStr::Borrowed(if done { "☑ " } else { "☐ " })))
        }
        other => Some(other),
    });
    let mut html = Bounded(String::with_capacity(text.len().min(MAX_HTML) * 3 / 2));
    let cut = pulldown_cmark::html::write_html_fmt(&mut html, events).is_err();
    (html.0, cut)
}

/// A string that refuses to grow past [`MAX_HTML`], which stops the renderer.
struct Bounded(String);

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.0.len() + s.len() > MAX_HTML {
            return Err(std::fmt::Error);
        }
        self.0.push_str(s);
        Ok(())
    }
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
    use super::{MAX_HTML, render};

    #[test]
    fn raw_html_is_text_and_only_safe_links_remain() {
        let (html, _) = render(
            "# Title\n\n<script>alert(1)</script>\n\nSome <img src=x onerror=alert(2)> text \
             [bad](javascript:alert(3)) [Bad](JaVaScRiPt:alert(4)) [data](data:text/html,x) \
             [good](https://example.com/a?b=1) [here](#top) [mail](mailto:a@b.c)\n\n![pic](/x.png)\n",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;") && html.contains("&lt;img src=x onerror=alert(2)&gt;"),
            "{html}"
        );
        assert!(!html.to_lowercase().contains("javascript:") && !html.contains("data:"), "{html}");
        assert!(html.contains(r#"<a href="https://example.com/a?b=1">good</a>"#), "{html}");
        assert!(
            html.contains(r##"<a href="#top">here</a>"##) && html.contains(r#"href="mailto:a@b.c""#),
            "{html}"
        );
        assert!(html.contains(r#"<a href="/x.png">pic</a>"#), "{html}");
        // A link that is not followed keeps its text, not an empty target; a picture inside
        // a link is not a link of its own.
        assert!(html.contains(" bad Bad data ") && !html.contains(r#"href="""#), "{html}");
        let (nested, _) = render("[![pic](/p.png)](https://example.com/)");
        assert_eq!(nested.matches("<a ").count(), 1, "{nested}");
        assert_eq!(nested.matches("</a>").count(), 1, "{nested}");
    }

    #[test]
    fn a_byte_order_mark_is_not_text_and_output_is_bounded() {
        assert!(render("\u{feff}# Title\n").0.starts_with("<h1>Title</h1>"));
        // Short rows under a wide header: tables stay text rather than filling millions of cells.
        let header = format!("{}\n{}\n", "|a".repeat(256), "|-".repeat(256));
        let wide = format!("{header}{}\n", "a\n".repeat(1024)).repeat(341);
        let (html, cut) = render(&wide);
        assert!(html.len() <= MAX_HTML && !html.contains("<td>"), "{} bytes", html.len());
        assert!(!cut);
        // Output past the bound is cut, and said so.
        let (html, cut) = render(&"> ".repeat(500_000));
        assert!(html.len() <= MAX_HTML && cut, "{} bytes", html.len());
    }

    #[test]
    fn tables_strikethrough_and_task_lists_render() {
        let (html, _) = render("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n\n- [x] done\n- [ ] open\n");
        assert!(html.contains("<table>") && html.contains("<td>2</td>"), "{html}");
        assert!(html.contains("<del>gone</del>"), "{html}");
        assert!(
            html.contains("<li>☑ done</li>") && html.contains("<li>☐ open</li>") && !html.contains("<input"),
            "{html}"
        );
    }
}
