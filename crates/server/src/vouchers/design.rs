//! A programme's look at the edge: the accent colour as `#rrggbb` text, and the one
//! check the core cannot make without floating point — that white text on the
//! accent (the band at the top of a digital card, its e-mail and PDF) reaches the
//! WCAG AA contrast of 4.5:1.

use sturmfest_core::vouchers::ProgrammeDesign;

/// The contrast white text needs on the accent (WCAG 2.x AA, normal text).
pub const contrast_ratio_min: f64 = 4.5;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DesignError {
    #[error("the accent colour is written #rrggbb, e.g. #0b5394")]
    AccentFormat,
    #[error("white text on {accent} has a contrast of {ratio:.2}:1; at least 4.5:1 is needed — choose a darker colour")]
    Contrast { accent: String, ratio: f64 },
}

impl DesignError {
    pub fn code(&self) -> &'static str {
        match self {
            DesignError::AccentFormat => "design_accent_invalid",
            DesignError::Contrast { .. } => "design_contrast_too_low",
        }
    }
}

/// `#rrggbb` (case-insensitive, the `#` optional) as 0xRRGGBB.
pub fn parse_accent(text: &str) -> Result<u32, DesignError> {
    let hex = text.trim().trim_start_matches('#');
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DesignError::AccentFormat);
    }
    u32::from_str_radix(hex, 16).map_err(|_| DesignError::AccentFormat)
}

/// 0xRRGGBB as `#rrggbb`, the form CSS and the colour input take.
pub fn accent_text(rgb: u32) -> String {
    format!("#{:06x}", rgb & 0x00ff_ffff)
}

fn relative_luminance(rgb: u32) -> f64 {
    let channel = |shift: u32| {
        let v = f64::from((rgb >> shift) & 0xff) / 255.0;
        if v <= 0.039_28 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * channel(16) + 0.7152 * channel(8) + 0.0722 * channel(0)
}

/// The WCAG contrast ratio of white text on `rgb`, from 1 to 21.
pub fn white_text_contrast(rgb: u32) -> f64 {
    1.05 / (relative_luminance(rgb) + 0.05)
}

/// A design from the office's input, checked for the format and the contrast (the
/// core checks the tagline).
pub fn design(accent: &str, tagline: &str) -> Result<ProgrammeDesign, DesignError> {
    let accent_rgb = parse_accent(accent)?;
    let ratio = white_text_contrast(accent_rgb);
    if ratio < contrast_ratio_min {
        return Err(DesignError::Contrast { accent: accent_text(accent_rgb), ratio });
    }
    Ok(ProgrammeDesign { accent_rgb, tagline: tagline.trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_parse_in_their_one_form_and_print_back() {
        assert_eq!(parse_accent("#0B5394"), Ok(0x0b5394));
        assert_eq!(parse_accent(" 8a1c1c "), Ok(0x8a1c1c));
        for bad in ["", "#12345", "#1234567", "#12345g", "rot", "#-12345"] {
            assert_eq!(parse_accent(bad), Err(DesignError::AccentFormat), "{bad:?}");
        }
        assert_eq!(accent_text(0x0b5394), "#0b5394");
        assert_eq!(accent_text(0), "#000000");
    }

    #[test]
    fn white_text_needs_a_dark_enough_accent() {
        // Black is the best (21:1), white on white the worst (1:1).
        assert!((white_text_contrast(0x000000) - 21.0).abs() < 1e-9);
        assert!((white_text_contrast(0xffffff) - 1.0).abs() < 1e-9);
        // The pages' own blue and red pass; a light yellow and a mid grey do not.
        assert!(design("#0b5394", "").is_ok());
        assert!(design("#8a1c1c", "Gilt in der Altstadt").is_ok());
        assert!(matches!(design("#f4d03f", ""), Err(DesignError::Contrast { .. })));
        assert!(matches!(design("#999999", ""), Err(DesignError::Contrast { .. })));
        // #767676 is the lightest grey that passes on white, so white passes on it too.
        assert!(white_text_contrast(0x767676) >= contrast_ratio_min);
        assert!(white_text_contrast(0x777777) < contrast_ratio_min);
    }
}
