//! Encoders as the catalog describes them: which input to feed and how
//! (`EncoderConfig`, stored as JSON), which output to read and how to turn it
//! into one vector per image (`Pooling`), and in batches of what size. A trained
//! model is the special case `EncoderConfig::trained()`. `plan` checks an
//! imported model's declared signature against the caller's options and says
//! which option fixes a mismatch; `Encoder::validate` runs the model on test
//! images before it is stored.
use super::inspect::{elem_type_name, Dim, Signature, ValueType, FLOAT};
use crate::engine::image::preprocess::{
    self as pre, ChannelOrder, Layout, Preprocessing, Resize, ValueRange, IMAGENET_GRAY_MEAN, IMAGENET_GRAY_STD,
    IMAGENET_MEAN, IMAGENET_STD,
};
use crate::engine::image::Picture;
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

/// How a feature map (or a sequence of tokens) becomes one vector per image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    Average,
    Max,
    /// The first position: the class token of a [batch, tokens, dim] output.
    First,
}

pub const POOLING_NAMES: &str = "'average', 'max', 'first'";

/// The catalog's `encoder_config`: everything about feeding and reading the
/// encoder except its `image_size` and `channels`, which have their own columns.
/// The fields added in 0.5.0 are left out of the JSON at their defaults, so
/// trained models and models imported by 0.4.0 read and store the same JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    pub input: String,
    pub output: String,
    pub layout: Layout,
    pub resize: Resize,
    /// The centred share of the resized region kept (ImageNet's evaluation crop: 0.875).
    #[serde(default = "full_picture", skip_serializing_if = "is_full_picture")]
    pub crop_fraction: f64,
    /// The input's width when it differs from `image_size`, which is then its height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_width: Option<u32>,
    pub channel_order: ChannelOrder,
    pub value_range: ValueRange,
    /// Per channel (or one for all), in the model's channel order and on the value range's scale.
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub pooling: Pooling,
    /// `Some(1)` for a model with a fixed batch of one image; `None`: any batch size.
    pub batch_size: Option<usize>,
}

fn full_picture() -> f64 {
    1.0
}

fn is_full_picture(fraction: &f64) -> bool {
    *fraction == 1.0
}

impl EncoderConfig {
    /// What `build_model`'s encoders are: also the catalog column's default.
    pub fn trained() -> EncoderConfig {
        EncoderConfig {
            input: "images".into(),
            output: "embedding".into(),
            layout: Layout::Nchw,
            resize: Resize::CenterCrop,
            crop_fraction: 1.0,
            image_width: None,
            channel_order: ChannelOrder::Rgb,
            value_range: ValueRange::Unit,
            mean: vec![0.0],
            std: vec![1.0],
            pooling: Pooling::Average,
            batch_size: None,
        }
    }
}

/// A model's encoder, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoder {
    pub config: EncoderConfig,
    pub preprocessing: Preprocessing,
}

/// Floats of input per run, at most: bounds memory (the activations of a large
/// model grow with the batch) while keeping small models' batches large.
const BATCH_INPUT_FLOATS: usize = 4 << 20;
/// Images per run, at most.
pub const MAX_BATCH: usize = 256;

impl Encoder {
    /// `image_size` is the input's height, and its width unless `config.image_width` says otherwise.
    pub fn new(config: EncoderConfig, image_size: u32, channels: u8) -> Result<Encoder, String> {
        let preprocessing = Preprocessing {
            height: image_size,
            width: config.image_width.unwrap_or(image_size),
            channels,
            resize: config.resize,
            crop_fraction: config.crop_fraction,
            channel_order: config.channel_order,
            value_range: config.value_range,
            mean: config.mean.iter().map(|&v| v as f32).collect(),
            std: config.std.iter().map(|&v| v as f32).collect(),
            layout: config.layout,
        }
        .check()?;
        Ok(Encoder { config, preprocessing })
    }

    /// Images per encoder run.
    pub fn batch_size(&self) -> usize {
        self.config
            .batch_size
            .unwrap_or_else(|| (BATCH_INPUT_FLOATS / self.preprocessing.image_len()).clamp(1, MAX_BATCH))
    }

    /// Embeddings of `pictures`, in order, `batch_size` at a time; `between_runs`
    /// is called before every run after the first (a place to check for cancels).
    pub fn embed(
        &self,
        session: &mut Session,
        pictures: &[&Picture],
        between_runs: &mut dyn FnMut(),
    ) -> Result<Vec<Vec<f32>>, String> {
        use rayon::prelude::*;
        let mut out = Vec::with_capacity(pictures.len());
        for (i, batch) in pictures.chunks(self.batch_size()).enumerate() {
            if i > 0 {
                between_runs();
            }
            let tensor: Vec<f32> = batch.par_iter().flat_map_iter(|p| self.preprocessing.tensor(p)).collect();
            out.extend(self.run(session, &tensor, batch.len())?);
        }
        Ok(out)
    }

    fn run(&self, session: &mut Session, tensor: &[f32], images: usize) -> Result<Vec<Vec<f32>>, String> {
        let shape = self.preprocessing.shape(images);
        let err = |e: ort::Error| format!("{RUN_FAILED} on input {shape:?}: {e}");
        let input = TensorRef::from_array_view((shape, tensor)).map_err(err)?;
        let outputs = session.run(ort::inputs![self.config.input.as_str() => input]).map_err(err)?;
        let output = outputs
            .get(&self.config.output)
            .ok_or_else(|| format!("the encoder has no output \"{}\"", self.config.output))?;
        let (out_shape, values) = output.try_extract_tensor::<f32>().map_err(|e| {
            format!(
                "output \"{}\" of the encoder is not a float32 tensor ({e}); pass output_name => a float32 output",
                self.config.output
            )
        })?;
        readout(&self.config.output, out_shape, values, images, self.config.layout, self.config.pooling)
    }

    /// Runs the encoder on test pictures as `import_model` must before storing
    /// it: one image, then (unless the model takes one image at a time) two in
    /// one batch. Returns the embedding dimension.
    pub fn validate(&self, session: &mut Session) -> Result<usize, String> {
        let pictures = test_pictures();
        let output = &self.config.output;
        let one = self.embed(session, &[&pictures[0]], &mut || {})?;
        let dim = one[0].len();
        check_finite(output, &one)?;
        if self.config.batch_size.is_none() {
            let shape = self.preprocessing.shape(2);
            let tensor: Vec<f32> = pictures.iter().flat_map(|p| self.preprocessing.tensor(p)).collect();
            let two = self.run(session, &tensor, 2).map_err(|e| {
                if !e.starts_with(RUN_FAILED) {
                    return e;
                }
                format!(
                    "{e} (a batch of 2 test images {shape:?}; the input's batch dimension is dynamic, but the model \
                     seems to accept only 1 image: export it with a fixed batch size of 1, or with dynamic axes \
                     throughout)"
                )
            })?;
            check_finite(output, &two)?;
            if two[0].len() != dim {
                return Err(format!(
                    "output \"{output}\" has {dim} values per image in a batch of 1 but {} in a batch of 2",
                    two[0].len()
                ));
            }
            let tolerance = |a: f32| 1e-3 * (1.0 + a.abs());
            if two[0].iter().zip(&one[0]).any(|(a, b)| (a - b).abs() > tolerance(*b)) {
                return Err(format!(
                    "output \"{output}\" of an image changes with the other images of its batch; image_search needs \
                     each image's vector to depend on that image only (export the model in eval mode, without \
                     batch statistics)"
                ));
            }
        }
        Ok(dim)
    }
}

/// How the message of a failed encoder run starts.
const RUN_FAILED: &str = "the encoder failed in ONNX Runtime";

fn check_finite(output: &str, vectors: &[Vec<f32>]) -> Result<(), String> {
    if vectors.iter().flatten().all(|v| v.is_finite()) {
        return Ok(());
    }
    Err(format!(
        "output \"{output}\" has NaN or infinite values for a test image; check the model, and value_range, mean \
         and std (the input it expects)"
    ))
}

/// Two small synthetic photos of different shapes and content.
fn test_pictures() -> [Picture; 2] {
    let (w, h) = (48u32, 36u32);
    let gradient = (0..w * h * 3).map(|i| ((i / 3 % w) * 255 / w + (i % 3) * 40) as u8).collect();
    let checker = (0..h * w * 3).map(|i| if (i / 3 % h / 6 + i / 3 / h / 6) % 2 == 0 { 230 } else { 20 }).collect();
    [Picture::new(w, h, 3, gradient), Picture::new(h, w, 3, checker)]
}

/// Splits an encoder output of shape `shape` for `images` images into one
/// vector each, pooling a feature map ([N,C,H,W] or [N,H,W,C] by `layout`) or
/// tokens ([N,T,D]) with `pooling`.
pub fn readout(
    output: &str,
    shape: &[i64],
    values: &[f32],
    images: usize,
    layout: Layout,
    pooling: Pooling,
) -> Result<Vec<Vec<f32>>, String> {
    let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    let shown = format!("{shape:?}");
    if dims.first() != Some(&images) || dims.len() < 2 {
        let why = if dims.len() < 2 { "one number, not a vector," } else { "not one vector" };
        return Err(format!(
            "output \"{output}\" has shape {shown} for a batch of {images} image(s): {why} per image; image_search \
             needs [batch, dim], or a feature map [batch, ...] that it pools (pass output_name => another output)"
        ));
    }
    if values.len() != dims.iter().product::<usize>() || values.is_empty() {
        return Err(format!("output \"{output}\" has shape {shown} and is empty"));
    }
    let per_image = values.len() / images;
    // (positions, features, features vary fastest?) of each image's block.
    let (positions, features, feature_major) = match dims.len() {
        2 => return Ok(values.chunks_exact(per_image).map(<[f32]>::to_vec).collect()),
        3 => (dims[1], dims[2], false),
        4 if layout == Layout::Nchw => (dims[2] * dims[3], dims[1], true),
        4 => (dims[1] * dims[2], dims[3], false),
        _ => {
            return Err(format!(
                "output \"{output}\" has shape {shown}; image_search pools outputs of rank 3 or 4 only (pass output_name => another output)"
            ))
        }
    };
    let at = |block: &[f32], p: usize, f: usize| {
        if feature_major {
            block[f * positions + p]
        } else {
            block[p * features + f]
        }
    };
    Ok(values
        .chunks_exact(per_image)
        .map(|block| {
            (0..features)
                .map(|f| match pooling {
                    Pooling::First => at(block, 0, f),
                    Pooling::Average => (0..positions).map(|p| at(block, p, f)).sum::<f32>() / positions as f32,
                    Pooling::Max => (0..positions).map(|p| at(block, p, f)).fold(f32::NEG_INFINITY, f32::max),
                })
                .collect()
        })
        .collect())
}

/// `import_model`'s options as the caller gave them (NULL = `None`).
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub image_size: Option<i32>,
    pub image_width: Option<i32>,
    pub resize: String,
    pub crop_fraction: f64,
    pub channels: Option<i32>,
    pub channel_order: String,
    pub value_range: String,
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
    pub layout: String,
    pub output_name: Option<String>,
    pub pooling: String,
}

/// import_model's defaults.
impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            image_size: None,
            image_width: None,
            resize: "center_crop".into(),
            crop_fraction: 1.0,
            channels: None,
            channel_order: "RGB".into(),
            value_range: "0..1".into(),
            mean: None,
            std: None,
            layout: "NCHW".into(),
            output_name: None,
            pooling: "average".into(),
        }
    }
}

/// The side an image is resized to when the model does not fix it.
pub const DEFAULT_IMAGE_SIZE: u32 = 224;

fn dims_text(dims: &[Dim]) -> String {
    let each: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Free(name) if name.is_empty() => "?".into(),
            Dim::Free(name) => name.clone(),
        })
        .collect();
    format!("[{}]", each.join(", "))
}

fn fixed(dim: &Dim) -> Option<i64> {
    match dim {
        Dim::Fixed(n) if *n > 0 => Some(*n),
        _ => None,
    }
}

/// Checks the model's declared interface against the options and fills in the
/// defaults: returns the encoder to validate by running it.
pub fn plan(signature: &Signature, options: &ImportOptions) -> Result<Encoder, String> {
    let layout: Layout = pre::parse_option("layout", &options.layout, pre::LAYOUT_NAMES)?;
    let resize: Resize = pre::parse_option("resize", &options.resize, pre::RESIZE_NAMES)?;
    let channel_order: ChannelOrder =
        pre::parse_option("channel_order", &options.channel_order, pre::CHANNEL_ORDER_NAMES)?;
    let value_range: ValueRange = pre::parse_option("value_range", &options.value_range, pre::VALUE_RANGE_NAMES)?;
    let pooling: Pooling = pre::parse_option("pooling", &options.pooling, POOLING_NAMES)?;

    let input = match &signature.inputs[..] {
        [one] => one,
        [] => return Err("the model has no input to feed images to".into()),
        many => {
            let names: Vec<&str> = many.iter().map(|v| v.name.as_str()).collect();
            return Err(format!(
                "the model has {} inputs ({}); image_search feeds exactly one, the images: export the model with \
                 the image tensor as its only input (make the others constants)",
                many.len(),
                names.join(", ")
            ));
        }
    };
    let name = &input.name;
    let dims = match &input.ty {
        ValueType::Tensor { elem_type: FLOAT, dims: Some(dims) } => dims,
        ValueType::Tensor { elem_type: FLOAT, dims: None } => {
            return Err(format!("input \"{name}\" has no declared shape; image_search needs a rank-4 image tensor"))
        }
        ValueType::Tensor { elem_type, .. } => {
            return Err(format!(
                "input \"{name}\" is a {} tensor; image_search feeds images as float32 tensors (export the model \
                 with a float32 image input)",
                elem_type_name(*elem_type)
            ))
        }
        ValueType::Other(kind) => return Err(format!("input \"{name}\" is a {kind}, not an image tensor")),
        ValueType::Unknown => return Err(format!("input \"{name}\" has no declared type")),
    };
    let shown = dims_text(dims);
    if dims.len() != 4 {
        return Err(format!(
            "input \"{name}\" {shown} has rank {}; image_search feeds rank-4 image tensors [batch, channels, \
             height, width] (layout => 'NCHW') or [batch, height, width, channels] (layout => 'NHWC')",
            dims.len()
        ));
    }
    let (c_axis, h_axis, w_axis) = if layout == Layout::Nchw { (1, 2, 3) } else { (3, 1, 2) };
    let model_channels = fixed(&dims[c_axis]);
    if let Some(c) = model_channels.filter(|c| *c != 1 && *c != 3) {
        let other = if layout == Layout::Nchw { ("NHWC", 3) } else { ("NCHW", 1) };
        let hint = if matches!(fixed(&dims[other.1]), Some(1 | 3)) {
            format!(": pass layout => '{}'", other.0)
        } else {
            String::new()
        };
        return Err(format!(
            "input \"{name}\" {shown} has {c} channels in layout {}; image_search feeds 1 or 3 channels{hint}",
            if layout == Layout::Nchw { "NCHW" } else { "NHWC" }
        ));
    }
    let channels = match (options.channels, model_channels) {
        (Some(c), Some(m)) if c as i64 != m => {
            return Err(format!(
                "channels => {c}, but input \"{name}\" {shown} takes {m}: pass channels => {m} or leave it out"
            ))
        }
        (Some(c), _) => c,
        (None, Some(m)) => m as i32,
        (None, None) => 3,
    };
    // image_size is the height (and the width of a square input); a model that
    // fixes only one side is fed squares of that side unless told otherwise.
    let (model_h, model_w) = (fixed(&dims[h_axis]), fixed(&dims[w_axis]));
    let image_size = match (options.image_size, model_h) {
        (Some(s), Some(m)) if s as i64 != m => {
            let fixed_at = match model_w {
                Some(w) if w == m => format!("is fixed at {m}x{m}"),
                Some(w) => format!("is fixed at {m}x{w} (height x width)"),
                None => format!("has a fixed height of {m}"),
            };
            return Err(format!(
                "image_size => {s}, but input \"{name}\" {shown} {fixed_at}: pass image_size => {m} or leave it out"
            ));
        }
        (Some(s), _) => s as i64,
        (None, Some(m)) => m,
        (None, None) => model_w.unwrap_or(DEFAULT_IMAGE_SIZE as i64),
    };
    let image_width = match (options.image_width, model_w) {
        (Some(s), Some(m)) if s as i64 != m => {
            return Err(format!(
                "image_width => {s}, but input \"{name}\" {shown} has a fixed width of {m}: pass image_width => {m} \
                 or leave it out"
            ))
        }
        (Some(s), _) => s as i64,
        (None, Some(m)) => m,
        (None, None) => image_size,
    };
    let batch_size = match &dims[0] {
        Dim::Fixed(1) => Some(1),
        Dim::Fixed(n) if *n > 1 => {
            return Err(format!(
                "input \"{name}\" {shown} has a fixed batch size of {n}; image_search runs any number of images, \
                 or one at a time: export the model with a dynamic batch axis (torch.onnx.export(..., \
                 dynamic_axes={{\"{name}\": {{0: \"batch\"}}}})) or with a batch size of 1"
            ))
        }
        _ => None,
    };
    let output = choose_output(signature, options.output_name.as_deref())?;
    let scale = value_range.max() as f64;
    let imagenet = |three: [f64; 3], gray: f64| {
        if channels == 1 {
            vec![gray * scale]
        } else {
            three.iter().map(|v| v * scale).collect()
        }
    };
    let mean = options.mean.clone().unwrap_or_else(|| imagenet(IMAGENET_MEAN, IMAGENET_GRAY_MEAN));
    let std = options.std.clone().unwrap_or_else(|| imagenet(IMAGENET_STD, IMAGENET_GRAY_STD));
    if !(1..=3).contains(&channels) || channels == 2 {
        return Err(format!("channels must be 1 (grayscale) or 3 (colour), not {channels}"));
    }
    for (option, side) in [("image_size", image_size), ("image_width", image_width)] {
        if !(pre::MIN_SIZE as i64..=pre::MAX_SIZE as i64).contains(&side) {
            return Err(format!("{option} must be between {} and {}, not {side}", pre::MIN_SIZE, pre::MAX_SIZE));
        }
    }
    pre::check_crop_fraction(options.crop_fraction)?;
    let config = EncoderConfig {
        input: name.clone(),
        output,
        layout,
        resize,
        crop_fraction: options.crop_fraction,
        image_width: (image_width != image_size).then_some(image_width as u32),
        channel_order,
        value_range,
        mean,
        std,
        pooling,
        batch_size,
    };
    let mut encoder = Encoder::new(config, image_size as u32, channels as u8)?;
    // Store one value per channel, as check() expanded them, so the catalog shows them all.
    let c = channels as usize;
    for values in [&mut encoder.config.mean, &mut encoder.config.std] {
        if values.len() == 1 {
            *values = vec![values[0]; c];
        }
    }
    Ok(encoder)
}

fn choose_output(signature: &Signature, wanted: Option<&str>) -> Result<String, String> {
    let names: Vec<&str> = signature.outputs.iter().map(|v| v.name.as_str()).collect();
    let chosen = match (wanted, &signature.outputs[..]) {
        (Some(w), _) => signature.outputs.iter().find(|v| v.name == w).ok_or_else(|| {
            format!("the model has no output \"{w}\"; pass output_name => one of: {}", names.join(", "))
        })?,
        (None, [one]) => one,
        (None, []) => return Err("the model has no output".into()),
        (None, _) => {
            return Err(format!(
                "the model has {} outputs ({}); pass output_name => the one that holds the image embedding",
                names.len(),
                names.join(", ")
            ))
        }
    };
    match &chosen.ty {
        ValueType::Tensor { elem_type, .. } if *elem_type != FLOAT && *elem_type != 0 => Err(format!(
            "output \"{}\" is a {} tensor; image_search needs a float32 embedding (pass output_name => another output)",
            chosen.name,
            elem_type_name(*elem_type)
        )),
        ValueType::Other(kind) => Err(format!("output \"{}\" is a {kind}, not a tensor", chosen.name)),
        _ => Ok(chosen.name.clone()),
    }
}

#[cfg(test)]
#[path = "imported_tests.rs"]
mod tests;
