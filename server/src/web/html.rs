//! Text made safe to put into the board's HTML pages and its SVG map.

/// Text for HTML and SVG (element content and quoted attributes).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
