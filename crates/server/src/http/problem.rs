//! RFC 9457 problem details: the one error type of the HTTP layer.
//!
//! Every error a client can see is a `Problem` with a stable `code` (also the last
//! segment of `type`). Internal details are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sturmfest_core as core;
use sturmfest_core::ledger::LedgerRejection;

use crate::http::dto::time_string;
use crate::pow::PowError;
use crate::ratelimit::RetryAfter;
use crate::runtime::ShardError;

pub const problem_type_base: &str = "https://sturmfest.dev/problems/";

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
    pub retry_after_secs: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem { status, code, title, detail: detail.into(), extra: Map::new(), retry_after_secs: None }
    }

    pub fn with(mut self, key: &str, value: Value) -> Problem {
        self.extra.insert(key.to_string(), value);
        self
    }

    pub fn retry_after(mut self, secs: u32) -> Problem {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, code, "Bad request", detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, "Request cannot be processed", detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, code, "Not found", detail)
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            "this call needs the tenant's API token as 'Authorization: Bearer <token>'",
        )
    }

    pub fn overloaded() -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Too busy",
            "the server is at capacity; retry after the given delay",
        )
        .retry_after(1)
    }

    /// A client over its rate limit; `Retry-After` says when its next request counts.
    pub fn rate_limited(retry_after_secs: u32) -> Problem {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
            "too many requests from this address or identity; retry after the given delay",
        )
        .retry_after(retry_after_secs)
    }

    pub fn store_unavailable() -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "Temporarily unavailable",
            "this organizer's data store is not accepting writes; the request was not acknowledged — retry later with the same Idempotency-Key",
        )
        .retry_after(5)
    }

    /// Maps a core rejection: the resource named in the path missing is 404, a
    /// conflict with current inventory or sale state is 409, a request that can never
    /// succeed as written is 422.
    pub fn from_rejection(r: &core::Rejection) -> Problem {
        use core::Rejection::*;
        let (status, title) = match r {
            UnknownEvent | UnknownHold | UnknownOrder | UnknownVenue => (StatusCode::NOT_FOUND, "Not found"),
            HoldEnded => (StatusCode::GONE, "Hold has ended"),
            SaleNotOpen | SaleNotStarted { .. } | SaleEnded | SalePaused { .. } | SaleClosed | SaleAlreadyInState => {
                (StatusCode::CONFLICT, "Sale is not open")
            }
            SeatUnavailable { .. } | SoldOut | NotEnoughAdjacentSeats | QuotaExhausted { .. } | TooManyHolds => {
                (StatusCode::CONFLICT, "Not available")
            }
            HoldAlreadyConfirmed { .. } | TicketAlreadyCancelled => (StatusCode::CONFLICT, "Already done"),
            UnknownRoom => (StatusCode::NOT_FOUND, "Not found"),
            RoomExists => (StatusCode::CONFLICT, "Already done"),
            AdmissionRequired | Room(sturmfest_core::queue::RoomRejection::NotAdmitted) => {
                (StatusCode::FORBIDDEN, "Admission from the waiting room required")
            }
            Room(_) => (StatusCode::CONFLICT, "Waiting room"),
            Ledger(rejection) => ledger_status(rejection),
            Staff(rejection) => staff_status(*rejection),
            Voucher(rejection) => voucher_status(rejection),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "Request cannot be processed"),
        };
        let detail = match r {
            Voucher(rejection) => voucher_detail(rejection).map_or_else(|| r.detail(), str::to_string),
            _ => r.detail(),
        };
        let mut problem = Problem::new(status, r.code(), title, detail);
        match r {
            UnknownSeat { seat } | SeatNotForSale { seat } | SeatUnavailable { seat } | DuplicateSeat { seat } => {
                problem = problem.with("seat", json!(seat.0));
            }
            SalePaused { message, resume_at } => {
                problem = problem.with("message", json!(message));
                if let Some(at) = resume_at {
                    problem = problem.with("resume_at", json!(time_string(*at)));
                }
            }
            SaleNotStarted { opens_at } => problem = problem.with("opens_at", json!(time_string(*opens_at))),
            HoldAlreadyConfirmed { order } => problem = problem.with("order_id", json!(order.0)),
            QuotaExhausted { channel } => problem = problem.with("channel", json!(channel.code())),
            HoldTooLarge { max } | CustomerLimitReached { max } => problem = problem.with("max", json!(max)),
            // Account ids are u128: a string, as JSON numbers lose precision past 2^53.
            Ledger(LedgerRejection::InsufficientBalance { account } | LedgerRejection::CeilingExceeded { account }) => {
                problem = problem.with("account", json!(account.0.to_string()));
            }
            _ => {}
        }
        problem
    }
}

/// A voucher-ledger rejection: a named account or reservation missing is 404; a
/// conflict with current balances, limits or a reservation's state (or a reused id)
/// is 409; an expired reservation is gone (410, like an ended hold); a request that
/// can never succeed as written is 422.
fn ledger_status(r: &LedgerRejection) -> (StatusCode, &'static str) {
    use LedgerRejection::*;
    match r {
        DebitAccountNotFound | CreditAccountNotFound | PendingNotFound => (StatusCode::NOT_FOUND, "Not found"),
        InsufficientBalance { .. } | CeilingExceeded { .. } | RiskLimitExceeded => (StatusCode::CONFLICT, "Balance limit"),
        AccountIdReused | TransferIdReused => (StatusCode::CONFLICT, "Id already used"),
        PendingAlreadyPosted | PendingAlreadyVoided => (StatusCode::CONFLICT, "Already done"),
        PendingExpired => (StatusCode::GONE, "Reservation has expired"),
        TooManyAccounts | TooManyTransfers | TooManyPendings => (StatusCode::CONFLICT, "Not available"),
        AccountIdInvalid | CeilingInvalid | TransferIdInvalid | AccountsSame | RiskDebitNotCard | RiskCreditNotMerchant
        | ProgrammesDiffer | AmountInvalid | TimeoutInvalid | TransferNotPending | AmountExceedsPending => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Request cannot be processed")
        }
    }
}

/// A voucher rejection: a programme, merchant, device, card or redemption named in
/// the request missing is 404; a merchant or device acting for another is 403; a
/// conflict with a card's state, a balance, a limit already reached or an id already
/// used is 409 (a till shows the card's state or balance and asks for less); a
/// request that can never succeed as written (bad name, limits, amount, IBAN, a
/// missing PIN on a card that has one) is 422. A wrong PIN is not a rejection but the
/// accepted reply `PinRefused` (`http/vouchers.rs` answers it `403 pin_refused`).
fn voucher_status(r: &sturmfest_core::vouchers::VoucherRejection) -> (StatusCode, &'static str) {
    use sturmfest_core::vouchers::VoucherRejection::*;
    match r {
        UnknownProgramme | UnknownMerchant | UnknownDevice | UnknownCard | UnknownRedemption => (StatusCode::NOT_FOUND, "Not found"),
        DeviceNotMerchants | RedemptionOfOtherMerchant => (StatusCode::FORBIDDEN, "Not this merchant's"),
        CardInactive | CardBlocked | CardExpired | CardNotInactive | CardNotBlocked | NothingToMove => {
            (StatusCode::CONFLICT, "Card state does not allow this")
        }
        MerchantNotAccepted | DeviceRevoked | ReversalWindowClosed => (StatusCode::CONFLICT, "Not allowed now"),
        // Offline redemption (`vouchers/offline.rs`): a limit reached or an allowance held.
        OfflineNotConfigured | AllowanceOpen | RiskBoundReached => (StatusCode::CONFLICT, "Not allowed now"),
        SequenceReused => (StatusCode::UNPROCESSABLE_ENTITY, "Request cannot be processed"),
        PeriodNotOver | PeriodAlreadySettled | PeriodGap | NetNegative | TooManySettlements => {
            (StatusCode::CONFLICT, "Settlement not possible for this period")
        }
        ProgrammeExists | MerchantExists | DeviceExists | BatchExists | CardExists | CodeDigestTaken | RedemptionIdReused => {
            (StatusCode::CONFLICT, "Id already used")
        }
        TooManyProgrammes | TooManyMerchants | TooManyDevices | TooManyCards | TooManyRedemptions => {
            (StatusCode::CONFLICT, "Not available")
        }
        NameInvalid | LimitsInvalid | IbanInvalid | BatchSizeInvalid | CardIdInvalid | AmountInvalid | LoadTooLarge
        | ReferenceInvalid | ExpiryInvalid | RedemptionIdInvalid | PinRequired | CardsSame | ProgrammesDiffer
        | PeriodInvalid => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Request cannot be processed")
        }
        Ledger(rejection) => ledger_status(rejection),
        // Voucher purchases paid online (`vouchers/purchase.rs`).
        UnknownPurchase => (StatusCode::NOT_FOUND, "Not found"),
        PurchaseIdInvalid | PurchaseSessionInvalid | NoRefundDue | TooManyPurchases => (StatusCode::CONFLICT, "Conflict"),
        EmailInvalid | DesignInvalid => (StatusCode::UNPROCESSABLE_ENTITY, "Request cannot be processed"),
    }
}

/// What a till or office clerk reads for the voucher rejections they meet at the
/// counter; the rest keep the core's generic detail (the code in words).
fn voucher_detail(r: &sturmfest_core::vouchers::VoucherRejection) -> Option<&'static str> {
    use sturmfest_core::vouchers::VoucherRejection::*;
    Some(match r {
        UnknownCard => "no card has this code",
        CardInactive => "this card has not been sold yet: activate it at a sales point first",
        CardBlocked => "this card is blocked; its balance can be moved to another card by the voucher office",
        CardExpired => "this card has expired; its value was booked to the programme",
        CardNotInactive => "this card was already sold",
        PinRequired => "this card needs its PIN",
        MerchantNotAccepted => "this merchant is not accepted in the card's programme",
        ReversalWindowClosed => "the time to reverse this redemption has passed",
        RedemptionIdReused => "this redemption id was already used for a different redemption",
        LoadTooLarge => "the amount is over the programme's limit for one load",
        Ledger(LedgerRejection::InsufficientBalance { .. }) => "the card holds less than this amount; nothing was redeemed",
        Ledger(LedgerRejection::CeilingExceeded { .. }) => "the card would hold more than the programme allows",
        _ => return None,
    })
}

/// A staff rejection: a named account or session missing is 404; a taken login,
/// a disabled account, the last admin or a full tenant conflict with what exists
/// (409); a malformed request is 422.
fn staff_status(r: sturmfest_core::staff::StaffRejection) -> (StatusCode, &'static str) {
    use sturmfest_core::staff::StaffRejection::*;
    match r {
        UnknownAccount | UnknownSession => (StatusCode::NOT_FOUND, "Not found"),
        LoginTaken | AccountDisabled | LastAdmin | TooManyAccounts | SessionExists => (StatusCode::CONFLICT, "Conflict"),
        LoginInvalid | DisplayNameInvalid | PasswordHashInvalid | RolesEmpty | SessionExpiryInvalid => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Request cannot be processed")
        }
    }
}

impl From<ShardError> for Problem {
    fn from(e: ShardError) -> Problem {
        match e {
            ShardError::Overloaded => Problem::overloaded(),
            ShardError::Stopped => Problem::store_unavailable(),
            ShardError::TooLarge { bytes } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "command_too_large",
                "Too large",
                "this venue or event is too large to store as one change; split it or shorten its labels",
            )
            .with("bytes", json!(bytes))
            .with("max_bytes", json!(sturmfest_log::record_payload_bytes_max)),
        }
    }
}

impl From<RetryAfter> for Problem {
    fn from(denial: RetryAfter) -> Problem {
        Problem::rate_limited(denial.secs())
    }
}

/// A text that is no challenge is a bad request; a forged, misdirected or
/// under-worked one can never pass as sent (422); an expired one is gone — fetch a
/// new challenge; a replay conflicts with the earlier redemption; a full spent set
/// is the server's overload, retried shortly.
impl From<PowError> for Problem {
    fn from(e: PowError) -> Problem {
        let (status, title) = match e {
            PowError::Malformed => (StatusCode::BAD_REQUEST, "Bad request"),
            PowError::Forged | PowError::WrongScope | PowError::Insufficient => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Proof of work not accepted")
            }
            PowError::Expired => (StatusCode::GONE, "Challenge expired"),
            PowError::Replayed => (StatusCode::CONFLICT, "Already done"),
            PowError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "Too busy"),
        };
        let problem = Problem::new(status, e.code(), title, e.to_string());
        if e == PowError::Overloaded { problem.retry_after(1) } else { problem }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("type".into(), json!(format!("{problem_type_base}{}", self.code)));
        body.insert("title".into(), json!(self.title));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        body.insert("code".into(), json!(self.code));
        body.extend(self.extra);
        let mut response = (self.status, serde_json::to_vec(&Value::Object(body)).expect("json")).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    //! Ledger rejections map to the statuses a till can act on: 409 to show the card's
    //! balance, 404 for a mistyped card, 410 for a reservation that ran out, 422 for a
    //! request to fix; the code is always the ledger's own.

    use super::*;
    use sturmfest_core::ledger::AccountId;

    #[test]
    fn ledger_rejections_map_to_statuses_and_keep_their_codes() {
        let account = AccountId(u128::MAX);
        let cases = [
            (LedgerRejection::InsufficientBalance { account }, StatusCode::CONFLICT),
            (LedgerRejection::CeilingExceeded { account }, StatusCode::CONFLICT),
            (LedgerRejection::TransferIdReused, StatusCode::CONFLICT),
            (LedgerRejection::DebitAccountNotFound, StatusCode::NOT_FOUND),
            (LedgerRejection::PendingNotFound, StatusCode::NOT_FOUND),
            (LedgerRejection::PendingExpired, StatusCode::GONE),
            (LedgerRejection::AmountInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (LedgerRejection::ProgrammesDiffer, StatusCode::UNPROCESSABLE_ENTITY),
        ];
        for (rejection, status) in cases {
            let problem = Problem::from_rejection(&core::Rejection::Ledger(rejection));
            assert_eq!((problem.status, problem.code), (status, rejection.code()), "{rejection:?}");
        }
        let problem = Problem::from_rejection(&core::Rejection::Ledger(LedgerRejection::InsufficientBalance { account }));
        assert_eq!(problem.extra["account"], json!(u128::MAX.to_string()), "the full id, as a string");
    }

    #[test]
    fn voucher_rejections_map_to_statuses_and_keep_their_codes() {
        use sturmfest_core::vouchers::VoucherRejection as V;
        let account = AccountId(1);
        let cases = [
            (V::UnknownCard, StatusCode::NOT_FOUND),
            (V::UnknownProgramme, StatusCode::NOT_FOUND),
            (V::UnknownMerchant, StatusCode::NOT_FOUND),
            (V::UnknownRedemption, StatusCode::NOT_FOUND),
            (V::RedemptionOfOtherMerchant, StatusCode::FORBIDDEN),
            (V::CardBlocked, StatusCode::CONFLICT),
            (V::CardExpired, StatusCode::CONFLICT),
            (V::CardInactive, StatusCode::CONFLICT),
            (V::ReversalWindowClosed, StatusCode::CONFLICT),
            (V::RedemptionIdReused, StatusCode::CONFLICT),
            (V::Ledger(LedgerRejection::InsufficientBalance { account }), StatusCode::CONFLICT),
            (V::Ledger(LedgerRejection::CeilingExceeded { account }), StatusCode::CONFLICT),
            (V::PinRequired, StatusCode::UNPROCESSABLE_ENTITY),
            (V::IbanInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::LoadTooLarge, StatusCode::UNPROCESSABLE_ENTITY),
            (V::UnknownDevice, StatusCode::NOT_FOUND),
            (V::DeviceNotMerchants, StatusCode::FORBIDDEN),
            (V::CardNotInactive, StatusCode::CONFLICT),
            (V::CardNotBlocked, StatusCode::CONFLICT),
            (V::NothingToMove, StatusCode::CONFLICT),
            (V::MerchantNotAccepted, StatusCode::CONFLICT),
            (V::DeviceRevoked, StatusCode::CONFLICT),
            (V::ProgrammeExists, StatusCode::CONFLICT),
            (V::MerchantExists, StatusCode::CONFLICT),
            (V::DeviceExists, StatusCode::CONFLICT),
            (V::BatchExists, StatusCode::CONFLICT),
            (V::CardExists, StatusCode::CONFLICT),
            (V::CodeDigestTaken, StatusCode::CONFLICT),
            (V::TooManyProgrammes, StatusCode::CONFLICT),
            (V::TooManyMerchants, StatusCode::CONFLICT),
            (V::TooManyDevices, StatusCode::CONFLICT),
            (V::TooManyCards, StatusCode::CONFLICT),
            (V::TooManyRedemptions, StatusCode::CONFLICT),
            (V::NameInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::LimitsInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::BatchSizeInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::CardIdInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::AmountInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::ReferenceInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::ExpiryInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::RedemptionIdInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::CardsSame, StatusCode::UNPROCESSABLE_ENTITY),
            (V::ProgrammesDiffer, StatusCode::UNPROCESSABLE_ENTITY),
            (V::OfflineNotConfigured, StatusCode::CONFLICT),
            (V::AllowanceOpen, StatusCode::CONFLICT),
            (V::RiskBoundReached, StatusCode::CONFLICT),
            (V::SequenceReused, StatusCode::UNPROCESSABLE_ENTITY),
            (V::PeriodInvalid, StatusCode::UNPROCESSABLE_ENTITY),
            (V::PeriodNotOver, StatusCode::CONFLICT),
            (V::PeriodAlreadySettled, StatusCode::CONFLICT),
            (V::PeriodGap, StatusCode::CONFLICT),
            (V::NetNegative, StatusCode::CONFLICT),
            (V::TooManySettlements, StatusCode::CONFLICT),
        ];
        // Every variant but `Ledger` (mapped by `ledger_status`, tested above) is listed.
        assert_eq!(cases.iter().filter(|(r, _)| !matches!(r, V::Ledger(_))).count(), 51);
        for (rejection, status) in cases {
            let problem = Problem::from_rejection(&core::Rejection::Voucher(rejection));
            assert_eq!((problem.status, problem.code), (status, rejection.code()), "{rejection:?}");
        }
        assert_eq!(Problem::from_rejection(&core::Rejection::Voucher(V::Ledger(LedgerRejection::InsufficientBalance { account }))).code, "insufficient_balance");
    }
}
