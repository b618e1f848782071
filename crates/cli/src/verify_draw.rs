//! `sturmfest verify-draw`: recomputes a published waiting-room draw from its
//! revealed seed and checks the commitment and the published order (docs/DRAW.md).

use std::io::Read;
use std::path::PathBuf;

use sturmfest_server::draw::{DrawDefect, DrawDocument, parse_queue_id};

/// Largest draw document read: ten million ids in two lists, with room to spare.
const document_bytes_max: u64 = 1 << 30;

#[derive(clap::Args, Debug)]
pub struct VerifyDrawArgs {
    /// The published draw (JSON), or `-` for standard input.
    pub file: PathBuf,
    /// Also print the place of this queue id (32 hex digits).
    #[arg(long)]
    pub id: Option<String>,
    /// Print the whole recomputed order, one id per line, first place first.
    #[arg(long)]
    pub print_order: bool,
}

pub fn run(args: VerifyDrawArgs) -> Result<(), String> {
    let mut text = String::new();
    let reader: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?)
    };
    reader.take(document_bytes_max).read_to_string(&mut text).map_err(|e| format!("reading the draw: {e}"))?;
    let document: DrawDocument =
        serde_json::from_str(&text).map_err(|e| format!("not a draw document (docs/DRAW.md): {e}"))?;
    let wanted = args.id.as_deref().map(parse_queue_id).transpose().map_err(|e| e.to_string())?;
    println!(
        "draw of {} event {}: {} entries, commitment {} published {}, opening {}",
        document.tenant,
        document.event,
        document.entries.len(),
        document.commitment,
        document.committed_at,
        document.opens_at
    );
    let checked = match document.check() {
        Ok(checked) => checked,
        Err(DrawDefect::NotRevealed) => {
            println!("not revealed yet: the seed is published at the opening; the entry list is well-formed");
            return Ok(());
        }
        Err(defect) => return Err(format!("the draw does NOT verify: {defect}")),
    };
    println!("SHA-256(seed) equals the commitment: yes");
    if checked.order_published {
        println!("the published order is exactly the order the seed gives: yes");
    } else {
        println!("no order published; recomputed it from the seed");
    }
    if let Some(id) = wanted {
        match checked.order.iter().position(|x| *x == id) {
            Some(place) => println!("{id}: place {} of {}", place + 1, checked.order.len()),
            None => return Err(format!("{id} is not in this draw")),
        }
    }
    if args.print_order {
        for id in &checked.order {
            println!("{id}");
        }
    }
    println!("result: OK — the draw is fair as committed");
    Ok(())
}
