//! The text of an HTML-only mail, as webmail writes it (Gmail and Outlook on
//! the web put each line of a tagged body in its own `<div>`). Block elements
//! become line breaks before the tags are read; the rest of the HTML reading
//! (entities, `<head>`, `<style>`, `<script>`) is mail-parser's.

use mail_parser::decoders::html::html_to_text;

/// Elements that start a new line where they open and where they close.
const BLOCKS: &[&str] = &[
    "address",
    "blockquote",
    "dd",
    "div",
    "dl",
    "dt",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// The text of an HTML body, one line per block. Webmail writes `&nbsp;` for
/// spaces a person typed; they are spaces again here.
pub fn to_text(html: &str) -> String {
    html_to_text(&break_blocks(html)).replace('\u{a0}', " ")
}

/// Puts a `<br>` before every opening or closing block tag.
fn break_blocks(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let tag = &rest[i + 1..];
        let name = tag.strip_prefix('/').unwrap_or(tag);
        let end = name
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(name.len());
        if BLOCKS.iter().any(|b| b.eq_ignore_ascii_case(&name[..end])) {
            out.push_str("<br>");
        }
        out.push('<');
        rest = tag;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::to_text;

    fn lines(html: &str) -> Vec<String> {
        to_text(html)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn gmail_divs_are_lines() {
        let html = "<div dir=\"ltr\">Publisher: tanaka<div>Contact: tanaka@example.co.jp</div><div>Activity: on-site&nbsp;— 設備点検中</div></div>";
        assert_eq!(
            lines(html),
            [
                "Publisher: tanaka",
                "Contact: tanaka@example.co.jp",
                "Activity: on-site — 設備点検中"
            ]
        );
    }

    #[test]
    fn paragraphs_list_items_rows_and_breaks_are_lines() {
        let html = "<p>Watcher: sato</p><ul><li>Notifier: tanaka</li></ul><table><tr><td>Send-To: sato@example.co.jp</td></tr></table>Mode: watch<br/>Expires: 60";
        assert_eq!(
            lines(html),
            [
                "Watcher: sato",
                "Notifier: tanaka",
                "Send-To: sato@example.co.jp",
                "Mode: watch",
                "Expires: 60"
            ]
        );
    }

    #[test]
    fn text_that_is_not_a_tag_name_is_left_alone() {
        assert_eq!(
            lines("<span>Mode: watch</span><divx>x</divx><b>y</b>"),
            ["Mode: watchxy"]
        );
    }
}
