//! Secret-free excerpts of bodies and messages, for errors and logs.
//!
//! Errors keep a short snippet of an unexpected body so a support engineer can see what came
//! back (an HTML page from a proxy, a truncated JSON document). Bodies can carry secrets
//! (`secretText`, `access_token`, private keys), so every snippet passes through [`scrub`].
//!
//! [`scrub`] is public for code that records or logs Graph traffic itself, such as a custom
//! [`GraphTransport`](crate::GraphTransport) that keeps request and response pairs:
//!
//! ```
//! let body = r#"{"secretText": "abc~123", "displayName": "Contoso Backup"}"#;
//! let form = "grant_type=client_credentials&client_secret=abc~123&scope=x";
//! assert_eq!(
//!     entra_appreg::redact::scrub(body),
//!     r#"{"secretText": "<redacted>", "displayName": "Contoso Backup"}"#
//! );
//! assert!(!entra_appreg::redact::scrub(form).contains("abc~123"));
//! ```

/// Names of JSON fields and form fields whose values are never shown.
const SENSITIVE_KEYS: &[&str] = &[
    "secrettext",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "device_code",
    "assertion",
    "password",
    "key",
    "proof",
    "privatekey",
];

/// At most this many characters of a body are kept.
pub(crate) const SNIPPET_CHARS: usize = 240;

/// A bounded, scrubbed excerpt of a body, with non-printable characters as spaces.
pub(crate) fn snippet(body: &[u8]) -> String {
    // Only look at a bounded prefix, so a huge body costs nothing here.
    let head = &body[..body.len().min(SNIPPET_CHARS * 8)];
    let mut out = message(&String::from_utf8_lossy(head), SNIPPET_CHARS);
    if body.len() > head.len() && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// At most this many characters of an identifier from a reply are kept.
pub(crate) const SHORT_CHARS: usize = 120;

/// An identifier from a reply (a request id, a correlation id, a content type), bounded in
/// length and without control characters: a reply controls these, and errors must stay short.
pub(crate) fn short(text: &str) -> String {
    bounded(text, SHORT_CHARS)
}

/// At most `max` characters of `text`, without its control characters, with `…` when cut.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    cut(text.chars().filter(|c| !c.is_control()), max)
}

/// A message from a reply, for an error: scrubbed of secrets, control characters (a newline, a
/// terminal escape) as spaces, at most `max` characters with `…` when cut. Only a prefix is
/// scrubbed: a message can be megabytes long, and scrubbing it whole costs seconds.
pub(crate) fn message(text: &str, max: usize) -> String {
    let prefix: String = text.chars().take(max.saturating_mul(4)).collect();
    let long = prefix.len() < text.len();
    let mut out = cut(
        scrub(&prefix)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c }),
        max,
    );
    if long && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// Text for a terminal: every control character but the line feed and tab, and every invisible
/// formatting character (zero-width, bidirectional override, byte-order mark), written as a
/// visible escape (`\u{1b}`), so that text from the network (a credential's display name, an
/// error description) cannot move the cursor, clear the screen, set the window title or hide
/// what it says. Text without such characters is returned as it is.
///
/// `appreg` passes everything it prints for humans through it; embedders that show names from
/// Graph on a terminal should do the same. JSON output needs nothing more: its encoder escapes
/// control characters already.
///
/// ```
/// use entra_appreg::redact::for_terminal;
/// assert_eq!(for_terminal("Backup\x1b[2J"), "Backup\\u{1b}[2J");
/// assert_eq!(for_terminal("two\nlines"), "two\nlines");
/// ```
pub fn for_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c != '\n' && c != '\t' && crate::ids::is_hidden_char(c);
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(escape_where(text, unsafe_char))
}

/// A value from the network for one line of a terminal: as [`for_terminal`], and line feeds
/// and tabs escaped too, so that a name cannot start a line of its own that looks like the
/// tool's.
///
/// ```
/// use entra_appreg::redact::for_terminal_line;
/// assert_eq!(for_terminal_line("Backup\nWrote the key to /tmp"), "Backup\\u{a}Wrote the key to /tmp");
/// ```
pub fn for_terminal_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(crate::ids::is_hidden_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(escape_where(text, crate::ids::is_hidden_char))
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Text for an HTML page, in content or a quoted attribute: `& < > " '` as entities, and
/// control and invisible formatting characters dropped (the crate's sign-in pages use it, and so
/// can a page that shows an error's message).
///
/// ```
/// use entra_appreg::redact::html_escape;
/// assert_eq!(html_escape("<b>\"Tom\" & 'Jerry'</b>\u{202E}"), "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;");
/// ```
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if crate::ids::is_hidden_char(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Where and how JSON failed to parse, without quoting any of it: serde_json's messages can
/// quote the text (`invalid type: string "…"`), and the text may be a file that is not ours.
pub(crate) fn json_error_position(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "it cannot be read",
        Category::Syntax => "it is not valid JSON",
        Category::Data => "its JSON is not of the expected shape",
        Category::Eof => "its JSON ends too soon",
    };
    format!("{what}, at line {} column {}", e.line(), e.column())
}

fn cut(mut chars: impl Iterator<Item = char>, max: usize) -> String {
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Replaces with `<redacted>` what must never be shown: the values of sensitive JSON and form
/// fields (`secretText`, `access_token`, `refresh_token`, `id_token`, `client_secret`,
/// `client_assertion`, `device_code`, `assertion`, `password`, `key`, `proof`, `privateKey`,
/// in any case), the credential after `Bearer `, anything shaped like a JWT, and PEM blocks.
/// Everything else is kept as it is.
pub fn scrub(text: &str) -> String {
    let text = scrub_pem(text);
    let text = scrub_fields(&text);
    let text = scrub_bearer(&text);
    scrub_jwts(&text)
}

/// Blanks the credential after `Bearer ` (any case): a proxy's error page that echoes the
/// request's `Authorization` header may carry a token that is not shaped like a JWT.
fn scrub_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find("bearer") {
        let after = i + found + "bearer".len();
        let rest = &text[after..];
        let gap = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let token_start = after + gap;
        // RFC 6750's b64token characters.
        let len = text[token_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(c)))
            .unwrap_or(text.len() - token_start);
        out.push_str(&text[i..token_start]);
        if gap > 0 && len > 0 {
            out.push_str("<redacted>");
        } else {
            out.push_str(&text[token_start..token_start + len]);
        }
        i = token_start + len;
    }
    out.push_str(&text[i..]);
    out
}

fn scrub_pem(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN") {
        out.push_str(&rest[..start]);
        out.push_str("<redacted PEM>");
        match rest[start..].find("-----END") {
            Some(end) => {
                let after = &rest[start + end + 8..];
                // Skip the label and closing dashes of the END line.
                let skip = after.find("-----").map(|i| i + 5).unwrap_or(after.len());
                rest = &after[skip..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Blanks `"name": "value"` (JSON) and `name=value` (form) for sensitive names.
fn scrub_fields(text: &str) -> String {
    let bytes = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some((name_end, value_start, quoted)) = sensitive_field_at(&lower, i) {
            out.push_str(&text[i..value_start]);
            out.push_str("<redacted>");
            let mut j = value_start;
            if quoted {
                let mut escaped = false;
                while j < bytes.len() {
                    let b = bytes[j];
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        break;
                    }
                    j += 1;
                }
            } else {
                while j < bytes.len() && bytes[j] != b'&' && !bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
            }
            let _ = name_end;
            i = j;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// If a sensitive field name starts at `i`, returns (end of name, start of value, value quoted).
fn sensitive_field_at(lower: &str, i: usize) -> Option<(usize, usize, bool)> {
    let bytes = lower.as_bytes();
    let quoted_name = bytes[i] == b'"';
    let name_start = if quoted_name { i + 1 } else { i };
    // Form fields must start at a boundary.
    if !quoted_name && i > 0 && !matches!(bytes[i - 1], b'&' | b'?' | b' ' | b'\n') {
        return None;
    }
    for key in SENSITIVE_KEYS {
        if !lower[name_start..].starts_with(key) {
            continue;
        }
        let mut j = name_start + key.len();
        if quoted_name {
            if bytes.get(j) != Some(&b'"') {
                continue;
            }
            j += 1;
            while bytes.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
                j += 1;
            }
            if bytes.get(j) != Some(&b':') {
                continue;
            }
            j += 1;
            while bytes.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
                j += 1;
            }
            if bytes.get(j) == Some(&b'"') {
                return Some((name_start + key.len(), j + 1, true));
            }
            // A non-string value (null, number): leave it.
            continue;
        }
        if bytes.get(j) == Some(&b'=') {
            return Some((j, j + 1, false));
        }
    }
    None
}

/// Blanks anything shaped like a JWT (`eyJ….….…`).
fn scrub_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')))
            .unwrap_or(tail.len());
        let candidate = &tail[..len];
        if candidate.matches('.').count() >= 1 && len > 20 {
            out.push_str("<redacted token>");
        } else {
            out.push_str(candidate);
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_secret_fields_are_blanked() {
        let s = scrub(r#"{"secretText": "Qx8Q~abc\"def", "hint":"Qx8", "key":null}"#);
        assert!(!s.contains("Qx8Q~"), "{s}");
        assert!(!s.contains("def"), "{s}");
        assert!(s.contains(r#""hint":"Qx8""#), "{s}");
    }

    #[test]
    fn truncated_json_secret_is_blanked_to_the_end() {
        let s =
            scrub(r#"{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwcz"#);
        assert!(!s.contains("eyJhdWQ"), "{s}");
    }

    #[test]
    fn form_fields_and_bare_jwts_and_pem_are_blanked() {
        let s = scrub("grant_type=client_credentials&client_secret=abc123&scope=x");
        assert!(!s.contains("abc123"), "{s}");
        assert!(s.contains("scope=x"));
        let s = scrub("Bearer eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.c2ln rest");
        assert!(!s.contains("eyJzdWIi"), "{s}");
        assert!(s.ends_with(" rest"));
        let s = scrub("a -----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY----- b");
        assert!(!s.contains("MIIEvQ"), "{s}");
        assert!(s.ends_with(" b"));
    }

    #[test]
    fn bearer_credentials_of_any_shape_are_blanked() {
        let s = scrub("authorization: Bearer opaque-7f3a9c2e~x/y+z=\nAccept: */*");
        assert!(!s.contains("opaque"), "{s}");
        assert!(s.ends_with("<redacted>\nAccept: */*"), "{s}");
        assert_eq!(scrub("BEARER\tabc def"), "BEARER\t<redacted> def");
        assert_eq!(scrub("a bearer, then"), "a bearer, then");
        assert_eq!(scrub("ends with bearer"), "ends with bearer");
    }

    #[test]
    fn short_identifiers_are_bounded_and_printable() {
        assert_eq!(short("4b1c-\r\n9f"), "4b1c-9f");
        let s = short(&"r".repeat(5_000_000));
        assert_eq!(s.chars().count(), SHORT_CHARS + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn snippet_is_bounded_and_printable() {
        let body = "<html>\n".to_string() + &"x".repeat(10_000);
        let s = snippet(body.as_bytes());
        assert!(s.chars().count() <= SNIPPET_CHARS + 1);
        assert!(!s.contains('\n'));
        assert!(s.ends_with('…'));
        assert_eq!(snippet(&[0xff, 0xfe, b'a']), "\u{fffd}\u{fffd}a");
    }
}
