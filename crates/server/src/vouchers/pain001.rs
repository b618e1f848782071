//! The payout file: a SEPA credit transfer initiation, ISO 20022 `pain.001.001.09`,
//! one payment (`PmtInf`) from the city's account with one transaction per settled
//! merchant, to upload to the city's bank.
//!
//! Identifiers are derived, not random, so the file of a payout run is the same
//! every time it is downloaded and a bank that has seen its `MsgId` refuses a second
//! upload: `MsgId` and `PmtInfId` name the programme and the period, `EndToEndId`
//! the settlement (unique in the tenant). `CreDtTm` is the time of the run's last
//! settlement, not the download. Amounts are euros with two decimals; `CtrlSum` is
//! their sum and `NbOfTxs` their count, in the group header and the payment alike.
//! Settlements of amount zero are left out (a bank refuses zero transfers).
//!
//! Text fields are reduced to the SEPA basic Latin character set (EPC guidance):
//! German umlauts and ß are spelled out, anything else outside the set becomes a
//! space, then XML-escaped, and cut to the field's maximum length.

use sturmfest_core::{Cents, TimeMs};

use crate::vouchers::settlement::decimal;

/// One creditor transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// `EndToEndId`, at most 35 characters.
    pub end_to_end_id: String,
    pub creditor_name: String,
    pub creditor_iban: String,
    pub amount: Cents,
    /// Unstructured remittance text, at most 140 characters.
    pub remittance: String,
}

/// The city's account that pays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Debtor {
    pub name: String,
    pub iban: String,
    /// Optional: within SEPA the IBAN suffices ("IBAN only").
    pub bic: Option<String>,
}

/// One payout run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    pub message_id: String,
    pub created_at: TimeMs,
    /// Requested execution date, `YYYY-MM-DD`.
    pub execution_date: String,
    pub debtor: Debtor,
    pub transfers: Vec<Transfer>,
}

/// EPC basic Latin: letters, digits, space and `/ - ? : ( ) . , ' +`.
fn sepa_text(text: &str, chars_max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let spelled = match c {
            'ä' => "ae",
            'ö' => "oe",
            'ü' => "ue",
            'Ä' => "Ae",
            'Ö' => "Oe",
            'Ü' => "Ue",
            'ß' => "ss",
            'é' | 'è' | 'ê' => "e",
            '&' => "+",
            c if c.is_ascii_alphanumeric() || " /-?:().,'+".contains(c) => {
                out.push(c);
                continue;
            }
            _ => " ",
        };
        out.push_str(spelled);
    }
    let trimmed: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = trimmed.chars().take(chars_max).collect();
    // `'` is in the set and must be escaped in XML; nothing else in it is special.
    cut.replace('\'', "&apos;")
}

fn iso_time(at: TimeMs) -> String {
    let zone = jiff::tz::TimeZone::get(crate::vouchers::programme_time_zone).expect("Europe/Berlin is bundled");
    match jiff::Timestamp::from_millisecond(at.0) {
        Ok(t) => t.to_zoned(zone).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => String::from("1970-01-01T00:00:00+00:00"),
    }
}

/// The sum of the transfers' amounts.
pub fn control_sum(transfers: &[Transfer]) -> Cents {
    transfers.iter().fold(Cents::ZERO, |sum, t| sum.plus(t.amount))
}

/// The XML document.
pub fn document(p: &Payout) -> String {
    let count = p.transfers.len();
    let sum = decimal(control_sum(&p.transfers));
    let msg = sepa_text(&p.message_id, 35);
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">\n");
    x.push_str("<CstmrCdtTrfInitn>\n<GrpHdr>\n");
    x.push_str(&format!("<MsgId>{msg}</MsgId>\n<CreDtTm>{}</CreDtTm>\n", iso_time(p.created_at)));
    x.push_str(&format!("<NbOfTxs>{count}</NbOfTxs>\n<CtrlSum>{sum}</CtrlSum>\n"));
    x.push_str(&format!("<InitgPty><Nm>{}</Nm></InitgPty>\n</GrpHdr>\n", sepa_text(&p.debtor.name, 70)));
    x.push_str("<PmtInf>\n");
    x.push_str(&format!("<PmtInfId>{msg}</PmtInfId>\n<PmtMtd>TRF</PmtMtd>\n<BtchBookg>true</BtchBookg>\n"));
    x.push_str(&format!("<NbOfTxs>{count}</NbOfTxs>\n<CtrlSum>{sum}</CtrlSum>\n"));
    x.push_str("<PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf>\n");
    x.push_str(&format!("<ReqdExctnDt><Dt>{}</Dt></ReqdExctnDt>\n", sepa_text(&p.execution_date, 10)));
    x.push_str(&format!("<Dbtr><Nm>{}</Nm></Dbtr>\n", sepa_text(&p.debtor.name, 70)));
    x.push_str(&format!("<DbtrAcct><Id><IBAN>{}</IBAN></Id></DbtrAcct>\n", sepa_text(&p.debtor.iban, 34)));
    match &p.debtor.bic {
        Some(bic) => x.push_str(&format!("<DbtrAgt><FinInstnId><BICFI>{}</BICFI></FinInstnId></DbtrAgt>\n", sepa_text(bic, 11))),
        None => x.push_str("<DbtrAgt><FinInstnId><Othr><Id>NOTPROVIDED</Id></Othr></FinInstnId></DbtrAgt>\n"),
    }
    x.push_str("<ChrgBr>SLEV</ChrgBr>\n");
    for t in &p.transfers {
        x.push_str("<CdtTrfTxInf>\n");
        x.push_str(&format!("<PmtId><EndToEndId>{}</EndToEndId></PmtId>\n", sepa_text(&t.end_to_end_id, 35)));
        x.push_str(&format!("<Amt><InstdAmt Ccy=\"EUR\">{}</InstdAmt></Amt>\n", decimal(t.amount)));
        x.push_str(&format!("<Cdtr><Nm>{}</Nm></Cdtr>\n", sepa_text(&t.creditor_name, 70)));
        x.push_str(&format!("<CdtrAcct><Id><IBAN>{}</IBAN></Id></CdtrAcct>\n", sepa_text(&t.creditor_iban, 34)));
        x.push_str(&format!("<RmtInf><Ustrd>{}</Ustrd></RmtInf>\n", sepa_text(&t.remittance, 140)));
        x.push_str("</CdtTrfTxInf>\n");
    }
    x.push_str("</PmtInf>\n</CstmrCdtTrfInitn>\n</Document>\n");
    x
}

#[cfg(test)]
mod tests {
    //! Text is reduced to the SEPA character set and escaped; lengths are cut.

    use super::*;

    #[test]
    fn names_are_spelled_in_the_sepa_character_set_and_cut_to_length() {
        assert_eq!(sepa_text("Bäckerei Müller & Söhne <GmbH>", 70), "Baeckerei Mueller + Soehne GmbH");
        assert_eq!(sepa_text("O'Brien's Straße", 70), "O&apos;Brien&apos;s Strasse");
        assert_eq!(sepa_text(&"x".repeat(50), 35).len(), 35);
    }
}
