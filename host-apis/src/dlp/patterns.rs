//! What the scanner looks for. Each pattern is a regular expression plus,
//! where the format has one, a checksum that rules out look-alikes.
//!
//! | name          | shape                                             | check        |
//! |---------------|---------------------------------------------------|--------------|
//! | `email`       | local@domain.tld                                  | —            |
//! | `phone`       | +CC and 8-14 digits, or (NNN) NNN-NNNN            | —            |
//! | `card`        | 13-19 digits, optional spaces or dashes           | Luhn         |
//! | `us-ssn`      | NNN-NN-NNNN, not 000/666/9xx area, not 00/0000    | ranges       |
//! | `iban`        | CC + 2 check digits + 11-30 alphanumerics         | ISO 7064 mod 97 |
//! | `api-key`     | AKIA…, sk_live_/sk_test_…, ghp_/gho_…, xox[bap]-…, AIza… | —     |
//! | `private-key` | -----BEGIN … PRIVATE KEY-----                     | —            |
//! | `jwt`         | eyJ….eyJ….signature                               | —            |

use regex::bytes::Regex;

pub struct Pattern {
    pub name: &'static str,
    pub regex: Regex,
    pub check: fn(&[u8]) -> bool,
}

fn always(_: &[u8]) -> bool {
    true
}

fn digits(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect()
}

/// The Luhn checksum of payment card numbers.
pub fn luhn(bytes: &[u8]) -> bool {
    let d = digits(bytes);
    if d.len() < 13 || d.len() > 19 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn ssn(bytes: &[u8]) -> bool {
    let d = digits(bytes);
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = d[3] * 10 + d[4];
    let serial = d[5..].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// ISO 13616 IBAN check: move the first four characters to the end,
/// letters to numbers, remainder mod 97 must be 1.
pub fn iban(bytes: &[u8]) -> bool {
    let compact: Vec<u8> = bytes
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if compact.len() < 15 || compact.len() > 34 {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for &c in tail.iter().chain(head) {
        let value = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if value >= 10 {
            (rem * 100 + value) % 97
        } else {
            (rem * 10 + value) % 97
        };
    }
    rem == 1
}

/// All patterns, compiled. Fails only if a built-in expression is invalid
/// (a bug caught by the tests).
pub fn all() -> Result<Vec<Pattern>, regex::Error> {
    let make = |name, re: &str, check| Regex::new(re).map(|regex| Pattern { name, regex, check });
    Ok(vec![
        make(
            "private-key",
            r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----",
            always,
        )?,
        make(
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            always,
        )?,
        make(
            "api-key",
            r"\b(?:AKIA[0-9A-Z]{16}|sk_(?:live|test)_[0-9A-Za-z]{16,}|gh[pousr]_[0-9A-Za-z]{36}|xox[bapr]-[0-9A-Za-z-]{10,}|AIza[0-9A-Za-z_-]{35})\b",
            always,
        )?,
        make(
            "email",
            r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b",
            always,
        )?,
        make(
            "iban",
            r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
            iban,
        )?,
        make("card", r"\b[0-9](?:[ -]?[0-9]){12,18}\b", luhn)?,
        make("us-ssn", r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", ssn)?,
        make(
            "phone",
            r"(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){2,4}[0-9]{2,4}|\([0-9]{3}\) ?[0-9]{3}-[0-9]{4})\b",
            always,
        )?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_real_test_cards_and_rejects_near_misses() {
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(luhn(b"5500-0000-0000-0004"));
        assert!(!luhn(b"4111 1111 1111 1112"));
        assert!(!luhn(b"1234"));
    }

    #[test]
    fn iban_checksums_are_verified() {
        assert!(iban(b"GB82 WEST 1234 5698 7654 32"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"GB82 WEST 1234 5698 7654 33"));
    }

    #[test]
    fn ssn_ranges_that_are_never_issued_are_not_matches() {
        assert!(ssn(b"123-45-6789"));
        assert!(!ssn(b"000-45-6789"));
        assert!(!ssn(b"666-45-6789"));
        assert!(!ssn(b"923-45-6789"));
        assert!(!ssn(b"123-00-6789"));
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(all().map(|p| p.len()).ok(), Some(8));
    }
}
