//! Identifiers in logs (issue #13 §6): a refusal message may quote the patient's IIN or PIN it is
//! about; logs keep only its first four and last two digits. Organisations are logged by the
//! principal's own field, which is not masked.

/// `text` with every run of 12 or more digits (an IIN, a BIN, a KG PIN) masked as `9001******07`.
pub fn mask_identifiers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 12 {
            out.push_str(&digits[..4]);
            out.extend(std::iter::repeat_n('*', digits.len() - 6));
            out.push_str(&digits[digits.len() - 2..]);
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for character in text.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
        } else {
            flush(&mut digits, &mut out);
            out.push(character);
        }
    }
    flush(&mut digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_identifiers;

    #[test]
    fn long_digit_runs_are_masked_and_short_ones_kept() {
        assert_eq!(
            mask_identifiers("patient 900101300007 on 2026-02-03, PIN 12345678901234."),
            "patient 9001******07 on 2026-02-03, PIN 1234********34."
        );
        assert_eq!(mask_identifiers("line 12"), "line 12");
    }
}
