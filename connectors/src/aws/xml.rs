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
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(texts("<Key>open", "Key").is_err());
        assert!(texts("<Key>a &bogus; b</Key>", "Key").is_err());
        assert!(texts("<Key>a & b</Key>", "Key").is_err());
        assert!(texts("<Key>&#xFFFFFFFF;</Key>", "Key").is_err());
        assert_eq!(texts("<Key></Key>", "Key").unwrap(), [""]);
    }
}
