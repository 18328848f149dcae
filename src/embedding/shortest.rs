//! The text of one float4 exactly as Postgres' float4out (and so pgvector's vector_out)
//! writes it: the fewest significant digits that read back to the same float4, in
//! plain notation for decimal exponents -4..5 and otherwise as `1.5e+38`, `1e-07`.
//!
//! Rust's own shortest formatting is almost the same, but it may pick a decimal lying
//! exactly halfway between two float4s (it reads back correctly, by round-half-even),
//! whereas Postgres' Ryu code only accepts decimals strictly between the halfway points
//! and then needs one more digit: 44779472 is `4.4779472e+07` in Postgres, not
//! `4.477947e+07`. So Rust's candidates are checked exactly against those bounds.
use std::cmp::Ordering;

/// Appends the text of `x` (finite) to `out`.
pub fn write_float4(x: f32, out: &mut String) {
    if x.is_sign_negative() {
        out.push('-');
    }
    if x == 0.0 {
        out.push('0');
        return;
    }
    let (digits, exp) = shortest_digits(x.abs());
    if (-4..6).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!("e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs()));
    }
}

/// Significant digits (no trailing zeros) and decimal exponent of the first digit.
fn shortest_digits(x: f32) -> (String, i32) {
    // Rust's shortest form gives the length; of the decimals of that length, Postgres
    // writes the nearest (an exact tie between two goes to the even one, where Rust
    // may pick the other).
    let candidate = split_scientific(&format!("{x:e}"));
    let nearest = rounded(x, candidate.0.len());
    if strictly_inside(x, &nearest) {
        return nearest;
    }
    if strictly_inside(x, &candidate) {
        return candidate;
    }
    // The shortest text is a halfway point: the nearest decimal of the next length
    // that lies strictly inside is Postgres' choice (9 digits always do).
    (candidate.0.len() + 1..=9)
        .map(|len| rounded(x, len))
        .find(|c| strictly_inside(x, c))
        .unwrap_or_else(|| rounded(x, 9))
}

/// x rounded to `len` significant digits, half to even (as Ryu rounds an exact tie).
fn rounded(x: f32, len: usize) -> (String, i32) {
    // 150 digits hold every float4 exactly (the longest, subnormal ones have 105).
    let exact = format!("{x:.150e}");
    let (mantissa, exp) = exact.split_once('e').expect("{:e} writes an exponent");
    let digits: Vec<u8> = mantissa.bytes().filter(|b| *b != b'.').collect();
    let mut exp: i32 = exp.parse().expect("decimal exponent");
    let mut kept: u64 = std::str::from_utf8(&digits[..len]).unwrap().parse().unwrap();
    let (first_dropped, rest) = (digits[len], &digits[len + 1..]);
    let round_up = match first_dropped.cmp(&b'5') {
        Ordering::Greater => true,
        Ordering::Equal => rest.iter().any(|d| *d != b'0') || kept % 2 == 1,
        Ordering::Less => false,
    };
    if round_up {
        kept += 1;
        if kept == 10u64.pow(len as u32) {
            kept /= 10;
            exp += 1;
        }
    }
    let text = kept.to_string();
    (text.trim_end_matches('0').to_string(), exp)
}

/// "4.4779472e7" -> ("44779472", 7), trailing zeros dropped.
fn split_scientific(text: &str) -> (String, i32) {
    let (mantissa, exp) = text.split_once('e').expect("{:e} writes an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_end_matches('0');
    (if digits.is_empty() { "0".into() } else { digits.into() }, exp.parse().expect("decimal exponent"))
}

/// Whether the decimal lies strictly between the halfway points to x's neighbours
/// (positive, finite x), compared exactly.
fn strictly_inside(x: f32, (digits, exp): &(String, i32)) -> bool {
    let bits = x.to_bits();
    let (biased, fraction) = ((bits >> 23) as i32, bits & 0x7f_ffff);
    // x = m * 2^e with an integer m.
    let (m, e) = if biased == 0 { (fraction as u64, -149) } else { ((fraction | 0x80_0000) as u64, biased - 150) };
    // Halfway points as b * 2^p; the gap below a power of two is half the gap above.
    let high = (2 * m + 1, e - 1);
    let low = if fraction == 0 && biased > 1 { (4 * m - 1, e - 2) } else { (2 * m - 1, e - 1) };
    let d: u64 = digits.parse().expect("at most 17 digits");
    let q = exp - (digits.len() as i32 - 1);
    compare(d, q, low.0, low.1) == Ordering::Greater && compare(d, q, high.0, high.1) == Ordering::Less
}

/// Compares d * 10^q with b * 2^p exactly.
fn compare(d: u64, q: i32, b: u64, p: i32) -> Ordering {
    let (mut lhs, mut rhs) = (BigUint::from(d), BigUint::from(b));
    // d * 5^q * 2^q  vs  b * 2^p: move 5^|q| to the side where it multiplies, then the powers of two.
    if q >= 0 {
        lhs.mul_pow(5, q as u32);
    } else {
        rhs.mul_pow(5, (-q) as u32);
    }
    if q >= p {
        lhs.mul_pow(2, (q - p) as u32);
    } else {
        rhs.mul_pow(2, (p - q) as u32);
    }
    lhs.cmp(&rhs)
}

/// Just enough of an unsigned big integer for `compare`: little-endian 32-bit limbs.
#[derive(PartialEq, Eq)]
struct BigUint(Vec<u32>);

impl From<u64> for BigUint {
    fn from(v: u64) -> Self {
        BigUint(vec![v as u32, (v >> 32) as u32])
    }
}

impl BigUint {
    fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in self.0.iter_mut() {
            let product = *limb as u64 * factor as u64 + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow(&mut self, base: u32, mut exp: u32) {
        // Chunks of base^k that fit in a u32 (5^13, 2^31).
        let (chunk, chunk_exp) = if base == 5 { (1_220_703_125, 13) } else { (1 << 31, 31) };
        while exp >= chunk_exp {
            self.mul_small(chunk);
            exp -= chunk_exp;
        }
        self.mul_small(base.pow(exp));
    }

    fn significant(&self) -> &[u32] {
        let len = self.0.iter().rposition(|l| *l != 0).map_or(0, |i| i + 1);
        &self.0[..len]
    }
}

impl PartialOrd for BigUint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BigUint {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len().cmp(&b.len()).then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: f32) -> String {
        let mut out = String::new();
        write_float4(x, &mut out);
        out
    }

    #[test]
    fn layout_matches_float4out() {
        let cases: &[(f32, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.5e38, "1.5e+38"),
            (-1.5e-38, "-1.5e-38"),
            (1e-7, "1e-07"),
            (3e20, "3e+20"),
            (1e-45, "1e-45"),
            (3.4028235e38, "3.4028235e+38"),
            (1.1754944e-38, "1.1754944e-38"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (0.00001, "1e-05"),
            (9.999e-5, "9.999e-05"),
            (123456.0, "123456"),
            (100000.0, "100000"),
            (999999.9, "999999.9"),
            (1e6, "1e+06"),
            (1234567.9, "1.2345679e+06"),
            (1.23456, "1.23456"),
            (0.33333334, "0.33333334"),
            (12.5, "12.5"),
        ];
        for (x, expected) in cases {
            assert_eq!(text(*x), *expected, "{x:e}");
        }
    }

    #[test]
    fn halfway_decimals_get_one_more_digit() {
        // Values Postgres 15 prints with more digits than Rust's shortest form.
        for (x, expected) in [
            (44779472.0f32, "4.4779472e+07"),
            (78954496.0, "7.8954496e+07"),
            (712300030.0, "7.1230003e+08"),
            (-124326704.0, "-1.24326704e+08"),
            (-11655999000.0, "-1.1655999e+10"),
            (7539999700.0, "7.5399997e+09"),
            // An exact tie between two 8-digit decimals rounds to the even one.
            (-4029917.25, "-4.0299172e+06"),
            (3346031.25, "3.3460312e+06"),
        ] {
            assert_eq!(text(x), expected);
            assert_eq!(text(x).parse::<f32>().unwrap(), x);
        }
    }

    #[test]
    fn every_text_reads_back() {
        // 200,000 float4s spread over every exponent, subnormals included.
        for i in 0..200_000u32 {
            let x = f32::from_bits(i.wrapping_mul(2_654_435_761) % 0x7f80_0000);
            assert_eq!(text(x).parse::<f32>().unwrap(), x, "{:#x}", x.to_bits());
        }
    }

    #[test]
    fn exact_comparison() {
        assert_eq!(compare(5, -1, 1, -1), Ordering::Equal); // 0.5 = 1/2
        assert_eq!(compare(25, -2, 1, -2), Ordering::Equal); // 0.25
        assert_eq!(compare(3, 0, 3, 0), Ordering::Equal);
        assert_eq!(compare(1, 45, 1, 149), Ordering::Greater); // 1e45 > 2^149 (7.1e44)
        assert_eq!(compare(1, -45, 1, -149), Ordering::Less); // 1e-45 < 2^-149 (1.4e-45)
    }
}
