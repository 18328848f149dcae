//! `build_model`'s options as plain Rust: what the caller asked for, checked before
//! any image is read, and turned into a `TrainConfig` once the data is known.
//! Every check returns the message the caller sees; `build` raises it.
use crate::engine::image::augment::AugmentOptions;
use crate::engine::onnx::architectures::{self, Architecture, Readout, MIN_IMAGE_SIZE};
use crate::engine::train::{LrSchedule, TrainConfig};

/// Contrastive training compares pairs.
pub const BATCH_MIN: usize = 2;

/// Without `max_epochs`, a grayscale build trains on about this many images in all
/// (epochs × rows): retrieval quality grows with the number of training steps far more
/// than with anything else at tutorial scale (models/STUDY.md). Measured from Postgres
/// on held-out sets (BENCHMARKS.md, 2 seeds): digits 0.906 at 32,000, 0.950 at
/// 100,000 and 0.950 at 150,000; clothes 0.766 and 0.767: levelled off. About 40 s
/// for 1,000 images on 2 cores.
pub const DEFAULT_IMAGE_BUDGET: usize = 100_000;
/// Colour photos keep gaining where grayscale has levelled off (colour near-duplicates,
/// 3 seeds: 0.920 at 250 epochs of 400, 0.938 at 335), so their default trains on
/// more: about a minute for 400 photos on 2 cores (models/STUDY.md, session 15).
pub const DEFAULT_IMAGE_BUDGET_COLOUR: usize = 130_000;
/// Bounds of the default epoch count: small tables still get many passes (400
/// photos need 325 to reach the budget), large tables at least a few.
pub const DEFAULT_EPOCHS: (u32, u32) = (5, 330);
/// With only a time budget (`max_seconds`), the budget decides, up to this many epochs.
pub const BUDGET_MAX_EPOCHS: u32 = 1000;
/// A build is long, and gets the stronger augmentation of long builds, when it
/// plans to train on at least this many images (epochs × rows) or has a time
/// budget of at least `LONG_BUILD_SECONDS`.
pub const LONG_BUILD_IMAGES: usize = 50_000;
pub const LONG_BUILD_SECONDS: f64 = 30.0;

/// With the gradient descriptor, the probability that a training pair is an image
/// and one of its descriptor neighbours (engine::neighbour_positives) unless
/// `augment` says otherwise. Measured in models/STUDY.md (session 6).
pub const NEIGHBOUR_POSITIVES: f32 = 0.9;
/// With a label column, the probability that a training pair is an image and another
/// image with its label unless `augment` says otherwise.
pub const LABEL_POSITIVES: f32 = 1.0;

/// The default number of epochs for `rows` usable images of `channels` channels.
pub fn default_epochs(rows: usize, channels: u8, time_budget: bool) -> u32 {
    if time_budget {
        return BUDGET_MAX_EPOCHS;
    }
    let images = if channels == 1 { DEFAULT_IMAGE_BUDGET } else { DEFAULT_IMAGE_BUDGET_COLOUR };
    let epochs = (images as f64 / rows.max(1) as f64).round() as u32;
    epochs.clamp(DEFAULT_EPOCHS.0, DEFAULT_EPOCHS.1)
}

fn check_image_size(arch: &Architecture, size: u32) -> Result<(), String> {
    if arch.accepts_image_size(size) {
        return Ok(());
    }
    Err(format!(
        "architecture {} cannot take image_size {size}: its multi-scale readout needs a size that \
         halves three times to an even number (16, 28, 32, 48, 64, ...)",
        arch.name
    ))
}

/// What the caller asked for, before it is checked against the data.
pub struct BuildRequest {
    pub architecture: Option<String>,
    pub max_epochs: Option<i32>,
    pub max_seconds: Option<f64>,
    pub batch_size: i32,
    pub learning_rate: f64,
    pub lr_schedule: String,
    pub warmup: f64,
    pub temperature: f64,
    pub weight_decay: f64,
    pub image_size: Option<i32>,
    pub channels: Option<i32>,
    pub seed: i64,
    pub flip: Option<bool>,
    pub color_jitter: Option<bool>,
    pub augment: Option<serde_json::Value>,
    /// NULL: on for grayscale images, off for colour (engine::gradient_descriptor).
    pub gradient_descriptor: Option<bool>,
    /// A column of the source query whose equal values mark images that should embed
    /// close together (engine::neighbour_positives).
    pub label_col: Option<String>,
    /// NULL: the projection head with labels or colour images, else the features
    /// before it (`Readout`).
    pub readout: Option<String>,
    /// NULL: on with `label_col` (engine::label_votes).
    pub label_votes: Option<bool>,
}

impl BuildRequest {
    /// Checks every option that does not depend on the data.
    pub fn check(&self) -> Result<(), String> {
        if let Some(epochs) = self.max_epochs.filter(|&e| e < 1) {
            return Err(format!("max_epochs must be at least 1, not {epochs}"));
        }
        if let Some(s) = self.max_seconds {
            if !(s.is_finite() && s > 0.0) {
                return Err(format!("max_seconds must be a positive number of seconds, not {s}"));
            }
        }
        if self.batch_size < BATCH_MIN as i32 {
            return Err(format!(
                "batch_size must be at least {BATCH_MIN} (contrastive training compares pairs), not {}",
                self.batch_size
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!("learning_rate must be a positive number, not {}", self.learning_rate));
        }
        self.schedule()?;
        self.readout(1)?;
        self.label_votes()?;
        if !(self.warmup.is_finite() && (0.0..1.0).contains(&self.warmup)) {
            return Err(format!("warmup must be a fraction of the training steps in [0, 1), not {}", self.warmup));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!("temperature must be a positive number, not {}", self.temperature));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!("weight_decay must be zero or positive, not {}", self.weight_decay));
        }
        if let Some(size) = self.image_size {
            if size < MIN_IMAGE_SIZE as i32 || size > 512 {
                return Err(format!("image_size must be between {MIN_IMAGE_SIZE} and 512, not {size}"));
            }
        }
        if let Some(c) = self.channels {
            if c != 1 && c != 3 {
                return Err(format!("channels must be 1 (grayscale) or 3 (colour), not {c}"));
            }
        }
        // The architecture and augment overrides are checked now, before any image
        // is read; the real choices depend on the channel count found in the data.
        let arch = self.architecture(self.channels.unwrap_or(1) as u8)?;
        if let Some(size) = self.image_size {
            check_image_size(arch, size as u32)?;
        }
        self.augment_options(1, false)?;
        Ok(())
    }

    /// The layer the model embeds with. By default the projection head's output when
    /// training compares images as the search will (same-label pairs; colour, where
    /// the augmentations are the edits of a near-duplicate: models/STUDY.md, session 9),
    /// and the features before it for grayscale self-supervised builds, where they
    /// carry more beside the gradient descriptor.
    fn readout(&self, channels: u8) -> Result<Readout, String> {
        match self.readout.as_deref() {
            Some(name) => Readout::parse(name)
                .ok_or_else(|| format!("unknown readout \"{name}\"; valid readouts are: {}", Readout::NAMES)),
            None if self.label_col.is_some() || channels == 3 => Ok(Readout::Projection),
            None => Ok(Readout::Features),
        }
    }

    /// Whether a labelled model's embedding ends with its label votes (engine::label_votes).
    pub fn label_votes(&self) -> Result<bool, String> {
        match (self.label_votes, &self.label_col) {
            (Some(true), None) => {
                Err("label_votes needs label_col: the votes are the labels of the training images".into())
            }
            (Some(on), _) => Ok(on),
            (None, label_col) => Ok(label_col.is_some()),
        }
    }

    fn schedule(&self) -> Result<LrSchedule, String> {
        LrSchedule::parse(&self.lr_schedule).ok_or_else(|| {
            format!("unknown lr_schedule \"{}\"; valid schedules are: {}", self.lr_schedule, LrSchedule::NAMES)
        })
    }

    /// The architecture to train for images of `channels` channels.
    pub fn architecture(&self, channels: u8) -> Result<&'static Architecture, String> {
        let name = self.architecture.as_deref().unwrap_or(architectures::DEFAULT);
        architectures::find(name, channels).ok_or_else(|| {
            format!("unknown architecture \"{name}\"; valid architectures are: {}", architectures::names().join(", "))
        })
    }

    /// Augmentation defaults depend on the data (grayscale images are not flipped or
    /// colour-jittered) and on the build's length; `flip`, `color_jitter` and
    /// `augment` override them.
    pub fn augment_options(&self, channels: u8, long_build: bool) -> Result<AugmentOptions, String> {
        let mut opts = if channels == 1 { AugmentOptions::for_grayscale() } else { AugmentOptions::for_color() };
        if long_build {
            opts.strengthen_for_long_builds(channels);
        }
        if let Some(flip) = self.flip {
            opts.flip = flip;
        }
        if self.color_jitter == Some(false) {
            opts.color_jitter_prob = 0.0;
        } else if self.color_jitter == Some(true) && channels == 3 && opts.color_jitter_prob == 0.0 {
            opts.color_jitter_prob = AugmentOptions::for_color().color_jitter_prob;
        }
        if let Some(overrides) = &self.augment {
            let mut merged = serde_json::to_value(&opts).expect("augment options serialise");
            let Some(fields) = overrides.as_object() else { return Err("augment must be a JSON object".into()) };
            for (key, value) in fields {
                if merged.get(key).is_none() {
                    let valid: Vec<String> = merged.as_object().expect("a struct").keys().cloned().collect();
                    return Err(format!("unknown augment option \"{key}\"; valid options are: {}", valid.join(", ")));
                }
                merged[key] = value.clone();
            }
            opts = serde_json::from_value(merged).map_err(|e| format!("invalid augment options: {e}"))?;
        }
        let probabilities = [
            ("color_jitter_prob", opts.color_jitter_prob),
            ("grayscale_prob", opts.grayscale_prob),
            ("blur_prob", opts.blur_prob),
            ("border_prob", opts.border_prob),
            ("morph_prob", opts.morph_prob),
            ("neighbour_positives", opts.neighbour_positives),
        ];
        if let Some((name, value)) = probabilities.iter().find(|(_, p)| !(0.0..=1.0).contains(p)) {
            return Err(format!("augment option {name} is a probability in [0, 1], not {value}"));
        }
        Ok(opts)
    }

    /// The training configuration for `rows` usable images of `channels` channels.
    pub fn config(&self, channels: u8, rows: usize) -> Result<TrainConfig, String> {
        let image_size = self.image_size.map(|s| s as u32).unwrap_or(if channels == 1 { 28 } else { 32 });
        let max_epochs =
            self.max_epochs.map_or_else(|| default_epochs(rows, channels, self.max_seconds.is_some()), |e| e as u32);
        let long_build =
            max_epochs as usize * rows >= LONG_BUILD_IMAGES && self.max_seconds.is_none_or(|s| s >= LONG_BUILD_SECONDS);
        check_image_size(self.architecture(channels)?, image_size)?;
        let gradient_descriptor = self.gradient_descriptor.unwrap_or(channels == 1);
        let mut augment = self.augment_options(channels, long_build)?;
        let chosen = |key: &str| self.augment.as_ref().is_some_and(|a| a.get(key).is_some());
        if !chosen("neighbour_positives") {
            if self.label_col.is_some() {
                augment.neighbour_positives = LABEL_POSITIVES;
            } else if gradient_descriptor {
                augment.neighbour_positives = NEIGHBOUR_POSITIVES;
            }
        }
        Ok(TrainConfig {
            max_epochs,
            max_seconds: self.max_seconds,
            batch_size: self.batch_size as usize,
            learning_rate: self.learning_rate as f32,
            lr_schedule: self.schedule()?,
            warmup_fraction: self.warmup as f32,
            temperature: self.temperature as f32,
            weight_decay: self.weight_decay as f32,
            image_size,
            channels,
            seed: self.seed as u64,
            augment,
            gradient_descriptor,
            readout: self.readout(channels)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> BuildRequest {
        BuildRequest {
            architecture: None,
            max_epochs: None,
            max_seconds: None,
            batch_size: 32,
            learning_rate: 0.003,
            lr_schedule: "constant".into(),
            warmup: 0.0,
            temperature: 0.1,
            weight_decay: 1e-4,
            image_size: None,
            channels: None,
            seed: 42,
            flip: None,
            color_jitter: None,
            augment: None,
            gradient_descriptor: None,
            label_col: None,
            readout: None,
            label_votes: None,
        }
    }

    #[test]
    fn defaults_pass_and_follow_the_data() {
        let r = request();
        r.check().unwrap();
        let gray = r.config(1, 1000).unwrap();
        assert_eq!((gray.image_size, gray.channels, gray.augment.flip), (28, 1, false));
        let colour = r.config(3, 400).unwrap();
        assert_eq!((colour.image_size, colour.channels), (32, 3));
        assert_eq!(r.architecture(3).unwrap().name, architectures::DEFAULT);
        assert_eq!((gray.max_epochs, colour.max_epochs), (100, 325), "about 100,000 and 130,000 images of training");
        assert_eq!(r.config(1, 100_000).unwrap().max_epochs, 5, "at least 5 epochs");
        assert_eq!(r.config(1, 20).unwrap().max_epochs, 330, "at most 330 epochs");
        let budget = BuildRequest { max_seconds: Some(60.0), ..request() };
        assert_eq!(budget.config(1, 1000).unwrap().max_epochs, BUDGET_MAX_EPOCHS, "the time budget decides");
        let fixed = BuildRequest { max_epochs: Some(3), max_seconds: Some(60.0), ..request() };
        assert_eq!(fixed.config(1, 1000).unwrap().max_epochs, 3);
        // Long builds get stronger augmentation: 100 epochs of 1,000 (the default), or a
        // 60 s budget; a short one keeps the milder set.
        assert_eq!(gray.augment.morph_prob, 0.3);
        let short = BuildRequest { max_epochs: Some(10), ..request() };
        assert_eq!(short.config(1, 1000).unwrap().augment.morph_prob, 0.0);
        let long = BuildRequest { max_epochs: Some(100), ..request() };
        assert_eq!(long.config(1, 1000).unwrap().augment.morph_prob, 0.3);
        assert_eq!(long.config(3, 1000).unwrap().augment.crop_scale, (0.3, 1.0));
        assert_eq!(budget.config(1, 1000).unwrap().augment.morph_prob, 0.3);
        let short_budget = BuildRequest { max_seconds: Some(5.0), ..request() };
        assert_eq!(short_budget.config(1, 1000).unwrap().augment.morph_prob, 0.0);
        // The gradient descriptor: on for grayscale, off for colour, unless asked.
        assert!(gray.gradient_descriptor && !colour.gradient_descriptor);
        let off = BuildRequest { gradient_descriptor: Some(false), ..request() };
        assert!(!off.config(1, 1000).unwrap().gradient_descriptor);
        let on = BuildRequest { gradient_descriptor: Some(true), ..request() };
        assert!(on.config(3, 1000).unwrap().gradient_descriptor);
        // Neighbour positives come with the descriptor, unless augment sets them.
        assert_eq!((gray.augment.neighbour_positives, colour.augment.neighbour_positives), (NEIGHBOUR_POSITIVES, 0.0));
        assert_eq!(off.config(1, 1000).unwrap().augment.neighbour_positives, 0.0);
        let none = BuildRequest { augment: Some(serde_json::json!({"neighbour_positives": 0})), ..request() };
        assert_eq!(none.config(1, 1000).unwrap().augment.neighbour_positives, 0.0);
        let colour_too = BuildRequest { augment: Some(serde_json::json!({"neighbour_positives": 0.5})), ..request() };
        assert_eq!(colour_too.config(3, 1000).unwrap().augment.neighbour_positives, 0.5);
        // With labels every pair is made of two images with one label, colour or not,
        // with or without the descriptor, unless augment says otherwise.
        let labelled = BuildRequest { label_col: Some("label".into()), ..request() };
        assert_eq!(labelled.config(1, 1000).unwrap().augment.neighbour_positives, LABEL_POSITIVES);
        assert_eq!(labelled.config(3, 1000).unwrap().augment.neighbour_positives, LABEL_POSITIVES);
        // By default a labelled or colour model embeds with the projection head, a
        // grayscale self-supervised one with the features; readout overrides either.
        assert_eq!(labelled.config(1, 1000).unwrap().readout, Readout::Projection);
        assert_eq!(request().config(1, 1000).unwrap().readout, Readout::Features);
        assert_eq!(request().config(3, 1000).unwrap().readout, Readout::Projection);
        let features = BuildRequest { readout: Some("features".into()), ..request() };
        assert_eq!(features.config(3, 1000).unwrap().readout, Readout::Features);
        assert_eq!(labelled.label_votes(), Ok(true), "on by default with labels");
        assert_eq!(request().label_votes(), Ok(false));
        let off_votes = BuildRequest { label_votes: Some(false), label_col: Some("label".into()), ..request() };
        assert_eq!(off_votes.label_votes(), Ok(false));
        let no_labels = BuildRequest { label_votes: Some(true), ..request() };
        assert!(no_labels.check().unwrap_err().contains("label_votes needs label_col"));
        let bad = BuildRequest { readout: Some("head".into()), ..request() };
        assert_eq!(bad.check().unwrap_err(), "unknown readout \"head\"; valid readouts are: features, projection");
        let half = BuildRequest { augment: Some(serde_json::json!({"neighbour_positives": 0.5})), ..labelled };
        assert_eq!(half.config(1, 1000).unwrap().augment.neighbour_positives, 0.5);
    }

    #[test]
    fn bad_options_name_the_option_and_the_valid_values() {
        let cases: Vec<(BuildRequest, &str)> = vec![
            (
                BuildRequest { architecture: Some("resnet999".into()), ..request() },
                "unknown architecture \"resnet999\"; valid architectures are: simclr_cnn, simclr_cnn_ms",
            ),
            (
                BuildRequest { max_seconds: Some(0.0), ..request() },
                "max_seconds must be a positive number of seconds, not 0",
            ),
            (
                BuildRequest { max_seconds: Some(-5.0), ..request() },
                "max_seconds must be a positive number of seconds, not -5",
            ),
            (
                BuildRequest { lr_schedule: "linear".into(), ..request() },
                "unknown lr_schedule \"linear\"; valid schedules are: constant, cosine",
            ),
            (
                BuildRequest { warmup: 1.0, ..request() },
                "warmup must be a fraction of the training steps in [0, 1), not 1",
            ),
            (BuildRequest { max_epochs: Some(0), ..request() }, "max_epochs must be at least 1, not 0"),
            (
                BuildRequest { augment: Some(serde_json::json!({"spin": 1})), ..request() },
                "unknown augment option \"spin\"",
            ),
            (
                BuildRequest { augment: Some(serde_json::json!({"neighbour_positives": 1.5})), ..request() },
                "augment option neighbour_positives is a probability in [0, 1], not 1.5",
            ),
            (
                BuildRequest { augment: Some(serde_json::json!({"blur_prob": -0.1})), ..request() },
                "augment option blur_prob is a probability in [0, 1], not -0.1",
            ),
        ];
        for (r, expected) in cases {
            let err = r.check().unwrap_err();
            assert!(err.starts_with(expected), "{err}");
        }
    }
}
