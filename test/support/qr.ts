// Reads a QR code from a PNG image (e.g. a Playwright screenshot of the element that shows it), the way a
// phone's camera would: from the pixels, not from the page's markup.
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';

// jsqr is CommonJS with an ES-style default export: from an ES module its function is `.default`.
const jsQR = jsQRModule.default;

/** The text the QR code in `png` encodes; throws when no QR code can be read. */
export function readQrCode(png: Buffer): string {
  const image = PNG.sync.read(png);
  const code = jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.byteLength), image.width, image.height);
  if (!code) throw new Error(`no QR code could be read from the ${image.width}×${image.height} image`);
  return code.data;
}

/**
 * The text the QR code of an `<img src="data:image/svg+xml;base64,…">` encodes: the SVG (a path of square
 * modules) is drawn into a bitmap and read with jsQR. (The Chromium test reads a real screenshot instead.)
 */
export function readQrSvg(dataUri: string): string {
  const svg = Buffer.from(dataUri.replace(/^data:image\/svg\+xml;base64,/, ''), 'base64').toString();
  const size = Number(/viewBox="0 0 (\d+) \d+"/.exec(svg)![1]);
  const pixels = new Uint8ClampedArray(size * size * 4).fill(255);
  for (const [, x, y, w, h] of svg.matchAll(/M(\d+),(\d+)h(\d+)v(\d+)h-\d+z/g)) {
    for (let row = Number(y); row < Number(y) + Number(h); row += 1) {
      for (let column = Number(x); column < Number(x) + Number(w); column += 1) pixels.fill(0, (row * size + column) * 4, (row * size + column) * 4 + 3);
    }
  }
  const code = jsQR(pixels, size, size);
  if (!code) throw new Error('no QR code could be read from the SVG');
  return code.data;
}
