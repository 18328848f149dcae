//! EXIF orientation: phones and cameras store a photo's pixels as the sensor
//! read them and record in an EXIF Orientation tag (1 to 8) how to turn them
//! for display. A photo taken upright on a phone held sideways is stored lying
//! down with orientation 6; ignoring the tag would embed it lying down, and a
//! search with the same photo taken the other way would not find it.
//!
//! Every decode applies it (`decode`): the full decoder asks the `image`
//! crate's decoder, and the 1/8-scale JPEG path reads the tag from the APP1
//! segment (`jpeg_dc::exif`) and turns the small picture.
use super::Picture;
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};

/// The orientation an Exif chunk (the TIFF structure after "Exif\0\0")
/// records; none, or a value outside 1 to 8, leaves the picture as stored.
pub fn from_exif(chunk: Option<&[u8]>) -> Orientation {
    chunk.and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms)
}

/// The picture as it should be shown: rotated and/or flipped by `orientation`
/// (with the `image` crate's transforms, as the full decoder's pictures are).
pub fn apply(picture: Picture, orientation: Orientation) -> Picture {
    if orientation == Orientation::NoTransforms {
        return picture;
    }
    let Picture { width, height, channels, pixels } = picture;
    let mut image = match channels {
        1 => DynamicImage::ImageLuma8(GrayImage::from_raw(width, height, pixels).expect("Picture checks its size")),
        _ => DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, pixels).expect("Picture checks its size")),
    };
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let pixels = match image {
        DynamicImage::ImageLuma8(gray) => gray.into_raw(),
        other => other.into_rgb8().into_raw(),
    };
    Picture::new(width, height, channels, pixels)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 3x2 gray picture whose pixels are their own positions:
    ///   0 1 2
    ///   3 4 5
    fn stored() -> Picture {
        Picture::new(3, 2, 1, vec![0, 1, 2, 3, 4, 5])
    }

    /// An Exif chunk with only IFD0's Orientation entry, in either byte order.
    pub(crate) fn exif_chunk(value: u16, big_endian: bool) -> Vec<u8> {
        let (u16b, u32b): (fn(u16) -> [u8; 2], fn(u32) -> [u8; 4]) =
            if big_endian { (u16::to_be_bytes, u32::to_be_bytes) } else { (u16::to_le_bytes, u32::to_le_bytes) };
        let mut chunk = if big_endian { b"MM".to_vec() } else { b"II".to_vec() };
        chunk.extend(u16b(42));
        chunk.extend(u32b(8)); // IFD0 right after the header
        chunk.extend(u16b(1)); // one entry
        chunk.extend(u16b(0x0112)); // Orientation
        chunk.extend(u16b(3)); // SHORT
        chunk.extend(u32b(1)); // one value, stored in the entry's first two bytes
        chunk.extend(u16b(value));
        chunk.extend([0, 0]);
        chunk.extend(u32b(0)); // no next IFD
        chunk
    }

    /// `jpeg` with an APP1 Exif segment holding `value`, right after SOI (where cameras put it).
    pub(crate) fn with_orientation(jpeg: &[u8], value: u16) -> Vec<u8> {
        let body = [b"Exif\0\0".as_slice(), &exif_chunk(value, true)].concat();
        let mut out = jpeg[..2].to_vec();
        out.extend([0xFF, 0xE1]);
        out.extend(((body.len() + 2) as u16).to_be_bytes());
        out.extend(body);
        out.extend(&jpeg[2..]);
        out
    }

    /// Each EXIF value, worked out by hand from its definition (where the
    /// stored row 0 and column 0 belong when shown): the displayed pixels.
    #[test]
    fn each_orientation_moves_pixels_where_exif_says() {
        let expected: [(u16, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]), // as stored
            (2, (3, 2), [2, 1, 0, 5, 4, 3]), // mirrored left to right
            (3, (3, 2), [5, 4, 3, 2, 1, 0]), // turned 180°
            (4, (3, 2), [3, 4, 5, 0, 1, 2]), // mirrored top to bottom
            (5, (2, 3), [0, 3, 1, 4, 2, 5]), // transposed
            (6, (2, 3), [3, 0, 4, 1, 5, 2]), // turned 90° clockwise
            (7, (2, 3), [5, 2, 4, 1, 3, 0]), // transversed
            (8, (2, 3), [2, 5, 1, 4, 0, 3]), // turned 90° counter-clockwise
        ];
        for (value, (w, h), pixels) in expected {
            for big_endian in [true, false] {
                let orientation = from_exif(Some(&exif_chunk(value, big_endian)));
                assert_eq!(orientation.to_exif() as u16, value);
                let shown = apply(stored(), orientation);
                assert_eq!((shown.width, shown.height, shown.pixels.as_slice()), (w, h, pixels.as_slice()), "{value}");
            }
        }
    }

    /// Both decoders turn a tagged JPEG: the full one (small files) and the
    /// 1/8-scale DC one (large files), each giving what it gives untagged, turned.
    #[test]
    fn decoding_applies_the_tag_at_full_size_and_at_one_eighth() {
        use crate::engine::image::decode::{decode_bytes, decode_bytes_at_least, tests::encode, DecodeLimits};
        use image::{ImageFormat, Rgb};
        let limits = DecodeLimits::default();
        for (w, h, min_side) in [(48, 32, 32), (256, 176, 20)] {
            let picture = RgbImage::from_fn(w, h, |x, y| {
                Rgb([if x < w / 3 { 230 } else { 20 }, if y < h / 4 { 200 } else { 40 }, ((x + y) % 256) as u8])
            });
            let plain = encode(&DynamicImage::ImageRgb8(picture), ImageFormat::Jpeg);
            let stored = decode_bytes_at_least(&plain, "p", &limits, min_side).unwrap();
            assert_eq!(stored.width, if min_side == 20 { w / 8 } else { w }, "the path under test");
            for value in 1..=8u8 {
                let tagged = with_orientation(&plain, value as u16);
                let turned = apply(stored.clone(), Orientation::from_exif(value).unwrap());
                assert_eq!(decode_bytes_at_least(&tagged, "t", &limits, min_side).unwrap(), turned, "{w}x{h} {value}");
                if min_side == 32 {
                    assert_eq!(decode_bytes(&tagged, "t", &limits).unwrap(), turned, "{value}");
                }
            }
        }
    }

    #[test]
    fn colour_pixels_move_whole() {
        let rgb = Picture::new(2, 1, 3, vec![1, 2, 3, 4, 5, 6]);
        let shown = apply(rgb, Orientation::Rotate90);
        assert_eq!((shown.width, shown.height, shown.channels), (1, 2, 3));
        assert_eq!(shown.pixels, vec![1, 2, 3, 4, 5, 6]);
        let mirrored = apply(Picture::new(2, 1, 3, vec![1, 2, 3, 4, 5, 6]), Orientation::FlipHorizontal);
        assert_eq!(mirrored.pixels, vec![4, 5, 6, 1, 2, 3]);
    }

    #[test]
    fn missing_or_bad_tags_leave_the_picture_alone() {
        for chunk in [None, Some(&b""[..]), Some(&b"MM\0*garbage"[..])] {
            assert_eq!(from_exif(chunk), Orientation::NoTransforms);
        }
        for bad in [0, 9, 300] {
            assert_eq!(from_exif(Some(&exif_chunk(bad, true))), Orientation::NoTransforms, "{bad}");
        }
        assert_eq!(apply(stored(), Orientation::NoTransforms), stored());
    }
}
