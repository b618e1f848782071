//! After a flash sale: the pure check that the server's order list, its availability
//! counters and what the load generator was told agree — no seat sold twice, no
//! ticket lost or invented, every acknowledged order present with its places.
//!
//! Kept free of I/O so tests can feed it fake order lists.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// The places of a hold or the valid tickets of an order, in a canonical form so two
/// of them compare with `==`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Places {
    /// Sorted seat ids.
    pub seats: Vec<u32>,
    /// Standing area → quantity.
    pub standing: BTreeMap<u32, u32>,
}

impl Places {
    pub fn count(&self) -> u32 {
        self.seats.len() as u32 + self.standing.values().sum::<u32>()
    }

    fn add(&mut self, place: &Value) -> Result<(), String> {
        if let Some(seat) = place.get("seat").and_then(id_of) {
            self.seats.push(seat);
        } else if let Some(area) = place.get("area").and_then(id_of) {
            let quantity = place.get("quantity").and_then(Value::as_u64).unwrap_or(1) as u32;
            *self.standing.entry(area).or_default() += quantity;
        } else {
            return Err(format!("a place without seat or area: {place}"));
        }
        Ok(())
    }

    fn finish(mut self) -> Places {
        self.seats.sort_unstable();
        self
    }

    /// From a hold reply's `places` array.
    pub fn from_hold_reply(body: &Value) -> Result<Places, String> {
        let list = body.get("places").and_then(Value::as_array).ok_or("hold reply without places")?;
        let mut places = Places::default();
        for place in list {
            places.add(place)?;
        }
        Ok(places.finish())
    }
}

/// An id given either as a number or as an object with an `id` field.
fn id_of(v: &Value) -> Option<u32> {
    v.as_u64().or_else(|| v.get("id").and_then(Value::as_u64)).map(|n| n as u32)
}

/// One order as read back from `GET /events/{event}/orders`, valid tickets only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: u64,
    pub places: Places,
    pub cancelled_tickets: u32,
}

impl OrderRecord {
    pub fn parse(v: &Value) -> Result<OrderRecord, String> {
        let id = v
            .get("order_id")
            .or_else(|| v.get("id"))
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("order without a numeric id: {v}"))?;
        let tickets = v.get("tickets").and_then(Value::as_array).ok_or_else(|| format!("order {id} without tickets"))?;
        let mut places = Places::default();
        let mut cancelled_tickets = 0;
        for ticket in tickets {
            if is_cancelled(ticket) {
                cancelled_tickets += 1;
            } else {
                places.add(ticket).map_err(|e| format!("order {id}: {e}"))?;
            }
        }
        Ok(OrderRecord { id, places: places.finish(), cancelled_tickets })
    }
}

fn is_cancelled(ticket: &Value) -> bool {
    let set = |field: &str| ticket.get(field).is_some_and(|v| !v.is_null() && v != &Value::Bool(false));
    let state_says = ["state", "status"]
        .iter()
        .any(|f| ticket.get(*f).and_then(Value::as_str).is_some_and(|s| s == "cancelled" || s == "canceled"));
    set("cancelled_at") || set("cancelled") || state_says
}

/// An order the load generator got a 201 for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckedOrder {
    pub order_id: u64,
    pub fan: u64,
    pub places: Places,
}

/// The event's counters from `GET /events/{event}/availability`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub capacity: u64,
    pub free: u64,
    pub held: u64,
    pub sold: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Verification {
    pub orders: u64,
    pub valid_tickets: u64,
    pub cancelled_tickets: u64,
    pub acknowledged: u64,
    /// Orders on the server that no fan saw a 201 for (e.g. the reply timed out);
    /// not a violation: the client simply did not hear back.
    pub unacknowledged: u64,
    /// Each a sentence; empty means the run was correct.
    pub violations: Vec<String>,
}

/// Listed violations are capped so one systematic bug does not flood the report.
const violations_listed_max: usize = 20;

pub fn verify(
    counts: Counts,
    area_capacity: &BTreeMap<u32, u32>,
    orders: &[OrderRecord],
    acked: &[AckedOrder],
) -> Verification {
    let mut v = Verification { orders: orders.len() as u64, acknowledged: acked.len() as u64, ..Default::default() };
    let mut violations = Vec::new();
    let mut by_id: HashMap<u64, &OrderRecord> = HashMap::with_capacity(orders.len());
    let mut seat_owner: HashMap<u32, u64> = HashMap::new();
    let mut standing_sold: BTreeMap<u32, u64> = BTreeMap::new();
    let mut double_sold = 0u64;
    for order in orders {
        if by_id.insert(order.id, order).is_some() {
            violations.push(format!("order {} is listed twice", order.id));
        }
        v.valid_tickets += order.places.count() as u64;
        v.cancelled_tickets += order.cancelled_tickets as u64;
        for &seat in &order.places.seats {
            if let Some(first) = seat_owner.insert(seat, order.id) {
                double_sold += 1;
                if violations.len() < violations_listed_max {
                    violations.push(format!("seat {seat} is in valid tickets of orders {first} and {}", order.id));
                }
            }
        }
        for (&area, &quantity) in &order.places.standing {
            *standing_sold.entry(area).or_default() += quantity as u64;
        }
    }
    if double_sold > 0 {
        violations.push(format!("{double_sold} seat(s) sold twice"));
    }
    for (area, sold) in &standing_sold {
        match area_capacity.get(area) {
            Some(&cap) if *sold > cap as u64 => {
                violations.push(format!("standing area {area}: {sold} valid tickets exceed its capacity {cap}"))
            }
            None if !area_capacity.is_empty() => violations.push(format!("tickets for unknown standing area {area}")),
            _ => {}
        }
    }
    if v.valid_tickets + counts.free + counts.held != counts.capacity {
        violations.push(format!(
            "valid tickets {} + free {} + held {} = {} but capacity is {}",
            v.valid_tickets,
            counts.free,
            counts.held,
            v.valid_tickets + counts.free + counts.held,
            counts.capacity
        ));
    }
    if v.valid_tickets != counts.sold {
        violations.push(format!("availability says sold {} but the orders hold {} valid tickets", counts.sold, v.valid_tickets));
    }
    let mut missing = 0u64;
    let mut different = 0u64;
    let mut acked_ids = std::collections::HashSet::with_capacity(acked.len());
    for ack in acked {
        acked_ids.insert(ack.order_id);
        match by_id.get(&ack.order_id) {
            None => {
                missing += 1;
                if violations.len() < violations_listed_max {
                    violations.push(format!("order {} acknowledged to fan-{} is missing", ack.order_id, ack.fan));
                }
            }
            Some(order) if order.places != ack.places => {
                different += 1;
                if violations.len() < violations_listed_max {
                    violations.push(format!(
                        "order {} acknowledged to fan-{} with {:?} is listed with {:?}",
                        ack.order_id, ack.fan, ack.places, order.places
                    ));
                }
            }
            Some(_) => {}
        }
    }
    if missing > 0 {
        violations.push(format!("{missing} acknowledged order(s) missing"));
    }
    if different > 0 {
        violations.push(format!("{different} acknowledged order(s) listed with other places"));
    }
    if acked_ids.len() != acked.len() {
        violations.push(format!(
            "{} acknowledgements share an order id with another fan's",
            acked.len() - acked_ids.len()
        ));
    }
    v.unacknowledged = orders.iter().filter(|o| !acked_ids.contains(&o.id)).count() as u64;
    v.violations = violations;
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seats(ids: &[u32]) -> Places {
        Places { seats: ids.to_vec(), standing: BTreeMap::new() }
    }

    fn order(id: u64, places: Places) -> OrderRecord {
        OrderRecord { id, places, cancelled_tickets: 0 }
    }

    fn ack(order_id: u64, places: Places) -> AckedOrder {
        AckedOrder { order_id, fan: order_id + 100, places }
    }

    fn areas() -> BTreeMap<u32, u32> {
        BTreeMap::from([(0, 10)])
    }

    #[test]
    fn a_consistent_sale_has_no_violations() {
        let standing = Places { seats: vec![], standing: BTreeMap::from([(0, 3)]) };
        let orders = vec![order(0, seats(&[1, 2])), order(1, standing.clone())];
        let acked = vec![ack(0, seats(&[1, 2])), ack(1, standing)];
        let counts = Counts { capacity: 20, free: 15, held: 0, sold: 5 };
        let v = verify(counts, &areas(), &orders, &acked);
        assert_eq!(v.violations, Vec::<String>::new());
        assert_eq!((v.orders, v.valid_tickets, v.unacknowledged), (2, 5, 0));
    }

    #[test]
    fn a_seat_in_two_valid_tickets_is_a_violation() {
        let orders = vec![order(0, seats(&[1, 2])), order(1, seats(&[2, 3]))];
        let counts = Counts { capacity: 10, free: 6, held: 0, sold: 4 };
        let v = verify(counts, &areas(), &orders, &[]);
        assert!(v.violations.iter().any(|m| m == "seat 2 is in valid tickets of orders 0 and 1"), "{:?}", v.violations);
        assert!(v.violations.iter().any(|m| m == "1 seat(s) sold twice"));
    }

    #[test]
    fn a_missing_acknowledged_order_is_a_violation() {
        let orders = vec![order(0, seats(&[1]))];
        let acked = vec![ack(0, seats(&[1])), ack(7, seats(&[2]))];
        let counts = Counts { capacity: 10, free: 9, held: 0, sold: 1 };
        let v = verify(counts, &areas(), &orders, &acked);
        assert!(v.violations.iter().any(|m| m == "order 7 acknowledged to fan-107 is missing"), "{:?}", v.violations);
    }

    #[test]
    fn an_acknowledged_order_listed_with_other_seats_is_a_violation() {
        let v = verify(
            Counts { capacity: 10, free: 9, held: 0, sold: 1 },
            &areas(),
            &[order(0, seats(&[1]))],
            &[ack(0, seats(&[2]))],
        );
        assert!(v.violations.iter().any(|m| m.contains("listed with other places")), "{:?}", v.violations);
    }

    #[test]
    fn tickets_that_do_not_add_up_to_capacity_are_a_violation() {
        // One ticket too many: sold 2 + free 9 exceeds capacity 10.
        let orders = vec![order(0, seats(&[1, 2]))];
        let v = verify(Counts { capacity: 10, free: 9, held: 0, sold: 1 }, &areas(), &orders, &[]);
        assert!(v.violations.iter().any(|m| m.contains("but capacity is 10")), "{:?}", v.violations);
        assert!(v.violations.iter().any(|m| m.contains("availability says sold 1")));
        assert_eq!(v.unacknowledged, 1);
    }

    #[test]
    fn an_oversold_standing_area_is_a_violation() {
        let standing = Places { seats: vec![], standing: BTreeMap::from([(0, 11)]) };
        let v = verify(Counts { capacity: 11, free: 0, held: 0, sold: 11 }, &areas(), &[order(0, standing)], &[]);
        assert!(v.violations.iter().any(|m| m.contains("exceed its capacity 10")), "{:?}", v.violations);
    }

    #[test]
    fn orders_parse_with_cancelled_tickets_left_out() {
        let v = json!({"order_id": 4, "tickets": [
            {"seat": 9, "state": "valid"},
            {"seat": {"id": 3}, "cancelled_at": null},
            {"seat": 5, "cancelled_at": "2026-01-01T00:00:00Z"},
            {"area": 1, "state": "valid"},
            {"area": 1}]});
        let o = OrderRecord::parse(&v).unwrap();
        assert_eq!(o.id, 4);
        assert_eq!(o.places.seats, vec![3, 9]);
        assert_eq!(o.places.standing, BTreeMap::from([(1, 2)]));
        assert_eq!(o.cancelled_tickets, 1);
    }

    #[test]
    fn hold_places_parse_seats_and_standing_quantities() {
        let body = json!({"places": [{"seat": 13, "row": "1"}, {"seat": 12}, {"area": 0, "quantity": 2}]});
        let p = Places::from_hold_reply(&body).unwrap();
        assert_eq!(p, Places { seats: vec![12, 13], standing: BTreeMap::from([(0, 2)]) });
        assert_eq!(p.count(), 4);
    }
}
