//! Tests of `plan` (on the fixtures' declared signatures) and `readout`.
use super::*;
use crate::engine::onnx::inspect::inspect;

macro_rules! signature {
    ($name:literal) => {
        inspect(include_bytes!(concat!("../../../test/data/onnx/", $name, ".onnx"))).unwrap()
    };
}

fn defaults() -> ImportOptions {
    ImportOptions {
        resize: "center_crop".into(),
        channel_order: "RGB".into(),
        value_range: "0..1".into(),
        layout: "NCHW".into(),
        pooling: "average".into(),
        ..ImportOptions::default()
    }
}

#[test]
fn defaults_come_from_the_model_and_imagenet() {
    let e = plan(&signature!("conv_dynamic"), &defaults()).unwrap();
    assert_eq!((e.preprocessing.height, e.preprocessing.width, e.preprocessing.channels), (32, 32, 3));
    assert_eq!((e.config.input.as_str(), e.config.output.as_str()), ("pixels", "features"));
    assert_eq!(e.config.mean, IMAGENET_MEAN.to_vec());
    assert_eq!(e.config.batch_size, None);
    assert_eq!(e.batch_size(), MAX_BATCH);
    let one = plan(&signature!("conv_batch1"), &defaults()).unwrap();
    assert_eq!((one.config.batch_size, one.batch_size()), (Some(1), 1));
    let gray =
        plan(&signature!("gray_any_size"), &ImportOptions { value_range: "0..255".into(), ..defaults() }).unwrap();
    assert_eq!((gray.preprocessing.height, gray.preprocessing.channels), (DEFAULT_IMAGE_SIZE, 1));
    assert_eq!(gray.config.mean, vec![0.449 * 255.0]);
    let big = plan(&signature!("gray_any_size"), &ImportOptions { image_size: Some(1024), ..defaults() }).unwrap();
    assert_eq!(big.batch_size(), 4, "large inputs run in small batches");
}

#[test]
fn each_mismatch_names_the_option_that_fixes_it() {
    let cases: Vec<(ImportOptions, &str, &str)> = vec![
        (
            defaults(),
            "conv_nhwc",
            "has 32 channels in layout NCHW; image_search feeds 1 or 3 channels: pass layout => 'NHWC'",
        ),
        (ImportOptions { image_size: Some(64), ..defaults() }, "conv_dynamic", "pass image_size => 32 or leave it out"),
        (ImportOptions { channels: Some(1), ..defaults() }, "conv_dynamic", "pass channels => 3 or leave it out"),
        (defaults(), "two_outputs", "the model has 2 outputs (logits, features); pass output_name =>"),
        (
            ImportOptions { output_name: Some("nope".into()), ..defaults() },
            "two_outputs",
            "no output \"nope\"; pass output_name => one of: logits, features",
        ),
        (defaults(), "two_inputs", "the model has 2 inputs (pixels, mask)"),
        (defaults(), "text_input", "input \"caption\" is a string tensor"),
        (defaults(), "flat_input", "input \"pixels\" [batch, 3072] has rank 2"),
        (defaults(), "batch4", "has a fixed batch size of 4"),
        (
            ImportOptions { layout: "CHW".into(), ..defaults() },
            "conv_dynamic",
            "layout must be one of 'NCHW', 'NHWC', not 'CHW'",
        ),
        (
            ImportOptions { pooling: "sum".into(), ..defaults() },
            "conv_dynamic",
            "pooling must be one of 'average', 'max', 'first'",
        ),
        (
            ImportOptions { mean: Some(vec![0.5, 0.5]), ..defaults() },
            "conv_dynamic",
            "mean must have 1 value or one per channel (3)",
        ),
        (
            ImportOptions { image_size: Some(2000), ..defaults() },
            "gray_any_size",
            "image_size must be between 8 and 1024",
        ),
        (
            ImportOptions { image_size: Some(12), ..defaults() },
            "gray_pixels_8x12",
            "is fixed at 8x12 (height x width): pass image_size => 8 or leave it out",
        ),
        (
            ImportOptions { image_width: Some(8), ..defaults() },
            "gray_pixels_8x12",
            "image_width => 8, but input \"pixels\" [batch, 1, 8, 12] has a fixed width of 12: pass image_width => 12",
        ),
        (
            ImportOptions { image_width: Some(4), ..defaults() },
            "gray_any_size",
            "image_width must be between 8 and 1024, not 4",
        ),
        (
            ImportOptions { crop_fraction: 0.0, ..defaults() },
            "conv_dynamic",
            "crop_fraction must be more than 0 and at most 1, not 0 (",
        ),
        (
            ImportOptions { crop_fraction: f64::NAN, ..defaults() },
            "conv_dynamic",
            "crop_fraction must be more than 0 and at most 1, not NaN",
        ),
        (ImportOptions { crop_fraction: 1.5, ..defaults() }, "conv_dynamic", "not 1.5 (it is the centred share"),
    ];
    let signatures = [
        ("conv_nhwc", signature!("conv_nhwc")),
        ("conv_dynamic", signature!("conv_dynamic")),
        ("two_outputs", signature!("two_outputs")),
        ("two_inputs", signature!("two_inputs")),
        ("text_input", signature!("text_input")),
        ("flat_input", signature!("flat_input")),
        ("batch4", signature!("batch4")),
        ("gray_any_size", signature!("gray_any_size")),
        ("gray_pixels_8x12", signature!("gray_pixels_8x12")),
    ];
    for (options, model, wanted) in cases {
        let sig = &signatures.iter().find(|(n, _)| *n == model).unwrap().1;
        let err = plan(sig, &options).unwrap_err();
        assert!(err.contains(wanted), "{model}: {err}");
    }
    let nhwc = plan(&signature!("conv_nhwc"), &ImportOptions { layout: "nhwc".into(), ..defaults() }).unwrap();
    assert_eq!(nhwc.preprocessing.shape(2), [2, 32, 32, 3]);
}

#[test]
fn non_square_inputs_come_from_the_model_or_image_width() {
    let fixed = plan(&signature!("gray_pixels_8x12"), &defaults()).unwrap();
    assert_eq!((fixed.preprocessing.height, fixed.preprocessing.width), (8, 12));
    assert_eq!((fixed.config.image_width, fixed.preprocessing.shape(2)), (Some(12), [2, 1, 8, 12]));
    // Options that agree with the model are fine.
    let same = ImportOptions { image_size: Some(8), image_width: Some(12), ..defaults() };
    assert_eq!(plan(&signature!("gray_pixels_8x12"), &same).unwrap(), fixed);
    // A model with free sides takes image_size as the height and image_width as the width.
    let free = plan(&signature!("gray_pixels"), &ImportOptions { image_width: Some(12), ..same.clone() }).unwrap();
    assert_eq!(free.preprocessing, fixed.preprocessing);
    // image_width alone: the height stays the default.
    let wide = plan(&signature!("gray_pixels"), &ImportOptions { image_width: Some(300), ..defaults() }).unwrap();
    assert_eq!((wide.preprocessing.height, wide.preprocessing.width), (DEFAULT_IMAGE_SIZE, 300));
    // A square input stores no image_width, so its config is what 0.4.0 stored.
    let square = plan(&signature!("conv_dynamic"), &ImportOptions { image_width: Some(32), ..defaults() }).unwrap();
    assert_eq!(square.config.image_width, None);
    let json = serde_json::to_value(&square.config).unwrap();
    assert!(json.get("image_width").is_none() && json.get("crop_fraction").is_none(), "{json}");
}

#[test]
fn crop_fraction_is_stored_and_read_back() {
    let options = ImportOptions { crop_fraction: 0.875, ..defaults() };
    let encoder = plan(&signature!("conv_dynamic"), &options).unwrap();
    assert_eq!((encoder.config.crop_fraction, encoder.preprocessing.crop_fraction), (0.875, 0.875));
    let json = serde_json::to_value(&encoder.config).unwrap();
    assert_eq!(json["crop_fraction"], serde_json::json!(0.875));
    let back = Encoder::new(serde_json::from_value(json).unwrap(), 32, 3).unwrap();
    assert_eq!(back, encoder);
    // A config stored by 0.4.0 (no crop_fraction, no image_width) reads as the full picture, square.
    let mut old = serde_json::to_value(&encoder.config).unwrap();
    old.as_object_mut().unwrap().remove("crop_fraction");
    let old = Encoder::new(serde_json::from_value(old).unwrap(), 32, 3).unwrap();
    assert_eq!((old.preprocessing.crop_fraction, old.preprocessing.width), (1.0, 32));
}

#[test]
fn the_trained_config_round_trips_through_json() {
    let json = serde_json::to_value(EncoderConfig::trained()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"input": "images", "output": "embedding", "layout": "NCHW", "resize": "center_crop",
            "channel_order": "RGB", "value_range": "0..1", "mean": [0.0], "std": [1.0], "pooling": "average",
            "batch_size": null})
    );
    let back: EncoderConfig = serde_json::from_value(json).unwrap();
    let encoder = Encoder::new(back, 28, 1).unwrap();
    assert_eq!(encoder.preprocessing, Preprocessing::trained(28, 1));
}

#[test]
fn readout_splits_and_pools() {
    let flat: Vec<f32> = (0..6).map(|v| v as f32).collect();
    assert_eq!(
        readout("o", &[2, 3], &flat, 2, Layout::Nchw, Pooling::Average).unwrap(),
        vec![vec![0., 1., 2.], vec![3., 4., 5.]]
    );
    // [1, C=2, H=1, W=2] NCHW: channel 0 = [0, 1], channel 1 = [2, 3].
    let map = [0., 1., 2., 3.];
    assert_eq!(readout("o", &[1, 2, 1, 2], &map, 1, Layout::Nchw, Pooling::Average).unwrap(), vec![vec![0.5, 2.5]]);
    assert_eq!(readout("o", &[1, 2, 1, 2], &map, 1, Layout::Nchw, Pooling::Max).unwrap(), vec![vec![1., 3.]]);
    // The same numbers as NHWC [1, H=1, W=2, C=2]: position 0 = [0, 1], position 1 = [2, 3].
    assert_eq!(readout("o", &[1, 1, 2, 2], &map, 1, Layout::Nhwc, Pooling::Average).unwrap(), vec![vec![1., 2.]]);
    // Tokens [1, T=2, D=2]: the first token, or their mean.
    assert_eq!(readout("o", &[1, 2, 2], &map, 1, Layout::Nchw, Pooling::First).unwrap(), vec![vec![0., 1.]]);
    assert_eq!(readout("o", &[1, 2, 2], &map, 1, Layout::Nchw, Pooling::Average).unwrap(), vec![vec![1., 2.]]);
}

#[test]
fn readout_refuses_outputs_that_are_not_per_image() {
    let err = readout("f", &[1, 16], &[0.0; 16], 2, Layout::Nchw, Pooling::Average).unwrap_err();
    assert!(err.contains("shape [1, 16] for a batch of 2 image(s): not one vector per image"), "{err}");
    let err = readout("f", &[2], &[0.0; 2], 2, Layout::Nchw, Pooling::Average).unwrap_err();
    assert!(err.contains("one number, not a vector,"), "{err}");
    assert!(readout("f", &[1, 1, 1, 1, 1], &[0.0], 1, Layout::Nchw, Pooling::Average)
        .unwrap_err()
        .contains("rank 3 or 4"));
    assert!(readout("f", &[1, 0], &[], 1, Layout::Nchw, Pooling::Average).unwrap_err().contains("empty"));
}
