//! IBANs parsed at the edge (ISO 13616): the core stores a merchant's IBAN as opaque
//! text for payout files, so the checksum is checked here, before the command exists.
//! A typo in an IBAN would send a merchant's money nowhere; the mod-97 check catches
//! every single wrong character and almost every swap of two.

use sturmfest_core::vouchers::limits::{iban_bytes_max, iban_bytes_min};

/// An IBAN in its electronic form: upper case, no spaces, checksum verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iban(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IbanError {
    #[error("an IBAN has {iban_bytes_min} to {iban_bytes_max} letters and digits, this has {0}")]
    Length(usize),
    #[error("an IBAN starts with a two-letter country code and two check digits, then letters and digits only")]
    Shape,
    #[error("the IBAN's check digits do not match (mod 97): there is a typo")]
    Checksum,
}

impl Iban {
    /// Accepts the printed form (groups of four separated by spaces) and lower case.
    pub fn parse(input: &str) -> Result<Iban, IbanError> {
        let text: String = input.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        if !(iban_bytes_min..=iban_bytes_max).contains(&text.len()) {
            return Err(IbanError::Length(text.chars().count()));
        }
        let bytes = text.as_bytes();
        let shape = bytes[..2].iter().all(u8::is_ascii_uppercase)
            && bytes[2..4].iter().all(u8::is_ascii_digit)
            && bytes[4..].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !shape {
            return Err(IbanError::Shape);
        }
        // Move the first four characters to the end, read letters as 10..=35, and
        // the whole number must be 1 modulo 97. Digit by digit keeps it in a u32.
        let remainder = bytes[4..].iter().chain(&bytes[..4]).fold(0u32, |rem, b| {
            if b.is_ascii_digit() {
                (rem * 10 + u32::from(b - b'0')) % 97
            } else {
                (rem * 100 + u32::from(b - b'A') + 10) % 97
            }
        });
        if remainder != 1 {
            return Err(IbanError::Checksum);
        }
        Ok(Iban(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    //! Real-shaped IBANs (the published examples of the German and British formats)
    //! pass in printed and electronic form; one wrong digit, a swap, a bad shape or
    //! length is refused.

    use super::*;

    #[test]
    fn valid_ibans_parse_in_printed_and_electronic_form() {
        assert_eq!(Iban::parse("DE89 3704 0044 0532 0130 00").unwrap().as_str(), "DE89370400440532013000");
        assert_eq!(Iban::parse("gb82west12345698765432").unwrap().as_str(), "GB82WEST12345698765432");
    }

    #[test]
    fn typos_and_wrong_shapes_are_refused() {
        assert_eq!(Iban::parse("DE89 3704 0044 0532 0130 01"), Err(IbanError::Checksum));
        assert_eq!(Iban::parse("DE89 3704 0044 0532 0103 00"), Err(IbanError::Checksum));
        assert_eq!(Iban::parse("DE8X 3704 0044 0532 0130 00"), Err(IbanError::Shape));
        assert_eq!(Iban::parse("DE89 3704"), Err(IbanError::Length(8)));
    }
}
