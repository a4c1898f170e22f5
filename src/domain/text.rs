//! Characters that make text look like something else: control characters,
//! bidirectional overrides and isolates (an address shown reversed), and
//! zero-width characters (two addresses that look the same). Emails, ids and
//! names containing any are refused at the boundary (CONTRACT 3.3).

/// True for a character that can hide or disguise text.
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional embeddings, overrides and isolates, and the marks.
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
            // Zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen.
            | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
        )
}

/// True when `text` has no such character.
pub fn is_plain(text: &str) -> bool {
    !text.chars().any(is_deceptive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disguising_characters_are_caught() {
        assert!(is_plain("ada@example.com"));
        assert!(is_plain("Zoë Müller – Ärzte GmbH"), "ordinary non-ASCII text is fine");
        for sneaky in ["ada\u{202E}moc.elpmaxe@", "ad\u{200B}a@example.com", "a\u{2066}b", "a\u{FEFF}b", "a\nb"] {
            assert!(!is_plain(sneaky), "{sneaky:?}");
        }
    }
}
