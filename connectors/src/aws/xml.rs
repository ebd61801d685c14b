//! Just enough XML for S3's answers: the text of simple elements (`<Key>`, `<Code>`,
//! `<IsTruncated>`...) found by name, with entities decoded. S3 escapes `<` and `&` in
//! text, so an element's text never contains its closing tag; nothing here can panic or
//! loop on malformed input, which reads as "element absent".

/// The text of every `<tag>...</tag>` in `xml`, in order, entities decoded. Elements
/// with attributes or self-closed are not matched (S3 writes neither for these tags).
pub(crate) fn texts(xml: &str, tag: &str) -> Result<Vec<String>, String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = rest.get(start + open.len()..).unwrap_or_default();
        let end = after
            .find(&close)
            .ok_or_else(|| format!("<{tag}> is not closed"))?;
        out.push(unescape(after.get(..end).unwrap_or_default())?);
        rest = after.get(end + close.len()..).unwrap_or_default();
    }
    Ok(out)
}

/// The text of the first `<tag>`, if any.
pub(crate) fn text(xml: &str, tag: &str) -> Result<Option<String>, String> {
    Ok(texts(xml, tag)?.into_iter().next())
}

/// The raw inner XML of every top-level `<tag>...</tag>` in `xml` (not decoded), for
/// answers that repeat a structure (`<member>` of IAM lists, `<item>` of EC2 sets).
/// Elements of the same name nested inside one are part of it, not separate blocks;
/// `<tag>` with attributes is not matched (the Query APIs write none on these).
pub(crate) fn blocks<'a>(xml: &'a str, tag: &str) -> Result<Vec<&'a str>, String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let body = rest.get(start + open.len()..).unwrap_or_default();
        let mut depth = 1usize;
        let mut at = 0usize;
        while depth > 0 {
            let tail = body.get(at..).unwrap_or_default();
            let next_close = tail
                .find(&close)
                .ok_or_else(|| format!("<{tag}> is not closed"))?;
            match tail.find(&open) {
                Some(o) if o < next_close => {
                    depth += 1;
                    at += o + open.len();
                }
                _ => {
                    depth -= 1;
                    at += next_close + close.len();
                }
            }
        }
        let inner_end = at - close.len();
        out.push(body.get(..inner_end).unwrap_or_default());
        rest = body.get(at..).unwrap_or_default();
    }
    Ok(out)
}

/// The raw inner XML of the first `<tag>`, if any.
pub(crate) fn block<'a>(xml: &'a str, tag: &str) -> Result<Option<&'a str>, String> {
    Ok(blocks(xml, tag)?.into_iter().next())
}

/// Decodes the five predefined entities and numeric character references.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        let after = rest.get(amp + 1..).unwrap_or_default();
        let semi = after
            .find(';')
            .filter(|i| *i <= 10)
            .ok_or_else(|| "an unterminated entity".to_string())?;
        let name = after.get(..semi).unwrap_or_default();
        let decoded = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    name.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("an unknown entity `&{name};`"))?
            }
        };
        out.push(decoded);
        rest = after.get(semi + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_elements_and_decodes_entities() {
        let xml = r#"<?xml version="1.0"?><ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a &amp; b&#x2F;&#61;&lt;c&gt;</Key></Contents><Contents><Key>d</Key></Contents><NextContinuationToken>t1</NextContinuationToken></ListBucketResult>"#;
        assert_eq!(texts(xml, "Key").unwrap(), ["a & b/=<c>", "d"]);
        assert_eq!(text(xml, "IsTruncated").unwrap().as_deref(), Some("true"));
        assert_eq!(text(xml, "Missing").unwrap(), None);
    }

    #[test]
    fn blocks_keep_nested_elements_of_the_same_name() {
        let xml = "<set><item><id>a</id><groups><item><g>1</g></item><item><g>2</g></item></groups></item><item><id>b</id></item></set>";
        let items = blocks(xml, "item").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(text(items[0], "id").unwrap().as_deref(), Some("a"));
        let inner = blocks(block(items[0], "groups").unwrap().unwrap(), "item").unwrap();
        assert_eq!(inner, ["<g>1</g>", "<g>2</g>"]);
        assert_eq!(text(items[1], "id").unwrap().as_deref(), Some("b"));
        assert!(blocks("<item><item></item>", "item").is_err());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(texts("<Key>open", "Key").is_err());
        assert!(texts("<Key>a &bogus; b</Key>", "Key").is_err());
        assert!(texts("<Key>a & b</Key>", "Key").is_err());
        assert!(texts("<Key>&#xFFFFFFFF;</Key>", "Key").is_err());
        assert_eq!(texts("<Key></Key>", "Key").unwrap(), [""]);
    }
}
