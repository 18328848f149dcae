//! A picture as a model's input tensor: resized to the model's height and width
//! (centre crop of the input's aspect ratio, or stretch, and optionally only the
//! centre `crop_fraction` of that), with its channel count, channel order, value
//! range, per-channel normalisation and memory layout. Trained models use the
//! identity settings (square, centre crop, crop fraction 1, RGB, [0,1], no
//! normalisation, NCHW), for which `tensor` is exactly `resize::to_tensor`, bit for bit.
use super::resize::{to_tensor_framed, Frame};
use super::Picture;
use serde::{Deserialize, Serialize};

/// How a picture is fitted to the input's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// The largest centred region of the input's aspect ratio (for a square input:
    /// the shorter side scaled to the size, the longer side centre-cropped).
    CenterCrop,
    /// The whole picture squashed to the size (aspect ratio not kept).
    Stretch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelOrder {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

/// The scale of pixel values before normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueRange {
    #[serde(rename = "0..1")]
    Unit,
    #[serde(rename = "0..255")]
    Byte,
}

impl ValueRange {
    pub fn max(self) -> f32 {
        match self {
            ValueRange::Unit => 1.0,
            ValueRange::Byte => 255.0,
        }
    }
}

/// Where the channel axis is: [batch, channels, height, width] or [batch, height, width, channels].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    #[serde(rename = "NCHW")]
    Nchw,
    #[serde(rename = "NHWC")]
    Nhwc,
}

pub const RESIZE_NAMES: &str = "'center_crop', 'stretch'";
pub const CHANNEL_ORDER_NAMES: &str = "'RGB', 'BGR'";
pub const VALUE_RANGE_NAMES: &str = "'0..1', '0..255'";
pub const LAYOUT_NAMES: &str = "'NCHW', 'NHWC'";

/// Parses an option value as its JSON spelling (case-insensitive for the
/// upper-case names), or says which values are valid.
pub fn parse_option<T: for<'de> Deserialize<'de>>(option: &str, value: &str, valid: &str) -> Result<T, String> {
    let spellings = [value.to_string(), value.to_ascii_lowercase(), value.to_ascii_uppercase()];
    spellings
        .iter()
        .find_map(|v| serde_json::from_value(serde_json::Value::String(v.clone())).ok())
        .ok_or_else(|| format!("{option} must be one of {valid}, not '{value}'"))
}

/// ImageNet's per-channel statistics (torchvision's convention) on the 0..1 scale.
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];
/// Their averages, the usual choice for grayscale models trained on ImageNet.
pub const IMAGENET_GRAY_MEAN: f64 = 0.449;
pub const IMAGENET_GRAY_STD: f64 = 0.226;

/// Everything that turns a picture into one image's part of the input tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessing {
    pub height: u32,
    pub width: u32,
    pub channels: u8,
    pub resize: Resize,
    /// The centred part of the resized region kept, along each side (1: all of it).
    pub crop_fraction: f64,
    pub channel_order: ChannelOrder,
    pub value_range: ValueRange,
    /// Per channel, in the model's channel order and on the value range's scale.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub layout: Layout,
}

impl Preprocessing {
    /// The shorter side a picture needs so that fitting it to the input (after the
    /// centre crop keeps `crop_fraction` of it) never enlarges it: a decoder may
    /// deliver a reduced picture as long as it keeps at least this much.
    pub fn needed_side(&self) -> u32 {
        (self.height.max(self.width) as f64 / self.crop_fraction.clamp(1e-3, 1.0)).ceil() as u32
    }

    /// What `build_model`'s encoders expect.
    pub fn trained(image_size: u32, channels: u8) -> Preprocessing {
        Preprocessing {
            height: image_size,
            width: image_size,
            channels,
            resize: Resize::CenterCrop,
            crop_fraction: 1.0,
            channel_order: ChannelOrder::Rgb,
            value_range: ValueRange::Unit,
            mean: vec![0.0; channels as usize],
            std: vec![1.0; channels as usize],
            layout: Layout::Nchw,
        }
    }

    /// Checks what the caller chose; `mean`/`std` of one value apply to every channel.
    pub fn check(mut self) -> Result<Preprocessing, String> {
        for (option, side) in [("image_size", self.height), ("image_width", self.width)] {
            if !(MIN_SIZE..=MAX_SIZE).contains(&side) {
                return Err(format!("{option} must be between {MIN_SIZE} and {MAX_SIZE}, not {side}"));
            }
        }
        check_crop_fraction(self.crop_fraction)?;
        if self.channels != 1 && self.channels != 3 {
            return Err(format!("channels must be 1 (grayscale) or 3 (colour), not {}", self.channels));
        }
        let c = self.channels as usize;
        for (name, values) in [("mean", &mut self.mean), ("std", &mut self.std)] {
            if values.len() == 1 {
                *values = vec![values[0]; c];
            }
            if values.len() != c {
                return Err(format!(
                    "{name} must have 1 value or one per channel ({c}), not {}; pass e.g. {name} => '{{{}}}'",
                    values.len(),
                    vec![if name == "mean" { "0" } else { "1" }; c].join(",")
                ));
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(format!("{name} values must be finite numbers"));
            }
        }
        if self.std.iter().any(|&s| s <= 0.0) {
            return Err("std values must be positive (each channel is divided by its std)".into());
        }
        Ok(self)
    }

    fn is_identity(&self) -> bool {
        self.value_range == ValueRange::Unit
            && self.mean.iter().all(|&m| m == 0.0)
            && self.std.iter().all(|&s| s == 1.0)
            && (self.channel_order == ChannelOrder::Rgb || self.channels == 1)
            && (self.layout == Layout::Nchw || self.channels == 1)
    }

    /// Floats of one image in the input tensor.
    pub fn image_len(&self) -> usize {
        self.height as usize * self.width as usize * self.channels as usize
    }

    /// The input tensor's shape for `batch` images.
    pub fn shape(&self, batch: usize) -> [usize; 4] {
        let (h, w, c) = (self.height as usize, self.width as usize, self.channels as usize);
        match self.layout {
            Layout::Nchw => [batch, c, h, w],
            Layout::Nhwc => [batch, h, w, c],
        }
    }

    /// One image's part of the input tensor (`image_len` floats).
    pub fn tensor(&self, p: &Picture) -> Vec<f32> {
        let frame = Frame {
            width: self.width,
            height: self.height,
            stretch: self.resize == Resize::Stretch,
            crop_fraction: self.crop_fraction,
        };
        let mut chw = to_tensor_framed(p, frame, self.channels);
        if self.is_identity() {
            return chw;
        }
        let plane = self.height as usize * self.width as usize;
        if self.channels == 3 && self.channel_order == ChannelOrder::Bgr {
            let (r, rest) = chw.split_at_mut(plane);
            r.swap_with_slice(&mut rest[plane..]);
        }
        let scale = self.value_range.max();
        for (c, values) in chw.chunks_exact_mut(plane).enumerate() {
            let (mean, std) = (self.mean[c], self.std[c]);
            values.iter_mut().for_each(|v| *v = (*v * scale - mean) / std);
        }
        if self.layout == Layout::Nchw || self.channels == 1 {
            return chw;
        }
        let c = self.channels as usize;
        let mut hwc = vec![0.0f32; chw.len()];
        for (ch, values) in chw.chunks_exact(plane).enumerate() {
            for (i, &v) in values.iter().enumerate() {
                hwc[i * c + ch] = v;
            }
        }
        hwc
    }
}

/// Bounds of an imported model's input side.
pub const MIN_SIZE: u32 = 8;
pub const MAX_SIZE: u32 = 1024;

/// `crop_fraction` is a share of the picture: more than 0, at most 1.
pub fn check_crop_fraction(fraction: f64) -> Result<(), String> {
    if fraction > 0.0 && fraction <= 1.0 {
        return Ok(());
    }
    Err(format!(
        "crop_fraction must be more than 0 and at most 1, not {fraction} (it is the centred share of the picture's \
         shorter side kept; 0.875 is ImageNet's resize to 256 and centre crop of 224)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::image::resize::to_tensor;

    fn photo() -> Picture {
        Picture::new(5, 3, 3, (0..45).map(|i| (i * 37 % 256) as u8).collect())
    }

    #[test]
    fn trained_settings_are_exactly_to_tensor() {
        let p = photo();
        assert_eq!(Preprocessing::trained(4, 3).tensor(&p), to_tensor(&p, 4, 3));
        assert_eq!(Preprocessing::trained(4, 1).tensor(&p), to_tensor(&p, 4, 1));
        // So are zero mean and unit std given explicitly, as an exported model is re-imported.
        let explicit =
            Preprocessing { mean: vec![0.0], std: vec![1.0], ..Preprocessing::trained(8, 3) }.check().unwrap();
        assert_eq!(explicit.tensor(&p), to_tensor(&p, 8, 3));
    }

    #[test]
    fn normalises_swaps_and_transposes() {
        // A 1x1 picture: R=255, G=0, B=51.
        let p = Picture::new(1, 1, 3, vec![255, 0, 51]);
        let base = Preprocessing::trained(1, 3);
        let f32s = |v: [f64; 3]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let imagenet = Preprocessing { mean: f32s(IMAGENET_MEAN), std: f32s(IMAGENET_STD), ..base.clone() };
        let got = imagenet.tensor(&p);
        let want = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?}");
        }
        let bgr_255 = Preprocessing {
            channel_order: ChannelOrder::Bgr,
            value_range: ValueRange::Byte,
            mean: vec![1.0, 2.0, 3.0],
            ..base.clone()
        };
        assert_eq!(bgr_255.tensor(&p), vec![50.0, -2.0, 252.0]);
        // 2x1 picture in NHWC: pixel by pixel, channels innermost.
        let two = Picture::new(2, 1, 3, vec![255, 0, 0, 0, 0, 255]);
        let stretch = |layout| Preprocessing { layout, resize: Resize::Stretch, height: 2, width: 2, ..base.clone() };
        let nchw = stretch(Layout::Nchw).tensor(&two);
        let nhwc = Preprocessing { mean: vec![0.0; 3], ..stretch(Layout::Nhwc) }.tensor(&two);
        assert_eq!(nchw.len(), 12);
        for y in 0..2 {
            for x in 0..2 {
                for c in 0..3 {
                    assert_eq!(nchw[c * 4 + y * 2 + x], nhwc[(y * 2 + x) * 3 + c]);
                }
            }
        }
        assert_eq!(stretch(Layout::Nhwc).shape(5), [5, 2, 2, 3]);
    }

    #[test]
    fn non_square_inputs_and_crop_fraction() {
        let wide =
            Preprocessing { height: 8, width: 12, mean: vec![0.5], ..Preprocessing::trained(8, 3) }.check().unwrap();
        assert_eq!((wide.shape(2), wide.image_len()), ([2, 3, 8, 12], 288));
        let wide_nhwc = Preprocessing { layout: Layout::Nhwc, ..wide.clone() };
        assert_eq!(wide_nhwc.shape(2), [2, 8, 12, 3]);
        // NHWC is the NCHW tensor transposed, rows `width` long.
        let (nchw, nhwc) = (wide.tensor(&photo()), wide_nhwc.tensor(&photo()));
        for (y, x, c) in [(0, 11, 2), (7, 0, 1), (3, 5, 0)] {
            assert_eq!(nchw[c * 96 + y * 12 + x], nhwc[(y * 12 + x) * 3 + c]);
        }
        // A white 10x10 picture with a black 1-pixel frame: keeping the centre 80 %
        // of each side leaves only white.
        let framed = (0..100).map(|i| if (1..9).contains(&(i % 10)) && (1..9).contains(&(i / 10)) { 255 } else { 0 });
        let framed = Picture::new(10, 10, 1, framed.collect());
        let square = Preprocessing::trained(8, 1);
        assert!(square.tensor(&framed).iter().any(|&v| v < 0.5));
        let cropped = Preprocessing { crop_fraction: 0.8, ..square }.check().unwrap();
        assert!(cropped.tensor(&framed).iter().all(|&v| v == 1.0));
    }

    #[test]
    fn needed_side_covers_the_larger_side_and_the_crop() {
        assert_eq!(Preprocessing::trained(28, 1).needed_side(), 28);
        let p = Preprocessing { height: 224, width: 320, crop_fraction: 0.875, ..Preprocessing::trained(224, 3) };
        assert_eq!(p.needed_side(), 366);
    }

    #[test]
    fn stretch_keeps_the_edges_that_crop_cuts() {
        // 4x2: left half black, right half white. A centre crop keeps the middle 2
        // columns; a stretch keeps both halves.
        let p = Picture::new(4, 2, 1, vec![0, 0, 255, 255, 0, 0, 255, 255]);
        let crop = Preprocessing::trained(2, 1).tensor(&p);
        let stretch = Preprocessing { resize: Resize::Stretch, ..Preprocessing::trained(2, 1) }.tensor(&p);
        assert!(stretch[0] < 0.2 && stretch[1] > 0.8, "{stretch:?}");
        assert_eq!(crop, vec![0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn options_parse_and_are_checked() {
        assert_eq!(parse_option::<Layout>("layout", "nhwc", LAYOUT_NAMES), Ok(Layout::Nhwc));
        assert_eq!(parse_option::<Resize>("resize", "Stretch", RESIZE_NAMES), Ok(Resize::Stretch));
        assert_eq!(parse_option::<ValueRange>("value_range", "0..255", VALUE_RANGE_NAMES), Ok(ValueRange::Byte));
        assert_eq!(
            parse_option::<ChannelOrder>("channel_order", "GBR", CHANNEL_ORDER_NAMES).unwrap_err(),
            "channel_order must be one of 'RGB', 'BGR', not 'GBR'"
        );
        let base = Preprocessing::trained(32, 3);
        assert_eq!(Preprocessing { mean: vec![0.5], ..base.clone() }.check().unwrap().mean, vec![0.5; 3]);
        let err = Preprocessing { mean: vec![0.5, 0.5], ..base.clone() }.check().unwrap_err();
        assert_eq!(err, "mean must have 1 value or one per channel (3), not 2; pass e.g. mean => '{0,0,0}'");
        assert!(Preprocessing { std: vec![0.0], ..base.clone() }.check().unwrap_err().contains("positive"));
        assert!(Preprocessing { mean: vec![f32::NAN], ..base.clone() }.check().is_err());
        assert!(Preprocessing { height: 4, ..base.clone() }.check().unwrap_err().contains("between 8 and 1024"));
        let err = Preprocessing { width: 2000, ..base.clone() }.check().unwrap_err();
        assert_eq!(err, "image_width must be between 8 and 1024, not 2000");
        for bad in [0.0, -0.5, 1.01, f64::NAN, f64::INFINITY] {
            let err = Preprocessing { crop_fraction: bad, ..base.clone() }.check().unwrap_err();
            assert!(err.starts_with(&format!("crop_fraction must be more than 0 and at most 1, not {bad}")), "{err}");
        }
        assert!(Preprocessing { crop_fraction: 0.875, ..base.clone() }.check().is_ok());
        assert!(Preprocessing { channels: 2, ..base }.check().is_err());
    }
}
