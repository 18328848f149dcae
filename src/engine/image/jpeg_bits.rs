//! The entropy-coded side of `jpeg_dc`: canonical Huffman tables and a bit
//! reader that can skip AC coefficients without computing them.
use super::jpeg_dc::{Result, Unsupported};

/// A canonical Huffman table with a lookup for codes of up to `LOOKUP_BITS`.
pub(super) struct Huffman {
    /// (code length << 8 | symbol) for every `LOOKUP_BITS`-bit prefix, 0 if longer.
    lookup: Box<[u16; 1 << LOOKUP_BITS]>,
    /// For each length: the largest code, and the offset from code to symbol index.
    max_code: [i32; 17],
    offset: [i32; 17],
    symbols: Vec<u8>,
    /// For skipping AC coefficients: per `SKIP_BITS`-bit prefix, as many whole
    /// coefficients (code and value bits) as the prefix holds (`skip_entry`).
    skip: Box<[u16; 1 << SKIP_BITS]>,
    /// For DC tables, per `LOOKUP_BITS`-bit prefix: the difference the code
    /// and its value bits give << 8 | the bits they take, when both fit in
    /// the prefix (else 0), so a block's DC is one lookup.
    dc_difference: Box<[i32; 1 << LOOKUP_BITS]>,
}

const LOOKUP_BITS: u32 = 11;
/// 4096 two-byte entries: 8 KB per AC table, so the two tables of a colour
/// photo stay in the L1 cache. 14 bits was no faster (measured).
const SKIP_BITS: u32 = 12;
/// A skip entry: bits to consume (0..=26), how far k moves along the block
/// (0..=64) << 5, and `SKIP_ENDS_BLOCK` if the last coefficient is the end of
/// block; 0 when the prefix begins with a code longer than `LOOKUP_BITS`.
const SKIP_ENDS_BLOCK: u16 = 1 << 12;

impl Huffman {
    pub(super) fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Huffman> {
        let mut lookup = Box::new([0u16; 1 << LOOKUP_BITS]);
        let (mut max_code, mut offset) = ([-1i32; 17], [0i32; 17]);
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16 {
            let n = counts[len - 1] as usize;
            offset[len] = k as i32 - code;
            for _ in 0..n {
                if code >= 1 << len {
                    return Err(Unsupported("bad Huffman table"));
                }
                if len as u32 <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - len as u32;
                    let first = (code as usize) << shift;
                    lookup[first..first + (1 << shift)].fill((len as u16) << 8 | symbols[k] as u16);
                }
                code += 1;
                k += 1;
            }
            max_code[len] = if n > 0 { code - 1 } else { -1 };
            code <<= 1;
        }
        let mut skip = Box::new([0u16; 1 << SKIP_BITS]);
        for (prefix, entry) in skip.iter_mut().enumerate() {
            *entry = skip_entry(&lookup, prefix as u32);
        }
        let mut dc_difference = Box::new([0i32; 1 << LOOKUP_BITS]);
        for (prefix, entry) in dc_difference.iter_mut().enumerate() {
            let (len, size) = ((lookup[prefix] >> 8) as u32, (lookup[prefix] & 0xFF) as u32);
            if lookup[prefix] != 0 && len + size <= LOOKUP_BITS && size <= 11 {
                let value = (prefix as u32 >> (LOOKUP_BITS - len - size)) & ((1 << size) - 1);
                *entry = extend(value, size) << 8 | (len + size) as i32;
            }
        }
        Ok(Huffman { lookup, max_code, offset, symbols: symbols.to_vec(), skip, dc_difference })
    }
}

/// The signed value of `size` magnitude bits `v` (JPEG's EXTEND).
fn extend(v: u32, size: u32) -> i32 {
    let v = v as i32;
    if size > 0 && v < 1 << (size - 1) {
        v - (1 << size) + 1
    } else {
        v
    }
}

/// The AC coefficients that the `SKIP_BITS`-bit `prefix` holds whole: most
/// coefficients of a photo take 3 to 8 bits, so one lookup skips two or three.
/// Stops after an end of block (what follows is the next block's DC) and
/// before k could pass the block's end (`Bits::skip_ac` also checks that
/// against where the block stands). A single coefficient whose value bits run
/// past the prefix gets an entry of its own (up to 11 + 15 bits).
fn skip_entry(lookup: &[u16; 1 << LOOKUP_BITS], prefix: u32) -> u16 {
    let window = prefix << (32 - SKIP_BITS); // the prefix, left-aligned
    let (mut used, mut advance) = (0u32, 0u32);
    loop {
        let entry = lookup[((window << used) >> (32 - LOOKUP_BITS)) as usize];
        let (len, symbol) = ((entry >> 8) as u32, entry as u8);
        if entry == 0 || len > SKIP_BITS - used {
            break; // a long code, or a code cut off by the prefix's end
        }
        let (run, size) = ((symbol >> 4) as u32, (symbol & 15) as u32);
        // Size 0 is sixteen zeros with run 15, else the end of the block (as libjpeg reads it).
        let (moves, ends) = match (run, size) {
            (15, 0) => (16, false),
            (_, 0) => (0, true),
            _ => (run + 1, false),
        };
        let whole = len + size <= SKIP_BITS - used;
        if used > 0 && (!whole || advance + moves > 63) {
            break;
        }
        used += len + size;
        advance += moves;
        if ends {
            return used as u16 | (advance as u16) << 5 | SKIP_ENDS_BLOCK;
        }
        if !whole {
            break; // the one coefficient, longer than the prefix
        }
    }
    used as u16 | (advance as u16) << 5
}

/// Entropy-coded bits, most significant first, with 0xFF00 unstuffed. At a
/// marker (or the end) it feeds zero bytes and counts them, so reading past
/// the real data is noticed.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u32,
    padding: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Bits<'a> {
        Bits { data, pos, acc: 0, count: 0, padding: 0 }
    }

    #[inline]
    fn refill(&mut self) {
        // Fast path: the next 8 bytes hold no 0xFF (no stuffing, no marker).
        if let Some(next) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(next.try_into().expect("8 bytes"));
            let inverted = !word; // a 0xFF byte becomes a zero byte
            let has_ff = inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080 != 0;
            if !has_ff {
                let take = ((64 - self.count) / 8).min(7);
                self.acc |= (word >> (64 - 8 * take)) << (64 - self.count - 8 * take);
                self.pos += take as usize;
                self.count += 8 * take;
                return;
            }
        }
        while self.count <= 56 {
            let mut byte = 0u8;
            match self.data.get(self.pos) {
                Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    byte = 0xFF;
                    self.pos += 2;
                }
                Some(&0xFF) | None => self.padding += 1,
                Some(&b) => {
                    byte = b;
                    self.pos += 1;
                }
            }
            self.acc |= (byte as u64) << (56 - self.count);
            self.count += 8;
        }
    }

    #[inline]
    pub(super) fn read(&mut self, n: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        if self.count < n {
            self.refill();
        }
        let v = (self.acc >> (64 - n)) as u32;
        self.acc <<= n;
        self.count -= n;
        Ok(v)
    }

    /// A DC difference: its size category's code, then that many value bits.
    #[inline(always)]
    pub(super) fn dc_difference(&mut self, table: &Huffman) -> Result<i32> {
        if self.count < 32 {
            self.refill();
        }
        let entry = table.dc_difference[(self.acc >> (64 - LOOKUP_BITS)) as usize];
        if entry != 0 {
            let bits = (entry & 0xFF) as u32;
            self.acc <<= bits;
            self.count -= bits;
            return Ok(entry >> 8);
        }
        let size = self.decode(table)?;
        self.receive_extend(size)
    }

    #[inline]
    pub(super) fn decode(&mut self, table: &Huffman) -> Result<u8> {
        if self.count < 16 {
            self.refill();
        }
        let entry = table.lookup[(self.acc >> (64 - LOOKUP_BITS)) as usize];
        if entry != 0 {
            let len = (entry >> 8) as u32;
            self.acc <<= len;
            self.count -= len;
            return Ok(entry as u8);
        }
        self.decode_long(table)
    }

    /// A code longer than `LOOKUP_BITS` (rare), bit length by bit length.
    #[cold]
    #[inline(never)]
    fn decode_long(&mut self, table: &Huffman) -> Result<u8> {
        for len in LOOKUP_BITS as usize + 1..=16 {
            let code = (self.acc >> (64 - len)) as i32;
            if code <= table.max_code[len] {
                self.acc <<= len;
                self.count -= len as u32;
                let k = (code + table.offset[len]) as usize;
                return table.symbols.get(k).copied().ok_or(Unsupported("bad Huffman code"));
            }
        }
        Err(Unsupported("bad Huffman code"))
    }

    #[inline]
    pub(super) fn receive_extend(&mut self, size: u8) -> Result<i32> {
        if size > 11 {
            return Err(Unsupported("DC difference too large"));
        }
        Ok(extend(self.read(size as u32)?, size as u32))
    }

    /// Moves past one block's AC coefficients without computing them.
    #[inline]
    pub(super) fn skip_ac(&mut self, table: &Huffman) -> Result<()> {
        let mut k = 1;
        while k < 64 {
            if self.count < 32 {
                self.refill();
            }
            let entry = table.skip[(self.acc >> (64 - SKIP_BITS)) as usize];
            let (bits, advance) = ((entry & 31) as u32, (entry >> 5 & 127) as usize);
            // Coefficients that end where the block may still go on (k = 64
            // ends the block, and the slow path below stops there).
            if entry != 0 && k + advance < 64 {
                // At most LOOKUP_BITS + 15 bits, and at least 32 are buffered.
                self.acc <<= bits;
                self.count -= bits;
                if entry & SKIP_ENDS_BLOCK != 0 {
                    return Ok(());
                }
                k += advance;
                continue;
            }
            let symbol = self.decode(table)?;
            let (run, size) = ((symbol >> 4) as usize, (symbol & 15) as u32);
            if size == 0 {
                if run != 15 {
                    return Ok(()); // end of block
                }
                k += 16;
            } else {
                k += run + 1;
                self.read(size)?;
            }
        }
        if k > 64 {
            return Err(Unsupported("AC coefficients past the block"));
        }
        Ok(())
    }

    fn overran(&self) -> bool {
        self.padding * 8 > self.count
    }

    /// At a restart interval's end: the next bytes must be a restart marker.
    pub(super) fn restart(&mut self) -> Result<()> {
        if self.overran() {
            return Err(Unsupported("restart interval runs past its data"));
        }
        let d = self.data;
        match (d.get(self.pos), d.get(self.pos + 1)) {
            (Some(0xFF), Some(0xD0..=0xD7)) => self.pos += 2,
            _ => return Err(Unsupported("missing restart marker")),
        }
        (self.acc, self.count, self.padding) = (0, 0, 0);
        Ok(())
    }

    pub(super) fn finish(self) -> Result<usize> {
        if self.overran() {
            return Err(Unsupported("scan runs past its data"));
        }
        Ok(self.pos)
    }
}
