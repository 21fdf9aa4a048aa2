//! `format=flowed` text (RFC 3676), as Apple Mail and Thunderbird send it: a
//! line ending in a space is soft-wrapped and continues on the next line. The
//! tags are read from the joined lines, so a long `Location:` value wrapped by
//! the mailer still arrives whole.

/// Joins the soft breaks of a flowed text. With `delsp=yes` the space before a
/// soft break was added by the mailer and is removed (Japanese text wraps
/// between characters that have no space between them).
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut continuing = false;
    for line in text.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        // The signature separator is never flowed.
        let is_signature = line == "-- ";
        // Space-stuffing: a leading space was added to protect the line.
        let content = line.strip_prefix(' ').unwrap_or(line);
        let soft = !is_signature && content.ends_with(' ');
        if continuing && is_signature {
            out.push('\n');
        }
        if soft {
            out.push_str(if delsp {
                &content[..content.len() - 1]
            } else {
                content
            });
            continuing = true;
        } else {
            out.push_str(if is_signature { line } else { content });
            out.push('\n');
            continuing = false;
        }
    }
    if !text.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unflow;

    #[test]
    fn joins_soft_breaks() {
        let text = "Publisher: tanaka\r\nLocation: Tokyo, Chiyoda, \r\nMarunouchi 1-chome\r\nActivity: busy\r\n";
        assert_eq!(
            unflow(text, false),
            "Publisher: tanaka\nLocation: Tokyo, Chiyoda, Marunouchi 1-chome\nActivity: busy\n"
        );
    }

    #[test]
    fn delsp_removes_the_added_space() {
        let text = "Location: 東京都千代田区 \r\n丸の内一丁目\r\n";
        assert_eq!(unflow(text, true), "Location: 東京都千代田区丸の内一丁目\n");
        assert_eq!(
            unflow(text, false),
            "Location: 東京都千代田区 丸の内一丁目\n"
        );
    }

    #[test]
    fn keeps_hard_breaks_signatures_and_unstuffs() {
        let text = "Activity: busy\n From the road\n-- \nTanaka";
        assert_eq!(
            unflow(text, false),
            "Activity: busy\nFrom the road\n-- \nTanaka"
        );
    }
}
