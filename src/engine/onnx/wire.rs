//! Reading the protobuf wire format, the counterpart of `encoder_file`'s writer:
//! enough to walk an ONNX file field by field without a protobuf library or
//! generated code. Every read is bounds-checked and returns an error on bad
//! input (a truncated file, a length past the end, an unknown wire type), so
//! arbitrary bytes from a caller can never panic.

/// One field of a message: its number and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Varint(u32, u64),
    Fixed64(u32, u64),
    Fixed32(u32, u32),
    Bytes(u32, &'a [u8]),
}

impl<'a> Field<'a> {
    pub fn number(&self) -> u32 {
        match *self {
            Field::Varint(n, _) | Field::Fixed64(n, _) | Field::Fixed32(n, _) | Field::Bytes(n, _) => n,
        }
    }
}

/// Why bytes are not a well-formed protobuf message.
#[derive(Debug, Clone, PartialEq)]
pub struct WireError(pub &'static str);

/// The fields of one message, in file order.
pub struct Fields<'a> {
    rest: &'a [u8],
}

pub fn fields(message: &[u8]) -> Fields<'_> {
    Fields { rest: message }
}

fn varint(bytes: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or(WireError("the data ends inside a number"))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError("a number is longer than 10 bytes"))
}

fn take<'a>(bytes: &mut &'a [u8], len: u64) -> Result<&'a [u8], WireError> {
    let len = usize::try_from(len).map_err(|_| WireError("a length is too large"))?;
    if len > bytes.len() {
        return Err(WireError("a field runs past the end of the data"));
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(head)
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = (|| {
            let key = varint(&mut self.rest)?;
            let number = u32::try_from(key >> 3).map_err(|_| WireError("a field number is too large"))?;
            if number == 0 {
                return Err(WireError("field number 0"));
            }
            Ok(match key & 7 {
                0 => Field::Varint(number, varint(&mut self.rest)?),
                1 => {
                    let b = take(&mut self.rest, 8)?;
                    Field::Fixed64(number, u64::from_le_bytes(b.try_into().expect("8 bytes")))
                }
                2 => {
                    let len = varint(&mut self.rest)?;
                    Field::Bytes(number, take(&mut self.rest, len)?)
                }
                5 => {
                    let b = take(&mut self.rest, 4)?;
                    Field::Fixed32(number, u32::from_le_bytes(b.try_into().expect("4 bytes")))
                }
                _ => return Err(WireError("an unknown wire type")),
            })
        })();
        if field.is_err() {
            self.rest = &[];
        }
        Some(field)
    }
}

/// The values of a repeated int64 field: packed (one `Bytes` field) or not (a `Varint`).
pub fn int64s(field: Field<'_>) -> Result<Vec<i64>, WireError> {
    match field {
        Field::Varint(_, v) => Ok(vec![v as i64]),
        Field::Bytes(_, mut packed) => {
            let mut out = Vec::new();
            while !packed.is_empty() {
                out.push(varint(&mut packed)? as i64);
            }
            Ok(out)
        }
        _ => Err(WireError("a number field has the wrong wire type")),
    }
}

/// A string field's text (lossy: names are only shown in messages and compared).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_wire_type() {
        // 1: varint 300, 2: bytes "hi", 3: fixed32 1.0, 4: fixed64 7
        let mut msg = vec![0x08, 0xac, 0x02, 0x12, 0x02, b'h', b'i', 0x1d, 0, 0, 0x80, 0x3f, 0x21];
        msg.extend_from_slice(&7u64.to_le_bytes());
        let got: Vec<Field> = fields(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                Field::Varint(1, 300),
                Field::Bytes(2, b"hi"),
                Field::Fixed32(3, 1.0f32.to_bits()),
                Field::Fixed64(4, 7)
            ]
        );
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        for bad in [
            &[0x12, 0x05, b'a'][..],
            &[0x08][..],
            &[0x0b][..],
            &[0x00, 0x01][..],
            &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..],
        ] {
            assert!(fields(bad).any(|f| f.is_err()), "{bad:?}");
        }
        // After an error the iterator ends.
        let mut it = fields(&[0x12, 0x05]);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn packed_and_unpacked_int64s() {
        assert_eq!(int64s(Field::Bytes(1, &[0x01, 0xac, 0x02])).unwrap(), vec![1, 300]);
        assert_eq!(int64s(Field::Varint(1, u64::MAX)).unwrap(), vec![-1]);
    }
}
