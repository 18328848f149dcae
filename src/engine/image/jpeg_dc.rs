//! A JPEG at 1/8 of its size, from the DC coefficients alone.
//!
//! A block's DC coefficient is its mean (times 8, quantised), so one pixel per
//! 8×8 block is exactly what a 1/8-scale decode produces (libjpeg's 1×1
//! "IDCT"). Finding the DC of every block still means entropy-decoding a
//! baseline scan, but without dequantising, transforming, upsampling and
//! colour-converting megapixels. In a progressive JPEG the DC coefficients
//! have scans of their own, so the AC scans (most of the file) are skipped
//! without being decoded at all.
//!
//! This covers the common files (8-bit Huffman-coded baseline or progressive,
//! gray or YCbCr, any sampling factors that divide the largest, restart
//! intervals); anything else, and any stream that looks damaged, is
//! `Unsupported`, and the caller decodes the file in full as before, which
//! also gives the error message a damaged file deserves.
use super::jpeg_bits::{Bits, Huffman};
use super::Picture;

/// This file needs the full decoder (an unusual feature, or damage).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

pub(super) type Result<T> = std::result::Result<T, Unsupported>;

/// Width and height of a JPEG from its frame header, if it has one we read.
pub fn dimensions(data: &[u8]) -> Option<(u32, u32)> {
    let mut markers = Markers { data, pos: 2 };
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    while let Ok((marker, body)) = markers.next_segment() {
        if let 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF = marker {
            let h = u16::from_be_bytes([*body.get(1)?, *body.get(2)?]) as u32;
            let w = u16::from_be_bytes([*body.get(3)?, *body.get(4)?]) as u32;
            return Some((w, h));
        }
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
    }
    None
}

/// The Exif chunk of a JPEG (the TIFF structure of its APP1 "Exif" segment),
/// if one comes before the first scan.
pub fn exif(data: &[u8]) -> Option<&[u8]> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut markers = Markers { data, pos: 2 };
    loop {
        match markers.next_segment().ok()? {
            (0xE1, body) if body.starts_with(b"Exif\0\0") => return Some(&body[6..]),
            (0xDA | 0xD9, _) => return None,
            _ => {}
        }
    }
}

/// The picture at 1/8 scale: ceil(width/8) × ceil(height/8), gray (1 channel)
/// or RGB (3), like libjpeg-turbo's 1/8 decode.
pub fn decode_eighth(data: &[u8]) -> Result<Picture> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(Unsupported("not a JPEG"));
    }
    let mut frame: Option<Frame> = None;
    let mut tables = Tables::default();
    let mut markers = Markers { data, pos: 2 };
    loop {
        let (marker, body) = markers.next_segment()?;
        match marker {
            0xD9 => break,
            0xC0..=0xC2 if frame.is_none() => frame = Some(Frame::parse(body, marker == 0xC2)?),
            0xC4 => tables.define_huffman(body)?,
            0xDB => tables.define_quantisers(body)?,
            0xDD => tables.restart_interval = u16::from_be_bytes([at(body, 0)?, at(body, 1)?]) as usize,
            0xEE if body.starts_with(b"Adobe") && at(body, 11)? != 1 => {
                return Err(Unsupported("Adobe colour transform"))
            }
            0xDA => {
                let frame = frame.as_mut().ok_or(Unsupported("scan before frame header"))?;
                let scan = Scan::parse(body, frame)?;
                let start = markers.pos;
                markers.pos = if scan.has_dc() { frame.decode_scan(&scan, &tables, data, start)? } else { start };
                markers.skip_entropy_data()?;
            }
            0xC0..=0xCF => return Err(Unsupported("second frame, arithmetic, lossless or hierarchical coding")),
            0xDC => return Err(Unsupported("DNL marker")),
            _ => {} // APPn, COM: nothing the DC needs
        }
    }
    frame.ok_or(Unsupported("no frame header"))?.picture(&tables)
}

fn at(body: &[u8], i: usize) -> Result<u8> {
    body.get(i).copied().ok_or(Unsupported("segment too short"))
}

/// Walks the marker segments of a stream.
struct Markers<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Markers<'a> {
    /// The next marker and its segment's body (empty for EOI).
    fn next_segment(&mut self) -> Result<(u8, &'a [u8])> {
        let d = self.data;
        if d.get(self.pos) != Some(&0xFF) {
            return Err(Unsupported("expected a marker"));
        }
        while d.get(self.pos) == Some(&0xFF) {
            self.pos += 1; // fill bytes
        }
        let marker = *d.get(self.pos).ok_or(Unsupported("stream ends before EOI"))?;
        self.pos += 1;
        match marker {
            0xD9 => return Ok((marker, &[])),
            0x00 | 0x01 | 0xD0..=0xD8 => return Err(Unsupported("marker out of place")),
            _ => {}
        }
        let len = u16::from_be_bytes([at(d, self.pos)?, at(d, self.pos + 1)?]) as usize;
        let body = d.get(self.pos + 2..self.pos + len.max(2)).ok_or(Unsupported("segment runs past the end"))?;
        self.pos += len.max(2);
        Ok((marker, body))
    }

    /// Moves past entropy-coded data (stuffed 0xFF00 bytes and restart markers)
    /// to the next real marker.
    fn skip_entropy_data(&mut self) -> Result<()> {
        let d = self.data;
        loop {
            let ff = d.get(self.pos..).and_then(|rest| memchr::memchr(0xFF, rest));
            let ff = self.pos + ff.ok_or(Unsupported("stream ends inside a scan"))?;
            match d.get(ff + 1) {
                Some(0x00) | Some(0xD0..=0xD7) => self.pos = ff + 2,
                Some(0xFF) => self.pos = ff + 1,
                Some(_) => {
                    self.pos = ff;
                    return Ok(());
                }
                None => return Err(Unsupported("stream ends inside a scan")),
            }
        }
    }
}

#[derive(Default)]
struct Tables {
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
    /// The first (DC) entry of each quantisation table.
    dc_quantiser: [Option<u16>; 4],
    restart_interval: usize,
}

impl Tables {
    fn define_huffman(&mut self, mut body: &[u8]) -> Result<()> {
        while !body.is_empty() {
            let (class, id) = (at(body, 0)? >> 4, (at(body, 0)? & 15) as usize);
            let counts: [u8; 16] = body.get(1..17).ok_or(Unsupported("short DHT"))?.try_into().expect("16 bytes");
            let total: usize = counts.iter().map(|&c| c as usize).sum();
            let symbols = body.get(17..17 + total).ok_or(Unsupported("short DHT"))?;
            let table = Some(Huffman::new(&counts, symbols)?);
            match (class, id) {
                (0, 0..=3) => self.dc[id] = table,
                (1, 0..=3) => self.ac[id] = table,
                _ => return Err(Unsupported("bad DHT")),
            }
            body = &body[17 + total..];
        }
        Ok(())
    }

    fn define_quantisers(&mut self, mut body: &[u8]) -> Result<()> {
        while !body.is_empty() {
            let (precision, id) = (at(body, 0)? >> 4, (at(body, 0)? & 15) as usize);
            let (first, len) = match precision {
                0 => (at(body, 1)? as u16, 65),
                1 => (u16::from_be_bytes([at(body, 1)?, at(body, 2)?]), 129),
                _ => return Err(Unsupported("bad DQT")),
            };
            *self.dc_quantiser.get_mut(id).ok_or(Unsupported("bad DQT"))? = Some(first);
            body = body.get(len..).ok_or(Unsupported("short DQT"))?;
        }
        Ok(())
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    quantiser_id: usize,
    /// The quantiser latched at the component's first scan, as libjpeg does.
    quantiser: Option<u16>,
    /// Blocks that hold image data, and the width of the padded grid below.
    blocks_w: usize,
    blocks_h: usize,
    stride: usize,
    dc: Vec<i32>,
    dc_seen: bool,
}

struct Frame {
    width: usize,
    height: usize,
    progressive: bool,
    max_h: usize,
    max_v: usize,
    mcus_x: usize,
    mcus_y: usize,
    components: Vec<Component>,
}

impl Frame {
    fn parse(body: &[u8], progressive: bool) -> Result<Frame> {
        if at(body, 0)? != 8 {
            return Err(Unsupported("not 8-bit samples"));
        }
        let height = u16::from_be_bytes([at(body, 1)?, at(body, 2)?]) as usize;
        let width = u16::from_be_bytes([at(body, 3)?, at(body, 4)?]) as usize;
        let count = at(body, 5)? as usize;
        if width == 0 || height == 0 || !(count == 1 || count == 3) {
            return Err(Unsupported("size or component count"));
        }
        let mut components = Vec::with_capacity(count);
        for c in 0..count {
            let (id, hv, quantiser_id) = (at(body, 6 + 3 * c)?, at(body, 7 + 3 * c)?, at(body, 8 + 3 * c)? as usize);
            let (h, v) = ((hv >> 4) as usize, (hv & 15) as usize);
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || quantiser_id > 3 {
                return Err(Unsupported("bad component"));
            }
            components.push(Component {
                id,
                h,
                v,
                quantiser_id,
                quantiser: None,
                blocks_w: 0,
                blocks_h: 0,
                stride: 0,
                dc: Vec::new(),
                dc_seen: false,
            });
        }
        if count == 1 {
            // A single component is never interleaved: its MCU is one block.
            components[0].h = 1;
            components[0].v = 1;
        }
        let max_h = components.iter().map(|c| c.h).max().expect("1 or 3 components");
        let max_v = components.iter().map(|c| c.v).max().expect("1 or 3 components");
        if components.iter().any(|c| max_h % c.h != 0 || max_v % c.v != 0) {
            return Err(Unsupported("sampling factors that do not divide the largest"));
        }
        let (mcus_x, mcus_y) = (width.div_ceil(8 * max_h), height.div_ceil(8 * max_v));
        for c in &mut components {
            c.blocks_w = (width * c.h).div_ceil(max_h).div_ceil(8);
            c.blocks_h = (height * c.v).div_ceil(max_v).div_ceil(8);
            c.stride = mcus_x * c.h;
            c.dc = vec![0; c.stride * mcus_y * c.v];
        }
        Ok(Frame { width, height, progressive, max_h, max_v, mcus_x, mcus_y, components })
    }

    /// Decodes a scan that carries DC coefficients, starting at `start`; returns
    /// where its entropy-coded data stopped being read.
    fn decode_scan(&mut self, scan: &Scan, tables: &Tables, data: &[u8], start: usize) -> Result<usize> {
        let mut bits = Bits::new(data, start);
        let mut parts = Vec::with_capacity(scan.components.len());
        for &(index, dc_id, ac_id) in &scan.components {
            let c = &mut self.components[index];
            c.quantiser = c.quantiser.or(tables.dc_quantiser[c.quantiser_id]);
            let first = scan.refine_bit.is_none();
            let dc = if first { Some(tables.dc[dc_id].as_ref().ok_or(Unsupported("missing DC table"))?) } else { None };
            let ac = if scan.has_ac {
                Some(tables.ac[ac_id].as_ref().ok_or(Unsupported("missing AC table"))?)
            } else {
                None
            };
            if !first && !c.dc_seen {
                return Err(Unsupported("DC refinement before the first DC scan"));
            }
            c.dc_seen = true;
            parts.push((index, dc, ac));
        }
        let interleaved = parts.len() > 1;
        let (units_x, units_y) = if interleaved {
            (self.mcus_x, self.mcus_y)
        } else {
            let c = &self.components[parts[0].0];
            (c.blocks_w, c.blocks_h)
        };
        let mut predictions = [0i32; 4];
        let interval = if tables.restart_interval > 0 { tables.restart_interval } else { usize::MAX };
        let mut until_restart = interval;
        // Nested loops and a countdown rather than divisions per unit: in a
        // progressive file's DC scans the per-block work is a few bit reads,
        // so three divisions a unit were most of the time.
        for uy in 0..units_y {
            for ux in 0..units_x {
                if until_restart == 0 {
                    bits.restart()?;
                    predictions = [0; 4];
                    until_restart = interval;
                }
                until_restart -= 1;
                for (&(index, dc, ac), prediction) in parts.iter().zip(&mut predictions) {
                    let c = &mut self.components[index];
                    let (bw, bh) = if interleaved { (c.h, c.v) } else { (1, 1) };
                    for by in 0..bh {
                        let row = (uy * bh + by) * c.stride + ux * bw;
                        for block in &mut c.dc[row..row + bw] {
                            match (dc, scan.refine_bit) {
                                (Some(table), _) => {
                                    *prediction += bits.dc_difference(table)?;
                                    *block = *prediction << scan.low_bit;
                                }
                                (None, Some(bit)) => *block |= (bits.read(1)? as i32) << bit,
                                (None, None) => unreachable!("a scan has a DC table or refines"),
                            }
                            if let Some(table) = ac {
                                bits.skip_ac(table)?;
                            }
                        }
                    }
                }
            }
        }
        bits.finish()
    }

    fn picture(&self, tables: &Tables) -> Result<Picture> {
        let (w, h) = (self.width.div_ceil(8), self.height.div_ceil(8));
        let mut planes = Vec::with_capacity(self.components.len());
        for c in &self.components {
            if !c.dc_seen {
                return Err(Unsupported("a component has no DC scan"));
            }
            let q = c.quantiser.or(tables.dc_quantiser[c.quantiser_id]).ok_or(Unsupported("missing DQT"))? as f32;
            let (sx, sy) = (self.max_h / c.h, self.max_v / c.v);
            if (sx, sy) == (1, 1) {
                let scale = |&dc: &i32| dc as f32 * q / 8.0 + 128.0;
                planes.push((0..h).flat_map(|y| c.dc[y * c.stride..y * c.stride + w].iter().map(scale)).collect());
                continue;
            }
            let xs = taps(w, sx, c.blocks_w);
            let mut plane = Vec::with_capacity(w * h);
            for (y0, y1, fy) in taps(h, sy, c.blocks_h) {
                let (row0, row1) = (&c.dc[y0 * c.stride..], &c.dc[y1 * c.stride..]);
                plane.extend(xs.iter().map(|&(x0, x1, fx)| {
                    let top = row0[x0] as f32 * (1.0 - fx) + row0[x1] as f32 * fx;
                    let bottom = row1[x0] as f32 * (1.0 - fx) + row1[x1] as f32 * fx;
                    (top * (1.0 - fy) + bottom * fy) * q / 8.0 + 128.0
                }));
            }
            planes.push(plane);
        }
        let byte = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        if planes.len() == 1 {
            return Ok(Picture::new(w as u32, h as u32, 1, planes[0].iter().map(|&v| byte(v)).collect()));
        }
        if self.components.iter().map(|c| c.id).eq(*b"RGB") {
            return Err(Unsupported("RGB components"));
        }
        let mut rgb = Vec::with_capacity(w * h * 3);
        for ((&y, &cb), &cr) in planes[0].iter().zip(&planes[1]).zip(&planes[2]) {
            let (cb, cr) = (cb - 128.0, cr - 128.0);
            rgb.extend([byte(y + 1.402 * cr), byte(y - 0.344_136 * cb - 0.714_136 * cr), byte(y + 1.772 * cb)]);
        }
        Ok(Picture::new(w as u32, h as u32, 3, rgb))
    }
}

/// For each of `out` output pixels, the two blocks of a component subsampled
/// by `factor` that it lies between and the weight of the second: chroma is
/// interpolated linearly between block centres, as libjpeg's "fancy"
/// upsampling does, rather than repeated.
fn taps(out: usize, factor: usize, blocks: usize) -> Vec<(usize, usize, f32)> {
    let last = blocks.max(1) - 1;
    (0..out)
        .map(|i| {
            let u = ((i as f32 + 0.5) / factor as f32 - 0.5).max(0.0);
            let lo = (u as usize).min(last);
            (lo, (lo + 1).min(last), if lo < last { u - lo as f32 } else { 0.0 })
        })
        .collect()
}

struct Scan {
    /// (component index, DC table, AC table) in scan order.
    components: Vec<(usize, usize, usize)>,
    /// The DC scan of a baseline frame also codes the AC coefficients, to skip.
    has_ac: bool,
    dc: bool,
    refine_bit: Option<u8>,
    low_bit: u8,
}

impl Scan {
    fn parse(body: &[u8], frame: &Frame) -> Result<Scan> {
        let count = at(body, 0)? as usize;
        let mut components = Vec::with_capacity(count);
        for i in 0..count {
            let (id, tables) = (at(body, 1 + 2 * i)?, at(body, 2 + 2 * i)?);
            let index = frame.components.iter().position(|c| c.id == id).ok_or(Unsupported("unknown component"))?;
            if components.iter().any(|&(j, _, _)| j == index) {
                return Err(Unsupported("component twice in a scan"));
            }
            components.push((index, (tables >> 4) as usize & 3, (tables & 15) as usize & 3));
        }
        let (start, end, approx) = (at(body, 1 + 2 * count)?, at(body, 2 + 2 * count)?, at(body, 3 + 2 * count)?);
        let (high, low) = (approx >> 4, approx & 15);
        if count == 0 || count > 4 || low > 13 {
            return Err(Unsupported("bad scan header"));
        }
        let blocks_per_mcu: usize =
            components.iter().map(|&(i, _, _)| frame.components[i].h * frame.components[i].v).sum();
        if count > 1 && blocks_per_mcu > 10 {
            return Err(Unsupported("more than 10 blocks per MCU"));
        }
        if !frame.progressive {
            if (start, end, approx) != (0, 63, 0) {
                return Err(Unsupported("bad baseline scan"));
            }
            return Ok(Scan { components, has_ac: true, dc: true, refine_bit: None, low_bit: 0 });
        }
        let dc = start == 0;
        if dc && end != 0 {
            return Err(Unsupported("progressive scan mixing DC and AC"));
        }
        let refine_bit = match high {
            0 => None,
            h if h == low + 1 => Some(low),
            _ => return Err(Unsupported("bad successive approximation")),
        };
        Ok(Scan { components, has_ac: false, dc, refine_bit, low_bit: low })
    }

    fn has_dc(&self) -> bool {
        self.dc
    }
}

#[cfg(test)]
#[path = "jpeg_dc_tests.rs"]
mod tests;
