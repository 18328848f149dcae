//! Ways to look at search results: a text grid for a terminal (psql output)
//! and a PNG contact sheet with captions.

use std::fmt::Write as _;
use std::io::Cursor;

use image::{ImageFormat, RgbImage};

use crate::engine::image::resize::resize;
use crate::engine::image::Picture;

pub struct Tile {
    pub picture: Picture,
    pub caption: String,
}

/// Text grid for a terminal.
///
/// Each image is fitted into `cell`×`cell` pixels (aspect kept, letterboxed)
/// and drawn two pixel rows per text row. With `color`, each character is an
/// upper half block '▀' with a 24-bit foreground (top pixel) and background
/// (bottom pixel), letterbox black, and the colour is reset before every gap
/// and at every line end. Without `color`, there are no escape codes at all:
/// each character is one of ' ', '░', '▒', '▓', '█' by the mean brightness of
/// its two pixels (bright = dense, which suits a dark terminal and
/// white-on-black digits). Under each image its caption is printed on one
/// line, truncated or padded to `cell` characters; images are separated by a
/// one-column gap. Every line ends with '\n'.
pub fn terminal_grid(tiles: &[Tile], cell: u32, cols: usize, color: bool) -> String {
    let cell = cell.max(1) as usize;
    let cols = cols.max(1);
    let mut text = String::new();
    for row in tiles.chunks(cols) {
        let canvases: Vec<Vec<[u8; 3]>> = row.iter().map(|t| letterbox(&t.picture, cell, [0, 0, 0])).collect();
        for text_row in 0..cell.div_ceil(2) {
            for (i, canvas) in canvases.iter().enumerate() {
                if i > 0 {
                    text.push(' ');
                }
                let top = &canvas[2 * text_row * cell..][..cell];
                // An odd cell height leaves the last bottom half empty: black.
                let bottom_start = (2 * text_row + 1) * cell;
                for (x, &top_pixel) in top.iter().enumerate() {
                    let bottom = canvas.get(bottom_start + x).copied().unwrap_or([0, 0, 0]);
                    push_cell(&mut text, top_pixel, bottom, color);
                }
                if color {
                    text.push_str(RESET);
                }
            }
            text.push('\n');
        }
        let captions: Vec<String> = row.iter().map(|t| fit_caption(&t.caption, cell)).collect();
        text.push_str(captions.join(" ").trim_end());
        text.push('\n');
    }
    text
}

const RESET: &str = "\x1b[0m";
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

fn push_cell(text: &mut String, top: [u8; 3], bottom: [u8; 3], color: bool) {
    if color {
        let _ = write!(
            text,
            "\x1b[38;2;{};{};{}m\x1b[48;2;{};{};{}m▀",
            top[0], top[1], top[2], bottom[0], bottom[1], bottom[2]
        );
    } else {
        let brightness = (luma(top) + luma(bottom)) / 2.0;
        let level = ((brightness / 255.0) * (SHADES.len() - 1) as f32).round() as usize;
        text.push(SHADES[level.min(SHADES.len() - 1)]);
    }
}

fn luma(p: [u8; 3]) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

/// One display line of exactly `width` characters. Control characters are
/// replaced so a caption from the database cannot inject escape sequences.
fn fit_caption(caption: &str, width: usize) -> String {
    let mut line: String = caption.chars().map(|c| if c.is_control() { '?' } else { c }).take(width).collect();
    let len = line.chars().count();
    line.extend(std::iter::repeat_n(' ', width - len));
    line
}

/// Scales the picture to fit inside `cell`×`cell` keeping its aspect, centred
/// on a `background` canvas; returns `cell`² RGB pixels, row-major.
fn letterbox(p: &Picture, cell: usize, background: [u8; 3]) -> Vec<[u8; 3]> {
    let scale = cell as f64 / p.width.max(p.height) as f64;
    let w = ((p.width as f64 * scale).round() as usize).clamp(1, cell);
    let h = ((p.height as f64 * scale).round() as usize).clamp(1, cell);
    let fitted = resize(p, w as u32, h as u32);
    let (x0, y0) = ((cell - w) / 2, (cell - h) / 2);
    let mut canvas = vec![background; cell * cell];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            canvas[(y0 + y) * cell + x0 + x] = match fitted.channels {
                1 => [fitted.pixels[i]; 3],
                _ => [fitted.pixels[3 * i], fitted.pixels[3 * i + 1], fitted.pixels[3 * i + 2]],
            };
        }
    }
    canvas
}

/// Space around and between tiles in the contact sheet, in pixels.
const PAD: usize = 4;
/// Glyph cell: 5 pixels of glyph plus 1 of spacing, 7 rows plus 1 of leading.
const CHAR_W: usize = 6;
const CHAR_H: usize = 8;
/// Longer captions are wrapped onto at most this many lines, then cut.
const MAX_CAPTION_LINES: usize = 3;

/// PNG contact sheet: tiles fitted into `cell`×`cell` (aspect kept, white
/// letterbox) in `cols` columns with `PAD` pixels of padding; each caption is
/// rendered under its image in a built-in 5×7 font, black on white, wrapped
/// to the column width (up to three lines). Non-ASCII characters show as '?'.
/// Returns PNG bytes.
pub fn png_contact_sheet(tiles: &[Tile], cell: u32, cols: usize) -> Vec<u8> {
    let cell = cell.max(1) as usize;
    let cols = cols.max(1).min(tiles.len().max(1));
    let chars_per_line = ((cell + PAD) / CHAR_W).max(1);
    let wrapped: Vec<Vec<String>> = tiles.iter().map(|t| wrap_caption(&t.caption, chars_per_line)).collect();
    let caption_lines = wrapped.iter().map(Vec::len).max().unwrap_or(0);
    let caption_h = if caption_lines > 0 { caption_lines * CHAR_H + 2 } else { 0 };
    let rows = tiles.len().div_ceil(cols);
    let (slot_w, slot_h) = (cell + PAD, cell + caption_h + PAD);
    let width = PAD + cols * slot_w;
    let height = PAD + rows.max(1) * slot_h;

    let mut sheet = RgbImage::from_pixel(width as u32, height as u32, image::Rgb([255, 255, 255]));
    for (i, (tile, lines)) in tiles.iter().zip(&wrapped).enumerate() {
        let (left, top) = (PAD + (i % cols) * slot_w, PAD + (i / cols) * slot_h);
        let canvas = letterbox(&tile.picture, cell, [255, 255, 255]);
        for (j, rgb) in canvas.iter().enumerate() {
            sheet.put_pixel((left + j % cell) as u32, (top + j / cell) as u32, image::Rgb(*rgb));
        }
        for (n, line) in lines.iter().enumerate() {
            draw_text(&mut sheet, line, left, top + cell + 2 + n * CHAR_H);
        }
    }
    let mut png = Cursor::new(Vec::new());
    sheet.write_to(&mut png, ImageFormat::Png).expect("PNG encoding into memory cannot fail");
    png.into_inner()
}

/// Splits a caption into lines of at most `width` characters, breaking at
/// spaces where possible; the last allowed line ends in '~' if text was cut.
fn wrap_caption(caption: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = caption.trim().chars().collect();
    let mut lines = Vec::new();
    let mut rest = &chars[..];
    while !rest.is_empty() {
        if lines.len() == MAX_CAPTION_LINES {
            let last: &mut String = lines.last_mut().expect("at least one line");
            let keep: String = last.chars().take(width.saturating_sub(1)).collect();
            *last = keep + "~";
            break;
        }
        let mut cut = rest.len().min(width);
        // Prefer breaking at the last space that keeps the line within width.
        let space = rest.get(..=cut).and_then(|head| head.iter().rposition(|&c| c == ' '));
        if let Some(space) = space.filter(|&s| s > 0 && cut < rest.len()) {
            cut = space;
        }
        lines.push(rest[..cut].iter().collect::<String>().trim_end().to_string());
        rest = &rest[cut..];
        while rest.first() == Some(&' ') {
            rest = &rest[1..];
        }
    }
    lines
}

fn draw_text(sheet: &mut RgbImage, text: &str, left: usize, top: usize) {
    for (i, c) in text.chars().enumerate() {
        let columns = glyph(c);
        for (dx, bits) in columns.iter().enumerate() {
            for dy in 0..7 {
                if bits & (1 << dy) == 0 {
                    continue;
                }
                let (x, y) = ((left + i * CHAR_W + dx) as u32, (top + dy) as u32);
                if x < sheet.width() && y < sheet.height() {
                    sheet.put_pixel(x, y, image::Rgb([0, 0, 0]));
                }
            }
        }
    }
}

/// The 5 columns of a character's glyph, bit 0 = top row.
fn glyph(c: char) -> [u8; 5] {
    let code = c as u32;
    let index = if (32..127).contains(&code) { code - 32 } else { '?' as u32 - 32 };
    FONT_5X7[index as usize]
}

/// Printable ASCII 32..=126, column-major, bit 0 at the top.
#[rustfmt::skip]
const FONT_5X7: [[u8; 5]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00], // ' '
    [0x00, 0x00, 0x5F, 0x00, 0x00], // '!'
    [0x00, 0x07, 0x00, 0x07, 0x00], // '"'
    [0x14, 0x7F, 0x14, 0x7F, 0x14], // '#'
    [0x24, 0x2A, 0x7F, 0x2A, 0x12], // '$'
    [0x23, 0x13, 0x08, 0x64, 0x62], // '%'
    [0x36, 0x49, 0x55, 0x22, 0x50], // '&'
    [0x00, 0x05, 0x03, 0x00, 0x00], // '\''
    [0x00, 0x1C, 0x22, 0x41, 0x00], // '('
    [0x00, 0x41, 0x22, 0x1C, 0x00], // ')'
    [0x14, 0x08, 0x3E, 0x08, 0x14], // '*'
    [0x08, 0x08, 0x3E, 0x08, 0x08], // '+'
    [0x00, 0x50, 0x30, 0x00, 0x00], // ','
    [0x08, 0x08, 0x08, 0x08, 0x08], // '-'
    [0x00, 0x60, 0x60, 0x00, 0x00], // '.'
    [0x20, 0x10, 0x08, 0x04, 0x02], // '/'
    [0x3E, 0x51, 0x49, 0x45, 0x3E], // '0'
    [0x00, 0x42, 0x7F, 0x40, 0x00], // '1'
    [0x42, 0x61, 0x51, 0x49, 0x46], // '2'
    [0x21, 0x41, 0x45, 0x4B, 0x31], // '3'
    [0x18, 0x14, 0x12, 0x7F, 0x10], // '4'
    [0x27, 0x45, 0x45, 0x45, 0x39], // '5'
    [0x3C, 0x4A, 0x49, 0x49, 0x30], // '6'
    [0x01, 0x71, 0x09, 0x05, 0x03], // '7'
    [0x36, 0x49, 0x49, 0x49, 0x36], // '8'
    [0x06, 0x49, 0x49, 0x29, 0x1E], // '9'
    [0x00, 0x36, 0x36, 0x00, 0x00], // ':'
    [0x00, 0x56, 0x36, 0x00, 0x00], // ';'
    [0x08, 0x14, 0x22, 0x41, 0x00], // '<'
    [0x14, 0x14, 0x14, 0x14, 0x14], // '='
    [0x00, 0x41, 0x22, 0x14, 0x08], // '>'
    [0x02, 0x01, 0x51, 0x09, 0x06], // '?'
    [0x32, 0x49, 0x79, 0x41, 0x3E], // '@'
    [0x7E, 0x11, 0x11, 0x11, 0x7E], // 'A'
    [0x7F, 0x49, 0x49, 0x49, 0x36], // 'B'
    [0x3E, 0x41, 0x41, 0x41, 0x22], // 'C'
    [0x7F, 0x41, 0x41, 0x22, 0x1C], // 'D'
    [0x7F, 0x49, 0x49, 0x49, 0x41], // 'E'
    [0x7F, 0x09, 0x09, 0x09, 0x01], // 'F'
    [0x3E, 0x41, 0x49, 0x49, 0x7A], // 'G'
    [0x7F, 0x08, 0x08, 0x08, 0x7F], // 'H'
    [0x00, 0x41, 0x7F, 0x41, 0x00], // 'I'
    [0x20, 0x40, 0x41, 0x3F, 0x01], // 'J'
    [0x7F, 0x08, 0x14, 0x22, 0x41], // 'K'
    [0x7F, 0x40, 0x40, 0x40, 0x40], // 'L'
    [0x7F, 0x02, 0x0C, 0x02, 0x7F], // 'M'
    [0x7F, 0x04, 0x08, 0x10, 0x7F], // 'N'
    [0x3E, 0x41, 0x41, 0x41, 0x3E], // 'O'
    [0x7F, 0x09, 0x09, 0x09, 0x06], // 'P'
    [0x3E, 0x41, 0x51, 0x21, 0x5E], // 'Q'
    [0x7F, 0x09, 0x19, 0x29, 0x46], // 'R'
    [0x46, 0x49, 0x49, 0x49, 0x31], // 'S'
    [0x01, 0x01, 0x7F, 0x01, 0x01], // 'T'
    [0x3F, 0x40, 0x40, 0x40, 0x3F], // 'U'
    [0x1F, 0x20, 0x40, 0x20, 0x1F], // 'V'
    [0x3F, 0x40, 0x38, 0x40, 0x3F], // 'W'
    [0x63, 0x14, 0x08, 0x14, 0x63], // 'X'
    [0x07, 0x08, 0x70, 0x08, 0x07], // 'Y'
    [0x61, 0x51, 0x49, 0x45, 0x43], // 'Z'
    [0x00, 0x7F, 0x41, 0x41, 0x00], // '['
    [0x02, 0x04, 0x08, 0x10, 0x20], // '\\'
    [0x00, 0x41, 0x41, 0x7F, 0x00], // ']'
    [0x04, 0x02, 0x01, 0x02, 0x04], // '^'
    [0x40, 0x40, 0x40, 0x40, 0x40], // '_'
    [0x00, 0x01, 0x02, 0x04, 0x00], // '`'
    [0x20, 0x54, 0x54, 0x54, 0x78], // 'a'
    [0x7F, 0x48, 0x44, 0x44, 0x38], // 'b'
    [0x38, 0x44, 0x44, 0x44, 0x20], // 'c'
    [0x38, 0x44, 0x44, 0x48, 0x7F], // 'd'
    [0x38, 0x54, 0x54, 0x54, 0x18], // 'e'
    [0x08, 0x7E, 0x09, 0x01, 0x02], // 'f'
    [0x0C, 0x52, 0x52, 0x52, 0x3E], // 'g'
    [0x7F, 0x08, 0x04, 0x04, 0x78], // 'h'
    [0x00, 0x44, 0x7D, 0x40, 0x00], // 'i'
    [0x20, 0x40, 0x44, 0x3D, 0x00], // 'j'
    [0x7F, 0x10, 0x28, 0x44, 0x00], // 'k'
    [0x00, 0x41, 0x7F, 0x40, 0x00], // 'l'
    [0x7C, 0x04, 0x18, 0x04, 0x78], // 'm'
    [0x7C, 0x08, 0x04, 0x04, 0x78], // 'n'
    [0x38, 0x44, 0x44, 0x44, 0x38], // 'o'
    [0x7C, 0x14, 0x14, 0x14, 0x08], // 'p'
    [0x08, 0x14, 0x14, 0x18, 0x7C], // 'q'
    [0x7C, 0x08, 0x04, 0x04, 0x08], // 'r'
    [0x48, 0x54, 0x54, 0x54, 0x20], // 's'
    [0x04, 0x3F, 0x44, 0x40, 0x20], // 't'
    [0x3C, 0x40, 0x40, 0x20, 0x7C], // 'u'
    [0x1C, 0x20, 0x40, 0x20, 0x1C], // 'v'
    [0x3C, 0x40, 0x30, 0x40, 0x3C], // 'w'
    [0x44, 0x28, 0x10, 0x28, 0x44], // 'x'
    [0x0C, 0x50, 0x50, 0x50, 0x3C], // 'y'
    [0x44, 0x64, 0x54, 0x4C, 0x44], // 'z'
    [0x00, 0x08, 0x36, 0x41, 0x00], // '{'
    [0x00, 0x00, 0x7F, 0x00, 0x00], // '|'
    [0x00, 0x41, 0x36, 0x08, 0x00], // '}'
    [0x08, 0x04, 0x08, 0x10, 0x08], // '~'
];

#[cfg(test)]
mod tests {
    use super::*;
    use image::GenericImageView;

    fn solid(width: u32, height: u32, value: u8) -> Picture {
        Picture::new(width, height, 1, vec![value; (width * height) as usize])
    }

    fn tile(picture: Picture, caption: &str) -> Tile {
        Tile { picture, caption: caption.to_string() }
    }

    #[test]
    fn font_covers_printable_ascii_with_visible_glyphs() {
        for c in '!'..='~' {
            assert!(glyph(c).iter().any(|&col| col != 0), "{c:?} is blank");
            assert!(glyph(c).iter().all(|&col| col < 0x80), "{c:?} uses an 8th row");
        }
        assert_eq!(glyph('é'), glyph('?'));
        assert_eq!(glyph(' '), [0; 5]);
    }

    #[test]
    fn contact_sheet_has_expected_size_and_decodes() {
        let tiles: Vec<Tile> = (0..5).map(|i| tile(solid(28, 28, 40 * i as u8), &format!("#{i}"))).collect();
        let png = png_contact_sheet(&tiles, 28, 3);
        let sheet = image::load_from_memory(&png).unwrap();
        // 3 columns of (28 + 4) plus outer pad; 2 rows of (28 + one 8px caption line + 2 + 4) plus pad.
        assert_eq!(sheet.dimensions(), (4 + 3 * 32, 4 + 2 * (28 + 10 + 4)));
    }

    #[test]
    fn caption_pixels_are_drawn_under_the_image() {
        let with = png_contact_sheet(&[tile(solid(10, 5, 128), "Hi 9")], 28, 1);
        let sheet = image::load_from_memory(&with).unwrap().to_rgb8();
        let caption_band = (4 + 28..sheet.height()).flat_map(|y| (0..sheet.width()).map(move |x| (x, y)));
        let dark = caption_band.filter(|&(x, y)| sheet.get_pixel(x, y)[0] < 128).count();
        assert!(dark > 15, "only {dark} caption pixels");
        // The letterbox above a wide gray picture is white, the picture gray.
        assert_eq!(sheet.get_pixel(4 + 14, 4 + 2)[0], 255);
        assert_eq!(sheet.get_pixel(4 + 14, 4 + 14)[0], 128);
    }

    #[test]
    fn long_captions_wrap_and_are_cut() {
        assert_eq!(wrap_caption("dog 0.93", 5), vec!["dog", "0.93"]);
        assert_eq!(wrap_caption("abcdefghijklmnopqrstuvwxyz", 5), vec!["abcde", "fghij", "klmn~"]);
        assert!(wrap_caption("", 5).is_empty());
        let png = png_contact_sheet(&[tile(solid(4, 4, 0), "a very long caption indeed")], 28, 4);
        let sheet = image::load_from_memory(&png).unwrap();
        assert_eq!(sheet.height() as usize, 4 + 28 + 3 * 8 + 2 + 4);
    }

    #[test]
    fn empty_input_still_makes_a_png() {
        let png = png_contact_sheet(&[], 28, 4);
        assert!(image::load_from_memory(&png).is_ok());
        assert_eq!(terminal_grid(&[], 28, 4, true), "");
    }

    #[test]
    fn terminal_grid_shape_and_captions() {
        let tiles: Vec<Tile> = (0..5).map(|i| tile(solid(28, 28, 200), &format!("digit {i}"))).collect();
        let text = terminal_grid(&tiles, 28, 2, true);
        // 3 rows of tiles, each 14 half-block lines plus a caption line.
        assert_eq!(text.lines().count(), 3 * 15);
        for i in 0..5 {
            assert!(text.contains(&format!("digit {i}")));
        }
        let first = text.lines().next().unwrap();
        assert_eq!(first.matches('▀').count(), 56);
        assert!(first.contains("\x1b[38;2;200;200;200m") && first.ends_with(RESET));
    }

    #[test]
    fn plain_mode_has_no_escape_codes_and_shows_brightness() {
        let bright_top = Picture::new(4, 4, 1, [[255; 8], [0; 8]].concat());
        let tiles = [tile(bright_top, "x\x1b[31m"), tile(solid(4, 4, 255), "y")];
        let text = terminal_grid(&tiles, 4, 3, false);
        assert!(!text.contains('\x1b'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "████ ████");
        assert_eq!(lines[1], "     ████");
        assert_eq!(lines[2], "x?[3 y");
    }

    #[test]
    fn odd_cell_and_wide_pictures_are_letterboxed() {
        let wide = solid(30, 10, 255);
        let text = terminal_grid(&[tile(wide, "")], 5, 1, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4); // ceil(5/2) image lines + caption
        assert!(lines.iter().take(3).all(|l| l.chars().count() == 5));
        // The 5x2 picture sits in rows 1..3, black above and below.
        assert_eq!(lines[0], "▒▒▒▒▒");
    }
}
