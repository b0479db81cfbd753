//! The bits of OData the fake understands: path segments with alternate keys, `$filter` with
//! `eq`/`ne`/`in`/`startswith`/`and`/`or`, and `$select`.

use serde_json::{Map, Value};

use super::reply::Reply;
use super::state::{Obj, eq_ci};

/// Decodes `%XX` escapes (invalid escapes are kept as written; invalid UTF-8 is replaced).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Decodes a query component: `+` is a space, then `%XX`.
pub(crate) fn decode_query_component(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// Splits a raw (still encoded) path on `/` outside single-quoted literals, decoding each segment.
pub(crate) fn split_path(raw: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in raw.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            '/' if !quoted => segments.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    segments.push(current);
    segments
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(&s))
        .collect()
}

/// Parses a raw query string into decoded pairs.
pub(crate) fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_query_component(k), decode_query_component(v))
        })
        .collect()
}

/// A query option by name (case-insensitive; `$` optional, as Graph allows).
pub(crate) fn query_option<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| {
            let k = k.trim();
            k.eq_ignore_ascii_case(name) || k.eq_ignore_ascii_case(&format!("${name}"))
        })
        .map(|(_, v)| v.as_str())
}

/// A path segment split into its name and optional key: `applications(appId='x')` gives
/// `("applications", Some(("appId", "x")))`; a bare key `('x')` has the property name `""`.
pub(crate) fn parse_segment(seg: &str) -> Result<(String, Option<(String, String)>), Reply> {
    let Some(open) = seg.find('(') else {
        return Ok((seg.to_owned(), None));
    };
    let syntax = || Reply::odata_bad_request("Bad Request - Error in query syntax.");
    let name = &seg[..open];
    let inner = seg[open + 1..].strip_suffix(')').ok_or_else(syntax)?;
    let (prop, literal) = match inner.split_once('=') {
        Some((p, l)) if !p.contains('\'') => (p.trim(), l.trim()),
        _ => ("", inner.trim()),
    };
    let value = parse_string_literal(literal).ok_or_else(syntax)?;
    Ok((name.to_owned(), Some((prop.to_owned(), value))))
}

/// `'it''s'` → `it's`.
fn parse_string_literal(s: &str) -> Option<String> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    Eq(String, Option<String>, bool),
    In(String, Vec<String>),
    StartsWith(String, String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' => {
                chars.next();
                toks.push(Tok::Open);
            }
            ')' => {
                chars.next();
                toks.push(Tok::Close);
            }
            ',' => {
                chars.next();
                toks.push(Tok::Comma);
            }
            '\'' => {
                chars.next();
                let mut lit = String::new();
                loop {
                    match chars.next()? {
                        '\'' if chars.peek() == Some(&'\'') => {
                            chars.next();
                            lit.push('\'');
                        }
                        '\'' => break,
                        other => lit.push(other),
                    }
                }
                toks.push(Tok::Str(lit));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || "_.-:/@".contains(c) {
                        w.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if w.is_empty() {
                    return None;
                }
                toks.push(Tok::Word(w));
            }
        }
    }
    Some(toks)
}

/// Why a `$filter` was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FilterError {
    Syntax,
    Property(String),
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    props: &'a [&'a str],
}

impl Parser<'_> {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, t: &Tok) -> Result<(), FilterError> {
        if self.next().as_ref() == Some(t) {
            Ok(())
        } else {
            Err(FilterError::Syntax)
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.primary()?;
        while self.peek_word("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn property(&mut self) -> Result<String, FilterError> {
        match self.next() {
            Some(Tok::Word(w)) => self
                .props
                .iter()
                .find(|p| p.eq_ignore_ascii_case(&w))
                .map(|p| (*p).to_owned())
                .ok_or(FilterError::Property(w)),
            _ => Err(FilterError::Syntax),
        }
    }

    fn value(&mut self) -> Result<Option<String>, FilterError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Some(s)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(None),
            Some(Tok::Word(w)) => Ok(Some(w)),
            _ => Err(FilterError::Syntax),
        }
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        if self.toks.get(self.pos) == Some(&Tok::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(&Tok::Close)?;
            return Ok(inner);
        }
        if self.peek_word("startswith") {
            self.pos += 1;
            self.expect(&Tok::Open)?;
            let prop = self.property()?;
            self.expect(&Tok::Comma)?;
            let value = self.value()?.ok_or(FilterError::Syntax)?;
            self.expect(&Tok::Close)?;
            return Ok(Filter::StartsWith(prop, value));
        }
        let prop = self.property()?;
        match self.next() {
            Some(Tok::Word(op)) if op.eq_ignore_ascii_case("eq") => {
                Ok(Filter::Eq(prop, self.value()?, true))
            }
            Some(Tok::Word(op)) if op.eq_ignore_ascii_case("ne") => {
                Ok(Filter::Eq(prop, self.value()?, false))
            }
            Some(Tok::Word(op)) if op.eq_ignore_ascii_case("in") => {
                self.expect(&Tok::Open)?;
                let mut values = Vec::new();
                loop {
                    values.push(self.value()?.ok_or(FilterError::Syntax)?);
                    match self.next() {
                        Some(Tok::Comma) => continue,
                        Some(Tok::Close) => break,
                        _ => return Err(FilterError::Syntax),
                    }
                }
                Ok(Filter::In(prop, values))
            }
            _ => Err(FilterError::Syntax),
        }
    }
}

/// Parses a `$filter` over the given filterable properties.
pub(crate) fn parse_filter(s: &str, props: &[&str]) -> Result<Filter, FilterError> {
    let toks = tokenize(s).ok_or(FilterError::Syntax)?;
    let mut p = Parser {
        toks,
        pos: 0,
        props,
    };
    let f = p.or()?;
    if p.pos != p.toks.len() {
        return Err(FilterError::Syntax);
    }
    Ok(f)
}

/// The error reply for a refused `$filter` on an entity set of `type_name`.
pub(crate) fn filter_error(e: FilterError, resource: &str) -> Reply {
    match e {
        FilterError::Syntax => Reply::odata_bad_request("Invalid filter clause"),
        FilterError::Property(p) => Reply::error(
            400,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified for property '{p}' of resource '{resource}'."
            ),
        ),
    }
}

impl Filter {
    /// The first (property, operator) of the filter that `allowed` does not list.
    fn unsupported_operator(&self, allowed: &[Filterable]) -> Option<(String, &'static str)> {
        let check = |prop: &str, op: &'static str| {
            let ok = allowed
                .iter()
                .any(|(p, ops)| p.eq_ignore_ascii_case(prop) && ops.contains(&op));
            (!ok).then(|| (prop.to_owned(), op))
        };
        match self {
            Filter::Eq(p, _, true) => check(p, "eq"),
            Filter::Eq(p, _, false) => check(p, "ne"),
            Filter::In(p, _) => check(p, "in"),
            Filter::StartsWith(p, _) => check(p, "startsWith"),
            Filter::And(a, b) | Filter::Or(a, b) => a
                .unsupported_operator(allowed)
                .or_else(|| b.unsupported_operator(allowed)),
        }
    }

    /// Whether an object matches (strings compared case-insensitively).
    pub fn matches(&self, obj: &Obj) -> bool {
        let field = |p: &str| obj.get(p).and_then(Value::as_str);
        match self {
            Filter::Eq(p, v, positive) => {
                let equal = match (field(p), v) {
                    (Some(a), Some(b)) => eq_ci(a, b),
                    (None, None) => true,
                    _ => false,
                };
                equal == *positive
            }
            Filter::In(p, vs) => field(p).is_some_and(|a| vs.iter().any(|b| eq_ci(a, b))),
            Filter::StartsWith(p, v) => {
                field(p).is_some_and(|a| a.to_lowercase().starts_with(&v.to_lowercase()))
            }
            Filter::And(a, b) => a.matches(obj) && b.matches(obj),
            Filter::Or(a, b) => a.matches(obj) || b.matches(obj),
        }
    }
}

/// Parses `$select` against the type's properties; the error names the first unknown one.
pub(crate) fn parse_select(s: &str, props: &[&str], type_name: &str) -> Result<Vec<String>, Reply> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            props
                .iter()
                .find(|known| known.eq_ignore_ascii_case(p))
                .map(|known| (*known).to_owned())
                .ok_or_else(|| {
                    Reply::odata_bad_request(format!(
                        "Could not find a property named '{p}' on type '{type_name}'."
                    ))
                })
        })
        .collect()
}

/// Keeps only the selected properties (all of them when `select` is `None`).
pub(crate) fn project(obj: &Obj, select: Option<&[String]>) -> Obj {
    match select {
        None => obj.clone(),
        Some(props) => props
            .iter()
            .map(|p| (p.clone(), obj.get(p).cloned().unwrap_or(Value::Null)))
            .collect::<Map<String, Value>>(),
    }
}

/// The `@odata.context` of a reply: `{base}/v1.0/$metadata#{set}{(select)}{suffix}`.
pub(crate) fn context(base: &str, set: &str, select: Option<&[String]>, suffix: &str) -> Value {
    let sel = select
        .map(|s| format!("({})", s.join(",")))
        .unwrap_or_default();
    Value::String(format!("{base}/v1.0/$metadata#{set}{sel}{suffix}"))
}

/// A property a collection can be filtered on, with the operators Microsoft documents for it
/// (the "Supports `$filter` (…)" note of the resource's page): `eq`, `ne`, `in`, `startsWith`.
pub(crate) type Filterable = (&'static str, &'static [&'static str]);

/// The `$filter` of a collection read over `filterable` properties of `resource`, or the reply
/// Graph gives for a filter it cannot run: a property without a `$filter` note, or an operator
/// the note does not list, is `400 Request_UnsupportedQuery`.
pub(crate) fn filter_of(
    query: &[(String, String)],
    filterable: &[Filterable],
    resource: &str,
) -> Result<Option<Filter>, Reply> {
    let props: Vec<&str> = filterable.iter().map(|(p, _)| *p).collect();
    let Some(text) = query_option(query, "filter") else {
        return Ok(None);
    };
    let filter = parse_filter(text, &props).map_err(|e| filter_error(e, resource))?;
    match filter.unsupported_operator(filterable) {
        Some((prop, op)) => Err(Reply::error(
            400,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported query filter clause specified: operator '{op}' on property '{prop}' of resource '{resource}'."
            ),
        )),
        None => Ok(Some(filter)),
    }
}

/// A collection reply, `{"@odata.context", "value"}`, with the query's `$top` applied.
/// What a `GET` of an entity set needs: its name and type, the properties `$filter` accepts,
/// and how one object is shown.
pub(crate) struct EntitySet<'a> {
    /// The set's name in URLs and `@odata.context` (`applications`).
    pub set: &'a str,
    /// The type named in a refused `$filter` (`Application`).
    pub type_name: &'a str,
    /// The properties and operators Graph documents for `$filter`.
    pub filterable: &'a [Filterable],
}

/// A `GET` of an entity set: `$filter` on the documented properties only, `$select`, `$top`,
/// over the objects that are visible (replicated) now.
pub(crate) fn list_reply(
    base: &str,
    entries: &mut [super::state::Entry],
    req: &super::dispatch::GraphReq,
    select: Option<Vec<String>>,
    set: &EntitySet<'_>,
    render: impl Fn(&Obj) -> Obj,
) -> Reply {
    let filter = match filter_of(&req.query, set.filterable, set.type_name) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let value: Vec<Value> = super::state::visible(entries, filter.as_ref())
        .into_iter()
        .map(|o| Value::Object(project(&render(o), select.as_deref())))
        .collect();
    collection_reply(base, set.set, select.as_deref(), &req.query, value)
}

pub(crate) fn collection_reply(
    base: &str,
    set: &str,
    select: Option<&[String]>,
    query: &[(String, String)],
    mut value: Vec<Value>,
) -> Reply {
    if let Some(top) = query_option(query, "top").and_then(|t| t.trim().parse::<usize>().ok()) {
        value.truncate(top);
    }
    Reply::json(
        200,
        serde_json::json!({
            "@odata.context": context(base, set, select, ""),
            "value": value,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_keep_slashes_inside_literals_and_decode() {
        assert_eq!(
            split_path("/v1.0/applications(uniqueName='a/b%27%27c')/x"),
            vec!["v1.0", "applications(uniqueName='a/b''c')", "x"]
        );
        let (name, key) = parse_segment("applications(uniqueName='a/b''c')").unwrap();
        assert_eq!(name, "applications");
        assert_eq!(key, Some(("uniqueName".into(), "a/b'c".into())));
        assert!(parse_segment("applications(appId=x)").is_err());
        assert!(parse_segment("applications(appId='x'").is_err());
    }

    #[test]
    fn filters_parse_and_match() {
        let props = ["appId", "displayName"];
        let f = parse_filter("appId in ('A','b') and displayName eq 'It''s'", &props).unwrap();
        let obj: Obj = serde_json::from_str(r#"{"appId":"a","displayName":"it's"}"#).unwrap();
        assert!(f.matches(&obj));
        assert_eq!(
            parse_filter("foo eq 'x'", &props),
            Err(FilterError::Property("foo".into()))
        );
        for bad in [
            "appId eq",
            "appId in ()",
            "appId eq 'x' and",
            "(appId eq 'x'",
            "'x'",
        ] {
            assert!(parse_filter(bad, &props).is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_decoding_tolerates_junk() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
