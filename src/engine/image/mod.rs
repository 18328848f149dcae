//! Images: where they come from (`access`: the server-file policy), decoding
//! (`decode`, large JPEGs at 1/8 scale in `jpeg_dc`, EXIF `orientation`),
//! resampling (`resize`), model input tensors (`preprocess`), SimCLR
//! augmentation (`augment`, `photometric`) and the captioned grids that show
//! results (`grid`).
pub mod access;
pub mod augment;
pub mod decode;
pub mod distort;
pub mod grid;
pub mod jpeg_bits;
pub mod jpeg_dc;
pub mod orientation;
pub mod photometric;
pub mod preprocess;
pub mod resize;

/// A decoded picture, 8-bit, either 1 channel (gray) or 3 (RGB), row-major HWC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub pixels: Vec<u8>,
}

impl Picture {
    /// Builds a picture, checking that it is non-empty and that the buffer
    /// matches the shape, so later indexing cannot go out of bounds.
    pub fn new(width: u32, height: u32, channels: u8, pixels: Vec<u8>) -> Picture {
        assert!(width > 0 && height > 0, "a picture cannot be empty ({width}x{height})");
        assert!(channels == 1 || channels == 3, "channels must be 1 or 3, got {channels}");
        assert_eq!(
            pixels.len(),
            width as usize * height as usize * channels as usize,
            "pixel buffer does not match {width}x{height}x{channels}"
        );
        Picture { width, height, channels, pixels }
    }
}
