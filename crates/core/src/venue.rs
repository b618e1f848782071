//! Venues: seated blocks of rows of seats, and standing areas with a capacity.
//!
//! A `VenueSpec` is what staff import; `Venue` is its validated, flattened form. Seats
//! are numbered densely in block → row → seat order, so the seats of one row form a
//! contiguous id range and "adjacent" simply means consecutive ids inside a row.

use crate::ids::{AreaId, BlockId, RowId, SeatId};
use crate::limits::*;
use crate::outcome::Rejection;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueSpec {
    pub name: String,
    pub blocks: Vec<BlockSpec>,
    pub standing: Vec<StandingSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    pub name: String,
    pub rows: Vec<RowSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowSpec {
    pub label: String,
    pub seats: Vec<SeatSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatSpec {
    pub label: String,
    /// Drawing position in venue units (the seat map scales it).
    pub x: i32,
    pub y: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandingSpec {
    pub name: String,
    pub capacity: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Venue {
    pub spec: VenueSpec,
    pub blocks: Vec<Block>,
    pub rows: Vec<Row>,
    pub seats: Vec<Seat>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub rows: std::ops::Range<u32>,
    pub seats: std::ops::Range<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub block: BlockId,
    pub seats: std::ops::Range<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    pub block: BlockId,
    pub row: RowId,
}

impl Venue {
    /// Validates a spec; rejections name the first offending element.
    pub fn build(spec: VenueSpec) -> Result<Venue, Rejection> {
        let invalid = |why: &str| Rejection::InvalidVenue { reason: why.to_string() };
        check_name(&spec.name).map_err(|_| invalid("venue name must be 1 to 96 bytes"))?;
        if spec.blocks.is_empty() && spec.standing.is_empty() {
            return Err(invalid("a venue needs at least one block or standing area"));
        }
        if spec.blocks.len() > venue_blocks_max {
            return Err(invalid("too many blocks"));
        }
        if spec.standing.len() > venue_areas_max {
            return Err(invalid("too many standing areas"));
        }
        let mut blocks = Vec::with_capacity(spec.blocks.len());
        let mut rows = Vec::new();
        let mut seats = Vec::new();
        for (b, block) in spec.blocks.iter().enumerate() {
            check_name(&block.name).map_err(|_| invalid("block name must be 1 to 96 bytes"))?;
            if spec.blocks[..b].iter().any(|other| other.name == block.name) {
                return Err(invalid("block names must be unique"));
            }
            if block.rows.is_empty() {
                return Err(invalid("a block needs at least one row"));
            }
            let rows_start = rows.len() as u32;
            let block_seats_start = seats.len() as u32;
            for (r, row) in block.rows.iter().enumerate() {
                check_label(&row.label).map_err(|_| invalid("row label must be 1 to 16 bytes"))?;
                if block.rows[..r].iter().any(|other| other.label == row.label) {
                    return Err(invalid("row labels must be unique within a block"));
                }
                if row.seats.is_empty() || row.seats.len() > row_seats_max {
                    return Err(invalid("a row needs 1 to 512 seats"));
                }
                let seats_start = seats.len() as u32;
                for (s, seat) in row.seats.iter().enumerate() {
                    check_label(&seat.label)
                        .map_err(|_| invalid("seat label must be 1 to 16 bytes"))?;
                    if row.seats[..s].iter().any(|other| other.label == seat.label) {
                        return Err(invalid("seat labels must be unique within a row"));
                    }
                    if seats.len() >= venue_seats_max {
                        return Err(invalid("too many seats"));
                    }
                    seats.push(Seat { block: BlockId(b as u16), row: RowId(rows.len() as u32) });
                }
                if rows.len() >= venue_rows_max {
                    return Err(invalid("too many rows"));
                }
                rows.push(Row { block: BlockId(b as u16), seats: seats_start..seats.len() as u32 });
            }
            blocks.push(Block {
                rows: rows_start..rows.len() as u32,
                seats: block_seats_start..seats.len() as u32,
            });
        }
        for (a, area) in spec.standing.iter().enumerate() {
            check_name(&area.name).map_err(|_| invalid("area name must be 1 to 96 bytes"))?;
            if spec.standing[..a].iter().any(|other| other.name == area.name) {
                return Err(invalid("standing area names must be unique"));
            }
            if area.capacity == 0 || area.capacity > area_capacity_max {
                return Err(invalid("standing capacity must be 1 to 200000"));
            }
        }
        Ok(Venue { spec, blocks, rows, seats })
    }

    pub fn seat_count(&self) -> u32 {
        self.seats.len() as u32
    }

    pub fn seat(&self, id: SeatId) -> Option<&Seat> {
        self.seats.get(id.0 as usize)
    }

    pub fn area_capacity(&self, id: AreaId) -> Option<u32> {
        self.spec.standing.get(usize::from(id.0)).map(|a| a.capacity)
    }

    /// Human label such as `Block A · Row 3 · Seat 12` parts: (block, row, seat).
    pub fn seat_labels(&self, id: SeatId) -> Option<(&str, &str, &str)> {
        let seat = self.seat(id)?;
        let block = &self.spec.blocks[usize::from(seat.block.0)];
        let row_in_block = seat.row.0 - self.blocks[usize::from(seat.block.0)].rows.start;
        let row = &block.rows[row_in_block as usize];
        let seat_in_row = id.0 - self.rows[seat.row.0 as usize].seats.start;
        Some((&block.name, &row.label, &row.seats[seat_in_row as usize].label))
    }

    pub fn seat_spec(&self, id: SeatId) -> Option<&SeatSpec> {
        let seat = self.seat(id)?;
        let block = &self.spec.blocks[usize::from(seat.block.0)];
        let row_in_block = seat.row.0 - self.blocks[usize::from(seat.block.0)].rows.start;
        let seat_in_row = id.0 - self.rows[seat.row.0 as usize].seats.start;
        Some(&block.rows[row_in_block as usize].seats[seat_in_row as usize])
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), ()> {
    if name.trim().is_empty() || name.len() > name_bytes_max || name.chars().any(char::is_control) {
        return Err(());
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), ()> {
    if label.is_empty() || label.len() > label_bytes_max || label.chars().any(char::is_control) {
        return Err(());
    }
    Ok(())
}
