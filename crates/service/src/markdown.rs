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
        let truncated = download.size > end;
        let html = tokio::task::spawn_blocking(move || render(&String::from_utf8_lossy(&text.concat())))
            .await
            .map_err(ServiceError::internal)?;
        Ok(Rendered { html, truncated })
    }
}

/// CommonMark with tables, strikethrough and task lists (☑, ☐), as HTML without raw HTML.
pub fn render(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe(dest_url), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe(dest_url), title, id })
        }
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        // A box that cannot be ticked would be a form field without a label: a character says it.
        Event::TaskListMarker(done) => Event::Text(CowStr::Borrowed(if done { "☑ " } else { "☐ " })),
        other => other,
    });
    let mut html = String::with_capacity(text.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// A link's target if it is safe to follow from the app (http, https, mailto, or a path within
/// the site), or nothing.
fn safe(url: CowStr<'_>) -> CowStr<'_> {
    let lowered = url.trim().to_ascii_lowercase();
    let scheme_end = lowered.find([':', '/', '?', '#']);
    let has_scheme = scheme_end.is_some_and(|at| lowered[at..].starts_with(':'));
    let allowed = ["http:", "https:", "mailto:"].iter().any(|s| lowered.starts_with(s));
    if !has_scheme || allowed { url } else { CowStr::Borrowed("") }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn raw_html_is_text_and_only_safe_links_remain() {
        let html = render(
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
    }

    #[test]
    fn tables_strikethrough_and_task_lists_render() {
        let html = render("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n\n- [x] done\n- [ ] open\n");
        assert!(html.contains("<table>") && html.contains("<td>2</td>"), "{html}");
        assert!(html.contains("<del>gone</del>"), "{html}");
        assert!(
            html.contains("<li>☑ done</li>") && html.contains("<li>☐ open</li>") && !html.contains("<input"),
            "{html}"
        );
    }
}
