//! Card codes: random, unguessable, typeable, with a check character; and the keyed
//! digests of codes and PINs that the core stores instead of the secrets themselves.
//!
//! # The code
//!
//! A code is `code_payload_symbols` (19) random symbols of Crockford's base-32
//! alphabet (`0-9 A-Z` without `I L O U`), 95 bits from a cryptographic RNG, plus one
//! check symbol: 20 symbols, printed in five groups of four (`7KQ3-M0XD-...`). Parsing
//! forgives what people do when they type a code from paper: spaces and dashes
//! anywhere, lower case, `I`/`L` read as `1` and `O` as `0` (Crockford's rule).
//!
//! # The check symbol
//!
//! The symbols are read as elements of GF(32) (polynomial `x^5 + x^2 + 1`, primitive,
//! so `α = x` has order 31). Symbol `i` (0-based, check symbol last at index 19) has
//! weight `α^(19 - i)`, and the check symbol is chosen so the weighted sum of all 20 is
//! zero. A single wrong symbol changes the sum by `e · w` with `e ≠ 0` and `w ≠ 0`,
//! which is never zero in a field. Swapping two different adjacent symbols `a, b`
//! changes it by `(a - b) · (w_i - w_{i+1})`; both factors are non-zero because the
//! weights are distinct powers of `α` (exponents 0..=19, all below its order 31). So
//! every single-symbol error and every adjacent transposition is caught, including
//! those involving the check symbol itself. Crockford's own mod-37 check needs five
//! extra symbols; this one stays within the 32 that are easy to read.
//!
//! # Digests
//!
//! The core stores `code_digest = HMAC-SHA256(tenant secret, "sturmfest card code
//! v1" 0 code)` over the normalised 20 symbols, and `pin_digest = HMAC-SHA256(tenant
//! secret, "sturmfest card pin v1" 0 card-id-be pin)`, so a stolen snapshot or log
//! reveals neither codes nor PINs, and equal PINs on two cards do not look equal.

use hmac::{Hmac, KeyInit, Mac};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use sturmfest_core::vouchers::CardId;

/// Random symbols in a code: 95 bits, at least the 80 the brief asks for.
pub const code_payload_symbols: usize = 19;
/// All symbols of a code, the check symbol last.
pub const code_symbols: usize = code_payload_symbols + 1;
pub const code_random_bits: usize = code_payload_symbols * 5;
/// Symbols per printed group.
pub const code_group_symbols: usize = 4;
/// What a typed code may be before normalising (spaces and dashes included).
pub const code_input_bytes_max: usize = 64;
pub const pin_digits_min: usize = 4;
pub const pin_digits_max: usize = 6;

const _: () = assert!(code_random_bits >= 80);
// Weights α^0..α^19 must be distinct: fewer symbols than the order of α (31).
const _: () = assert!(code_symbols < 31);
const _: () = assert!(code_symbols.is_multiple_of(code_group_symbols));

/// Crockford's base-32 alphabet: the value of a symbol is its index.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `x^5 + x^2 + 1` without the `x^5` term, for reduction.
const GF32_REDUCTION: u8 = 0b0_0101;

fn gf32_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0b10_0000 != 0 {
            a = (a & 0b1_1111) ^ GF32_REDUCTION;
        }
    }
    product
}

/// `α^(code_symbols - 1 - i)` for every position `i`.
fn weights() -> [u8; code_symbols] {
    let mut w = [0u8; code_symbols];
    let mut power = 1u8;
    for slot in w.iter_mut().rev() {
        *slot = power;
        power = gf32_mul(power, 2);
    }
    w
}

/// The weighted sum over GF(32) (addition is XOR); zero for a valid code.
fn syndrome(symbols: &[u8; code_symbols]) -> u8 {
    weights().iter().zip(symbols).fold(0, |sum, (w, s)| sum ^ gf32_mul(*w, *s))
}

/// A card code, as 20 symbol values `0..32` (check symbol last). Only `parse` and
/// `generate` make one, so it always passes its check.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardCode([u8; code_symbols]);

impl std::fmt::Debug for CardCode {
    /// Codes are bearer secrets: debug output shows only the first group.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head: String = self.0[..code_group_symbols].iter().map(|s| ALPHABET[*s as usize] as char).collect();
        write!(f, "CardCode({head}-…)")
    }
}

/// Why typed text is not a card code. Stable codes for problem+json.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a card code has {code_symbols} characters, this has {0}")]
    Length(usize),
    #[error("'{0}' is not a card code character")]
    Character(char),
    #[error("the code has a typo: its check character does not match")]
    Check,
}

impl CodeError {
    pub fn code(self) -> &'static str {
        match self {
            CodeError::Length(_) => "card_code_length",
            CodeError::Character(_) => "card_code_character",
            CodeError::Check => "card_code_check",
        }
    }
}

fn symbol_value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'I' | 'L' => '1',
        'O' => '0',
        other => other,
    };
    ALPHABET.iter().position(|a| *a as char == c).map(|v| v as u8)
}

impl CardCode {
    /// A fresh random code. The caller passes a cryptographic RNG (`rand::rng()`).
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> CardCode {
        let mut bytes = [0u8; code_payload_symbols];
        rng.fill_bytes(&mut bytes);
        CardCode::from_payload(bytes)
    }

    /// The code whose payload symbols are the low five bits of `bytes`: `generate`
    /// with random bytes, a digital card (`vouchers/digital.rs`) with keyed-digest ones.
    pub fn from_payload(bytes: [u8; code_payload_symbols]) -> CardCode {
        let mut symbols = [0u8; code_symbols];
        // 32 divides 256, so the low five bits of a uniform byte are uniform.
        for (symbol, byte) in symbols.iter_mut().zip(bytes) {
            *symbol = byte & 0b1_1111;
        }
        // The check symbol has weight α^0 = 1: it equals the payload's weighted sum.
        symbols[code_symbols - 1] = syndrome(&symbols);
        debug_assert_eq!(syndrome(&symbols), 0);
        CardCode(symbols)
    }

    /// Parses typed text: spaces and dashes are ignored, case too, and `I L O` read as
    /// `1 1 0`. Order: length of the raw input; each character; the symbol count; the
    /// check symbol.
    pub fn parse(input: &str) -> Result<CardCode, CodeError> {
        if input.len() > code_input_bytes_max {
            return Err(CodeError::Length(input.chars().filter(|c| !matches!(c, ' ' | '-')).count()));
        }
        let mut values = Vec::with_capacity(code_symbols);
        for c in input.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')) {
            values.push(symbol_value(c).ok_or(CodeError::Character(c))?);
        }
        let symbols: [u8; code_symbols] = values.as_slice().try_into().map_err(|_| CodeError::Length(values.len()))?;
        if syndrome(&symbols) != 0 {
            return Err(CodeError::Check);
        }
        Ok(CardCode(symbols))
    }

    /// The 20 symbols without separators: what the digest is taken over.
    pub fn normalized(&self) -> String {
        self.0.iter().map(|s| ALPHABET[*s as usize] as char).collect()
    }

    /// Five groups of four, joined by dashes: what is printed and shown.
    pub fn grouped(&self) -> String {
        let text = self.normalized();
        let groups: Vec<&str> = (0..code_symbols).step_by(code_group_symbols).map(|i| &text[i..i + code_group_symbols]).collect();
        groups.join("-")
    }
}

/// A PIN: 4 to 6 digits, parsed at the edge.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    pub fn parse(input: &str) -> Option<Pin> {
        let digits = input.trim();
        let ok = (pin_digits_min..=pin_digits_max).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Pin(digits.to_string()))
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pin(****)")
    }
}

/// A tenant's secret for card digests. Never leaves the node; rotating it would
/// orphan every stored digest, so it is not rotated (signing keys are, separately).
pub struct CodeKey([u8; 32]);

impl CodeKey {
    pub fn new(secret: [u8; 32]) -> CodeKey {
        CodeKey(secret)
    }

    fn mac(&self, label: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label);
        mac.update(&[0]);
        mac
    }

    /// What `NewCard::code_digest` and `Vouchers::card_by_code` take.
    pub fn code_digest(&self, code: &CardCode) -> [u8; 32] {
        let mut mac = self.mac(b"sturmfest card code v1");
        mac.update(code.normalized().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// What `NewCard::pin_digest` and `Redeem::pin_digest` take: bound to the card.
    pub fn pin_digest(&self, card: CardId, pin: &Pin) -> [u8; 32] {
        let mut mac = self.mac(b"sturmfest card pin v1");
        mac.update(&card.0.to_be_bytes());
        mac.update(pin.0.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    //! The check symbol catches every single-symbol error and every adjacent
    //! transposition — exhaustively for fixed codes, and by property for random ones —
    //! parsing forgives what typing from paper does, and digests are keyed and bound.

    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn symbols() -> impl Strategy<Value = [u8; code_symbols]> {
        prop::array::uniform19(0u8..32).prop_map(|payload| {
            let mut s = [0u8; code_symbols];
            s[..code_payload_symbols].copy_from_slice(&payload);
            s[code_symbols - 1] = syndrome(&s);
            s
        })
    }

    fn text(symbols: &[u8; code_symbols]) -> String {
        symbols.iter().map(|s| ALPHABET[*s as usize] as char).collect()
    }

    #[test]
    fn every_single_error_and_adjacent_transposition_of_some_codes_is_caught() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for _ in 0..50 {
            let code = CardCode::generate(&mut rng);
            assert_eq!(CardCode::parse(&code.grouped()), Ok(code));
            for i in 0..code_symbols {
                for wrong in 0..32u8 {
                    let mut s = code.0;
                    if s[i] == wrong {
                        continue;
                    }
                    s[i] = wrong;
                    assert_eq!(CardCode::parse(&text(&s)), Err(CodeError::Check), "position {i}");
                }
            }
            for i in 0..code_symbols - 1 {
                let mut s = code.0;
                if s[i] != s[i + 1] {
                    s.swap(i, i + 1);
                    assert_eq!(CardCode::parse(&text(&s)), Err(CodeError::Check), "swap at {i}");
                }
            }
        }
    }

    #[test]
    fn parsing_forgives_spaces_dashes_case_and_look_alike_letters() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let code = CardCode::generate(&mut rng);
        let grouped = code.grouped();
        assert_eq!(grouped.len(), code_symbols + code_symbols / code_group_symbols - 1);
        assert_eq!(CardCode::parse(&grouped.to_lowercase()), Ok(code));
        assert_eq!(CardCode::parse(&grouped.replace('-', " ")), Ok(code));
        assert_eq!(CardCode::parse(&format!("  {}  ", code.normalized())), Ok(code));
        let sloppy: String = code.normalized().chars().map(|c| match c { '1' => 'l', '0' => 'O', c => c }).collect();
        assert_eq!(CardCode::parse(&sloppy), Ok(code));
        assert_eq!(CardCode::parse("U"), Err(CodeError::Character('U')));
        assert_eq!(CardCode::parse(&grouped[..grouped.len() - 1]), Err(CodeError::Length(code_symbols - 1)));
        assert!(matches!(CardCode::parse(&"0".repeat(200)), Err(CodeError::Length(200))));
        assert!(!format!("{code:?}").contains(&code.normalized()[8..]), "debug output hides the code");
    }

    #[test]
    fn digests_are_keyed_and_a_pin_is_bound_to_its_card() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let code = CardCode::generate(&mut rng);
        let (key, other) = (CodeKey::new([1; 32]), CodeKey::new([2; 32]));
        assert_eq!(key.code_digest(&code), key.code_digest(&CardCode::parse(&code.grouped().to_lowercase()).unwrap()));
        assert_ne!(key.code_digest(&code), other.code_digest(&code), "another tenant's key");
        let pin = Pin::parse("0815").unwrap();
        assert_ne!(key.pin_digest(CardId(1), &pin), key.pin_digest(CardId(2), &pin), "equal PINs, other cards");
        assert_ne!(key.pin_digest(CardId(1), &pin), key.pin_digest(CardId(1), &Pin::parse("0816").unwrap()));
        assert!(Pin::parse("123").is_none() && Pin::parse("1234567").is_none() && Pin::parse("12a4").is_none());
        assert_ne!(CardCode::generate(&mut rng), code, "two draws of 95 bits differ");
    }

    proptest! {
        #[test]
        fn a_single_wrong_symbol_is_always_caught(s in symbols(), i in 0..code_symbols, delta in 1u8..32) {
            prop_assert_eq!(syndrome(&s), 0);
            let mut typo = s;
            typo[i] ^= delta;
            prop_assert_eq!(CardCode::parse(&text(&typo)), Err(CodeError::Check));
        }

        #[test]
        fn an_adjacent_transposition_is_always_caught(s in symbols(), i in 0..code_symbols - 1) {
            let mut swapped = s;
            swapped.swap(i, i + 1);
            if s[i] == s[i + 1] {
                prop_assert_eq!(CardCode::parse(&text(&swapped)), Ok(CardCode(s)));
            } else {
                prop_assert_eq!(CardCode::parse(&text(&swapped)), Err(CodeError::Check));
            }
        }

        #[test]
        fn every_valid_code_parses_back_from_its_printed_form(s in symbols()) {
            let code = CardCode::parse(&text(&s)).unwrap();
            prop_assert_eq!(CardCode::parse(&code.grouped()), Ok(code));
        }
    }
}
