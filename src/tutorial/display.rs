//! Looking at results: the images of a query as a terminal grid (Unicode
//! half-blocks) or as a PNG contact sheet, each captioned.
use crate::engine::image::grid::{png_contact_sheet, terminal_grid, Tile};
use crate::error::{bad_data, invalid, Error};
use crate::spi::rows::{for_each_image_chunk, image_reader, ImageRow};
use pgrx::prelude::*;
use rayon::prelude::*;

const MAX_TILES: usize = 100;

/// The captioned images of `source_query`; caption_col NULL captions with the image path.
pub fn tiles(source_query: &str, image_col: &str, caption_col: Option<&str>) -> Vec<Tile> {
    let reader = image_reader();
    let mut tiles = Vec::new();
    Spi::connect(|client| {
        for_each_image_chunk(&client, source_query, image_col, caption_col, MAX_TILES, |chunk| {
            if tiles.len() + chunk.len() > MAX_TILES {
                Error::Other(
                    PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    format!("at most {MAX_TILES} images can be shown at once; add a LIMIT"),
                )
                .raise();
            }
            // Worker threads never raise Postgres errors; they hand the message back.
            let loaded: Vec<Tile> = chunk
                .into_par_iter()
                .filter_map(|r: ImageRow| {
                    let caption = r.caption();
                    r.image.map(|i| {
                        reader
                            .load(&i)
                            .map(|picture| Tile { picture, caption })
                            .map_err(|e| format!("row {}: {e}", r.row))
                    })
                })
                .collect::<Result<Vec<Tile>, String>>()
                .unwrap_or_else(|e| bad_data(e));
            tiles.extend(loaded);
        });
    });
    tiles
}

fn check_layout(columns: i32, cell: i32) {
    if !(1..=20).contains(&columns) || !(8..=256).contains(&cell) {
        invalid(format!("columns must be 1..20 and cell 8..256 pixels, not {columns} and {cell}"));
    }
}

/// The images of a query as lines of text for a terminal. Without `color`, shades of
/// gray in plain characters that read in any psql format; with it, 24-bit colour
/// escape codes, which psql's default aligned format shows as text (use
/// \pset format unaligned and \pset tuples_only on).
#[pg_extern(volatile)]
fn print_images(
    source_query: &str,
    image_col: default!(&str, "'image_path'"),
    caption_col: default!(Option<&str>, "NULL"),
    columns: default!(i32, 4),
    cell: default!(i32, 28),
    color: default!(bool, false),
) -> SetOfIterator<'static, String> {
    check_layout(columns, cell);
    let grid = terminal_grid(&tiles(source_query, image_col, caption_col), cell as u32, columns as usize, color);
    SetOfIterator::new(grid.lines().map(str::to_string).collect::<Vec<_>>())
}

/// The images of a query as a captioned PNG contact sheet.
#[pg_extern(volatile)]
fn contact_sheet(
    source_query: &str,
    image_col: default!(&str, "'image_path'"),
    caption_col: default!(Option<&str>, "NULL"),
    columns: default!(i32, 4),
    cell: default!(i32, 112),
) -> Vec<u8> {
    check_layout(columns, cell);
    png_contact_sheet(&tiles(source_query, image_col, caption_col), cell as u32, columns as usize)
}
