//! The check-in code as a QR image for the kiosk's scanner (PNG, because
//! mail clients show PNG inline and many do not show SVG).

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module: large enough for a phone screen held to a scanner.
const MODULE_PIXELS: usize = 8;
/// The quiet zone scanners need around the code, in modules.
const QUIET_MODULES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the code does not fit a QR symbol: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("writing the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// A black-on-white PNG of `text` as a QR code.
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_MODULES) * MODULE_PIXELS;
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (row, column) = (index / modules + QUIET_MODULES, index % modules + QUIET_MODULES);
        for y in row * MODULE_PIXELS..(row + 1) * MODULE_PIXELS {
            pixels[y * side + column * MODULE_PIXELS..y * side + (column + 1) * MODULE_PIXELS].fill(0);
        }
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_check_in_code_becomes_a_decodable_png() {
        let png = super::png("7K3M9QXT").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let (width, height) = (reader.info().width, reader.info().height);
        assert_eq!(width, height);
        // Version 1 (21 modules) plus the quiet zone, 8 px each.
        assert_eq!(width, (21 + 8) * 8);
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut pixels).unwrap();
        assert_eq!(pixels[0], 255, "the quiet zone is white");
        let finder = (4 * 8) * width as usize + 4 * 8;
        assert_eq!(pixels[finder], 0, "the finder pattern's corner is black");
    }
}
