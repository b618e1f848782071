//! The seat-map import of the club office: a small line format a club can write
//! in a spreadsheet (docs/VENUE-IMPORT.md), parsed into the core's `VenueSpec`
//! with errors that name the line. The core validates the result again when the
//! venue is created; this parser only turns text into structure, and reports
//! everything wrong at once so a club fixes its file in one go.
//!
//! ```text
//! venue,Eisarena am Stadtpark
//! A,1,1,20          block, row, first seat, last seat (numbers)
//! A,2,1,22
//! standing,Stehplatz Nord,1500
//! ```
//! Fields are separated by `,` or `;` (German spreadsheets save `;`); blank lines
//! and lines starting with `#` are skipped, as is a header line
//! `block,row,seat_from,seat_to`.

use sturmfest_core as core;

/// Most errors one import lists; the rest are summed up in one line.
pub const import_errors_max: usize = 50;
/// Seats of one row line; the core's own row limit applies on top.
pub const import_row_seats_max: u32 = 1_000;
/// Horizontal distance between two seats, vertical between two rows, in venue units.
const seat_pitch: i32 = 10;
const row_pitch: i32 = 10;
/// Empty rows left between two blocks on the drawn map.
const block_gap_rows: i32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// 1-based line number in the file.
    pub line: usize,
    pub message: String,
}

/// What the preview shows before anything is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCounts {
    pub blocks: usize,
    pub rows: usize,
    pub seats: u32,
    pub standing_areas: usize,
    pub standing_places: u32,
}

pub fn counts(spec: &core::VenueSpec) -> ImportCounts {
    ImportCounts {
        blocks: spec.blocks.len(),
        rows: spec.blocks.iter().map(|b| b.rows.len()).sum(),
        seats: spec.blocks.iter().flat_map(|b| &b.rows).map(|r| r.seats.len() as u32).sum(),
        standing_areas: spec.standing.len(),
        standing_places: spec.standing.iter().map(|s| s.capacity).sum(),
    }
}

/// Parses an import; `name` is used when the file has no `venue,` line.
pub fn parse(text: &str, name: &str) -> Result<core::VenueSpec, Vec<ImportError>> {
    let mut errors = Vec::new();
    let mut spec = core::VenueSpec { name: name.trim().to_string(), blocks: Vec::new(), standing: Vec::new() };
    let mut err = |line: usize, message: String| errors.push(ImportError { line, message });
    let mut y = 0;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let raw = raw.trim().trim_start_matches('\u{feff}');
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = raw.split([',', ';']).map(str::trim).collect();
        match fields[0].to_ascii_lowercase().as_str() {
            "venue" => match fields.get(1) {
                Some(n) if !n.is_empty() && fields.len() == 2 => spec.name = n.to_string(),
                _ => err(line, "write `venue,<name>`".into()),
            },
            "standing" => {
                if fields.len() != 3 || fields[1].is_empty() {
                    err(line, "write `standing,<name>,<capacity>`".into());
                    continue;
                }
                match fields[2].parse::<u32>() {
                    Ok(capacity) if capacity > 0 => {
                        if spec.standing.iter().any(|s| s.name == fields[1]) {
                            err(line, format!("standing area {:?} appears twice", fields[1]));
                        } else {
                            spec.standing.push(core::StandingSpec { name: fields[1].to_string(), capacity });
                        }
                    }
                    _ => err(line, format!("capacity {:?} is not a positive whole number", fields[2])),
                }
            }
            "block" if line_is_header(&fields) => {}
            _ => {
                if fields.len() != 4 {
                    err(line, format!("expected 4 fields `block,row,seat_from,seat_to`, found {}", fields.len()));
                    continue;
                }
                let (block, row) = (fields[0], fields[1]);
                if block.is_empty() || row.is_empty() {
                    err(line, "block and row must not be empty".into());
                    continue;
                }
                let (Ok(from), Ok(to)) = (fields[2].parse::<u32>(), fields[3].parse::<u32>()) else {
                    err(line, format!("seat numbers {:?} and {:?} must be whole numbers", fields[2], fields[3]));
                    continue;
                };
                if from > to {
                    err(line, format!("first seat {from} is after last seat {to}"));
                    continue;
                }
                if to - from + 1 > import_row_seats_max {
                    err(line, format!("a row holds at most {import_row_seats_max} seats"));
                    continue;
                }
                let block_index = match spec.blocks.iter().position(|b| b.name == block) {
                    Some(i) if i + 1 == spec.blocks.len() => i,
                    Some(_) => {
                        err(line, format!("block {block:?} continues after another block began; keep a block's rows together"));
                        continue;
                    }
                    None => {
                        if !spec.blocks.is_empty() {
                            y += block_gap_rows * row_pitch;
                        }
                        spec.blocks.push(core::BlockSpec { name: block.to_string(), rows: Vec::new() });
                        spec.blocks.len() - 1
                    }
                };
                let rows = &mut spec.blocks[block_index].rows;
                if rows.iter().any(|r| r.label == row) {
                    err(line, format!("row {row:?} of block {block:?} appears twice"));
                    continue;
                }
                let seats = (from..=to)
                    .enumerate()
                    .map(|(i, label)| core::SeatSpec { label: label.to_string(), x: i as i32 * seat_pitch, y })
                    .collect();
                rows.push(core::RowSpec { label: row.to_string(), seats });
                y += row_pitch;
            }
        }
    }
    if spec.name.is_empty() {
        errors.push(ImportError { line: 0, message: "the venue needs a name (a `venue,<name>` line or the name field)".into() });
    }
    if spec.blocks.is_empty() && spec.standing.is_empty() && errors.is_empty() {
        errors.push(ImportError { line: 0, message: "the file names no seats and no standing areas".into() });
    }
    if errors.is_empty() {
        Ok(spec)
    } else {
        if errors.len() > import_errors_max {
            let more = errors.len() - import_errors_max;
            errors.truncate(import_errors_max);
            errors.push(ImportError { line: 0, message: format!("{more} more errors not shown") });
        }
        Err(errors)
    }
}

fn line_is_header(fields: &[&str]) -> bool {
    fields.get(1).is_some_and(|f| f.eq_ignore_ascii_case("row"))
}

#[cfg(test)]
mod tests {
    //! Each kind of line, the header and comments; every error names its line and
    //! all errors of a file are reported together; the result is a venue the core
    //! accepts, with a row's seats in order.

    use super::*;

    #[test]
    fn a_valid_file_becomes_a_venue_the_core_accepts() {
        let text = "\u{feff}# Eisarena\nvenue;Eisarena\nblock;row;seat_from;seat_to\nA;1;1;10\nA;2;1;12\n\nB,1,5,8\nstanding,Stehplatz Nord,1500\n";
        let spec = parse(text, "ignored").unwrap();
        assert_eq!(spec.name, "Eisarena");
        assert_eq!(counts(&spec), ImportCounts { blocks: 2, rows: 3, seats: 26, standing_areas: 1, standing_places: 1500 });
        let b = &spec.blocks[1].rows[0];
        assert_eq!(b.seats.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["5", "6", "7", "8"]);
        assert!(spec.blocks[1].rows[0].seats[0].y > spec.blocks[0].rows[1].seats[0].y, "blocks are drawn apart");
        core::Venue::build(spec).expect("the core accepts it");
    }

    #[test]
    fn every_error_names_its_line_and_all_are_reported_together() {
        let text = "A,1,1,10\nA,1,1,5\nA,x,1\nB,1,2,9\nA,3,1,2\nB,2,9,2\nstanding,Nord\nstanding,Süd,-5\nB,3,a,3\n";
        let errors = parse(text, "Halle").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 5, 6, 7, 8, 9], "{errors:#?}");
        assert!(errors[0].message.contains("appears twice"));
        assert!(errors[1].message.contains("expected 4 fields"));
        assert!(errors[2].message.contains("keep a block's rows together"));
        assert!(errors[3].message.contains("after last seat"));
        assert!(errors[4].message.contains("standing,<name>,<capacity>"));
        assert!(errors[5].message.contains("positive whole number"));
        assert!(errors[6].message.contains("whole numbers"));
    }

    #[test]
    fn an_empty_or_nameless_file_is_refused() {
        assert_eq!(parse("# nothing\n", "Halle").unwrap_err()[0].message, "the file names no seats and no standing areas");
        assert!(parse("A,1,1,2\n", " ").unwrap_err()[0].message.contains("needs a name"));
        let many: String = (0..80).map(|_| "x\n").collect();
        let errors = parse(&many, "Halle").unwrap_err();
        assert_eq!(errors.len(), import_errors_max + 1);
        assert_eq!(errors.last().unwrap().message, "30 more errors not shown");
    }
}
