//! SMS segment counting for GSM-7 and UCS-2, plus Twilio-style "smart encoding".
//!
//! Rules follow reference §D (verified against `TwilioDevEd/message-segment-calculator`
//! `UnicodeToGSM.ts`, `Segment.ts` and `SmartEncodingMap.ts`): one character outside the GSM-7
//! basic and extension sets switches the whole message to UCS-2, and a concatenated message loses
//! room to the user data header, so parts hold 153 septets or 67 UTF-16 units instead of 160 / 70.

/// GSM 03.38 basic character set, one septet each (§D). ESC (0x1B) is left out on purpose: it
/// only introduces an extension character and is never text on its own.
pub const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// GSM 03.38 extension table: sent as ESC + code, so two septets each (§D).
pub const GSM7_EXTENSION: &str = "\u{0C}[\\]^{|}~€";

/// Septets in one unconcatenated GSM-7 message (140 octets, §D).
pub const GSM7_SINGLE: usize = 160;
/// Septets per part once a 6-octet user data header is added (§D).
const GSM7_PART: usize = 153;
/// UTF-16 units in one unconcatenated UCS-2 message (§D).
const UCS2_SINGLE: usize = 70;
/// UTF-16 units per part of a concatenated UCS-2 message (§D).
const UCS2_PART: usize = 67;

/// Which alphabet a message is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet, including its extension table.
    Gsm7,
    /// UCS-2 (UTF-16 on the wire), used as soon as any character is outside GSM-7.
    Ucs2,
}

/// How a message will be billed: its encoding, its size and the number of parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Alphabet the whole message is sent in.
    pub encoding: Encoding,
    /// Size in septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Number of SMS parts; 0 for an empty message.
    pub segments: usize,
}

/// Replaces common look-alike characters (smart quotes, dashes, odd spaces, full-width ASCII)
/// with GSM-7 equivalents, as Twilio's smart encoding does; unmappable characters are kept.
pub fn normalize_gsm7(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match smart_replacement(c) {
            Some(replacement) => out.push_str(replacement),
            None => match full_width_to_ascii(c) {
                // Full-width grave accent becomes '`', which itself is not GSM-7.
                Some('`') => out.push('\''),
                Some(ascii) => out.push(ascii),
                None => out.push(c),
            },
        }
    }
    out
}

/// `text` with á, í, ó, ú (and capitals) written without the accent, when they are all that
/// keeps it out of GSM-7 (GSM 03.38's basic set has é, ñ, ü, ¿ and ¡ but not these); `None`
/// when the text is GSM-7 already or needs UCS-2 for something else. A Spanish reply then
/// goes as GSM-7, 160 characters a segment instead of 70: what Spanish SMS senders commonly
/// do to keep a text to one message.
pub fn fold_accents_for_gsm7(text: &str) -> Option<String> {
    if is_gsm7(text) {
        return None;
    }
    let folded: String = text
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'í' => 'i',
            'ó' => 'o',
            'ú' => 'u',
            'Á' => 'A',
            'Í' => 'I',
            'Ó' => 'O',
            'Ú' => 'U',
            other => other,
        })
        .collect();
    is_gsm7(&folded).then_some(folded)
}

/// Twilio `SmartEncodingMap.ts` entries that matter for text from LLMs and word processors
/// (§D "common culprits"), trimmed to the ones we expect to see. Full-width ASCII is handled by
/// [`full_width_to_ascii`]. Where the upstream map looks wrong (`‹` → `>`, no-break space → two
/// spaces) we use the obvious replacement instead.
fn smart_replacement(c: char) -> Option<&'static str> {
    let replacement = match c {
        // Double quotes and guillemets.
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}' | '\u{02BA}' | '\u{02EE}'
        | '\u{275D}' | '\u{275E}' | '\u{301D}' | '\u{301E}' => "\"",
        // Single quotes, primes and stray accents.
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02B9}' | '\u{02BB}' | '\u{02BC}'
        | '\u{02BD}' | '\u{02C8}' | '\u{02CA}' | '\u{02CB}' | '\u{00B4}' | '`' | '\u{275B}' | '\u{275C}' => "'",
        '\u{2039}' => "<",
        '\u{203A}' => ">",
        // Hyphens, dashes, minus sign and bullets.
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}' | '\u{2212}' | '\u{2043}'
        | '\u{2022}' | '\u{00B7}' | '\u{FE63}' => "-",
        '\u{2026}' => "...",
        '\u{203C}' => "!!",
        '\u{00F7}' | '\u{2044}' | '\u{2215}' => "/",
        '\u{00BC}' => "1/4",
        '\u{00BD}' => "1/2",
        '\u{00BE}' => "3/4",
        '\u{02DC}' | '\u{223C}' => "~",
        '\u{02C6}' => "^",
        '\u{3001}' => ",",
        '\u{3002}' => ".",
        // Spaces of every width and line/paragraph separators.
        '\u{00A0}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}'
        | '\u{2028}'
        | '\u{2029}'
        | '\t' => " ",
        // Invisible characters: zero-width space/joiners, word joiner, byte order mark.
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => "",
        _ => return None,
    };
    Some(replacement)
}

/// Maps the full-width forms block (U+FF01..=U+FF5E) onto printable ASCII.
fn full_width_to_ascii(c: char) -> Option<char> {
    let code = u32::from(c);
    if !(0xFF01..=0xFF5E).contains(&code) {
        return None;
    }
    char::from_u32(code - 0xFF01 + u32::from('!'))
}

/// True when every character is in the GSM-7 basic or extension set.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// Septets a character needs in GSM-7, or `None` when it forces UCS-2.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts the SMS parts `text` will be sent as, simulating the part split exactly.
pub fn count_segments(text: &str) -> SegmentInfo {
    if is_gsm7(text) {
        let widths = text.chars().filter_map(gsm7_septets);
        let (units, segments) = split_into_parts(widths, GSM7_SINGLE, GSM7_PART);
        SegmentInfo { encoding: Encoding::Gsm7, units, segments }
    } else {
        let widths = text.chars().map(char::len_utf16);
        let (units, segments) = split_into_parts(widths, UCS2_SINGLE, UCS2_PART);
        SegmentInfo { encoding: Encoding::Ucs2, units, segments }
    }
}

/// Returns `(total units, parts)` for characters of the given widths. A character is never
/// split across parts (an ESC pair in GSM-7, a surrogate pair in UCS-2, §D), so a part may end
/// one unit short; that is why this walks the characters instead of dividing.
fn split_into_parts(widths: impl Iterator<Item = usize> + Clone, single: usize, part: usize) -> (usize, usize) {
    let total: usize = widths.clone().sum();
    if total == 0 {
        return (0, 0);
    }
    if total <= single {
        return (total, 1);
    }
    let mut parts = 1;
    let mut used = 0;
    for width in widths {
        if used + width > part {
            parts += 1;
            used = 0;
        }
        used += width;
    }
    (total, parts)
}

/// Shortens `text` to at most `max_segments` parts: unchanged if it fits, else cut after the
/// last sentence that fits, else cut at a word boundary with "..." appended.
pub fn trim_to_segments(text: &str, max_segments: usize) -> String {
    let fits = |candidate: &str| count_segments(candidate).segments <= max_segments;
    if fits(text) {
        return text.to_string();
    }
    if max_segments == 0 {
        return String::new();
    }

    for &end in crate::text::sentence_ends(text).iter().rev() {
        let candidate = text[..end].trim_end();
        if fits(candidate) {
            return candidate.to_string();
        }
    }

    // No whole sentence fits: cut before the last whitespace that fits, or failing that
    // (one very long word) at the last character boundary that fits.
    let char_starts: Vec<(usize, char)> = text.char_indices().skip(1).collect();
    let word_cuts = char_starts.iter().rev().filter(|(_, c)| c.is_whitespace());
    let char_cuts = char_starts.iter().rev();
    for &(end, _) in word_cuts.chain(char_cuts) {
        let candidate = format!("{}...", text[..end].trim_end());
        if fits(&candidate) {
            return candidate;
        }
    }
    // "..." alone is 3 septets, which fits in any non-zero budget.
    "...".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_accents_outside_gsm7_are_folded_when_that_is_all() {
        let text = "El envío estándar tarda 3-5 días hábiles; ¿algo más? ¡Sí, señor!";
        assert_eq!(count_segments(text).encoding, Encoding::Ucs2);
        let folded = fold_accents_for_gsm7(text).unwrap();
        assert_eq!(folded, "El envio estandar tarda 3-5 dias habiles; ¿algo mas? ¡Si, señor!");
        assert_eq!(count_segments(&folded).encoding, Encoding::Gsm7);
        assert_eq!(fold_accents_for_gsm7("plain text"), None);
        assert_eq!(fold_accents_for_gsm7("días 🙂"), None, "an emoji needs UCS-2 anyway");
    }

    #[test]
    fn an_empty_message_has_no_segments() {
        let info = count_segments("");
        assert_eq!(info, SegmentInfo { encoding: Encoding::Gsm7, units: 0, segments: 0 });
    }

    #[test]
    fn gsm7_fits_160_septets_in_one_segment_and_153_per_part_after() {
        for (len, segments) in [(160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)] {
            let info = count_segments(&"a".repeat(len));
            assert_eq!(info.encoding, Encoding::Gsm7);
            assert_eq!(info.units, len);
            assert_eq!(info.segments, segments, "{len} septets");
        }
    }

    #[test]
    fn extension_characters_count_two_septets() {
        let info = count_segments("€[]");
        assert_eq!(info.encoding, Encoding::Gsm7);
        assert_eq!(info.units, 6);
        assert_eq!(count_segments(&"€".repeat(80)).segments, 1);
        assert_eq!(count_segments(&format!("{}a", "€".repeat(80))).segments, 2);
    }

    #[test]
    fn an_escape_pair_is_never_split_across_parts() {
        // 152 'a' then '€' would straddle septets 153/154, so it moves to part two. Padding
        // brings the total to exactly 306 septets, which plain division would call 2 parts.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        let info = count_segments(&text);
        assert_eq!(info.units, 306);
        assert_eq!(info.segments, 3);
    }

    #[test]
    fn accented_letters_in_the_gsm7_table_stay_gsm7() {
        assert!(is_gsm7("é è ü Ñ ß Δ £ @ ¿"));
        assert!(!is_gsm7("ç"));
        assert!(!is_gsm7("`"));
    }

    #[test]
    fn one_non_gsm_character_switches_the_whole_message_to_ucs2() {
        let info = count_segments(&format!("{}ç", "a".repeat(60)));
        assert_eq!(info.encoding, Encoding::Ucs2);
        assert_eq!(info.units, 61);
        assert_eq!(info.segments, 1);
    }

    #[test]
    fn ucs2_fits_70_units_in_one_segment_and_67_per_part_after() {
        for (len, segments) in [(70, 1), (71, 2), (134, 2), (135, 3)] {
            let info = count_segments(&"ç".repeat(len));
            assert_eq!(info.encoding, Encoding::Ucs2);
            assert_eq!(info.units, len);
            assert_eq!(info.segments, segments, "{len} units");
        }
    }

    #[test]
    fn emoji_take_two_units_and_are_never_split_across_parts() {
        assert_eq!(count_segments(&"😀".repeat(35)).units, 70);
        assert_eq!(count_segments(&"😀".repeat(35)).segments, 1);
        // 66 units then an emoji that would straddle units 67/68: pushed to part two,
        // so 134 units take 3 parts where division would say 2.
        let text = format!("{}😀{}", "ç".repeat(66), "ç".repeat(66));
        let info = count_segments(&text);
        assert_eq!(info.units, 134);
        assert_eq!(info.segments, 3);
    }

    #[test]
    fn normalizing_smart_punctuation_makes_text_gsm7() {
        let text = "“Hello” it’s 9–5 — see you… •\u{00A0}soon\u{200B}´`";
        assert!(!is_gsm7(text));
        let normalized = normalize_gsm7(text);
        assert_eq!(normalized, "\"Hello\" it's 9-5 - see you... - soon''");
        assert!(is_gsm7(&normalized));
    }

    #[test]
    fn normalizing_maps_full_width_ascii() {
        assert_eq!(normalize_gsm7("ＳＡＬＥ！ ５０％"), "SALE! 50%");
    }

    #[test]
    fn normalizing_leaves_emoji_and_unmappable_characters_alone() {
        assert_eq!(normalize_gsm7("thanks 😀 ç"), "thanks 😀 ç");
    }

    #[test]
    fn trimming_returns_text_that_already_fits_unchanged() {
        let text = "Short reply. With two sentences!";
        assert_eq!(trim_to_segments(text, 1), text);
    }

    #[test]
    fn trimming_cuts_at_the_last_sentence_that_fits() {
        let first = format!("{}.", "a".repeat(100));
        let second = format!("{}?", "b".repeat(40));
        let text = format!("{first} {second} {}", "c".repeat(50));
        let trimmed = trim_to_segments(&text, 1);
        assert_eq!(trimmed, format!("{first} {second}"));
        assert_eq!(count_segments(&trimmed).segments, 1);
    }

    #[test]
    fn trimming_ignores_periods_inside_words() {
        let text = format!("See example.com for {}", "word ".repeat(40));
        let trimmed = trim_to_segments(&text, 1);
        assert!(trimmed.ends_with("..."), "{trimmed}");
        assert!(trimmed.starts_with("See example.com for word"));
    }

    #[test]
    fn trimming_falls_back_to_a_word_boundary_with_an_ellipsis() {
        let text = "word ".repeat(50);
        let trimmed = trim_to_segments(&text, 1);
        assert_eq!(trimmed, format!("{}...", "word ".repeat(31).trim_end()));
        assert_eq!(count_segments(&trimmed).segments, 1);
    }

    #[test]
    fn trimming_a_single_long_word_cuts_inside_it() {
        let trimmed = trim_to_segments(&"x".repeat(400), 1);
        assert_eq!(trimmed, format!("{}...", "x".repeat(157)));
    }

    #[test]
    fn trimming_never_exceeds_the_budget() {
        let texts = ["Hi there! 😀 ".repeat(30), "€uro {price} ".repeat(40), "no spaces at all ç".repeat(20)];
        for text in &texts {
            for max in 0..4 {
                let trimmed = trim_to_segments(text, max);
                assert!(count_segments(&trimmed).segments <= max, "{max}: {trimmed}");
            }
        }
    }
}
