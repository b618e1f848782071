//! The tenant's online payments (see `payments`): starting one for a live hold, and
//! the provider's verdict, which for a success turns the hold into an order in the
//! same command — or re-holds the same places if the hold ended meanwhile and they
//! are still free, or else records that the money is owed back.

use crate::event::{SaleStatus, SeatState};
use crate::ids::*;
use crate::limits::*;
use crate::outcome::*;
use crate::payments::*;
use crate::state::{Hold, Places};

use super::Tenant;

impl Tenant {
    pub fn payment(&self, id: PaymentId) -> Option<&Payment> {
        let index = id.0.checked_sub(1)?;
        self.payments.get(usize::try_from(index).ok()?)
    }

    pub fn payments(&self) -> &[Payment] {
        &self.payments
    }

    pub fn payment_by_session(&self, provider: ProviderKind, session: &str) -> Option<&Payment> {
        let id = self.payment_sessions.get(&(provider, session.to_string()))?;
        self.payment(*id)
    }

    pub(super) fn payment_command(&mut self, command: &PaymentCommand) -> Outcome {
        match command {
            PaymentCommand::Start { hold, amount, provider, session, buyer } => {
                self.start_payment(*hold, *amount, *provider, session, buyer)
            }
            PaymentCommand::Succeeded { provider, session } => self.payment_succeeded(*provider, session),
            PaymentCommand::Failed { provider, session, failure } => self.payment_failed(*provider, session, *failure),
            PaymentCommand::Refunded { payment, reference } => self.payment_refunded(*payment, reference),
        }
    }

    /// Order: tenant payment capacity; session reference (length, unused); missing
    /// hold (already confirmed, ended, unknown); channel online; sale gate; amount;
    /// buyer field lengths.
    fn start_payment(
        &mut self,
        hold_id: HoldId,
        amount: Cents,
        provider: ProviderKind,
        session: &str,
        buyer: &crate::command::Buyer,
    ) -> Outcome {
        if self.payments.len() >= tenant_payments_max {
            return Err(Rejection::Payment(PaymentRejection::TooManyPayments));
        }
        if session.is_empty()
            || session.len() > payment_session_bytes_max
            || self.payment_sessions.contains_key(&(provider, session.to_string()))
        {
            return Err(Rejection::Payment(PaymentRejection::InvalidSession));
        }
        let Some(hold) = self.holds.get(&hold_id) else {
            return Err(self.missing_hold(hold_id));
        };
        if hold.channel != Channel::Online {
            return Err(Rejection::Payment(PaymentRejection::NotOnline));
        }
        self.events[hold.event.0 as usize].check_sale(self.now)?;
        let total = hold.price_each.times(hold.places.count());
        if amount != total {
            return Err(Rejection::Payment(PaymentRejection::AmountMismatch { expected: total }));
        }
        if buyer.name.len() > buyer_name_bytes_max || buyer.email.len() > buyer_email_bytes_max {
            return Err(Rejection::InvalidRequest { reason: "buyer name or e-mail too long" });
        }
        let id = PaymentId(self.payments.len() as u64 + 1);
        self.payments.push(Payment {
            id,
            hold: hold.clone(),
            amount,
            provider,
            session: session.to_string(),
            buyer: buyer.clone(),
            started_at: self.now,
            state: PaymentState::Started,
            updated_at: self.now,
        });
        self.payment_sessions.insert((provider, session.to_string()), id);
        Ok(payment_reply(&self.payments[(id.0 - 1) as usize]))
    }

    /// Order: unknown session. Never rejects after that: a paid payment is answered
    /// with its settled state, and a started or failed one is settled now.
    fn payment_succeeded(&mut self, provider: ProviderKind, session: &str) -> Outcome {
        let id = *self
            .payment_sessions
            .get(&(provider, session.to_string()))
            .ok_or(Rejection::Payment(PaymentRejection::UnknownPayment))?;
        let index = (id.0 - 1) as usize;
        let payment = &self.payments[index];
        if payment.state.paid() {
            return Ok(payment_reply(payment));
        }
        // A success after a reported failure still means money was taken: settle it.
        let hold_id = payment.hold.id;
        let reference = payment.reference();
        let buyer = payment.buyer.clone();
        let state = if let Some(live) = self.holds.get(&hold_id) {
            if matches!(self.events[live.event.0 as usize].sale, SaleStatus::Closed) {
                PaymentState::RefundDue
            } else {
                let hold = self.holds.remove(&hold_id).expect("checked above");
                self.unindex_expiry(&hold);
                PaymentState::Succeeded { order: self.sell_hold(hold, &reference, &buyer) }
            }
        } else if self.confirmed.contains_key(&hold_id) {
            // Sold already (another payment of the same hold, or the counter).
            PaymentState::RefundDue
        } else {
            let old = self.payments[index].hold.clone();
            match self.rehold(&old) {
                Some(hold) => PaymentState::Succeeded { order: self.sell_hold(hold, &reference, &buyer) },
                None => PaymentState::RefundDue,
            }
        };
        let payment = &mut self.payments[index];
        payment.state = state;
        payment.updated_at = self.now;
        Ok(payment_reply(payment))
    }

    /// Takes the places of an ended hold again under a fresh hold id, if the sale is
    /// not closed, every seat is free and the standing area, category and channel
    /// quota have room. The new hold is not indexed for expiry: it is sold at once.
    fn rehold(&mut self, old: &Hold) -> Option<Hold> {
        let event = &self.events[old.event.0 as usize];
        if matches!(event.sale, SaleStatus::Closed) || self.holds.len() >= tenant_holds_max {
            return None;
        }
        let n = old.places.count();
        match &old.places {
            Places::Seats(seats) => {
                if seats.iter().any(|s| event.seats[s.0 as usize] != SeatState::Free) {
                    return None;
                }
            }
            Places::Standing { area, quantity } => {
                if event.areas[usize::from(area.0)].free() < *quantity {
                    return None;
                }
            }
        }
        if event.categories[usize::from(old.category.0)].free() < n {
            return None;
        }
        if let Some(quota) = event.spec.quotas[old.channel.index()] {
            let used = event.channels[old.channel.index()];
            if used.held + used.sold + n > quota {
                return None;
            }
        }
        let hold = Hold { id: HoldId(self.next_hold), created_at: self.now, expires_at: self.now, ..old.clone() };
        self.next_hold += 1;
        self.take_places(&hold);
        Some(hold)
    }

    /// Order: unknown session. A paid or already failed payment is answered as it is.
    fn payment_failed(&mut self, provider: ProviderKind, session: &str, failure: PaymentFailure) -> Outcome {
        let id = *self
            .payment_sessions
            .get(&(provider, session.to_string()))
            .ok_or(Rejection::Payment(PaymentRejection::UnknownPayment))?;
        let now = self.now;
        let payment = &mut self.payments[(id.0 - 1) as usize];
        if payment.state == PaymentState::Started {
            payment.state = PaymentState::Failed(failure);
            payment.updated_at = now;
        }
        Ok(payment_reply(payment))
    }

    /// Order: unknown payment; reference length; the payment owes a refund (a
    /// repeated record of the same reference is answered as it is).
    fn payment_refunded(&mut self, id: PaymentId, reference: &str) -> Outcome {
        let now = self.now;
        let index = id.0.checked_sub(1).and_then(|i| usize::try_from(i).ok());
        let payment = index
            .and_then(|i| self.payments.get_mut(i))
            .ok_or(Rejection::Payment(PaymentRejection::UnknownPayment))?;
        if reference.is_empty() || reference.len() > payment_ref_bytes_max {
            return Err(Rejection::InvalidRequest { reason: "refund reference must be 1 to 128 bytes" });
        }
        match &payment.state {
            PaymentState::RefundDue => {
                payment.state = PaymentState::Refunded { reference: reference.to_string() };
                payment.updated_at = now;
                Ok(payment_reply(payment))
            }
            PaymentState::Refunded { reference: done } if done == reference => Ok(payment_reply(payment)),
            _ => Err(Rejection::Payment(PaymentRejection::NoRefundDue)),
        }
    }

    /// Rebuilds the session index from snapshot parts.
    pub(super) fn restore_payments(&mut self, payments: Vec<Payment>) -> Result<(), String> {
        for payment in payments {
            if payment.id.0 != self.payments.len() as u64 + 1 {
                return Err("payments must be dense and in id order".into());
            }
            if self.payment_sessions.insert((payment.provider, payment.session.clone()), payment.id).is_some() {
                return Err("two payments with one session".into());
            }
            self.payments.push(payment);
        }
        Ok(())
    }
}

fn payment_reply(payment: &Payment) -> Reply {
    Reply::Payment(PaymentReply { payment: payment.id, state: payment.state.clone() })
}
